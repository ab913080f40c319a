//! The layer's and the receivers' metrics (feature `metrics`, through the [`metrics`]
//! facade: the application installs the recorder, Prometheus, OpenTelemetry, StatsD...) and
//! the decision span. Without the feature the metric functions are empty.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `jwt_revoke_decisions_total` | counter | `outcome`, `reason` | one per request the layer judged: `outcome` is `allowed` (`reason` `valid`), `rejected`, `would_reject` (shadow mode let it through) or `failed_open` (`reason` `store_unavailable`); `reason` is [`RejectionKind::reason`](crate::RejectionKind::reason) |
//! | `jwt_revoke_cache_lookups_total` | counter | `cache`, `result` | a lookup in the verified-token cache (`cache` `verified_token`) or the claims memo (`claims_memo`): `result` `hit` or `miss` |
//! | `jwt_revoke_events_total` | counter | `receiver`, `outcome` | a request to an event receiver (`backchannel_logout`, `security_event`, `token_revocation`, `fusionauth_webhook`): `outcome` `accepted` (2xx), `refused` (4xx) or `unavailable` (5xx) |
//! | `jwt_revoke_security_events_total` | counter | `event`, `outcome` | each event of a SET the security-event receiver accepted: `event` `session_revoked`, `credential_change` (`outcome` `applied`) or `other` (`ignored`) |
//! | `jwt_revoke_key_fetches_total` | counter | `source`, `outcome` | a fetch of a remote key set: `source` is the configured location as shown in logs (a URL without its query, `?…` for one; an issuer with ` (discovery)`), `outcome` `ok`, `unchanged` or `failed` |
//! | `jwt_revoke_key_source_stale` | gauge | `source` | 1 while the source's keys are stale (tokens refused), else 0 |
//! | `jwt_revoke_key_source_age_seconds` | gauge | `source` | the age of the keys in force, at the last fetch |
//!
//! No label holds a user, a token, a claim or a request path. The engine's store metrics are
//! in [`jwt_revoke_core::observe`].
//!
//! Each decision is also a `tracing` span, `jwt_revoke.decision`, at `debug` level (silent
//! unless asked for), entered while the request is judged (what is logged meanwhile, a store's
//! failure, belongs to it; the inner service runs outside it): fields `outcome`, `reason`
//! and, when the token was verified, `iss`.

/// The decision counter's name.
pub const DECISIONS: &str = "jwt_revoke_decisions_total";
/// The cache lookup counter's name.
pub const CACHE_LOOKUPS: &str = "jwt_revoke_cache_lookups_total";
/// The event receiver counter's name.
pub const EVENTS: &str = "jwt_revoke_events_total";
/// The security-event counter's name.
pub const SECURITY_EVENTS: &str = "jwt_revoke_security_events_total";
/// The key fetch counter's name.
pub const KEY_FETCHES: &str = "jwt_revoke_key_fetches_total";
/// The key source staleness gauge's name.
pub const KEY_SOURCE_STALE: &str = "jwt_revoke_key_source_stale";
/// The key source age gauge's name.
pub const KEY_SOURCE_AGE: &str = "jwt_revoke_key_source_age_seconds";

/// The span of one request's decision, opened when the layer takes the request and entered
/// while it is judged (so what is logged meanwhile, a store's failure, belongs to it); its
/// fields are recorded by [`decision`].
pub(crate) fn decision_span() -> tracing::Span {
    tracing::debug_span!(
        "jwt_revoke.decision",
        outcome = tracing::field::Empty,
        reason = tracing::field::Empty,
        iss = tracing::field::Empty
    )
}

/// One decision of the layer: counted, and its fields recorded in its `span`.
pub(crate) fn decision(
    span: &tracing::Span,
    outcome: &'static str,
    reason: &'static str,
    iss: Option<&str>,
) {
    #[cfg(feature = "metrics")]
    metrics::counter!(DECISIONS, "outcome" => outcome, "reason" => reason).increment(1);
    if span.is_disabled() {
        return;
    }
    span.record("outcome", outcome);
    span.record("reason", reason);
    if let Some(iss) = iss {
        span.record("iss", iss);
    }
    tracing::debug!(parent: span, "decided");
}

/// A lookup in one of the layer's caches.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
#[inline]
pub(crate) fn cache_lookup(cache: &'static str, hit: bool) {
    #[cfg(feature = "metrics")]
    metrics::counter!(CACHE_LOOKUPS, "cache" => cache, "result" => if hit { "hit" } else { "miss" })
        .increment(1);
}

/// A request an event receiver answered with `status`.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn event(receiver: &'static str, status: http::StatusCode) {
    #[cfg(feature = "metrics")]
    {
        let outcome = if status.is_success() {
            "accepted"
        } else if status.is_server_error() {
            "unavailable"
        } else {
            "refused"
        };
        metrics::counter!(EVENTS, "receiver" => receiver, "outcome" => outcome).increment(1);
    }
}

/// One event of a SET the security-event receiver accepted, by type: `session_revoked` and
/// `credential_change` were applied, `other` ignored.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn security_event(event: &'static str) {
    #[cfg(feature = "metrics")]
    {
        let outcome = if event == "other" {
            "ignored"
        } else {
            "applied"
        };
        metrics::counter!(SECURITY_EVENTS, "event" => event, "outcome" => outcome).increment(1);
    }
}

/// A fetch of a remote key set: `outcome` `ok`, `unchanged` or `failed`.
#[cfg(feature = "remote-keys")]
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn key_fetch(source: &str, outcome: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(KEY_FETCHES, "source" => source.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// A remote key source's state after a fetch: whether it is stale, and the age of its keys.
#[cfg(feature = "remote-keys")]
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn key_source_state(source: &str, stale: bool, age: std::time::Duration) {
    #[cfg(feature = "metrics")]
    {
        let source = source.to_owned();
        metrics::gauge!(KEY_SOURCE_STALE, "source" => source.clone()).set(if stale {
            1.0
        } else {
            0.0
        });
        metrics::gauge!(KEY_SOURCE_AGE, "source" => source).set(age.as_secs_f64());
    }
}
