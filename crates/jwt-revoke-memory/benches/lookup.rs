//! What one full check costs: [`MemoryStore::lookup`] (token, user and session keys) against a
//! baseline of 64 `std::sync::RwLock<std::collections::HashMap<u128, i64>>` shards doing the
//! same three lookups, in the same run so that the results read as ratios.
//!
//! Each size `n` is a store of `n` records: `n / 2` token records, `n / 4` user cut-offs and
//! `n / 4` session cut-offs, all live for an hour. A *hit* is a check whose three keys are all
//! found (the most work a check does: three found records and one clock read); a *miss* is a
//! check whose three keys are all absent (the usual case: nothing revoked). The probes are
//! precomputed (no SHA-256 in the timed loop) and visited in a shuffled order, cycling through
//! every hit triple of the store, so that the larger store is read as a whole rather than
//! from a few cached lines.
//!
//! Run with `cargo bench -p jwt-revoke-memory --bench lookup`; the figures are in the crate's
//! `MEASUREMENTS.md`.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use jwt_revoke_core::{RecordKey, SessionId, Timestamp, TokenId, TokenKeys, UserId};
use jwt_revoke_memory::MemoryStore;

const ISSUER: &str = "https://idp.example";

/// The store sizes measured, in records.
const SIZES: [usize; 2] = [10_000, 1_000_000];

/// Shards of the baseline: as many as the store has by default.
const BASELINE_SHARDS: usize = 64;

/// The keys of token `n`: its denylist key, its user's and its session's.
fn keys(n: usize) -> TokenKeys {
    TokenKeys::new(
        TokenId::from_jti(ISSUER, format!("user-{n}"), format!("token-{n}")).denylist_key(),
        UserId::new(ISSUER, format!("user-{n}")).key(),
        Some(SessionId::new(ISSUER, format!("session-{n}")).key()),
    )
}

/// A deterministic Fisher-Yates shuffle (xorshift64*), so runs visit probes in the same order.
fn shuffle<T>(items: &mut [T]) {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..items.len()).rev() {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let random = state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        // Truncation intended: the modulus is below `items.len()`.
        let j = (random % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// The baseline: a sharded `RwLock<HashMap<u128, i64>>` of expiries (microseconds since the
/// epoch), keyed like the store by the first 16 bytes of the record key and sharded by the
/// same bits.
struct Baseline {
    shards: Vec<RwLock<HashMap<u128, i64>>>,
}

impl Baseline {
    fn new() -> Self {
        Baseline {
            shards: (0..BASELINE_SHARDS)
                .map(|_| RwLock::new(HashMap::new()))
                .collect(),
        }
    }

    fn shard(&self, key: u128) -> &RwLock<HashMap<u128, i64>> {
        // Truncation intended: the low bits of the high half choose the shard, as in the store.
        &self.shards[((key >> 64) as usize) & (BASELINE_SHARDS - 1)]
    }

    fn insert(&self, key: &RecordKey, expires_at: i64) {
        let key = prefix(key);
        self.shard(key)
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, expires_at);
    }

    fn get(&self, key: &RecordKey) -> Option<i64> {
        let key = prefix(key);
        self.shard(key)
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .copied()
    }

    /// The equivalent of a check: three lookups, each under its shard's read lock, and the
    /// wall clock read once if anything was found, to tell live records from expired ones.
    fn lookup(&self, keys: &TokenKeys) -> (bool, bool, bool) {
        let token = self.get(&keys.token);
        let user = self.get(&keys.user);
        let session = keys.session.as_ref().and_then(|key| self.get(key));
        if token.is_none() && user.is_none() && session.is_none() {
            return (false, false, false);
        }
        let now = now_micros();
        let live = |expiry: Option<i64>| expiry.is_some_and(|expires_at| expires_at > now);
        (live(token), live(user), live(session))
    }
}

fn now_micros() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
}

/// A store and a baseline holding the same `n` records, and the probes that hit and miss them.
struct Fixture {
    store: MemoryStore,
    baseline: Baseline,
    hits: Vec<TokenKeys>,
    misses: Vec<TokenKeys>,
}

impl Fixture {
    fn new(n: usize) -> Self {
        let store = MemoryStore::builder().unbounded().build();
        let baseline = Baseline::new();
        let expires_at = store
            .clock()
            .now()
            .saturating_add(Duration::from_secs(3_600));
        let cut_at = Timestamp::from_micros(expires_at.as_micros() - 3_600_000_000);
        let mut hits = Vec::with_capacity(n / 4);
        for i in 0..n / 2 {
            let keys = keys(i);
            store
                .write_token(&keys.token, expires_at)
                .expect("an unbounded store has room");
            baseline.insert(&keys.token, expires_at.as_micros());
            if i < n / 4 {
                let session = keys.session.expect("the keys have a session");
                store
                    .write_cutoff(&keys.user, cut_at, expires_at)
                    .expect("room");
                store
                    .write_cutoff(&session, cut_at, expires_at)
                    .expect("room");
                baseline.insert(&keys.user, expires_at.as_micros());
                baseline.insert(&session, expires_at.as_micros());
                hits.push(keys);
            }
        }
        assert_eq!(store.len(), n / 2 + 2 * (n / 4));
        // Tokens, users and sessions the store has never seen.
        let mut misses: Vec<TokenKeys> = (n..n + hits.len()).map(keys).collect();
        shuffle(&mut hits);
        shuffle(&mut misses);
        Fixture {
            store,
            baseline,
            hits,
            misses,
        }
    }
}

/// Cycles through `probes`, one per call.
fn cycle<'a>(probes: &'a [TokenKeys]) -> impl FnMut() -> &'a TokenKeys {
    let mut next = 0;
    move || {
        let probe = &probes[next];
        next += 1;
        if next == probes.len() {
            next = 0;
        }
        probe
    }
}

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("check");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    for n in SIZES {
        let fixture = Fixture::new(n);
        // Sanity: the probes hit and miss as labelled, in both implementations.
        let hit = fixture.store.lookup(&fixture.hits[0]);
        assert!(hit.token_listed && hit.user_cutoff.is_some() && hit.session_cutoff.is_some());
        let miss = fixture.store.lookup(&fixture.misses[0]);
        assert!(!miss.token_listed && miss.user_cutoff.is_none() && miss.session_cutoff.is_none());
        assert_eq!(
            fixture.baseline.lookup(&fixture.hits[0]),
            (true, true, true)
        );
        assert_eq!(
            fixture.baseline.lookup(&fixture.misses[0]),
            (false, false, false)
        );

        for (outcome, probes) in [("hit", &fixture.hits), ("miss", &fixture.misses)] {
            group.bench_with_input(
                BenchmarkId::new(format!("memory_store/{outcome}"), n),
                probes,
                |b, probes| {
                    let mut next = cycle(probes);
                    b.iter(|| fixture.store.lookup(black_box(next())));
                },
            );
            group.bench_with_input(
                BenchmarkId::new(format!("std_rwlock_hashmap_x64/{outcome}"), n),
                probes,
                |b, probes| {
                    let mut next = cycle(probes);
                    b.iter(|| fixture.baseline.lookup(black_box(next())));
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, lookup);
criterion_main!(benches);

/// The first 16 bytes of a key as an integer, as the store keeps it.
fn prefix(key: &RecordKey) -> u128 {
    let mut half = [0u8; 16];
    half.copy_from_slice(&key.as_bytes()[..16]);
    u128::from_le_bytes(half)
}
