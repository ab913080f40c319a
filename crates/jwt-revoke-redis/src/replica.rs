//! The local replica: every record of the store in process memory, kept current through
//! Redis pub/sub, so that checks run at memory speed with a stated bound on staleness.
//!
//! # How it stays correct
//!
//! - Every write of every [`RedisStore`] on one server announces what it left behind on the
//!   prefix's change channel, in the same atomic script as the write (see `scripts.rs`), so a
//!   subscriber receives the writes in the order Redis made them.
//! - A replica subscribes *first*, then copies every key under the prefix (`SCAN`, `GET`,
//!   `PTTL`) into a fresh [`MemoryStore`], then applies the messages that arrived meanwhile,
//!   in order. Every message states a record's whole value (present with this TTL, cut-off at
//!   this instant, deleted), so replaying the changes since the subscription over any copy
//!   made after it ends in Redis's state.
//! - Freshness is proven, not assumed: every `heartbeat` the replica publishes a numbered
//!   message of its own on the channel and notes when it sent it. When it comes back, every
//!   write Redis made before it has been applied, so the replica is known to hold every write
//!   made before the send; checks are answered locally until `send + max_staleness`. A replica
//!   whose heartbeats stop coming back (Redis down, paused, partitioned) stops answering after
//!   that, and the store reads Redis directly, with its usual timeout and failure handling.
//! - After any disconnect the replica is dropped and rebuilt from a new copy: nothing missed
//!   while disconnected survives.
//! - Its own writes: a token record or a cut-off written through this store is applied to the
//!   replica as soon as Redis confirms it (both only ever grow, so a late message cannot undo
//!   them). A deletion (an allowlist registration removed) cannot be applied early that way —
//!   an older message could bring the record back — so it sends checks to Redis until a
//!   heartbeat sent after the deletion has come back.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use futures_util::StreamExt as _;
use jwt_revoke_core::{
    CheckReply, Clock, RecordKey, StoreError, SystemClock, Timestamp, TokenKeys,
};
use jwt_revoke_memory::MemoryStore;
use redis::{AsyncCommands as _, Msg};
use serde::Deserialize;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::duration;
use crate::keys::{KeyPrefix, Record};
use crate::store::RedisStore;

/// The settings of a store's local replica (see
/// [`RedisStoreConfig::with_local_replica`](crate::RedisStoreConfig::with_local_replica)).
///
/// ```
/// use std::time::Duration;
/// use jwt_revoke_redis::{ReplicaConfig, RedisStoreConfig};
///
/// let config: RedisStoreConfig = serde_json::from_str(r#"{
///     "url": "redis://redis.internal:6379",
///     "local_replica": { "max_staleness": "250ms" }
/// }"#).unwrap();
/// let replica = config.local_replica.unwrap();
/// assert_eq!(replica.max_staleness, Duration::from_millis(250));
/// assert_eq!(replica.heartbeat, ReplicaConfig::default().heartbeat);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct ReplicaConfig {
    /// The bound on staleness (default 500 ms): a check answered by the replica sees every
    /// write that Redis confirmed at least this long before the check. Past it without news
    /// from Redis, checks go to Redis directly.
    #[serde(deserialize_with = "duration")]
    pub max_staleness: Duration,
    /// How often the replica proves it is current (default 100 ms): one `PUBLISH` per
    /// heartbeat, which every replica on the channel receives. Must be shorter than
    /// `max_staleness`, by enough to cover a round trip to Redis.
    #[serde(deserialize_with = "duration")]
    pub heartbeat: Duration,
    /// The most records the replica holds (default 1,000,000, about 55 MB). A replica that
    /// cannot hold every record of the store says so in the log and is not used: checks go
    /// to Redis.
    pub capacity: usize,
    /// Ask Redis about a token the replica does not hold, instead of answering "not listed"
    /// (default `false`). Set it in **allowlist** mode: there "not listed" means "refuse", and
    /// a token registered on another instance a moment ago may not have reached the replica
    /// yet. Refusals then cost a round trip; accepted tokens do not. In denylist mode leave it
    /// off: "not listed" is the answer for nearly every request.
    pub confirm_missing_tokens: bool,
}

impl Default for ReplicaConfig {
    fn default() -> Self {
        ReplicaConfig {
            max_staleness: Duration::from_millis(500),
            heartbeat: Duration::from_millis(100),
            capacity: MemoryStore::DEFAULT_CAPACITY,
            confirm_missing_tokens: false,
        }
    }
}

impl ReplicaConfig {
    /// The same settings with another bound on staleness.
    pub fn with_max_staleness(mut self, max_staleness: Duration) -> Self {
        self.max_staleness = max_staleness;
        self
    }

    /// The same settings with another heartbeat.
    pub fn with_heartbeat(mut self, heartbeat: Duration) -> Self {
        self.heartbeat = heartbeat;
        self
    }

    /// The same settings with another capacity.
    pub fn with_capacity(mut self, records: usize) -> Self {
        self.capacity = records;
        self
    }

    /// The same settings, asking Redis (or not) about tokens the replica does not hold: set
    /// it in allowlist mode (see [`confirm_missing_tokens`](Self::confirm_missing_tokens)).
    pub fn with_confirm_missing_tokens(mut self, confirm: bool) -> Self {
        self.confirm_missing_tokens = confirm;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), &'static str> {
        if self.heartbeat.is_zero() || self.max_staleness.is_zero() {
            return Err("the replica's heartbeat and max_staleness must be positive");
        }
        if self.heartbeat >= self.max_staleness {
            return Err("the replica's heartbeat must be shorter than its max_staleness");
        }
        if self.capacity == 0 {
            return Err("the replica's capacity must be positive");
        }
        Ok(())
    }
}

/// What a store's local replica is doing, from [`RedisStore::replica_status`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplicaStatus {
    /// Whether checks are answered locally now (a heartbeat came back within the bound).
    pub fresh: bool,
    /// Records held, counting expired ones not yet freed.
    pub records: usize,
    /// Complete copies made from Redis: 1 after the start, one more after each reconnection.
    pub resyncs: u64,
    /// Checks answered by the replica.
    pub local_checks: u64,
    /// Checks sent to Redis because the replica was not fresh.
    pub direct_checks: u64,
}

/// The replica of one store: shared with its task, which is stopped when the last store
/// holding it is dropped.
pub(crate) struct Replica {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shared {
    config: ReplicaConfig,
    /// Tells this replica's heartbeats from other replicas' on the same channel.
    nonce: u64,
    /// The origin of `fresh_until`.
    origin: Instant,
    /// The records: replaced whole by each copy. Read on every check without touching a
    /// shared reference count (arc-swap), so that checks on many threads do not contend.
    records: ArcSwap<Generation>,
    /// Nanoseconds after `origin` until which checks are answered locally; 0: not fresh.
    fresh_until: AtomicU64,
    /// Serializes changes of `fresh_until`, and holds the first heartbeat number allowed to
    /// renew it (heartbeats sent before a deletion must not).
    renewal: Mutex<u64>,
    /// The number of the next heartbeat.
    next_heartbeat: AtomicU64,
    /// Asks the task for a heartbeat now (after a deletion).
    heartbeat_now: Notify,
    resyncs: AtomicU64,
    local_checks: AtomicU64,
    direct_checks: AtomicU64,
}

impl Replica {
    /// Starts the replica of `direct` (a store without replica) on the server of `client`.
    pub(crate) fn start(client: redis::Client, direct: RedisStore, config: ReplicaConfig) -> Self {
        let shared = Arc::new(Shared {
            nonce: std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish(),
            origin: Instant::now(),
            records: ArcSwap::from_pointee(Generation::new(&config)),
            fresh_until: AtomicU64::new(0),
            renewal: Mutex::new(0),
            next_heartbeat: AtomicU64::new(1),
            heartbeat_now: Notify::new(),
            resyncs: AtomicU64::new(0),
            local_checks: AtomicU64::new(0),
            direct_checks: AtomicU64::new(0),
            config,
        });
        let task = tokio::spawn(run(Arc::clone(&shared), client, direct));
        Replica { shared, task }
    }

    /// The answer of the replica, when it is fresh.
    pub(crate) fn check(&self, keys: &TokenKeys) -> Option<CheckReply> {
        let shared = &self.shared;
        if !shared.is_fresh() {
            shared.direct_checks.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let reply = shared.records.load().store.lookup(keys);
        if shared.config.confirm_missing_tokens && !reply.token_listed {
            shared.direct_checks.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        shared.local_checks.fetch_add(1, Ordering::Relaxed);
        Some(reply)
    }

    /// Applies a token record this store wrote, `ttl_millis` from now.
    pub(crate) fn wrote_token(&self, token: RecordKey, ttl_millis: i64) {
        let records = self.shared.records.load();
        if let Err(err) = apply_token(&records.store, token, ttl_millis) {
            self.shared.overflowed(&records, &err);
        }
    }

    /// Applies a cut-off this store wrote (the one in force), `ttl_millis` from now.
    pub(crate) fn wrote_cutoff(&self, key: RecordKey, in_force: Timestamp, ttl_millis: i64) {
        let records = self.shared.records.load();
        if let Err(err) = apply_cutoff(&records.store, key, in_force, ttl_millis) {
            self.shared.overflowed(&records, &err);
        }
    }

    /// After this store deleted a token record: checks go to Redis until a heartbeat sent
    /// from now on has come back.
    pub(crate) fn deleted_token(&self) {
        {
            let mut first_allowed = self.shared.lock_renewal();
            *first_allowed = self.shared.next_heartbeat.load(Ordering::SeqCst);
            self.shared.fresh_until.store(0, Ordering::SeqCst);
        }
        self.shared.heartbeat_now.notify_one();
    }

    pub(crate) fn status(&self) -> ReplicaStatus {
        let shared = &self.shared;
        ReplicaStatus {
            fresh: shared.is_fresh(),
            records: shared.records.load().store.len(),
            resyncs: shared.resyncs.load(Ordering::Relaxed),
            local_checks: shared.local_checks.load(Ordering::Relaxed),
            direct_checks: shared.direct_checks.load(Ordering::Relaxed),
        }
    }

    /// Waits until the replica is fresh, for at most `limit`; whether it is.
    pub(crate) async fn wait_fresh(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while !self.shared.is_fresh() {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }
}

impl Shared {
    fn is_fresh(&self) -> bool {
        let until = self.fresh_until.load(Ordering::Acquire);
        until != 0 && nanos(self.origin.elapsed()) < until
    }

    fn lock_renewal(&self) -> std::sync::MutexGuard<'_, u64> {
        // Nothing panics while it is held; the number is always whole.
        self.renewal.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn mark_stale(&self) {
        let _guard = self.lock_renewal();
        self.fresh_until.store(0, Ordering::SeqCst);
    }

    /// Heartbeat `number`, sent at `sent`, came back: every write before `sent` is applied
    /// (unless one did not fit).
    fn renew(&self, number: u64, sent: Instant) {
        let first_allowed = self.lock_renewal();
        if number >= *first_allowed && !self.records.load().overflowed.load(Ordering::SeqCst) {
            let until = nanos(sent.duration_since(self.origin) + self.config.max_staleness);
            self.fresh_until.fetch_max(until.max(1), Ordering::SeqCst);
        }
    }

    /// A record did not fit in `records`: they are not used again; the next copy replaces
    /// them.
    fn overflowed(&self, records: &Generation, err: &StoreError) {
        records.overflowed.store(true, Ordering::SeqCst);
        self.mark_stale();
        tracing::error!(
            %err,
            capacity = self.config.capacity,
            "the local replica cannot hold every revocation; checks go to Redis until it is rebuilt"
        );
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// One complete copy of the store's records, and what became of it.
struct Generation {
    store: MemoryStore,
    /// A record did not fit: this copy is incomplete and is never used again.
    overflowed: AtomicBool,
}

impl Generation {
    fn new(config: &ReplicaConfig) -> Self {
        Generation {
            store: MemoryStore::builder().capacity(config.capacity).build(),
            overflowed: AtomicBool::new(false),
        }
    }
}

/// A TTL in milliseconds from Redis (`-1`: no expiry) as an instant of the system clock,
/// which Redis's expiries follow too.
fn expiry(ttl_millis: i64) -> Timestamp {
    if ttl_millis < 0 {
        return Timestamp::MAX;
    }
    SystemClock
        .now()
        .saturating_add(Duration::from_millis(ttl_millis.unsigned_abs()))
}

pub(crate) fn apply_token(
    records: &MemoryStore,
    token: RecordKey,
    ttl_millis: i64,
) -> Result<(), StoreError> {
    records.write_token(&token, expiry(ttl_millis))
}

pub(crate) fn apply_cutoff(
    records: &MemoryStore,
    key: RecordKey,
    at: Timestamp,
    ttl_millis: i64,
) -> Result<(), StoreError> {
    records.write_cutoff(&key, at, expiry(ttl_millis)).map(drop)
}

pub(crate) fn apply_deletion(records: &MemoryStore, token: RecordKey) {
    records.delete_token(&token);
}

/// Why a replica session ended.
#[derive(Debug, thiserror::Error)]
enum SessionEnd {
    #[error("{0}")]
    Redis(#[from] redis::RedisError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the subscription was closed")]
    Closed,
    #[error("no heartbeat came back for {0:?}")]
    Silent(Duration),
    #[error("unreadable change message {0:?}")]
    Unreadable(String),
    #[error("Redis lost acknowledged records: the copy is made anew")]
    DataLoss,
}

/// The replica's task: sessions, each from a new subscription and a new copy, until aborted.
async fn run(shared: Arc<Shared>, client: redis::Client, direct: RedisStore) {
    const FIRST_RETRY: Duration = Duration::from_millis(50);
    const LAST_RETRY: Duration = Duration::from_secs(5);
    let mut retry = FIRST_RETRY;
    loop {
        let started = shared.resyncs.load(Ordering::Relaxed);
        let end = session(&shared, &client, &direct).await;
        shared.mark_stale();
        // A session that got as far as a copy starts the back-off afresh.
        if shared.resyncs.load(Ordering::Relaxed) > started {
            retry = FIRST_RETRY;
        }
        if let SessionEnd::Store(_) = end {
            tracing::error!(
                error = %end,
                capacity = shared.config.capacity,
                retry_in = ?retry,
                "the local replica cannot hold the store's records; checks go to Redis"
            );
        } else {
            tracing::warn!(
                error = %end,
                retry_in = ?retry,
                "the local replica stopped; checks go to Redis until it has a new copy"
            );
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(LAST_RETRY);
    }
}

/// One subscription: copy, then apply changes and heartbeats until something breaks.
async fn session(shared: &Shared, client: &redis::Client, direct: &RedisStore) -> SessionEnd {
    match try_session(shared, client, direct).await {
        Ok(never) => match never {},
        Err(end) => end,
    }
}

async fn try_session(
    shared: &Shared,
    client: &redis::Client,
    direct: &RedisStore,
) -> Result<std::convert::Infallible, SessionEnd> {
    let limit = direct.timeout().max(Duration::from_secs(1));
    let mut connection = direct.direct_handle().await?;
    let channel = direct
        .key_prefix()
        .channel(redis::aio::ConnectionLike::get_db(&connection));
    let mut pubsub = bounded(limit, client.get_async_pubsub()).await??;
    bounded(limit, pubsub.subscribe(&channel)).await??;
    let mut messages = pubsub.into_on_message();

    // The data-loss marker first: a copy of a server that lost its data must not be used
    // before the loss is known (and recorded for every store).
    bounded(limit, direct.read_markers()).await??;
    let cutoff_at_copy = direct.data_loss_status().cutoff;

    // Everything under the prefix, into a new set of records. Messages published meanwhile
    // wait in the subscription's queue.
    let generation = Arc::new(Generation::new(&shared.config));
    let records = &generation.store;
    copy_all(&mut connection, direct.key_prefix(), records, limit).await?;
    shared.records.store(Arc::clone(&generation));
    shared.resyncs.fetch_add(1, Ordering::Relaxed);

    let config = &shared.config;
    let silence_limit = config.max_staleness * 3;
    let mut ticker = tokio::time::interval(config.heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Heartbeats in flight: (number, sent at), oldest first.
    let mut in_flight: std::collections::VecDeque<(u64, Instant)> = Default::default();
    let mut last_back = Instant::now();
    loop {
        let send = tokio::select! {
            message = messages.next() => {
                let message = message.ok_or(SessionEnd::Closed)?;
                if let Some(number) = apply(records, direct, shared.nonce, &message)? {
                    while let Some(&(sent_number, sent)) = in_flight.front() {
                        if sent_number > number {
                            break;
                        }
                        in_flight.pop_front();
                        if sent_number == number {
                            shared.renew(number, sent);
                            last_back = Instant::now();
                        }
                    }
                }
                false
            }
            _ = ticker.tick() => true,
            () = shared.heartbeat_now.notified() => true,
        };
        if send {
            if last_back.elapsed() > silence_limit {
                return Err(SessionEnd::Silent(silence_limit));
            }
            // A flush announces nothing on the channel: the marker, read with every
            // heartbeat, tells. After a loss the copy is made anew (the store-wide cut-off
            // covers what it held meanwhile).
            bounded(limit, direct.read_markers()).await??;
            if direct.data_loss_status().cutoff != cutoff_at_copy {
                return Err(SessionEnd::DataLoss);
            }
            let number = shared.next_heartbeat.fetch_add(1, Ordering::SeqCst);
            let sent = Instant::now();
            let text = format!("h {} {number}", shared.nonce);
            bounded(limit, connection.publish::<_, _, ()>(&channel, text)).await??;
            in_flight.push_back((number, sent));
        }
    }
}

/// `future`, failing after `limit`.
async fn bounded<T>(
    limit: Duration,
    future: impl std::future::Future<Output = T>,
) -> Result<T, SessionEnd> {
    tokio::time::timeout(limit, future)
        .await
        .map_err(|_| SessionEnd::Timeout(limit))
}

/// Copies every record under `prefix` into `records`.
async fn copy_all(
    connection: &mut crate::connection::Handle,
    prefix: &KeyPrefix,
    records: &MemoryStore,
    limit: Duration,
) -> Result<(), SessionEnd> {
    let pattern = prefix.scan_pattern();
    let mut cursor: u64 = 0;
    loop {
        let mut scan = redis::cmd("SCAN");
        scan.arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1_000);
        let (next, keys): (u64, Vec<Vec<u8>>) =
            bounded(limit, scan.query_async(&mut *connection)).await??;
        let parsed: Vec<(Record, &Vec<u8>)> = keys
            .iter()
            .filter_map(|key| prefix.parse(key).map(|record| (record, key)))
            .collect();
        if !parsed.is_empty() {
            let mut pipe = redis::pipe();
            for (_, key) in &parsed {
                pipe.cmd("GET").arg(key).cmd("PTTL").arg(key);
            }
            let values: Vec<(Option<i64>, i64)> =
                bounded(limit, pipe.query_async(&mut *connection)).await??;
            for ((record, _), (value, ttl)) in parsed.iter().zip(values) {
                // -2: gone since the scan (expired or deleted; a deletion's message follows).
                match (record, value) {
                    _ if ttl == -2 => {}
                    (Record::Token(token), _) => apply_token(records, *token, ttl)?,
                    (Record::Cutoff(key), Some(at)) => {
                        apply_cutoff(records, *key, Timestamp::from_micros(at), ttl)?;
                    }
                    (Record::Cutoff(_), None) => {}
                }
            }
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// One message of the change channel.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Token {
        token: RecordKey,
        ttl: i64,
    },
    Cutoff {
        key: RecordKey,
        at: Timestamp,
        ttl: i64,
    },
    Deleted {
        token: RecordKey,
    },
    Heartbeat {
        nonce: u64,
        number: u64,
    },
    /// The data-loss marker's new value (a loss recorded, or cleared).
    Marker(Vec<u8>),
}

/// Reads a message of the change channel (see `scripts.rs` for the format).
pub(crate) fn parse_change(prefix: &KeyPrefix, text: &[u8]) -> Option<Change> {
    // The key comes last and may contain spaces: split off only the fields before it.
    fn fields<const N: usize>(text: &[u8]) -> Option<[&[u8]; N]> {
        let mut parts = text.splitn(N, |&b| b == b' ');
        let mut out = [&b""[..]; N];
        for slot in &mut out {
            *slot = parts.next()?;
        }
        Some(out)
    }
    fn number<T: std::str::FromStr>(bytes: &[u8]) -> Option<T> {
        std::str::from_utf8(bytes).ok()?.parse().ok()
    }
    let [kind, rest] = fields::<2>(text)?;
    match kind {
        b"t" => {
            let [ttl, key] = fields::<2>(rest)?;
            match prefix.parse(key)? {
                Record::Token(token) => Some(Change::Token {
                    token,
                    ttl: number(ttl)?,
                }),
                Record::Cutoff(_) => None,
            }
        }
        b"c" => {
            let [ttl, at, key] = fields::<3>(rest)?;
            match prefix.parse(key)? {
                Record::Cutoff(key) => Some(Change::Cutoff {
                    key,
                    at: Timestamp::from_micros(number(at)?),
                    ttl: number(ttl)?,
                }),
                Record::Token(_) => None,
            }
        }
        b"d" => match prefix.parse(rest)? {
            Record::Token(token) => Some(Change::Deleted { token }),
            Record::Cutoff(_) => None,
        },
        b"m" => Some(Change::Marker(rest.to_vec())),
        b"h" => {
            let [nonce, number_text] = fields::<2>(rest)?;
            Some(Change::Heartbeat {
                nonce: number(nonce)?,
                number: number(number_text)?,
            })
        }
        _ => None,
    }
}

/// Applies one message of the change channel; the number of this replica's own heartbeat
/// when it is one.
///
/// A message that does not parse ends the session: it may have been a revocation, and only a
/// new copy is sure to hold it.
fn apply(
    records: &MemoryStore,
    direct: &RedisStore,
    nonce: u64,
    message: &Msg,
) -> Result<Option<u64>, SessionEnd> {
    let text = message.get_payload_bytes();
    match parse_change(direct.key_prefix(), text) {
        Some(Change::Marker(marker)) => direct.learn_marker(&marker)?,
        Some(Change::Token { token, ttl }) => apply_token(records, token, ttl)?,
        Some(Change::Cutoff { key, at, ttl }) => apply_cutoff(records, key, at, ttl)?,
        Some(Change::Deleted { token }) => apply_deletion(records, token),
        Some(Change::Heartbeat {
            nonce: from,
            number,
        }) => {
            return Ok((from == nonce).then_some(number));
        }
        None => {
            return Err(SessionEnd::Unreadable(
                String::from_utf8_lossy(text).into_owned(),
            ));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jwt_revoke_core::{SessionId, TokenId, UserId};

    #[test]
    fn change_messages_read_back_what_the_scripts_write() {
        let prefix = KeyPrefix::new("a b:").expect("valid prefix");
        let user = UserId::new("iss", "alice").key();
        let session = SessionId::new("iss", "s").key();
        let token = TokenId::from_jti("iss", "alice", "t").denylist_key();
        let token_key = prefix.token_key(&TokenKeys::new(token, user, None));
        let parse = |text: String| parse_change(&prefix, text.as_bytes());
        assert_eq!(
            parse(format!("t 1500 {token_key}")),
            Some(Change::Token { token, ttl: 1500 })
        );
        assert_eq!(
            parse(format!("t -1 {token_key}")),
            Some(Change::Token { token, ttl: -1 })
        );
        assert_eq!(
            parse(format!("c 60000 -17 {}", prefix.cutoff_key(&session))),
            Some(Change::Cutoff {
                key: session,
                at: Timestamp::from_micros(-17),
                ttl: 60_000
            })
        );
        assert_eq!(
            parse(format!("d {token_key}")),
            Some(Change::Deleted { token })
        );
        assert_eq!(
            parse("m 5 0 lost 17".to_owned()),
            Some(Change::Marker(b"5 0 lost 17".to_vec()))
        );
        assert_eq!(
            parse("h 42 7".to_owned()),
            Some(Change::Heartbeat {
                nonce: 42,
                number: 7
            })
        );
        for bad in [
            String::new(),
            "t".to_owned(),
            format!("t x {token_key}"),
            format!("c 1 {}", prefix.cutoff_key(&user)),
            format!("c 1 2 {token_key}"),
            format!("t 1 {}", prefix.cutoff_key(&user)),
            format!(
                "d {}",
                KeyPrefix::default().token_key(&TokenKeys::new(token, user, None))
            ),
            "h 1".to_owned(),
            "x 1 2".to_owned(),
        ] {
            assert_eq!(parse(bad.clone()), None, "{bad:?}");
        }
    }
}
