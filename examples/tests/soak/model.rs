//! What the clients know: every token they hold, what became of it, and the rules a reply
//! is judged by. Every reply of the soak goes through [`Judge`].

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The demo's clock allowance for an `iat` ahead (`Policy::issued_at_skew`, 2 s) plus the
/// second an integer `iat` rounds to: how far past a call an unacknowledged cut-off reaches.
const CUTOFF_REACH: Duration = Duration::from_secs(3);

/// What the clients know about one token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// Issued, never asked to be revoked: must be accepted (unless a detected data loss
    /// covers it).
    Live,
    /// A revocation is on its way: any answer is right until it comes back.
    Pending,
    /// A revocation was acknowledged (204/200) at `ack` by instance `by`: refused from then on.
    Revoked { ack: Instant, by: usize },
}

/// A token the clients hold.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// The compact JWT.
    pub(crate) token: String,
    /// Its `sub`.
    pub(crate) user: String,
    /// When its `/login` request was sent.
    pub(crate) login_sent: Instant,
    /// What became of it.
    pub(crate) state: State,
}

/// Why the judge called a reply wrong, with what it saw.
pub(crate) type Violation = String;

/// The times a fault was in force: from its start until every instance answered again.
#[derive(Default)]
pub(crate) struct FaultWindows {
    windows: Mutex<Vec<(Instant, Option<Instant>)>>,
}

impl FaultWindows {
    /// A fault starts now.
    pub(crate) fn open(&self, at: Instant) {
        self.windows.lock().expect("unpoisoned").push((at, None));
    }

    /// The fault in force ends (every instance recovered) at `at`.
    pub(crate) fn close(&self, at: Instant) {
        if let Some(last) = self.windows.lock().expect("unpoisoned").last_mut() {
            last.1 = Some(at);
        }
    }

    /// Whether a request sent at `sent` and answered at `received` overlapped a fault.
    pub(crate) fn overlaps(&self, sent: Instant, received: Instant) -> bool {
        self.windows
            .lock()
            .expect("unpoisoned")
            .iter()
            .any(|(start, end)| *start <= received && end.is_none_or(|end| end >= sent))
    }
}

/// Counters of the run, each an atomic so that every task adds to them without a lock.
#[derive(Default)]
pub(crate) struct Counters {
    /// Requests sent by the load and the sweeps.
    pub(crate) requests: AtomicU64,
    /// Revocations acknowledged, by kind: token, session, RFC 7009, user.
    pub(crate) acknowledged: [AtomicU64; 4],
    /// 503s (store trouble) while a fault was in force.
    pub(crate) unavailable_during: AtomicU64,
    /// 503s while no fault was in force.
    pub(crate) unavailable_outside: AtomicU64,
    /// Tokens refused, as designed, because they were issued before a detected data loss.
    pub(crate) refused_after_loss: AtomicU64,
    /// Revoked tokens accepted on a cluster after a node came back empty, before the loss was
    /// noticed: the stated window (`loss_check_interval` + 2 × `timeout`).
    pub(crate) accepted_before_loss_noticed: AtomicU64,
    /// Revoked tokens still accepted by another instance within the replica's bound.
    pub(crate) stale_within_bound: AtomicU64,
    /// Tokens a cut-off covers that was not acknowledged (a 503 logout-all whose write landed)
    /// or was issued on an instance whose replica had not seen the cut-off yet (within bound).
    pub(crate) covered_by_unacknowledged: AtomicU64,
    /// Violations of the invariants.
    pub(crate) violations: AtomicU64,
    /// Checks sent as gRPC calls, and those answered with status 14 (UNAVAILABLE).
    pub(crate) grpc_checks: AtomicU64,
    pub(crate) grpc_unavailable: AtomicU64,
}

/// The kind of an acknowledged revocation, an index into [`Counters::acknowledged`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RevocationKind {
    /// `POST /logout`.
    Token = 0,
    /// `POST /logout/session`.
    Session = 1,
    /// `POST /oauth/revoke` (RFC 7009).
    Rfc7009 = 2,
    /// `POST /logout/all`.
    User = 3,
}

/// The tokens of the run, what the clients know of them, and the verdicts.
pub(crate) struct Judge {
    tokens: Mutex<HashMap<u64, Entry>>,
    /// Per user: until when a login may yield a token covered by a cut-off the clients did not
    /// see acknowledged before it.
    cutoff_reach: Mutex<HashMap<String, Instant>>,
    /// The latest data loss: its start, and its end once the server is back (`None`: under way).
    loss: Mutex<Option<(Instant, Option<Instant>)>>,
    next_id: AtomicU64,
    /// How long another instance may still accept a revoked token (the replica's
    /// `max_staleness`; zero when every check reads Redis).
    pub(crate) staleness_bound: Duration,
    /// How long after a data loss ends a store may take to notice it.
    pub(crate) loss_noticed_within: Duration,
    /// Whether a revoked token whose record was lost may be accepted until the loss is noticed:
    /// on a cluster, by design, within the stated bound (one server and a local replica notice
    /// at the first check, before answering it).
    lost_records_may_pass: bool,
    /// The fault windows.
    pub(crate) faults: FaultWindows,
    /// The counters.
    pub(crate) counters: Counters,
    violations: Mutex<VecDeque<Violation>>,
    /// (send time in ms since the start, latency in µs) of every request, for percentiles.
    latencies: Mutex<Vec<(u32, u32)>>,
    started: Instant,
}

/// How many violations are kept to be shown (all are counted).
const VIOLATIONS_KEPT: usize = 30;

impl Judge {
    /// A judge for a deployment whose other instances may lag by `staleness_bound` and whose
    /// store notices a loss within `loss_noticed_within`.
    pub(crate) fn new(
        staleness_bound: Duration,
        loss_noticed_within: Duration,
        lost_records_may_pass: bool,
    ) -> Self {
        Judge {
            tokens: Mutex::new(HashMap::new()),
            cutoff_reach: Mutex::new(HashMap::new()),
            loss: Mutex::new(None),
            next_id: AtomicU64::new(0),
            staleness_bound,
            loss_noticed_within,
            lost_records_may_pass,
            faults: FaultWindows::default(),
            counters: Counters::default(),
            violations: Mutex::new(VecDeque::new()),
            latencies: Mutex::new(Vec::new()),
            started: Instant::now(),
        }
    }

    /// Records a violation.
    pub(crate) fn violation(&self, what: String) {
        let what = format!("[+{:.3} s] {what}", self.since_start(Instant::now()));
        self.counters.violations.fetch_add(1, Ordering::SeqCst);
        let mut kept = self.violations.lock().expect("unpoisoned");
        if kept.len() < VIOLATIONS_KEPT {
            eprintln!("soak violation: {what}");
            kept.push_back(what);
        }
    }

    /// Seconds from the start of the variant to `at`, for the timeline.
    pub(crate) fn since_start(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.started).as_secs_f64()
    }

    /// The violations kept.
    pub(crate) fn violations(&self) -> Vec<Violation> {
        self.violations
            .lock()
            .expect("unpoisoned")
            .iter()
            .cloned()
            .collect()
    }

    /// Counts a request and its latency.
    pub(crate) fn record_latency(&self, sent: Instant, latency: Duration) {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let at = sent.duration_since(self.started).as_millis() as u32;
        let micros = latency.as_micros().min(u32::MAX as u128) as u32;
        self.latencies
            .lock()
            .expect("unpoisoned")
            .push((at, micros));
    }

    /// Latencies (µs) of requests sent during a fault and outside any.
    pub(crate) fn latencies_split(&self) -> (Vec<u32>, Vec<u32>) {
        let all = self.latencies.lock().expect("unpoisoned").clone();
        let (mut during, mut outside) = (Vec::new(), Vec::new());
        for (at, micros) in all {
            let sent = self.started + Duration::from_millis(u64::from(at));
            let received = sent + Duration::from_micros(u64::from(micros));
            if self.faults.overlaps(sent, received) {
                during.push(micros);
            } else {
                outside.push(micros);
            }
        }
        (during, outside)
    }

    /// A 503: store trouble, right during a fault, counted either way.
    pub(crate) fn unavailable(&self, sent: Instant, received: Instant) {
        if self.faults.overlaps(sent, received) {
            self.counters
                .unavailable_during
                .fetch_add(1, Ordering::Relaxed);
        } else {
            self.counters
                .unavailable_outside
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A data loss starts now (the server is about to come back empty).
    pub(crate) fn loss_begins(&self, at: Instant) {
        *self.loss.lock().expect("unpoisoned") = Some((at, None));
    }

    /// The data loss under way ends: the server is back, empty, and every instance answers
    /// again (a cluster store reconnects to a restarted node first, which takes seconds).
    pub(crate) fn loss_ends(&self, at: Instant) {
        if let Some(loss) = self.loss.lock().expect("unpoisoned").as_mut() {
            loss.1 = Some(at);
        }
    }

    /// Whether a request sent at `sent` falls in the latest loss's window: from its start
    /// until the store may have noticed it (its end plus `loss_noticed_within`).
    fn in_loss_window(&self, sent: Instant) -> bool {
        match *self.loss.lock().expect("unpoisoned") {
            None => false,
            Some((start, None)) => sent >= start,
            Some((start, Some(end))) => sent >= start && sent < end + self.loss_noticed_within,
        }
    }

    /// Whether a token whose login was sent at `login_sent` may be refused for a data loss:
    /// it was issued before a loss ended plus the time the store takes to notice it.
    fn loss_covers(&self, login_sent: Instant) -> bool {
        let loss = *self.loss.lock().expect("unpoisoned");
        match loss {
            None => false,
            Some((_, None)) => true,
            Some((_, Some(end))) => login_sent < end + self.loss_noticed_within,
        }
    }

    /// A new token, live.
    pub(crate) fn issued(&self, token: String, user: &str, login_sent: Instant) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.tokens.lock().expect("unpoisoned").insert(
            id,
            Entry {
                token,
                user: user.to_owned(),
                login_sent,
                state: State::Live,
            },
        );
        id
    }

    /// The token `id`, if the clients still follow it.
    pub(crate) fn get(&self, id: u64) -> Option<Entry> {
        self.tokens.lock().expect("unpoisoned").get(&id).cloned()
    }

    /// Every token followed now.
    pub(crate) fn snapshot(&self) -> Vec<(u64, Entry)> {
        self.tokens
            .lock()
            .expect("unpoisoned")
            .iter()
            .map(|(id, entry)| (*id, entry.clone()))
            .collect()
    }

    /// Sets the state of `id`.
    pub(crate) fn set_state(&self, id: u64, state: State) {
        if let Some(entry) = self.tokens.lock().expect("unpoisoned").get_mut(&id) {
            entry.state = state;
        }
    }

    /// Stops following `id`: its fate is unknown (a revocation answered 503 may or may not
    /// have been recorded) or no longer of interest.
    pub(crate) fn forget(&self, id: u64) {
        self.tokens.lock().expect("unpoisoned").remove(&id);
    }

    /// A user cut-off that may exist without its acknowledgement being seen before a later
    /// login: logins sent until `until` may get a token it covers.
    pub(crate) fn cutoff_may_cover_logins_until(&self, user: &str, until: Instant) {
        let mut reach = self.cutoff_reach.lock().expect("unpoisoned");
        let slot = reach.entry(user.to_owned()).or_insert(until);
        *slot = (*slot).max(until);
    }

    /// A logout-all of `user` answered 503 at `received`: its cut-off may have been written,
    /// and reaches [`CUTOFF_REACH`] past the call.
    pub(crate) fn unacknowledged_cutoff(&self, user: &str, received: Instant) {
        self.cutoff_may_cover_logins_until(user, received + CUTOFF_REACH);
    }

    /// Judges a check (`GET /me`) of token `id` on instance `instance`, sent at `sent` and
    /// answered at `received` with `status` and the `WWW-Authenticate` `challenge`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn check(
        &self,
        id: u64,
        instance: usize,
        sent: Instant,
        received: Instant,
        status: u16,
        challenge: &str,
        context: &str,
    ) {
        // The state now, after the reply: a revocation that started meanwhile (`Pending`) or
        // was acknowledged after the request was sent (`ack > sent`) excuses either answer.
        let Some(entry) = self.get(id) else { return };
        match status {
            200 => {
                if let State::Revoked { ack, by } = entry.state {
                    let bound = if by == instance {
                        Duration::ZERO
                    } else {
                        self.staleness_bound
                    };
                    if sent >= ack + bound
                        && self.lost_records_may_pass
                        && self.in_loss_window(sent)
                    {
                        self.counters
                            .accepted_before_loss_noticed
                            .fetch_add(1, Ordering::Relaxed);
                    } else if sent >= ack + bound {
                        self.violation(format!(
                            "{context}: a token revoked (acknowledged by instance {by} at \
                             +{:.3} s) {:?} before the check was sent was ACCEPTED by instance \
                             {instance}; login sent at +{:.3} s",
                            self.since_start(ack),
                            sent - ack,
                            self.since_start(entry.login_sent),
                        ));
                    } else if sent >= ack {
                        self.counters
                            .stale_within_bound
                            .fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            401 => {
                if entry.state != State::Live {
                    return;
                }
                if challenge.contains("lost its records") && self.loss_covers(entry.login_sent) {
                    self.counters
                        .refused_after_loss
                        .fetch_add(1, Ordering::Relaxed);
                    self.forget(id);
                    return;
                }
                if challenge.contains("tokens of this user") {
                    let reach = self
                        .cutoff_reach
                        .lock()
                        .expect("unpoisoned")
                        .get(&entry.user)
                        .copied();
                    if reach.is_some_and(|reach| entry.login_sent < reach) {
                        self.counters
                            .covered_by_unacknowledged
                            .fetch_add(1, Ordering::Relaxed);
                        self.forget(id);
                        return;
                    }
                }
                self.violation(format!(
                    "{context}: a valid, unrevoked token (login sent at +{:.3} s) was refused \
                     with 401 by instance {instance} ({challenge}); fault in force: {}",
                    self.since_start(entry.login_sent),
                    self.faults.overlaps(sent, received)
                ));
                self.forget(id);
            }
            503 => self.unavailable(sent, received),
            other => self.violation(format!(
                "{context}: instance {instance} answered a check with {other} (only 200, 401 \
                 or 503 are right)"
            )),
        }
    }
}
