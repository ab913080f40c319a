//! Events in: identity providers' logout messages turned into revocations.
//!
//! Each receiver is a framework-agnostic Tower `Service` over `http::Request<B>` (any body)
//! answering `http::Response<`[`EventBody`]`>` and never failing (errors are responses):
//! mount it with Axum's `route_service`, serve it with Hyper, or run it beside Tonic.
//!
//! | receiver | protocol | success | refusal |
//! |---|---|---|---|
//! | [`RevocationEndpoint`] | RFC 7009 token revocation (`token`, `token_type_hint`) | 200, also for unknown or invalid tokens | 400 `invalid_request` (no `token`), 401 `invalid_client` |
//! | [`BackchannelLogout`] | OpenID Connect Back-Channel Logout 1.0 (`logout_token`) | 200 | 400 `{"error", "error_description"}` |
//! | [`SecurityEventReceiver`] | RFC 8417 SETs pushed per RFC 8935; CAEP `session-revoked`, `credential-change` | 202 | 400 `{"err", "description"}` |
//! | [`FusionAuthWebhook`] | FusionAuth's `jwt.refresh-token.revoke` webhook | 200 | 401 (wrong secret), 400 |
//!
//! Every receiver answers 503 with `Retry-After` when the store cannot record the revocation,
//! so that the sender retries, and never reports a revocation that did not happen.
//!
//! Event tokens are validated by rules of their own (RFC 8725 §3.11): a logout token or a
//! SET must carry its `events` claim and may not be typed as an access token, and the access
//! token path refuses tokens typed `logout+jwt` or `secevent+jwt`, and any token with an
//! `events` claim (many providers type logout tokens `JWT`). An event token is acted on
//! once: its (`iss`, `jti`) is recorded until it can no longer be accepted, and a replay is
//! refused. A user's cut-off is made at the event's own instant (its `iat`, or a CAEP
//! `event_timestamp`), so even a replay that slips past the record (two deliveries at once; the
//! check and the record are two store calls) cannot move it past a later login. An ended
//! session ends every token of that session up to now, whatever the event's instant: a late
//! delivery must not spare tokens of a session that is over.
//!
//! Like the layer, the receivers bound store calls with a Tokio timer: run them on a runtime
//! with the time driver enabled (`#[tokio::main]` does so).

mod backchannel;
mod revocation_endpoint;
mod security_event;
mod token;
mod webhook;

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};

pub use backchannel::{BACKCHANNEL_LOGOUT_EVENT, BackchannelLogout, BackchannelLogoutBuilder};
pub use revocation_endpoint::RevocationEndpoint;
pub use security_event::{
    CREDENTIAL_CHANGE, SESSION_REVOKED, SecurityEventReceiver, SecurityEventReceiverBuilder,
};
pub use token::{EventReceiverBuilder, EventTokenKind, EventTokenTrust};
pub use webhook::{
    FusionAuthWebhook, FusionAuthWebhookBuilder, MIN_SECRET_BYTES, REFRESH_TOKEN_REVOKE, WeakSecret,
};

/// The body of every receiver's responses.
pub type EventBody = Full<Bytes>;

/// The largest request body a receiver reads (64 KiB); a larger one gets 413.
pub const MAX_EVENT_BODY: usize = 64 * 1024;

/// The response future of the receivers. Boxed, since it awaits the body and the store;
/// named, with a `Debug`, so that it does not leak an unnameable type into signatures.
pub struct EventFuture(
    Pin<Box<dyn Future<Output = Result<Response<EventBody>, Infallible>> + Send>>,
);

impl EventFuture {
    fn new(future: impl Future<Output = Response<EventBody>> + Send + 'static) -> Self {
        EventFuture(Box::pin(async move { Ok(future.await) }))
    }
}

impl Future for EventFuture {
    type Output = Result<Response<EventBody>, Infallible>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

impl fmt::Debug for EventFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventFuture").finish_non_exhaustive()
    }
}

/// A request as receivers see it: its head and its whole body, read within the limit.
pub(crate) struct EventRequest {
    pub(crate) head: http::request::Parts,
    pub(crate) body: Bytes,
}

impl EventRequest {
    /// Whether the media type (before any `;` parameter) is `expected`, ignoring case.
    pub(crate) fn has_content_type(&self, expected: &str) -> bool {
        self.head
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|media| media.trim().eq_ignore_ascii_case(expected))
    }

    /// The single value of a form field: `Err` with a description when it is absent, empty
    /// or repeated.
    pub(crate) fn form_field(&self, name: &str) -> Result<String, String> {
        let mut values = form_urlencoded::parse(&self.body)
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned());
        match (values.next(), values.next()) {
            (Some(value), None) if !value.is_empty() => Ok(value),
            (Some(_), Some(_)) => Err(format!("the {name} parameter is repeated")),
            _ => Err(format!("the {name} parameter is missing")),
        }
    }
}

/// Handles a request: reads the body (up to [`MAX_EVENT_BODY`]), refuses anything but `POST`,
/// then runs `handle`.
pub(crate) fn receive<B, F, Fut>(
    receiver: &'static str,
    request: Request<B>,
    handle: F,
) -> EventFuture
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    F: FnOnce(EventRequest) -> Fut + Send + 'static,
    Fut: Future<Output = Response<EventBody>> + Send,
{
    EventFuture::new(async move {
        let response = receive_inner(request, handle).await;
        crate::observe::event(receiver, response.status());
        response
    })
}

async fn receive_inner<B, F, Fut>(request: Request<B>, handle: F) -> Response<EventBody>
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    F: FnOnce(EventRequest) -> Fut + Send + 'static,
    Fut: Future<Output = Response<EventBody>> + Send,
{
    {
        if request.method() != http::Method::POST {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED);
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        let (head, body) = request.into_parts();
        let body = match Limited::new(body, MAX_EVENT_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(err) => {
                let status = if err.is::<http_body_util::LengthLimitError>() {
                    StatusCode::PAYLOAD_TOO_LARGE
                } else {
                    StatusCode::BAD_REQUEST
                };
                return plain(status);
            }
        };
        handle(EventRequest { head, body }).await
    }
}

/// Implements `tower_service::Service` for a receiver with a `handle(self, EventRequest)`.
macro_rules! event_service {
    ($receiver:ty, $label:literal) => {
        impl<B> tower_service::Service<http::Request<B>> for $receiver
        where
            B: http_body::Body + Send + 'static,
            B::Data: Send,
            B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        {
            type Response = http::Response<$crate::events::EventBody>;
            type Error = std::convert::Infallible;
            type Future = $crate::events::EventFuture;

            fn poll_ready(
                &mut self,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Result<(), Self::Error>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn call(&mut self, request: http::Request<B>) -> Self::Future {
                let receiver = self.clone();
                $crate::events::receive($label, request, move |request| receiver.handle(request))
            }
        }
    };
}
pub(crate) use event_service;

/// A response with no body; never cached (`Cache-Control: no-store`).
pub(crate) fn plain(status: StatusCode) -> Response<EventBody> {
    let mut response = Response::new(EventBody::default());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A JSON response; never cached.
pub(crate) fn json(status: StatusCode, body: &serde_json::Value) -> Response<EventBody> {
    let mut response = plain(status);
    *response.body_mut() = EventBody::new(Bytes::from(body.to_string()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// 503 with `Retry-After`: the store could not record the revocation; the sender should retry.
pub(crate) fn store_unavailable(body: &serde_json::Value) -> Response<EventBody> {
    let mut response = json(StatusCode::SERVICE_UNAVAILABLE, body);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// 503 with `Retry-After`: the token may verify once its sender's fetched keys change (a new
/// `kid`, keys stale or not fetched yet); the sender should retry.
pub(crate) fn keys_unavailable(description: &str) -> Response<EventBody> {
    tracing::warn!(
        reason = description,
        "an event's token cannot be verified with the keys held now; answered 503 to be retried"
    );
    store_unavailable(&serde_json::json!({
        "error": "temporarily_unavailable",
        "error_description": description,
    }))
}

/// Runs a store call within the engine's limit
/// ([`Revocations::store_timeout`](jwt_revoke_core::Revocations::store_timeout)); a timeout is
/// a [`jwt_revoke_core::StoreError::Timeout`].
pub(crate) async fn bounded<T>(
    revocations: &jwt_revoke_core::Revocations,
    call: impl Future<Output = Result<T, jwt_revoke_core::StoreError>>,
) -> Result<T, jwt_revoke_core::StoreError> {
    let limit = revocations.store_timeout();
    tokio::time::timeout(limit, call)
        .await
        .unwrap_or(Err(jwt_revoke_core::StoreError::Timeout(limit)))
}
