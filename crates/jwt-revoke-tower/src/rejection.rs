//! Why a request is refused, and the response that says so.

use std::borrow::Cow;
use std::time::Duration;

use http::{HeaderValue, Response, StatusCode, header};
use jwt_revoke_core::RevocationReason;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// gRPC status UNAUTHENTICATED.
const GRPC_UNAUTHENTICATED: &str = "16";
/// gRPC status UNAVAILABLE.
const GRPC_UNAVAILABLE: &str = "14";

/// Bytes the gRPC spec requires to be percent-encoded in `grpc-message` (besides non-ASCII).
const GRPC_MESSAGE: &AsciiSet = &CONTROLS.add(b'%');

/// What is wrong with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectionKind {
    /// No token was sent at all (RFC 6750: answer with a bare challenge, no error code).
    MissingToken,
    /// The request is malformed: two `Authorization` headers, a header that is not text,
    /// a bearer scheme with no token (RFC 6750 `invalid_request`, HTTP 400).
    InvalidRequest(Cow<'static, str>),
    /// The token is malformed, forged, expired, of a refused algorithm or type, or fails the
    /// policy (RFC 6750 `invalid_token`, HTTP 401): why in a word, and as the client is told.
    InvalidToken(InvalidReason, Cow<'static, str>),
    /// The token is valid but revoked (`invalid_token`, HTTP 401).
    Revoked(RevocationReason),
    /// The revocation store could not answer, and the layer fails closed (HTTP 503).
    StoreUnavailable {
        /// What the `Retry-After` header will say.
        retry_after: Duration,
    },
    /// The keys of the token's issuer have not been fetched yet (a remote key set started
    /// without keys): nothing was judged (HTTP 503).
    KeysUnavailable {
        /// What the `Retry-After` header will say.
        retry_after: Duration,
    },
}

/// Why a token is invalid, in one word of a fixed set: a metric's label, a log field. The
/// client is told more ([`Rejection::description`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvalidReason {
    /// Not a compact JWS, a payload that is not JSON, malformed claims, a `crit` header.
    Malformed,
    /// Larger than the layer's limit.
    TooLarge,
    /// The signature does not verify.
    Signature,
    /// An algorithm the token's issuer is not trusted for (`none` among them).
    Algorithm,
    /// A `kid` the issuer's keys do not have, or none where one is needed.
    UnknownKey,
    /// The issuer's fetched keys are stale.
    KeysStale,
    /// The issuer's keys have not been fetched yet.
    KeysUnavailable,
    /// `iss` not accepted.
    Issuer,
    /// `aud` not accepted.
    Audience,
    /// `exp` passed.
    Expired,
    /// `nbf` or `iat` ahead of the clock.
    NotYetValid,
    /// Living longer than the policy allows, or expiring before it was issued.
    Lifetime,
    /// A claim the rules require is missing (`iss`, `sub`, `exp`, `jti`, `aud`).
    MissingClaim,
    /// An event token (logout token, SET) presented as an access token.
    TokenType,
    /// A token verified upstream that cannot be identified (no `jti`, not in the request).
    Unidentifiable,
    /// Anything else.
    Other,
}

impl InvalidReason {
    /// The reason as a label: `snake_case`, one of a fixed set.
    pub const fn as_str(self) -> &'static str {
        match self {
            InvalidReason::Malformed => "malformed",
            InvalidReason::TooLarge => "too_large",
            InvalidReason::Signature => "signature",
            InvalidReason::Algorithm => "algorithm",
            InvalidReason::UnknownKey => "unknown_key",
            InvalidReason::KeysStale => "keys_stale",
            InvalidReason::KeysUnavailable => "keys_unavailable",
            InvalidReason::Issuer => "issuer",
            InvalidReason::Audience => "audience",
            InvalidReason::Expired => "expired",
            InvalidReason::NotYetValid => "not_yet_valid",
            InvalidReason::Lifetime => "lifetime",
            InvalidReason::MissingClaim => "missing_claim",
            InvalidReason::TokenType => "token_type",
            InvalidReason::Unidentifiable => "unidentifiable",
            InvalidReason::Other => "other",
        }
    }
}

impl RejectionKind {
    /// The rejection in one word of a fixed set (the `reason` label of the decision metric):
    /// `no_token`, `bad_request`, an [`InvalidReason`], `revoked_token`, `revoked_user`,
    /// `revoked_session`, `revoked_claim`, `revoked_data_loss`, `not_registered`,
    /// `store_unavailable`, `keys_unavailable`.
    pub fn reason(&self) -> &'static str {
        match self {
            RejectionKind::MissingToken => "no_token",
            RejectionKind::InvalidRequest(_) => "bad_request",
            RejectionKind::InvalidToken(reason, _) => reason.as_str(),
            RejectionKind::Revoked(reason) => revocation_label(reason),
            RejectionKind::StoreUnavailable { .. } => "store_unavailable",
            RejectionKind::KeysUnavailable { .. } => "keys_unavailable",
        }
    }
}

/// A revocation's reason as a label.
pub(crate) fn revocation_label(reason: &RevocationReason) -> &'static str {
    match reason {
        RevocationReason::Token => "revoked_token",
        RevocationReason::NotRegistered => "not_registered",
        RevocationReason::User(_) => "revoked_user",
        RevocationReason::Session(_) => "revoked_session",
        RevocationReason::Claim(_) => "revoked_claim",
        RevocationReason::DataLoss(_) => "revoked_data_loss",
        _ => "revoked_other",
    }
}

/// Which protocol a refused request speaks, and so which form its rejection takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// Plain HTTP: RFC 6750.
    Http,
    /// gRPC: an HTTP/2 request whose content-type is `application/grpc` or
    /// `application/grpc+…`, with `te: trailers` as gRPC requires. Only here does a rejection
    /// travel in an HTTP 200.
    Grpc,
    /// gRPC-Web (`application/grpc-web…`), over any HTTP version: the HTTP form, whose status
    /// gRPC-Web clients map to a gRPC code, with `grpc-status` and `grpc-message` beside it.
    GrpcWeb,
}

impl Protocol {
    /// The protocol of a request, from its HTTP version and content-type.
    ///
    /// The gRPC form is an HTTP 200: it is used only where a gRPC client can be talking,
    /// HTTP/2. Over HTTP/1.x any client could send `content-type: application/grpc`, and a
    /// proxy that allows on 2xx (nginx `auth_request`, Traefik ForwardAuth) would let the
    /// request in.
    pub(crate) fn of<B>(request: &http::Request<B>) -> Self {
        let Some(content_type) = request
            .headers()
            .get(header::CONTENT_TYPE)
            .map(HeaderValue::as_bytes)
        else {
            return Protocol::Http;
        };
        let starts = |prefix: &[u8]| {
            content_type
                .get(..prefix.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        };
        if starts(b"application/grpc-web") {
            return Protocol::GrpcWeb;
        }
        let grpc = starts(b"application/grpc")
            && matches!(
                content_type.get(b"application/grpc".len()),
                None | Some(b'+' | b';')
            );
        // gRPC clients send `te: trailers` (the protocol requires it); a proxy's auth
        // subrequest does not.
        let te_trailers = request
            .headers()
            .get_all(header::TE)
            .iter()
            .any(|value| value.as_bytes().eq_ignore_ascii_case(b"trailers"));
        if grpc && te_trailers && request.version() == http::Version::HTTP_2 {
            Protocol::Grpc
        } else {
            Protocol::Http
        }
    }
}

/// A refused request: what is wrong and which protocol the caller speaks.
///
/// Handed to a [`RejectionResponse`] to build the response. The default one,
/// [`DefaultRejection`], follows RFC 6750 for HTTP and the gRPC status conventions for gRPC
/// calls (HTTP/2 with a content-type of `application/grpc` or `application/grpc+…`).
///
/// Whatever a custom [`RejectionResponse`] answers, a rejection of a request that is not a
/// gRPC call never leaves the layer as a 2xx: an HTTP proxy that allows on success would let
/// the request through. A 2xx is replaced by [`status`](Self::status) (and logged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    kind: RejectionKind,
    protocol: Protocol,
}

impl Rejection {
    pub(crate) fn new(kind: RejectionKind, protocol: Protocol) -> Self {
        Rejection { kind, protocol }
    }

    /// What is wrong.
    pub fn kind(&self) -> &RejectionKind {
        &self.kind
    }

    /// Whether the request was a gRPC call (HTTP/2, `application/grpc…`), whose rejection is
    /// an HTTP 200 with a `grpc-status`.
    pub fn is_grpc(&self) -> bool {
        self.protocol == Protocol::Grpc
    }

    /// Whether the request was a gRPC-Web call (`application/grpc-web…`), whose rejection is
    /// an HTTP error with `grpc-status` and `grpc-message` beside it.
    pub fn is_grpc_web(&self) -> bool {
        self.protocol == Protocol::GrpcWeb
    }

    /// The HTTP status of the default response (gRPC answers travel in an HTTP 200).
    pub fn status(&self) -> StatusCode {
        match self.kind {
            RejectionKind::MissingToken
            | RejectionKind::InvalidToken(..)
            | RejectionKind::Revoked(_) => StatusCode::UNAUTHORIZED,
            RejectionKind::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            RejectionKind::StoreUnavailable { .. } | RejectionKind::KeysUnavailable { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// A human-readable reason, safe to send to the client (it never contains the token).
    pub fn description(&self) -> Cow<'static, str> {
        match &self.kind {
            RejectionKind::MissingToken => Cow::Borrowed("no access token was sent"),
            RejectionKind::InvalidRequest(why) | RejectionKind::InvalidToken(_, why) => why.clone(),
            RejectionKind::Revoked(reason) => Cow::Owned(reason.to_string()),
            RejectionKind::StoreUnavailable { .. } => {
                Cow::Borrowed("token revocation status is temporarily unavailable")
            }
            RejectionKind::KeysUnavailable { .. } => {
                Cow::Borrowed("the keys to verify the token are not available yet")
            }
        }
    }

    /// The default response for this rejection, for any body type with a `Default` (empty)
    /// value: what [`DefaultRejection`] returns. Custom rejections can fall back on it.
    pub fn default_response<B: Default>(&self) -> Response<B> {
        match self.protocol {
            Protocol::Grpc => self.grpc_response(),
            Protocol::Http => self.http_response(),
            Protocol::GrpcWeb => {
                let mut response = self.http_response();
                self.insert_grpc_status(response.headers_mut());
                response
            }
        }
    }

    /// Makes sure a rejection is not a success to anyone but a gRPC client (see the type's
    /// docs): a 2xx answer to another request gets this rejection's status instead.
    pub(crate) fn enforce_failure_status<B>(&self, response: &mut Response<B>) {
        if self.protocol != Protocol::Grpc && response.status().is_success() {
            tracing::warn!(
                status = %response.status(),
                "a custom rejection answered with a success status; sending {} instead",
                self.status()
            );
            *response.status_mut() = self.status();
        }
    }

    fn http_response<B: Default>(&self) -> Response<B> {
        let mut response = Response::new(B::default());
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        match &self.kind {
            RejectionKind::MissingToken => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            RejectionKind::InvalidRequest(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    challenge("invalid_request", &self.description()),
                );
            }
            RejectionKind::InvalidToken(..) | RejectionKind::Revoked(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    challenge("invalid_token", &self.description()),
                );
            }
            RejectionKind::StoreUnavailable { retry_after }
            | RejectionKind::KeysUnavailable { retry_after } => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after_secs(*retry_after)),
                );
            }
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }

    fn grpc_response<B: Default>(&self) -> Response<B> {
        // A trailers-only reply: HTTP 200, the status in the headers, no body.
        let mut response = Response::new(B::default());
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        self.insert_grpc_status(headers);
        response
    }

    /// `grpc-status` and `grpc-message`.
    fn insert_grpc_status(&self, headers: &mut http::HeaderMap) {
        let status = match self.kind {
            RejectionKind::StoreUnavailable { .. } | RejectionKind::KeysUnavailable { .. } => {
                GRPC_UNAVAILABLE
            }
            _ => GRPC_UNAUTHENTICATED,
        };
        headers.insert("grpc-status", HeaderValue::from_static(status));
        let message = utf8_percent_encode(&self.description(), GRPC_MESSAGE).to_string();
        if let Ok(value) = HeaderValue::from_str(&message) {
            headers.insert("grpc-message", value);
        }
    }
}

fn retry_after_secs(retry_after: Duration) -> u64 {
    // Retry-After counts whole seconds; never say 0, which invites a retry storm.
    retry_after.as_secs().max(1)
}

/// `Bearer error="code", error_description="..."`, with the description restricted to the
/// characters RFC 6750 §3 allows (%x20-21 / %x23-5B / %x5D-7E).
fn challenge(code: &'static str, description: &str) -> HeaderValue {
    let clean: String = description
        .chars()
        .map(|c| match c {
            ' ' | '!' | '#'..='[' | ']'..='~' => c,
            _ => '?',
        })
        .collect();
    HeaderValue::from_str(&format!(
        "Bearer error=\"{code}\", error_description=\"{clean}\""
    ))
    // Every byte is printable ASCII by construction, so this cannot fail; stay total anyway.
    .unwrap_or_else(|_| HeaderValue::from_static("Bearer error=\"invalid_token\""))
}

/// Builds the response for a refused request.
///
/// Implemented for [`DefaultRejection`] and for any `Fn(&Rejection) -> Response<B>` closure,
/// so a custom rejection is one closure:
///
/// ```
/// use http::{Response, StatusCode};
/// use jwt_revoke_tower::{Rejection, RejectionResponse};
///
/// let json_401 = |rejection: &Rejection| -> Response<String> {
///     if rejection.is_grpc() {
///         return rejection.default_response(); // keep gRPC clients happy
///     }
///     let mut response = Response::new(format!(r#"{{"error":"{}"}}"#, rejection.description()));
///     *response.status_mut() = rejection.status();
///     response
/// };
/// # fn takes<R: RejectionResponse<String>>(_: R) {}
/// # takes(json_401);
/// ```
pub trait RejectionResponse<B>: Clone {
    /// The response for `rejection`.
    fn response(&self, rejection: &Rejection) -> Response<B>;
}

impl<B, F> RejectionResponse<B> for F
where
    F: Fn(&Rejection) -> Response<B> + Clone,
{
    fn response(&self, rejection: &Rejection) -> Response<B> {
        self(rejection)
    }
}

/// The default rejection: RFC 6750 for HTTP, trailers-only status for gRPC, an empty body.
///
/// | what | HTTP | gRPC (HTTP/2, HTTP 200) |
/// |---|---|---|
/// | no token | 401, `WWW-Authenticate: Bearer` | `grpc-status: 16` |
/// | malformed request | 400, `Bearer error="invalid_request", error_description="…"` | `16` |
/// | bad or revoked token | 401, `Bearer error="invalid_token", error_description="…"` | `16` |
/// | store unavailable (fail closed) | 503, `Retry-After` | `14` |
///
/// gRPC-Web requests get the HTTP column, with the gRPC column's `grpc-status` and
/// `grpc-message` as headers too. Over HTTP/1.x every rejection is a 4xx or 5xx, whatever the
/// content-type says.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultRejection;

impl<B: Default> RejectionResponse<B> for DefaultRejection {
    fn response(&self, rejection: &Rejection) -> Response<B> {
        rejection.default_response()
    }
}

/// The response to a rejection, never a 2xx to anyone but a gRPC client.
pub(crate) fn respond<B, R: RejectionResponse<B>>(
    rejection_response: &R,
    rejection: &Rejection,
) -> Response<B> {
    let mut response = rejection_response.response(rejection);
    rejection.enforce_failure_status(&mut response);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_cannot_break_out_of_the_quoted_string() {
        let value = challenge("invalid_token", "a \"quoted\" \\ thing\nwith é");
        assert_eq!(
            value.to_str().expect("ascii"),
            r#"Bearer error="invalid_token", error_description="a ?quoted? ? thing?with ?""#
        );
    }

    #[test]
    fn grpc_messages_are_percent_encoded() {
        let rejection = Rejection::new(
            RejectionKind::InvalidToken(InvalidReason::Other, Cow::Borrowed("100% bad\n")),
            Protocol::Grpc,
        );
        let response: Response<()> = rejection.default_response();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["grpc-message"], "100%25 bad%0A");
        assert_eq!(response.headers()["grpc-status"], "16");
    }

    #[test]
    fn the_grpc_form_is_only_for_grpc_over_http_2() {
        let protocol = |version: http::Version, content_type: &str| {
            let request = http::Request::builder()
                .version(version)
                .header(header::CONTENT_TYPE, content_type)
                .header(header::TE, "trailers")
                .body(())
                .expect("request");
            Protocol::of(&request)
        };
        let without_te = http::Request::builder()
            .version(http::Version::HTTP_2)
            .header(header::CONTENT_TYPE, "application/grpc")
            .body(())
            .expect("request");
        assert_eq!(Protocol::of(&without_te), Protocol::Http, "no te: trailers");
        use http::Version;
        for grpc in [
            "application/grpc",
            "application/grpc+proto",
            "application/GRPC;x=1",
        ] {
            assert_eq!(protocol(Version::HTTP_2, grpc), Protocol::Grpc, "{grpc}");
            assert_eq!(protocol(Version::HTTP_11, grpc), Protocol::Http, "{grpc}");
            assert_eq!(protocol(Version::HTTP_10, grpc), Protocol::Http, "{grpc}");
        }
        for web in ["application/grpc-web", "application/grpc-web-text+proto"] {
            assert_eq!(protocol(Version::HTTP_2, web), Protocol::GrpcWeb, "{web}");
            assert_eq!(protocol(Version::HTTP_11, web), Protocol::GrpcWeb, "{web}");
        }
        for other in ["application/grpcx", "application/json", "text/grpc"] {
            assert_eq!(protocol(Version::HTTP_2, other), Protocol::Http, "{other}");
        }
    }

    #[test]
    fn no_rejection_but_grpcs_leaves_as_a_success() {
        for protocol in [Protocol::Http, Protocol::GrpcWeb, Protocol::Grpc] {
            let rejection = Rejection::new(RejectionKind::MissingToken, protocol);
            let mut response = Response::new(());
            rejection.enforce_failure_status(&mut response);
            let expected = if protocol == Protocol::Grpc {
                StatusCode::OK
            } else {
                StatusCode::UNAUTHORIZED
            };
            assert_eq!(response.status(), expected, "{protocol:?}");
        }
    }

    #[test]
    fn retry_after_is_never_zero() {
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(7)), 7);
    }
}
