//! [`MemoryStore`]: sharded maps, the record count and the capacity rule, and the
//! [`RevocationStore`] implementation.

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use hashbrown::DefaultHashBuilder;
use jwt_revoke_core::{
    CheckReply, Clock, RecordKey, RevocationStore, StoreError, StoreUsage, Timestamp, TokenKeys,
};

use crate::builder::MemoryStoreBuilder;
use crate::observe::StoreGauges;
use crate::shard::{CutoffRecord, Key, Shard};

/// How often, at most, a refusal for lack of room is logged; the others are counted.
const REFUSAL_LOG_INTERVAL_MICROS: i64 = 1_000_000;

/// How full the store may get, in percent, before each warning.
const FILL_WARNINGS: [usize; 2] = [80, 95];
/// How often, at most, a fill warning is logged.
const FILL_LOG_INTERVAL_MICROS: i64 = 60 * 1_000_000;

/// A revocation store in this process's memory: fast, bounded, and self-cleaning.
///
/// Use it for a single instance, for tests, or as the local tier in front of a shared store.
/// Revocations are lost when the process ends and are not seen by other instances; use
/// jwt-revoke-redis when either matters.
///
/// # How it behaves
/// - **Checks** read the token, user and session records under shared (read) locks of 64
///   shards, so checks run in parallel and a write blocks only the checks of its own shard.
/// - **Expiry**: a record whose expiry has passed (by the store's [`Clock`]) reads as absent
///   at once, and its memory is freed by the first of: an amortised sweep of its shard on a
///   later write there (at most once per [`sweep_interval`](MemoryStoreBuilder::sweep_interval)),
///   [`delete_expired`](RevocationStore::delete_expired) /
///   [`sweep_expired`](Self::sweep_expired), or the background sweeper
///   ([`spawn_sweeper`](Self::spawn_sweeper)).
/// - **Capacity**: at most [`capacity`](Self::capacity) records (default
///   [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY)). A new record in a full store first frees
///   every expired record; if the store is still full, the write fails with
///   [`StoreError::CapacityExceeded`] and a rate-limited `tracing` warning. A live record is
///   never evicted to make room: an evicted revocation is a token back from the dead.
///   Updates of records the store already holds are never refused, and checks of a full
///   store are answered as always.
/// - **Filling up**: anyone who can log in and out adds a record per logout, which lives as
///   long as the token it revokes, so a store of capacity *C* whose tokens live *L* seconds
///   sustains about *C / L* revocations a second (the default million and 15-minute tokens:
///   about 1,100 a second; 24-hour tokens: about 11). The store warns when it reaches 80% and
///   95% of its capacity (at most once a minute), and reports its fill level through
///   [`RevocationStore::usage`] for health checks.
/// - **Memory**: about 54 bytes of process memory per token record at one million records
///   (see the crate's `examples/memory_per_record.rs`); tables shrink after mass expiry.
///
/// `MemoryStore` is `Send + Sync`; share it as `Arc<MemoryStore>` or `Arc<dyn RevocationStore>`.
pub struct MemoryStore {
    shards: Box<[CachePadded<RwLock<Shard>>]>,
    /// `shards.len() - 1`; the shard count is a power of two.
    shard_mask: usize,
    clock: Arc<dyn Clock>,
    capacity: Option<usize>,
    /// Records held, live or not yet freed. Changed only under the lock of the shard whose
    /// map changes, so it never undercounts what the maps hold.
    len: AtomicUsize,
    sweep_interval_micros: i64,
    refusals: RefusalLog,
    /// The record counts at which the store warns that it is filling up (see
    /// [`FILL_WARNINGS`]), each with when it last did.
    fill_warnings: Vec<(usize, AtomicI64)>,
    /// This store's part in the `jwt_revoke_memory_*` gauges (feature `metrics`; empty
    /// without it): moved with `len`, in the same places.
    gauges: StoreGauges,
}

/// Keeps each shard's lock on cache lines of its own: checks on neighbouring shards would
/// otherwise contend on the reader count of a lock they do not take. 128 bytes because x86
/// prefetches cache lines in pairs.
#[repr(align(128))]
struct CachePadded<T>(T);

impl MemoryStore {
    /// The capacity of [`MemoryStore::new`]: one million records, about 55 MB.
    ///
    /// Large enough for the revocations of a busy service (records live only as long as the
    /// tokens they revoke), small enough that a flood of revocations cannot exhaust memory.
    pub const DEFAULT_CAPACITY: usize = 1_000_000;

    /// The shard count of [`MemoryStore::new`].
    pub const DEFAULT_SHARDS: usize = 64;

    /// A store with the defaults: [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY) records,
    /// [`DEFAULT_SHARDS`](Self::DEFAULT_SHARDS) shards, the system clock, and amortised sweeps
    /// at most once a second per shard.
    pub fn new() -> Self {
        MemoryStoreBuilder::new().build()
    }

    /// A builder, to set the capacity, the clock or the shard count.
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder::new()
    }

    pub(crate) fn from_parts(
        shards: usize,
        clock: Arc<dyn Clock>,
        capacity: Option<usize>,
        sweep_interval_micros: i64,
        report_metrics: bool,
    ) -> Self {
        let hasher = DefaultHashBuilder::default();
        let shards: Box<[_]> = (0..shards)
            .map(|_| CachePadded(RwLock::new(Shard::new(&hasher))))
            .collect();
        MemoryStore {
            shard_mask: shards.len().saturating_sub(1),
            shards,
            clock,
            capacity,
            len: AtomicUsize::new(0),
            sweep_interval_micros,
            refusals: RefusalLog::default(),
            fill_warnings: capacity
                .map(|capacity| {
                    FILL_WARNINGS
                        .iter()
                        .map(|percent| capacity / 100 * percent + capacity % 100 * percent / 100)
                        .filter(|&records| records > 0)
                        .map(|records| (records, AtomicI64::new(i64::MIN)))
                        .collect()
                })
                .unwrap_or_default(),
            gauges: StoreGauges::register(report_metrics, capacity),
        }
    }

    /// Records held, counting expired ones that have not been freed yet.
    ///
    /// This is what the capacity limits, and what a sweep brings down.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Whether the store holds no record at all, live or expired.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most records the store holds; `None` when it was built
    /// [`unbounded`](MemoryStoreBuilder::unbounded).
    pub fn capacity(&self) -> Option<usize> {
        self.capacity
    }

    /// The number of shards, a power of two.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// The clock that decides expiry.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// [`RevocationStore::check`] without the boxed future: reads the token, user, session and
    /// claim records of `keys`; expired records read as absent.
    ///
    /// For synchronous callers and for measuring the store itself. Reads the clock only when a
    /// record is found, so the usual answer (nothing revoked) costs three map lookups.
    pub fn lookup(&self, keys: &TokenKeys) -> CheckReply {
        let mut now = LazyNow::new(&*self.clock);
        let token_key = Key::of(&keys.token);
        let token_expiry = self.read(token_key).token_expiry(&token_key);
        let token_listed = token_expiry.is_some_and(|expires_at| expires_at > now.get());
        let user_cutoff = self.live_cutoff(&keys.user, &mut now);
        let session_cutoff = keys
            .session
            .as_ref()
            .and_then(|session| self.live_cutoff(session, &mut now));
        let claim_cutoff = keys
            .claims
            .as_slice()
            .iter()
            .filter_map(|claim| self.live_cutoff(claim, &mut now))
            .max();
        CheckReply::new(token_listed, user_cutoff, session_cutoff).with_claim_cutoff(claim_cutoff)
    }

    /// [`RevocationStore::delete_expired`] as a plain function: frees every expired record,
    /// one shard at a time, and returns how many it freed.
    ///
    /// For a sweeper of your own (a thread, another runtime). Shards with nothing expired are
    /// only looked at under a read lock; each shard that needs it is locked for writing while
    /// it alone is swept, so checks on the other shards carry on.
    pub fn sweep_expired(&self) -> usize {
        let now = self.clock.now().as_micros();
        (0..self.shards.len())
            .map(|index| self.sweep_shard(index, now))
            .sum()
    }

    /// [`RevocationStore::insert_token`] without the boxed future: records the token `token`
    /// (a [`TokenKeys::token`] key) as revoked (or registered) until `expires_at`; a live
    /// record keeps the later expiry. Fails only when the store is full.
    pub fn write_token(&self, token: &RecordKey, expires_at: Timestamp) -> Result<(), StoreError> {
        let now = self.now_micros();
        self.insert_token_at(Key::of(token), expires_at.as_micros(), now)
    }

    /// [`RevocationStore::remove_token`] without the boxed future: deletes the record of
    /// `token`; whether a live one was there.
    pub fn delete_token(&self, token: &RecordKey) -> bool {
        let now = self.now_micros();
        self.remove_token_at(Key::of(token), now)
    }

    /// [`RevocationStore::raise_cutoff`] without the boxed future: raises the cut-off `key`
    /// to `at` (never lowers it), living until `expires_at`; returns the cut-off in force.
    /// Fails only when the store is full.
    pub fn write_cutoff(
        &self,
        key: &RecordKey,
        at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<Timestamp, StoreError> {
        let now = self.now_micros();
        self.raise_cutoff_at(Key::of(key), at.as_micros(), expires_at.as_micros(), now)
            .map(Timestamp::from_micros)
    }

    /// Sweeps one shard if anything in it has expired at `now`; returns how many records it freed.
    pub(crate) fn sweep_shard(&self, index: usize, now: i64) -> usize {
        let Some(lock) = self.shards.get(index) else {
            return 0;
        };
        if !lock
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .has_expired(now)
        {
            return 0;
        }
        let mut shard = lock.0.write().unwrap_or_else(PoisonError::into_inner);
        let freed = shard.sweep(now, self.sweep_interval_micros);
        self.count_freed(freed);
        freed
    }

    pub(crate) fn now_micros(&self) -> i64 {
        self.clock.now().as_micros()
    }

    fn live_cutoff(&self, key: &RecordKey, now: &mut LazyNow<'_>) -> Option<Timestamp> {
        let key = Key::of(key);
        let record = self.read(key).cutoff(&key)?;
        (record.expires_at > now.get()).then_some(Timestamp::from_micros(record.at))
    }

    fn shard_of(&self, key: Key) -> &RwLock<Shard> {
        // The mask keeps the index in bounds; `shards` is never empty (the builder ensures it).
        &self.shards[key.shard_bits() & self.shard_mask].0
    }

    fn read(&self, key: Key) -> RwLockReadGuard<'_, Shard> {
        // No code panics while holding a shard lock, so a poisoned lock still guards
        // consistent maps: keep serving rather than fail every request.
        self.shard_of(key)
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The write lock of `key`'s shard, after an amortised sweep of that shard when one is due.
    fn write(&self, key: Key, now: i64) -> RwLockWriteGuard<'_, Shard> {
        let mut shard = self
            .shard_of(key)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.amortised_sweep_due(now) {
            let freed = shard.sweep(now, self.sweep_interval_micros);
            self.count_freed(freed);
        }
        shard
    }

    /// Takes `freed` records off the count (and the gauge), under the lock of the shard that
    /// freed them.
    fn count_freed(&self, freed: usize) {
        if freed > 0 {
            self.len.fetch_sub(freed, Ordering::AcqRel);
            self.gauges.freed(freed);
        }
    }

    /// Counts one more record if there is room. Called under the lock of the shard that will
    /// hold it, so a reservation is always followed by its insertion.
    fn reserve(&self, now: i64) -> bool {
        match self.capacity {
            None => {
                self.len.fetch_add(1, Ordering::AcqRel);
                self.gauges.added(1);
                true
            }
            Some(capacity) => {
                let reserved = self
                    .len
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |len| {
                        (len < capacity).then_some(len + 1)
                    });
                match reserved {
                    Ok(before) => {
                        self.gauges.added(1);
                        self.warn_when_filling_up(before + 1, capacity, now);
                        true
                    }
                    Err(_) => false,
                }
            }
        }
    }

    /// Warns (at most once a minute) when `records` just reached one of the fill levels: a
    /// full store refuses revocations, and operators should hear of it before.
    fn warn_when_filling_up(&self, records: usize, capacity: usize, now: i64) {
        let Some((_, warned)) = self.fill_warnings.iter().find(|(at, _)| *at == records) else {
            return;
        };
        let last = warned.load(Ordering::Acquire);
        let due = last == i64::MIN || now >= last.saturating_add(FILL_LOG_INTERVAL_MICROS);
        if due
            && warned
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            tracing::warn!(
                records,
                capacity,
                "the revocation store is filling up: once full it refuses new revocations \
                 (live records are never evicted); raise the capacity or shorten token lifetimes"
            );
        }
    }

    /// Runs `write` (which returns `None` when it needs room it could not reserve), and when
    /// the store is full frees every expired record and tries once more before refusing.
    fn write_with_room<T>(
        &self,
        now: i64,
        mut write: impl FnMut() -> Option<T>,
    ) -> Result<T, StoreError> {
        if let Some(done) = write() {
            return Ok(done);
        }
        // Full. Expired records may be waiting in any shard: free them, one shard lock at a
        // time (never while holding another), and try again.
        (0..self.shards.len()).for_each(|index| {
            self.sweep_shard(index, now);
        });
        if let Some(done) = write() {
            return Ok(done);
        }
        let capacity = self.capacity.unwrap_or(usize::MAX);
        self.refusals.note(now, capacity);
        Err(StoreError::CapacityExceeded { capacity })
    }

    fn insert_token_at(&self, key: Key, expires_at: i64, now: i64) -> Result<(), StoreError> {
        if expires_at <= now {
            // Already expired: nothing would ever read it.
            return Ok(());
        }
        self.write_with_room(now, || {
            let mut shard = self.write(key, now);
            if let Some(current) = shard.token_expiry_mut(&key) {
                // Live or expired-but-not-freed, the record takes the later expiry; an update
                // needs no room.
                *current = (*current).max(expires_at);
                shard.note_expiry(expires_at);
                return Some(());
            }
            if !self.reserve(now) {
                return None;
            }
            shard.insert_token(key, expires_at);
            Some(())
        })
    }

    fn remove_token_at(&self, key: Key, now: i64) -> bool {
        let mut shard = self.write(key, now);
        match shard.remove_token(&key) {
            Some(expires_at) => {
                self.count_freed(1);
                expires_at > now
            }
            None => false,
        }
    }

    fn raise_cutoff_at(
        &self,
        key: Key,
        at: i64,
        expires_at: i64,
        now: i64,
    ) -> Result<i64, StoreError> {
        self.write_with_room(now, || {
            let mut shard = self.write(key, now);
            if let Some(record) = shard.cutoff_mut(&key) {
                if record.expires_at > now {
                    // Under the shard's write lock: of concurrent raises, the latest instant
                    // and the latest expiry win, whatever the order.
                    record.at = record.at.max(at);
                    record.expires_at = record.expires_at.max(expires_at);
                } else {
                    // An expired cut-off covers only expired tokens: start afresh in its slot.
                    *record = CutoffRecord { at, expires_at };
                }
                let in_force = *record;
                shard.note_expiry(in_force.expires_at);
                return Some(in_force.at);
            }
            if expires_at <= now {
                // Covers only expired tokens: nothing to keep, nothing in force but `at`.
                return Some(at);
            }
            if !self.reserve(now) {
                return None;
            }
            shard.insert_cutoff(key, CutoffRecord { at, expires_at });
            Some(at)
        })
    }
}

/// A dropped store takes its records and its capacity out of the gauges.
#[cfg(feature = "metrics")]
impl Drop for MemoryStore {
    fn drop(&mut self) {
        self.gauges.dropped(*self.len.get_mut());
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Counts only: the records are digests, but there is no reason to print them.
        f.debug_struct("MemoryStore")
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .field("shards", &self.shards.len())
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl RevocationStore for MemoryStore {
    async fn check(&self, keys: &TokenKeys) -> Result<CheckReply, StoreError> {
        Ok(self.lookup(keys))
    }

    async fn insert_token(
        &self,
        keys: &TokenKeys,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.write_token(&keys.token, expires_at)
    }

    async fn remove_token(&self, keys: &TokenKeys) -> Result<bool, StoreError> {
        Ok(self.delete_token(&keys.token))
    }

    async fn raise_cutoff(
        &self,
        key: RecordKey,
        at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<Timestamp, StoreError> {
        self.write_cutoff(&key, at, expires_at)
    }

    async fn delete_expired(&self) -> Result<u64, StoreError> {
        Ok(u64::try_from(self.sweep_expired()).unwrap_or(u64::MAX))
    }

    fn usage(&self) -> Option<StoreUsage> {
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        Some(StoreUsage::new(count(self.len()), self.capacity.map(count)))
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

/// Reads the clock once, and only if asked: a check that finds no record never reads it.
struct LazyNow<'a> {
    clock: &'a dyn Clock,
    now: Option<i64>,
}

impl<'a> LazyNow<'a> {
    fn new(clock: &'a dyn Clock) -> Self {
        LazyNow { clock, now: None }
    }

    fn get(&mut self) -> i64 {
        *self.now.get_or_insert_with(|| self.clock.now().as_micros())
    }
}

/// Logs refusals for lack of room at most once per [`REFUSAL_LOG_INTERVAL_MICROS`], with the
/// number left unlogged since: a full store under a flood of revocations must not flood the
/// logs too.
#[derive(Debug)]
struct RefusalLog {
    last_logged: AtomicI64,
    unlogged: AtomicU64,
}

impl Default for RefusalLog {
    fn default() -> Self {
        RefusalLog {
            last_logged: AtomicI64::new(i64::MIN),
            unlogged: AtomicU64::new(0),
        }
    }
}

impl RefusalLog {
    fn note(&self, now: i64, capacity: usize) {
        let last = self.last_logged.load(Ordering::Acquire);
        let due = last == i64::MIN || now >= last.saturating_add(REFUSAL_LOG_INTERVAL_MICROS);
        if due
            && self
                .last_logged
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            let also_refused = self.unlogged.swap(0, Ordering::AcqRel);
            tracing::warn!(
                capacity,
                also_refused,
                "revocation store full: refused a new record (live records are never evicted); \
                 raise the capacity or shorten token lifetimes"
            );
        } else {
            self.unlogged.fetch_add(1, Ordering::AcqRel);
        }
    }
}
