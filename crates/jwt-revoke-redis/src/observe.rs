//! The Redis store's metrics (feature `metrics`, through the
//! [`metrics`](https://docs.rs/metrics) facade: the application installs the recorder,
//! Prometheus, OpenTelemetry, StatsD...). Without the feature the crate does not depend on
//! `metrics` and every function here is empty; the names below exist either way.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `jwt_revoke_redis_data_loss_detections_total` | counter | none | a data loss of Redis (a restart without persistence, a flush, a failover or an old snapshot) that a store learnt of while it ran: noticed itself through the marker, or read from the marker after another store recorded it; each loss once per store |
//! | `jwt_revoke_replica_state` | gauge | `state` | the local replica's state: 1 for the current one of `fresh`, `stale`, `syncing`, 0 for the others |
//! | `jwt_revoke_replica_staleness_seconds` | gauge | none | the age of the replica's last confirmed sync: since it sent the last heartbeat that came back (since the replica started, before the first) |
//! | `jwt_revoke_replica_resyncs_total` | counter | none | complete copies the replica made from Redis: one at the start, one more after each reconnection or data loss |
//!
//! No label holds a user, a token, a key or a URL.
//!
//! **Data loss.** A loss already recorded in the marker when a store first reads it (at its
//! build) happened before the store ran and is not counted, so that instances started after
//! an old loss do not count it again; [`DataLossStatus::losses_noticed`] counts it.
//!
//! **Replica states.**
//! - `fresh`: checks are answered by the replica: a heartbeat it sent less than
//!   `max_staleness` ago has come back ([`ReplicaStatus::fresh`]).
//! - `syncing`: the replica is making a copy of the store's records, from its start or from a
//!   new subscription after a reconnection or a data loss, until a heartbeat proves the copy
//!   current. Checks go to Redis.
//! - `stale`: neither: no heartbeat came back within `max_staleness` (Redis paused, slow or
//!   unreachable), the subscription broke and the replica waits to reconnect, the replica
//!   cannot hold every record, or a token record this store deleted waits for its
//!   heartbeat. Checks go to Redis.
//!
//! The gauges are set at each change the replica makes (a copy begun, a heartbeat back, a
//! session ended, a deletion) and, to catch the lapse of freshness that comes with time alone,
//! once per `heartbeat`; the staleness too. They describe one replica per process: with
//! several, they mix. A dropped replica sets every state to 0.
//!
//! [`DataLossStatus::losses_noticed`]: crate::DataLossStatus::losses_noticed
//! [`ReplicaStatus::fresh`]: crate::ReplicaStatus::fresh

#[cfg(feature = "metrics")]
use std::time::Duration;

/// The name of the data-loss counter (`jwt_revoke_redis_data_loss_detections_total`).
pub const DATA_LOSS_DETECTIONS: &str = "jwt_revoke_redis_data_loss_detections_total";
/// The name of the replica state gauge (`jwt_revoke_replica_state`).
pub const REPLICA_STATE: &str = "jwt_revoke_replica_state";
/// The values of [`REPLICA_STATE`]'s label `state`.
pub const REPLICA_STATES: [&str; 3] = ["fresh", "stale", "syncing"];
/// The name of the replica staleness gauge (`jwt_revoke_replica_staleness_seconds`).
pub const REPLICA_STALENESS: &str = "jwt_revoke_replica_staleness_seconds";
/// The name of the replica resync counter (`jwt_revoke_replica_resyncs_total`).
pub const REPLICA_RESYNCS: &str = "jwt_revoke_replica_resyncs_total";

/// The replica's state, as [`REPLICA_STATE`] reports it.
#[cfg(feature = "metrics")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplicaState {
    Fresh,
    Stale,
    Syncing,
}

#[cfg(feature = "metrics")]
impl ReplicaState {
    fn label(self) -> &'static str {
        match self {
            ReplicaState::Fresh => REPLICA_STATES[0],
            ReplicaState::Stale => REPLICA_STATES[1],
            ReplicaState::Syncing => REPLICA_STATES[2],
        }
    }
}

/// A store learnt of a data loss while it ran.
#[inline]
pub(crate) fn data_loss_detected() {
    #[cfg(feature = "metrics")]
    metrics::counter!(DATA_LOSS_DETECTIONS).increment(1);
}

/// The replica made a complete copy.
#[inline]
pub(crate) fn replica_resynced() {
    #[cfg(feature = "metrics")]
    metrics::counter!(REPLICA_RESYNCS).increment(1);
}

/// The replica is in `state` (`None`: gone: every state 0), its last confirmed sync
/// `staleness` ago.
#[cfg(feature = "metrics")]
pub(crate) fn replica_state(state: Option<ReplicaState>, staleness: Option<Duration>) {
    for label in REPLICA_STATES {
        let value = if state.map(ReplicaState::label) == Some(label) {
            1.0
        } else {
            0.0
        };
        metrics::gauge!(REPLICA_STATE, "state" => label).set(value);
    }
    if let Some(staleness) = staleness {
        metrics::gauge!(REPLICA_STALENESS).set(staleness.as_secs_f64());
    }
}
