//! Security Event Tokens (RFC 8417) pushed per RFC 8935, with the CAEP events that end
//! sessions and credentials.

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use jwt_revoke_core::{NumericDate, Revocations, SessionId, StoreError, Timestamp, UserId};
use serde_json::{Value, json};

use super::token::{
    EventClaims, EventReceiverBuilder, EventTokenKind, EventTokenTrust, Refusal, TokenReceiver,
    sealed,
};
use super::{EventBody, EventRequest, event_service, json, plain, store_unavailable};
use crate::verify::FailureClass;

/// CAEP: a session was revoked (session or user cut-off).
pub const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
/// CAEP: a credential changed (user cut-off at `event_timestamp`).
pub const CREDENTIAL_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/credential-change";

/// Receives Security Event Tokens pushed by a transmitter (RFC 8935) and acts on the CAEP
/// events that end access:
///
/// | event | subject | revocation |
/// |---|---|---|
/// | `session-revoked` | a session (`opaque` id, or `complex` with a `session`) | session cut-off, up to now |
/// | `session-revoked` | a user (`iss_sub`, or `complex` with only a `user`) | user cut-off at the event's instant |
/// | `credential-change` | a user (`iss_sub`, `opaque` sub, `complex` with a `user`) | user cut-off at the event's instant |
///
/// The subject is read from the event's `subject` member or, as the Shared Signals Framework
/// puts it, from the SET's top-level `sub_id`. An ended session ends every token of that
/// session up to now (as [`Revocations::revoke_session`] does), whatever instant the event
/// names: a delayed or retried delivery, or a transmitter whose clock is behind ours, must not
/// spare tokens of a session that is over. A user's cut-off is made at the event's instant,
/// its `event_timestamp` (never later than now) or else its `iat`: a credential changed at *T*
/// must not end the logins made after *T* when the event arrives late or again. Events of
/// other types are accepted and ignored, as RFC 8935 lets a receiver do.
///
/// The request is `POST` with `Content-Type: application/secevent+jwt` and the SET as body.
/// The SET is validated: signature by a trusted key under the algorithm allowlist, `iss`,
/// `aud`, `iat` (not in the future, at most `max_age` old), a `jti` not seen before, an
/// `events` claim, and a `typ` (when present) of `secevent+jwt` or `JWT`. Success is 202;
/// a refusal is 400 with `{"err", "description"}` and RFC 8935's codes (`invalid_request`,
/// `invalid_key`, `invalid_issuer`, `invalid_audience`). A store that cannot record the
/// revocation gets 503 with `Retry-After`.
///
/// ```
/// # use std::{sync::Arc, time::Duration};
/// # use jwt_revoke_core::{Policy, Revocations};
/// # use jwt_revoke_memory::MemoryStore;
/// use jwt_revoke_tower::DecodingKeys;
/// use jwt_revoke_tower::events::{EventTokenTrust, SecurityEventReceiver};
/// use jwt_revoke_tower::jsonwebtoken::{Algorithm, DecodingKey};
/// # let revocations = Revocations::new(Arc::new(MemoryStore::new()), Policy::new(Duration::from_secs(900)));
///
/// let trust = EventTokenTrust::new(
///     DecodingKeys::new(DecodingKey::from_secret(b"shared with the transmitter")),
///     &[Algorithm::HS256],
///     "https://transmitter.example",
///     "https://api.example/events",
/// );
/// let receiver = SecurityEventReceiver::builder(revocations, trust)
///     .revoke_for_issuer("https://idp.example")
///     .build()
///     .expect("valid configuration");
/// let app: axum::Router = axum::Router::new().route_service("/events", receiver);
/// ```
#[derive(Clone)]
pub struct SecurityEventReceiver {
    inner: Arc<TokenReceiver>,
}

impl std::fmt::Debug for SecurityEventReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.describe("SecurityEventReceiver", f)
    }
}

/// Configures a [`SecurityEventReceiver`].
pub type SecurityEventReceiverBuilder = EventReceiverBuilder<SecurityEventReceiver>;

impl EventTokenKind for SecurityEventReceiver {}

impl sealed::Sealed for SecurityEventReceiver {
    const TYP: &'static str = "secevent+jwt";
    const KIND: &'static str = "security event token";
    const REQUIRED: &'static [&'static str] = &["iss", "aud", "iat"];
    const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60 * 60);
    fn from_receiver(sealed::Built(inner): sealed::Built) -> Self {
        SecurityEventReceiver { inner }
    }
}

/// Whose tokens an event ends.
enum Target {
    Session(String),
    User { issuer: Option<String>, sub: String },
}

impl SecurityEventReceiver {
    /// A receiver that trusts SETs as `trust` says and revokes through `revocations`.
    pub fn builder(
        revocations: Revocations,
        trust: EventTokenTrust,
    ) -> SecurityEventReceiverBuilder {
        EventReceiverBuilder::new(revocations, trust)
    }

    async fn handle(self, request: EventRequest) -> http::Response<EventBody> {
        if !request.has_content_type("application/secevent+jwt") {
            return refuse(
                "invalid_request",
                "the body must be application/secevent+jwt",
            );
        }
        let Ok(token) = std::str::from_utf8(&request.body) else {
            return refuse("invalid_request", "the body is not a JWT");
        };
        let TokenReceiver {
            revocations,
            verifier,
        } = &*self.inner;
        let now = revocations.clock().now();
        let claims = match verifier.verify(token.trim(), now).await {
            Ok(claims) => claims,
            Err(Refusal {
                description,
                retry_later: true,
                ..
            }) => {
                tracing::warn!(reason = %description, "a security event's token cannot be verified with the keys held now; answered 503 to be retried");
                return store_unavailable(&json!({
                    "err": "temporarily_unavailable",
                    "description": description,
                }));
            }
            Err(Refusal {
                class, description, ..
            }) => return refuse(code(class), &description),
        };
        let instant = verifier.event_instant(&claims, now);
        let actions = match actions(&claims, instant, &verifier.token_issuer) {
            Ok(actions) => actions,
            Err(description) => return refuse("invalid_request", &description),
        };
        match verifier.seen(revocations, &claims).await {
            Ok(true) => return refuse("invalid_request", "this SET has been delivered already"),
            Ok(false) => {}
            Err(err) => return unavailable(&err),
        }
        for (target, at) in actions {
            let revoked = match target {
                // An ended session ends every token of it up to now, whatever instant the event
                // names: a late delivery must not spare tokens of a session that is over.
                Target::Session(sid) => {
                    let session = SessionId::new(verifier.token_issuer.as_str(), sid);
                    super::bounded(revocations, revocations.revoke_session(&session)).await
                }
                Target::User { issuer, sub } => {
                    let issuer = issuer.unwrap_or_else(|| verifier.token_issuer.clone());
                    let user = UserId::new(issuer, sub);
                    super::bounded(revocations, revocations.revoke_user_at(&user, at)).await
                }
            };
            if let Err(err) = revoked {
                return unavailable(&err);
            }
        }
        if let Err(err) = verifier.record(revocations, &claims).await {
            tracing::warn!(%err, "could not record a processed SET");
        }
        for (event_type, _) in claims.events.iter().flatten() {
            crate::observe::security_event(if event_type == SESSION_REVOKED {
                "session_revoked"
            } else if event_type == CREDENTIAL_CHANGE {
                "credential_change"
            } else {
                "other"
            });
        }
        plain(StatusCode::ACCEPTED)
    }
}

event_service!(SecurityEventReceiver, "security_event");

/// The revocations a SET asks for: one per supported event, at its instant.
///
/// `instant` is the SET's own (its `iat`), used when an event carries no `event_timestamp`;
/// `token_issuer` is the only issuer an `iss_sub` subject may name.
fn actions(
    claims: &EventClaims,
    instant: Timestamp,
    token_issuer: &str,
) -> Result<Vec<(Target, Timestamp)>, String> {
    let mut actions = Vec::new();
    for (event_type, event) in claims.events.iter().flatten() {
        let session_revoked = event_type == SESSION_REVOKED;
        if !session_revoked && event_type != CREDENTIAL_CHANGE {
            continue;
        }
        let subject = event
            .get("subject")
            .or(claims.sub_id.as_ref())
            .ok_or_else(|| format!("the {event_type} event has no subject"))?;
        let target = target(subject, session_revoked)?;
        if let Target::User {
            issuer: Some(issuer),
            ..
        } = &target
            && issuer != token_issuer
        {
            // A transmitter trusted for one issuer must not revoke another issuer's users.
            return Err(format!(
                "the subject's issuer {issuer:?} is not the one this receiver revokes for"
            ));
        }
        let at = match event.get("event_timestamp") {
            None => instant,
            Some(value) => serde_json::from_value::<NumericDate>(value.clone())
                .map_err(|_| "event_timestamp is not a NumericDate".to_owned())?
                .timestamp()
                .min(instant),
        };
        actions.push((target, at));
    }
    Ok(actions)
}

/// The target of a subject identifier (RFC 9493 formats).
fn target(subject: &Value, session_revoked: bool) -> Result<Target, String> {
    let text = |name: &str| subject.get(name).and_then(Value::as_str).map(str::to_owned);
    match subject.get("format").and_then(Value::as_str) {
        Some("iss_sub") => Ok(Target::User {
            issuer: text("iss"),
            sub: text("sub").ok_or("an iss_sub subject has no sub")?,
        }),
        Some("opaque") => {
            let id = text("id").ok_or("an opaque subject has no id")?;
            Ok(if session_revoked {
                Target::Session(id)
            } else {
                Target::User {
                    issuer: None,
                    sub: id,
                }
            })
        }
        Some("complex") => match (subject.get("session"), subject.get("user")) {
            (Some(session), _) if session_revoked => target(session, true),
            (_, Some(user)) => target(user, false),
            _ => Err("a complex subject names neither a session nor a user".to_owned()),
        },
        Some(other) => Err(format!("the subject format {other:?} is not supported")),
        None => Err("the subject has no format".to_owned()),
    }
}

fn code(class: FailureClass) -> &'static str {
    match class {
        FailureClass::Key | FailureClass::Unavailable => "invalid_key",
        FailureClass::Issuer => "invalid_issuer",
        FailureClass::Audience => "invalid_audience",
        FailureClass::Other => "invalid_request",
    }
}

fn refuse(code: &str, description: &str) -> http::Response<EventBody> {
    tracing::debug!(code, description, "SET refused");
    json(
        StatusCode::BAD_REQUEST,
        &json!({ "err": code, "description": description }),
    )
}

fn unavailable(err: &StoreError) -> http::Response<EventBody> {
    tracing::warn!(%err, "a security event could not be recorded");
    store_unavailable(&json!({
        "err": "temporarily_unavailable",
        "description": "the revocation could not be recorded; retry",
    }))
}
