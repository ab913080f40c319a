//! What the admin API answers when it did what was asked: JSON, never cached.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;

use crate::ops::{CutoffView, TokenSummary};

/// A JSON response, `Cache-Control: no-store` (an answer about revocations is stale as soon as
/// the next one is made).
pub(crate) fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let (status, bytes) = match serde_json::to_vec(body) {
        Ok(bytes) => (status, bytes),
        // Our answers are structs of strings, numbers and booleans: serde_json cannot fail on
        // them. Should it, say so in the same shape rather than panic.
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            br#"{"error":"internal_error","error_description":"the answer could not be written"}"#
                .to_vec(),
        ),
    };
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /revocations/users`: every token of the user issued up to `cutoff` is refused.
#[derive(Debug, Serialize)]
pub(crate) struct UserRevoked<'a> {
    pub(crate) revoked: &'static str,
    pub(crate) iss: &'a str,
    pub(crate) sub: &'a str,
    pub(crate) cutoff: CutoffView,
}

/// `POST /revocations/sessions`.
#[derive(Debug, Serialize)]
pub(crate) struct SessionRevoked<'a> {
    pub(crate) revoked: &'static str,
    pub(crate) iss: &'a str,
    pub(crate) sid: &'a str,
    pub(crate) cutoff: CutoffView,
}

/// `POST /revocations/claims`.
#[derive(Debug, Serialize)]
pub(crate) struct ClaimRevoked<'a> {
    pub(crate) revoked: &'static str,
    pub(crate) iss: &'a str,
    pub(crate) claim: &'a str,
    pub(crate) value: &'a str,
    pub(crate) cutoff: CutoffView,
}

/// What a token revocation did.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TokenOutcome {
    /// A denylist record now refuses the token until `recorded_until`.
    Recorded,
    /// The token has expired: no service on this policy accepts it; nothing needed storing.
    AlreadyExpired,
    /// Allowlist mode: its registration is gone (`was_registered` says if there was one).
    Unregistered,
}

/// `POST /revocations/tokens` and `POST /revocations/jti`.
#[derive(Debug, Serialize)]
pub(crate) struct TokenRevoked {
    pub(crate) revoked: &'static str,
    pub(crate) outcome: TokenOutcome,
    pub(crate) description: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) token: Option<TokenSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) recorded_until: Option<crate::ops::Moment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) was_registered: Option<bool>,
}
