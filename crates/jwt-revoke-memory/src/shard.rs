//! One shard of the store: two compact hash maps behind one lock, and their expiry bookkeeping.
//!
//! Everything here runs under the shard's lock; the store (`store.rs`) decides which lock to
//! take and when, and keeps the store-wide record count.

use hashbrown::{DefaultHashBuilder, HashMap};
use jwt_revoke_core::RecordKey;

/// The in-memory form of a [`RecordKey`]: its first 16 bytes ([`prefix`]).
///
/// Two `u64` words rather than one `u128`: a `u128` is 16-byte aligned, which pads a token
/// entry (key and an `i64` expiry) from 24 to 32 bytes. Measured at one million records, that
/// is 54 against 70 bytes per record of process memory.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) struct Key {
    low: u64,
    high: u64,
}

/// The first 16 bytes of a key as an integer: a compact in-memory key. Collisions need a
/// 2^64-work birthday search on SHA-256 for *some* pair and 2^128 for a chosen one.
pub(crate) fn prefix(key: &RecordKey) -> u128 {
    let mut half = [0u8; 16];
    half.copy_from_slice(&key.as_bytes()[..16]);
    u128::from_le_bytes(half)
}

impl Key {
    pub(crate) fn of(key: &RecordKey) -> Self {
        let prefix = prefix(key);
        Key {
            // Truncation intended: the two halves of the 128-bit prefix.
            low: prefix as u64,
            high: (prefix >> 64) as u64,
        }
    }

    /// Bits that choose the shard. The keys are SHA-256 digests, so any bits are uniform; the
    /// maps hash the whole key with a seeded hasher, so these bits do not correlate with the
    /// buckets inside a shard.
    pub(crate) fn shard_bits(self) -> usize {
        // Truncation intended on 32-bit targets: only the low bits are used.
        self.high as usize
    }
}

/// A per-user or per-session cut-off: the instant it revokes up to, and when it may go.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct CutoffRecord {
    pub(crate) at: i64,
    pub(crate) expires_at: i64,
}

/// The records of one shard. Instants are microseconds since the epoch, as in
/// [`Timestamp`](jwt_revoke_core::Timestamp); a record is live while `now < expires_at`.
#[derive(Debug)]
pub(crate) struct Shard {
    /// Token records (denylist or allowlist): their expiry. 24 bytes an entry.
    tokens: HashMap<Key, i64, DefaultHashBuilder>,
    /// User and session cut-offs. 32 bytes an entry.
    cutoffs: HashMap<Key, CutoffRecord, DefaultHashBuilder>,
    /// No record of this shard expires before this instant (`i64::MAX` when it holds none).
    /// A sweep before it would find nothing, so sweeps before it are skipped: a full store of
    /// live records costs a refused write one lock per shard, not a scan of every record.
    earliest_expiry: i64,
    /// Amortised sweeps on writes happen no sooner than this, so that a write pays for a scan
    /// of its shard at most once per sweep interval.
    next_sweep: i64,
}

/// Below this many slots a map is not worth shrinking.
const MIN_SHRINK_CAPACITY: usize = 64;

impl Shard {
    pub(crate) fn new(hasher: &DefaultHashBuilder) -> Self {
        Shard {
            tokens: HashMap::with_hasher(hasher.clone()),
            cutoffs: HashMap::with_hasher(hasher.clone()),
            earliest_expiry: i64::MAX,
            next_sweep: i64::MIN,
        }
    }

    /// The expiry of a token record, live or not.
    pub(crate) fn token_expiry(&self, key: &Key) -> Option<i64> {
        self.tokens.get(key).copied()
    }

    /// A cut-off record, live or not.
    pub(crate) fn cutoff(&self, key: &Key) -> Option<CutoffRecord> {
        self.cutoffs.get(key).copied()
    }

    pub(crate) fn token_expiry_mut(&mut self, key: &Key) -> Option<&mut i64> {
        self.tokens.get_mut(key)
    }

    pub(crate) fn cutoff_mut(&mut self, key: &Key) -> Option<&mut CutoffRecord> {
        self.cutoffs.get_mut(key)
    }

    /// Adds a token record the caller has checked is absent and has room for.
    pub(crate) fn insert_token(&mut self, key: Key, expires_at: i64) {
        self.tokens.insert(key, expires_at);
        self.note_expiry(expires_at);
    }

    /// Adds a cut-off record the caller has checked is absent and has room for.
    pub(crate) fn insert_cutoff(&mut self, key: Key, record: CutoffRecord) {
        self.cutoffs.insert(key, record);
        self.note_expiry(record.expires_at);
    }

    /// Removes a token record; returns its expiry.
    pub(crate) fn remove_token(&mut self, key: &Key) -> Option<i64> {
        self.tokens.remove(key)
    }

    /// Keeps `earliest_expiry` a lower bound after a record was written with `expires_at`.
    pub(crate) fn note_expiry(&mut self, expires_at: i64) {
        self.earliest_expiry = self.earliest_expiry.min(expires_at);
    }

    /// Whether a sweep at `now` could free anything.
    pub(crate) fn has_expired(&self, now: i64) -> bool {
        now >= self.earliest_expiry
    }

    /// Whether a write at `now` should sweep this shard first (amortised cleanup).
    pub(crate) fn amortised_sweep_due(&self, now: i64) -> bool {
        now >= self.next_sweep && self.has_expired(now)
    }

    /// Frees every record expired at `now`; returns how many. Gives memory back when the maps
    /// have become mostly empty, so a burst of revocations does not hold memory for ever.
    pub(crate) fn sweep(&mut self, now: i64, sweep_interval_micros: i64) -> usize {
        let before = self.len();
        let mut earliest = i64::MAX;
        self.tokens.retain(|_, expires_at| {
            let live = *expires_at > now;
            if live {
                earliest = earliest.min(*expires_at);
            }
            live
        });
        self.cutoffs.retain(|_, record| {
            let live = record.expires_at > now;
            if live {
                earliest = earliest.min(record.expires_at);
            }
            live
        });
        self.earliest_expiry = earliest;
        self.next_sweep = now.saturating_add(sweep_interval_micros);
        shrink_if_sparse(&mut self.tokens);
        shrink_if_sparse(&mut self.cutoffs);
        before - self.len()
    }

    /// Records held, live or expired.
    pub(crate) fn len(&self) -> usize {
        self.tokens.len() + self.cutoffs.len()
    }

    #[cfg(test)]
    pub(crate) fn allocated_slots(&self) -> usize {
        self.tokens.capacity() + self.cutoffs.capacity()
    }
}

/// Halves the table's slack once it is less than a quarter full (hysteresis: a map that
/// shrinks to twice its records must lose half of them again before it shrinks again).
fn shrink_if_sparse<V>(map: &mut HashMap<Key, V, DefaultHashBuilder>) {
    if map.capacity() > MIN_SHRINK_CAPACITY && map.len().saturating_mul(4) < map.capacity() {
        map.shrink_to(map.len().saturating_mul(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Key {
        Key::of(&RecordKey::from_bytes([n; 32]))
    }

    #[test]
    fn key_is_the_digest_prefix_and_entries_stay_compact() {
        let record = RecordKey::from_bytes(std::array::from_fn(|i| i as u8));
        let key = Key::of(&record);
        assert_eq!(
            u128::from(key.low) | (u128::from(key.high) << 64),
            prefix(&record)
        );
        // The reason Key is two words: an entry of key and expiry stays at 24 bytes.
        assert_eq!(std::mem::size_of::<(Key, i64)>(), 24);
        assert_eq!(std::mem::size_of::<(Key, CutoffRecord)>(), 32);
    }

    #[test]
    fn sweep_frees_only_expired_records_and_tracks_the_next_expiry() {
        let mut shard = Shard::new(&DefaultHashBuilder::default());
        shard.insert_token(key(1), 10);
        shard.insert_token(key(2), 30);
        shard.insert_cutoff(
            key(3),
            CutoffRecord {
                at: 1,
                expires_at: 20,
            },
        );
        assert!(!shard.has_expired(9));
        assert_eq!(shard.sweep(9, 0), 0);
        // Expired exactly at its instant, as the engine counts.
        assert_eq!(shard.sweep(10, 0), 1);
        assert!(!shard.has_expired(19));
        assert!(shard.has_expired(20));
        assert_eq!(shard.sweep(25, 0), 1);
        assert_eq!(shard.token_expiry(&key(2)), Some(30));
        assert_eq!(shard.cutoff(&key(3)), None);
        assert_eq!(shard.sweep(30, 0), 1);
        assert_eq!(shard.len(), 0);
        assert!(!shard.has_expired(i64::MAX - 1));
    }

    #[test]
    fn amortised_sweeps_wait_for_the_interval() {
        let mut shard = Shard::new(&DefaultHashBuilder::default());
        shard.insert_token(key(1), 10);
        assert!(!shard.amortised_sweep_due(5));
        assert!(shard.amortised_sweep_due(10));
        shard.sweep(10, 100);
        shard.insert_token(key(2), 20);
        assert!(!shard.amortised_sweep_due(50), "swept less than 100 ago");
        assert!(shard.amortised_sweep_due(110));
    }

    #[test]
    fn sweeping_a_mostly_expired_shard_gives_memory_back() {
        let mut shard = Shard::new(&DefaultHashBuilder::default());
        for n in 0..10_000u32 {
            let mut bytes = [0u8; 32];
            bytes[..4].copy_from_slice(&n.to_le_bytes());
            let expires_at = if n < 10 { 1_000 } else { 10 };
            shard.insert_token(Key::of(&RecordKey::from_bytes(bytes)), expires_at);
        }
        let grown = shard.allocated_slots();
        assert_eq!(shard.sweep(500, 0), 9_990);
        assert!(
            shard.allocated_slots() * 16 < grown,
            "{} slots left of {grown}",
            shard.allocated_slots()
        );
        assert_eq!(shard.len(), 10);
    }
}
