//! Axum extractors for [`Claims`] and [`RevocationHandle`] (feature `axum`).
//!
//! Without this feature the same values are reachable with `axum::Extension<Claims>`; the
//! extractors read better and fail with a message that names the cause.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;

use crate::claims::Claims;
use crate::handle::RevocationHandle;

/// A handler asked for what only the layer provides, on a route the layer does not cover
/// (or a bypassed path): a server misconfiguration, hence 500.
const NOT_INSTALLED: (StatusCode, &str) = (
    StatusCode::INTERNAL_SERVER_ERROR,
    "jwt-revoke: this route is not behind a RevocationLayer",
);

impl<S: Send + Sync> FromRequestParts<S> for Claims {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Claims>()
            .cloned()
            .ok_or(NOT_INSTALLED)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RevocationHandle {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<RevocationHandle>()
            .cloned()
            .ok_or(NOT_INSTALLED)
    }
}
