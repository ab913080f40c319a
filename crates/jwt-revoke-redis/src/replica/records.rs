//! The replica's copy of the records: a memory store per complete copy, and how Redis's
//! records and TTLs are written into it.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use jwt_revoke_core::{Clock, RecordKey, StoreError, SystemClock, Timestamp};
use jwt_revoke_memory::MemoryStore;

use super::ReplicaConfig;

/// One complete copy of the store's records, and what became of it.
pub(crate) struct Generation {
    pub(crate) store: MemoryStore,
    /// A record did not fit: this copy is incomplete and is never used again.
    pub(crate) overflowed: AtomicBool,
}

impl Generation {
    pub(crate) fn new(config: &ReplicaConfig) -> Self {
        Generation {
            // Its records are the Redis store's, not a memory store the application uses:
            // kept out of the memory store's gauges (when jwt-revoke-memory has `metrics`).
            store: MemoryStore::builder()
                .capacity(config.capacity)
                .metrics(false)
                .build(),
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
