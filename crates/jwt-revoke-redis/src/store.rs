//! [`RedisStore`]: the [`RevocationStore`] over Redis.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::FutureExt as _;
use futures_util::future::try_join;
use jwt_revoke_core::{
    CheckReply, Clock, RecordKey, RevocationStore, StoreError, SystemClock, Timestamp, TokenKeys,
};
use redis::aio::ConnectionManager;
use redis::cluster_async::ClusterConnection;
use redis::{ErrorKind, FromRedisValue, RedisError, Value};

use crate::batch::Batcher;
use crate::connection::{Connection, Handle, PoolKind, Pooled};
use crate::error::{BuildError, store_error};
use crate::in_flight::{DEFAULT_MAX_IN_FLIGHT, InFlight};
use crate::keys::KeyPrefix;
use crate::replica::{Replica, ReplicaStatus};
use crate::scripts::{INSERT_TOKEN, RAISE_CUTOFF, REMOVE_TOKEN};

/// The per-call time limit when none is configured.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);

/// The longest TTL written, in milliseconds (about 146 million years): Redis refuses an expiry
/// that overflows its clock, and "forever" must still be a TTL.
const MAX_TTL_MILLIS: i64 = 1 << 62;

/// A [`RevocationStore`] in Redis: one server or a Redis Cluster, shared by every instance of
/// a service, so that a revocation made on one instance holds on all of them.
///
/// - A check reads the token's record, its user's cut-off and its session's cut-off in one
///   round trip (one `MGET` on a single server; on a cluster the session's `GET` is sent
///   concurrently with the `MGET` of the other two, which share a slot). On a single server,
///   checks made at the same time are sent together as one pipeline: one write to Redis for
///   all of them instead of one each.
/// - With a [local replica](crate::RedisStoreConfig::with_local_replica), checks are answered
///   from process memory while the replica is provably current.
/// - Writes are atomic Lua scripts; a cut-off never moves backwards.
/// - Every key has a TTL computed from the store's [`Clock`]: nothing grows forever, and no
///   sweeper is needed.
/// - Every call is bounded by a timeout; failures to reach Redis are
///   [`StoreError::is_unavailable`].
/// - The calls in flight are bounded ([`with_max_in_flight`](Self::with_max_in_flight)): a
///   call counts until Redis has answered it, not only until its caller gave up, and a call
///   beyond the bound fails at once as unavailable. A Redis that hangs costs bounded memory.
///
/// Cloning is cheap: clones share the connection.
#[derive(Clone)]
pub struct RedisStore {
    connection: Connection,
    prefix: KeyPrefix,
    timeout: Duration,
    clock: Arc<dyn Clock>,
    replica: Option<Arc<Replica>>,
    /// Coalesces concurrent checks into pipelines (one server only: a cluster pipeline would
    /// be split by node anyway).
    batcher: Option<Arc<Batcher>>,
    /// The calls in flight, shared by clones.
    in_flight: Arc<InFlight>,
}

impl RedisStore {
    /// Connects to one server (`redis://…`, or `rediss://…` with the `tls` feature) with the
    /// default prefix and timeouts. Credentials and the database go in the URL:
    /// `redis://user:password@host:6379/0`.
    ///
    /// This is the one call a service needs to pick Redis from a setting such as
    /// `REVOCATION_STORE=redis://redis:6379`; wrap the result in an `Arc` to get an
    /// `Arc<dyn RevocationStore>`. For a cluster, a prefix or timeouts, use
    /// [`RedisStoreConfig`](crate::RedisStoreConfig).
    pub async fn connect(url: &str) -> Result<Self, BuildError> {
        crate::RedisStoreConfig::from_url(url).build().await
    }

    /// Connects to a Redis Cluster through any of its nodes, with the default prefix and
    /// timeouts.
    pub async fn connect_cluster<I, S>(nodes: I) -> Result<Self, BuildError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        crate::RedisStoreConfig::from_cluster_nodes(nodes)
            .build()
            .await
    }

    /// A store over a redis-rs [`ConnectionManager`] you have already built (it reconnects by
    /// itself). Set its response timeout no longer than this store's timeout.
    pub fn from_connection_manager(manager: ConnectionManager) -> Self {
        Self::new(Connection::Manager(manager))
    }

    /// A store over a redis-rs cluster connection you have already built.
    pub fn from_cluster_connection(connection: ClusterConnection) -> Self {
        Self::new(Connection::Cluster(connection))
    }

    /// A store that borrows its connection from your deadpool-redis pool.
    ///
    /// The store does not take a pooled connection per call: it shares one pooled multiplexed
    /// connection between all its calls (and returns the object to the pool, so others can
    /// share it too), and asks the pool for another when that one breaks.
    pub fn from_pool(pool: deadpool_redis::Pool) -> Self {
        Self::new(Connection::Pool(Arc::new(Pooled::new(PoolKind::Single(
            pool,
        )))))
    }

    /// A store that borrows its connection from your deadpool-redis cluster pool, like
    /// [`from_pool`](Self::from_pool).
    pub fn from_cluster_pool(pool: deadpool_redis::cluster::Pool) -> Self {
        Self::new(Connection::Pool(Arc::new(Pooled::new(PoolKind::Cluster(
            pool,
        )))))
    }

    pub(crate) fn new(connection: Connection) -> Self {
        let batcher =
            (!connection.is_cluster()).then(|| Arc::new(Batcher::new(connection.clone())));
        RedisStore {
            batcher,
            connection,
            prefix: KeyPrefix::default(),
            timeout: DEFAULT_TIMEOUT,
            clock: Arc::new(SystemClock),
            replica: None,
            in_flight: InFlight::new(DEFAULT_MAX_IN_FLIGHT),
        }
    }

    /// The same store answering checks from a local replica (see
    /// [`ReplicaConfig`](crate::ReplicaConfig)).
    pub(crate) fn with_replica(mut self, replica: Replica) -> Self {
        self.replica = Some(Arc::new(replica));
        self
    }

    pub(crate) fn replica(&self) -> Option<&Replica> {
        self.replica.as_deref()
    }

    /// What the local replica is doing; `None` for a store without one.
    ///
    /// For health endpoints and metrics: `fresh: false` for long means checks are going to
    /// Redis (the replica is reconnecting, or cannot hold every record; the log says which).
    pub fn replica_status(&self) -> Option<ReplicaStatus> {
        self.replica.as_ref().map(|replica| replica.status())
    }

    /// A connection for the replica's own calls.
    pub(crate) async fn direct_handle(&self) -> Result<Handle, StoreError> {
        self.connection.handle().await
    }

    /// Where this store's writes are announced: nowhere on a cluster, where no replica
    /// listens (a cluster-wide `PUBLISH` per revocation would buy nothing).
    fn channel(&self) -> Channel {
        if self.connection.is_cluster() {
            Channel::None
        } else {
            Channel::Prefix(self.prefix.clone())
        }
    }

    /// The same store writing and reading keys under `prefix`.
    pub fn with_key_prefix(mut self, prefix: KeyPrefix) -> Self {
        self.prefix = prefix;
        self
    }

    /// The same store with another per-call time limit (default 500 ms). A call that takes
    /// longer fails with [`StoreError::Timeout`], which counts as unavailable.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The same store computing TTLs from `clock` (give the engine the same clock).
    ///
    /// Redis expires keys by its own clock: a TTL is `expires_at - clock.now()`, rounded up to
    /// the millisecond. A manual clock far from the real time makes records live that much
    /// longer or shorter in real time.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The same store with another bound on the calls in flight (default 4,096; clones made
    /// after this share the new bound).
    ///
    /// A call counts from when it is made until Redis has answered it or the connection has
    /// broken — not merely until its caller stopped waiting, because redis-rs keeps every
    /// command it has written until then. A call made while `max` are in flight fails at once
    /// with [`StoreError::Unavailable`]. Size it above the calls a healthy Redis has in flight
    /// at your peak (requests in flight, about); each costs well under a kilobyte.
    pub fn with_max_in_flight(mut self, max: usize) -> Self {
        self.in_flight = InFlight::new(max);
        self
    }

    /// The bound on the calls in flight, and how many are in flight now: (now, bound).
    pub fn calls_in_flight(&self) -> (usize, usize) {
        (self.in_flight.current(), self.in_flight.max())
    }

    /// The key prefix.
    pub fn key_prefix(&self) -> &KeyPrefix {
        &self.prefix
    }

    /// The per-call time limit.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The servers' `maxmemory-policy` values (one per node on a cluster).
    ///
    /// Anything but `noeviction` lets Redis drop keys with a TTL (all of this store's) under
    /// memory pressure, and a dropped revocation is a resurrected token.
    /// [`RedisStoreConfig::build`](crate::RedisStoreConfig::build) refuses such a server
    /// unless told otherwise; call this yourself when you build a store from a pool or a
    /// connection.
    pub async fn eviction_policies(&self) -> Result<Vec<String>, StoreError> {
        self.bounded(async {
            let mut handle = self.connection.handle().await?;
            let info: Value = redis::cmd("INFO")
                .arg("memory")
                .query_async(&mut handle)
                .await
                .map_err(|err| self.fail(err))?;
            let mut texts = Vec::new();
            collect_text(&info, &mut texts);
            Ok(texts
                .iter()
                .flat_map(|text| text.lines())
                .filter_map(|line| line.strip_prefix("maxmemory_policy:"))
                .map(|policy| policy.trim().to_owned())
                .collect())
        })
        .await
    }

    /// Fails when a server may evict keys.
    pub(crate) async fn ensure_no_eviction(&self) -> Result<(), BuildError> {
        let policies = self
            .eviction_policies()
            .await
            .map_err(BuildError::PolicyCheck)?;
        match policies.into_iter().find(|policy| policy != "noeviction") {
            Some(policy) => Err(BuildError::EvictingServer { policy }),
            None => Ok(()),
        }
    }

    /// Runs one call within the time limit.
    ///
    /// A plain function around `timeout`, not an `async fn` taking the call: that would store
    /// the call's future twice in every check's future.
    fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> impl Future<Output = Result<T, StoreError>> {
        let limit = self.timeout;
        tokio::time::timeout(limit, call)
            .map(move |outcome| outcome.unwrap_or(Err(StoreError::Timeout(limit))))
    }

    fn fail(&self, err: RedisError) -> StoreError {
        self.connection.report(&err);
        store_error(err)
    }

    /// Runs a write within the time limit, holding a permit until it is done or abandoned.
    ///
    /// Unlike a read, a write is dropped at its deadline rather than left to finish: redis-rs
    /// would otherwise send a write that waited for a reconnection after its caller was told
    /// it failed. (One already sent may still be applied when Redis answers: an error always
    /// means "may not have happened", never "did not happen".) Writes are rare, so the entries
    /// redis-rs keeps for abandoned ones stay few.
    fn write<T, F>(&self, call: F) -> impl Future<Output = Result<T, StoreError>> + use<'_, T, F>
    where
        F: Future<Output = Result<T, StoreError>>,
    {
        let permit = self.in_flight.acquire();
        let call = self.bounded(call);
        async move {
            let _permit = permit?;
            call.await
        }
    }

    /// Runs `call` on a task of its own that holds a permit until `call` is done, and waits
    /// for it within the time limit.
    ///
    /// For the reads that do not go through the batcher (a cluster's): a caller that times out
    /// drops its wait, not the read, so that the permit is held for as long as redis-rs holds
    /// the request (see `in_flight.rs`).
    fn detached<T, F>(&self, call: F) -> impl Future<Output = Result<T, StoreError>> + use<T, F>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let permit = self.in_flight.acquire();
        let limit = self.timeout;
        async move {
            let permit = permit?;
            let (answer, answered) = tokio::sync::oneshot::channel();
            tokio::spawn(async move {
                let outcome = call.await;
                drop(permit);
                let _ = answer.send(outcome);
            });
            match tokio::time::timeout(limit, answered).await {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(_)) => Err(StoreError::backend(CallAbandoned)),
                Err(_) => Err(StoreError::Timeout(limit)),
            }
        }
    }

    /// Milliseconds from now until `expires_at`, rounded up so that a record never goes
    /// early; `None` when `expires_at` has passed.
    fn ttl_millis(&self, expires_at: Timestamp) -> Option<i64> {
        let micros = expires_at
            .as_micros()
            .saturating_sub(self.clock.now().as_micros());
        (micros > 0).then(|| (micros / 1_000 + i64::from(micros % 1_000 != 0)).min(MAX_TTL_MILLIS))
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("connection", &self.connection.describe())
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("clock", &self.clock)
            .field("local_replica", &self.replica.is_some())
            .finish()
    }
}

#[async_trait]
impl RevocationStore for RedisStore {
    async fn check(&self, keys: &TokenKeys) -> Result<CheckReply, StoreError> {
        if let Some(reply) = self
            .replica
            .as_ref()
            .and_then(|replica| replica.check(keys))
        {
            return Ok(reply);
        }
        let token_key = self.prefix.token_key(keys);
        let user_key = self.prefix.cutoff_key(&keys.user);
        let session_key = keys.session.map(|session| self.prefix.cutoff_key(&session));
        if let Some(batcher) = &self.batcher {
            let permit = self.in_flight.acquire()?;
            let with_session = session_key.is_some();
            let mut keys = vec![token_key, user_key];
            keys.extend(session_key);
            return self
                .bounded(async {
                    let values = batcher.mget(keys, self.timeout, permit).await?;
                    reply(values, with_session).map_err(store_error)
                })
                .await;
        }
        // A cluster: the token and user records share a slot and are read with one MGET; the
        // session's cut-off lives in another slot and is read concurrently.
        let connection = self.connection.clone();
        self.detached(async move {
            let mut handle = connection.handle().await?;
            let read = async {
                let mut pair = redis::cmd("MGET");
                pair.arg(&token_key).arg(&user_key);
                match &session_key {
                    Some(session_key) => {
                        let mut session = redis::cmd("GET");
                        session.arg(session_key);
                        let mut second = handle.clone();
                        let (pair, session): (Vec<Value>, Value) = try_join(
                            pair.query_async(&mut handle),
                            session.query_async(&mut second),
                        )
                        .await?;
                        reply(pair.into_iter().chain([session]).collect(), true)
                    }
                    None => reply(pair.query_async(&mut handle).await?, false),
                }
            };
            read.await.map_err(|err| fail(&connection, err))
        })
        .await
    }

    async fn insert_token(
        &self,
        keys: &TokenKeys,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let Some(ttl) = self.ttl_millis(expires_at) else {
            return Ok(());
        };
        let token_key = self.prefix.token_key(keys);
        let connection = self.connection.clone();
        let channel = self.channel();
        self.write(async move {
            let mut handle = connection.handle().await?;
            INSERT_TOKEN
                .key(&token_key)
                .arg(ttl)
                .arg(channel_of(&channel, &handle))
                .invoke_async::<()>(&mut handle)
                .await
                .map_err(|err| fail(&connection, err))
        })
        .await?;
        if let Some(replica) = &self.replica {
            replica.wrote_token(keys.token, ttl);
        }
        Ok(())
    }

    async fn remove_token(&self, keys: &TokenKeys) -> Result<bool, StoreError> {
        let token_key = self.prefix.token_key(keys);
        let connection = self.connection.clone();
        let channel = self.channel();
        let removed = self
            .write(async move {
                let mut handle = connection.handle().await?;
                let removed: i64 = REMOVE_TOKEN
                    .key(&token_key)
                    .arg(channel_of(&channel, &handle))
                    .invoke_async(&mut handle)
                    .await
                    .map_err(|err| fail(&connection, err))?;
                Ok(removed > 0)
            })
            .await;
        // Even when the call failed: the deletion may have happened.
        if let Some(replica) = &self.replica {
            replica.deleted_token();
        }
        removed
    }

    async fn raise_cutoff(
        &self,
        key: RecordKey,
        at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<Timestamp, StoreError> {
        let ttl = self.ttl_millis(expires_at).unwrap_or(0);
        let cutoff_key = self.prefix.cutoff_key(&key);
        let connection = self.connection.clone();
        let channel = self.channel();
        let in_force = self
            .write(async move {
                let mut handle = connection.handle().await?;
                let in_force: i64 = RAISE_CUTOFF
                    .key(&cutoff_key)
                    .arg(at.as_micros())
                    .arg(ttl)
                    .arg(channel_of(&channel, &handle))
                    .invoke_async(&mut handle)
                    .await
                    .map_err(|err| fail(&connection, err))?;
                Ok(Timestamp::from_micros(in_force))
            })
            .await?;
        if let Some(replica) = &self.replica {
            // With a TTL of 0 the replica, like Redis, raises a live record and stores nothing
            // new.
            replica.wrote_cutoff(key, in_force, ttl);
        }
        Ok(in_force)
    }
}

/// Tells the connection's source that a call failed, and makes the store's error of it.
fn fail(connection: &Connection, err: RedisError) -> StoreError {
    connection.report(&err);
    store_error(err)
}

/// The change channel of the database `handle` is on, when `channel` says writes are
/// announced (see [`RedisStore::channel`]).
fn channel_of(channel: &Channel, handle: &Handle) -> String {
    match channel {
        Channel::None => String::new(),
        Channel::Prefix(prefix) => prefix.channel(redis::aio::ConnectionLike::get_db(handle)),
    }
}

/// Where a store announces its writes.
enum Channel {
    /// Nowhere (a cluster).
    None,
    /// On the prefix's channel of the connection's database.
    Prefix(KeyPrefix),
}

/// A detached call's task ended without an answer (its runtime shut down).
#[derive(Debug, thiserror::Error)]
#[error("the Redis call's task ended without an answer")]
struct CallAbandoned;

/// A check's answer from the values of the token, user and (when asked) session keys.
fn reply(values: Vec<Value>, with_session: bool) -> Result<CheckReply, RedisError> {
    let mut values = values.into_iter();
    let (Some(token), Some(user)) = (values.next(), values.next()) else {
        return Err(short_reply());
    };
    let session = match (with_session, values.next()) {
        (true, Some(session)) => cutoff(session)?,
        (false, _) => None,
        (true, None) => return Err(short_reply()),
    };
    Ok(CheckReply::new(
        !matches!(token, Value::Nil),
        cutoff(user)?,
        session,
    ))
}

fn cutoff(value: Value) -> Result<Option<Timestamp>, RedisError> {
    Ok(Option::<i64>::from_redis_value(value)?.map(Timestamp::from_micros))
}

fn short_reply() -> RedisError {
    RedisError::from((
        ErrorKind::UnexpectedReturnType,
        "MGET answered fewer values than keys",
    ))
}

/// Every piece of text in a reply: `INFO` on a cluster answers a map of node to text.
fn collect_text(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::BulkString(bytes) => out.push(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(text) => out.push(text.clone()),
        Value::VerbatimString { text, .. } => out.push(text.clone()),
        Value::Array(items) | Value::Set(items) => {
            items.iter().for_each(|item| collect_text(item, out));
        }
        Value::Map(pairs) => pairs.iter().for_each(|(_, item)| collect_text(item, out)),
        _ => {}
    }
}
