//! Choosing the revocation store by configuration: the application code never changes.

use std::sync::Arc;
use std::time::Duration;

use jwt_revoke_core::RevocationStore;
use jwt_revoke_memory::MemoryStore;
use jwt_revoke_redis::{RedisStoreConfig, ReplicaConfig};

/// How often the demo's memory store frees expired records in the background.
const SWEEP_PERIOD: Duration = Duration::from_secs(30);

/// Why a store could not be built from its configuration value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreConfigError {
    /// The value names no backend this build knows.
    #[error(
        "unsupported REVOCATION_STORE value {0:?}: use `memory`, `redis://host:port`, \
         `rediss://host:port`, or a comma-separated list of node URLs for a Redis Cluster"
    )]
    Unsupported(String),
    /// The Redis store could not be built (unreachable, refused, misconfigured).
    #[error("the Redis revocation store could not be built: {0}")]
    Redis(#[from] jwt_revoke_redis::BuildError),
    /// A local replica was asked for a store that is not on Redis.
    #[error("a local replica (REVOCATION_LOCAL_REPLICA) is for a Redis store, not {0:?}")]
    ReplicaWithoutRedis(String),
}

/// Builds a store from a configuration value:
///
/// | value | store |
/// |---|---|
/// | `memory` (or empty) | the embedded [`MemoryStore`], with a background sweeper |
/// | `redis://[user:password@]host[:port][/db]`, `rediss://…` | one Redis server |
/// | `redis://node-a:7000,redis://node-b:7000` | a Redis Cluster reached through these nodes |
///
/// With `local_replica`, a single Redis server's store also keeps a local replica
/// ([`ReplicaConfig::default`]): checks at memory speed, within 500 ms of every write.
///
/// Must be called inside a Tokio runtime (the sweeper and Redis connections run on it).
pub async fn store_from_config(
    value: &str,
    local_replica: bool,
) -> Result<Arc<dyn RevocationStore>, StoreConfigError> {
    let value = value.trim();
    if value.is_empty() || value.eq_ignore_ascii_case("memory") {
        if local_replica {
            return Err(StoreConfigError::ReplicaWithoutRedis(value.to_owned()));
        }
        let store = Arc::new(MemoryStore::new());
        store.spawn_sweeper(SWEEP_PERIOD).detach();
        return Ok(store);
    }
    let urls: Vec<&str> = value.split(',').map(str::trim).collect();
    if !urls
        .iter()
        .all(|url| url.starts_with("redis://") || url.starts_with("rediss://"))
    {
        return Err(StoreConfigError::Unsupported(value.to_owned()));
    }
    let mut config = match urls.as_slice() {
        [url] => RedisStoreConfig::from_url(*url),
        nodes => RedisStoreConfig::from_cluster_nodes(nodes.iter().copied()),
    };
    if local_replica {
        config = config.with_local_replica(ReplicaConfig::default());
    }
    Ok(Arc::new(config.build().await?))
}
