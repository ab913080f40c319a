//! Errors: building a store, and turning Redis failures into [`StoreError`]s.

use std::time::Duration;

use jwt_revoke_core::StoreError;
use redis::{ErrorKind, RedisError, ServerErrorKind};

use crate::keys::InvalidKeyPrefix;

/// Why a [`RedisStore`](crate::RedisStore) could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The configuration names no server, or both a URL and cluster nodes.
    #[error("invalid Redis store configuration: {0}")]
    InvalidConfig(&'static str),
    /// The key prefix contains a hash-tag brace.
    #[error(transparent)]
    InvalidKeyPrefix(#[from] InvalidKeyPrefix),
    /// A `rediss://` URL, but the crate was built without its `tls` feature.
    #[error("a rediss:// URL needs jwt-revoke-redis's `tls` feature")]
    TlsNotEnabled,
    /// The URL does not parse, or the server refused or failed the connection.
    #[error("cannot connect to Redis: {0}")]
    Redis(#[from] RedisError),
    /// The first connection did not complete within the connect timeout.
    #[error("Redis did not accept a connection within {0:?}")]
    ConnectTimeout(Duration),
    /// The server accepted a connection but did not answer the eviction-policy check
    /// (`INFO memory`).
    #[error("cannot read the Redis server's maxmemory-policy: {0}")]
    PolicyCheck(#[source] StoreError),
    /// The server may evict keys under memory pressure (`maxmemory-policy` is not
    /// `noeviction`). Every record of this store has a TTL, so every `volatile-*` and
    /// `allkeys-*` policy may drop a live revocation, which resurrects the token. Set
    /// `maxmemory-policy noeviction`, or build with `allow_evicting_server` if you accept that.
    #[error(
        "the Redis server may evict live revocations (maxmemory-policy {policy}); \
         set maxmemory-policy noeviction"
    )]
    EvictingServer {
        /// The server's `maxmemory-policy`.
        policy: String,
    },
    /// The data-loss marker could not be read or written (or holds something unreadable).
    #[error("cannot read or write the Redis data-loss marker: {0}")]
    DataLossMarker(#[source] StoreError),
}

/// A Redis failure as the store contract sees it: unavailable (connection, timeout, cluster
/// or server not ready) or any other failure.
pub(crate) fn store_error(err: RedisError) -> StoreError {
    if is_unavailable(&err) {
        StoreError::unavailable(err)
    } else {
        StoreError::backend(err)
    }
}

/// Whether a Redis error means "the store could not be asked" rather than "it answered with a
/// failure". I/O errors (refused, reset, timed out), a cluster that has lost a slot or a node,
/// and a server still loading its data after a restart are all transient unavailability.
pub(crate) fn is_unavailable(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_timeout()
        || matches!(
            err.kind(),
            ErrorKind::ClusterConnectionNotFound
                | ErrorKind::Server(
                    ServerErrorKind::BusyLoading
                        | ServerErrorKind::ClusterDown
                        | ServerErrorKind::MasterDown
                        | ServerErrorKind::TryAgain
                        | ServerErrorKind::ReadOnly
                )
        )
}

/// A failure to take a connection from a deadpool pool.
pub(crate) fn pool_error(err: deadpool_redis::PoolError) -> StoreError {
    use deadpool_redis::PoolError;
    match err {
        PoolError::Backend(err) => store_error(err),
        PoolError::Timeout(_) | PoolError::Closed => StoreError::unavailable(err),
        PoolError::NoRuntimeSpecified | PoolError::PostCreateHook(_) => StoreError::backend(err),
    }
}

/// A failure to take a connection from a deadpool cluster pool.
pub(crate) fn cluster_pool_error(err: deadpool_redis::cluster::PoolError) -> StoreError {
    use deadpool_redis::cluster::PoolError;
    match err {
        PoolError::Backend(err) => store_error(err),
        PoolError::Timeout(_) | PoolError::Closed => StoreError::unavailable(err),
        PoolError::NoRuntimeSpecified | PoolError::PostCreateHook(_) => StoreError::backend(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_failures_are_unavailable_and_script_errors_are_not() {
        let refused: RedisError =
            std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into();
        assert!(store_error(refused).is_unavailable());
        let reset: RedisError = std::io::Error::from(std::io::ErrorKind::ConnectionReset).into();
        assert!(store_error(reset).is_unavailable());
        let type_error: RedisError = (ErrorKind::UnexpectedReturnType, "not a cut-off").into();
        assert!(!store_error(type_error).is_unavailable());
    }
}
