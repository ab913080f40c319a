//! [`RedisStore`]: the [`RevocationStore`] over Redis.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::FutureExt as _;
use futures_util::future::{try_join, try_join_all};
use jwt_revoke_core::{
    CheckReply, Clock, RecordKey, RevocationStore, StoreError, SystemClock, Timestamp, TokenKeys,
};
use redis::aio::ConnectionManager;
use redis::cluster_async::ClusterConnection;
use redis::{ErrorKind, FromRedisValue, RedisError, Value};
use tokio::time::Instant;

use crate::batch::{Batcher, deadline_after};
use crate::connection::{Connection, Handle, PoolKind, Pooled};
use crate::data_loss::{
    DataLossReaction, DataLossStatus, Health, MarkersNotRead, Seen, Verdict, Watch,
};
use crate::direct::{Direct, channel_of, non_empty};
use crate::error::{BuildError, store_error};
use crate::guard::{Chores, Guard};
use crate::in_flight::{DEFAULT_MAX_IN_FLIGHT, InFlight};
use crate::keys::KeyPrefix;
use crate::replica::{Replica, ReplicaConfig, ReplicaStatus};
use crate::scripts::{CLEAR_LOSS, INSERT_TOKEN, RAISE_CUTOFF, REMOVE_TOKEN};

/// How often a cluster store reads its data-loss markers, when not configured.
pub(crate) const DEFAULT_LOSS_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// How often a store re-checks the server's `maxmemory-policy`, when not configured.
pub(crate) const DEFAULT_POLICY_CHECK_INTERVAL: Duration = Duration::from_secs(2);

/// `WAIT` after every write: how many Redis replicas must hold it, within how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Acknowledgement {
    pub(crate) replicas: u32,
    pub(crate) timeout: Duration,
}

/// The per-call time limit when none is configured.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);

/// The longest TTL written, in milliseconds (about 146 million years): Redis refuses an expiry
/// that overflows its clock, and "forever" must still be a TTL.
const MAX_TTL_MILLIS: i64 = 1 << 62;

/// A [`RevocationStore`] in Redis: one server or a Redis Cluster, shared by every instance of
/// a service, so that a revocation made on one instance holds on all of them.
///
/// - A check reads the token's record, its user's cut-off, its session's cut-off and the
///   cut-offs of its claim values in one round trip (one `MGET` on a single server; on a
///   cluster a `GET` of each cut-off that lives in a slot of its own, the session's and the
///   claims', is sent concurrently with the `MGET` of the other two, which share a slot). On a single server,
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
/// - A Redis that lost its data (a restart without persistence, `FLUSHALL`, a failover to a
///   replica that missed writes) is noticed through a marker key, and every token issued
///   before the loss was noticed then counts as revoked (or, configured so, every call fails
///   with [`StoreError::DataLoss`]): see [`data_loss_status`](Self::data_loss_status).
/// - The server's `maxmemory-policy` is re-checked every few seconds: while it may evict
///   keys, checks are refused.
///
/// Cloning is cheap: clones share the connection.
#[derive(Clone)]
pub struct RedisStore {
    /// The connection, the key layout, the time limit, the clock, the calls in flight and the
    /// data-loss markers.
    direct: Direct,
    replica: Option<Arc<Replica>>,
    /// Coalesces concurrent checks into pipelines (one server only: a cluster pipeline would
    /// be split by node anyway).
    batcher: Option<Arc<Batcher>>,
    data_loss: DataLossReaction,
    loss_check_interval: Duration,
    /// `None`: the server may evict keys, and that was allowed.
    policy_check_interval: Option<Duration>,
    /// The background task (cluster markers, policy checks); `None` in the task's own store.
    guard: Option<Arc<Guard>>,
    /// `WAIT` after every write, on `writer`.
    acknowledgement: Option<Acknowledgement>,
    /// The connection writes use, when not `connection`: `WAIT` blocks the connection it is
    /// sent on, so writes that wait for replicas get their own.
    writer: Option<Connection>,
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
        let in_flight = InFlight::new(DEFAULT_MAX_IN_FLIGHT);
        let batcher = (!connection.is_cluster())
            .then(|| Arc::new(Batcher::new(connection.clone(), Arc::clone(&in_flight))));
        RedisStore {
            batcher,
            direct: Direct {
                connection,
                prefix: KeyPrefix::default(),
                timeout: DEFAULT_TIMEOUT,
                clock: Arc::new(SystemClock),
                in_flight,
                health: Arc::new(Health::new()),
            },
            replica: None,
            data_loss: DataLossReaction::default(),
            loss_check_interval: DEFAULT_LOSS_CHECK_INTERVAL,
            policy_check_interval: Some(DEFAULT_POLICY_CHECK_INTERVAL),
            guard: Some(Arc::new(Guard::new())),
            acknowledgement: None,
            writer: None,
        }
    }

    /// The same store reacting to a data loss as told (default: a store-wide cut-off).
    pub fn with_data_loss_reaction(mut self, reaction: DataLossReaction) -> Self {
        self.data_loss = reaction;
        self
    }

    /// The same store reading a cluster's data-loss markers this often (default 1 s; one
    /// server reads its marker with every check and ignores this).
    pub fn with_loss_check_interval(mut self, interval: Duration) -> Self {
        self.loss_check_interval = interval.max(Duration::from_millis(1));
        // A background task of its own, on this schedule, over the shared health: a shared
        // task runs the schedule of whichever clone started it.
        self.guard = Some(Arc::new(Guard::new()));
        self
    }

    /// The same store re-checking the server's `maxmemory-policy` this often (default 2 s),
    /// or never (`None`: a server that may evict keys is accepted; see
    /// [`RedisStoreConfig::allow_evicting_server`](crate::RedisStoreConfig::allow_evicting_server)).
    pub fn with_policy_check_interval(mut self, interval: Option<Duration>) -> Self {
        self.policy_check_interval =
            interval.map(|interval| interval.max(Duration::from_millis(1)));
        // As in `with_loss_check_interval`: a task of its own, on this schedule.
        self.guard = Some(Arc::new(Guard::new()));
        self
    }

    /// `WAIT` after every write, on a connection of its own.
    pub(crate) fn with_acknowledgement(
        mut self,
        acknowledgement: Acknowledgement,
        writer: Connection,
    ) -> Self {
        self.acknowledgement = Some(acknowledgement);
        self.writer = Some(writer);
        self
    }

    pub(crate) fn is_cluster(&self) -> bool {
        self.direct.is_cluster()
    }

    /// Redis, as every call of this store reaches it (for the replica and the background
    /// task).
    pub(crate) fn direct(&self) -> &Direct {
        &self.direct
    }

    /// What this store knows of data losses, and whether it refuses to answer.
    ///
    /// For health endpoints and metrics: `losses_noticed > 0` means Redis lost revocations it
    /// had acknowledged since this store was built (each is also logged at error level once).
    pub fn data_loss_status(&self) -> DataLossStatus {
        DataLossStatus {
            reaction: self.data_loss,
            losses_noticed: self.direct.health.losses(),
            cutoff: self.direct.health.cutoff(),
            failing_closed: self.direct.health.refusal(self.data_loss).is_some(),
            evicting_policy: self.direct.health.evicting_policy(),
        }
    }

    /// Clears a recorded data loss, for every store of the deployment: a fail-closed store
    /// answers again. The store-wide cut-off stays in force (every token issued before the
    /// loss is still refused), so clearing never brings a lost revocation back; it says "we
    /// have looked, let the service run". Same as, with `redis-cli`:
    ///
    /// ```text
    /// redis-cli EVAL "local m = redis.call('GET', KEYS[1]) if m then local h, at = string.match(m, '^(%d+ %d+) lost (%-?%d+)$') if h then redis.call('SET', KEYS[1], h .. ' cleared ' .. at) end end return redis.call('GET', KEYS[1])" 1 'jwt-revoke:m{0}'
    /// ```
    ///
    /// (on a cluster, once for each marker: `SCAN 0 MATCH 'jwt-revoke:m{*'` on each master).
    /// Stores read the change with their next check (a cluster's within
    /// `loss_check_interval`).
    pub async fn clear_data_loss(&self) -> Result<(), StoreError> {
        self.direct.place_markers().await?;
        let Some(watches) = self.direct.health.watches() else {
            return Ok(());
        };
        for watch in watches {
            let marker: String = self
                .direct
                .bounded(async {
                    let mut handle = self.direct.connection.handle().await?;
                    let channel = channel_of(&self.direct.channel(), &handle);
                    CLEAR_LOSS
                        .key(watch.key())
                        .arg(channel)
                        .invoke_async(&mut handle)
                        .await
                        .map_err(|err| self.direct.fail(err))
                })
                .await?;
            tracing::warn!(
                marker = watch.key(),
                "a data loss was cleared by an operator"
            );
            self.direct
                .settle(watch, non_empty(marker.into_bytes()), None)
                .await?;
        }
        Ok(())
    }

    /// The markers were read now (at build: the first round).
    pub(crate) fn mark_markers_read(&self) {
        self.direct.health.round_done();
    }

    /// The answer of a check, once its records are read: the store-wide cut-off added, or a
    /// refusal while a loss is not cleared (fail-closed).
    fn finish(&self, reply: CheckReply) -> Result<CheckReply, StoreError> {
        if let Some(refusal) = self.direct.health.refusal(self.data_loss) {
            return Err(refusal);
        }
        Ok(reply.with_store_cutoff(self.direct.health.cutoff()))
    }

    /// After a write Redis confirmed: acts on the marker it returned (one server) and fails
    /// when the store refuses to answer (a loss not cleared, fail-closed; an evicting server).
    /// The write has happened either way; the error tells the caller not to count on it.
    /// Within the write's `deadline`, as the write itself.
    async fn after_write(
        &self,
        deadline: Instant,
        marker: Option<(&Watch, Seen, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        if let Some((watch, before, value)) = marker {
            let settle = self.direct.settle(watch, non_empty(value), Some(before));
            tokio::time::timeout_at(deadline, settle)
                .await
                .unwrap_or(Err(StoreError::Timeout(self.write_timeout())))?;
        }
        if let Some(refusal) = self.direct.health.refusal(self.data_loss) {
            return Err(refusal);
        }
        if let Some(evicting) = self.direct.health.evicting() {
            return Err(evicting);
        }
        Ok(())
    }

    /// Starts the background task (at build; checks start it too, should it have stopped).
    pub(crate) fn start_guard(&self) {
        self.ensure_guard();
    }

    /// Starts the background task if this store needs one and it does not run.
    fn ensure_guard(&self) {
        if let Some(guard) = &self.guard {
            guard.ensure_running(|| {
                let markers = self.direct.is_cluster().then_some(self.loss_check_interval);
                (markers.is_some() || self.policy_check_interval.is_some()).then(|| Chores {
                    direct: self.direct.clone(),
                    markers,
                    policy: self.policy_check_interval,
                })
            });
        }
    }

    /// The longest a cluster store answers without a complete round of its markers: past it,
    /// a loss could go unnoticed for longer than stated, so checks fail as unavailable.
    fn markers_stale_after(&self) -> Duration {
        // Saturating: any durations may be configured.
        (self.loss_check_interval.saturating_add(self.direct.timeout))
            .saturating_mul(2)
            .saturating_add(self.direct.timeout)
    }

    /// The same store answering checks from a local replica: every record of the prefix in
    /// process memory, kept current through Redis pub/sub, answering while it can prove it is
    /// no more than [`max_staleness`](ReplicaConfig::max_staleness) behind (see
    /// [`ReplicaConfig`]). For any store on one server, however it was built: from a URL, a
    /// deadpool pool or a connection manager. `client` makes the replica's subscription, which
    /// needs a connection of its own: give it the store's server.
    ///
    /// The replica starts at once, on the current Tokio runtime; checks go to Redis until it
    /// holds a complete copy and its first heartbeat has come back
    /// ([`wait_for_local_replica`](Self::wait_for_local_replica)). Fails on a cluster (writes
    /// are not announced there), with settings that cannot work, and outside a Tokio runtime.
    ///
    /// ```no_run
    /// # async fn example(pool: jwt_revoke_redis::deadpool_redis::Pool) -> Result<(), jwt_revoke_redis::BuildError> {
    /// use jwt_revoke_redis::{RedisStore, ReplicaConfig, redis};
    ///
    /// let store = RedisStore::from_pool(pool)
    ///     .with_local_replica(redis::Client::open("redis://redis.internal:6379")?, ReplicaConfig::default())?;
    /// store.wait_for_local_replica(std::time::Duration::from_secs(5)).await;
    /// # Ok(()) }
    /// ```
    pub fn with_local_replica(
        mut self,
        client: redis::Client,
        config: ReplicaConfig,
    ) -> Result<Self, BuildError> {
        if self.is_cluster() {
            return Err(BuildError::InvalidConfig(
                "a local replica needs one Redis server: a cluster's writes are not announced",
            ));
        }
        config.validate().map_err(BuildError::InvalidConfig)?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(BuildError::InvalidConfig(
                "a local replica runs a task: call with_local_replica within a Tokio runtime",
            ));
        }
        let replica = Replica::start(client, self.direct.clone(), config);
        self.replica = Some(Arc::new(replica));
        Ok(self)
    }

    /// Waits until the local replica answers checks (it holds a complete copy and a heartbeat
    /// came back), for at most `within`; whether it does. `false` at once without a replica.
    pub async fn wait_for_local_replica(&self, within: Duration) -> bool {
        match &self.replica {
            Some(replica) => replica.wait_fresh(within).await,
            None => false,
        }
    }

    /// What the local replica is doing; `None` for a store without one.
    ///
    /// For health endpoints and metrics: `fresh: false` for long means checks are going to
    /// Redis (the replica is reconnecting, or cannot hold every record; the log says which).
    pub fn replica_status(&self) -> Option<ReplicaStatus> {
        self.replica.as_ref().map(|replica| replica.status())
    }

    /// The same store writing and reading keys under `prefix`.
    ///
    /// A local replica is not carried over: it holds the old prefix's records and hears only
    /// the old prefix's changes, so this store reads Redis until one is attached for the new
    /// prefix ([`with_local_replica`](Self::with_local_replica); choose the prefix first).
    pub fn with_key_prefix(mut self, prefix: KeyPrefix) -> Self {
        if prefix == self.direct.prefix {
            // The same markers, records and replica: what this store knows of them stays.
            return self;
        }
        if self.replica.take().is_some() {
            tracing::warn!(
                prefix = prefix.as_str(),
                "a store with a local replica moved to another key prefix: the replica stays \
                 with the old prefix, and this store reads Redis"
            );
        }
        self.direct.prefix = prefix;
        // The markers are the prefix's; what the server may evict is the server's, and stays
        // known (the new health's own task re-reads it from then on).
        let health = Health::new();
        if let Some(policy) = self.direct.health.evicting_policy() {
            health.set_evicting(Some(policy));
        }
        self.direct.health = Arc::new(health);
        // A background task of its own, over its own health: the original's keeps the old.
        self.guard = Some(Arc::new(Guard::new()));
        self
    }

    /// The same store with another per-call time limit (default 500 ms). A call that takes
    /// longer fails with [`StoreError::Timeout`], which counts as unavailable.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.direct.timeout = timeout;
        self
    }

    /// The same store computing TTLs from `clock` (give the engine the same clock).
    ///
    /// Redis expires keys by its own clock: a TTL is `expires_at - clock.now()`, rounded up to
    /// the millisecond. A manual clock far from the real time makes records live that much
    /// longer or shorter in real time.
    ///
    /// It changes this handle (and the clones made from it) only: the parts a
    /// [`RedisStoreConfig`](crate::RedisStoreConfig) started when it built the store (a local
    /// replica, a cluster's marker checks) keep the clock they were built with; use
    /// [`RedisStoreConfig::build_with_clock`](crate::RedisStoreConfig::build_with_clock).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.direct.clock = clock;
        self
    }

    /// The same store with another bound on the calls in flight (default 4,096; shared with
    /// this store's clones, which the new bound applies to as well).
    ///
    /// A call counts from when it is made until Redis has answered it or the connection has
    /// broken — not merely until its caller stopped waiting, because redis-rs keeps every
    /// command it has written until then. A call made while `max` are in flight fails at once
    /// with [`StoreError::Unavailable`]. Size it above the calls a healthy Redis has in flight
    /// at your peak (requests in flight, about); each costs well under a kilobyte.
    pub fn with_max_in_flight(self, max: usize) -> Self {
        self.direct.in_flight.set_max(max);
        self
    }

    /// The bound on the calls in flight, and how many are in flight now: (now, bound).
    pub fn calls_in_flight(&self) -> (usize, usize) {
        (self.direct.in_flight.current(), self.direct.in_flight.max())
    }

    /// The key prefix.
    pub fn key_prefix(&self) -> &KeyPrefix {
        &self.direct.prefix
    }

    /// The per-call time limit.
    pub fn timeout(&self) -> Duration {
        self.direct.timeout
    }

    /// The servers' `maxmemory-policy` values (one per node on a cluster).
    ///
    /// Anything but `noeviction` lets Redis drop keys with a TTL (all of this store's) under
    /// memory pressure, and a dropped revocation is a resurrected token.
    /// [`RedisStoreConfig::build`](crate::RedisStoreConfig::build) refuses such a server
    /// unless told otherwise; call this yourself when you build a store from a pool or a
    /// connection.
    pub async fn eviction_policies(&self) -> Result<Vec<String>, StoreError> {
        self.direct.eviction_policies().await
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

    /// A write's limit: the per-call timeout, plus the wait for replicas when there is one.
    fn write_timeout(&self) -> Duration {
        self.direct.timeout.saturating_add(
            self.acknowledgement
                .map_or(Duration::ZERO, |acknowledgement| acknowledgement.timeout),
        )
    }

    /// Runs a write within the time limit, holding a permit until it is done or abandoned.
    ///
    /// Unlike a read, a write is dropped at its deadline rather than left to finish: redis-rs
    /// would otherwise send a write that waited for a reconnection after its caller was told
    /// it failed. (One already sent may still be applied when Redis answers: an error always
    /// means "may not have happened", never "did not happen".) Writes are rare, so the entries
    /// redis-rs keeps for abandoned ones stay few.
    fn write<T, F>(
        &self,
        deadline: Instant,
        call: F,
    ) -> impl Future<Output = Result<T, StoreError>> + use<'_, T, F>
    where
        F: Future<Output = Result<T, StoreError>>,
    {
        let permit = self.direct.in_flight.acquire();
        let limit = self.write_timeout();
        let call = tokio::time::timeout_at(deadline, call)
            .map(move |outcome| outcome.unwrap_or(Err(StoreError::Timeout(limit))));
        async move {
            let _permit = permit?;
            call.await
        }
    }

    /// The connection of writes.
    fn writer(&self) -> &Connection {
        self.writer.as_ref().unwrap_or(&self.direct.connection)
    }

    /// `WAIT`s for the configured replicas after a write on `handle`; fails when fewer
    /// acknowledged it in time.
    async fn wait_for_replicas(&self, handle: &mut Handle) -> Result<(), StoreError> {
        let Some(Acknowledgement { replicas, timeout }) = self.acknowledgement else {
            return Ok(());
        };
        // Redis reads it as a signed 64-bit count of milliseconds to add to its clock, and
        // takes 0 for "forever": at least 1, at most about 30 years.
        const LONGEST: u64 = 30 * 365 * 86_400_000;
        let millis = u64::try_from(timeout.as_millis())
            .unwrap_or(u64::MAX)
            .clamp(1, LONGEST);
        let acknowledged: i64 = redis::cmd("WAIT")
            .arg(replicas)
            .arg(millis)
            .query_async(handle)
            .await
            .map_err(|err| fail(self.writer(), err))?;
        if acknowledged < i64::from(replicas) {
            return Err(StoreError::unavailable(NotReplicated {
                asked: replicas,
                acknowledged,
                timeout,
            }));
        }
        Ok(())
    }

    /// Runs `call` on a task of its own that holds a permit until `call` is done, and waits
    /// for it until `deadline`.
    ///
    /// For the reads that do not go through the batcher (a cluster's): a caller that times out
    /// drops its wait, not the read, so that the permit is held for as long as redis-rs holds
    /// the request (see `in_flight.rs`).
    fn detached<T, F>(
        &self,
        deadline: Instant,
        call: F,
    ) -> impl Future<Output = Result<T, StoreError>> + use<T, F>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let permit = self.direct.in_flight.acquire();
        let limit = self.direct.timeout;
        async move {
            let permit = permit?;
            let (answer, answered) = tokio::sync::oneshot::channel();
            tokio::spawn(async move {
                let outcome = call.await;
                drop(permit);
                let _ = answer.send(outcome);
            });
            match tokio::time::timeout_at(deadline, answered).await {
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
            .saturating_sub(self.direct.clock.now().as_micros());
        (micros > 0).then(|| (micros / 1_000 + i64::from(micros % 1_000 != 0)).min(MAX_TTL_MILLIS))
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("connection", &self.direct.connection.describe())
            .field("prefix", &self.direct.prefix)
            .field("timeout", &self.direct.timeout)
            .field("clock", &self.direct.clock)
            .field("local_replica", &self.replica.is_some())
            .finish()
    }
}

#[async_trait]
impl RevocationStore for RedisStore {
    /// Every call is bounded by the store's timeout (writes also by the wait for replicas):
    /// the engine's limit follows from it.
    fn call_timeout(&self) -> Option<Duration> {
        Some(self.write_timeout())
    }

    /// `redis`, for one server and a cluster alike.
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn check(&self, keys: &TokenKeys) -> Result<CheckReply, StoreError> {
        self.ensure_guard();
        if let Some(evicting) = self.direct.health.evicting() {
            return Err(evicting);
        }
        if let Some(reply) = self
            .replica
            .as_ref()
            .and_then(|replica| replica.check(keys))
        {
            return self.finish(reply);
        }
        let token_key = self.direct.prefix.token_key(keys);
        let user_key = self.direct.prefix.cutoff_key(&keys.user);
        let session_key = keys
            .session
            .map(|session| self.direct.prefix.cutoff_key(&session));
        let with_session = session_key.is_some();
        let claims = keys.claims.len();
        let claim_keys = keys
            .claims
            .as_slice()
            .iter()
            .map(|claim| self.direct.prefix.cutoff_key(claim));
        if let Some(batcher) = &self.batcher {
            // One server: the marker rides in the same MGET, so a loss is noticed by the
            // first check that follows it, at no extra round trip.
            let watch = self.direct.single_watch();
            let before = watch.seen();
            let mut keys = Vec::with_capacity(3 + claims);
            keys.extend([token_key, user_key]);
            keys.extend(session_key);
            keys.extend(claim_keys);
            // One deadline for the whole check, the marker's settling included.
            let timeout = self.direct.timeout;
            let deadline = crate::batch::deadline_after(timeout);
            let answer = batcher
                .mget(keys, watch.shared_key(), timeout, deadline)
                .await?;
            let reply = reply(answer.values, with_session, claims).map_err(store_error)?;
            let marker = answer.marker;
            // The common case (nothing to write) inline; the rest boxed, so that its future
            // does not make every check's larger, and bounded on its own.
            match self
                .direct
                .health
                .observe(watch, marker.as_deref(), Some(before))
            {
                Verdict::Known => {}
                _ => {
                    let marker = marker.map(|marker| marker.to_vec());
                    let settle = self.direct.settle(watch, marker, Some(before));
                    Box::pin(tokio::time::timeout_at(deadline, settle))
                        .await
                        .unwrap_or(Err(StoreError::Timeout(timeout)))?;
                }
            }
            return self.finish(reply);
        }
        // A cluster: the token and user records share a slot and are read with one MGET; the
        // session's and the claim values' cut-offs live in slots of their own and are read
        // concurrently, each with a GET: one round trip of waiting. The markers are read by
        // the background task.
        let others: Vec<String> = session_key.into_iter().chain(claim_keys).collect();
        let connection = self.direct.connection.clone();
        // One deadline for the read and, should it be needed, a round of the markers.
        let timeout = self.direct.timeout;
        let deadline = deadline_after(timeout);
        let reply = self
            .detached(deadline, async move {
                let mut handle = connection.handle().await?;
                let read = async {
                    let mut pair = redis::cmd("MGET");
                    pair.arg(&token_key).arg(&user_key);
                    if others.is_empty() {
                        return reply(pair.query_async(&mut handle).await?, false, 0);
                    }
                    let gets = others.iter().map(|key| {
                        let mut get = redis::cmd("GET");
                        get.arg(key);
                        let mut connection = handle.clone();
                        async move { get.query_async::<Value>(&mut connection).await }
                    });
                    let (pair, rest): (Vec<Value>, Vec<Value>) =
                        try_join(pair.query_async(&mut handle.clone()), try_join_all(gets)).await?;
                    reply(pair.into_iter().chain(rest).collect(), with_session, claims)
                };
                read.await.map_err(|err| fail(&connection, err))
            })
            .await?;
        let stale =
            |since: Option<Duration>| since.is_none_or(|since| since > self.markers_stale_after());
        if stale(self.direct.health.since_round()) {
            // The background task has not read the markers lately (it was just started, or
            // is starved): read them now rather than answer without them.
            tokio::time::timeout_at(deadline, self.direct.read_cluster_markers())
                .await
                .map_err(|_| StoreError::Timeout(timeout))?;
            let since = self.direct.health.since_round();
            if stale(since) {
                return Err(StoreError::unavailable(MarkersNotRead(since)));
            }
        }
        self.finish(reply)
    }

    async fn insert_token(
        &self,
        keys: &TokenKeys,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let Some(ttl) = self.ttl_millis(expires_at) else {
            return Ok(());
        };
        // One deadline for the write, the wait for replicas and the marker's settling.
        let deadline = deadline_after(self.write_timeout());
        let token_key = self.direct.prefix.token_key(keys);
        let watch = (!self.direct.is_cluster()).then(|| self.direct.single_watch());
        let before = watch.map(Watch::seen);
        let marker = self
            .write(deadline, async {
                let mut handle = self.writer().handle().await?;
                let mut call = INSERT_TOKEN.key(&token_key);
                if let Some(watch) = watch {
                    call.key(watch.key());
                }
                let (_, marker): (i64, Vec<u8>) = call
                    .arg(ttl)
                    .arg(channel_of(&self.direct.channel(), &handle))
                    .invoke_async(&mut handle)
                    .await
                    .map_err(|err| self.direct.fail(err))?;
                self.wait_for_replicas(&mut handle).await?;
                Ok(marker)
            })
            .await?;
        if let Some(replica) = &self.replica {
            replica.wrote_token(keys.token, ttl);
        }
        self.after_write(
            deadline,
            watch
                .zip(before)
                .map(|(watch, before)| (watch, before, marker)),
        )
        .await
    }

    async fn remove_token(&self, keys: &TokenKeys) -> Result<bool, StoreError> {
        let deadline = deadline_after(self.write_timeout());
        let token_key = self.direct.prefix.token_key(keys);
        let watch = (!self.direct.is_cluster()).then(|| self.direct.single_watch());
        let before = watch.map(Watch::seen);
        let removed = self
            .write(deadline, async {
                let mut handle = self.writer().handle().await?;
                let mut call = REMOVE_TOKEN.key(&token_key);
                if let Some(watch) = watch {
                    call.key(watch.key());
                }
                let (removed, marker): (i64, Vec<u8>) = call
                    .arg(channel_of(&self.direct.channel(), &handle))
                    .invoke_async(&mut handle)
                    .await
                    .map_err(|err| self.direct.fail(err))?;
                self.wait_for_replicas(&mut handle).await?;
                Ok((removed > 0, marker))
            })
            .await;
        // Even when the call failed: the deletion may have happened.
        if let Some(replica) = &self.replica {
            replica.deleted_token();
        }
        let (removed, marker) = removed?;
        self.after_write(
            deadline,
            watch
                .zip(before)
                .map(|(watch, before)| (watch, before, marker)),
        )
        .await?;
        Ok(removed)
    }

    async fn raise_cutoff(
        &self,
        key: RecordKey,
        at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<Timestamp, StoreError> {
        let ttl = self.ttl_millis(expires_at).unwrap_or(0);
        let deadline = deadline_after(self.write_timeout());
        let cutoff_key = self.direct.prefix.cutoff_key(&key);
        let watch = (!self.direct.is_cluster()).then(|| self.direct.single_watch());
        let before = watch.map(Watch::seen);
        let (in_force, marker) = self
            .write(deadline, async {
                let mut handle = self.writer().handle().await?;
                let mut call = RAISE_CUTOFF.key(&cutoff_key);
                if let Some(watch) = watch {
                    call.key(watch.key());
                }
                let (in_force, marker): (i64, Vec<u8>) = call
                    .arg(at.as_micros())
                    .arg(ttl)
                    .arg(channel_of(&self.direct.channel(), &handle))
                    .invoke_async(&mut handle)
                    .await
                    .map_err(|err| self.direct.fail(err))?;
                self.wait_for_replicas(&mut handle).await?;
                Ok((Timestamp::from_micros(in_force), marker))
            })
            .await?;
        if let Some(replica) = &self.replica {
            // With a TTL of 0 the replica, like Redis, raises a live record and stores nothing
            // new.
            replica.wrote_cutoff(key, in_force, ttl);
        }
        self.after_write(
            deadline,
            watch
                .zip(before)
                .map(|(watch, before)| (watch, before, marker)),
        )
        .await?;
        Ok(in_force)
    }
}

/// Redis acknowledged fewer replicas than asked for a write (`WAIT`).
#[derive(Debug, thiserror::Error)]
#[error(
    "the write reached {acknowledged} Redis replica(s) within {timeout:?}, {asked} required; it \
     may be lost in a failover"
)]
struct NotReplicated {
    asked: u32,
    acknowledged: i64,
    timeout: Duration,
}

/// Tells the connection's source that a call failed, and makes the store's error of it.
fn fail(connection: &Connection, err: RedisError) -> StoreError {
    connection.report(&err);
    store_error(err)
}

/// A detached call's task ended without an answer (its runtime shut down).
#[derive(Debug, thiserror::Error)]
#[error("the Redis call's task ended without an answer")]
struct CallAbandoned;

/// A check's answer from the values of the token, user, (when asked) session and `claims`
/// claim keys, in that order, and the marker's value after them when asked.
fn reply(values: Vec<Value>, with_session: bool, claims: usize) -> Result<CheckReply, RedisError> {
    let expected = 2 + usize::from(with_session) + claims;
    if values.len() != expected {
        return Err(short_reply());
    }
    let mut values = values.into_iter();
    let mut next = || values.next().ok_or_else(short_reply);
    let token_listed = !matches!(next()?, Value::Nil);
    let user = cutoff(next()?)?;
    let session = if with_session { cutoff(next()?)? } else { None };
    let mut claim_cutoff = None;
    for _ in 0..claims {
        claim_cutoff = claim_cutoff.max(cutoff(next()?)?);
    }
    Ok(CheckReply::new(token_listed, user, session).with_claim_cutoff(claim_cutoff))
}

fn cutoff(value: Value) -> Result<Option<Timestamp>, RedisError> {
    Ok(Option::<i64>::from_redis_value(value)?.map(Timestamp::from_micros))
}

fn short_reply() -> RedisError {
    RedisError::from((
        ErrorKind::UnexpectedReturnType,
        "MGET answered another number of values than it was given keys",
    ))
}
