//! The replica's settings.

use std::time::Duration;

use jwt_revoke_memory::MemoryStore;
use serde::Deserialize;

use jwt_revoke_core::settings::duration;

/// The settings of a store's local replica (see
/// [`RedisStoreConfig::with_local_replica`](crate::RedisStoreConfig::with_local_replica)).
///
/// ```
/// use std::time::Duration;
/// use jwt_revoke_redis::{ReplicaConfig, RedisStoreConfig};
///
/// let config: RedisStoreConfig = serde_json::from_str(r#"{
///     "url": "redis://redis.internal:6379",
///     "local_replica": { "max_staleness": "250ms" }
/// }"#).unwrap();
/// let replica = config.local_replica.unwrap();
/// assert_eq!(replica.max_staleness, Duration::from_millis(250));
/// assert_eq!(replica.heartbeat, ReplicaConfig::default().heartbeat);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct ReplicaConfig {
    /// The bound on staleness (default 500 ms): a check answered by the replica sees every
    /// write that Redis confirmed at least this long before the check. Past it without news
    /// from Redis, checks go to Redis directly.
    #[serde(deserialize_with = "duration")]
    pub max_staleness: Duration,
    /// How often the replica proves it is current (default 100 ms): one `PUBLISH` per
    /// heartbeat, which every replica on the channel receives. Must be shorter than
    /// `max_staleness`, by enough to cover a round trip to Redis.
    #[serde(deserialize_with = "duration")]
    pub heartbeat: Duration,
    /// The most records the replica holds (default 1,000,000, about 55 MB). A replica that
    /// cannot hold every record of the store says so in the log and is not used: checks go
    /// to Redis.
    pub capacity: usize,
    /// Ask Redis about a token the replica does not hold, instead of answering "not listed"
    /// (default `false`). Set it in **allowlist** mode: there "not listed" means "refuse", and
    /// a token registered on another instance a moment ago may not have reached the replica
    /// yet. Refusals then cost a round trip; accepted tokens do not. In denylist mode leave it
    /// off: "not listed" is the answer for nearly every request.
    pub confirm_missing_tokens: bool,
}

impl Default for ReplicaConfig {
    fn default() -> Self {
        ReplicaConfig {
            max_staleness: Duration::from_millis(500),
            heartbeat: Duration::from_millis(100),
            capacity: MemoryStore::DEFAULT_CAPACITY,
            confirm_missing_tokens: false,
        }
    }
}

impl ReplicaConfig {
    /// The same settings with another bound on staleness.
    pub fn with_max_staleness(mut self, max_staleness: Duration) -> Self {
        self.max_staleness = max_staleness;
        self
    }

    /// The same settings with another heartbeat.
    pub fn with_heartbeat(mut self, heartbeat: Duration) -> Self {
        self.heartbeat = heartbeat;
        self
    }

    /// The same settings with another capacity.
    pub fn with_capacity(mut self, records: usize) -> Self {
        self.capacity = records;
        self
    }

    /// The same settings, asking Redis (or not) about tokens the replica does not hold: set
    /// it in allowlist mode (see [`confirm_missing_tokens`](Self::confirm_missing_tokens)).
    pub fn with_confirm_missing_tokens(mut self, confirm: bool) -> Self {
        self.confirm_missing_tokens = confirm;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), &'static str> {
        if self.heartbeat.is_zero() || self.max_staleness.is_zero() {
            return Err("the replica's heartbeat and max_staleness must be positive");
        }
        if self.heartbeat >= self.max_staleness {
            return Err("the replica's heartbeat must be shorter than its max_staleness");
        }
        if self.capacity == 0 {
            return Err("the replica's capacity must be positive");
        }
        Ok(())
    }
}
