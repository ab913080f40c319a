//! [`RevocationService`]: the per-request work.

use std::borrow::Cow;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use jwt_revoke_core::{StoreError, TokenError, TokenFacts, Verdict};
use tower_service::Service;

use crate::cache::VerifiedCache;
use crate::claims::Claims;
use crate::extract::find_token;
use crate::future::{CheckFuture, ResponseFuture};
use crate::handle::RevocationHandle;
use crate::layer::{LayerStats, Shared, StoreFailure, Verification};
use crate::rejection::{Protocol, Rejection, RejectionKind, RejectionResponse};
use crate::verify::{JwtVerifier, carries_events_claim, event_token_refused, malformed_claims};

/// The service [`RevocationLayer`](crate::RevocationLayer) wraps around yours.
#[derive(Clone)]
pub struct RevocationService<S, R> {
    inner: S,
    shared: Arc<Shared>,
    rejection: R,
}

impl<S, R> RevocationService<S, R> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>, rejection: R) -> Self {
        RevocationService {
            inner,
            shared,
            rejection,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: std::fmt::Debug, R> std::fmt::Debug for RevocationService<S, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// A token that passed verification and the policy, waiting for the store's word.
#[derive(Clone)]
pub(crate) struct Authenticated {
    pub(crate) claims: Claims,
    pub(crate) token: Arc<TokenFacts>,
}

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for RevocationService<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    R: RejectionResponse<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        if self.shared.bypasses(&request) {
            return ResponseFuture::call(self.inner.call(request));
        }
        let protocol = Protocol::of(&request);
        let authenticated = match authenticate(&self.shared, &request) {
            Ok(authenticated) => authenticated,
            Err(kind) => {
                LayerStats::count(&self.shared.stats.rejected_invalid);
                let rejection = Rejection::new(kind, protocol);
                tracing::debug!(reason = %rejection.description(), "token refused");
                return ResponseFuture::reject(respond(&self.rejection, &rejection));
            }
        };
        let check = check(&self.shared, &authenticated.token);
        // The inner service that was polled ready is the one to call; leave a clone behind.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::check(
            check,
            inner,
            request,
            authenticated,
            Arc::clone(&self.shared),
            self.rejection.clone(),
            protocol,
        )
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

/// Finds, verifies and inspects the token: everything that needs no I/O.
fn authenticate<B>(shared: &Shared, request: &Request<B>) -> Result<Authenticated, RejectionKind> {
    match &shared.verification {
        Verification::Jwt(verifier) => {
            let raw = find_token(request.headers(), &shared.sources, shared.max_token_bytes)?;
            let Some(cache) = &shared.verified_cache else {
                return verify_and_inspect(shared, verifier, &raw);
            };
            let digest = VerifiedCache::digest(&raw);
            if let Some(known) = cache.get(&digest, shared.revocations.clock().now()) {
                LayerStats::count(&shared.stats.verified_cache_hits);
                return seen_before(shared, known);
            }
            let authenticated = verify_and_inspect(shared, verifier, &raw)?;
            cache.insert(digest, &authenticated, shared.revocations.policy());
            Ok(authenticated)
        }
        Verification::Upstream => {
            // The token sources are read even though the upstream layer verified the token: a
            // request that carries two different tokens is ambiguous for every reader of it.
            let found = match find_token(request.headers(), &shared.sources, shared.max_token_bytes)
            {
                Ok(raw) => Some(raw),
                Err(RejectionKind::MissingToken) => None,
                Err(other) => return Err(other),
            };
            let claims = request
                .extensions()
                .get::<Claims>()
                .cloned()
                .ok_or(RejectionKind::MissingToken)?;
            // An event token is never an access token, whoever verified it (RFC 8725 §3.11).
            if carries_events_claim(claims.json())? {
                return Err(event_token_refused());
            }
            let has_jti = claims
                .registered()
                .jti
                .as_deref()
                .is_some_and(|j| !j.is_empty());
            if !has_jti {
                // Identified by the digest of its payload, which must then be the payload of
                // the token itself, or a verifying layer (the RFC 7009 endpoint) and this one
                // would know the token by two identities.
                let Some(raw) = found else {
                    return Err(RejectionKind::InvalidToken(Cow::Borrowed(
                        "the token has no jti and was not found in the request to identify it",
                    )));
                };
                if !carries_payload(&raw, claims.json()) {
                    return Err(RejectionKind::InvalidToken(Cow::Borrowed(
                        "the token in the request is not the one verified upstream",
                    )));
                }
            }
            inspect(shared, claims)
        }
    }
}

/// Verifies the token, then takes its facts from the claims memo or inspects its claims.
fn verify_and_inspect(
    shared: &Shared,
    verifier: &JwtVerifier,
    raw: &str,
) -> Result<Authenticated, RejectionKind> {
    let payload = verifier.verify_payload(raw)?;
    let memo = shared.claims_memo.as_ref();
    if let Some(known) = memo.and_then(|memo| memo.get(payload.get())) {
        LayerStats::count(&shared.stats.claims_memo_hits);
        return seen_before(shared, known);
    }
    let claims = Claims::from_verified_payload(payload).map_err(|_| malformed_claims())?;
    let authenticated = inspect(shared, claims)?;
    if let Some(memo) = memo {
        memo.insert(&authenticated);
    }
    Ok(authenticated)
}

/// A token whose facts were kept (verified-token cache, claims memo): only the time checks
/// depend on when it is seen, so only they run again.
fn seen_before(shared: &Shared, known: Authenticated) -> Result<Authenticated, RejectionKind> {
    shared
        .revocations
        .revalidate(&known.token)
        .map_err(token_error)?;
    Ok(known)
}

/// Applies the issuer and audience rules and the policy to verified claims, and derives the
/// token's identity (from its payload when it has no `jti`) and store keys.
fn inspect(shared: &Shared, claims: Claims) -> Result<Authenticated, RejectionKind> {
    shared
        .claim_rules
        .check(claims.registered())
        .map_err(|why| RejectionKind::InvalidToken(Cow::Borrowed(why)))?;
    let token = shared
        .revocations
        .inspect(claims.registered(), claims.json())
        .map_err(token_error)?;
    Ok(Authenticated {
        claims,
        token: Arc::new(token),
    })
}

fn token_error(err: TokenError) -> RejectionKind {
    RejectionKind::InvalidToken(Cow::Owned(err.to_string()))
}

/// Whether the compact JWS `token` carries exactly `payload` (its second segment).
fn carries_payload(token: &str, payload: &str) -> bool {
    use base64::Engine as _;
    let mut segments = token.split('.');
    let (Some(_), Some(encoded), Some(_), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return false;
    };
    // The claims hold the payload as a JSON reader keeps it, without the whitespace around
    // it; so does the token's identity (`TokenId::from_payload`).
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .is_ok_and(|decoded| decoded.trim_ascii() == payload.as_bytes())
}

/// The store call, bounded by the layer's timeout.
fn check(shared: &Arc<Shared>, token: &Arc<TokenFacts>) -> CheckFuture {
    let revocations = shared.revocations.clone();
    let token = Arc::clone(token);
    CheckFuture::new(
        async move { revocations.check(&token).await },
        shared.store_timeout,
    )
}

/// What the store's answer means for the request: `Ok` to call the inner service with these
/// extensions, `Err` to answer with this rejection.
pub(crate) fn decide<B>(
    shared: &Shared,
    outcome: Result<Verdict, StoreError>,
    request: &mut Request<B>,
    authenticated: Authenticated,
) -> Result<(), RejectionKind> {
    match outcome {
        Ok(Verdict::Valid) => LayerStats::count(&shared.stats.allowed),
        Ok(Verdict::Revoked(reason)) => {
            LayerStats::count(&shared.stats.rejected_revoked);
            tracing::debug!(%reason, "revoked token refused");
            return Err(RejectionKind::Revoked(reason));
        }
        Err(error) => {
            LayerStats::count(&shared.stats.store_failures);
            match shared.store_failure {
                // Only a store that could not be asked may be failed open: an answer that is an
                // error (a corrupt record, a script error, lost data) is never a reason to let a
                // token through.
                StoreFailure::FailOpen if error.is_unavailable() => {
                    LayerStats::count(&shared.stats.failed_open);
                    tracing::warn!(%error, "revocation store unavailable; letting the request through (fail open)");
                }
                StoreFailure::FailOpen => {
                    tracing::error!(%error, "revocation store failed; refusing the request (failing open is only for unavailability)");
                    return Err(RejectionKind::StoreUnavailable {
                        retry_after: std::time::Duration::from_secs(1),
                    });
                }
                StoreFailure::FailClosed { retry_after } => {
                    tracing::warn!(%error, "revocation store failed; refusing the request (fail closed)");
                    return Err(RejectionKind::StoreUnavailable { retry_after });
                }
            }
        }
    }
    let handle = RevocationHandle::new(shared.revocations.clone(), authenticated.token);
    request.extensions_mut().insert(authenticated.claims);
    request.extensions_mut().insert(handle);
    Ok(())
}
