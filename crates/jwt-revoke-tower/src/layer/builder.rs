//! [`RevocationLayerBuilder`]: what a layer is configured with, checked once at `build`.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use jsonwebtoken::Algorithm;
use jwt_revoke_core::Revocations;

use super::RevocationLayer;
use crate::error::BuildError;
use crate::extract::TokenSource;
use crate::issuers::{Keys, TrustedIssuer};
use crate::pipeline::{ClaimRules, Pipeline, ShadowMode, StoreFailure, Verification};
use crate::rejection::DefaultRejection;
use crate::stats::LayerStats;
use crate::verify::{ClaimsMemo, IssuerSpec, JwtVerifier, VerifiedCache, VerifierSettings};

/// The claims memo's default size: about 23,000 tokens of 200-byte payloads, 10,000 of 1 KiB
/// (each entry weighs its payload plus about 512 bytes).
const DEFAULT_CLAIMS_MEMO_BYTES: usize = 16 << 20;

pub(super) enum ChosenVerification {
    Jwt(Keys),
    Issuers(Vec<TrustedIssuer>),
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
    shadow: Option<ShadowMode>,
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
    pub(super) fn new(
        revocations: Revocations,
        verification: ChosenVerification,
        algorithms: Vec<Algorithm>,
    ) -> RevocationLayerBuilder {
        RevocationLayerBuilder {
            revocations,
            verification,
            algorithms,
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
            shadow: None,
        }
    }

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
    /// `/healthcheck-admin`, so end a prefix with `/` or `.` where that matters. A prefix that
    /// matches every path (`""`, `"/"`) is refused at [`build`](Self::build).
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

    /// How many bytes the claims memo may hold (default 16 MiB, about 23,000 tokens of 200-byte
    /// payloads; 0 turns it off). Size it to the tokens active at once: a token whose entry was
    /// evicted costs a parse and three SHA-256 key derivations again.
    ///
    /// The memo keeps, by the exact JSON text of a verified token's payload, what the layer
    /// derives from it: the parsed claims, the policy's verdict and the three SHA-256 store
    /// keys. A token whose payload it holds still has its header and signature verified as
    /// any token's (the key its `kid` names, the algorithm allowlist, `typ`, `crit`), its time
    /// claims judged again against the clock, and the store asked as always; what is skipped
    /// is what depends on the payload's text alone — parsing it (jsonwebtoken's claim checks
    /// included: required claims, issuer, audience) and hashing its keys, so that an HS256
    /// request through the layer does fewer instructions than `jsonwebtoken::decode` alone
    /// (see BENCHMARKS.md). Each entry weighs its payload plus about 512 bytes; when full, the
    /// least used entries are dropped.
    pub fn claims_memo(mut self, max_bytes: usize) -> Self {
        self.claims_memo_bytes = max_bytes;
        self
    }

    /// Report-only rollout ([`ShadowMode`]): the layer decides and counts as usual, but lets
    /// through what `mode` names, each counted
    /// ([`LayerStats::would_reject`](crate::LayerStats::would_reject)) and logged as "would
    /// reject". Off unless called; [`build`](Self::build) logs a warning when on. Turn it off
    /// once the counts show what enforcing would refuse: in shadow mode a revoked token works.
    pub fn shadow_mode(mut self, mode: ShadowMode) -> Self {
        self.shadow = Some(mode);
        self
    }

    /// Builds the layer, checking the configuration (and that jsonwebtoken has a crypto backend).
    pub fn build(self) -> Result<RevocationLayer, BuildError> {
        if let Some(prefix) = self
            .bypass_prefixes
            .iter()
            .find(|prefix| prefix.is_empty() || *prefix == "/")
        {
            return Err(BuildError::BypassesEverything {
                prefix: prefix.clone(),
            });
        }
        let policy = self.revocations.policy();
        let mut issuer_audiences = Vec::new();
        let mut issuers = self.issuers;
        let verification = match self.verification {
            ChosenVerification::Upstream => Verification::Upstream,
            ChosenVerification::Jwt(keys) => {
                let settings = VerifierSettings::access(
                    self.algorithms,
                    issuers.clone(),
                    self.audiences.clone(),
                    policy,
                );
                Verification::Jwt(Box::new(JwtVerifier::new(keys, settings)?))
            }
            ChosenVerification::Issuers(trusted) => {
                if !issuers.is_empty() {
                    return Err(BuildError::IssuersTwice);
                }
                let mut specs = Vec::with_capacity(trusted.len());
                for issuer in trusted {
                    let audiences = issuer.audiences.unwrap_or_else(|| self.audiences.clone());
                    issuers.push(issuer.iss.clone());
                    issuer_audiences.push((issuer.iss.clone(), audiences.clone()));
                    specs.push(IssuerSpec {
                        settings: VerifierSettings::access(
                            issuer.algorithms,
                            vec![issuer.iss.clone()],
                            audiences,
                            policy,
                        ),
                        iss: Some(issuer.iss),
                        keys: issuer.keys,
                    });
                }
                Verification::Jwt(Box::new(JwtVerifier::of_issuers(specs)?))
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
        if let Some(mode) = self.shadow {
            tracing::warn!(
                ?mode,
                "the revocation layer is in SHADOW MODE: it lets through requests it would \
                 refuse (revoked tokens{}), counting and logging each as \"would reject\"",
                if mode == ShadowMode::RevocationsAndInvalidTokens {
                    ", and missing or invalid ones"
                } else {
                    ""
                }
            );
        }
        Ok(RevocationLayer {
            pipeline: Arc::new(Pipeline {
                revocations: self.revocations,
                verification,
                sources: self.sources,
                claim_rules: ClaimRules {
                    issuers,
                    audiences: self.audiences,
                    issuer_audiences,
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
                shadow: self.shadow,
            }),
            rejection: DefaultRejection,
        })
    }
}
