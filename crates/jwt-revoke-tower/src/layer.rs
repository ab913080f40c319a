//! [`RevocationLayer`] and its builder.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::{HeaderName, Request};
use jsonwebtoken::Algorithm;
use jwt_revoke_core::Revocations;
use tower_layer::Layer;

use crate::cache::VerifiedCache;
use crate::extract::TokenSource;
use crate::memo::ClaimsMemo;
use crate::rejection::DefaultRejection;
use crate::service::RevocationService;
use crate::verify::{DecodingKeys, JwtVerifier, VerifierSettings};

/// The claims memo's default size: a few thousand tokens' worth.
const DEFAULT_CLAIMS_MEMO_BYTES: usize = 4 << 20;

/// Why a layer could not be built. Every one is a configuration mistake, found at start-up
/// rather than at the first request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The RFC 7009 endpoint was given a layer that reads claims verified upstream
    /// ([`RevocationLayer::claims_verified_upstream`]): it verifies the tokens it revokes
    /// itself, with the keys of a [`RevocationLayer::verifying`] layer.
    #[error(
        "the RFC 7009 endpoint verifies the tokens it revokes: give it a layer built with \
         RevocationLayer::verifying(…), not one that reads claims verified upstream"
    )]
    NotVerifying,
    /// The algorithm allowlist is empty.
    #[error("the algorithm allowlist is empty")]
    NoAlgorithms,
    /// No key was given.
    #[error("no decoding key was given")]
    NoKeys,
    /// Two keys were given for one `kid`: a token naming it could be checked against either.
    #[error("two keys were given for the kid {kid:?}")]
    DuplicateKid {
        /// The repeated `kid`.
        kid: String,
    },
    /// A key can verify none of the allowed algorithms (an HMAC secret with only RS256, say).
    #[error("the {key} key can verify none of the allowed algorithms")]
    KeyAlgorithmMismatch {
        /// `default` or the key's `kid`.
        key: String,
    },
    /// A key is malformed for its family (an Ed25519 key that is not 32 bytes): jsonwebtoken
    /// would fail, or with some backends panic, on every token checked against it.
    #[error("the {key} key is malformed for its algorithm family")]
    MalformedKey {
        /// `default` or the key's `kid`.
        key: String,
    },
    /// jsonwebtoken has no usable crypto backend: with neither or both of its `aws_lc_rs` and
    /// `rust_crypto` features, and no provider installed, it would panic at the first token.
    #[error(
        "jsonwebtoken has no usable crypto backend: enable exactly one of the features \
         `aws_lc_rs` or `rust_crypto` (on jwt-revoke-tower or on jsonwebtoken), or call \
         jsonwebtoken::crypto::CryptoProvider::install_default() before building the layer"
    )]
    NoCryptoBackend,
}

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

/// Counters of what the layer has done, shared by all clones of a layer and its services.
#[derive(Debug, Default)]
pub struct LayerStats {
    pub(crate) allowed: AtomicU64,
    pub(crate) rejected_invalid: AtomicU64,
    pub(crate) rejected_revoked: AtomicU64,
    pub(crate) store_failures: AtomicU64,
    pub(crate) failed_open: AtomicU64,
    pub(crate) verified_cache_hits: AtomicU64,
    pub(crate) claims_memo_hits: AtomicU64,
}

impl LayerStats {
    /// Requests let through with a valid, unrevoked token.
    pub fn allowed(&self) -> u64 {
        self.allowed.load(Ordering::Relaxed)
    }
    /// Requests refused for a missing, malformed or invalid token.
    pub fn rejected_invalid(&self) -> u64 {
        self.rejected_invalid.load(Ordering::Relaxed)
    }
    /// Requests refused because the token is revoked.
    pub fn rejected_revoked(&self) -> u64 {
        self.rejected_revoked.load(Ordering::Relaxed)
    }
    /// Store calls that failed or timed out (whatever happened to the request).
    pub fn store_failures(&self) -> u64 {
        self.store_failures.load(Ordering::Relaxed)
    }
    /// Requests let through unchecked because the store failed and the layer fails open.
    pub fn failed_open(&self) -> u64 {
        self.failed_open.load(Ordering::Relaxed)
    }
    /// Requests whose token was found in the verified-token cache (and so not verified again;
    /// its revocation was still checked).
    pub fn verified_cache_hits(&self) -> u64 {
        self.verified_cache_hits.load(Ordering::Relaxed)
    }

    /// Requests whose verified payload was found in the claims memo (see
    /// [`RevocationLayerBuilder::claims_memo`]): not parsed nor hashed again.
    pub fn claims_memo_hits(&self) -> u64 {
        self.claims_memo_hits.load(Ordering::Relaxed)
    }

    pub(crate) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

pub(crate) enum Verification {
    // Boxed: the verifier is large and lives once per layer, behind an `Arc` already.
    Jwt(Box<JwtVerifier>),
    Upstream,
}

/// Everything the services of one layer share.
pub(crate) struct Shared {
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
}

impl Shared {
    pub(crate) fn bypasses<B>(&self, request: &Request<B>) -> bool {
        let path = request.uri().path();
        self.bypass_exact.iter().any(|p| p == path)
            || self
                .bypass_prefixes
                .iter()
                .any(|p| path.starts_with(p.as_str()))
    }
}

/// The issuer and audience rules of a layer, applied to the parsed claims of every token, in
/// both verification modes.
pub(crate) struct ClaimRules {
    pub(crate) issuers: Vec<String>,
    pub(crate) audiences: Vec<String>,
    /// Accept any `aud` (only with no audiences configured).
    pub(crate) any_audience: bool,
}

impl ClaimRules {
    /// Why `claims` are not for this layer, if they are not.
    pub(crate) fn check(
        &self,
        claims: &jwt_revoke_core::RegisteredClaims,
    ) -> Result<(), &'static str> {
        if !self.issuers.is_empty()
            && !claims
                .iss
                .as_deref()
                .is_some_and(|iss| self.issuers.iter().any(|ours| ours == iss))
        {
            return Err("the token's issuer is not accepted");
        }
        match (&claims.aud, self.audiences.is_empty()) {
            // RFC 7519 §4.1.3: a token whose `aud` does not name us is refused, also when we
            // name no audience at all (unless told to accept any).
            (Some(_), true) if !self.any_audience => {
                Err("the token is meant for an audience (aud) this service does not accept")
            }
            (Some(_), true) | (None, true) => Ok(()),
            (None, false) => Err("the token has no aud claim"),
            (Some(aud), false) => {
                if self.audiences.iter().any(|ours| aud.contains(ours)) {
                    Ok(())
                } else {
                    Err("the token's audience is not accepted")
                }
            }
        }
    }
}

/// A Tower layer that refuses requests whose JWT is missing, invalid or revoked.
///
/// For each request it finds the token, verifies it (or takes the claims an upstream layer
/// verified), asks the store once (token, user and session records together, bounded by a
/// timeout) and either answers with a rejection or calls the inner service with
/// [`Claims`](crate::Claims) and a [`RevocationHandle`](crate::RevocationHandle) in the
/// request's extensions. Rejections are responses, never errors, so the inner service's error
/// type passes through unchanged (Axum needs `Infallible`).
///
/// Store calls are bounded with Tokio's timer, so run the service on a Tokio runtime with the
/// time driver enabled (`#[tokio::main]` and Axum's `serve` do); a store that answers at once
/// (the memory store) never arms the timer.
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use axum::{Router, routing::get};
/// use jsonwebtoken::{Algorithm, DecodingKey};
/// use jwt_revoke_core::{Policy, Revocations};
/// use jwt_revoke_memory::MemoryStore;
/// use jwt_revoke_tower::{DecodingKeys, RevocationLayer};
///
/// let revocations = Revocations::new(
///     Arc::new(MemoryStore::new()),
///     Policy::new(Duration::from_secs(15 * 60)), // our access tokens live at most 15 minutes
/// );
/// let keys = DecodingKeys::new(DecodingKey::from_secret(b"secret"));
/// let layer = RevocationLayer::verifying(revocations, keys, &[Algorithm::HS256])
///     .issuers(["https://auth.example"])
///     .bypass("/healthz")
///     .build()
///     .expect("valid configuration");
///
/// let app: Router = Router::new()
///     .route("/me", get(|| async { "hello" }))
///     .route("/healthz", get(|| async { "ok" }))
///     .layer(layer);
/// ```
#[derive(Clone)]
#[must_use]
pub struct RevocationLayer<R = DefaultRejection> {
    shared: Arc<Shared>,
    rejection: R,
}

impl RevocationLayer {
    /// A layer that verifies tokens with jsonwebtoken: signature by one of `keys`, algorithm
    /// in `algorithms` (the token's own `alg` is never trusted beyond this list; `none` does
    /// not exist here), then the policy's time rules. Configure it further, then
    /// [`build`](RevocationLayerBuilder::build).
    pub fn verifying(
        revocations: Revocations,
        keys: DecodingKeys,
        algorithms: &[Algorithm],
    ) -> RevocationLayerBuilder {
        let mut builder = Self::builder(revocations, ChosenVerification::Jwt(keys));
        builder.algorithms = algorithms.to_vec();
        builder
    }

    /// A layer that does not verify signatures: an upstream layer has, and has put
    /// [`Claims`](crate::Claims) into the request's extensions. A request without them is
    /// refused as unauthenticated. The issuer and audience rules still apply to them.
    ///
    /// A token without `jti` is identified by the digest of its payload, which must then be
    /// exactly the text the `Claims` hold ([`Claims::from_verified_json`] of the token's
    /// decoded payload): the layer finds the token in the request (through its token sources,
    /// which should include wherever the upstream layer reads it) and refuses the request when
    /// the token there does not carry that payload.
    ///
    /// [`Claims::from_verified_json`]: crate::Claims::from_verified_json
    pub fn claims_verified_upstream(revocations: Revocations) -> RevocationLayerBuilder {
        Self::builder(revocations, ChosenVerification::Upstream)
    }

    fn builder(
        revocations: Revocations,
        verification: ChosenVerification,
    ) -> RevocationLayerBuilder {
        RevocationLayerBuilder {
            revocations,
            verification,
            algorithms: Vec::new(),
            issuers: Vec::new(),
            audiences: Vec::new(),
            any_audience: false,
            sources: vec![TokenSource::AuthorizationBearer],
            max_token_bytes: 8 * 1024,
            bypass_exact: Vec::new(),
            bypass_prefixes: Vec::new(),
            store_failure: StoreFailure::FailClosed {
                retry_after: Duration::from_secs(1),
            },
            verified_cache: None,
            claims_memo_bytes: DEFAULT_CLAIMS_MEMO_BYTES,
        }
    }
}

impl<R> RevocationLayer<R> {
    /// The same layer with a custom rejection: a [`RejectionResponse`](crate::RejectionResponse),
    /// for instance a closure `Fn(&Rejection) -> Response<B>`.
    pub fn with_rejection<R2>(self, rejection: R2) -> RevocationLayer<R2> {
        RevocationLayer {
            shared: self.shared,
            rejection,
        }
    }

    /// What the layer has done so far.
    pub fn stats(&self) -> &LayerStats {
        &self.shared.stats
    }

    /// The engine the layer checks with.
    pub fn revocations(&self) -> &Revocations {
        &self.shared.revocations
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl<S, R: Clone> Layer<S> for RevocationLayer<R> {
    type Service = RevocationService<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        RevocationService::new(inner, Arc::clone(&self.shared), self.rejection.clone())
    }
}

impl<R> std::fmt::Debug for RevocationLayer<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationLayer")
            .field("revocations", &self.shared.revocations)
            .field("sources", &self.shared.sources)
            .field("store_timeout", &self.shared.store_timeout)
            .field("store_failure", &self.shared.store_failure)
            .finish_non_exhaustive()
    }
}

enum ChosenVerification {
    Jwt(DecodingKeys),
    Upstream,
}

/// Configures a [`RevocationLayer`]. From [`RevocationLayer::verifying`] or
/// [`RevocationLayer::claims_verified_upstream`].
#[must_use]
pub struct RevocationLayerBuilder {
    revocations: Revocations,
    verification: ChosenVerification,
    algorithms: Vec<Algorithm>,
    issuers: Vec<String>,
    audiences: Vec<String>,
    any_audience: bool,
    sources: Vec<TokenSource>,
    max_token_bytes: usize,
    bypass_exact: Vec<String>,
    bypass_prefixes: Vec<String>,
    store_failure: StoreFailure,
    verified_cache: Option<usize>,
    claims_memo_bytes: usize,
}

impl std::fmt::Debug for RevocationLayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationLayerBuilder")
            .field("algorithms", &self.algorithms)
            .field("issuers", &self.issuers)
            .field("sources", &self.sources)
            .finish_non_exhaustive()
    }
}

impl RevocationLayerBuilder {
    /// Accept only tokens whose `iss` is one of these.
    pub fn issuers<I: IntoIterator<Item = T>, T: Into<String>>(mut self, issuers: I) -> Self {
        self.issuers = issuers.into_iter().map(Into::into).collect();
        self
    }

    /// Accept only tokens whose `aud` includes one of these (and refuse tokens without `aud`).
    ///
    /// Without audiences, a token that has an `aud` claim is refused: it names the services it
    /// is meant for, and this one is not among them (RFC 7519 §4.1.3). Tokens without `aud`
    /// are accepted. To accept tokens whatever their audience, say so with
    /// [`accept_any_audience`](Self::accept_any_audience).
    pub fn audiences<I: IntoIterator<Item = T>, T: Into<String>>(mut self, audiences: I) -> Self {
        self.audiences = audiences.into_iter().map(Into::into).collect();
        self
    }

    /// Accept tokens whatever their `aud` says, when no [`audiences`](Self::audiences) are
    /// configured. Only for a service that truly is the audience of every token its issuers
    /// sign; otherwise a token meant for another service works here too.
    pub fn accept_any_audience(mut self) -> Self {
        self.any_audience = true;
        self
    }

    /// Also look for the token in this cookie (after the sources configured before it).
    pub fn token_from_cookie(mut self, name: impl Into<String>) -> Self {
        self.sources.push(TokenSource::Cookie(name.into()));
        self
    }

    /// Also look for the bare token in this header.
    pub fn token_from_header(mut self, name: HeaderName) -> Self {
        self.sources.push(TokenSource::Header(name));
        self
    }

    /// Replaces the token sources (default: `Authorization: Bearer` only), tried in order.
    pub fn token_sources(mut self, sources: impl IntoIterator<Item = TokenSource>) -> Self {
        self.sources = sources.into_iter().collect();
        self
    }

    /// Tokens longer than this are refused before any parsing (default 8 KiB).
    pub fn max_token_bytes(mut self, bytes: usize) -> Self {
        self.max_token_bytes = bytes;
        self
    }

    /// Requests to exactly this path skip the layer (health checks).
    pub fn bypass(mut self, path: impl Into<String>) -> Self {
        self.bypass_exact.push(path.into());
        self
    }

    /// Requests whose path starts with this skip the layer (e.g. gRPC reflection:
    /// `/grpc.reflection.`). It is a plain string prefix: `/health` also matches
    /// `/healthcheck-admin`, so end a prefix with `/` or `.` where that matters.
    pub fn bypass_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.bypass_prefixes.push(prefix.into());
        self
    }

    /// What to do when the store fails (default: fail closed, `Retry-After: 1`).
    pub fn on_store_failure(mut self, behaviour: StoreFailure) -> Self {
        self.store_failure = behaviour;
        self
    }

    /// Remembers up to `capacity` verified tokens, so that a token seen before skips its
    /// signature verification. Off by default.
    ///
    /// Worth it for RS256, ES256 and the like, whose verification costs tens to hundreds of
    /// microseconds (see BENCHMARKS.md); useless for HS256, whose verification costs about what
    /// the cache's own SHA-256 of the token does. What stays true with it:
    /// - the revocation check runs on every request, cached or not;
    /// - an entry is keyed by the SHA-256 of the exact token bytes that were verified, and is
    ///   never served after the token's expiry (`exp` plus leeway);
    /// - the cache belongs to this layer and its keys: a layer built with other keys has its
    ///   own, empty, cache;
    /// - time claims and the policy are judged on every request, as without the cache.
    ///
    /// Each entry holds the token's claims (the payload's JSON) plus about a hundred bytes.
    pub fn cache_verified_tokens(mut self, capacity: usize) -> Self {
        self.verified_cache = Some(capacity);
        self
    }

    /// How many bytes the claims memo may hold (default 4 MiB; 0 turns it off).
    ///
    /// The memo keeps, by the exact JSON text of a verified token's payload, what the layer
    /// derives from it: the parsed claims, the policy's verdict and the three SHA-256 store
    /// keys. A token seen again is still verified (signature, algorithm, issuer, audience)
    /// and its time claims are judged again against the clock, and the store is asked as
    /// always; only the parsing and hashing are skipped, which is most of what the layer adds
    /// to an HS256 verification (see BENCHMARKS.md). Each entry weighs its payload twice plus
    /// about 512 bytes; when full, the least used entries are dropped.
    pub fn claims_memo(mut self, max_bytes: usize) -> Self {
        self.claims_memo_bytes = max_bytes;
        self
    }

    /// Builds the layer, checking the configuration (and that jsonwebtoken has a crypto backend).
    pub fn build(self) -> Result<RevocationLayer, BuildError> {
        let verification = match self.verification {
            ChosenVerification::Upstream => Verification::Upstream,
            ChosenVerification::Jwt(keys) => {
                let settings = VerifierSettings::access(
                    &self.algorithms,
                    &self.issuers,
                    &self.audiences,
                    self.revocations.policy(),
                );
                Verification::Jwt(Box::new(JwtVerifier::new(keys, &settings)?))
            }
        };
        // Only tokens verified here are cached; claims verified upstream are not ours to keep.
        let verified_cache = match (&verification, self.verified_cache) {
            (Verification::Jwt(_), Some(capacity)) => Some(VerifiedCache::new(capacity)),
            _ => None,
        };
        // Claims verified upstream arrive parsed: there is nothing to skip for them.
        let claims_memo = match &verification {
            Verification::Jwt(_) => ClaimsMemo::new(self.claims_memo_bytes),
            Verification::Upstream => None,
        };
        // The engine's limit (its store's own, a little longer): one owner for every store
        // call (see `Revocations::store_timeout`).
        let store_timeout = self.revocations.store_timeout();
        Ok(RevocationLayer {
            shared: Arc::new(Shared {
                revocations: self.revocations,
                verification,
                sources: self.sources,
                claim_rules: ClaimRules {
                    issuers: self.issuers,
                    audiences: self.audiences,
                    any_audience: self.any_audience,
                },
                max_token_bytes: self.max_token_bytes,
                bypass_exact: self.bypass_exact,
                bypass_prefixes: self.bypass_prefixes,
                store_timeout,
                store_failure: self.store_failure,
                stats: LayerStats::default(),
                verified_cache,
                claims_memo,
            }),
            rejection: DefaultRejection,
        })
    }
}
