//! MemoryStore's own promises, seen from outside: expiry, self-cleaning, the capacity rule,
//! atomic cut-offs. The trait's shared contract is checked by `tests/conformance.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use jwt_revoke_core::{
    ManualClock, RecordKey, RevocationStore, SessionId, StoreError, Timestamp, TokenId, TokenKeys,
    UserId,
};
use jwt_revoke_memory::MemoryStore;

const START: i64 = 1_700_000_000;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_secs(START + secs)
}

fn clock() -> ManualClock {
    ManualClock::new(at(0))
}

fn store(clock: &ManualClock) -> MemoryStore {
    MemoryStore::builder()
        .clock(Arc::new(clock.clone()))
        .build()
}

fn token(n: usize) -> TokenKeys {
    TokenKeys::new(
        TokenId::from_jti(
            "https://idp.example",
            format!("user-{n}"),
            format!("token-{n}"),
        )
        .denylist_key(),
        user(n),
        Some(session(n)),
    )
}

fn user(n: usize) -> RecordKey {
    UserId::new("https://idp.example", format!("user-{n}")).key()
}

fn session(n: usize) -> RecordKey {
    SessionId::new("https://idp.example", format!("session-{n}")).key()
}

fn listed(store: &MemoryStore, keys: &TokenKeys) -> bool {
    store.lookup(keys).token_listed
}

#[test]
fn records_read_as_absent_from_their_expiry_on() {
    let clock = clock();
    let store = store(&clock);
    let keys = token(1);
    store.write_token(&keys.token, at(10)).expect("room");
    store.write_cutoff(&keys.user, at(0), at(20)).expect("room");
    let session = keys.session.expect("has a session");
    store.write_cutoff(&session, at(0), at(30)).expect("room");

    clock.set(Timestamp::from_micros(at(10).as_micros() - 1));
    let reply = store.lookup(&keys);
    assert!(reply.token_listed);
    assert_eq!(reply.user_cutoff, Some(at(0)));
    assert_eq!(reply.session_cutoff, Some(at(0)));

    clock.set(at(10));
    let reply = store.lookup(&keys);
    assert!(
        !reply.token_listed,
        "a record is gone at its expiry instant"
    );
    assert_eq!(reply.user_cutoff, Some(at(0)));

    clock.set(at(20));
    let reply = store.lookup(&keys);
    assert_eq!(reply.user_cutoff, None);
    assert_eq!(reply.session_cutoff, Some(at(0)));

    clock.set(at(30));
    assert_eq!(store.lookup(&keys), Default::default());
    // Reading does not free: the records are still held until a sweep.
    assert_eq!(store.len(), 3);
}

#[test]
fn delete_expired_frees_expired_records_without_any_read() {
    let clock = clock();
    let store = store(&clock);
    for n in 0..100 {
        store.write_token(&token(n).token, at(10)).expect("room");
    }
    for n in 0..50 {
        store.write_cutoff(&user(n), at(0), at(20)).expect("room");
    }
    assert_eq!(store.sweep_expired(), 0);
    assert_eq!(store.len(), 150);

    clock.set(at(15));
    assert_eq!(store.sweep_expired(), 100);
    assert_eq!(store.len(), 50);
    clock.set(at(20));
    assert_eq!(store.sweep_expired(), 50);
    assert!(store.is_empty());
}

#[test]
fn writes_sweep_their_shard_when_records_there_have_expired() {
    let clock = clock();
    // One shard, so that every write lands where the expired records are.
    let store = MemoryStore::builder()
        .clock(Arc::new(clock.clone()))
        .shards(1)
        .sweep_interval(Duration::from_secs(5))
        .build();
    for n in 0..10 {
        store.write_token(&token(n).token, at(10)).expect("room");
    }
    clock.set(at(10));
    store.write_token(&token(100).token, at(100)).expect("room");
    assert_eq!(store.len(), 1, "the write freed the ten expired records");

    // Within the sweep interval the next write does not scan again...
    store.write_cutoff(&user(1), at(10), at(12)).expect("room");
    clock.set(at(13));
    store.write_token(&token(101).token, at(100)).expect("room");
    assert_eq!(store.len(), 3);
    // ...after it, it does.
    clock.set(at(15));
    store.delete_token(&token(999).token);
    assert_eq!(store.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_background_sweeper_frees_expired_records_on_its_own() {
    let clock = clock();
    let store = Arc::new(store(&clock));
    for n in 0..100 {
        store.insert_token(&token(n), at(10)).await.expect("room");
    }
    let sweeper = store.spawn_sweeper(Duration::from_secs(1));
    clock.set(at(10));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(store.is_empty(), "{} records left", store.len());
    assert!(!sweeper.is_finished());
}

#[tokio::test(start_paused = true)]
async fn the_sweeper_stops_with_its_handle() {
    let clock = clock();
    let store = Arc::new(store(&clock));
    store.insert_token(&token(1), at(10)).await.expect("room");
    drop(store.spawn_sweeper(Duration::from_secs(1)));
    clock.set(at(10));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(store.len(), 1, "a dropped handle's sweeper swept");

    let sweeper = store.spawn_sweeper(Duration::from_secs(1));
    sweeper.abort();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(sweeper.is_finished());
    assert_eq!(store.len(), 1, "an aborted sweeper swept");
}

#[tokio::test(start_paused = true)]
async fn a_detached_sweeper_keeps_sweeping_and_stops_with_the_store() {
    let clock = clock();
    let store = Arc::new(store(&clock));
    store.insert_token(&token(1), at(10)).await.expect("room");
    let weak = Arc::downgrade(&store);
    store.spawn_sweeper(Duration::from_secs(1)).detach();
    clock.set(at(10));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(store.is_empty());

    let sweeper = store.spawn_sweeper(Duration::from_secs(1));
    drop(store);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(
        weak.upgrade().is_none(),
        "the sweepers kept the store alive"
    );
    assert!(sweeper.is_finished());
}

#[test]
fn a_full_store_refuses_new_records_and_keeps_every_live_one() {
    let clock = clock();
    let store = MemoryStore::builder()
        .clock(Arc::new(clock.clone()))
        .capacity(3)
        .build();
    store.write_token(&token(1).token, at(100)).expect("room");
    store.write_token(&token(2).token, at(100)).expect("room");
    store.write_cutoff(&user(3), at(0), at(100)).expect("room");

    let refused = store.write_token(&token(4).token, at(100));
    assert!(
        matches!(refused, Err(StoreError::CapacityExceeded { capacity: 3 })),
        "{refused:?}"
    );
    let refused = store.write_cutoff(&user(5), at(0), at(100));
    assert!(
        matches!(refused, Err(StoreError::CapacityExceeded { capacity: 3 })),
        "{refused:?}"
    );
    assert_eq!(store.len(), 3);
    assert!(listed(&store, &token(1)));
    assert!(listed(&store, &token(2)));
    assert_eq!(store.lookup(&token(3)).user_cutoff, Some(at(0)));
    assert!(!listed(&store, &token(4)));
    assert_eq!(store.lookup(&token(5)).user_cutoff, None);
    // Checks of a full store are answered as always, through the trait too.
    let reply = store.lookup(&token(1));
    assert!(reply.token_listed);
    let reply = store.lookup(&token(9));
    assert!(!reply.token_listed);
    assert_eq!(
        store.usage(),
        Some(jwt_revoke_core::StoreUsage::new(3, Some(3)))
    );
    assert_eq!(
        store.usage().and_then(|usage| usage.fill_ratio()),
        Some(1.0)
    );
}

#[test]
fn a_store_filling_up_warns_before_it_refuses() {
    let warnings = Arc::new(AtomicUsize::new(0));
    let clock = clock();
    let store = MemoryStore::builder()
        .clock(Arc::new(clock.clone()))
        .capacity(20)
        .build();
    tracing::subscriber::with_default(WarnCounter(Arc::clone(&warnings)), || {
        for n in 0..15 {
            store.write_token(&token(n).token, at(100)).expect("room");
        }
        assert_eq!(
            warnings.load(Ordering::SeqCst),
            0,
            "75% full: no warning yet"
        );
        store.write_token(&token(15).token, at(100)).expect("room");
        assert_eq!(warnings.load(Ordering::SeqCst), 1, "80% full");
        for n in 16..19 {
            store.write_token(&token(n).token, at(100)).expect("room");
        }
        assert_eq!(warnings.load(Ordering::SeqCst), 2, "95% full");
        store.write_token(&token(19).token, at(100)).expect("room");
        assert_eq!(
            warnings.load(Ordering::SeqCst),
            2,
            "full, nothing refused yet"
        );
        assert!(store.write_token(&token(20).token, at(100)).is_err());
        assert_eq!(warnings.load(Ordering::SeqCst), 3, "the refusal");
    });
    assert_eq!(
        MemoryStore::builder().unbounded().build().usage(),
        Some(jwt_revoke_core::StoreUsage::new(0, None))
    );
}

#[test]
fn expired_records_make_room_for_new_ones() {
    let clock = clock();
    let store = MemoryStore::builder()
        .clock(Arc::new(clock.clone()))
        .capacity(2)
        // No amortised sweep: the room must come from the full-store rule itself.
        .sweep_interval(Duration::from_secs(1_000_000))
        .build();
    store.write_token(&token(1).token, at(100)).expect("room");
    store.write_token(&token(2).token, at(10)).expect("room");
    // Sweep once so that the amortised sweeps wait for the long interval.
    assert_eq!(store.sweep_expired(), 0);
    clock.set(at(10));
    store
        .write_token(&token(3).token, at(100))
        .expect("the expired record made room");
    assert_eq!(store.len(), 2);
    assert!(listed(&store, &token(1)));
    assert!(listed(&store, &token(3)));
}

#[test]
fn updates_of_held_records_are_never_refused() {
    let clock = clock();
    let store = MemoryStore::builder()
        .clock(Arc::new(clock.clone()))
        .capacity(2)
        .build();
    store.write_token(&token(1).token, at(10)).expect("room");
    store.write_cutoff(&user(1), at(0), at(10)).expect("room");

    store
        .write_token(&token(1).token, at(50))
        .expect("an update needs no room");
    let in_force = store
        .write_cutoff(&user(1), at(5), at(50))
        .expect("no room needed");
    assert_eq!(in_force, at(5));
    clock.set(at(30));
    let reply = store.lookup(&token(1));
    assert!(reply.token_listed, "the later expiry was kept");
    assert_eq!(reply.user_cutoff, Some(at(5)));
    assert_eq!(store.len(), 2);
}

#[test]
fn a_record_keeps_its_later_expiry() {
    let clock = clock();
    let store = store(&clock);
    store.write_token(&token(1).token, at(50)).expect("room");
    store.write_token(&token(1).token, at(20)).expect("room");
    store.write_cutoff(&user(1), at(5), at(50)).expect("room");
    let in_force = store.write_cutoff(&user(1), at(1), at(20)).expect("room");
    assert_eq!(in_force, at(5), "a cut-off never moves back");
    clock.set(at(30));
    let reply = store.lookup(&token(1));
    assert!(reply.token_listed);
    assert_eq!(reply.user_cutoff, Some(at(5)));
}

#[test]
fn concurrent_raises_keep_the_latest_cutoff() {
    const THREADS: usize = 8;
    const RAISES: i64 = 2_000;
    let clock = clock();
    let store = Arc::new(store(&clock));
    let key = user(1);
    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                for raise in 0..RAISES {
                    // Each thread raises to interleaved, shuffled instants; the max is known.
                    let micros = (raise * 7919 + thread as i64 * 104_729) % (RAISES * 10);
                    let instant = Timestamp::from_micros(at(0).as_micros() + micros);
                    store.write_cutoff(&key, instant, at(100)).expect("room");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("raising threads do not panic");
    }
    let expected = (0..THREADS)
        .flat_map(|thread| {
            (0..RAISES).map(move |raise| (raise * 7919 + thread as i64 * 104_729) % (RAISES * 10))
        })
        .max()
        .expect("some raises");
    assert_eq!(
        store.lookup(&token(1)).user_cutoff,
        Some(Timestamp::from_micros(at(0).as_micros() + expected))
    );
    assert_eq!(store.len(), 1);
}

#[test]
fn writing_an_already_expired_record_stores_nothing() {
    let clock = clock();
    let store = store(&clock);
    clock.set(at(10));
    store
        .write_token(&token(1).token, at(10))
        .expect("succeeds");
    store.write_token(&token(2).token, at(5)).expect("succeeds");
    let in_force = store
        .write_cutoff(&user(3), at(0), at(10))
        .expect("succeeds");
    assert_eq!(in_force, at(0));
    assert!(store.is_empty());
    assert!(!listed(&store, &token(1)));
}

#[tokio::test]
async fn revoking_an_expired_token_through_the_engine_stores_nothing() {
    use jwt_revoke_core::{NumericDate, Policy, RegisteredClaims, Revocations, TokenRevocation};
    let clock = clock();
    let store = Arc::new(store(&clock));
    let revocations = Revocations::new(store.clone(), Policy::new(Duration::from_secs(600)))
        .with_clock(Arc::new(clock.clone()));
    let mut claims = RegisteredClaims::new();
    claims.iss = Some("https://idp.example".into());
    claims.sub = Some("alice".into());
    claims.iat = Some(NumericDate::from_secs(START));
    claims.exp = Some(NumericDate::from_secs(START + 60));
    let facts = revocations.inspect(&claims, "raw").expect("valid");
    clock.set(at(60 + 60)); // exp + default leeway
    let outcome = revocations.revoke_token(&facts).await.expect("succeeds");
    assert_eq!(outcome, TokenRevocation::AlreadyExpired);
    assert!(store.is_empty());
}

#[test]
fn removing_tells_whether_a_live_record_was_there_and_frees_it() {
    let clock = clock();
    let store = store(&clock);
    store.write_token(&token(1).token, at(10)).expect("room");
    store.write_token(&token(2).token, at(10)).expect("room");
    assert!(store.delete_token(&token(1).token));
    assert!(!store.delete_token(&token(1).token));
    clock.set(at(10));
    assert!(
        !store.delete_token(&token(2).token),
        "an expired record was not live"
    );
    assert!(store.is_empty());
}

#[test]
fn an_expired_cutoff_starts_afresh_instead_of_keeping_its_old_instant() {
    let clock = clock();
    let store = store(&clock);
    store.write_cutoff(&user(1), at(8), at(10)).expect("room");
    clock.set(at(10));
    // The old cut-off (at 8) covers only expired tokens; the new one is earlier yet in force.
    let in_force = store.write_cutoff(&user(1), at(5), at(100)).expect("room");
    assert_eq!(in_force, at(5));
    assert_eq!(store.lookup(&token(1)).user_cutoff, Some(at(5)));
    assert_eq!(store.len(), 1);
}

/// Counts `WARN` events: the refusal must be logged, and logged at a bounded rate.
struct WarnCounter(Arc<AtomicUsize>);

impl tracing::Subscriber for WarnCounter {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if *event.metadata().level() == tracing::Level::WARN {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn refusals_are_logged_at_most_once_a_second() {
    let warnings = Arc::new(AtomicUsize::new(0));
    let clock = clock();
    let store = MemoryStore::builder()
        .clock(Arc::new(clock.clone()))
        .capacity(0)
        .build();
    tracing::subscriber::with_default(WarnCounter(Arc::clone(&warnings)), || {
        for n in 0..10 {
            assert!(store.write_token(&token(n).token, at(100)).is_err());
        }
        assert_eq!(warnings.load(Ordering::SeqCst), 1);
        clock.set(at(1));
        assert!(store.write_token(&token(1).token, at(100)).is_err());
        assert_eq!(warnings.load(Ordering::SeqCst), 2);
    });
}
