//! The admin API: revoke a user's tokens, a session's, a claim value's (a client app, a
//! tenant), a leaked token pasted as is or one known by its `jti`; check whether a token is
//! refused and why; read the store's status. JSON in and out, described by an OpenAPI 3.1
//! document served beside it: the operations of the `jwt-revoke` command-line tool, answered
//! alike (both are built on [`ops`](crate::ops)).
//!
//! [`AdminApi`] is an Axum [`Router`] (a Tower service: mount it in Axum, serve it with Hyper)
//! that does **no authentication of its own**: anyone who reaches it can end every session of
//! your service. Mount it behind yours (a bearer secret, mTLS, your SSO's middleware), on a
//! listener only operators reach if you can. With a bearer check:
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use axum::{Router, body::Body, extract::{Request, State}, http::{StatusCode, header}};
//! use axum::{middleware::{self, Next}, response::Response};
//! use jwt_revoke::admin::AdminApi;
//! use jwt_revoke::{MemoryStore, Policy, Revocations};
//! use tower::ServiceExt;
//!
//! /// The operators' bearer secret (read it from a file or a secret store, never the code).
//! #[derive(Clone)]
//! struct AdminSecret(Arc<[u8]>);
//!
//! /// Lets a request through only with `Authorization: Bearer <the secret>`.
//! async fn operators_only(
//!     State(secret): State<AdminSecret>,
//!     request: Request,
//!     next: Next,
//! ) -> Result<Response, StatusCode> {
//!     let presented = request
//!         .headers()
//!         .get(header::AUTHORIZATION)
//!         .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "));
//!     match presented {
//!         Some(presented) if same_bytes(presented, &secret.0) => Ok(next.run(request).await),
//!         _ => Err(StatusCode::UNAUTHORIZED),
//!     }
//! }
//!
//! /// Compares in time that does not depend on where the first difference is.
//! fn same_bytes(a: &[u8], b: &[u8]) -> bool {
//!     a.len() == b.len() && a.iter().zip(b).fold(0, |diff, (x, y)| diff | (x ^ y)) == 0
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let revocations = Revocations::new(Arc::new(MemoryStore::new()), Policy::new(Duration::from_secs(900)));
//! let secret = AdminSecret(Arc::from(&b"a long random secret the operators hold"[..]));
//!
//! let admin = AdminApi::new(revocations.clone())        // the engine your layer uses
//!     .issuers(["https://auth.example.com"])            // refuse revocations no check would read
//!     .openapi_server_url("/admin")                     // where the document says it is mounted
//!     .into_router()
//!     .layer(middleware::from_fn_with_state(secret, operators_only)); // 404s included
//! let app = Router::new().nest("/admin", admin);        // beside your service's routes
//!
//! let log_out_everywhere = |bearer: &str| {
//!     Request::post("/admin/revocations/users")
//!         .header(header::AUTHORIZATION, format!("Bearer {bearer}"))
//!         .header(header::CONTENT_TYPE, "application/json")
//!         .body(Body::from(r#"{"iss": "https://auth.example.com", "sub": "alice"}"#))
//! };
//! let refused = app.clone().oneshot(log_out_everywhere("guess")?).await?;
//! assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
//!
//! let done = app.oneshot(log_out_everywhere("a long random secret the operators hold")?).await?;
//! assert_eq!(done.status(), StatusCode::OK);
//! // {"revoked":"user","iss":"https://auth.example.com","sub":"alice",
//! //  "cutoff":{"at":"2026-12-03T18:20:02.123456Z","first_valid_iat":1796322003}}
//! # let body = axum::body::to_bytes(done.into_body(), 4096).await?;
//! # let body: serde_json::Value = serde_json::from_slice(&body)?;
//! # assert_eq!(body["revoked"], "user");
//! # Ok(())
//! # }
//! ```
//!
//! # Endpoints
//!
//! Every body is `application/json`; tokens travel in bodies, never in URLs (which get
//! logged). Instants in answers are RFC 3339 UTC text to the microsecond; instants in requests
//! (`at`, `expires_at`) are seconds since the epoch, as in a JWT (fractions allowed).
//!
//! | endpoint | body | does | answers 200 with |
//! |---|---|---|---|
//! | `POST /revocations/users` | `{"iss", "sub", "at"?}` | refuses every token of the user issued up to now (or up to `at`) | `{"revoked": "user", "iss", "sub", "cutoff": {"at", "first_valid_iat"}}` |
//! | `POST /revocations/sessions` | `{"iss", "sid", "at"?}` | the same for one session (`sid`) | `{"revoked": "session", "iss", "sid", "cutoff"}` |
//! | `POST /revocations/claims` | `{"iss", "claim", "value", "at"?}` | the same for a claim value the policy gives cut-offs (`azp`, a tenant) | `{"revoked": "claim", "iss", "claim", "value", "cutoff"}` |
//! | `POST /revocations/tokens` | `{"token"}` | revokes a leaked token, read without trusting it (signature unchecked) | `{"revoked": "token", "outcome", "description", "token", "recorded_until"}` |
//! | `POST /revocations/jti` | `{"iss", "sub", "jti", "expires_at"? \| "for_seconds"?}` | revokes a token known by its `jti` | as above |
//! | `POST /check` | `{"token"}` | says whether the store refuses the token, by which record, until when | the explanation of [`ops::explain`](crate::ops::explain) |
//! | `GET /status` | — | asks the store a check, reports it, its records and the policy | `{"healthy", "engine", "store"}` (503 when not healthy) |
//! | `GET /openapi.json` | — | the OpenAPI 3.1 document of all of these | the document |
//!
//! The `cutoff` of an answer is the one in force, which is later than asked when a later
//! one was already there (cut-offs never move back), and never later than now plus the
//! policy's `iat` allowance (an `at` further ahead is brought back to it: a cut-off cannot
//! refuse tokens not issued yet). A token is refused when its `iat` is at or before the
//! cut-off's second; issue a fresh one with `iat >= first_valid_iat` (see
//! [`Cutoff`](crate::Cutoff)).
//!
//! A token revocation's `outcome` is `recorded` (refused until `recorded_until`, its expiry
//! plus the leeway), `already_expired` (nothing needed storing: no service on this policy
//! accepts it) or, in allowlist mode, `unregistered`. `POST /revocations/jti` without an
//! expiry keeps the record as long as any token accepted now can live.
//!
//! # Refusals
//!
//! Every refusal is JSON, `{"error", "error_description"}` (and `"field"` when one field is at
//! fault), and quotes nothing a request carried but a field's name: a body may hold a token.
//!
//! | status | `error` | when |
//! |---|---|---|
//! | 400 | `invalid_json` | the body is not one JSON value (or is empty) |
//! | 404 | `not_found` | no such endpoint |
//! | 405 | `method_not_allowed` | another method than the endpoint's (`Allow` says which) |
//! | 413 | `body_too_large` | a body over [`max_body_bytes`](AdminApi::max_body_bytes) (16 KiB) |
//! | 415 | `unsupported_media_type` | a body that is not `application/json` |
//! | 422 | `invalid_request` | a field missing, unknown, of the wrong type, empty, or with whitespace around it; an `at` before which every token has expired (it would revoke nothing); for a `jti`, an expiry later than any token accepted now can have |
//! | 422 | `unknown_issuer` | an `iss` outside [`issuers`](AdminApi::issuers) |
//! | 422 | `claim_not_in_policy` | a claim the policy gives no cut-offs: nothing is written that no check would read |
//! | 422 | `invalid_token` | not a readable compact JWT (an encrypted one, garbage) |
//! | 422 | `token_refused` | claims the policy refuses (no `sub`, a lifetime too long): nothing can be recorded |
//! | 422 | `token_expired` | `POST /check` of an expired token: refused whatever the store holds |
//! | 503 | `store_unavailable`, `store_full`, `store_data_loss`, `store_failed` | the store did not do it, with `Retry-After` |
//!
//! A 2xx always means it was done: when the store fails or does not answer within the
//! engine's limit ([`Revocations::store_timeout`](crate::Revocations::store_timeout)), the
//! answer is a 503 and never says "revoked". (That limit is a Tokio timer, as for the layer
//! and the receivers: serve the router on a runtime with the time driver, as `#[tokio::main]`
//! makes.) Nothing the API logs holds a token: each revocation is logged at `info`, under the
//! target `jwt_revoke::admin`, with the identifiers it names; each store failure at `warn`.
//!
//! # The OpenAPI document
//!
//! `GET /openapi.json` serves [`AdminApi::openapi`]: every endpoint, every body and answer
//! as a JSON Schema, every refusal. The crate's tests read it and send each documented request
//! through the router, check the answers against the documented schemas, and check that every
//! route of [`AdminApi::endpoints`] is documented and nothing else is.

mod answer;
mod body;
mod check;
mod refusal;
mod request;
mod revoke;
mod status;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use jwt_revoke_core::{Revocations, StoreError};

use refusal::{Refusal, StoreCall};

/// The OpenAPI document, as written; [`AdminApi::openapi`] serves it with its server URL.
const OPENAPI: &str = include_str!("openapi.json");

/// The admin API over an engine: see the [module docs](self).
///
/// ```
/// # use std::{sync::Arc, time::Duration};
/// # use jwt_revoke::{MemoryStore, Policy, Revocations};
/// use jwt_revoke::admin::AdminApi;
///
/// # let revocations = Revocations::new(Arc::new(MemoryStore::new()), Policy::new(Duration::from_secs(900)));
/// let router: axum::Router = AdminApi::new(revocations)
///     .max_body_bytes(8 * 1024)
///     .retry_after(Duration::from_secs(2))
///     .into_router();
/// ```
#[derive(Clone)]
#[must_use]
pub struct AdminApi {
    revocations: Revocations,
    issuers: Option<Vec<String>>,
    max_body_bytes: usize,
    retry_after: Duration,
    server_url: Option<String>,
    #[cfg(any(feature = "memory", feature = "redis"))]
    operator_store: Option<crate::ops::OperatorStore>,
}

impl fmt::Debug for AdminApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminApi")
            .field("revocations", &self.revocations)
            .field("issuers", &self.issuers)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("retry_after", &self.retry_after)
            .field("server_url", &self.server_url)
            .finish_non_exhaustive()
    }
}

impl AdminApi {
    /// The default of [`max_body_bytes`](Self::max_body_bytes): 16 KiB, twice the longest
    /// token the layer accepts by default.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024;

    /// The admin API of `revocations`: give it the engine your layer checks with (the layer's
    /// [`revocations()`](crate::RevocationLayer::revocations)), so that both read one store by
    /// one policy.
    pub fn new(revocations: Revocations) -> Self {
        AdminApi {
            revocations,
            issuers: None,
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            retry_after: Duration::from_secs(1),
            server_url: None,
            #[cfg(any(feature = "memory", feature = "redis"))]
            operator_store: None,
        }
    }

    /// Accepts only these issuers (in `iss`, and in a pasted token's `iss`): a revocation for
    /// an issuer your layer does not accept (`https://auth.example.com/` for
    /// `https://auth.example.com`) would be acknowledged and refuse nothing. Without it, any
    /// issuer is taken.
    pub fn issuers<I, T>(mut self, issuers: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.issuers = Some(issuers.into_iter().map(Into::into).collect());
        self
    }

    /// The largest body read; a larger one gets 413 (default
    /// [`DEFAULT_MAX_BODY_BYTES`](Self::DEFAULT_MAX_BODY_BYTES)).
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// What a 503 tells the client to wait (`Retry-After`, whole seconds, at least 1; 1 s by
    /// default).
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = after;
        self
    }

    /// The URL the document names as its server (`servers[0].url`): the prefix you mount the
    /// router under (`/admin`), or an absolute URL. Without it the document names none, which
    /// OpenAPI reads as `/`.
    pub fn openapi_server_url(mut self, url: impl Into<String>) -> Self {
        self.server_url = Some(url.into());
        self
    }

    /// Adds the operator's report on the store to `GET /status`: its kind, location (password
    /// hidden), the data-loss marker and the store's reaction, replication settings, record
    /// counts (on Redis, by `SCAN`ning the prefix, for up to 10 s: `/status` is for operators,
    /// not a liveness probe to poll every second), as `jwt-revoke status` prints it.
    ///
    /// Open it with [`OperatorStore::open`](crate::ops::OperatorStore::open) from the same
    /// [`StoreConfig`](crate::StoreConfig) as the engine's store. For a Redis store that reads
    /// the same records; a memory store opened so is another, empty store, so this is for
    /// Redis: for the memory store, `/status` reports the engine's own store without it.
    #[cfg(any(feature = "memory", feature = "redis"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "memory", feature = "redis"))))]
    pub fn with_store_status(mut self, store: crate::ops::OperatorStore) -> Self {
        self.operator_store = Some(store);
        self
    }

    /// Every endpoint the router serves, in the document's order.
    pub fn endpoints() -> &'static [Endpoint] {
        &Endpoint::ALL
    }

    /// The OpenAPI 3.1 document that `GET /openapi.json` serves.
    pub fn openapi(&self) -> serde_json::Value {
        // Written in this crate, and read by its tests: it is JSON.
        let mut document: serde_json::Value =
            serde_json::from_str(OPENAPI).expect("the crate's OpenAPI document is JSON");
        if let (Some(url), Some(object)) = (&self.server_url, document.as_object_mut()) {
            object.insert("servers".into(), serde_json::json!([{ "url": url }]));
        }
        document
    }

    /// The router: mount it behind your authentication (see the [module docs](self)).
    pub fn into_router(self) -> Router {
        let document = self.openapi().to_string();
        let shared = Arc::new(Shared {
            revocations: self.revocations,
            issuers: self.issuers,
            max_body_bytes: self.max_body_bytes,
            retry_after: self.retry_after,
            openapi: document.into(),
            #[cfg(any(feature = "memory", feature = "redis"))]
            operator_store: self.operator_store,
        });
        let mut router = Router::new();
        for endpoint in Endpoint::ALL {
            router = router.route(endpoint.path(), endpoint.method_router());
        }
        router
            .fallback(|| async { Refusal::not_found().into_response() })
            .with_state(shared)
    }
}

/// One endpoint of the admin API: its method and path (relative to where it is mounted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `POST /revocations/users`.
    RevokeUser,
    /// `POST /revocations/sessions`.
    RevokeSession,
    /// `POST /revocations/claims`.
    RevokeClaim,
    /// `POST /revocations/tokens`.
    RevokeToken,
    /// `POST /revocations/jti`.
    RevokeJti,
    /// `POST /check`.
    Check,
    /// `GET /status`.
    Status,
    /// `GET /openapi.json`.
    OpenApi,
}

impl Endpoint {
    /// Every endpoint: the router is built from this list, one route each.
    const ALL: [Endpoint; 8] = [
        Endpoint::RevokeUser,
        Endpoint::RevokeSession,
        Endpoint::RevokeClaim,
        Endpoint::RevokeToken,
        Endpoint::RevokeJti,
        Endpoint::Check,
        Endpoint::Status,
        Endpoint::OpenApi,
    ];

    /// The path, relative to where the router is mounted.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::RevokeUser => "/revocations/users",
            Endpoint::RevokeSession => "/revocations/sessions",
            Endpoint::RevokeClaim => "/revocations/claims",
            Endpoint::RevokeToken => "/revocations/tokens",
            Endpoint::RevokeJti => "/revocations/jti",
            Endpoint::Check => "/check",
            Endpoint::Status => "/status",
            Endpoint::OpenApi => "/openapi.json",
        }
    }

    /// The method (a `GET` endpoint answers `HEAD` too).
    pub fn method(self) -> Method {
        match self {
            Endpoint::Status | Endpoint::OpenApi => Method::GET,
            _ => Method::POST,
        }
    }

    /// Whether it writes revocations (and so answers 2xx only once the store holds them).
    pub fn revokes(self) -> bool {
        self.path().starts_with("/revocations/")
    }

    fn method_router(self) -> MethodRouter<Arc<Shared>> {
        let filter = if self.method() == Method::GET {
            MethodFilter::GET
        } else {
            MethodFilter::POST
        };
        let route = match self {
            Endpoint::RevokeUser => on(filter, revoke::user),
            Endpoint::RevokeSession => on(filter, revoke::session),
            Endpoint::RevokeClaim => on(filter, revoke::claim),
            Endpoint::RevokeToken => on(filter, revoke::token),
            Endpoint::RevokeJti => on(filter, revoke::jti),
            Endpoint::Check => on(filter, check::check),
            Endpoint::Status => on(filter, status::status),
            Endpoint::OpenApi => on(filter, openapi),
        };
        // Axum adds `Allow` to the 405.
        route.fallback(|| async { Refusal::method_not_allowed().into_response() })
    }
}

/// What every handler shares: the engine and the API's settings.
pub(crate) struct Shared {
    revocations: Revocations,
    issuers: Option<Vec<String>>,
    max_body_bytes: usize,
    retry_after: Duration,
    openapi: axum::body::Bytes,
    #[cfg(any(feature = "memory", feature = "redis"))]
    operator_store: Option<crate::ops::OperatorStore>,
}

impl Shared {
    /// Runs a store call within the engine's limit; a call that takes longer is a
    /// [`StoreError::Timeout`] (and may still complete: a 503 says "may not have happened").
    async fn bounded<T, E: From<StoreError>>(
        &self,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        self.bounded_calls(1, call).await
    }

    /// [`bounded`](Self::bounded) for work of up to `calls` store calls in a row.
    async fn bounded_calls<T, E: From<StoreError>>(
        &self,
        calls: u32,
        work: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let limit = self
            .revocations
            .store_timeout()
            .saturating_mul(calls.max(1));
        tokio::time::timeout(limit, work)
            .await
            .unwrap_or_else(|_| Err(StoreError::Timeout(limit).into()))
    }

    fn store_refusal(&self, err: &StoreError, call: StoreCall) -> Refusal {
        tracing::warn!(%err, ?call, "admin API: the revocation store failed");
        Refusal::store(err, call, self.retry_after)
    }

    /// `iss` as an identifier, and one of the accepted issuers when they are listed.
    fn issuer<'a>(&self, iss: &'a str) -> Result<&'a str, Refusal> {
        let iss = request::identifier("iss", iss)?;
        match &self.issuers {
            Some(issuers) if !issuers.iter().any(|known| known == iss) => {
                Err(Refusal::unprocessable(
                    "unknown_issuer",
                    "this issuer is not one this API revokes for: a revocation for it would \
                     refuse no token",
                )
                .with_field("iss"))
            }
            _ => Ok(iss),
        }
    }
}

/// `GET /openapi.json`.
async fn openapi(axum::extract::State(api): axum::extract::State<Arc<Shared>>) -> Response {
    let mut response = Response::new(Body::from(api.openapi.clone()));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    *response.status_mut() = StatusCode::OK;
    response
}

#[cfg(all(test, feature = "memory"))]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_json_and_names_its_server_when_told() {
        let revocations = Revocations::new(
            Arc::new(jwt_revoke_memory::MemoryStore::new()),
            jwt_revoke_core::Policy::new(Duration::from_secs(60)),
        );
        let plain = AdminApi::new(revocations.clone()).openapi();
        assert!(plain.get("servers").is_none());
        let mounted = AdminApi::new(revocations)
            .openapi_server_url("/admin")
            .openapi();
        assert_eq!(mounted["servers"][0]["url"], "/admin");
    }
}
