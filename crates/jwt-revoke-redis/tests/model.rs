//! `RedisStore` against the reference model of revocation (`conformance::model`): generated
//! sequences of issues, checks, revocations and clock jumps on one server, on a 3-master
//! cluster and with a local replica, and, on a server of their own, restarts with and without
//! persistence and replica disconnects. Every answer is compared with the model's.
//!
//! The test's clock jumps while Redis expires keys in real time, so Redis may keep a record
//! past the instant the test's clock says it expired: the model accepts an answer only such a
//! record explains (`ModelSubject::keeps_records_longer`); the memory store's model test is
//! exact.
//!
//! `MODEL_CASES=2000 cargo test -p jwt-revoke-redis --test model` runs more cases per store
//! than CI's.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use jwt_revoke_core::conformance::model::{Faults, ModelRun, ModelSubject};
use jwt_revoke_core::{Clock, ManualClock, RevocationStore, TokenKeys, UserId};
use jwt_revoke_redis::test_support::{RedisCluster, RedisServer, unique_prefix};
use jwt_revoke_redis::{RedisStore, RedisStoreConfig, ReplicaConfig};

/// Generous: calls here judge answers, not speed, on a loaded 2-core machine.
const TIMEOUT: Duration = Duration::from_secs(2);

fn replica() -> ReplicaConfig {
    ReplicaConfig::default()
        .with_max_staleness(Duration::from_secs(1))
        .with_heartbeat(Duration::from_millis(100))
}

async fn build(config: RedisStoreConfig, clock: ManualClock) -> RedisStore {
    let clock: Arc<dyn Clock> = Arc::new(clock);
    config
        .with_key_prefix(unique_prefix())
        .with_timeout(TIMEOUT)
        .build_with_clock(clock)
        .await
        .expect("the test server accepts connections")
}

#[test]
fn one_server_agrees_with_the_model() {
    ModelRun::new(64).check(|clock| async move {
        let store = build(
            RedisStoreConfig::from_url(RedisServer::shared().url()),
            clock,
        )
        .await;
        ModelSubject::new(Arc::new(store)).keeps_records_longer()
    });
}

#[test]
fn a_cluster_agrees_with_the_model() {
    ModelRun::new(24).check(|clock| async move {
        let nodes = RedisCluster::shared().node_urls();
        let store = build(RedisStoreConfig::from_cluster_nodes(nodes), clock).await;
        ModelSubject::new(Arc::new(store)).keeps_records_longer()
    });
}

#[test]
fn a_store_with_a_local_replica_agrees_with_the_model() {
    ModelRun::new(32).check(|clock| async move {
        let config =
            RedisStoreConfig::from_url(RedisServer::shared().url()).with_local_replica(replica());
        let store = build(config, clock).await;
        ModelSubject::new(Arc::new(store)).keeps_records_longer()
    });
}

/// A server of one sequence's own, restarted and cut off as the model asks.
struct ServerFaults {
    server: Mutex<RedisServer>,
    store: RedisStore,
}

#[async_trait]
impl Faults for ServerFaults {
    async fn restart(&self, persistent: bool) {
        let marker = self.store.key_prefix().marker_key("0");
        let cli = |args: &[&str]| {
            let server = self.server.lock().unwrap_or_else(PoisonError::into_inner);
            server.cli(args)
        };
        tokio::task::block_in_place(|| {
            let mut server = self.server.lock().unwrap_or_else(PoisonError::into_inner);
            if persistent {
                server.crash();
                server.restart();
            } else {
                server.restart_empty();
            }
        });
        if persistent {
            return;
        }
        // The store notices at its next call and records the loss in a new marker: make calls
        // until the marker is back and holds a loss.
        let probe = UserId::new("https://probe.test", "probe").key();
        let keys = TokenKeys::new(probe, probe, None);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let _ = self.store.check(&keys).await;
            let value = tokio::task::block_in_place(|| cli(&["GET", &marker]));
            if value.contains("lost") {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the store did not notice that the server restarted empty (marker: {value:?})"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn disconnect_replica(&self) {
        let server = self.server.lock().unwrap_or_else(PoisonError::into_inner);
        server.cli(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    }
}

#[test]
fn restarts_and_replica_disconnects_agree_with_the_model() {
    ModelRun::new(24).with_faults().check(|clock| async move {
        let server = RedisServer::start_persistent();
        let config = RedisStoreConfig::from_url(server.url()).with_local_replica(replica());
        let store = build(config, clock).await;
        let faults = Arc::new(ServerFaults {
            server: Mutex::new(server),
            store: store.clone(),
        });
        ModelSubject::new(Arc::new(store))
            .keeps_records_longer()
            .with_faults(faults)
    });
}
