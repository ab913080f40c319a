//! A Tower layer that makes JWT revocation real: logout that logs out, "log me out
//! everywhere", killing a leaked token — for Axum, Hyper and Tonic alike.
//!
//! Add one [`RevocationLayer`] to your stack. Each request's token is found (`Authorization:
//! Bearer`, a cookie or a header), verified with `jsonwebtoken` under the keys and algorithms
//! you fix, and checked against a [`RevocationStore`](jwt_revoke_core::RevocationStore) in one
//! call. Valid requests reach your service with the [`Claims`] and a [`RevocationHandle`] in
//! their extensions; the others get an RFC 6750 401 (or a gRPC status 16 for gRPC calls), and a
//! failing store gets a 503 (gRPC 14) unless you choose to fail open.
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use axum::{Extension, Router, http::StatusCode, routing::{get, post}};
//! use jsonwebtoken::{Algorithm, DecodingKey};
//! use jwt_revoke_core::{Policy, Revocations};
//! use jwt_revoke_memory::MemoryStore;
//! use jwt_revoke_tower::{Claims, DecodingKeys, RevocationHandle, RevocationLayer};
//!
//! // With the `axum` feature, `claims: Claims` works as an extractor too.
//! async fn me(Extension(claims): Extension<Claims>) -> String {
//!     claims.registered().sub.clone().unwrap_or_default()
//! }
//!
//! async fn logout(Extension(revoke): Extension<RevocationHandle>) -> StatusCode {
//!     match revoke.revoke_token().await {
//!         Ok(_) => StatusCode::NO_CONTENT,
//!         Err(_) => StatusCode::SERVICE_UNAVAILABLE,
//!     }
//! }
//!
//! let revocations = Revocations::new(
//!     Arc::new(MemoryStore::new()),
//!     Policy::new(Duration::from_secs(15 * 60)),
//! );
//! let layer = RevocationLayer::verifying(revocations, DecodingKeys::new(DecodingKey::from_secret(b"secret")), &[Algorithm::HS256])
//!     .build()
//!     .expect("a crypto backend is enabled and the configuration is valid");
//!
//! let app: Router = Router::new()
//!     .route("/me", get(me))
//!     .route("/logout", post(logout))
//!     .layer(layer);
//! ```
//!
//! # Crypto backend
//! jsonwebtoken needs exactly one crypto backend. This crate forces none on you: enable the
//! feature `aws_lc_rs` (fast; builds C) or `rust_crypto` (pure Rust) here or on your own
//! jsonwebtoken dependency, or install a provider with
//! `jsonwebtoken::crypto::CryptoProvider::install_default`. With none or both, jsonwebtoken
//! would panic at the first token; [`RevocationLayerBuilder::build`] checks at start-up and
//! returns [`BuildError::NoCryptoBackend`] instead.
//!
//! # Features
//! - `aws_lc_rs`, `rust_crypto`: pass-through to jsonwebtoken's backends (see above).
//! - `axum`: [`Claims`] and [`RevocationHandle`] as Axum extractors.
//! - `remote-keys`: `RemoteKeys`, an identity provider's keys fetched from its JWKS URL or
//!   through OIDC discovery and rotated without a restart (reqwest with rustls).
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "axum")]
mod axum;
mod claims;
mod error;
pub mod events;
mod extract;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod handle;
mod issuers;
mod layer;
pub mod observe;
mod pipeline;
mod rejection;
// Built for the fuzz targets without `remote-keys` too: then only the parser and the URL rule
// are used, and `KeySourceError` is not exported.
#[cfg(any(feature = "remote-keys", feature = "fuzzing"))]
#[cfg_attr(not(feature = "remote-keys"), allow(dead_code, unreachable_pub))]
mod jwks_document;
#[cfg(feature = "remote-keys")]
pub mod remote;
mod stats;
mod verify;

pub use claims::Claims;
pub use error::{BuildError, JwksError};
pub use extract::TokenSource;
pub use handle::RevocationHandle;
pub use issuers::{Keys, TrustedIssuer};
pub use layer::{ResponseFuture, RevocationLayer, RevocationLayerBuilder, RevocationService};
pub use pipeline::{ShadowMode, StoreFailure};
pub use rejection::{DefaultRejection, InvalidReason, Rejection, RejectionKind, RejectionResponse};
#[cfg(feature = "remote-keys")]
pub use remote::{KeySourceError, RemoteKeys, RemoteKeysBuilder};
pub use stats::LayerStats;
pub use verify::DecodingKeys;

/// The jsonwebtoken this crate is built with, so that your keys and algorithms are its types.
pub use jsonwebtoken;
