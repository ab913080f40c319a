//! The state of a store, as `jwt-revoke status` reports it: reachable or not, its kind, its
//! records, its data-loss marker, its replica settings.

use std::sync::Arc;
use std::time::Instant;

use jwt_revoke_core::{RecordKey, RevocationStore, TokenKeys};
use serde::Serialize;

use super::Moment;
use crate::{StoreConfig, StoreConfigError};

/// Which kind of store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StoreKind {
    /// The embedded memory store: each process has its own.
    Memory,
    /// One Redis server.
    Redis,
    /// A Redis Cluster.
    RedisCluster,
}

impl StoreKind {
    /// Whether the records are seen by every process using the same settings (Redis), or
    /// only by the process holding the store (memory): an operator's tool writing to a memory
    /// store of its own revokes nothing anywhere else.
    pub fn is_shared(self) -> bool {
        !matches!(self, StoreKind::Memory)
    }
}

/// A store opened by an operator's tool: the store the engine takes, and what a status
/// report needs of it.
#[derive(Debug, Clone)]
pub struct OperatorStore {
    config: StoreConfig,
    store: Arc<dyn RevocationStore>,
    #[cfg(feature = "redis")]
    redis: Option<crate::redis::RedisStore>,
}

impl OperatorStore {
    /// Builds the store `config` describes, as [`StoreConfig::build`] does, except that a
    /// Redis store's local replica is left out: an operator's reads go to Redis itself, and
    /// one command does not copy every record first. (The replica's settings are still
    /// reported by [`status`](Self::status).)
    pub async fn open(config: &StoreConfig) -> Result<Self, StoreConfigError> {
        match config {
            #[cfg(feature = "redis")]
            StoreConfig::Redis(redis) => {
                let mut direct = redis.clone();
                direct.local_replica = None;
                let store = direct.build().await?;
                Ok(OperatorStore {
                    config: config.clone(),
                    store: Arc::new(store.clone()),
                    redis: Some(store),
                })
            }
            #[allow(unreachable_patterns)]
            _ => Ok(OperatorStore {
                config: config.clone(),
                store: config.build().await?,
                #[cfg(feature = "redis")]
                redis: None,
            }),
        }
    }

    /// The store, for [`Revocations::new`](crate::Revocations::new).
    pub fn store(&self) -> Arc<dyn RevocationStore> {
        Arc::clone(&self.store)
    }

    /// The settings it was opened with.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Which kind of store it is.
    pub fn kind(&self) -> StoreKind {
        kind_of(&self.config)
    }

    /// The Redis store, when it is one.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn redis(&self) -> Option<&crate::redis::RedisStore> {
        self.redis.as_ref()
    }

    /// On one Redis server: whether no store has ever written a record under this store's
    /// key prefix (its data-loss marker counts every write: `<epoch> 0 ok`). A revocation
    /// written there is read by no service that uses another prefix or database, so an
    /// operator's tool warns before writing the first one. `None` when it cannot tell (a
    /// cluster, whose markers are per slot range; a memory store; an error).
    pub async fn never_written(&self) -> Option<bool> {
        #[cfg(feature = "redis")]
        if let (Some(store), StoreConfig::Redis(config)) = (&self.redis, &self.config) {
            return redis_status::never_written(store, config).await;
        }
        None
    }

    /// Asks the store one check (which, on one Redis server, also reads the data-loss marker)
    /// and reports what it can tell. Never fails: what went wrong is in the report. The
    /// Redis store bounds its calls itself; the memory store answers at once.
    pub async fn status(&self) -> StoreStatus {
        let mut status = StoreStatus::new(&self.config);
        let probe = TokenKeys::new(
            RecordKey::from_bytes([0; 32]),
            RecordKey::from_bytes([0; 32]),
            None,
        );
        let started = Instant::now();
        match self.store.check(&probe).await {
            Ok(_) => {
                status.reachable = true;
                status.round_trip_ms = Some(started.elapsed().as_secs_f64() * 1e3);
            }
            Err(err) => {
                status.reachable = !err.is_unavailable();
                status.error = Some(crate::redact::hide_quoted_credentials(&err.to_string()));
            }
        }
        if let Some(usage) = self.store.usage() {
            status.records = Some(RecordCounts {
                total: usage.records,
                tokens: None,
                cutoffs: None,
                capacity: usage.capacity,
                complete: true,
            });
        }
        #[cfg(feature = "redis")]
        if let (Some(store), StoreConfig::Redis(config)) = (&self.redis, &self.config) {
            redis_status::fill(&mut status, store, config).await;
        }
        status
    }
}

/// The kind of store `config` describes.
pub fn kind_of(config: &StoreConfig) -> StoreKind {
    match config {
        #[cfg(feature = "redis")]
        StoreConfig::Redis(redis) => match redis.servers {
            crate::redis::RedisServers::One(_) => StoreKind::Redis,
            _ => StoreKind::RedisCluster,
        },
        #[allow(unreachable_patterns)]
        _ => StoreKind::Memory,
    }
}

/// Where the store is, fit to print: `memory`, or its Redis URLs with any password hidden.
pub fn location_of(config: &StoreConfig) -> String {
    match config {
        #[cfg(feature = "redis")]
        StoreConfig::Redis(redis) => match &redis.servers {
            crate::redis::RedisServers::One(url) => crate::redact::hide_credentials(url),
            crate::redis::RedisServers::Cluster(nodes) => nodes
                .iter()
                .map(|node| crate::redact::hide_credentials(node))
                .collect::<Vec<_>>()
                .join(","),
            #[allow(unreachable_patterns)]
            _ => "redis".to_owned(),
        },
        #[allow(unreachable_patterns)]
        _ => "memory".to_owned(),
    }
}

/// What [`OperatorStore::status`] found, or, for a store that could not be opened,
/// [`StoreStatus::unreachable`].
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct StoreStatus {
    /// Which kind of store.
    pub kind: StoreKind,
    /// Whether other processes see its records ([`StoreKind::is_shared`]).
    pub shared: bool,
    /// Where it is (passwords hidden).
    pub location: String,
    /// Whether it answered.
    pub reachable: bool,
    /// How long the check took, in milliseconds.
    pub round_trip_ms: Option<f64>,
    /// What went wrong (connection, a refusal after a data loss, an evicting server).
    pub error: Option<String>,
    /// Its records, where it can tell.
    pub records: Option<RecordCounts>,
    /// The Redis key prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_prefix: Option<String>,
    /// The data-loss marker and the store's reaction (Redis).
    pub data_loss: Option<DataLossReport>,
    /// Replication: the server's role, writes acknowledged by replicas, the local replica
    /// (Redis).
    pub replication: Option<ReplicationReport>,
}

impl StoreStatus {
    fn new(config: &StoreConfig) -> Self {
        let kind = kind_of(config);
        StoreStatus {
            kind,
            shared: kind.is_shared(),
            location: location_of(config),
            reachable: false,
            round_trip_ms: None,
            error: None,
            records: None,
            key_prefix: None,
            data_loss: None,
            replication: None,
        }
    }

    /// The report on a store that could not be opened: `error` says why (passwords hidden).
    pub fn unreachable(config: &StoreConfig, error: &StoreConfigError) -> Self {
        let mut status = StoreStatus::new(config);
        status.error = Some(crate::redact::hide_quoted_credentials(&error.to_string()));
        status
    }
}

/// How many records a store holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RecordCounts {
    /// Every record (on Redis: every key under the prefix, markers included).
    pub total: u64,
    /// Token records (denylist revocations, or allowlist registrations), when told apart.
    pub tokens: Option<u64>,
    /// Cut-offs (users, sessions, claim values), when told apart.
    pub cutoffs: Option<u64>,
    /// The most it may hold, when it has a limit.
    pub capacity: Option<u64>,
    /// `false` when counting stopped before the end (the counts are then lower bounds).
    pub complete: bool,
}

/// The data-loss marker, as read, and what the store makes of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DataLossReport {
    /// What the store does on a loss: `store_cutoff` or `fail_closed`.
    pub reaction: &'static str,
    /// The marker's state as read from Redis: `ok`, `lost`, `cleared`, `absent`, or
    /// `unreadable` (one server; `None` on a cluster, which has one per slot range).
    pub marker: Option<&'static str>,
    /// The instant in the marker (for `lost` and `cleared`).
    pub marker_at: Option<Moment>,
    /// The store-wide cut-off in force: every token issued up to it is refused.
    pub cutoff: Option<Moment>,
    /// Losses this process learnt of since it opened the store.
    pub losses_noticed: u64,
    /// Whether checks and writes fail until an operator clears the loss.
    pub failing_closed: bool,
    /// The server's `maxmemory-policy`, when it may evict keys (checks are refused then).
    pub evicting_policy: Option<String>,
}

/// Replication as configured, and as the server says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ReplicationReport {
    /// The server's `role` (`master`, `slave`), one server only.
    pub role: Option<String>,
    /// Replicas connected to it (`connected_slaves`).
    pub connected_replicas: Option<u64>,
    /// Writes acknowledged only once this many replicas hold them (`WAIT`).
    pub acknowledge_after_replicas: Option<u32>,
    /// How long a write waits for them, in milliseconds.
    pub acknowledge_timeout_ms: Option<u64>,
    /// The local replica of the services, when configured.
    pub local_replica: Option<LocalReplicaSettings>,
}

/// A local replica's settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LocalReplicaSettings {
    /// The bound on staleness, in milliseconds.
    pub max_staleness_ms: u64,
    /// The heartbeat interval, in milliseconds.
    pub heartbeat_ms: u64,
    /// The most records it holds.
    pub capacity: usize,
    /// Whether it asks Redis about tokens it does not hold.
    pub confirm_missing_tokens: bool,
}

#[cfg(feature = "redis")]
fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(feature = "redis")]
mod redis_status {
    use std::time::{Duration, Instant};

    use jwt_revoke_core::Timestamp;
    use jwt_revoke_redis::redis::{self, AsyncConnectionConfig};
    use jwt_revoke_redis::{DataLossReaction, RedisServers, RedisStore, RedisStoreConfig};

    use super::{
        DataLossReport, LocalReplicaSettings, Moment, RecordCounts, ReplicationReport, StoreStatus,
        millis,
    };

    /// How long counting the keys may take before it stops with lower bounds.
    const COUNT_BUDGET: Duration = Duration::from_secs(10);

    pub(super) async fn fill(
        status: &mut StoreStatus,
        store: &RedisStore,
        config: &RedisStoreConfig,
    ) {
        let prefix = store.key_prefix().as_str().to_owned();
        status.key_prefix = Some(prefix.clone());
        let loss = store.data_loss_status();
        let mut report = DataLossReport {
            reaction: match loss.reaction {
                DataLossReaction::FailClosed => "fail_closed",
                _ => "store_cutoff",
            },
            marker: None,
            marker_at: None,
            cutoff: loss.cutoff.map(Moment),
            losses_noticed: loss.losses_noticed,
            failing_closed: loss.failing_closed,
            evicting_policy: loss.evicting_policy,
        };
        let mut replication = ReplicationReport {
            role: None,
            connected_replicas: None,
            acknowledge_after_replicas: config.acknowledge_after_replicas.map(|wait| wait.replicas),
            acknowledge_timeout_ms: config
                .acknowledge_after_replicas
                .map(|wait| millis(wait.timeout)),
            local_replica: config
                .local_replica
                .as_ref()
                .map(|replica| LocalReplicaSettings {
                    max_staleness_ms: millis(replica.max_staleness),
                    heartbeat_ms: millis(replica.heartbeat),
                    capacity: replica.capacity,
                    confirm_missing_tokens: replica.confirm_missing_tokens,
                }),
        };
        if let RedisServers::One(url) = &config.servers
            && status.reachable
        {
            // A connection of its own for what the store does not say: the marker as stored,
            // the server's role, the keys under the prefix.
            if let Ok(mut connection) =
                connect(url, config.timeout.max(Duration::from_secs(1))).await
            {
                let marker: Result<Option<Vec<u8>>, _> = redis::cmd("GET")
                    .arg(store.key_prefix().marker_key("0"))
                    .query_async(&mut connection)
                    .await;
                if let Ok(marker) = marker {
                    let (state, at) = marker_state(marker.as_deref());
                    report.marker = Some(state);
                    report.marker_at = at.map(Moment);
                }
                let info: Result<String, _> = redis::cmd("INFO")
                    .arg("replication")
                    .query_async(&mut connection)
                    .await;
                if let Ok(info) = info {
                    replication.role = info_field(&info, "role");
                    replication.connected_replicas =
                        info_field(&info, "connected_slaves").and_then(|n| n.parse().ok());
                }
                status.records = count_keys(&mut connection, &prefix).await;
            }
        }
        status.data_loss = Some(report);
        status.replication = Some(replication);
    }

    pub(super) async fn never_written(
        store: &RedisStore,
        config: &RedisStoreConfig,
    ) -> Option<bool> {
        let RedisServers::One(url) = &config.servers else {
            return None;
        };
        let mut connection = connect(url, config.timeout.max(Duration::from_secs(1)))
            .await
            .ok()?;
        let marker: Option<Vec<u8>> = redis::cmd("GET")
            .arg(store.key_prefix().marker_key("0"))
            .query_async(&mut connection)
            .await
            .ok()?;
        let marker = String::from_utf8(marker?).ok()?;
        let writes = marker.split(' ').nth(1)?;
        Some(writes == "0")
    }

    async fn connect(
        url: &str,
        timeout: Duration,
    ) -> Result<redis::aio::MultiplexedConnection, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout));
        client
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    /// The marker's state: `<epoch> <writes> ok | lost <µs> | cleared <µs>`.
    fn marker_state(marker: Option<&[u8]>) -> (&'static str, Option<Timestamp>) {
        let Some(marker) = marker else {
            return ("absent", None);
        };
        let text = String::from_utf8_lossy(marker);
        let fields: Vec<&str> = text.split(' ').collect();
        let at = |micros: &str| micros.parse().ok().map(Timestamp::from_micros);
        match fields.as_slice() {
            [_, _, "ok"] => ("ok", None),
            [_, _, "lost", micros] => ("lost", at(micros)),
            [_, _, "cleared", micros] => ("cleared", at(micros)),
            _ => ("unreadable", None),
        }
    }

    fn info_field(info: &str, name: &str) -> Option<String> {
        info.lines().find_map(|line| {
            let (key, value) = line.trim().split_once(':')?;
            (key == name).then(|| value.to_owned())
        })
    }

    /// Counts the keys under `prefix` with `SCAN` (which never blocks the server for long),
    /// by kind: `t` token records, `c` cut-offs.
    async fn count_keys(
        connection: &mut redis::aio::MultiplexedConnection,
        prefix: &str,
    ) -> Option<RecordCounts> {
        let pattern = format!("{}*", glob_escape(prefix));
        let started = Instant::now();
        let (mut total, mut tokens, mut cutoffs) = (0u64, 0u64, 0u64);
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(connection)
                .await
                .ok()?;
            for key in &keys {
                total += 1;
                match key.get(prefix.len()) {
                    Some(b't') => tokens += 1,
                    Some(b'c') => cutoffs += 1,
                    _ => {}
                }
            }
            cursor = next;
            let complete = cursor == 0;
            if complete || started.elapsed() > COUNT_BUDGET {
                return Some(RecordCounts {
                    total,
                    tokens: Some(tokens),
                    cutoffs: Some(cutoffs),
                    capacity: None,
                    complete,
                });
            }
        }
    }

    /// `prefix` with the characters `SCAN MATCH` treats as a pattern escaped.
    fn glob_escape(prefix: &str) -> String {
        let mut out = String::with_capacity(prefix.len());
        for c in prefix.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn markers_read_as_the_store_writes_them() {
            use jwt_revoke_core::Timestamp;
            assert_eq!(super::marker_state(None), ("absent", None));
            assert_eq!(super::marker_state(Some(b"7 12 ok")), ("ok", None));
            assert_eq!(
                super::marker_state(Some(b"7 12 lost 1700000000000000")),
                ("lost", Some(Timestamp::from_secs(1_700_000_000)))
            );
            assert_eq!(
                super::marker_state(Some(b"7 12 cleared 5")),
                ("cleared", Some(Timestamp::from_micros(5)))
            );
            assert_eq!(super::marker_state(Some(b"junk")).0, "unreadable");
            assert_eq!(super::glob_escape("a*b[c]:"), r"a\*b\[c\]:");
        }
    }
}
