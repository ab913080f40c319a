//! Noticing that Redis lost acknowledged records, and what the store then answers.
//!
//! A Redis without persistence restarted, a `FLUSHALL` or `FLUSHDB`, a failover to a replica
//! that had not received the last writes, a restart from an old snapshot: each silently
//! brings back every token those records revoked. The store notices with a **marker**: one
//! key per prefix (per slot range on a cluster) that every store of the deployment reads,
//! written once and never expiring:
//!
//! | marker | meaning |
//! |---|---|
//! | `<epoch> <writes> ok` | no loss known |
//! | `<epoch> <writes> lost <µs>` | a loss was noticed at that instant (µs since the epoch) |
//! | `<epoch> <writes> cleared <µs>` | the same, and an operator has cleared it |
//!
//! `<epoch>` is a random number chosen when the marker is written anew; `<writes>` counts
//! the writes made since (one server only: every write script counts itself in the marker,
//! in the same atomic step). Each store remembers the epoch and the highest count it has seen.
//! A loss is then:
//! - the marker is **absent** (the data is gone, the marker with it);
//! - the marker holds an **epoch other than the one seen** with no loss recorded: it was
//!   written anew, by a store built after the data went (which took it for a first start);
//! - the marker holds **fewer writes than seen** in the same epoch: the server went back in
//!   time (a replica promoted before it had every write, an older snapshot loaded).
//!
//! The noticing store records the loss in the marker with one atomic script that writes only
//! if the marker still holds what the store read, so that of many stores noticing at once
//! one writes and all agree on the instant. From then on every check reports that instant as
//! the store-wide cut-off ([`CheckReply::store_cutoff`]): every token issued up to it counts
//! as revoked. Or, told to fail closed, every check and write fails with
//! [`StoreError::DataLoss`] until an operator clears the loss.
//!
//! [`CheckReply::store_cutoff`]: jwt_revoke_core::CheckReply::store_cutoff

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use jwt_revoke_core::{StoreError, Timestamp};
use serde::Deserialize;
use tokio::time::Instant;

/// What a store does once it has noticed that Redis lost records it had acknowledged.
///
/// ```
/// use jwt_revoke_redis::{DataLossReaction, RedisStoreConfig};
/// let config: RedisStoreConfig =
///     serde_json::from_str(r#"{"url": "redis://r", "data_loss": "fail_closed"}"#).unwrap();
/// assert_eq!(config.data_loss, DataLossReaction::FailClosed);
/// assert_eq!(DataLossReaction::default(), DataLossReaction::StoreCutoff);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DataLossReaction {
    /// Every token issued up to the instant the loss was noticed counts as revoked (plus the
    /// policy's `iat` allowance; tokens without `iat` for the policy's cut-off retention),
    /// and everything else works on. Users log in again; nobody's revoked token comes back.
    #[default]
    StoreCutoff,
    /// Every check and every write fails with [`StoreError::DataLoss`] (not "unavailable":
    /// failing open never opens on it; the layer answers 503) until an operator clears the
    /// loss ([`RedisStore::clear_data_loss`](crate::RedisStore::clear_data_loss)). Writes are
    /// still made: a revocation made meanwhile holds after the clearing. Clearing keeps the
    /// store-wide cut-off, so it can never bring a lost revocation back.
    FailClosed,
}

/// What a store knows of data losses, from
/// [`RedisStore::data_loss_status`](crate::RedisStore::data_loss_status): for health checks
/// and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DataLossStatus {
    /// The configured reaction.
    pub reaction: DataLossReaction,
    /// Losses this store has learnt of since it was built: noticed itself, or read from the
    /// marker (each distinct cut-off counts once).
    pub losses_noticed: u64,
    /// The store-wide cut-off in force: every token issued up to it is refused.
    pub cutoff: Option<Timestamp>,
    /// Whether checks and writes fail with [`StoreError::DataLoss`] now (fail-closed, and a
    /// loss not cleared yet).
    pub failing_closed: bool,
    /// The server's `maxmemory-policy` when it may evict keys: checks are refused until it
    /// is safe again (see [`RedisStoreConfig::policy_check_interval`](crate::RedisStoreConfig::policy_check_interval)).
    pub evicting_policy: Option<String>,
}

/// The marker's state, as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MarkerState {
    Ok,
    Lost(Timestamp),
    Cleared(Timestamp),
}

/// A marker, as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Marker {
    epoch: u64,
    writes: u64,
    state: MarkerState,
}

/// Epochs are below 2^24 and write counts below 2^40, so that both fit one atomic word: a
/// store compares what it reads with what it saw before, and the two must be read together.
const WRITES_BITS: u32 = 40;
const WRITES_MAX: u64 = (1 << WRITES_BITS) - 1;
const EPOCH_MAX: u64 = (1 << 24) - 1;

impl Marker {
    pub(crate) fn parse(bytes: &[u8]) -> Option<Marker> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut fields = text.split(' ');
        let epoch: u64 = fields.next()?.parse().ok()?;
        let writes: u64 = fields.next()?.parse().ok()?;
        let state = match (fields.next()?, fields.next()) {
            ("ok", None) => MarkerState::Ok,
            ("lost", Some(at)) => MarkerState::Lost(Timestamp::from_micros(at.parse().ok()?)),
            ("cleared", Some(at)) => MarkerState::Cleared(Timestamp::from_micros(at.parse().ok()?)),
            _ => return None,
        };
        if fields.next().is_some() || epoch == 0 || epoch > EPOCH_MAX {
            return None;
        }
        Some(Marker {
            epoch,
            writes: writes.min(WRITES_MAX),
            state,
        })
    }

    fn packed(&self) -> u64 {
        (self.epoch << WRITES_BITS) | self.writes
    }
}

/// A new random epoch, in `1..2^24`.
pub(crate) fn new_epoch() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (random % EPOCH_MAX) + 1
}

/// What a store saw of one marker before it sent a read: compared with what the read brings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seen(u64);

impl Seen {
    fn epoch(self) -> u64 {
        self.0 >> WRITES_BITS
    }
    fn writes(self) -> u64 {
        self.0 & WRITES_MAX
    }
}

/// One marker key and what this store has seen of it.
#[derive(Debug)]
pub(crate) struct Watch {
    /// Shared, so that every check of a batch names it without a copy.
    key: Arc<str>,
    /// `epoch << 40 | writes` of the latest marker seen; 0: none seen yet.
    seen: AtomicU64,
    /// The marker records a loss not cleared.
    lost: AtomicBool,
}

impl Watch {
    pub(crate) fn new(key: String) -> Self {
        Watch {
            key: key.into(),
            seen: AtomicU64::new(0),
            lost: AtomicBool::new(false),
        }
    }

    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// The key, shared.
    pub(crate) fn shared_key(&self) -> Arc<str> {
        Arc::clone(&self.key)
    }

    /// Take before sending a read of the marker.
    pub(crate) fn seen(&self) -> Seen {
        Seen(self.seen.load(Ordering::Acquire))
    }
}

/// What a read of a marker calls for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing to do: no loss, or one already recorded (and now known here).
    Known,
    /// The marker is absent and this store has never seen it: create it (a first start).
    Create,
    /// A loss: record it, if the marker still holds this (`None`: absent).
    Declare(Option<Vec<u8>>),
    /// The marker holds something this store cannot read.
    Unreadable(Vec<u8>),
}

/// What the store knows of losses and of the server's eviction policy: shared by its clones,
/// its replica and its background task.
#[derive(Debug)]
pub(crate) struct Health {
    /// The markers: one on a single server, set at once; on a cluster, placed when the store
    /// first learns the slot ranges.
    watches: OnceLock<Vec<Watch>>,
    /// The store-wide cut-off in force, µs; `i64::MIN`: none.
    cutoff: AtomicI64,
    losses: AtomicU64,
    /// On a cluster: when the background task last read every marker.
    origin: Instant,
    last_round: AtomicU64,
    /// The server's eviction policy, when it may evict: checks are refused meanwhile.
    evicting: std::sync::Mutex<Option<String>>,
    evicting_flag: AtomicBool,
}

impl Health {
    pub(crate) fn new() -> Self {
        Health {
            watches: OnceLock::new(),
            cutoff: AtomicI64::new(i64::MIN),
            losses: AtomicU64::new(0),
            origin: Instant::now(),
            last_round: AtomicU64::new(0),
            evicting: std::sync::Mutex::new(None),
            evicting_flag: AtomicBool::new(false),
        }
    }

    /// The markers, once placed.
    pub(crate) fn watches(&self) -> Option<&[Watch]> {
        self.watches.get().map(Vec::as_slice)
    }

    /// Places the markers (first call wins).
    pub(crate) fn place(&self, keys: Vec<String>) -> &[Watch] {
        self.watches
            .get_or_init(|| keys.into_iter().map(Watch::new).collect())
    }

    /// Judges a read of `watch`'s marker: `value` as read, `before` what the store had seen
    /// before sending the read (`None`: a read whose order against the store's other reads is
    /// unknown, such as a change message: it cannot tell a rollback).
    pub(crate) fn observe(
        &self,
        watch: &Watch,
        value: Option<&[u8]>,
        before: Option<Seen>,
    ) -> Verdict {
        let Some(bytes) = value else {
            // Never seen by this store: nothing says it existed.
            return if watch.seen.load(Ordering::Acquire) == 0
                && before.is_none_or(|seen| seen.0 == 0)
            {
                Verdict::Create
            } else {
                Verdict::Declare(None)
            };
        };
        let Some(marker) = Marker::parse(bytes) else {
            return Verdict::Unreadable(bytes.to_vec());
        };
        match marker.state {
            MarkerState::Lost(at) | MarkerState::Cleared(at) => {
                // A loss the marker recorded before this store first read it happened before
                // the store ran: learnt, but not counted as detected (a metric).
                let while_running = watch.seen.load(Ordering::Acquire) != 0;
                self.learn_cutoff(at, while_running);
                watch.lost.store(
                    matches!(marker.state, MarkerState::Lost(_)),
                    Ordering::Release,
                );
            }
            MarkerState::Ok => {}
        }
        let current = watch.seen.load(Ordering::Acquire);
        let same_epoch_as_before = before.is_some_and(|seen| seen.epoch() == marker.epoch);
        if same_epoch_as_before && before.is_some_and(|seen| marker.writes < seen.writes()) {
            // Fewer writes than this store had seen before it asked: the server went back.
            return Verdict::Declare(Some(bytes.to_vec()));
        }
        if current == 0 || Seen(current).epoch() == marker.epoch {
            watch.seen.fetch_max(marker.packed(), Ordering::AcqRel);
            return Verdict::Known;
        }
        match marker.state {
            // A marker written anew while this store knew another: the data it counted went.
            MarkerState::Ok => Verdict::Declare(Some(bytes.to_vec())),
            // A loss recorded by another store (or an older read of one): its epoch is the
            // marker's from now on. A late read of an older epoch may set it back for a
            // moment; the next read sets it forward again, and neither declares anything.
            MarkerState::Lost(_) | MarkerState::Cleared(_) => {
                watch.seen.store(marker.packed(), Ordering::Release);
                Verdict::Known
            }
        }
    }

    /// A cut-off read from a marker: raised (never lowered), logged and counted once each;
    /// in the detections metric too when the store learnt of it `while_running`.
    fn learn_cutoff(&self, at: Timestamp, while_running: bool) {
        let previous = self.cutoff.fetch_max(at.as_micros(), Ordering::AcqRel);
        if previous < at.as_micros() {
            self.losses.fetch_add(1, Ordering::Relaxed);
            if while_running {
                crate::observe::data_loss_detected();
            }
            tracing::error!(
                store_cutoff = %at,
                "Redis lost revocations it had acknowledged (a restart without persistence, a \
                 flush, a failover or an old snapshot): every token issued before the cut-off \
                 is refused"
            );
        }
    }

    /// The store-wide cut-off in force.
    pub(crate) fn cutoff(&self) -> Option<Timestamp> {
        let micros = self.cutoff.load(Ordering::Acquire);
        (micros != i64::MIN).then(|| Timestamp::from_micros(micros))
    }

    /// Whether a marker records a loss not cleared.
    pub(crate) fn uncleared(&self) -> bool {
        self.watches().is_some_and(|watches| {
            watches
                .iter()
                .any(|watch| watch.lost.load(Ordering::Acquire))
        })
    }

    /// The error a fail-closed store answers, while a loss is not cleared.
    pub(crate) fn refusal(&self, reaction: DataLossReaction) -> Option<StoreError> {
        (reaction == DataLossReaction::FailClosed && self.uncleared()).then(|| {
            StoreError::DataLoss {
                noticed_at: self.cutoff().unwrap_or(Timestamp::EPOCH),
            }
        })
    }

    pub(crate) fn losses(&self) -> u64 {
        self.losses.load(Ordering::Relaxed)
    }

    /// The background task read every marker of a cluster now.
    pub(crate) fn round_done(&self) {
        let nanos = u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last_round.store(nanos.max(1), Ordering::Release);
    }

    /// How long since every marker of a cluster was last read; `None` before the first round
    /// (not "since the store was made": a store moved to another prefix, or built from a
    /// cluster connection, has read none of its markers, and must not answer without them).
    pub(crate) fn since_round(&self) -> Option<Duration> {
        let last = self.last_round.load(Ordering::Acquire);
        (last != 0).then(|| {
            self.origin
                .elapsed()
                .saturating_sub(Duration::from_nanos(last))
        })
    }

    /// The server may evict keys (`Some(policy)`), or not anymore (`None`).
    pub(crate) fn set_evicting(&self, policy: Option<String>) {
        let mut evicting = self
            .evicting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match (&*evicting, &policy) {
            (None, Some(policy)) => tracing::error!(
                policy,
                "the Redis server's maxmemory-policy may evict live revocations: checks are \
                 refused until it is noeviction again"
            ),
            (Some(_), None) => {
                tracing::warn!("the Redis server's maxmemory-policy is safe again: checks resume");
            }
            _ => {}
        }
        self.evicting_flag
            .store(policy.is_some(), Ordering::Release);
        *evicting = policy;
    }

    /// The error a check answers while the server may evict keys.
    pub(crate) fn evicting(&self) -> Option<StoreError> {
        if !self.evicting_flag.load(Ordering::Acquire) {
            return None;
        }
        let policy = self.evicting_policy()?;
        Some(StoreError::backend(EvictingServer { policy }))
    }

    pub(crate) fn evicting_policy(&self) -> Option<String> {
        self.evicting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// The server's `maxmemory-policy` became one that may evict keys after the store was built.
#[derive(Debug, thiserror::Error)]
#[error(
    "the Redis server may evict live revocations (maxmemory-policy {policy}); the store refuses \
     to answer until it is noeviction again"
)]
pub(crate) struct EvictingServer {
    policy: String,
}

/// The marker holds something no store of this crate writes.
#[derive(Debug, thiserror::Error)]
#[error("the data-loss marker {key:?} holds an unreadable value {value:?}; delete it or fix it")]
pub(crate) struct UnreadableMarker {
    pub(crate) key: String,
    pub(crate) value: String,
}

/// A cluster store's background task has not read the markers for too long: a loss might go
/// unnoticed, so the store does not answer.
#[derive(Debug, thiserror::Error)]
#[error("{}; refusing to answer without them", match .0 {
    Some(since) => format!("the data-loss markers were last read {since:?} ago"),
    None => "the data-loss markers have not been read yet".to_owned(),
})]
pub(crate) struct MarkersNotRead(pub(crate) Option<Duration>);

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> Option<&[u8]> {
        Some(text.as_bytes())
    }

    #[test]
    fn markers_read_back() {
        assert_eq!(
            Marker::parse(b"7 12 ok"),
            Some(Marker {
                epoch: 7,
                writes: 12,
                state: MarkerState::Ok
            })
        );
        assert_eq!(
            Marker::parse(b"7 0 lost -5").map(|marker| marker.state),
            Some(MarkerState::Lost(Timestamp::from_micros(-5)))
        );
        assert_eq!(
            Marker::parse(b"7 0 cleared 9").map(|marker| marker.state),
            Some(MarkerState::Cleared(Timestamp::from_micros(9)))
        );
        for bad in [
            "",
            "ok",
            "7 ok",
            "0 1 ok",
            "7 1 lost",
            "7 1 ok 3",
            "7 1 gone 3",
            "x 1 ok",
            "16777216 1 ok",
        ] {
            assert_eq!(Marker::parse(bad.as_bytes()), None, "{bad:?}");
        }
        assert!((1..=EPOCH_MAX).contains(&new_epoch()));
    }

    #[test]
    fn absence_is_a_first_start_only_for_a_store_that_never_saw_the_marker() {
        let health = Health::new();
        let watch = Watch::new("m".into());
        assert_eq!(
            health.observe(&watch, None, Some(watch.seen())),
            Verdict::Create
        );
        assert_eq!(
            health.observe(&watch, value("5 0 ok"), Some(watch.seen())),
            Verdict::Known
        );
        assert_eq!(
            health.observe(&watch, None, Some(watch.seen())),
            Verdict::Declare(None)
        );
        assert_eq!(health.cutoff(), None);
    }

    #[test]
    fn a_marker_written_anew_or_gone_back_in_time_is_a_loss() {
        let health = Health::new();
        let watch = Watch::new("m".into());
        assert_eq!(
            health.observe(&watch, value("5 3 ok"), None),
            Verdict::Known
        );
        // Another epoch, no loss recorded: written anew by a store built after a flush.
        assert_eq!(
            health.observe(&watch, value("6 0 ok"), Some(watch.seen())),
            Verdict::Declare(Some(b"6 0 ok".to_vec()))
        );
        // Fewer writes than seen before the read.
        let before = watch.seen();
        assert_eq!(
            health.observe(&watch, value("5 2 ok"), Some(before)),
            Verdict::Declare(Some(b"5 2 ok".to_vec()))
        );
        // ...but not when the read may have been sent before the write it is compared with.
        assert_eq!(
            health.observe(&watch, value("5 2 ok"), None),
            Verdict::Known
        );
        assert_eq!(
            health.observe(&watch, value("5 4 ok"), Some(before)),
            Verdict::Known
        );
    }

    #[test]
    fn a_recorded_loss_is_adopted_and_its_cutoff_only_rises() {
        let health = Health::new();
        let watch = Watch::new("m".into());
        health.place(vec![]);
        assert_eq!(
            health.observe(&watch, value("5 3 ok"), None),
            Verdict::Known
        );
        assert_eq!(
            health.observe(&watch, value("9 0 lost 100"), Some(watch.seen())),
            Verdict::Known
        );
        assert_eq!(health.cutoff(), Some(Timestamp::from_micros(100)));
        assert!(watch.lost.load(Ordering::Acquire));
        assert_eq!(
            health.observe(&watch, value("9 1 cleared 100"), Some(watch.seen())),
            Verdict::Known
        );
        assert!(!watch.lost.load(Ordering::Acquire));
        // An older loss read late lowers nothing.
        health.observe(&watch, value("8 0 lost 50"), None);
        assert_eq!(health.cutoff(), Some(Timestamp::from_micros(100)));
        assert_eq!(health.losses(), 1);
        assert_eq!(
            health.observe(&watch, value("x"), None),
            Verdict::Unreadable(b"x".to_vec())
        );
    }
}
