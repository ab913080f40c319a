//! Where the store's connections come from, and the handle one call uses.
//!
//! Every kind of source ends in a *multiplexed* connection shared by all calls: one socket
//! per server with many requests in flight, which is several times faster than taking a
//! connection per call (see the crate's README for the figures).

use std::sync::{Arc, Mutex, PoisonError};

use jwt_revoke_core::StoreError;
use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};

use crate::error::{cluster_pool_error, pool_error};

/// The store's source of connections.
#[derive(Clone)]
pub(crate) enum Connection {
    /// One server through redis-rs's self-healing multiplexed connection.
    Manager(ConnectionManager),
    /// A Redis Cluster through redis-rs's cluster connection (multiplexed, self-healing).
    Cluster(ClusterConnection),
    /// A user's deadpool pool: one of its connections is shared by every call until it fails.
    Pool(Arc<Pooled>),
}

/// A deadpool pool and the connection currently borrowed from it.
///
/// Taking a pooled connection for each check costs a pool round (and deadpool's recycling
/// `PING`); instead the store clones the multiplexed connection inside one pooled object,
/// returns the object to the pool (whose other users may share it too), and keeps using the
/// clone until a call reports the connection broken. The next call then asks the pool again,
/// which replaces dead connections by itself.
pub(crate) struct Pooled {
    pool: PoolKind,
    current: Mutex<Option<Handle>>,
}

pub(crate) enum PoolKind {
    Single(deadpool_redis::Pool),
    Cluster(deadpool_redis::cluster::Pool),
}

impl Pooled {
    pub(crate) fn new(pool: PoolKind) -> Self {
        Pooled {
            pool,
            current: Mutex::new(None),
        }
    }

    /// The connection in use, if there is one: the path of nearly every call.
    fn current(&self) -> Option<Handle> {
        self.lock().clone()
    }

    /// Borrows a new connection from the pool: the cold path, after a failure or at first.
    async fn connect(&self) -> Result<Handle, StoreError> {
        let handle = match &self.pool {
            PoolKind::Single(pool) => {
                let pooled = pool.get().await.map_err(pool_error)?;
                Handle::Multiplexed(MultiplexedConnection::clone(&pooled))
            }
            PoolKind::Cluster(pool) => {
                let pooled = pool.get().await.map_err(cluster_pool_error)?;
                Handle::Cluster(ClusterConnection::clone(&pooled))
            }
        };
        *self.lock() = Some(handle.clone());
        Ok(handle)
    }

    fn forget(&self) {
        *self.lock() = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Handle>> {
        // Nothing panics while the lock is held, and an `Option` cannot be left half-written.
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Connection {
    /// Whether keys may live on different servers, so that a multi-key command must not span
    /// slots.
    pub(crate) fn is_cluster(&self) -> bool {
        match self {
            Connection::Manager(_) => false,
            Connection::Cluster(_) => true,
            Connection::Pool(pooled) => matches!(pooled.pool, PoolKind::Cluster(_)),
        }
    }

    /// What this is, for `Debug`: never the URL, which may hold a password.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Connection::Manager(_) => "single server (connection manager)",
            Connection::Cluster(_) => "cluster",
            Connection::Pool(pooled) => match pooled.pool {
                PoolKind::Single(_) => "single server (deadpool pool)",
                PoolKind::Cluster(_) => "cluster (deadpool pool)",
            },
        }
    }

    /// A handle for one call: a cheap clone of the shared multiplexed connection.
    pub(crate) async fn handle(&self) -> Result<Handle, StoreError> {
        match self {
            Connection::Manager(manager) => Ok(Handle::Manager(manager.clone())),
            Connection::Cluster(cluster) => Ok(Handle::Cluster(cluster.clone())),
            // The pool's `get` future is several kilobytes: boxing the cold path keeps it out
            // of every check's future (measured: 14 KB moved per call, and 0.75x instead of
            // 0.9x the throughput of a raw MGET, before this).
            Connection::Pool(pooled) => match pooled.current() {
                Some(handle) => Ok(handle),
                None => Box::pin(pooled.connect()).await,
            },
        }
    }

    /// Tells the source that a call failed, so that a broken borrowed connection is replaced.
    /// (redis-rs's own connections reconnect by themselves.)
    pub(crate) fn report(&self, err: &RedisError) {
        if let Connection::Pool(pooled) = self
            && (err.is_unrecoverable_error() || err.is_io_error())
        {
            pooled.forget();
        }
    }
}

/// One call's connection.
#[derive(Clone)]
pub(crate) enum Handle {
    Manager(ConnectionManager),
    Multiplexed(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Handle {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Handle::Manager(con) => con.req_packed_command(cmd),
            Handle::Multiplexed(con) => con.req_packed_command(cmd),
            Handle::Cluster(con) => con.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Handle::Manager(con) => con.req_packed_commands(cmd, offset, count),
            Handle::Multiplexed(con) => con.req_packed_commands(cmd, offset, count),
            Handle::Cluster(con) => con.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Handle::Manager(con) => con.get_db(),
            Handle::Multiplexed(con) => con.get_db(),
            Handle::Cluster(con) => con.get_db(),
        }
    }
}
