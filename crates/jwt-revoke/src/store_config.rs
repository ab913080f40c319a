//! [`StoreConfig`]: the revocation store chosen by configuration, built as
//! `Arc<dyn RevocationStore>`.

use std::str::FromStr;
use std::sync::Arc;

use jwt_revoke_core::RevocationStore;
#[cfg(feature = "memory")]
use jwt_revoke_memory::{MemoryStore, MemoryStoreConfig};
#[cfg(feature = "redis")]
use jwt_revoke_redis::{RedisServers, RedisStoreConfig, ReplicaConfig};
use serde::Deserialize;

/// Which store holds the revocations, and its settings: what an operator changes without
/// touching the code.
///
/// Read it with serde from any format, the backend named by `backend`, the other fields
/// being those of the backend's own settings ([`MemoryStoreConfig`],
/// [`RedisStoreConfig`](jwt_revoke_redis::RedisStoreConfig)); or parse it from a URL
/// ([`FromStr`]):
///
/// | URL | serde | store |
/// |---|---|---|
/// | `memory` | `{"backend": "memory", "capacity": 100000}` | the embedded [`MemoryStore`], with a background sweep |
/// | `redis://[user:password@]host[:port][/db]`, `rediss://…` | `{"backend": "redis", "url": "redis://…"}` | one Redis server |
/// | `redis://node-a:7000,redis://node-b:7000` | `{"backend": "redis", "cluster_nodes": ["redis://…", …]}` | a Redis Cluster |
/// | — | `{"backend": "redis", "url": "…", "local_replica": {}}` | one server, with a local replica |
///
/// Each backend is a cargo feature of this crate (`memory`, on by default; `redis`;
/// `redis-tls` for `rediss://`): a configuration naming a backend this build lacks is refused
/// with the feature to enable.
///
/// ```
/// use jwt_revoke::StoreConfig;
///
/// // From a URL, say an environment variable.
/// let config: StoreConfig = "memory".parse().unwrap();
/// assert_eq!(config, StoreConfig::default());
///
/// // From a file (TOML here; JSON, YAML, … alike).
/// let config: StoreConfig = toml::from_str(r#"
///     backend = "memory"
///     capacity = 50000
///     sweep_period = "10s"
/// "#).unwrap();
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = config.build().await.unwrap(); // Arc<dyn RevocationStore>
/// # let _ = store;
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "backend", rename_all = "lowercase")]
#[non_exhaustive]
pub enum StoreConfig {
    /// The embedded store (feature `memory`).
    #[cfg(feature = "memory")]
    Memory(MemoryStoreConfig),
    /// Redis: one server, or a cluster (feature `redis`).
    #[cfg(feature = "redis")]
    Redis(RedisStoreConfig),
}

/// Why a store configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreConfigError {
    /// The URL names no backend.
    #[error(
        "unsupported store URL {0:?}: use `memory`, `redis://host:port`, `rediss://host:port`, \
         or a comma-separated list of node URLs for a Redis Cluster"
    )]
    Unsupported(String),
    /// The configuration names a backend this build does not include.
    #[error("the {backend} store needs the `{feature}` feature of jwt-revoke")]
    NotEnabled {
        /// The backend named.
        backend: &'static str,
        /// The cargo feature that brings it.
        feature: &'static str,
    },
    /// A local replica was asked of a store that is not on one Redis server.
    #[error("a local replica is for a store on one Redis server, not for {0}")]
    ReplicaNotAvailable(&'static str),
    /// The Redis store could not be built (unreachable, refused, misconfigured).
    #[cfg(feature = "redis")]
    #[error("the Redis revocation store could not be built: {0}")]
    Redis(#[from] jwt_revoke_redis::BuildError),
}

#[cfg(feature = "memory")]
impl Default for StoreConfig {
    /// The embedded memory store with its defaults.
    fn default() -> Self {
        StoreConfig::Memory(MemoryStoreConfig::default())
    }
}

impl FromStr for StoreConfig {
    type Err = StoreConfigError;

    /// Parses `memory`, a `redis://` or `rediss://` URL, or a comma-separated list of them (a
    /// Redis Cluster's nodes). Whitespace around the value and around each node is ignored.
    fn from_str(value: &str) -> Result<Self, StoreConfigError> {
        let value = value.trim();
        if value.eq_ignore_ascii_case("memory") {
            return memory_default();
        }
        let urls: Vec<&str> = value.split(',').map(str::trim).collect();
        let is_redis = |url: &&str| {
            let scheme = url.split_once("://").map(|(scheme, _)| scheme);
            matches!(scheme, Some(s) if s.eq_ignore_ascii_case("redis") || s.eq_ignore_ascii_case("rediss"))
                && url.len() > "redis://".len()
        };
        if value.is_empty() || !urls.iter().all(is_redis) {
            let shown: Vec<String> = urls
                .iter()
                .map(|url| crate::redact::hide_credentials(url))
                .collect();
            return Err(StoreConfigError::Unsupported(shown.join(",")));
        }
        redis_from_urls(&urls)
    }
}

#[cfg(feature = "memory")]
fn memory_default() -> Result<StoreConfig, StoreConfigError> {
    Ok(StoreConfig::default())
}

#[cfg(not(feature = "memory"))]
fn memory_default() -> Result<StoreConfig, StoreConfigError> {
    Err(StoreConfigError::NotEnabled {
        backend: "memory",
        feature: "memory",
    })
}

#[cfg(feature = "redis")]
fn redis_from_urls(urls: &[&str]) -> Result<StoreConfig, StoreConfigError> {
    Ok(StoreConfig::Redis(match urls {
        [url] => RedisStoreConfig::from_url(*url),
        nodes => RedisStoreConfig::from_cluster_nodes(nodes.iter().copied()),
    }))
}

#[cfg(not(feature = "redis"))]
fn redis_from_urls(_: &[&str]) -> Result<StoreConfig, StoreConfigError> {
    Err(StoreConfigError::NotEnabled {
        backend: "Redis",
        feature: "redis",
    })
}

impl StoreConfig {
    /// The same configuration with a local replica ([`ReplicaConfig`]): checks answered in
    /// this process, within the replica's staleness bound of every write. Only for a store on
    /// one Redis server.
    #[cfg(feature = "redis")]
    pub fn with_local_replica(self, replica: ReplicaConfig) -> Result<Self, StoreConfigError> {
        match self {
            StoreConfig::Redis(config) if matches!(config.servers, RedisServers::One(_)) => {
                Ok(StoreConfig::Redis(config.with_local_replica(replica)))
            }
            StoreConfig::Redis(_) => Err(StoreConfigError::ReplicaNotAvailable("a Redis Cluster")),
            #[cfg(feature = "memory")]
            StoreConfig::Memory(_) => {
                Err(StoreConfigError::ReplicaNotAvailable("the memory store"))
            }
        }
    }

    /// Builds the store. Call it inside a Tokio runtime: the memory store's background sweep
    /// and Redis connections run on it. A Redis store is connected before this returns (see
    /// [`RedisStoreConfig::build`](jwt_revoke_redis::RedisStoreConfig::build)).
    pub async fn build(&self) -> Result<Arc<dyn RevocationStore>, StoreConfigError> {
        match self {
            #[cfg(feature = "memory")]
            StoreConfig::Memory(config) => {
                let store: Arc<MemoryStore> = Arc::new(config.build());
                store.spawn_sweeper(config.sweep_period).detach();
                Ok(store)
            }
            #[cfg(feature = "redis")]
            StoreConfig::Redis(config) => Ok(Arc::new(config.build().await?)),
        }
    }
}
