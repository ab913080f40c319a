//! RFC 7009: OAuth 2.0 token revocation.

use std::sync::Arc;

use http::StatusCode;
use jwt_revoke_core::{Revocations, StoreError};
use serde_json::json;

use super::{EventBody, EventRequest, event_service, json, plain, store_unavailable};
use crate::error::BuildError;
use crate::extract::normalize;
use crate::layer::RevocationLayer;
use crate::pipeline::{Pipeline, Verification};
use crate::verify::JwtVerifier;

type ClientCheck = dyn Fn(&http::request::Parts) -> bool + Send + Sync;

/// An RFC 7009 revocation endpoint: `POST` a form with `token` (and optionally
/// `token_type_hint`), and that token is refused from then on.
///
/// The token is checked with the very rules of the [`RevocationLayer`] it is built from
/// (keys, algorithms, policy), then revoked. As RFC 7009 §2.2 requires, the answer is
/// 200 also for a token that is unknown, invalid or expired: there is nothing to revoke, and
/// the caller learns nothing about the token.
///
/// A 200 means that the layer will never accept this token again: either it was recorded,
/// or the layer refuses it for good anyway (a bad signature, an expired token, claims its
/// policy never accepts). A token that is valid only later (`nbf` or `iat` ahead of the clock)
/// is recorded, and whitespace around the token is trimmed as the layer trims it. A request without `token` gets 400
/// `invalid_request`; a store that cannot record the revocation gets 503 with `Retry-After`
/// (never a 200 for a revocation that did not happen). Only JWT access tokens are revoked
/// here: a token that does not verify as one, sent with `token_type_hint=refresh_token`, gets
/// 400 `unsupported_token_type` (RFC 7009 §2.2.1) rather than a 200 that would read as done.
///
/// Possession of a token is enough to revoke it (a public client logs out). To require
/// client authentication as well, give a check with
/// [`authenticate_client`](Self::authenticate_client): a request it refuses gets 401
/// `invalid_client`.
///
/// ```
/// # use std::{sync::Arc, time::Duration};
/// # use jwt_revoke_core::{Policy, Revocations};
/// # use jwt_revoke_memory::MemoryStore;
/// use jwt_revoke_tower::{DecodingKeys, RevocationLayer};
/// use jwt_revoke_tower::events::RevocationEndpoint;
/// use jwt_revoke_tower::jsonwebtoken::{Algorithm, DecodingKey};
/// # let revocations = Revocations::new(Arc::new(MemoryStore::new()), Policy::new(Duration::from_secs(900)));
///
/// let layer = RevocationLayer::verifying(revocations, DecodingKeys::new(DecodingKey::from_secret(b"secret")), &[Algorithm::HS256])
///     .build()
///     .expect("valid configuration");
/// let revoke = RevocationEndpoint::new(&layer).expect("the layer verifies tokens");
/// let app: axum::Router = axum::Router::new()
///     .route_service("/oauth/revoke", revoke)
///     .route("/me", axum::routing::get(|| async { "me" }).layer(layer));
/// ```
#[derive(Clone)]
pub struct RevocationEndpoint {
    inner: Arc<Inner>,
}

struct Inner {
    layer: Arc<Pipeline>,
    authenticate: Option<Box<ClientCheck>>,
}

impl std::fmt::Debug for RevocationEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationEndpoint")
            .field("authenticates_clients", &self.inner.authenticate.is_some())
            .finish_non_exhaustive()
    }
}

impl RevocationEndpoint {
    /// An endpoint that verifies tokens as `layer` does and revokes through its engine.
    ///
    /// Fails with [`BuildError::NotVerifying`] for a layer that reads claims verified
    /// upstream: the endpoint receives bare tokens and must verify them itself.
    pub fn new<R>(layer: &RevocationLayer<R>) -> Result<Self, BuildError> {
        let shared = layer.pipeline();
        if !matches!(shared.verification, Verification::Jwt(_)) {
            return Err(BuildError::NotVerifying);
        }
        Ok(RevocationEndpoint {
            inner: Arc::new(Inner {
                layer: Arc::clone(shared),
                authenticate: None,
            }),
        })
    }

    /// Requires client authentication: `check` sees the request's head (say, an
    /// `Authorization: Basic` header) and tells whether the client is authenticated.
    #[must_use]
    pub fn authenticate_client(
        self,
        check: impl Fn(&http::request::Parts) -> bool + Send + Sync + 'static,
    ) -> Self {
        RevocationEndpoint {
            inner: Arc::new(Inner {
                layer: Arc::clone(&self.inner.layer),
                authenticate: Some(Box::new(check)),
            }),
        }
    }

    fn verifier(&self) -> Option<&JwtVerifier> {
        match &self.inner.layer.verification {
            Verification::Jwt(verifier) => Some(verifier),
            Verification::Upstream => None,
        }
    }

    async fn handle(self, request: EventRequest) -> http::Response<EventBody> {
        if let Some(check) = &self.inner.authenticate
            && !check(&request.head)
        {
            return error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication failed",
            );
        }
        if !request.has_content_type("application/x-www-form-urlencoded") {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the body must be application/x-www-form-urlencoded",
            );
        }
        let token = match request.form_field("token") {
            Ok(token) => token,
            Err(description) => {
                return error(StatusCode::BAD_REQUEST, "invalid_request", &description);
            }
        };
        // The token as the layer reads it from a request: without the whitespace around it.
        let token = normalize(&token);
        let shared = &self.inner.layer;
        if token.len() > shared.max_token_bytes {
            // The layer refuses it whatever the store says: there is nothing to revoke.
            return plain(StatusCode::OK);
        }
        let Some(verifier) = self.verifier() else {
            return plain(StatusCode::OK);
        };
        // RFC 7009 §2.2: an invalid token is not an error; there is nothing to revoke. Only a
        // client that says it sent a refresh token learns that those are not revoked here
        // (§2.2.1 `unsupported_token_type`), so that it does not believe one was.
        let claims = match verifier.waiting(|verifier| verifier.verify(token)).await {
            // Fetched keys may verify it later: 200 would promise "never again" unkept.
            Err(err) if err.keys_may_change => return super::keys_unavailable(&err.description),
            outcome => outcome,
        };
        let Ok(claims) = claims else {
            if request.form_field("token_type_hint").as_deref() == Ok("refresh_token") {
                return error(
                    StatusCode::BAD_REQUEST,
                    "unsupported_token_type",
                    "this endpoint revokes JWT access tokens, not refresh tokens",
                );
            }
            return plain(StatusCode::OK);
        };
        let revocations: &Revocations = &shared.revocations;
        // A token that is merely not valid yet is revoked too: it would be accepted later.
        // Whatever `inspect_for_revocation` refuses, the layer refuses for good (an expired
        // token, claims the policy never accepts), so 200 without a record is the truth.
        let Ok(facts) = revocations.inspect_for_revocation(claims.registered(), claims.json())
        else {
            return plain(StatusCode::OK);
        };
        match super::bounded(revocations, revocations.revoke_token(&facts)).await {
            Ok(_) => plain(StatusCode::OK),
            Err(err) => {
                tracing::warn!(%err, "token revocation could not be recorded");
                let description = if matches!(err, StoreError::CapacityExceeded { .. }) {
                    "the revocation store is full: the token was not revoked"
                } else {
                    "the revocation could not be recorded; retry"
                };
                store_unavailable(&json!({
                    "error": "temporarily_unavailable",
                    "error_description": description,
                }))
            }
        }
    }
}

event_service!(RevocationEndpoint, "token_revocation");

fn error(status: StatusCode, code: &str, description: &str) -> http::Response<EventBody> {
    json(
        status,
        &json!({ "error": code, "error_description": description }),
    )
}
