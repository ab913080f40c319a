//! The memory store's metrics (feature `metrics`, through the
//! [`metrics`](https://docs.rs/metrics) facade: the application installs the recorder,
//! Prometheus, OpenTelemetry, StatsD...). Without the feature the crate does not depend on
//! `metrics` and everything here is empty; the names below exist either way.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `jwt_revoke_memory_records` | gauge | none | records held now by the memory stores of the process, counting expired ones not freed yet: what the capacity limits, the sum of their [`MemoryStore::len`] |
//! | `jwt_revoke_memory_capacity_records` | gauge | none | the configured capacity of those stores (their sum), set when a bounded store is built and taken back when it is dropped; absent when every store is unbounded |
//!
//! **How exact.** Every change of a store's record count (a new record, a deletion, a sweep:
//! amortised on writes, [`sweep_expired`](crate::MemoryStore::sweep_expired) /
//! `delete_expired`, or the background sweeper) adds to or takes from the gauge as it
//! happens, so once the store's operations have settled the gauge equals
//! [`MemoryStore::len`], however many threads wrote at once. An expired record counts until a
//! sweep frees it, as in `len`. A dropped store takes its records and capacity back.
//!
//! **Install the recorder before building the store**: a store registers its gauges when it is
//! built, and one built before the recorder reports nothing (the metric is absent rather
//! than wrong). Several stores in one process add up. A store that is a part of another one
//! (the local replica of jwt-revoke-redis) is built with
//! [`MemoryStoreBuilder::metrics(false)`](crate::MemoryStoreBuilder::metrics) and reports
//! nothing.
//!
//! [`MemoryStore::len`]: crate::MemoryStore::len
//! [`MemoryStore`]: crate::MemoryStore

/// The name of the gauge of records held (`jwt_revoke_memory_records`).
pub const RECORDS: &str = "jwt_revoke_memory_records";
/// The name of the gauge of configured capacity (`jwt_revoke_memory_capacity_records`).
pub const CAPACITY: &str = "jwt_revoke_memory_capacity_records";

/// One store's part in the gauges: its handles, registered when it is built, so that a write
/// costs one atomic addition in the recorder and no lookup. Empty without the feature.
#[derive(Debug)]
pub(crate) struct StoreGauges {
    /// `None`: this store does not report.
    #[cfg(feature = "metrics")]
    records: Option<metrics::Gauge>,
    /// The capacity gauge and what this store added to it; `None` when unbounded or silent.
    #[cfg(feature = "metrics")]
    capacity: Option<(metrics::Gauge, f64)>,
}

impl StoreGauges {
    /// The gauges of a new store of `capacity`, empty unless `report`.
    #[cfg(feature = "metrics")]
    pub(crate) fn register(report: bool, capacity: Option<usize>) -> Self {
        if !report {
            return StoreGauges {
                records: None,
                capacity: None,
            };
        }
        let capacity = capacity.map(|records| {
            let gauge = metrics::gauge!(CAPACITY);
            let records = records as f64;
            gauge.increment(records);
            (gauge, records)
        });
        StoreGauges {
            records: Some(metrics::gauge!(RECORDS)),
            capacity,
        }
    }

    /// The gauges of a new store (none without the feature).
    #[cfg(not(feature = "metrics"))]
    #[inline(always)]
    pub(crate) fn register(_report: bool, _capacity: Option<usize>) -> Self {
        StoreGauges {}
    }

    /// The store holds `records` more.
    #[inline]
    pub(crate) fn added(&self, records: usize) {
        #[cfg(feature = "metrics")]
        if let Some(gauge) = &self.records {
            gauge.increment(records as f64);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = records;
    }

    /// The store freed `records`.
    #[inline]
    pub(crate) fn freed(&self, records: usize) {
        #[cfg(feature = "metrics")]
        if let Some(gauge) = &self.records {
            gauge.decrement(records as f64);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = records;
    }

    /// The store is dropped holding `records`: it takes them and its capacity back.
    #[cfg(feature = "metrics")]
    pub(crate) fn dropped(&self, records: usize) {
        self.freed(records);
        if let Some((gauge, capacity)) = &self.capacity {
            gauge.decrement(*capacity);
        }
    }
}
