//! The local replica: every record of the store in process memory, kept current through
//! Redis pub/sub, so that checks run at memory speed with a stated bound on staleness.
//!
//! # How it stays correct
//!
//! - Every write of every [`RedisStore`] on one server announces what it left behind on the
//!   prefix's change channel, in the same atomic script as the write (see `wire.rs`, the format), so a
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

mod config;
mod lease;
mod records;
mod sync;
pub(crate) mod wire;

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use jwt_revoke_core::{CheckReply, RecordKey, StoreError, Timestamp, TokenKeys};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use config::ReplicaConfig;
use lease::Lease;
use records::Generation;
#[cfg(feature = "fuzzing")]
pub(crate) use records::{apply_cutoff, apply_deletion, apply_token};
#[cfg(feature = "fuzzing")]
pub(crate) use wire::{Change, parse_change};

use crate::direct::Direct;

/// What a store's local replica is doing, from
/// [`RedisStore::replica_status`](crate::RedisStore::replica_status).
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
    /// Publishes the state metrics once per heartbeat (feature `metrics`).
    #[cfg(feature = "metrics")]
    monitor: JoinHandle<()>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.task.abort();
        #[cfg(feature = "metrics")]
        {
            self.monitor.abort();
            self.shared.observe(Observation::Dropped);
        }
    }
}

struct Shared {
    config: ReplicaConfig,
    /// Tells this replica's heartbeats from other replicas' on the same channel.
    nonce: u64,
    /// The records: replaced whole by each copy. Read on every check without touching a
    /// shared reference count (arc-swap), so that checks on many threads do not contend.
    records: ArcSwap<Generation>,
    /// Until when checks may be answered locally.
    lease: Lease,
    /// Asks the task for a heartbeat now (after a deletion).
    heartbeat_now: Notify,
    resyncs: AtomicU64,
    local_checks: AtomicU64,
    direct_checks: AtomicU64,
    /// What the state metrics know beyond the lease (feature `metrics`); its lock orders
    /// their publications, so that the last one published is the latest state.
    #[cfg(feature = "metrics")]
    observed: std::sync::Mutex<Observed>,
}

/// The replica's phase, as far as the lease does not tell it (feature `metrics`).
#[cfg(feature = "metrics")]
#[derive(Debug)]
struct Observed {
    /// A copy is being made, or is made and no heartbeat has proven it current yet.
    syncing: bool,
    /// The replica was dropped: every state reads 0 and nothing more is published.
    gone: bool,
}

/// What just happened to the replica, for its metrics (see [`crate::observe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Observation {
    /// Started, or a change the lease shows (a deletion, an overflow), or a period passed.
    Changed,
    /// A new subscription holds: the copy begins.
    CopyBegun,
    /// A heartbeat came back.
    Renewed,
    /// The session ended: the copy is not used any more.
    SessionEnded,
    /// The replica was dropped.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    Dropped,
}

impl Replica {
    /// Starts the replica of the store that reaches Redis through `direct`, subscribing with
    /// `client` (a subscription needs a connection of its own). On the current Tokio runtime.
    pub(crate) fn start(client: redis::Client, direct: Direct, config: ReplicaConfig) -> Self {
        let shared = Arc::new(Shared {
            nonce: std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish(),
            records: ArcSwap::from_pointee(Generation::new(&config)),
            lease: Lease::new(config.max_staleness),
            heartbeat_now: Notify::new(),
            resyncs: AtomicU64::new(0),
            local_checks: AtomicU64::new(0),
            direct_checks: AtomicU64::new(0),
            #[cfg(feature = "metrics")]
            observed: std::sync::Mutex::new(Observed {
                syncing: true,
                gone: false,
            }),
            config,
        });
        shared.observe(Observation::Changed);
        let task = tokio::spawn(sync::run(Arc::clone(&shared), client, direct));
        #[cfg(feature = "metrics")]
        let monitor = tokio::spawn(monitor(Arc::clone(&shared)));
        Replica {
            shared,
            task,
            #[cfg(feature = "metrics")]
            monitor,
        }
    }

    /// The answer of the replica, when it is fresh.
    pub(crate) fn check(&self, keys: &TokenKeys) -> Option<CheckReply> {
        let shared = &self.shared;
        if !shared.lease.is_fresh() {
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
        if let Err(err) = records::apply_token(&records.store, token, ttl_millis) {
            self.shared.overflowed(&records, &err);
        }
    }

    /// Applies a cut-off this store wrote (the one in force), `ttl_millis` from now.
    pub(crate) fn wrote_cutoff(&self, key: RecordKey, in_force: Timestamp, ttl_millis: i64) {
        let records = self.shared.records.load();
        if let Err(err) = records::apply_cutoff(&records.store, key, in_force, ttl_millis) {
            self.shared.overflowed(&records, &err);
        }
    }

    /// After this store deleted a token record: checks go to Redis until a heartbeat sent
    /// from now on has come back.
    pub(crate) fn deleted_token(&self) {
        self.shared.lease.end_until_next_heartbeat();
        self.shared.observe(Observation::Changed);
        self.shared.heartbeat_now.notify_one();
    }

    pub(crate) fn status(&self) -> ReplicaStatus {
        let shared = &self.shared;
        ReplicaStatus {
            fresh: shared.lease.is_fresh(),
            records: shared.records.load().store.len(),
            resyncs: shared.resyncs.load(Ordering::Relaxed),
            local_checks: shared.local_checks.load(Ordering::Relaxed),
            direct_checks: shared.direct_checks.load(Ordering::Relaxed),
        }
    }

    /// Waits until the replica is fresh, for at most `limit`; whether it is.
    pub(crate) async fn wait_fresh(&self, limit: Duration) -> bool {
        let deadline = crate::batch::later(Instant::now(), limit);
        while !self.shared.lease.is_fresh() {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }
}

impl Shared {
    /// Heartbeat `number`, sent at `sent`, came back: every write before `sent` is applied
    /// (unless one did not fit).
    fn renew(&self, number: u64, sent: Instant) {
        self.lease.renew(number, sent, || {
            !self.records.load().overflowed.load(Ordering::SeqCst)
        });
        self.observe(Observation::Renewed);
    }

    /// A record did not fit in `records`: they are not used again; the task makes a new copy
    /// (which fits once enough revocations have expired).
    fn overflowed(&self, records: &Generation, err: &StoreError) {
        records.overflowed.store(true, Ordering::SeqCst);
        self.lease.end();
        self.observe(Observation::Changed);
        // The task ends its session and makes a new copy.
        self.heartbeat_now.notify_one();
        tracing::error!(
            %err,
            capacity = self.config.capacity,
            "the local replica cannot hold every revocation; checks go to Redis until it is rebuilt"
        );
    }
}

impl Shared {
    /// Publishes the replica's state and staleness after `what` (feature `metrics`): the state
    /// is read under the lock, so publications never leave an older state last.
    #[cfg(feature = "metrics")]
    fn observe(&self, what: Observation) {
        use crate::observe::ReplicaState;
        let mut observed = self
            .observed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if observed.gone {
            return;
        }
        let fresh = self.lease.is_fresh();
        match what {
            Observation::Changed => {}
            Observation::CopyBegun => observed.syncing = true,
            // The copy is proven current once a heartbeat made the lease fresh.
            Observation::Renewed => observed.syncing &= !fresh,
            Observation::SessionEnded => observed.syncing = false,
            Observation::Dropped => {
                observed.gone = true;
                crate::observe::replica_state(None, None);
                return;
            }
        }
        let state = if fresh {
            ReplicaState::Fresh
        } else if observed.syncing {
            ReplicaState::Syncing
        } else {
            ReplicaState::Stale
        };
        crate::observe::replica_state(Some(state), Some(self.lease.since_confirmed()));
    }

    /// Nothing to publish without the feature.
    #[cfg(not(feature = "metrics"))]
    #[inline(always)]
    fn observe(&self, _what: Observation) {}
}

/// Publishes the replica's state once per heartbeat: freshness lapses with time alone, with
/// no event in the replica to say so (its task may be waiting on a Redis that does not
/// answer).
#[cfg(feature = "metrics")]
async fn monitor(shared: Arc<Shared>) {
    let mut ticks = tokio::time::interval(shared.config.heartbeat);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        shared.observe(Observation::Changed);
    }
}
