//! [`RevocationLayer`], in tower-http's shape: the layer here, its builder, its service and the
//! service's future beside it. The work per request is the [`Pipeline`](crate::pipeline)'s.

mod builder;
mod future;
mod service;

pub use builder::RevocationLayerBuilder;
pub use future::ResponseFuture;
pub use service::RevocationService;

use std::sync::Arc;

use jsonwebtoken::Algorithm;
use jwt_revoke_core::Revocations;
use tower_layer::Layer;

use crate::issuers::{Keys, TrustedIssuer};
use crate::pipeline::Pipeline;
use crate::rejection::DefaultRejection;
use crate::stats::LayerStats;
use builder::ChosenVerification;

/// A Tower layer that refuses requests whose JWT is missing, invalid or revoked.
///
/// For each request it finds the token, verifies it (or takes the claims an upstream layer
/// verified), asks the store once (token, user and session records together, bounded by a
/// timeout) and either answers with a rejection or calls the inner service with
/// [`Claims`](crate::Claims) and a [`RevocationHandle`](crate::RevocationHandle) in the
/// request's extensions. Rejections are responses, never errors, so the inner service's error
/// type passes through unchanged (Axum needs `Infallible`).
///
/// Store calls are bounded with Tokio's timer, so run the service on a Tokio runtime with the
/// time driver enabled (`#[tokio::main]` and Axum's `serve` do); a store that answers at once
/// (the memory store) never arms the timer.
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use axum::{Router, routing::get};
/// use jsonwebtoken::{Algorithm, DecodingKey};
/// use jwt_revoke_core::{Policy, Revocations};
/// use jwt_revoke_memory::MemoryStore;
/// use jwt_revoke_tower::{DecodingKeys, RevocationLayer};
///
/// let revocations = Revocations::new(
///     Arc::new(MemoryStore::new()),
///     Policy::new(Duration::from_secs(15 * 60)), // our access tokens live at most 15 minutes
/// );
/// let keys = DecodingKeys::new(DecodingKey::from_secret(b"secret"));
/// let layer = RevocationLayer::verifying(revocations, keys, &[Algorithm::HS256])
///     .issuers(["https://auth.example"])
///     .bypass("/healthz")
///     .build()
///     .expect("valid configuration");
///
/// let app: Router = Router::new()
///     .route("/me", get(|| async { "hello" }))
///     .route("/healthz", get(|| async { "ok" }))
///     .layer(layer);
/// ```
#[derive(Clone)]
#[must_use]
pub struct RevocationLayer<R = DefaultRejection> {
    pub(crate) pipeline: Arc<Pipeline>,
    pub(crate) rejection: R,
}

impl RevocationLayer {
    /// A layer that verifies tokens with jsonwebtoken: signature by one of `keys`, algorithm
    /// in `algorithms` (the token's own `alg` is never trusted beyond this list; `none` does
    /// not exist here), then the policy's time rules. Configure it further, then
    /// [`build`](RevocationLayerBuilder::build).
    ///
    /// `keys` are [`DecodingKeys`](crate::DecodingKeys) you give, or (feature `remote-keys`)
    /// an identity provider's key set fetched and rotated in the background
    /// (`RemoteKeys`). For the tokens of several issuers, each with its own keys, see
    /// [`verifying_issuers`](Self::verifying_issuers).
    pub fn verifying(
        revocations: Revocations,
        keys: impl Into<Keys>,
        algorithms: &[Algorithm],
    ) -> RevocationLayerBuilder {
        RevocationLayerBuilder::new(
            revocations,
            ChosenVerification::Jwt(keys.into()),
            algorithms.to_vec(),
        )
    }

    /// A layer that verifies the tokens of several issuers, each with its own keys,
    /// algorithms and audiences ([`TrustedIssuer`]): your own HS256 tokens beside an identity
    /// provider's RS256 ones, or the IdPs of several tenants.
    ///
    /// A token's `iss` chooses the issuer whose keys verify it. It is read before the
    /// signature is checked only for that choice: the verified token must name that same
    /// issuer, and a token of an issuer not listed is refused. The builder's
    /// [`audiences`](RevocationLayerBuilder::audiences) apply to issuers that name none of
    /// their own; its [`issuers`](RevocationLayerBuilder::issuers) must not be set (the list
    /// is this one): [`BuildError::IssuersTwice`](crate::BuildError::IssuersTwice).
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// use jsonwebtoken::{Algorithm, DecodingKey};
    /// use jwt_revoke_core::{Policy, Revocations};
    /// use jwt_revoke_memory::MemoryStore;
    /// use jwt_revoke_tower::{DecodingKeys, RevocationLayer, TrustedIssuer};
    ///
    /// let revocations = Revocations::new(Arc::new(MemoryStore::new()), Policy::new(Duration::from_secs(900)));
    /// let layer = RevocationLayer::verifying_issuers(revocations, [
    ///     TrustedIssuer::new(
    ///         "https://api.example.com",
    ///         DecodingKeys::new(DecodingKey::from_secret(b"our own HS256 secret of 32 bytes")),
    ///         &[Algorithm::HS256],
    ///     ),
    ///     TrustedIssuer::new(
    ///         "https://partner.example",
    ///         DecodingKeys::new(DecodingKey::from_secret(b"the partner's HS512 secret......")),
    ///         &[Algorithm::HS512],
    ///     )
    ///     .audiences(["partner-api"]),
    /// ])
    /// .build()
    /// .expect("valid configuration");
    /// # let _ = layer;
    /// ```
    pub fn verifying_issuers(
        revocations: Revocations,
        issuers: impl IntoIterator<Item = TrustedIssuer>,
    ) -> RevocationLayerBuilder {
        RevocationLayerBuilder::new(
            revocations,
            ChosenVerification::Issuers(issuers.into_iter().collect()),
            Vec::new(),
        )
    }

    /// A layer that does not verify signatures: an upstream layer has, and has put
    /// [`Claims`](crate::Claims) into the request's extensions. A request without them is
    /// refused as unauthenticated. The issuer and audience rules still apply to them.
    ///
    /// A token without `jti` is identified by the digest of its payload, which must then be
    /// exactly the text the `Claims` hold ([`Claims::from_verified_json`] of the token's
    /// decoded payload): the layer finds the token in the request (through its token sources,
    /// which should include wherever the upstream layer reads it) and refuses the request when
    /// the token there does not carry that payload.
    ///
    /// [`Claims::from_verified_json`]: crate::Claims::from_verified_json
    pub fn claims_verified_upstream(revocations: Revocations) -> RevocationLayerBuilder {
        RevocationLayerBuilder::new(revocations, ChosenVerification::Upstream, Vec::new())
    }
}

impl<R> RevocationLayer<R> {
    /// The same layer with a custom rejection: a [`RejectionResponse`](crate::RejectionResponse),
    /// for instance a closure `Fn(&Rejection) -> Response<B>`.
    pub fn with_rejection<R2>(self, rejection: R2) -> RevocationLayer<R2> {
        RevocationLayer {
            pipeline: self.pipeline,
            rejection,
        }
    }

    /// What the layer has done so far.
    pub fn stats(&self) -> &LayerStats {
        &self.pipeline.stats
    }

    /// The engine the layer checks with.
    pub fn revocations(&self) -> &Revocations {
        &self.pipeline.revocations
    }

    pub(crate) fn pipeline(&self) -> &Arc<Pipeline> {
        &self.pipeline
    }
}

impl<S, R: Clone> Layer<S> for RevocationLayer<R> {
    type Service = RevocationService<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        RevocationService::new(inner, Arc::clone(&self.pipeline), self.rejection.clone())
    }
}

impl<R> std::fmt::Debug for RevocationLayer<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationLayer")
            .field("revocations", &self.pipeline.revocations)
            .field("sources", &self.pipeline.sources)
            .field("store_timeout", &self.pipeline.store_timeout)
            .field("store_failure", &self.pipeline.store_failure)
            .field("shadow", &self.pipeline.shadow)
            .finish_non_exhaustive()
    }
}
