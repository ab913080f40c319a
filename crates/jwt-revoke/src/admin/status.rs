//! `GET /status`: whether the engine's store answers, what it holds, the policy it is read by,
//! and, when the API was given one, the operator's report on the store
//! ([`OperatorStore::status`](crate::ops::OperatorStore::status): kind, data-loss marker,
//! replication), as the command-line tool prints it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use jwt_revoke_core::{IdentityRule, ListMode, RecordKey, TokenKeys};
use serde::Serialize;

use super::Shared;
use super::answer;
use super::refusal::retry_after_value;

/// The answer of `GET /status`.
#[derive(Debug, Serialize)]
struct StatusAnswer {
    /// Whether the engine's store answered a check within the engine's limit, with no error.
    healthy: bool,
    /// The engine's store, as the engine sees it.
    engine: EngineStatus,
    /// The operator's report on the store, when the API has one.
    #[cfg(any(feature = "memory", feature = "redis"))]
    store: Option<crate::ops::StoreStatus>,
    #[cfg(not(any(feature = "memory", feature = "redis")))]
    store: Option<()>,
}

#[derive(Debug, Serialize)]
struct EngineStatus {
    /// Whether the store answered (possibly with an error).
    reachable: bool,
    /// How long the check took.
    round_trip_ms: Option<f64>,
    /// What went wrong.
    error: Option<String>,
    /// Records held and the most it holds, when the store tells (`RevocationStore::usage`).
    records: Option<Usage>,
    /// The limit on every store call.
    store_timeout_ms: u64,
    policy: PolicyView,
}

#[derive(Debug, Serialize)]
struct Usage {
    records: u64,
    capacity: Option<u64>,
}

/// The rules revocations are read by: which claims take cut-offs, how long records live.
#[derive(Debug, Serialize)]
struct PolicyView {
    mode: &'static str,
    identity: &'static str,
    max_token_lifetime_s: f64,
    leeway_s: f64,
    issued_at_skew_s: f64,
    tokens_without_exp_s: Option<f64>,
    claim_cutoffs: Vec<String>,
}

pub(crate) async fn status(State(api): State<Arc<Shared>>) -> Response {
    let revocations = &api.revocations;
    // A check of keys no record has: it reads what every check reads (on one Redis server,
    // the data-loss marker too).
    let probe = TokenKeys::new(
        RecordKey::from_bytes([0; 32]),
        RecordKey::from_bytes([0; 32]),
        None,
    );
    let started = Instant::now();
    let probed = api.bounded(revocations.store().check(&probe)).await;
    let round_trip = started.elapsed();
    let (reachable, round_trip_ms, error) = match &probed {
        Ok(_) => (true, Some(millis(round_trip)), None),
        Err(err) => (
            !err.is_unavailable(),
            None,
            Some(crate::redact::hide_quoted_credentials(&err.to_string())),
        ),
    };
    // The report bounds its own calls (the Redis store's timeout; its key count stops after
    // 10 s with lower bounds).
    #[cfg(any(feature = "memory", feature = "redis"))]
    let store = match &api.operator_store {
        Some(store) => Some(store.status().await),
        None => None,
    };
    #[cfg(not(any(feature = "memory", feature = "redis")))]
    let store = None;
    let policy = revocations.policy();
    #[cfg(any(feature = "memory", feature = "redis"))]
    let report_healthy = store
        .as_ref()
        .is_none_or(|report| report.reachable && report.error.is_none());
    #[cfg(not(any(feature = "memory", feature = "redis")))]
    let report_healthy = true;
    let healthy = probed.is_ok() && report_healthy;
    let body = StatusAnswer {
        healthy,
        engine: EngineStatus {
            reachable,
            round_trip_ms,
            error,
            records: revocations.store().usage().map(|usage| Usage {
                records: usage.records,
                capacity: usage.capacity,
            }),
            store_timeout_ms: u64::try_from(revocations.store_timeout().as_millis())
                .unwrap_or(u64::MAX),
            policy: PolicyView {
                mode: match policy.mode() {
                    ListMode::Denylist => "denylist",
                    ListMode::Allowlist => "allowlist",
                    _ => "other",
                },
                identity: match policy.identity() {
                    IdentityRule::JtiOrDigest => "jti_or_digest",
                    IdentityRule::RequireJti => "require_jti",
                    _ => "other",
                },
                max_token_lifetime_s: policy.max_token_lifetime().as_secs_f64(),
                leeway_s: policy.leeway().as_secs_f64(),
                issued_at_skew_s: policy.issued_at_skew().as_secs_f64(),
                tokens_without_exp_s: policy.tokens_without_exp().map(|d| d.as_secs_f64()),
                claim_cutoffs: policy.claim_cutoffs().to_vec(),
            },
        },
        store,
    };
    if healthy {
        return answer::json(StatusCode::OK, &body);
    }
    // A store in trouble is a 503 (a monitor reads the status code), with the report.
    let mut response = answer::json(StatusCode::SERVICE_UNAVAILABLE, &body);
    let retry = retry_after_value(api.retry_after);
    response
        .headers_mut()
        .insert(axum::http::header::RETRY_AFTER, retry);
    response
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}
