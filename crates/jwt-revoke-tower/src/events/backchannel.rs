//! OpenID Connect Back-Channel Logout 1.0: the identity provider POSTs a logout token.

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use jwt_revoke_core::{Revocations, SessionId, UserId};
use serde_json::json;

use super::token::{
    EventReceiverBuilder, EventTokenKind, EventTokenTrust, Refusal, TokenReceiver, sealed,
};
use super::{EventBody, EventRequest, event_service, json, plain, store_unavailable};

/// The member of `events` that makes a JWT a logout token.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Receives OpenID Connect Back-Channel Logout requests and ends the sessions they name.
///
/// `POST` with `application/x-www-form-urlencoded` body `logout_token=<JWT>`. The logout token
/// is validated as the specification's section 2.6 lists: signature by a trusted key under
/// the algorithm allowlist, `iss`, `aud`, `iat` (not in the future, at most `max_age` old),
/// `exp`, a `jti` not seen before, an `events` claim holding the back-channel logout member
/// (an object), a `sub` or a `sid`, and no `nonce` (which would make it an ID token). Its
/// `typ`, when present, must be `logout+jwt` or `JWT`.
///
/// Then a token with a `sid` ends that session: every token of the session issued up to now
/// is refused (a session cut-off, as [`Revocations::revoke_session`] makes), also one minted
/// after the logout token's `iat` by a delivery that came late or a provider whose clock is
/// behind ours; a session id is not reused, so this harms no later login. Without `sid`, every
/// token of the `sub` issued up to the logout token's `iat` is refused (a user cut-off): cutting
/// at the logout's own instant, not at receipt, makes a retried or replayed delivery harmless
/// to the logins made after it. Note that a logout token with a `sid` ends only that session:
/// access tokens without a `sid` claim are not touched by it.
/// The answer is 200, or 400 with `{"error": "invalid_request", "error_description": …}`;
/// always `Cache-Control: no-store`. A store that cannot record the logout gets 503 and
/// `Retry-After`, so that the provider retries.
///
/// ```
/// use jwt_revoke_core::{Policy, Revocations};
/// use jwt_revoke_memory::MemoryStore;
/// use jwt_revoke_tower::DecodingKeys;
/// use jwt_revoke_tower::events::{BackchannelLogout, EventTokenTrust};
/// use jwt_revoke_tower::jsonwebtoken::{Algorithm, DecodingKey};
/// # use std::{sync::Arc, time::Duration};
/// # let revocations = Revocations::new(Arc::new(MemoryStore::new()), Policy::new(Duration::from_secs(900)));
///
/// let trust = EventTokenTrust::new(
///     DecodingKeys::new(DecodingKey::from_secret(b"shared with the IdP")),
///     &[Algorithm::HS256],
///     "https://idp.example",
///     "my-client-id",
/// );
/// let logout = BackchannelLogout::builder(revocations, trust)
///     // Our access tokens are issued by our own service, not the IdP:
///     .revoke_for_issuer("https://api.example")
///     .build()
///     .expect("valid configuration");
/// let app: axum::Router = axum::Router::new().route_service("/backchannel-logout", logout);
/// ```
#[derive(Clone)]
pub struct BackchannelLogout {
    inner: Arc<TokenReceiver>,
}

impl std::fmt::Debug for BackchannelLogout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.describe("BackchannelLogout", f)
    }
}

/// Configures a [`BackchannelLogout`].
pub type BackchannelLogoutBuilder = EventReceiverBuilder<BackchannelLogout>;

impl EventTokenKind for BackchannelLogout {}

impl sealed::Sealed for BackchannelLogout {
    const TYP: &'static str = "logout+jwt";
    const KIND: &'static str = "logout token";
    const REQUIRED: &'static [&'static str] = &["iss", "aud", "iat", "exp"];
    const DEFAULT_MAX_AGE: Duration = Duration::from_secs(10 * 60);
    fn from_receiver(sealed::Built(inner): sealed::Built) -> Self {
        BackchannelLogout { inner }
    }
}

impl BackchannelLogout {
    /// A receiver that trusts logout tokens as `trust` says and revokes through `revocations`.
    pub fn builder(revocations: Revocations, trust: EventTokenTrust) -> BackchannelLogoutBuilder {
        EventReceiverBuilder::new(revocations, trust)
    }

    async fn handle(self, request: EventRequest) -> http::Response<EventBody> {
        if !request.has_content_type("application/x-www-form-urlencoded") {
            return refuse("the body must be application/x-www-form-urlencoded");
        }
        let token = match request.form_field("logout_token") {
            Ok(token) => token,
            Err(description) => return refuse(description),
        };
        let TokenReceiver {
            revocations,
            verifier,
        } = &*self.inner;
        let claims = match verifier.verify(&token, revocations.clock().now()).await {
            Ok(claims) => claims,
            Err(Refusal {
                description,
                retry_later: true,
                ..
            }) => return super::keys_unavailable(&description),
            Err(Refusal { description, .. }) => return refuse(description),
        };
        let is_logout = claims
            .events
            .as_ref()
            .and_then(|events| events.get(BACKCHANNEL_LOGOUT_EVENT))
            .is_some_and(serde_json::Value::is_object);
        if !is_logout {
            return refuse("the token's events claim has no back-channel logout event");
        }
        if claims.nonce.is_some() {
            return refuse("a logout token must not contain a nonce");
        }
        match verifier.seen(revocations, &claims).await {
            Ok(true) => return refuse("this logout token has been used already"),
            Ok(false) => {}
            Err(err) => return unavailable(&err),
        }
        let issuer = verifier.token_issuer.as_str();
        let revoked = match (&claims.sid, &claims.sub) {
            // A session that ended is over: every token of it up to now dies, also those
            // minted after the logout token's `iat` (a late or retried delivery, a provider
            // whose clock is behind ours). A session id is never reused, so a replay harms no
            // later login.
            (Some(sid), _) => {
                let session = SessionId::new(issuer, sid.as_str());
                super::bounded(revocations, revocations.revoke_session(&session)).await
            }
            // A user logged out at the provider when it issued the token: cut there, not at
            // receipt, so that a replay or a retry can never move the cut-off past a later
            // login.
            (None, Some(sub)) => {
                let at = verifier.event_instant(&claims, revocations.clock().now());
                let user = UserId::new(issuer, sub.as_str());
                super::bounded(revocations, revocations.revoke_user_at(&user, at)).await
            }
            (None, None) => return refuse("the logout token has neither sub nor sid"),
        };
        if let Err(err) = revoked {
            return unavailable(&err);
        }
        if let Err(err) = verifier.record(revocations, &claims).await {
            // The logout happened; only replay protection of this token is missing.
            tracing::warn!(%err, "could not record a processed logout token");
        }
        tracing::info!(sid = ?claims.sid.is_some(), "back-channel logout");
        plain(StatusCode::OK)
    }
}

event_service!(BackchannelLogout, "backchannel_logout");

fn refuse(description: impl Into<String>) -> http::Response<EventBody> {
    let description = description.into();
    tracing::debug!(%description, "logout token refused");
    json(
        StatusCode::BAD_REQUEST,
        &json!({ "error": "invalid_request", "error_description": description }),
    )
}

fn unavailable(err: &jwt_revoke_core::StoreError) -> http::Response<EventBody> {
    tracing::warn!(%err, "back-channel logout could not be recorded");
    store_unavailable(&json!({
        "error": "temporarily_unavailable",
        "error_description": "the logout could not be recorded; retry",
    }))
}
