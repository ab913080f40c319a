//! The Redis store's metrics (feature `metrics`, on here through the crate's dev-dependency on
//! itself): the data-loss counter after Redis loses its data, and the local replica's state,
//! staleness and copies through a start, a pause of Redis and the recovery.
//!
//! Each test runs on a current-thread Tokio runtime inside `metrics::with_local_recorder`, so
//! that the store's background tasks (the replica's) run on the test's thread and report to
//! the test's recorder. The recorder reads values without resetting them (`metrics_util`'s
//! `DebuggingRecorder` zeroes every value it snapshots, so a state gauge polled twice would
//! read 0 between two publications). Each test runs its own redis-server.

mod support;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jwt_revoke_core::RevocationStore;
use jwt_revoke_redis::observe::{
    DATA_LOSS_DETECTIONS, REPLICA_RESYNCS, REPLICA_STALENESS, REPLICA_STATE, REPLICA_STATES,
};
use jwt_revoke_redis::test_support::{RedisServer, unique_prefix};
use jwt_revoke_redis::{KeyPrefix, RedisStore, RedisStoreConfig, ReplicaConfig, redis};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::registry::{AtomicStorage, Registry};
use support::{from_now, keys};

const STALENESS: Duration = Duration::from_millis(1_000);
const HEARTBEAT: Duration = Duration::from_millis(50);
const TIMEOUT: Duration = Duration::from_millis(500);
/// Far more than anything here should take: a test that waits this long has failed.
const PATIENCE: Duration = Duration::from_secs(10);

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

    fn matches(key: &Key, name: &str, labels: &[(&str, &str)]) -> bool {
        let mut found: Vec<(&str, &str)> = key
            .labels()
            .map(|label| (label.key(), label.value()))
            .collect();
        found.sort_unstable();
        let mut wanted = labels.to_vec();
        wanted.sort_unstable();
        key.name() == name && found == wanted
    }

    /// The counter `name` with exactly `labels`, if anything registered it.
    fn counter(&self, name: &str) -> Option<u64> {
        self.registry
            .get_counter_handles()
            .into_iter()
            .find(|(key, _)| Self::matches(key, name, &[]))
            .map(|(_, value)| value.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// The gauge `name` with exactly `labels`, if anything registered it.
    fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.registry
            .get_gauge_handles()
            .into_iter()
            .find(|(key, _)| Self::matches(key, name, labels))
            .map(|(_, value)| f64::from_bits(value.load(std::sync::atomic::Ordering::SeqCst)))
    }

    /// The replica state gauge: `[fresh, stale, syncing]`, each `None` if never set.
    fn states(&self) -> [Option<f64>; 3] {
        REPLICA_STATES.map(|state| self.gauge(REPLICA_STATE, &[("state", state)]))
    }

    fn staleness(&self) -> f64 {
        self.gauge(REPLICA_STALENESS, &[])
            .expect("the staleness is published with the state")
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

const FRESH: [Option<f64>; 3] = [Some(1.0), Some(0.0), Some(0.0)];
const STALE: [Option<f64>; 3] = [Some(0.0), Some(1.0), Some(0.0)];
const SYNCING: [Option<f64>; 3] = [Some(0.0), Some(0.0), Some(1.0)];
const GONE: [Option<f64>; 3] = [Some(0.0), Some(0.0), Some(0.0)];

/// Runs `test` on a current-thread runtime with `readings` as this thread's recorder: every
/// task the store spawns runs here, and reports there.
fn with_readings<F: Future<Output = ()>>(test: impl FnOnce(Arc<Readings>) -> F) {
    let readings = Arc::new(Readings::new());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    metrics::with_local_recorder(&*readings, || runtime.block_on(test(Arc::clone(&readings))));
}

fn config(server: &RedisServer, prefix: &KeyPrefix) -> RedisStoreConfig {
    RedisStoreConfig::from_url(server.url())
        .with_key_prefix(prefix.clone())
        .with_timeout(TIMEOUT)
}

async fn store(server: &RedisServer, prefix: &KeyPrefix) -> RedisStore {
    config(server, prefix)
        .build()
        .await
        .expect("the test server accepts connections")
}

fn replica_config() -> ReplicaConfig {
    ReplicaConfig::default()
        .with_max_staleness(STALENESS)
        .with_heartbeat(HEARTBEAT)
}

/// Checks `token` until an answer carries the store-wide cut-off of a data loss; errors on the
/// way (Redis coming back) are waited out.
async fn until_the_loss_is_known(store: &RedisStore, token: &jwt_revoke_core::TokenKeys) {
    let started = Instant::now();
    loop {
        if let Ok(reply) = store.check(token).await
            && reply.store_cutoff.is_some()
        {
            return;
        }
        assert!(started.elapsed() < PATIENCE, "the loss was not noticed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls the replica's state every 10 ms until `condition` holds; false after [`PATIENCE`].
async fn eventually(mut condition: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < PATIENCE {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[test]
fn a_data_loss_is_counted_once_by_each_store_that_ran_through_it() {
    with_readings(|readings| async move {
        let mut server = RedisServer::start();
        let prefix = unique_prefix();
        let running = store(&server, &prefix).await;
        let token = keys("alice", "t-1", None);
        running
            .insert_token(&token, from_now(Duration::from_secs(600)))
            .await
            .expect("insert");
        running.check(&token).await.expect("check");
        assert_eq!(readings.counter(DATA_LOSS_DETECTIONS), None, "no loss yet");

        server.restart_empty();
        until_the_loss_is_known(&running, &token).await;
        assert_eq!(readings.counter(DATA_LOSS_DETECTIONS), Some(1));
        for _ in 0..5 {
            running.check(&token).await.expect("check");
        }
        assert_eq!(
            readings.counter(DATA_LOSS_DETECTIONS),
            Some(1),
            "the same loss, read again, counts once"
        );

        // A store built now reads the recorded loss at its build: it happened before this
        // store ran, so the store knows it without counting it as detected.
        let later = store(&server, &prefix).await;
        later.check(&token).await.expect("check");
        assert_eq!(later.data_loss_status().losses_noticed, 1);
        assert_eq!(readings.counter(DATA_LOSS_DETECTIONS), Some(1));

        // A second loss, with both stores running: each counts it once.
        server.cli(&["FLUSHALL"]);
        let before = running.data_loss_status().cutoff;
        let started = Instant::now();
        while running.data_loss_status().cutoff == before
            || later.data_loss_status().cutoff == before
        {
            assert!(started.elapsed() < PATIENCE, "the flush was not noticed");
            let _ = running.check(&token).await;
            let _ = later.check(&token).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(readings.counter(DATA_LOSS_DETECTIONS), Some(3));
        assert_eq!(running.data_loss_status().losses_noticed, 2);
        assert_eq!(later.data_loss_status().losses_noticed, 2);
    });
}

#[test]
fn a_starting_replica_is_syncing_then_fresh_and_a_dropped_one_reports_no_state() {
    with_readings(|readings| async move {
        let server = RedisServer::start();
        let prefix = unique_prefix();
        let plain = store(&server, &prefix).await;
        assert_eq!(
            readings.states(),
            [None, None, None],
            "no replica, no state"
        );

        let replicated = plain
            .with_local_replica(
                redis::Client::open(server.url()).expect("a client"),
                replica_config(),
            )
            .expect("a replica");
        assert_eq!(readings.states(), SYNCING, "before its first copy");
        assert_eq!(readings.counter(REPLICA_RESYNCS), None);

        assert!(replicated.wait_for_local_replica(PATIENCE).await);
        assert_eq!(readings.states(), FRESH);
        assert_eq!(readings.counter(REPLICA_RESYNCS), Some(1));

        // The replica's records are held in memory stores of its own, which stay out of the
        // memory store's gauges (jwt-revoke-memory's `metrics` is on in these tests).
        replicated
            .insert_token(
                &keys("bob", "t-2", None),
                from_now(Duration::from_secs(600)),
            )
            .await
            .expect("insert");
        assert_eq!(replicated.replica_status().expect("a replica").records, 1);
        assert_eq!(
            readings.gauge(jwt_revoke_memory::observe::RECORDS, &[]),
            None
        );
        let staleness = readings.staleness();
        assert!(
            (0.0..STALENESS.as_secs_f64()).contains(&staleness),
            "fresh: a heartbeat came back less than max_staleness ago: {staleness}"
        );
        // While fresh, each heartbeat back sets it again: it stays below a few heartbeats.
        tokio::time::sleep(HEARTBEAT * 10).await;
        let staleness = readings.staleness();
        assert!(
            staleness < STALENESS.as_secs_f64(),
            "the staleness is kept current: {staleness}"
        );
        assert_eq!(readings.states(), FRESH);

        drop(replicated);
        assert_eq!(readings.states(), GONE);
        // Nothing publishes after the drop (the monitor task is aborted).
        tokio::time::sleep(HEARTBEAT * 4).await;
        assert_eq!(readings.states(), GONE);
    });
}

#[test]
fn a_paused_redis_makes_the_replica_stale_and_its_next_copy_is_counted() {
    with_readings(|readings| async move {
        let server = RedisServer::start();
        let prefix = unique_prefix();
        let store = config(&server, &prefix)
            .with_local_replica(replica_config())
            .build()
            .await
            .expect("the test server accepts connections");
        assert_eq!(readings.states(), FRESH, "build waits for the first copy");
        assert_eq!(readings.counter(REPLICA_RESYNCS), Some(1));

        server.pause();
        let paused = Instant::now();
        let mut seen_syncing = false;
        let stale = eventually(|| {
            let states = readings.states();
            seen_syncing |= states == SYNCING;
            states == STALE
        })
        .await;
        assert!(stale, "stale once Redis stops answering");
        // The session gives up on Redis after the store's timeout (or the bound lapses first,
        // whichever comes first): not sooner.
        assert!(
            paused.elapsed() >= TIMEOUT,
            "fresh until the replica gives up on Redis: stale after {:?}",
            paused.elapsed()
        );
        assert!(!seen_syncing, "no copy can begin while Redis is paused");
        // Every heartbeat that came back was sent before the pause, and the replica went
        // stale no sooner than the timeout after it.
        let first = readings.staleness();
        assert!(
            first >= TIMEOUT.as_secs_f64(),
            "the last confirmed sync is as old as the pause at least: {first}"
        );
        assert!(
            !store.replica_status().expect("a replica").fresh,
            "the state agrees with the replica's own status"
        );
        tokio::time::sleep(HEARTBEAT * 4).await;
        let second = readings.staleness();
        assert!(second > first, "it keeps growing: {first} then {second}");
        assert_eq!(readings.states(), STALE);
        assert_eq!(
            readings.counter(REPLICA_RESYNCS),
            Some(1),
            "no copy meanwhile"
        );

        server.resume();
        assert!(
            eventually(|| readings.states() == FRESH).await,
            "fresh again after a new copy: {:?}",
            readings.states()
        );
        let status = store.replica_status().expect("a replica");
        let resyncs = readings.counter(REPLICA_RESYNCS).expect("counted");
        assert!(
            resyncs >= 2,
            "the copy after the pause is counted: {resyncs}"
        );
        assert_eq!(resyncs, status.resyncs, "as the replica counts them");
        assert!(readings.staleness() < STALENESS.as_secs_f64());
    });
}

/// With a timeout longer than the bound, the replica's task is still waiting on Redis when
/// freshness lapses: the state turns stale with time alone, within a heartbeat of the bound.
#[test]
fn a_replica_turns_stale_at_the_bound_while_its_task_still_waits_on_redis() {
    const LONG_TIMEOUT: Duration = Duration::from_secs(4);
    with_readings(|readings| async move {
        let server = RedisServer::start();
        let prefix = unique_prefix();
        let store = config(&server, &prefix)
            .with_timeout(LONG_TIMEOUT)
            .with_local_replica(replica_config())
            .build()
            .await
            .expect("the test server accepts connections");
        assert_eq!(readings.states(), FRESH);

        server.pause();
        let paused = Instant::now();
        assert!(eventually(|| readings.states() == STALE).await);
        let after = paused.elapsed();
        assert!(
            after < LONG_TIMEOUT,
            "stale before the task could give up on Redis: after {after:?}"
        );
        let staleness = readings.staleness();
        assert!(
            staleness >= STALENESS.as_secs_f64(),
            "lapsed by time: the last confirmed sync is at least max_staleness old: {staleness}"
        );
        assert!(!store.replica_status().expect("a replica").fresh);

        server.resume();
        assert!(eventually(|| readings.states() == FRESH).await);
    });
}
