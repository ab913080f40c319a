//! Server-side JWT revocation for any Tower service — Axum, Hyper, Tonic: logout that really
//! logs out, "log me out everywhere", killing a leaked token, and an identity provider's
//! logout events, with the revocation state in a store you pick by configuration.
//!
//! This is the crate to depend on. It gathers the parts (the engine of `jwt-revoke-core`, the
//! layer and receivers of `jwt-revoke-tower`, the stores) behind one name and these features:
//!
//! | feature | what it brings |
//! |---|---|
//! | `memory` (default) | [`MemoryStore`]: one process, records in memory with their TTL |
//! | `redis` | [`RedisStore`]: one Redis server or a Redis Cluster, with an optional local replica |
//! | `redis-tls` | `rediss://` URLs |
//! | `axum` | [`Claims`] and [`RevocationHandle`] as Axum extractors |
//! | `aws_lc_rs`, `rust_crypto` | jsonwebtoken's crypto backend: enable one |
//! | `conformance` | the store conformance suite and reference model, for your own store |
//! | `admin` | `admin::AdminApi`: JSON endpoints to revoke and check, with their OpenAPI document |
//!
//! ```toml
//! [dependencies]
//! jwt-revoke = { version = "0.1", features = ["aws_lc_rs", "axum"] }
//! ```
//!
//! # Quick start
//!
//! One layer in front of the routes that need a valid, unrevoked token; the store chosen by
//! an environment variable (`memory` here, `redis://…` in production):
//!
//! ```
//! use std::time::Duration;
//! use axum::{Router, http::StatusCode, routing::{get, post}};
//! use jwt_revoke::jsonwebtoken::{Algorithm, DecodingKey};
//! use jwt_revoke::{Claims, DecodingKeys, Policy, RevocationHandle, RevocationLayer, Revocations, StoreConfig};
//!
//! async fn me(claims: Claims) -> String {
//!     claims.registered().sub.clone().unwrap_or_default()
//! }
//!
//! async fn logout(revoke: RevocationHandle) -> StatusCode {
//!     match revoke.revoke_token().await {
//!         Ok(_) => StatusCode::NO_CONTENT,                // refused from now on, everywhere
//!         Err(_) => StatusCode::SERVICE_UNAVAILABLE,      // nothing was recorded: say so
//!     }
//! }
//!
//! async fn log_out_everywhere(revoke: RevocationHandle) -> StatusCode {
//!     match revoke.revoke_user().await {
//!         Ok(_) => StatusCode::NO_CONTENT,
//!         Err(_) => StatusCode::SERVICE_UNAVAILABLE,
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store: StoreConfig = std::env::var("REVOCATION_STORE")
//!     .unwrap_or_else(|_| "memory".to_owned())
//!     .parse()?;
//! let revocations = Revocations::new(
//!     store.build().await?,
//!     Policy::new(Duration::from_secs(15 * 60)), // your tokens' longest lifetime
//! );
//! let layer = RevocationLayer::verifying(revocations, DecodingKeys::new(DecodingKey::from_secret(b"your HS256 secret")), &[Algorithm::HS256])
//!     .issuers(["https://auth.example.com"])
//!     .build()?;
//!
//! let app: Router = Router::new()
//!     .route("/me", get(me))
//!     .route("/logout", post(logout))
//!     .route("/logout/all", post(log_out_everywhere))
//!     .layer(layer);
//! // axum::serve(listener, app).await?;
//! # let _ = app;
//! # Ok(())
//! # }
//! ```
//!
//! The same layer from a settings file (store, policy, issuer keys and every option, with
//! errors that name the setting): [`RevocationConfig`].
//!
//! What the layer does with each request, the policy's rules, the receivers of identity
//! providers' events ([`events`]), and what each store promises under failure are described in
//! the README and in the docs of [`RevocationLayer`], [`Revocations`] and each store.
//!
//! # Your own store
//!
//! Implement [`RevocationStore`] and run the conformance suite on it (feature
//! `conformance`): see `jwt_revoke::conformance`.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]

pub use jwt_revoke_core::{
    Audience, BoxError, CheckReply, ClaimId, ClaimKeys, ClaimRevocationError, Clock, Cutoff,
    IdentifiedBy, IdentityRule, ListMode, ManualClock, NumericDate, Policy, PolicyError, RecordKey,
    RegisteredClaims, RevocationReason, RevocationStore, Revocations, SessionId, StoreError,
    StoreUsage, SystemClock, Timestamp, TokenError, TokenFacts, TokenId, TokenKeys,
    TokenRevocation, UserId, Verdict, settings,
};
pub use jwt_revoke_tower::{
    BuildError, Claims, DecodingKeys, DefaultRejection, JwksError, Keys, LayerStats, Rejection,
    RejectionKind, RejectionResponse, ResponseFuture, RevocationHandle, RevocationLayer,
    RevocationLayerBuilder, RevocationService, ShadowMode, StoreFailure, TokenSource,
    TrustedIssuer, events, jsonwebtoken,
};
#[cfg(feature = "remote-keys")]
#[cfg_attr(docsrs, doc(cfg(feature = "remote-keys")))]
pub use jwt_revoke_tower::{KeySourceError, RemoteKeys, RemoteKeysBuilder, remote};

#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub use jwt_revoke_core::{conformance, revocation_store_conformance};

/// The embedded store: everything of `jwt-revoke-memory`.
#[cfg(feature = "memory")]
#[cfg_attr(docsrs, doc(cfg(feature = "memory")))]
pub mod memory {
    pub use jwt_revoke_memory::*;
}
#[cfg(feature = "memory")]
pub use jwt_revoke_memory::{MemoryStore, MemoryStoreConfig};

/// The Redis store: everything of `jwt-revoke-redis`.
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis {
    pub use jwt_revoke_redis::*;
}
#[cfg(feature = "redis")]
pub use jwt_revoke_redis::{RedisStore, RedisStoreConfig, ReplicaConfig};

// What an operator does by hand: read a leaked token, explain a refusal, report a store.
pub mod ops;
mod redact;
#[cfg(any(feature = "memory", feature = "redis"))]
mod store_config;
#[cfg(any(feature = "memory", feature = "redis"))]
pub use store_config::{StoreConfig, StoreConfigError};

// The admin API (its docs are in admin/mod.rs).
#[cfg(feature = "admin")]
#[cfg_attr(docsrs, doc(cfg(feature = "admin")))]
pub mod admin;

#[cfg(any(feature = "memory", feature = "redis"))]
pub mod config;
#[cfg(any(feature = "memory", feature = "redis"))]
pub use config::{ConfigError, RevocationConfig};
