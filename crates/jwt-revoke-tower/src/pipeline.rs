//! The per-request pipeline of the layer, in one place: find the token, verify it (or take the
//! claims an upstream layer verified), remember what was learned (verified-token cache, claims
//! memo: a payload it holds has only its header and signature verified), ask the store
//! (bounded by the engine's store timeout), decide. The service and its
//! future in [`layer`](crate::layer) only carry a request through these steps; the RFC 7009
//! endpoint verifies with the same pipeline.
//!
//! ```text
//! request ─▶ bypass? ─▶ find_token ─▶ verify (cache) ─▶ inspect (memo) ─▶ check (store) ─▶ decide
//!               │            │             │                  │                │            │
//!               ▼            └─────────────┴── 401/400 ───────┘            503 / 401     inner service
//!         inner service
//! ```

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Request;
use jwt_revoke_core::{Revocations, StoreError, TokenError, TokenFacts, Verdict};

use crate::claims::Claims;
use crate::extract::{TokenSource, find_token};
use crate::handle::RevocationHandle;
use crate::rejection::{InvalidReason, RejectionKind, revocation_label};
use crate::stats::LayerStats;
use crate::verify::{
    Authenticated, ClaimsMemo, JwtVerifier, KeyStamp, KeyWait, VerifiedCache, carries_events_claim,
    event_token_refused, malformed_claims,
};

/// What to do when the store cannot answer (unreachable, timed out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreFailure {
    /// Refuse the request: 503 with `Retry-After` (gRPC: status 14). The default: when the
    /// answer is unknown, a revoked token must not pass.
    FailClosed {
        /// What `Retry-After` says.
        retry_after: Duration,
    },
    /// Let the request through as if the token were not revoked. Only for services that
    /// prefer availability to revocation; every such pass is logged and counted.
    FailOpen,
}

/// A rollout mode in which the layer decides as usual but lets through some requests it would
/// refuse, each counted ([`LayerStats::would_reject`]) and logged at `info` as "would reject":
/// to learn what turning the layer on would refuse before it refuses anything. Only by an
/// explicit [`RevocationLayerBuilder::shadow_mode`](crate::RevocationLayerBuilder::shadow_mode)
/// (or `shadow_mode` in a configuration file); a layer in it warns at build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShadowMode {
    /// Revoked tokens pass, with their claims and revocation handle; everything else is
    /// enforced (a bad signature, an expired token, a missing token are refused as always).
    Revocations,
    /// Revoked tokens pass, and so do requests refused for their token (missing, malformed,
    /// forged, expired, of another issuer): those reach the service without
    /// [`Claims`](crate::Claims). A 503 (store or keys unavailable) is still a 503.
    RevocationsAndInvalidTokens,
}

pub(crate) enum Verification {
    // Boxed: the verifier is large and lives once per layer, behind an `Arc` already.
    Jwt(Box<JwtVerifier>),
    Upstream,
}

/// One layer's pipeline, shared by all its services (and the RFC 7009 endpoint built on it):
/// its settings, its caches, its counters.
pub(crate) struct Pipeline {
    pub(crate) revocations: Revocations,
    pub(crate) verification: Verification,
    pub(crate) sources: Vec<TokenSource>,
    /// Who the tokens must come from and be for, checked on their parsed claims.
    pub(crate) claim_rules: ClaimRules,
    pub(crate) max_token_bytes: usize,
    pub(crate) bypass_exact: Vec<String>,
    pub(crate) bypass_prefixes: Vec<String>,
    pub(crate) store_timeout: Duration,
    pub(crate) store_failure: StoreFailure,
    pub(crate) stats: LayerStats,
    pub(crate) verified_cache: Option<VerifiedCache>,
    pub(crate) claims_memo: Option<ClaimsMemo>,
    /// Report-only rollout, when chosen.
    pub(crate) shadow: Option<ShadowMode>,
}

/// The issuer and audience rules of a layer, applied to the parsed claims of every token, in
/// both verification modes.
pub(crate) struct ClaimRules {
    pub(crate) issuers: Vec<String>,
    pub(crate) audiences: Vec<String>,
    /// The audiences of each trusted issuer (a layer of several), in place of `audiences`.
    pub(crate) issuer_audiences: Vec<(String, Vec<String>)>,
    /// Accept any `aud` (only with no audiences configured).
    pub(crate) any_audience: bool,
}

impl ClaimRules {
    /// Why `claims` are not for this layer, if they are not.
    pub(crate) fn check(
        &self,
        claims: &jwt_revoke_core::RegisteredClaims,
    ) -> Result<(), (InvalidReason, &'static str)> {
        if !self.issuers.is_empty()
            && !claims
                .iss
                .as_deref()
                .is_some_and(|iss| self.issuers.iter().any(|ours| ours == iss))
        {
            return Err((InvalidReason::Issuer, "the token's issuer is not accepted"));
        }
        let audiences = claims
            .iss
            .as_deref()
            .and_then(|iss| {
                self.issuer_audiences
                    .iter()
                    .find(|(name, _)| name == iss)
                    .map(|(_, audiences)| audiences)
            })
            .unwrap_or(&self.audiences);
        match (&claims.aud, audiences.is_empty()) {
            // RFC 7519 §4.1.3: a token whose `aud` does not name us is refused, also when we
            // name no audience at all (unless told to accept any).
            (Some(_), true) if !self.any_audience => Err((
                InvalidReason::Audience,
                "the token is meant for an audience (aud) this service does not accept",
            )),
            (Some(_), true) | (None, true) => Ok(()),
            (None, false) => Err((InvalidReason::MissingClaim, "the token has no aud claim")),
            (Some(aud), false) => {
                if audiences.iter().any(|ours| aud.contains(ours)) {
                    Ok(())
                } else {
                    Err((
                        InvalidReason::Audience,
                        "the token's audience is not accepted",
                    ))
                }
            }
        }
    }
}

/// Why a request is not authenticated yet.
pub(crate) enum Unauthenticated {
    /// Refused.
    Refused(RejectionKind),
    /// Its token names a `kid` its issuer's fetched key set does not have, and a fetch has
    /// begun: authenticate again once this wait is over.
    AwaitKeys(KeyWait),
}

impl From<RejectionKind> for Unauthenticated {
    fn from(kind: RejectionKind) -> Self {
        Unauthenticated::Refused(kind)
    }
}

impl Pipeline {
    /// Whether shadow mode lets through a request refused for its token (`kind`): counted and
    /// logged when it does. Never a 503's request: that one was not judged.
    pub(crate) fn shadow_lets_through(&self, kind: &RejectionKind, span: &tracing::Span) -> bool {
        let passes = self.shadow == Some(ShadowMode::RevocationsAndInvalidTokens)
            && matches!(
                kind,
                RejectionKind::MissingToken
                    | RejectionKind::InvalidRequest(_)
                    | RejectionKind::InvalidToken(..)
            );
        if passes {
            LayerStats::count(&self.stats.would_reject);
            crate::observe::decision(span, "would_reject", kind.reason(), None);
            tracing::info!(
                reason = %crate::rejection::Rejection::new(
                    kind.clone(),
                    crate::rejection::Protocol::Http
                )
                .description(),
                "shadow mode: would reject the request's token; let through without claims"
            );
        }
        passes
    }

    /// Whether the request's path skips the layer (health checks and the like).
    pub(crate) fn bypasses<B>(&self, request: &Request<B>) -> bool {
        let path = request.uri().path();
        self.bypass_exact.iter().any(|p| p == path)
            || self
                .bypass_prefixes
                .iter()
                .any(|p| path.starts_with(p.as_str()))
    }

    /// Finds, verifies and inspects the token: everything that needs no I/O. `may_wait`: a
    /// token whose `kid` a fetched key set lacks may wait for the set's refetch (once: the
    /// second time it is refused).
    pub(crate) fn authenticate<B>(
        &self,
        request: &Request<B>,
        may_wait: bool,
    ) -> Result<Authenticated, Unauthenticated> {
        match &self.verification {
            Verification::Jwt(verifier) => {
                let raw = find_token(request.headers(), &self.sources, self.max_token_bytes)?;
                let Some(cache) = &self.verified_cache else {
                    return self
                        .verify_and_inspect(verifier, &raw, may_wait)
                        .map(|(authenticated, _)| authenticated);
                };
                let digest = VerifiedCache::digest(&raw);
                let now = self.revocations.clock().now();
                if let Some(known) = cache.get(&digest, now, |stamp| verifier.still_in_force(stamp))
                {
                    LayerStats::count(&self.stats.verified_cache_hits);
                    crate::observe::cache_lookup("verified_token", true);
                    return Ok(self.seen_before(known)?);
                }
                crate::observe::cache_lookup("verified_token", false);
                let (authenticated, stamp) = self.verify_and_inspect(verifier, &raw, may_wait)?;
                cache.insert(digest, &authenticated, stamp, self.revocations.policy());
                Ok(authenticated)
            }
            Verification::Upstream => {
                // The token sources are read even though the upstream layer verified the token: a
                // request that carries two different tokens is ambiguous for every reader of it.
                let found = match find_token(request.headers(), &self.sources, self.max_token_bytes)
                {
                    Ok(raw) => Some(raw),
                    Err(RejectionKind::MissingToken) => None,
                    Err(other) => return Err(other.into()),
                };
                let claims = request
                    .extensions()
                    .get::<Claims>()
                    .cloned()
                    .ok_or(RejectionKind::MissingToken)?;
                // An event token is never an access token, whoever verified it (RFC 8725 §3.11).
                if carries_events_claim(claims.json())? {
                    return Err(event_token_refused().into());
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
                        return Err(RejectionKind::InvalidToken(
                            InvalidReason::Unidentifiable,
                            Cow::Borrowed(
                                "the token has no jti and was not found in the request to identify it",
                            ),
                        )
                        .into());
                    };
                    if !carries_payload(&raw, claims.json()) {
                        return Err(RejectionKind::InvalidToken(
                            InvalidReason::Unidentifiable,
                            Cow::Borrowed(
                                "the token in the request is not the one verified upstream",
                            ),
                        )
                        .into());
                    }
                }
                Ok(self.inspect(claims)?)
            }
        }
    }

    /// Verifies the token, then takes its facts from the claims memo or inspects its claims.
    fn verify_and_inspect(
        &self,
        verifier: &JwtVerifier,
        raw: &str,
        may_wait: bool,
    ) -> Result<(Authenticated, Option<KeyStamp>), Unauthenticated> {
        let refused = |err: crate::verify::VerifyError| match err.wait {
            Some(wait) if may_wait => Unauthenticated::AwaitKeys(wait),
            _ => Unauthenticated::Refused(err.into()),
        };
        let memo = self.claims_memo.as_ref();
        if let Some(memo) = memo {
            // A payload seen before: its claims passed every check of this verifier then, and
            // the same text passes them again; its header and signature are checked now, as
            // for any token, before the entry is used. Only the time checks run again.
            if let Some(known) = memo.get_for_token(raw) {
                let stamp = verifier
                    .verify_known_payload_stamped(raw)
                    .map_err(refused)?;
                LayerStats::count(&self.stats.claims_memo_hits);
                crate::observe::cache_lookup("claims_memo", true);
                return Ok((self.seen_before(known)?, stamp));
            }
        }
        let (payload, stamp) = verifier.verify_payload_stamped(raw).map_err(refused)?;
        if memo.is_some() {
            crate::observe::cache_lookup("claims_memo", false);
        }
        let claims = Claims::from_verified_payload(payload).map_err(|_| malformed_claims())?;
        let authenticated = self.inspect(claims)?;
        if let Some(memo) = memo {
            memo.insert(&authenticated);
        }
        Ok((authenticated, stamp))
    }

    /// A token whose facts were kept (verified-token cache, claims memo): only the time checks
    /// depend on when it is seen, so only they run again.
    fn seen_before(&self, known: Authenticated) -> Result<Authenticated, RejectionKind> {
        self.revocations
            .revalidate(&known.token)
            .map_err(token_error)?;
        Ok(known)
    }

    /// Applies the issuer and audience rules and the policy to verified claims, and derives the
    /// token's identity (from its payload when it has no `jti`) and store keys.
    fn inspect(&self, claims: Claims) -> Result<Authenticated, RejectionKind> {
        self.claim_rules
            .check(claims.registered())
            .map_err(|(reason, why)| RejectionKind::InvalidToken(reason, Cow::Borrowed(why)))?;
        let token = self
            .revocations
            .inspect(claims.registered(), claims.json())
            .map_err(token_error)?;
        Ok(Authenticated {
            claims,
            token: Arc::new(token),
        })
    }

    /// The store call, bounded by the layer's timeout.
    pub(crate) fn check(&self, token: &Arc<TokenFacts>) -> CheckFuture {
        let revocations = self.revocations.clone();
        let token = Arc::clone(token);
        CheckFuture::new(
            async move { revocations.check(&token).await },
            self.store_timeout,
        )
    }

    /// What the store's answer means for the request: `Ok` to call the inner service with these
    /// extensions, `Err` to answer with this rejection.
    pub(crate) fn decide<B>(
        &self,
        outcome: Result<Verdict, StoreError>,
        request: &mut Request<B>,
        authenticated: Authenticated,
        span: &tracing::Span,
    ) -> Result<(), RejectionKind> {
        let iss = authenticated.claims.registered().iss.as_deref();
        match outcome {
            Ok(Verdict::Valid) => {
                LayerStats::count(&self.stats.allowed);
                crate::observe::decision(span, "allowed", "valid", iss);
            }
            Ok(Verdict::Revoked(reason)) if self.shadow.is_some() => {
                LayerStats::count(&self.stats.would_reject);
                crate::observe::decision(span, "would_reject", revocation_label(&reason), iss);
                tracing::info!(%reason, "shadow mode: would reject a revoked token; let through");
            }
            Ok(Verdict::Revoked(reason)) => {
                LayerStats::count(&self.stats.rejected_revoked);
                crate::observe::decision(span, "rejected", revocation_label(&reason), iss);
                tracing::debug!(%reason, "revoked token refused");
                return Err(RejectionKind::Revoked(reason));
            }
            Err(error) => {
                LayerStats::count(&self.stats.store_failures);
                match self.store_failure {
                    // Only a store that could not be asked may be failed open: an answer that is an
                    // error (a corrupt record, a script error, lost data) is never a reason to let a
                    // token through.
                    StoreFailure::FailOpen if error.is_unavailable() => {
                        LayerStats::count(&self.stats.failed_open);
                        crate::observe::decision(span, "failed_open", "store_unavailable", iss);
                        tracing::warn!(%error, "revocation store unavailable; letting the request through (fail open)");
                    }
                    StoreFailure::FailOpen => {
                        crate::observe::decision(span, "rejected", "store_unavailable", iss);
                        tracing::error!(%error, "revocation store failed; refusing the request (failing open is only for unavailability)");
                        return Err(RejectionKind::StoreUnavailable {
                            retry_after: std::time::Duration::from_secs(1),
                        });
                    }
                    StoreFailure::FailClosed { retry_after } => {
                        crate::observe::decision(span, "rejected", "store_unavailable", iss);
                        tracing::warn!(%error, "revocation store failed; refusing the request (fail closed)");
                        return Err(RejectionKind::StoreUnavailable { retry_after });
                    }
                }
            }
        }
        let handle = RevocationHandle::new(self.revocations.clone(), authenticated.token);
        request.extensions_mut().insert(authenticated.claims);
        request.extensions_mut().insert(handle);
        Ok(())
    }
}

fn token_error(err: TokenError) -> RejectionKind {
    let reason = match err {
        TokenError::MissingClaim(_) | TokenError::MissingJti => InvalidReason::MissingClaim,
        TokenError::Expired => InvalidReason::Expired,
        TokenError::NotYetValid | TokenError::IssuedInFuture => InvalidReason::NotYetValid,
        TokenError::LifetimeTooLong | TokenError::ExpiresBeforeIssued => InvalidReason::Lifetime,
        _ => InvalidReason::Malformed,
    };
    RejectionKind::InvalidToken(reason, Cow::Owned(err.to_string()))
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

/// The store call of one request, bounded by the layer's store timeout. Boxed because the
/// store is a trait object; named, with a `Debug`, so that it does not leak an unnameable type
/// into signatures.
///
/// The timer is armed only if the store does not answer at the first poll: a store that
/// answers at once (the memory store always does) costs no timer registration at all. The
/// limit then runs from that first poll, which is when the call started.
pub(crate) struct CheckFuture {
    call: Pin<Box<dyn Future<Output = Result<Verdict, StoreError>> + Send>>,
    limit: Duration,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl CheckFuture {
    pub(crate) fn new(
        call: impl Future<Output = Result<Verdict, StoreError>> + Send + 'static,
        limit: Duration,
    ) -> Self {
        CheckFuture {
            call: Box::pin(call),
            limit,
            deadline: None,
        }
    }
}

impl Future for CheckFuture {
    type Output = Result<Verdict, StoreError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(outcome) = self.call.as_mut().poll(cx) {
            return Poll::Ready(outcome);
        }
        let limit = self.limit;
        let deadline = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(StoreError::Timeout(limit))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl fmt::Debug for CheckFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckFuture").finish_non_exhaustive()
    }
}
