//! `RedisStore` against the store contract: the core conformance suite, on one server (with
//! and without a local replica, and with writes acknowledged by a Redis replica) and on a
//! three-master Redis Cluster, each started by the test harness on free loopback ports.
//!
//! Redis expires keys by its own clock, so the suite runs in real time ([`RealTime`]): the
//! cases that wait for an expiry sleep for a second or two.

use std::sync::Arc;

use jwt_revoke_core::StoreError;
use jwt_revoke_core::conformance::{Harness, RealTime};
use jwt_revoke_redis::test_support::unique_prefix;
use jwt_revoke_redis::{KeyPrefix, RedisStore, RedisStoreConfig, redis};

/// Counts the records under `prefix` on every server in `urls` (every master of a cluster):
/// every key but the data-loss markers (`<prefix>m{…}`), which are no records.
async fn count_keys(urls: Arc<Vec<String>>, prefix: KeyPrefix) -> Result<u64, StoreError> {
    let mut total = 0;
    for url in urls.iter() {
        let client = redis::Client::open(url.as_str()).map_err(StoreError::backend)?;
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .map_err(StoreError::unavailable)?;
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{}*", prefix.as_str()))
                .arg("COUNT")
                .arg(1_000)
                .query_async(&mut connection)
                .await
                .map_err(StoreError::backend)?;
            let marker = format!("{}m{{", prefix.as_str());
            total += keys.iter().filter(|key| !key.starts_with(&marker)).count() as u64;
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    Ok(total)
}

/// The time limit of every call in the suite. Its 100,000-record case runs three times at once
/// here (one server, one server with a replica, a cluster), in a debug build, on a 2-core CI
/// machine: calls there took longer than the default 500 ms (a cluster write, and a check
/// while a replica applied the flood). The suite judges answers, not speed; the outage tests
/// hold the stores to their timeouts.
const SUITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

fn harness(store: RedisStore, urls: Vec<String>) -> Harness {
    let prefix = store.key_prefix().clone();
    let urls = Arc::new(urls);
    Harness::new(Arc::new(store), Arc::new(RealTime))
        .count_records_with(move || count_keys(Arc::clone(&urls), prefix.clone()))
}

mod single_node {
    use super::*;
    use jwt_revoke_redis::test_support::RedisServer;

    async fn new_harness() -> Harness {
        let server = RedisServer::shared();
        let store = RedisStoreConfig::from_url(server.url())
            .with_key_prefix(unique_prefix())
            .with_timeout(SUITE_TIMEOUT)
            .build()
            .await
            .expect("the test server accepts connections");
        harness(store, vec![server.url()])
    }

    jwt_revoke_core::revocation_store_conformance!(new_harness);
}

/// One server, checks answered by the store's local replica.
mod single_node_with_local_replica {
    use super::*;
    use jwt_revoke_redis::ReplicaConfig;
    use jwt_revoke_redis::test_support::RedisServer;

    async fn new_harness() -> Harness {
        let server = RedisServer::shared();
        let store = RedisStoreConfig::from_url(server.url())
            .with_key_prefix(unique_prefix())
            .with_timeout(SUITE_TIMEOUT)
            .with_local_replica(ReplicaConfig::default())
            .build()
            .await
            .expect("the test server accepts connections");
        assert_eq!(
            store.replica_status().map(|status| status.fresh),
            Some(true),
            "the suite runs against the replica"
        );
        harness(store, vec![server.url()])
    }

    jwt_revoke_core::revocation_store_conformance!(new_harness);
}

/// One server whose writes are acknowledged only once its Redis replica holds them (`WAIT`,
/// on a connection of the writes' own).
mod single_node_acknowledged_by_a_replica {
    use super::*;
    use jwt_revoke_redis::test_support::RedisServer;
    use std::sync::OnceLock;

    /// A primary and its replica, shared by the cases of this module.
    fn servers() -> &'static (RedisServer, RedisServer) {
        static SERVERS: OnceLock<(RedisServer, RedisServer)> = OnceLock::new();
        SERVERS.get_or_init(|| {
            let primary = RedisServer::start();
            let replica = RedisServer::start_replica_of(&primary);
            (primary, replica)
        })
    }

    async fn new_harness() -> Harness {
        let (primary, _replica) = servers();
        let store = RedisStoreConfig::from_url(primary.url())
            .with_key_prefix(unique_prefix())
            .with_timeout(SUITE_TIMEOUT)
            .with_acknowledge_after_replicas(1, SUITE_TIMEOUT)
            .build()
            .await
            .expect("the test server accepts connections");
        harness(store, vec![primary.url()])
    }

    jwt_revoke_core::revocation_store_conformance!(new_harness);
}

mod cluster {
    use super::*;
    use jwt_revoke_redis::test_support::RedisCluster;

    async fn new_harness() -> Harness {
        let cluster = RedisCluster::shared();
        let store = RedisStoreConfig::from_cluster_nodes(cluster.node_urls())
            .with_key_prefix(unique_prefix())
            .with_timeout(SUITE_TIMEOUT)
            .build()
            .await
            .expect("the test cluster accepts connections");
        harness(store, cluster.node_urls())
    }

    jwt_revoke_core::revocation_store_conformance!(new_harness);
}
