//! The load generator: tasks that log in, check, log out (token, session, everywhere) and
//! revoke through RFC 7009 on both instances, judging every reply.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::model::{Judge, RevocationKind, State};

/// No reply may take longer than this: the Redis store times out at 500 ms, the engine's
/// backstop a tenth later (550 ms); a request makes at most a couple of store calls.
pub(crate) const HANG_BOUND: Duration = Duration::from_millis(2_000);
/// A login right after a "log out everywhere" waits until its bumped `iat` is accepted
/// (about a second, see the demo's `/login`): its bound is that much longer.
pub(crate) const LOGIN_HANG_BOUND: Duration = Duration::from_millis(3_500);
/// How many tokens a task keeps live and revoked at most (the model stays bounded).
const LIVE_PER_TASK: usize = 6;
const REVOKED_PER_TASK: usize = 48;
/// Users per task: a task's operations on its users are sequential, so the clients always
/// know which revocations were acknowledged before which login.
const USERS_PER_TASK: usize = 3;

/// Undoes the percent-encoding of a `grpc-message`.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A reply as the client saw it.
pub(crate) struct Reply {
    pub(crate) sent: Instant,
    pub(crate) received: Instant,
    /// `None`: no HTTP answer at all (the client's timeout or a broken connection).
    pub(crate) status: Option<u16>,
    pub(crate) challenge: String,
    pub(crate) body: bytes::Bytes,
}

/// What the load and the injector share.
pub(crate) struct Load {
    pub(crate) client: reqwest::Client,
    /// `http://127.0.0.1:<port>` of each instance.
    pub(crate) bases: Vec<String>,
    /// Each instance's router, for the gRPC-form checks sent in process.
    pub(crate) routers: Vec<axum::Router>,
    pub(crate) judge: Arc<Judge>,
    pub(crate) stop: AtomicBool,
    /// A label for violations: the variant.
    pub(crate) variant: String,
}

impl Load {
    /// Sends `request`, counts it, and flags a reply later than `bound` or missing.
    pub(crate) async fn send(
        &self,
        request: reqwest::RequestBuilder,
        bound: Duration,
        what: &str,
    ) -> Reply {
        let sent = Instant::now();
        let outcome = request.send().await;
        let (status, challenge, body, error) = match outcome {
            Ok(response) => {
                let status = response.status().as_u16();
                let challenge = response
                    .headers()
                    .get("www-authenticate")
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                match response.bytes().await {
                    Ok(body) => (Some(status), challenge, body, String::new()),
                    Err(err) => (None, challenge, bytes::Bytes::new(), err.to_string()),
                }
            }
            Err(err) => (None, String::new(), bytes::Bytes::new(), err.to_string()),
        };
        let received = Instant::now();
        let latency = received - sent;
        self.judge.record_latency(sent, latency);
        if status.is_none() {
            self.judge.violation(format!(
                "{}: {what}: no answer after {latency:?}: {error}",
                self.variant
            ));
        } else if latency > bound {
            self.judge.violation(format!(
                "{}: {what}: answered {status:?} after {latency:?}, past the {bound:?} bound",
                self.variant
            ));
        }
        Reply {
            sent,
            received,
            status,
            challenge,
            body,
        }
    }

    /// `POST /login` for `user` on `instance`: the new token's id, or `None` (503, judged).
    pub(crate) async fn login(&self, instance: usize, user: &str) -> Option<u64> {
        let request = self
            .client
            .post(format!("{}/login", self.bases[instance]))
            .json(&json!({ "sub": user }));
        let reply = self.send(request, LOGIN_HANG_BOUND, "login").await;
        match reply.status {
            Some(200) => {
                let body: Value = serde_json::from_slice(&reply.body).ok()?;
                let token = body["access_token"].as_str()?.to_owned();
                Some(self.judge.issued(token, user, reply.sent))
            }
            Some(503) => {
                self.judge.unavailable(reply.sent, reply.received);
                None
            }
            Some(other) => {
                self.judge.violation(format!(
                    "{}: login on instance {instance} answered {other}",
                    self.variant
                ));
                None
            }
            None => None,
        }
    }

    /// `GET /me` with token `id` on `instance`, judged. The status, if any.
    pub(crate) async fn check(&self, id: u64, instance: usize, context: &str) -> Option<u16> {
        let entry = self.judge.get(id)?;
        let request = self
            .client
            .get(format!("{}/me", self.bases[instance]))
            .bearer_auth(&entry.token);
        let reply = self.send(request, HANG_BOUND, "check").await;
        let status = reply.status?;
        self.judge.check(
            id,
            instance,
            reply.sent,
            reply.received,
            status,
            &reply.challenge,
            &format!("{}: {context}", self.variant),
        );
        Some(status)
    }

    /// `GET /me` with token `id` as a gRPC call (HTTP/2, `application/grpc`, `te: trailers`),
    /// sent to `instance`'s router in the process (the demo serves HTTP/1 on its port), and
    /// judged as a check: no `grpc-status` is the service's answer, 16 a refusal (its
    /// `grpc-message` says why), 14 store trouble; anything else is a violation.
    pub(crate) async fn check_grpc(&self, id: u64, instance: usize, context: &str) {
        use tower::ServiceExt as _;
        let Some(entry) = self.judge.get(id) else {
            return;
        };
        let request = http::Request::get("/me")
            .version(http::Version::HTTP_2)
            .header("authorization", format!("Bearer {}", entry.token))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(axum::body::Body::empty())
            .expect("a request");
        let router = self.routers[instance].clone();
        let sent = Instant::now();
        let answer = tokio::time::timeout(Duration::from_secs(10), router.oneshot(request)).await;
        let received = Instant::now();
        self.judge.record_latency(sent, received - sent);
        self.judge
            .counters
            .grpc_checks
            .fetch_add(1, Ordering::Relaxed);
        let context = format!("{}: {context} (gRPC)", self.variant);
        let Ok(Ok(response)) = answer else {
            self.judge.violation(format!(
                "{context}: no answer from instance {instance} after {:?}",
                received - sent
            ));
            return;
        };
        if received - sent > HANG_BOUND {
            self.judge.violation(format!(
                "{context}: answered after {:?}, past the {HANG_BOUND:?} bound",
                received - sent
            ));
        }
        let grpc_status = response
            .headers()
            .get("grpc-status")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let message = response
            .headers()
            .get("grpc-message")
            .and_then(|value| value.to_str().ok())
            .map(percent_decode)
            .unwrap_or_default();
        let status = match (response.status().as_u16(), grpc_status.as_deref()) {
            (200, None) => 200,
            (200, Some("16")) => 401,
            (200, Some("14")) => {
                self.judge
                    .counters
                    .grpc_unavailable
                    .fetch_add(1, Ordering::Relaxed);
                503
            }
            (http, grpc) => {
                self.judge.violation(format!(
                    "{context}: instance {instance} answered a gRPC check with HTTP {http}, \
                     grpc-status {grpc:?} (only 200 with none, 16 or 14 are right)"
                ));
                return;
            }
        };
        self.judge
            .check(id, instance, sent, received, status, &message, &context);
    }

    /// Revokes token `id` on `instance` in one of the three per-token ways; true when
    /// acknowledged.
    pub(crate) async fn revoke(&self, id: u64, instance: usize, kind: RevocationKind) -> bool {
        let Some(entry) = self.judge.get(id) else {
            return false;
        };
        let base = &self.bases[instance];
        let (request, ok) = match kind {
            RevocationKind::Token => (
                self.client
                    .post(format!("{base}/logout"))
                    .bearer_auth(&entry.token),
                204,
            ),
            RevocationKind::Session => (
                self.client
                    .post(format!("{base}/logout/session"))
                    .bearer_auth(&entry.token),
                204,
            ),
            RevocationKind::Rfc7009 => (
                self.client
                    .post(format!("{base}/oauth/revoke"))
                    .form(&[("token", entry.token.as_str())]),
                200,
            ),
            RevocationKind::User => unreachable!("logout_all handles users"),
        };
        self.judge.set_state(id, State::Pending);
        let reply = self.send(request, HANG_BOUND, "revocation").await;
        match reply.status {
            Some(status) if status == ok => {
                self.judge.set_state(
                    id,
                    State::Revoked {
                        ack: reply.received,
                        by: instance,
                    },
                );
                self.judge.counters.acknowledged[kind as usize].fetch_add(1, Ordering::Relaxed);
                true
            }
            Some(status) => {
                if status == 503 {
                    self.judge.unavailable(reply.sent, reply.received);
                } else if !(status == 401 && kind != RevocationKind::Rfc7009) {
                    // A 401 from the layer in front of /logout: the token was refused before
                    // the handler ran, judged as a check would be.
                    self.judge.violation(format!(
                        "{}: {kind:?} revocation on instance {instance} answered {status}",
                        self.variant
                    ));
                }
                if status == 401 {
                    // Judge the refusal as a check: a live token must not be refused.
                    self.judge.set_state(id, State::Live);
                    self.judge.check(
                        id,
                        instance,
                        reply.sent,
                        reply.received,
                        status,
                        &reply.challenge,
                        &format!("{}: {kind:?} revocation", self.variant),
                    );
                }
                // A 503 revocation may or may not have been recorded: unknown from now on.
                self.judge.forget(id);
                false
            }
            None => {
                self.judge.forget(id);
                false
            }
        }
    }

    /// `POST /logout/all` with `via` (a token of `user`) on `instance`: every token of
    /// `ids` (all of `user`'s live tokens) is revoked when acknowledged.
    pub(crate) async fn logout_all(
        &self,
        via: u64,
        ids: &[u64],
        instance: usize,
        user: &str,
    ) -> bool {
        let Some(entry) = self.judge.get(via) else {
            return false;
        };
        for id in ids {
            self.judge.set_state(*id, State::Pending);
        }
        let request = self
            .client
            .post(format!("{}/logout/all", self.bases[instance]))
            .bearer_auth(&entry.token);
        let reply = self.send(request, HANG_BOUND, "logout-all").await;
        if reply.status == Some(204) {
            for id in ids {
                self.judge.set_state(
                    *id,
                    State::Revoked {
                        ack: reply.received,
                        by: instance,
                    },
                );
            }
            self.judge.counters.acknowledged[RevocationKind::User as usize]
                .fetch_add(1, Ordering::Relaxed);
            // A login on the other instance within the replica's bound may not see the cut-off
            // yet and issue a token it covers: the replica's stated staleness.
            let bound = self.judge.staleness_bound;
            if !bound.is_zero() {
                self.judge
                    .cutoff_may_cover_logins_until(user, reply.received + bound);
            }
            return true;
        }
        match reply.status {
            Some(503) => self.judge.unavailable(reply.sent, reply.received),
            Some(401) => {
                self.judge.set_state(via, State::Live);
                self.judge.check(
                    via,
                    instance,
                    reply.sent,
                    reply.received,
                    401,
                    &reply.challenge,
                    &format!("{}: logout-all", self.variant),
                );
            }
            Some(other) => self.judge.violation(format!(
                "{}: logout-all on instance {instance} answered {other}",
                self.variant
            )),
            None => {}
        }
        self.judge.unacknowledged_cutoff(user, reply.received);
        for id in ids {
            self.judge.forget(*id);
        }
        false
    }

    fn instances(&self) -> usize {
        self.bases.len()
    }

    /// One load task: until told to stop, a random operation on its own users every few
    /// milliseconds.
    pub(crate) async fn run_task(self: Arc<Self>, task: usize, pace: Duration) {
        let users: Vec<String> = (0..USERS_PER_TASK)
            .map(|n| format!("{}-{task}-{n}", self.variant))
            .collect();
        let mut live: Vec<(u64, usize)> = Vec::new(); // (id, user index)
        let mut revoked: std::collections::VecDeque<u64> = std::collections::VecDeque::new();
        while !self.stop.load(Ordering::Relaxed) {
            // Tokens the judge stopped following (a detected loss, an unknown outcome).
            live.retain(|(id, _)| {
                self.judge
                    .get(*id)
                    .is_some_and(|entry| entry.state == State::Live)
            });
            revoked.retain(|id| self.judge.get(*id).is_some());
            let instance = rand::random_range(0..self.instances());
            let roll = rand::random_range(0..100u32);
            if live.len() < 2 || (roll >= 96 && live.len() < LIVE_PER_TASK) {
                let user = rand::random_range(0..USERS_PER_TASK);
                if let Some(id) = self.login(instance, &users[user]).await {
                    live.push((id, user));
                }
            } else if roll < 62 {
                let (id, _) = live[rand::random_range(0..live.len())];
                if roll % 5 == 0 {
                    self.check_grpc(id, instance, "check of a live token").await;
                } else {
                    self.check(id, instance, "check of a live token").await;
                }
            } else if roll < 74 {
                if let Some(id) = revoked.get(rand::random_range(0..revoked.len().max(1))) {
                    if roll % 5 == 0 {
                        self.check_grpc(*id, instance, "re-check of a revoked token")
                            .await;
                    } else {
                        self.check(*id, instance, "re-check of a revoked token")
                            .await;
                    }
                }
            } else if roll < 92 {
                let kind = match roll % 3 {
                    0 => RevocationKind::Token,
                    1 => RevocationKind::Session,
                    _ => RevocationKind::Rfc7009,
                };
                let slot = rand::random_range(0..live.len());
                let (id, _) = live.swap_remove(slot);
                if self.revoke(id, instance, kind).await {
                    revoked.push_back(id);
                    // From the acknowledgement on, on every instance.
                    for other in 0..self.instances() {
                        self.check(id, other, "check right after its revocation")
                            .await;
                    }
                }
            } else {
                let (via, user) = live[rand::random_range(0..live.len())];
                let ids: Vec<u64> = live
                    .iter()
                    .filter(|(_, u)| *u == user)
                    .map(|(id, _)| *id)
                    .collect();
                live.retain(|(_, u)| *u != user);
                if self.logout_all(via, &ids, instance, &users[user]).await {
                    for id in &ids {
                        revoked.push_back(*id);
                    }
                    for other in 0..self.instances() {
                        self.check(via, other, "check right after logout-all").await;
                    }
                }
            }
            while revoked.len() > REVOKED_PER_TASK {
                if let Some(old) = revoked.pop_front() {
                    self.judge.forget(old);
                }
            }
            tokio::time::sleep(pace).await;
        }
    }

    /// Checks every token followed (up to `limit`, at random) on every instance, a few at a
    /// time: after each fault, every acknowledged revocation must still hold.
    pub(crate) async fn sweep(self: &Arc<Self>, limit: usize) -> usize {
        let mut entries = self.judge.snapshot();
        entries.retain(|(_, entry)| matches!(entry.state, State::Live | State::Revoked { .. }));
        // A random sample when there are more than `limit`.
        for i in 0..entries.len() {
            let j = rand::random_range(i..entries.len());
            entries.swap(i, j);
        }
        entries.truncate(limit);
        let mut checked = 0;
        for chunk in entries.chunks(16) {
            let mut set = tokio::task::JoinSet::new();
            for (id, _) in chunk {
                for instance in 0..self.instances() {
                    let load = self.clone();
                    let id = *id;
                    set.spawn(async move { load.check(id, instance, "sweep after a fault").await });
                }
            }
            while set.join_next().await.is_some() {
                checked += 1;
            }
        }
        checked
    }
}
