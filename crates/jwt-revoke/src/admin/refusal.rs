//! Every refusal of the admin API: a 4xx for a request it cannot act on, a 503 for a store that
//! could not do what was asked. Always JSON, `{"error": code, "error_description": text}`
//! (with `"field"` when one field is at fault), as the event receivers answer; never cached.
//!
//! A refusal never quotes what the request carried beyond a field's name: a body may hold a
//! token, and an answer ends up in logs.

use std::borrow::Cow;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jwt_revoke_core::StoreError;
use serde::Serialize;

/// What a refusal's body says.
#[derive(Debug, Serialize)]
struct RefusalBody<'a> {
    error: &'static str,
    error_description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

/// A request the admin API did not carry out, and why.
#[derive(Debug)]
pub(crate) struct Refusal {
    status: StatusCode,
    code: &'static str,
    description: Cow<'static, str>,
    field: Option<Cow<'static, str>>,
    retry_after: Option<Duration>,
}

/// What a failed store call was for: the answer says what did not happen.
#[derive(Clone, Copy, Debug)]
pub(crate) enum StoreCall {
    /// A revocation: nothing may have been written.
    Revoke,
    /// A check or a status: nothing was read.
    Read,
}

impl Refusal {
    fn new(
        status: StatusCode,
        code: &'static str,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        Refusal {
            status,
            code,
            description: description.into(),
            field: None,
            retry_after: None,
        }
    }

    /// 400 `invalid_json`: the body is not one JSON value.
    pub(crate) fn invalid_json(description: impl Into<Cow<'static, str>>) -> Self {
        Refusal::new(StatusCode::BAD_REQUEST, "invalid_json", description)
    }

    /// 400 `invalid_request`: the request's body could not be read at all.
    pub(crate) fn unreadable_body() -> Self {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the request's body could not be read",
        )
    }

    /// 413 `body_too_large`.
    pub(crate) fn body_too_large(limit: usize) -> Self {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is larger than {limit} bytes"),
        )
    }

    /// 415 `unsupported_media_type`.
    pub(crate) fn not_json() -> Self {
        Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be application/json",
        )
    }

    /// 422 `invalid_request`: JSON, but not what the endpoint takes.
    pub(crate) fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Refusal::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            description,
        )
    }

    /// 422 `invalid_request` about one field.
    pub(crate) fn invalid_field(
        field: &'static str,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        Refusal::invalid_request(description).with_field(field)
    }

    /// 422 with a code of its own (`claim_not_in_policy`, `unknown_issuer`, `invalid_token`…).
    pub(crate) fn unprocessable(
        code: &'static str,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, code, description)
    }

    /// 404 `not_found`.
    pub(crate) fn not_found() -> Self {
        Refusal::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such endpoint of the admin API (its OpenAPI document is at openapi.json)",
        )
    }

    /// 405 `method_not_allowed` (the router adds `Allow`).
    pub(crate) fn method_not_allowed() -> Self {
        Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this endpoint does not take that method (see the Allow header)",
        )
    }

    /// 503 with `Retry-After`: the store failed. Never a success, whatever may have been
    /// written: a failed call "may not have happened" (the store contract).
    pub(crate) fn store(err: &StoreError, call: StoreCall, retry_after: Duration) -> Self {
        let (code, description) = match (err, call) {
            (StoreError::CapacityExceeded { .. }, _) => (
                "store_full",
                "the revocation store is full and refuses new records: nothing was revoked",
            ),
            (StoreError::DataLoss { .. }, StoreCall::Revoke) => (
                "store_data_loss",
                "the revocation store lost acknowledged records and fails every call until an \
                 operator clears the loss: this revocation may have been written; make it again \
                 once the loss is cleared",
            ),
            (StoreError::DataLoss { .. }, StoreCall::Read) => (
                "store_data_loss",
                "the revocation store lost acknowledged records and fails every call until an \
                 operator clears the loss",
            ),
            (err, StoreCall::Revoke) if err.is_unavailable() => (
                "store_unavailable",
                "the revocation store could not be reached in time: nothing was revoked; retry",
            ),
            (_, StoreCall::Revoke) => (
                "store_failed",
                "the revocation store failed: the revocation may not have happened; retry",
            ),
            (err, StoreCall::Read) if err.is_unavailable() => (
                "store_unavailable",
                "the revocation store could not be reached in time; retry",
            ),
            (_, StoreCall::Read) => ("store_failed", "the revocation store failed; retry"),
        };
        let mut refusal = Refusal::new(StatusCode::SERVICE_UNAVAILABLE, code, description);
        refusal.retry_after = Some(retry_after);
        refusal
    }

    /// The same refusal about one field.
    pub(crate) fn with_field(mut self, field: impl Into<Cow<'static, str>>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// The status it answers with.
    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// Its code (`error`).
    #[cfg(test)]
    pub(crate) fn code(&self) -> &'static str {
        self.code
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = RefusalBody {
            error: self.code,
            error_description: &self.description,
            field: self.field.as_deref(),
        };
        let mut response = super::answer::json(self.status, &body);
        if let Some(after) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after_value(after));
        }
        response
    }
}

/// `Retry-After` in whole seconds, at least one (`Retry-After: 0` invites a tight loop).
pub(crate) fn retry_after_value(after: Duration) -> HeaderValue {
    let secs = after.as_secs_f64().ceil().max(1.0) as u64;
    HeaderValue::from(secs)
}
