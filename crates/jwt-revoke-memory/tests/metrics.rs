//! The memory store's gauges (feature `metrics`, on here through the crate's dev-dependency
//! on itself): exact values after each kind of operation, read from a recorder of the test's
//! own, installed for the test's thread only.
//!
//! The recorder reads values without resetting them: `metrics_util`'s `DebuggingRecorder`
//! zeroes every gauge it snapshots, which would make a gauge kept by additions (as this one
//! is) read wrong on the second snapshot.

use std::sync::Arc;
use std::time::Duration;

use jwt_revoke_core::{ManualClock, RecordKey, StoreError, Timestamp, TokenId, UserId};
use jwt_revoke_memory::MemoryStore;
use jwt_revoke_memory::observe::{CAPACITY, RECORDS};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::registry::{AtomicStorage, Registry};

/// A recorder whose values are read as they are, never reset.
struct Readings {
    registry: Registry<Key, AtomicStorage>,
}

impl Readings {
    fn new() -> Self {
        Readings {
            registry: Registry::atomic(),
        }
    }

    /// The gauge `name` (no labels), if anything registered it.
    fn gauge(&self, name: &str) -> Option<f64> {
        self.registry
            .get_gauge_handles()
            .into_iter()
            .find(|(key, _)| key.name() == name)
            .map(|(_, value)| f64::from_bits(value.load(std::sync::atomic::Ordering::SeqCst)))
    }
}

impl Recorder for Readings {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.registry
            .get_or_create_counter(key, |counter| Counter::from_arc(Arc::clone(counter)))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.registry
            .get_or_create_gauge(key, |gauge| Gauge::from_arc(Arc::clone(gauge)))
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

const START: i64 = 1_700_000_000;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_secs(START + secs)
}

fn token(n: usize) -> RecordKey {
    TokenId::from_jti("https://idp.example", "user", format!("token-{n}")).denylist_key()
}

fn user(n: usize) -> RecordKey {
    UserId::new("https://idp.example", format!("user-{n}")).key()
}

/// `records` as the gauge holds it, for comparisons with `len()`.
fn count(records: usize) -> Option<f64> {
    Some(records as f64)
}

#[test]
fn records_follow_insertions_updates_deletions_and_sweeps() {
    let readings = Readings::new();
    metrics::with_local_recorder(&readings, || {
        let clock = ManualClock::new(at(0));
        let store = MemoryStore::builder()
            .clock(Arc::new(clock.clone()))
            .capacity(100)
            .build();
        assert_eq!(readings.gauge(CAPACITY), Some(100.0), "set at build");
        assert_eq!(readings.gauge(RECORDS), Some(0.0), "registered at build");

        for n in 0..3 {
            store.write_token(&token(n), at(10)).expect("room");
        }
        store.write_token(&token(3), at(100)).expect("room");
        store.write_token(&token(4), at(100)).expect("room");
        store.write_cutoff(&user(0), at(0), at(100)).expect("room");
        assert_eq!(readings.gauge(RECORDS), Some(6.0));

        // Updates of records it holds add nothing; nor does a record expired on arrival.
        store.write_token(&token(3), at(200)).expect("an update");
        store
            .write_cutoff(&user(0), at(1), at(200))
            .expect("an update");
        store
            .write_token(&token(9), at(0))
            .expect("nothing to keep");
        assert_eq!(readings.gauge(RECORDS), Some(6.0));

        assert!(store.delete_token(&token(4)));
        assert!(!store.delete_token(&token(8)), "absent: nothing to take");
        assert_eq!(readings.gauge(RECORDS), Some(5.0));

        // Expired but not freed: still held, as `len` says.
        clock.set(at(10));
        assert_eq!(readings.gauge(RECORDS), Some(5.0));
        assert_eq!(store.len(), 5);
        assert_eq!(store.sweep_expired(), 3);
        assert_eq!(readings.gauge(RECORDS), Some(2.0));
        assert_eq!(readings.gauge(RECORDS), count(store.len()));
        assert_eq!(readings.gauge(CAPACITY), Some(100.0), "the capacity stays");
    });
}

#[test]
fn an_amortised_sweep_on_a_write_is_counted() {
    let readings = Readings::new();
    metrics::with_local_recorder(&readings, || {
        let clock = ManualClock::new(at(0));
        // One shard: every write lands where the expired records are.
        let store = MemoryStore::builder()
            .clock(Arc::new(clock.clone()))
            .shards(1)
            .build();
        for n in 0..3 {
            store.write_token(&token(n), at(10)).expect("room");
        }
        clock.set(at(10));
        store.write_token(&token(3), at(100)).expect("room");
        assert_eq!(store.len(), 1, "the write swept the three expired first");
        assert_eq!(readings.gauge(RECORDS), Some(1.0));
    });
}

#[test]
fn the_background_sweeper_is_counted() {
    let readings = Readings::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    // A current-thread runtime: the sweeper runs on this thread, under the local recorder.
    metrics::with_local_recorder(&readings, || {
        runtime.block_on(async {
            let clock = ManualClock::new(at(0));
            let store = Arc::new(
                MemoryStore::builder()
                    .clock(Arc::new(clock.clone()))
                    .build(),
            );
            for n in 0..10 {
                let expires_at = if n < 7 { at(10) } else { at(100) };
                store.write_token(&token(n), expires_at).expect("room");
            }
            assert_eq!(readings.gauge(RECORDS), Some(10.0));
            let sweeper = store.spawn_sweeper(Duration::from_secs(1));
            clock.set(at(10));
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            assert_eq!(store.len(), 3, "the sweeper freed the seven expired");
            assert_eq!(readings.gauge(RECORDS), Some(3.0));
            drop(sweeper);
        });
    });
}

#[test]
fn a_refused_record_counts_nothing() {
    let readings = Readings::new();
    metrics::with_local_recorder(&readings, || {
        let clock = ManualClock::new(at(0));
        let store = MemoryStore::builder()
            .clock(Arc::new(clock.clone()))
            .capacity(2)
            .build();
        store.write_token(&token(0), at(100)).expect("room");
        store.write_cutoff(&user(0), at(0), at(100)).expect("room");
        assert!(matches!(
            store.write_token(&token(1), at(100)),
            Err(StoreError::CapacityExceeded { capacity: 2 })
        ));
        assert_eq!(readings.gauge(RECORDS), Some(2.0));
        assert_eq!(readings.gauge(CAPACITY), Some(2.0));
    });
}

#[test]
fn an_unbounded_store_has_no_capacity_gauge() {
    let readings = Readings::new();
    metrics::with_local_recorder(&readings, || {
        let store = MemoryStore::builder().unbounded().build();
        store
            .write_token(&token(0), Timestamp::MAX)
            .expect("always room");
        assert_eq!(readings.gauge(RECORDS), Some(1.0));
        assert_eq!(readings.gauge(CAPACITY), None);
    });
}

#[test]
fn stores_add_up_and_a_dropped_one_takes_its_part_back() {
    let readings = Readings::new();
    metrics::with_local_recorder(&readings, || {
        let first = MemoryStore::builder().capacity(10).build();
        let second = MemoryStore::builder().capacity(20).build();
        assert_eq!(readings.gauge(CAPACITY), Some(30.0));
        first.write_token(&token(0), Timestamp::MAX).expect("room");
        first.write_token(&token(1), Timestamp::MAX).expect("room");
        second.write_token(&token(2), Timestamp::MAX).expect("room");
        assert_eq!(readings.gauge(RECORDS), Some(3.0));

        drop(first);
        assert_eq!(readings.gauge(RECORDS), Some(1.0));
        assert_eq!(readings.gauge(CAPACITY), Some(20.0));
        drop(second);
        assert_eq!(readings.gauge(RECORDS), Some(0.0));
        assert_eq!(readings.gauge(CAPACITY), Some(0.0));
    });
}

#[test]
fn a_store_built_not_to_report_reports_nothing() {
    let readings = Readings::new();
    metrics::with_local_recorder(&readings, || {
        let store = MemoryStore::builder().capacity(10).metrics(false).build();
        store.write_token(&token(0), Timestamp::MAX).expect("room");
        assert_eq!(store.len(), 1);
        assert_eq!(readings.gauge(RECORDS), None);
        assert_eq!(readings.gauge(CAPACITY), None);
    });
}

/// The gauge is kept by additions, not by copying `len` (which threads racing each other
/// could leave at an older value): after writers on several threads have finished, it is
/// exactly `len`. The store registered its gauges at build, so the other threads report to
/// this test's recorder too.
#[test]
fn writers_on_many_threads_leave_the_gauge_exactly_at_len() {
    let readings = Readings::new();
    let clock = ManualClock::new(at(0));
    let store = metrics::with_local_recorder(&readings, || {
        MemoryStore::builder()
            .clock(Arc::new(clock.clone()))
            .shards(4)
            .capacity(50_000)
            .build()
    });
    std::thread::scope(|scope| {
        for thread in 0..4 {
            let store = &store;
            scope.spawn(move || {
                for n in 0..5_000 {
                    let key = token(thread * 10_000 + n);
                    let expires_at = at(100 + i64::try_from(n % 50).expect("small"));
                    store.write_token(&key, expires_at).expect("room");
                    if n % 3 == 0 {
                        store.delete_token(&key);
                    }
                }
            });
        }
        let clock = &clock;
        let store = &store;
        // Sweeps meanwhile, up to an instant that leaves the later records live.
        scope.spawn(move || {
            for secs in 0..=25 {
                clock.set(at(100 + secs));
                store.sweep_expired();
                std::thread::yield_now();
            }
        });
    });
    assert!(!store.is_empty(), "something is left to compare");
    assert_eq!(readings.gauge(RECORDS), count(store.len()));
    clock.set(at(150));
    store.sweep_expired();
    assert_eq!(store.len(), 0);
    assert_eq!(readings.gauge(RECORDS), Some(0.0));
}
