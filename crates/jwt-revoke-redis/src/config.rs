//! [`RedisStoreConfig`]: a store described by settings (a file, the environment) and built
//! from them.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jwt_revoke_core::{Clock, SystemClock};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use serde::Deserialize;

use crate::connection::Connection;
use crate::data_loss::DataLossReaction;
use crate::error::BuildError;
use crate::in_flight::DEFAULT_MAX_IN_FLIGHT;
use crate::keys::KeyPrefix;
use crate::replica::ReplicaConfig;
use crate::store::{
    Acknowledgement, DEFAULT_LOSS_CHECK_INTERVAL, DEFAULT_POLICY_CHECK_INTERVAL, DEFAULT_TIMEOUT,
    RedisStore,
};

/// How long building a store may wait for its first connection, when not configured.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The settings of a [`RedisStore`]: where Redis is, the key prefix, the time limits.
///
/// Deserializes from any serde format, so the backend is picked by configuration. Exactly one
/// of `url` and `cluster_nodes` is set. Durations are milliseconds as a number, or text with a
/// unit: `"250ms"`, `"2s"`, `"1.5s"`.
///
/// ```
/// use std::time::Duration;
/// use jwt_revoke_redis::{RedisServers, RedisStoreConfig};
///
/// let config: RedisStoreConfig = serde_json::from_str(r#"{
///     "url": "redis://:s3cret@redis.internal:6379/2",
///     "key_prefix": "billing:revoked:",
///     "timeout": "250ms"
/// }"#).unwrap();
/// assert_eq!(config.timeout, Duration::from_millis(250));
/// assert_eq!(config.key_prefix.as_str(), "billing:revoked:");
/// // Debug output never shows the password.
/// assert!(!format!("{config:?}").contains("s3cret"));
///
/// let cluster: RedisStoreConfig = serde_json::from_str(r#"{
///     "cluster_nodes": ["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"]
/// }"#).unwrap();
/// assert!(matches!(&cluster.servers, RedisServers::Cluster(nodes) if nodes.len() == 2));
/// assert_eq!(cluster.timeout, Duration::from_millis(500)); // the default
///
/// // A brace in the prefix would move the cluster hash tag: refused while parsing.
/// assert!(serde_json::from_str::<RedisStoreConfig>(r#"{"url": "redis://r", "key_prefix": "{x}"}"#).is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Settings")]
#[non_exhaustive]
pub struct RedisStoreConfig {
    /// One server (`"url": "redis://…"` in settings) or a Redis Cluster (`"cluster_nodes":
    /// ["redis://…", …]`): exactly one of the two.
    pub servers: RedisServers,
    /// The prefix of every key (default `jwt-revoke:`).
    pub key_prefix: KeyPrefix,
    /// The time limit of every store call (default 500 ms).
    pub timeout: Duration,
    /// How long [`build`](Self::build) waits for the first connection (default 5 s); also the
    /// limit of each reconnection attempt.
    pub connect_timeout: Duration,
    /// Build even when the server's `maxmemory-policy` may evict keys (default `false`: such
    /// a server is refused, because an evicted revocation is a resurrected token). Also turns
    /// off the re-check of the policy while the store runs.
    pub allow_evicting_server: bool,
    /// How often the running store re-checks the server's `maxmemory-policy` (default 2 s):
    /// a policy changed later to one that may evict keys (`CONFIG SET maxmemory-policy
    /// allkeys-lru`) is logged at error level, and checks fail (not as unavailable: failing
    /// open never opens on it) until it is `noeviction` again. Unless
    /// `allow_evicting_server`.
    pub policy_check_interval: Duration,
    /// What the store does once it notices that Redis lost records it had acknowledged
    /// (default `store_cutoff`; or `fail_closed`). See [`DataLossReaction`].
    pub data_loss: DataLossReaction,
    /// How often a **cluster** store reads its data-loss markers (default 1 s): a loss on a
    /// cluster is noticed within this plus twice `timeout`. One server needs no interval: its
    /// marker is read with every check, so the first check after a loss notices it.
    pub loss_check_interval: Duration,
    /// Acknowledge a write only once this many Redis replicas hold it (`WAIT` after every
    /// write, on a connection of the writes' own; default: none). For deployments with
    /// failover: a write the primary confirmed but no replica received is lost when a replica
    /// takes over. Fewer replicas within the timeout: the write fails as unavailable (it may
    /// still be on the primary; the caller must not report success).
    pub acknowledge_after_replicas: Option<ReplicaAcknowledgement>,
    /// The most Redis calls (checks and writes) the store keeps in flight (default 4,096); a
    /// call beyond it fails at once as unavailable. See
    /// [`RedisStore::with_max_in_flight`].
    pub max_in_flight: usize,
    /// Keep every record in process memory too, current through Redis pub/sub, and answer
    /// checks from there while it is provably fresh (default: none; one server only). See
    /// [`with_local_replica`](Self::with_local_replica).
    pub local_replica: Option<ReplicaConfig>,
}

/// Which Redis a store uses.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedisServers {
    /// One server: `redis://[user:password@]host[:port][/db]`, or `rediss://…` for TLS
    /// (feature `tls`).
    One(String),
    /// A Redis Cluster: the URLs of some of its nodes (the others are discovered).
    Cluster(Vec<String>),
}

/// What a [`RedisStoreConfig`] is read from: its fields, with the servers under their two names.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    cluster_nodes: Option<Vec<String>>,
    #[serde(default)]
    key_prefix: KeyPrefix,
    #[serde(default = "default_timeout", deserialize_with = "duration")]
    timeout: Duration,
    #[serde(default = "default_connect_timeout", deserialize_with = "duration")]
    connect_timeout: Duration,
    #[serde(default)]
    allow_evicting_server: bool,
    #[serde(
        default = "default_policy_check_interval",
        deserialize_with = "duration"
    )]
    policy_check_interval: Duration,
    #[serde(default)]
    data_loss: DataLossReaction,
    #[serde(default = "default_loss_check_interval", deserialize_with = "duration")]
    loss_check_interval: Duration,
    #[serde(default)]
    acknowledge_after_replicas: Option<ReplicaAcknowledgement>,
    #[serde(default = "default_max_in_flight")]
    max_in_flight: usize,
    #[serde(default)]
    local_replica: Option<ReplicaConfig>,
}

impl TryFrom<Settings> for RedisStoreConfig {
    type Error = &'static str;

    fn try_from(settings: Settings) -> Result<Self, Self::Error> {
        let servers = match (settings.url, settings.cluster_nodes) {
            (Some(url), None) => RedisServers::One(url),
            (None, Some(nodes)) if !nodes.is_empty() => RedisServers::Cluster(nodes),
            (None, Some(_)) => return Err("`cluster_nodes` names no node"),
            (Some(_), Some(_)) => {
                return Err(
                    "set either `url` (one server) or `cluster_nodes` (a Redis Cluster), not both",
                );
            }
            (None, None) => {
                return Err("set `url` (one server) or `cluster_nodes` (a Redis Cluster)");
            }
        };
        Ok(RedisStoreConfig {
            servers,
            key_prefix: settings.key_prefix,
            timeout: settings.timeout,
            connect_timeout: settings.connect_timeout,
            allow_evicting_server: settings.allow_evicting_server,
            policy_check_interval: settings.policy_check_interval,
            data_loss: settings.data_loss,
            loss_check_interval: settings.loss_check_interval,
            acknowledge_after_replicas: settings.acknowledge_after_replicas,
            max_in_flight: settings.max_in_flight,
            local_replica: settings.local_replica,
        })
    }
}

fn default_timeout() -> Duration {
    DEFAULT_TIMEOUT
}

fn default_connect_timeout() -> Duration {
    DEFAULT_CONNECT_TIMEOUT
}

fn default_policy_check_interval() -> Duration {
    DEFAULT_POLICY_CHECK_INTERVAL
}

fn default_loss_check_interval() -> Duration {
    DEFAULT_LOSS_CHECK_INTERVAL
}

/// How many Redis replicas must hold a write before the store reports it done, and how long
/// to wait for them (see
/// [`RedisStoreConfig::acknowledge_after_replicas`](RedisStoreConfig::acknowledge_after_replicas)).
///
/// ```
/// use std::time::Duration;
/// use jwt_revoke_redis::RedisStoreConfig;
/// let config: RedisStoreConfig = serde_json::from_str(r#"{
///     "url": "redis://r",
///     "acknowledge_after_replicas": { "replicas": 1, "timeout": "200ms" }
/// }"#).unwrap();
/// let wait = config.acknowledge_after_replicas.unwrap();
/// assert_eq!((wait.replicas, wait.timeout), (1, Duration::from_millis(200)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ReplicaAcknowledgement {
    /// Replicas that must hold each write (at least 1).
    pub replicas: u32,
    /// How long a write waits for them, on top of the store's timeout.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
}

impl ReplicaAcknowledgement {
    /// `replicas` within `timeout`.
    pub fn new(replicas: u32, timeout: Duration) -> Self {
        ReplicaAcknowledgement { replicas, timeout }
    }
}

fn default_max_in_flight() -> usize {
    DEFAULT_MAX_IN_FLIGHT
}

impl RedisStoreConfig {
    /// One server at `url`, with the defaults.
    pub fn from_url(url: impl Into<String>) -> Self {
        RedisStoreConfig {
            servers: RedisServers::One(url.into()),
            key_prefix: KeyPrefix::default(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            allow_evicting_server: false,
            policy_check_interval: DEFAULT_POLICY_CHECK_INTERVAL,
            data_loss: DataLossReaction::StoreCutoff,
            loss_check_interval: DEFAULT_LOSS_CHECK_INTERVAL,
            acknowledge_after_replicas: None,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            local_replica: None,
        }
    }

    /// A Redis Cluster reached through `nodes`, with the defaults.
    pub fn from_cluster_nodes<I, S>(nodes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RedisStoreConfig {
            servers: RedisServers::Cluster(nodes.into_iter().map(Into::into).collect()),
            ..Self::from_url("")
        }
    }

    /// The same settings with another key prefix.
    pub fn with_key_prefix(mut self, prefix: KeyPrefix) -> Self {
        self.key_prefix = prefix;
        self
    }

    /// The same settings with another per-call time limit.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The same settings with another connect time limit.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The same settings with another reaction to a data loss.
    pub fn with_data_loss_reaction(mut self, reaction: DataLossReaction) -> Self {
        self.data_loss = reaction;
        self
    }

    /// The same settings with another interval between reads of a cluster's markers.
    pub fn with_loss_check_interval(mut self, interval: Duration) -> Self {
        self.loss_check_interval = interval;
        self
    }

    /// The same settings with another interval between re-checks of the eviction policy.
    pub fn with_policy_check_interval(mut self, interval: Duration) -> Self {
        self.policy_check_interval = interval;
        self
    }

    /// The same settings, acknowledging writes only once `replicas` Redis replicas hold them
    /// (`WAIT`, waiting at most `timeout`).
    pub fn with_acknowledge_after_replicas(mut self, replicas: u32, timeout: Duration) -> Self {
        self.acknowledge_after_replicas = Some(ReplicaAcknowledgement::new(replicas, timeout));
        self
    }

    /// The same settings with another bound on the calls in flight.
    pub fn with_max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max;
        self
    }

    /// The same settings, accepting (or not) a server that may evict keys.
    pub fn with_allow_evicting_server(mut self, allow: bool) -> Self {
        self.allow_evicting_server = allow;
        self
    }

    /// The same settings with a local replica: every record of the store also held in this
    /// process, kept current through Redis pub/sub, so that checks cost what the memory store's
    /// do instead of a round trip (see BENCHMARKS.md).
    ///
    /// What holds with it:
    /// - **Bounded staleness.** A check answered locally sees every write that Redis confirmed
    ///   at least [`max_staleness`](ReplicaConfig::max_staleness) before it, on any instance.
    ///   The replica proves this continuously with heartbeats through Redis; without that
    ///   proof (Redis down, slow or unreachable, the subscription lost) checks go to Redis as
    ///   without a replica, with the store's timeout and the layer's failure policy.
    /// - **Nothing missed.** After any disconnect the replica is rebuilt from a complete copy
    ///   taken after subscribing again.
    /// - **This instance's own writes** are seen by its next check: revocations are applied
    ///   locally as soon as Redis confirms them, and after an allowlist registration is
    ///   removed, checks go to Redis until the replica has caught up.
    /// - **Full means unused, never wrong.** A replica that cannot hold every record is not
    ///   used (logged as an error), and checks go to Redis.
    ///
    /// What to know:
    /// - Writes are announced by the stores themselves. Keys written by hand or by another
    ///   program reach replicas only at their next copy (after a reconnect).
    /// - In allowlist mode, set
    ///   [`confirm_missing_tokens`](ReplicaConfig::confirm_missing_tokens): otherwise a token
    ///   registered on another instance within the last `max_staleness` may be refused here
    ///   until its registration arrives.
    /// - One server only (`url`): building with `cluster_nodes` and a replica is an error.
    pub fn with_local_replica(mut self, replica: ReplicaConfig) -> Self {
        self.local_replica = Some(replica);
        self
    }

    /// Connects and builds the store.
    ///
    /// Fails when the configuration names no server or two, when the first connection is not
    /// made within `connect_timeout`, and when the server may evict keys (see
    /// [`allow_evicting_server`](Self::allow_evicting_server)). Once built, the store
    /// reconnects by itself after any outage.
    ///
    /// With a [local replica](Self::with_local_replica), also waits (within
    /// `connect_timeout`) for its first complete copy; should that take longer, the store is
    /// returned anyway and reads Redis until the copy is done.
    pub async fn build(&self) -> Result<RedisStore, BuildError> {
        self.build_with_clock(Arc::new(SystemClock)).await
    }

    /// [`build`](Self::build), with the store reading `clock` from the start: its TTLs, and
    /// the instant it records when it notices a data loss, in every part of it (the local
    /// replica and the background checks included). Give the engine the same clock. For
    /// tests that control time; [`RedisStore::with_clock`] on a built store changes only that
    /// handle, not the parts already started.
    pub async fn build_with_clock(&self, clock: Arc<dyn Clock>) -> Result<RedisStore, BuildError> {
        if self
            .acknowledge_after_replicas
            .is_some_and(|wait| wait.replicas == 0 || wait.timeout.is_zero())
        {
            return Err(BuildError::InvalidConfig(
                "acknowledge_after_replicas needs at least one replica and a positive timeout",
            ));
        }
        if self.max_in_flight == 0 {
            return Err(BuildError::InvalidConfig(
                "max_in_flight must be positive: no call could be made",
            ));
        }
        if let Some(replica) = &self.local_replica {
            replica.validate().map_err(BuildError::InvalidConfig)?;
            if !matches!(self.servers, RedisServers::One(_)) {
                return Err(BuildError::InvalidConfig(
                    "a local replica needs one server (`url`); it is not available on a cluster",
                ));
            }
        }
        let connection = self.connect().await?;
        let mut store = RedisStore::new(connection)
            .with_clock(clock)
            .with_key_prefix(self.key_prefix.clone())
            .with_timeout(self.timeout)
            .with_max_in_flight(self.max_in_flight)
            .with_data_loss_reaction(self.data_loss)
            .with_loss_check_interval(self.loss_check_interval)
            .with_policy_check_interval(
                (!self.allow_evicting_server).then_some(self.policy_check_interval),
            );
        if let Some(wait) = self.acknowledge_after_replicas {
            // WAIT blocks the connection it is sent on: the writes get their own, so that
            // checks never queue behind it.
            let writer = self.connect().await?;
            store = store.with_acknowledgement(
                Acknowledgement {
                    replicas: wait.replicas,
                    timeout: wait.timeout,
                },
                writer,
            );
        }
        if !self.allow_evicting_server {
            store.ensure_no_eviction().await?;
        }
        // Reads the markers (creates them at a first start, notices a loss that happened
        // while this process was not running but others were), so that the first check
        // already knows.
        store
            .direct()
            .read_markers()
            .await
            .map_err(BuildError::DataLossMarker)?;
        if store.is_cluster() {
            store.mark_markers_read();
        }
        store.start_guard();
        match (&self.local_replica, &self.servers) {
            (Some(replica), RedisServers::One(url)) => {
                let client = redis::Client::open(url.as_str())?;
                let store = store.with_local_replica(client, replica.clone())?;
                if !store.wait_for_local_replica(self.connect_timeout).await {
                    tracing::warn!(
                        "the local replica has no complete copy yet; checks go to Redis until it has"
                    );
                }
                Ok(store)
            }
            _ => Ok(store),
        }
    }

    /// A connection to the servers.
    async fn connect(&self) -> Result<Connection, BuildError> {
        match &self.servers {
            RedisServers::One(url) => self.connect_single(url).await,
            RedisServers::Cluster(nodes) if nodes.is_empty() => Err(BuildError::InvalidConfig(
                "a cluster needs the URL of at least one of its nodes",
            )),
            RedisServers::Cluster(nodes) => self.connect_cluster(nodes).await,
        }
    }

    async fn connect_single(&self, url: &str) -> Result<Connection, BuildError> {
        prepare_tls(url)?;
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            // The store bounds every call with its own timeout already; a second timer per
            // request in redis-rs cost measurable throughput and bounded nothing more.
            .set_response_timeout(None)
            // Reconnect quickly after an outage: at most a second between attempts. Once the
            // attempts are used up, the next call starts a new round.
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_secs(1))
            .set_number_of_retries(8);
        let manager = tokio::time::timeout(
            self.connect_timeout,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| BuildError::ConnectTimeout(self.connect_timeout))??;
        Ok(Connection::Manager(manager))
    }

    async fn connect_cluster(&self, nodes: &[String]) -> Result<Connection, BuildError> {
        for node in nodes {
            prepare_tls(node)?;
        }
        let client = ClusterClientBuilder::new(nodes.iter().map(String::as_str))
            .connection_timeout(self.connect_timeout)
            .response_timeout(self.timeout)
            .min_retry_wait(10)
            .max_retry_wait(500)
            .build()?;
        let connection = tokio::time::timeout(self.connect_timeout, client.get_async_connection())
            .await
            .map_err(|_| BuildError::ConnectTimeout(self.connect_timeout))??;
        Ok(Connection::Cluster(connection))
    }
}

/// Refuses `rediss://` without the `tls` feature; with it, makes sure rustls has a crypto
/// provider (the process's, or aws-lc-rs's when none is installed).
fn prepare_tls(url: &str) -> Result<(), BuildError> {
    if !url.starts_with("rediss://") {
        return Ok(());
    }
    #[cfg(feature = "tls")]
    {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Losing a race with another installer is fine: either provider will do.
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        }
        Ok(())
    }
    #[cfg(not(feature = "tls"))]
    Err(BuildError::TlsNotEnabled)
}

impl fmt::Debug for RedisStoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStoreConfig")
            .field("servers", &self.servers)
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("allow_evicting_server", &self.allow_evicting_server)
            .field("policy_check_interval", &self.policy_check_interval)
            .field("data_loss", &self.data_loss)
            .field("loss_check_interval", &self.loss_check_interval)
            .field(
                "acknowledge_after_replicas",
                &self.acknowledge_after_replicas,
            )
            .field("max_in_flight", &self.max_in_flight)
            .field("local_replica", &self.local_replica)
            .finish()
    }
}

impl fmt::Debug for RedisServers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisServers::One(url) => f.debug_tuple("One").field(&redact(url)).finish(),
            RedisServers::Cluster(nodes) => f
                .debug_tuple("Cluster")
                .field(&nodes.iter().map(|node| redact(node)).collect::<Vec<_>>())
                .finish(),
        }
    }
}

/// A URL without its credentials, read the way redis-rs reads it (so that what it would send
/// is what is hidden): `redis://user:secret@host` becomes `redis://***@host`, and a
/// `pass=`/`user=` query parameter (a Unix socket's credentials) shows `***`. A URL redis-rs
/// cannot read is not shown at all: the text might still hold a secret.
fn redact(url: &str) -> String {
    let Some(mut parsed) = redis::parse_redis_url(url) else {
        return format!("<a URL redis cannot read, {} bytes, not shown>", url.len());
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // Neither call fails on a URL with a host, and redis-rs refuses one without.
        let hidden = parsed.set_password(None).and(parsed.set_username("***"));
        if hidden.is_err() {
            return format!("<a URL with credentials, {} bytes, not shown>", url.len());
        }
    }
    if parsed.query().is_some() {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(key, value)| {
                let secret = key.eq_ignore_ascii_case("pass") || key.eq_ignore_ascii_case("user");
                let value = if secret {
                    "***".into()
                } else {
                    value.into_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.into()
}

pub(crate) use jwt_revoke_core::settings::duration;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<RedisStoreConfig, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn durations_take_milliseconds_or_a_unit() {
        for (text, millis) in [
            (r#"{"url":"redis://r","timeout":150}"#, 150),
            (r#"{"url":"redis://r","timeout":"150ms"}"#, 150),
            (r#"{"url":"redis://r","timeout":"2s"}"#, 2_000),
            (r#"{"url":"redis://r","timeout":" 1.5 s"}"#, 1_500),
        ] {
            let config = parse(text).expect(text);
            assert_eq!(config.timeout, Duration::from_millis(millis), "{text}");
        }
        for bad in [
            r#"{"url":"redis://r","timeout":0}"#,
            r#"{"url":"redis://r","timeout":-5}"#,
            r#"{"url":"redis://r","timeout":"5"}"#,
            r#"{"url":"redis://r","timeout":"-1s"}"#,
            r#"{"url":"redis://r","timeout":"soon"}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn unknown_settings_are_refused_rather_than_ignored() {
        assert!(parse(r#"{"url":"redis://r","time_out":"1s"}"#).is_err());
    }

    #[test]
    fn credentials_are_redacted() {
        assert_eq!(redact("redis://u:p@h:1/0"), "redis://***@h:1/0");
        assert_eq!(redact("redis://:p@h:1/0"), "redis://***@h:1/0");
        assert_eq!(redact("redis://h:1"), "redis://h:1");
        assert_eq!(
            redact("redis+unix:///run/redis.sock?db=2&pass=s3cret&user=app"),
            "redis+unix:///run/redis.sock?db=2&pass=***&user=***"
        );
        assert!(!redact("rdis://u:s3cret@h").contains("s3cret"));
        let config = RedisStoreConfig::from_cluster_nodes(["rediss://:pw@a:1"]);
        assert!(!format!("{config:?}").contains("pw"));
    }

    #[tokio::test]
    async fn settings_name_exactly_one_deployment() {
        for (settings, error) in [
            (
                r#"{"timeout": 100}"#,
                "set `url` (one server) or `cluster_nodes`",
            ),
            (
                r#"{"url": "redis://a", "cluster_nodes": ["redis://b"]}"#,
                "not both",
            ),
            (r#"{"cluster_nodes": []}"#, "names no node"),
        ] {
            let refused = parse(settings).expect_err(settings).to_string();
            assert!(refused.contains(error), "{settings}: {refused}");
        }
        let one = parse(r#"{"url": "redis://a"}"#).expect("one server");
        assert_eq!(one.servers, RedisServers::One("redis://a".into()));
        let cluster = parse(r#"{"cluster_nodes": ["redis://a", "redis://b"]}"#).expect("a cluster");
        assert_eq!(
            cluster.servers,
            RedisServers::Cluster(vec!["redis://a".into(), "redis://b".into()])
        );
        // Built by hand, an empty cluster is refused when it is built.
        let empty = RedisStoreConfig::from_cluster_nodes(Vec::<String>::new());
        assert!(matches!(
            empty.build().await,
            Err(BuildError::InvalidConfig(_))
        ));
    }

    #[cfg(not(feature = "tls"))]
    #[tokio::test]
    async fn rediss_without_the_tls_feature_says_so() {
        let result = RedisStoreConfig::from_url("rediss://127.0.0.1:1")
            .build()
            .await;
        assert!(matches!(result, Err(BuildError::TlsNotEnabled)));
    }
}
