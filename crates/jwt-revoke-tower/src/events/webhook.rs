//! FusionAuth-style webhooks: `jwt.refresh-token.revoke` becomes a user cut-off.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, StatusCode};
use jwt_revoke_core::{Revocations, Timestamp, UserId};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{EventBody, EventRequest, event_service, json, plain, store_unavailable};

/// The shortest shared secret a webhook accepts.
pub const MIN_SECRET_BYTES: usize = 16;

/// The event type this webhook acts on.
pub const REFRESH_TOKEN_REVOKE: &str = "jwt.refresh-token.revoke";

/// Receives FusionAuth webhooks and turns `jwt.refresh-token.revoke` events into user
/// cut-offs: every access token of the user issued up to the event is refused.
///
/// Only user-scoped events are acted on: FusionAuth also sends this event for a whole
/// application (with `applicationId` and no `userId`), which gets 400 here, since no user
/// cut-off covers it; and an event for a single refresh token still carries its `userId`, so
/// it cuts off every token of that user.
///
/// FusionAuth sends this event when a user's refresh tokens are revoked (logout everywhere,
/// a password change, a locked account); its access tokens live on until they expire unless
/// something like this receiver stops them. The request is `POST` `application/json`:
///
/// ```json
/// {"event": {"type": "jwt.refresh-token.revoke", "userId": "…",
///            "applicationTimeToLiveInSeconds": {"<application id>": 3600},
///            "createInstant": 1700000000000}}
/// ```
///
/// The webhook is authenticated by a shared secret in a header of your choosing (configure the
/// same header in FusionAuth's webhook settings); a request without it gets 401. The cut-off
/// is made at `createInstant` (never later than now), or now. Other event types are
/// acknowledged with 200 and ignored, so that FusionAuth does not retry them. A lifetime in
/// `applicationTimeToLiveInSeconds` longer than the policy's longest token lifetime is logged:
/// such tokens are refused by the policy anyway, so the cut-off still covers every token the
/// service accepts.
///
/// ```
/// # use std::{sync::Arc, time::Duration};
/// # use jwt_revoke_core::{Policy, Revocations};
/// # use jwt_revoke_memory::MemoryStore;
/// use jwt_revoke_tower::events::FusionAuthWebhook;
/// # let revocations = Revocations::new(Arc::new(MemoryStore::new()), Policy::new(Duration::from_secs(900)));
///
/// let webhook = FusionAuthWebhook::builder(
///     revocations,
///     "https://auth.example.com", // the `iss` of the JWTs FusionAuth issues
///     http::HeaderName::from_static("x-webhook-secret"),
///     "a long random secret shared with FusionAuth",
/// )
/// .build()
/// .expect("a secret of at least 16 bytes");
/// let app: axum::Router = axum::Router::new().route_service("/webhooks/fusionauth", webhook);
/// ```
#[derive(Clone)]
pub struct FusionAuthWebhook {
    inner: Arc<Inner>,
}

struct Inner {
    revocations: Revocations,
    issuer: String,
    header: HeaderName,
    secret_digest: [u8; 32],
}

impl std::fmt::Debug for FusionAuthWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("FusionAuthWebhook")
            .field("issuer", &self.inner.issuer)
            .field("header", &self.inner.header)
            .finish_non_exhaustive()
    }
}

/// Configures a [`FusionAuthWebhook`].
#[must_use]
pub struct FusionAuthWebhookBuilder {
    revocations: Revocations,
    issuer: String,
    header: HeaderName,
    secret_digest: [u8; 32],
    secret_len: usize,
}

impl std::fmt::Debug for FusionAuthWebhookBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FusionAuthWebhookBuilder")
            .field("issuer", &self.issuer)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Delivery {
    event: Event,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    user_id: Option<String>,
    #[serde(default)]
    application_time_to_live_in_seconds: BTreeMap<String, u64>,
    create_instant: Option<i64>,
}

impl FusionAuthWebhook {
    /// A webhook that revokes the users of `issuer`'s tokens, authenticated by `secret` in
    /// the header `header`.
    pub fn builder(
        revocations: Revocations,
        issuer: impl Into<String>,
        header: HeaderName,
        secret: impl AsRef<[u8]>,
    ) -> FusionAuthWebhookBuilder {
        FusionAuthWebhookBuilder {
            revocations,
            issuer: issuer.into(),
            header,
            secret_digest: Sha256::digest(secret.as_ref()).into(),
            secret_len: secret.as_ref().len(),
        }
    }

    fn authenticated(&self, request: &EventRequest) -> bool {
        let mut values = request.head.headers.get_all(&self.inner.header).iter();
        match (values.next(), values.next()) {
            // Digests are compared, so the comparison's time says nothing about the secret.
            (Some(value), None) => {
                <[u8; 32]>::from(Sha256::digest(value.as_bytes())) == self.inner.secret_digest
            }
            _ => false,
        }
    }

    async fn handle(self, request: EventRequest) -> http::Response<EventBody> {
        if !self.authenticated(&request) {
            return plain(StatusCode::UNAUTHORIZED);
        }
        if !request.has_content_type("application/json") {
            return refuse("the body must be application/json");
        }
        let delivery: Delivery = match serde_json::from_slice(&request.body) {
            Ok(delivery) => delivery,
            Err(_) => return refuse("the body is not a FusionAuth event"),
        };
        let event = delivery.event;
        if event.kind != REFRESH_TOKEN_REVOKE {
            return plain(StatusCode::OK);
        }
        let Some(user_id) = event.user_id.filter(|id| !id.is_empty()) else {
            return refuse("the event has no userId");
        };
        let Inner {
            revocations,
            issuer,
            ..
        } = &*self.inner;
        let longest = revocations.policy().max_token_lifetime();
        for (application, ttl) in &event.application_time_to_live_in_seconds {
            if Duration::from_secs(*ttl) > longest {
                tracing::warn!(
                    application,
                    ttl,
                    "an application's tokens live longer than the policy accepts; they are refused"
                );
            }
        }
        let now = revocations.clock().now();
        let at = event
            .create_instant
            .map(|millis| Timestamp::from_micros(millis.saturating_mul(1_000)).min(now))
            .unwrap_or(now);
        let user = UserId::new(issuer.as_str(), user_id);
        match super::bounded(revocations, revocations.revoke_user_at(&user, at)).await {
            Ok(_) => plain(StatusCode::OK),
            Err(err) => {
                tracing::warn!(%err, "a FusionAuth revocation could not be recorded");
                store_unavailable(
                    &json!({ "error": "the revocation could not be recorded; retry" }),
                )
            }
        }
    }
}

event_service!(FusionAuthWebhook, "fusionauth_webhook");

/// The webhook's shared secret is shorter than [`MIN_SECRET_BYTES`]: an empty or short
/// secret, say from an unset environment variable, would let anyone in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the webhook's shared secret is shorter than {min_bytes} bytes")]
#[non_exhaustive]
pub struct WeakSecret {
    /// The shortest secret accepted.
    pub min_bytes: usize,
}

fn refuse(description: &str) -> http::Response<EventBody> {
    json(StatusCode::BAD_REQUEST, &json!({ "error": description }))
}

impl FusionAuthWebhookBuilder {
    /// Builds the webhook; refuses a secret shorter than [`MIN_SECRET_BYTES`].
    pub fn build(self) -> Result<FusionAuthWebhook, WeakSecret> {
        if self.secret_len < MIN_SECRET_BYTES {
            return Err(WeakSecret {
                min_bytes: MIN_SECRET_BYTES,
            });
        }
        Ok(FusionAuthWebhook {
            inner: Arc::new(Inner {
                revocations: self.revocations,
                issuer: self.issuer,
                header: self.header,
                secret_digest: self.secret_digest,
            }),
        })
    }
}
