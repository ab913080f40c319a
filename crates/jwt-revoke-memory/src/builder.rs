//! [`MemoryStoreBuilder`]: capacity, clock, shards and sweep interval of a [`MemoryStore`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jwt_revoke_core::{Clock, SystemClock};

use crate::store::MemoryStore;

/// The most shards a store gets: past this, more shards only cost memory.
const MAX_SHARDS: usize = 4096;

/// Sets up a [`MemoryStore`]; start from [`MemoryStore::builder`].
///
/// ```
/// use std::sync::Arc;
/// use jwt_revoke_core::{ManualClock, Timestamp};
/// use jwt_revoke_memory::MemoryStore;
///
/// let clock = ManualClock::new(Timestamp::from_secs(1_700_000_000));
/// let store = MemoryStore::builder()
///     .capacity(50_000)
///     .clock(Arc::new(clock))
///     .shards(16)
///     .build();
/// assert_eq!(store.capacity(), Some(50_000));
/// assert_eq!(store.shard_count(), 16);
/// ```
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Clone)]
pub struct MemoryStoreBuilder {
    capacity: Option<usize>,
    clock: Arc<dyn Clock>,
    shards: usize,
    sweep_interval: Duration,
    report_metrics: bool,
}

impl MemoryStoreBuilder {
    pub(crate) fn new() -> Self {
        MemoryStoreBuilder {
            capacity: Some(MemoryStore::DEFAULT_CAPACITY),
            clock: Arc::new(SystemClock),
            shards: MemoryStore::DEFAULT_SHARDS,
            sweep_interval: Duration::from_secs(1),
            report_metrics: true,
        }
    }

    /// The most records the store will hold. A new record beyond it is refused with
    /// [`StoreError::CapacityExceeded`](jwt_revoke_core::StoreError::CapacityExceeded); live
    /// records are never evicted. `0` makes a store that refuses every new record.
    ///
    /// Size it for the revocations alive at once: each lives as long as the token it revokes
    /// (per-token records) or the longest token lifetime (cut-offs), so the peak is about the
    /// revocation rate times that lifetime. Each record costs about 55 bytes.
    pub fn capacity(mut self, records: usize) -> Self {
        self.capacity = Some(records);
        self
    }

    /// No limit on the number of records: memory grows with revocations until they expire.
    ///
    /// Only for stores whose writers you trust not to flood them; the default limit exists so
    /// that a burst of revocations cannot take the process down.
    pub fn unbounded(mut self) -> Self {
        self.capacity = None;
        self
    }

    /// The clock that decides expiry. Give the store and the engine
    /// ([`Revocations::with_clock`](jwt_revoke_core::Revocations::with_clock)) the same one;
    /// tests use a [`ManualClock`](jwt_revoke_core::ManualClock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How many independently locked parts the store has, rounded up to a power of two
    /// (at least 1, at most 4096). More shards mean less contention between writes and the
    /// checks of the same shard; the default of 64 is plenty for tens of cores.
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = shards;
        self
    }

    /// The least time between two amortised sweeps of one shard (default one second).
    ///
    /// A write to a shard in which something has expired frees that shard's expired records
    /// first, at most once per interval: a write pays for a scan of its shard rarely, and
    /// memory still comes back without reads, a sweeper or calls to `delete_expired`.
    pub fn sweep_interval(mut self, interval: Duration) -> Self {
        self.sweep_interval = interval;
        self
    }

    /// Whether the store reports the `jwt_revoke_memory_*` gauges (see
    /// [`observe`](crate::observe); only with the crate's `metrics` feature, and on by
    /// default). Turn it off for a store that is a part of another one, whose own metrics
    /// describe it, so that the gauges count the stores the application uses: the local
    /// replica of jwt-revoke-redis does. Without the feature it changes nothing.
    pub fn metrics(mut self, report: bool) -> Self {
        self.report_metrics = report;
        self
    }

    /// The store.
    pub fn build(self) -> MemoryStore {
        let shards = self
            .shards
            .clamp(1, MAX_SHARDS)
            .checked_next_power_of_two()
            .unwrap_or(MAX_SHARDS);
        let interval = i64::try_from(self.sweep_interval.as_micros()).unwrap_or(i64::MAX);
        MemoryStore::from_parts(
            shards,
            self.clock,
            self.capacity,
            interval,
            self.report_metrics,
        )
    }
}

impl fmt::Debug for MemoryStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStoreBuilder")
            .field("capacity", &self.capacity)
            .field("clock", &self.clock)
            .field("shards", &self.shards)
            .field("sweep_interval", &self.sweep_interval)
            .field("report_metrics", &self.report_metrics)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_counts_are_powers_of_two_within_bounds() {
        for (asked, got) in [
            (0, 1),
            (1, 1),
            (3, 4),
            (64, 64),
            (65, 128),
            (usize::MAX, 4096),
        ] {
            assert_eq!(
                MemoryStore::builder().shards(asked).build().shard_count(),
                got
            );
        }
    }

    #[test]
    fn defaults_are_bounded() {
        let store = MemoryStore::new();
        assert_eq!(store.capacity(), Some(MemoryStore::DEFAULT_CAPACITY));
        assert_eq!(store.shard_count(), MemoryStore::DEFAULT_SHARDS);
        assert_eq!(MemoryStore::builder().unbounded().build().capacity(), None);
    }
}
