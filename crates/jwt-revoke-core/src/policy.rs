//! What a service accepts and how long revocation records live.

use std::time::Duration;

/// How the token record of a [`TokenKeys`](crate::TokenKeys) is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ListMode {
    /// A token is valid unless the store holds a revocation record for it (the usual mode:
    /// the store grows with revocations, not with logins).
    #[default]
    Denylist,
    /// A token is valid only while the store holds a record for it: register it when you issue
    /// it, delete it at logout. A store that lost its data rejects every token (fails safe),
    /// at the cost of one record per live token.
    Allowlist,
}

/// How a token is identified within its issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum IdentityRule {
    /// By `jti` when the token has one, else by the SHA-256 digest of its verified payload.
    #[default]
    JtiOrDigest,
    /// By `jti` only: a token without `jti` is refused.
    RequireJti,
}

/// The rules of one service: which tokens it accepts and how long revocations are kept.
///
/// The one required setting is the longest token lifetime the service accepts: a user or
/// session cut-off must outlive every token it covers, and this bounds how long that is.
/// Tokens that live longer (`exp - iat`) are refused, so no token can outlive its cut-off.
///
/// ```
/// use jwt_revoke_core::{IdentityRule, ListMode, Policy};
/// use std::time::Duration;
///
/// let policy = Policy::new(Duration::from_secs(15 * 60))   // access tokens live ≤ 15 min
///     .with_leeway(Duration::from_secs(30))                      // clock skew tolerated
///     .with_identity(IdentityRule::RequireJti);
/// assert_eq!(policy.mode(), ListMode::Denylist);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Policy {
    max_token_lifetime: Duration,
    leeway: Duration,
    mode: ListMode,
    identity: IdentityRule,
    tokens_without_exp: Option<Duration>,
    issued_at_skew: Duration,
    claim_cutoffs: Vec<String>,
}

/// Why [`Policy::with_claim_cutoffs`] refused a list of claims.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// More claims than a check reads.
    #[error("at most {max} claims can have cut-offs, not {count}")]
    TooManyClaimCutoffs {
        /// How many were named.
        count: usize,
        /// [`ClaimKeys::MAX`](crate::ClaimKeys::MAX).
        max: usize,
    },
    /// A claim that cannot have cut-offs: an empty name, a date (`exp`, `iat`, `nbf`), or
    /// one revoked by its own means (`sub`: the user's cut-off; `sid`: the session's; `jti`:
    /// the token's own record; `iss`: part of every identity).
    #[error(
        "the claim {0:?} cannot have cut-offs (not an empty name, a date, or iss, sub, sid, jti, \
         which have their own revocations)"
    )]
    NotACutoffClaim(String),
    /// A claim named twice.
    #[error("the claim {0:?} is named twice")]
    DuplicateClaimCutoff(String),
}

impl Policy {
    /// The default of [`issued_at_skew`](Self::issued_at_skew): 2 s.
    pub const DEFAULT_ISSUED_AT_SKEW: Duration = Duration::from_secs(2);

    /// A denylist policy for tokens that live at most `max_token_lifetime`, with 60 s of leeway
    /// (jsonwebtoken's default), tokens identified by `jti` or digest, tokens without `exp`
    /// refused.
    pub fn new(max_token_lifetime: Duration) -> Self {
        Policy {
            max_token_lifetime,
            leeway: Duration::from_secs(60),
            mode: ListMode::Denylist,
            identity: IdentityRule::JtiOrDigest,
            tokens_without_exp: None,
            issued_at_skew: Self::DEFAULT_ISSUED_AT_SKEW,
            claim_cutoffs: Vec::new(),
        }
    }

    /// Gives cut-offs to the values of these claims, beside the user's and the session's:
    /// [`Revocations::revoke_claim`](crate::Revocations::revoke_claim) then revokes every token
    /// of a client app (`azp`, `client_id`), a tenant, a device issued up to now.
    ///
    /// A claim's value is a string or an integer (read as its decimal digits). A token without
    /// the claim (or with `null`) has no cut-off for it; a token whose claim is anything else
    /// (an array, an object, a boolean, a fraction) is refused
    /// ([`TokenError::UnusableClaim`](crate::TokenError::UnusableClaim)): it could not be
    /// revoked by its value. Each claim is one more record read by the same single store call
    /// of every check; at most [`ClaimKeys::MAX`](crate::ClaimKeys::MAX).
    ///
    /// ```
    /// use jwt_revoke_core::Policy;
    /// use std::time::Duration;
    ///
    /// let policy = Policy::new(Duration::from_secs(900)).with_claim_cutoffs(["azp", "tenant"])?;
    /// assert_eq!(policy.claim_cutoffs(), ["azp", "tenant"]);
    /// assert!(Policy::new(Duration::from_secs(900)).with_claim_cutoffs(["exp"]).is_err());
    /// # Ok::<(), jwt_revoke_core::PolicyError>(())
    /// ```
    pub fn with_claim_cutoffs<I, T>(mut self, claims: I) -> Result<Self, PolicyError>
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let mut names: Vec<String> = Vec::new();
        for name in claims {
            let name = name.into();
            if name.is_empty()
                || matches!(
                    name.as_str(),
                    "exp" | "iat" | "nbf" | "iss" | "sub" | "sid" | "jti"
                )
            {
                return Err(PolicyError::NotACutoffClaim(name));
            }
            if names.contains(&name) {
                return Err(PolicyError::DuplicateClaimCutoff(name));
            }
            names.push(name);
        }
        if names.len() > crate::ClaimKeys::MAX {
            return Err(PolicyError::TooManyClaimCutoffs {
                count: names.len(),
                max: crate::ClaimKeys::MAX,
            });
        }
        self.claim_cutoffs = names;
        Ok(self)
    }

    /// The claims whose values have cut-offs (see [`with_claim_cutoffs`](Self::with_claim_cutoffs)).
    pub fn claim_cutoffs(&self) -> &[String] {
        &self.claim_cutoffs
    }

    /// Clock skew tolerated between issuer and this service for `exp` and `nbf`. A token
    /// stays valid until `exp + leeway`, so its revocation record is kept that long too.
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// How far ahead of this service's clock a token's `iat` may be (default
    /// [`DEFAULT_ISSUED_AT_SKEW`](Self::DEFAULT_ISSUED_AT_SKEW), 2 s): the issuer's clock may run a little ahead, and an
    /// integer `iat` may be rounded up.
    ///
    /// Kept small on purpose, and apart from the `exp` leeway: a user or session cut-off made
    /// at instant *t* is stored as *t* plus this allowance, so that it covers every token the
    /// service accepted before it, including one whose `iat` was ahead of the clock. The price
    /// is paid by tokens issued in that window after the cut-off: they are covered too, unless
    /// the issuer gives them `iat` ≥ [`Cutoff::first_valid_iat`](crate::Cutoff::first_valid_iat)
    /// (accepted within a second) or a fractional `iat` after the cut-off.
    pub fn with_issued_at_skew(mut self, skew: Duration) -> Self {
        self.issued_at_skew = skew;
        self
    }

    /// How far ahead of the clock an `iat` may be (see
    /// [`with_issued_at_skew`](Self::with_issued_at_skew)).
    pub fn issued_at_skew(&self) -> Duration {
        self.issued_at_skew
    }

    /// Whether tokens are checked against a denylist (the default) or an allowlist: see
    /// [`ListMode`].
    pub fn with_mode(mut self, mode: ListMode) -> Self {
        self.mode = mode;
        self
    }

    /// Whether tokens are checked against a denylist or an allowlist.
    pub fn mode(&self) -> ListMode {
        self.mode
    }

    /// How tokens are identified: by `jti` or, without one, by the digest of their payload
    /// (the default), or by `jti` only ([`IdentityRule::RequireJti`]: a token without `jti`
    /// is refused).
    pub fn with_identity(mut self, rule: IdentityRule) -> Self {
        self.identity = rule;
        self
    }

    /// Accept tokens that have no `exp` (refused by default, in the spirit of RFC 8725).
    ///
    /// Such a token is treated as expiring `retention` after its `iat`: that bounds how long its
    /// revocation record, and any cut-off, must be kept. Without such a bound a revocation
    /// would have to be kept forever or the token would come back to life.
    pub fn accept_tokens_without_exp(mut self, retention: Duration) -> Self {
        self.tokens_without_exp = Some(retention);
        self
    }

    /// The longest token lifetime accepted.
    pub fn max_token_lifetime(&self) -> Duration {
        self.max_token_lifetime
    }

    /// The clock-skew leeway (see [`with_leeway`](Self::with_leeway)).
    pub fn leeway(&self) -> Duration {
        self.leeway
    }

    /// How tokens are identified.
    pub fn identity(&self) -> IdentityRule {
        self.identity
    }

    /// The retention for tokens without `exp`, when they are accepted.
    pub fn tokens_without_exp(&self) -> Option<Duration> {
        self.tokens_without_exp
    }

    /// How long a user or session cut-off is kept after its instant: every token it covers
    /// has expired by then (longest lifetime, or no-`exp` retention, plus leeway).
    pub fn cutoff_retention(&self) -> Duration {
        self.max_token_lifetime
            .max(self.tokens_without_exp.unwrap_or(Duration::ZERO))
            .saturating_add(self.leeway)
    }
}
