//! What the engine answers: cut-offs, verdicts and why, why a token's claims are refused, and
//! what a revocation did.

use std::fmt;

use crate::store::StoreError;
use crate::time::Timestamp;

/// A per-user or per-session cut-off: every token issued at or before this instant is dead.
///
/// # The same-second rule
/// A cut-off is taken at a microsecond instant *T*, while an integer `iat` only says in which
/// second a token was issued. A token whose `iat` is *T*'s own second may have been issued
/// just before *T* (and must die) or just after (and could live); nothing in the token tells
/// which. jwt-revoke takes the safe side: **an integer `iat` counts as the first instant of its
/// second, so every token with `iat <= floor(T)` is revoked**, including one issued a few
/// milliseconds after *T* in that same second.
///
/// # Coverage
/// A cut-off made "now" must also cover the tokens the service accepted a moment ago whose
/// `iat` was a little ahead of its clock (an issuer's clock runs ahead; an integer `iat` is
/// rounded up). So [`Revocations::revoke_user`](crate::Revocations::revoke_user) and [`Revocations::revoke_session`](crate::Revocations::revoke_session) cut at
/// *now + [`Policy::issued_at_skew`](crate::Policy::issued_at_skew)*, the latest `iat` the engine accepts now, and a token
/// without `iat` (which cannot tell when it was issued) is covered by every live cut-off of its
/// user or session.
///
/// To issue a token that survives a cut-off you have just made (a user logs out everywhere,
/// then logs in again at once), give it an `iat` of at least [`Cutoff::first_valid_iat`]; the
/// engine accepts it as soon as its clock is within the skew allowance of that second (at most
/// a second after the cut-off). Or write `iat` with a fractional part after the cut-off's
/// instant (RFC 7519 allows it), which jwt-revoke compares to the microsecond.
///
/// ```
/// use jwt_revoke_core::{Cutoff, Timestamp};
/// let cutoff = Cutoff::new(Timestamp::from_micros(1_700_000_000_400_000)); // T = ...000.4 s
/// assert!(cutoff.covers(Timestamp::from_secs(1_700_000_000)));  // iat in T's second: revoked
/// assert!(!cutoff.covers(Timestamp::from_secs(1_700_000_001))); // next second: valid
/// assert_eq!(cutoff.first_valid_iat(), 1_700_000_001);
/// // A fractional iat is compared exactly.
/// assert!(!cutoff.covers(Timestamp::from_micros(1_700_000_000_500_000)));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Cutoff(Timestamp);

impl Cutoff {
    /// A cut-off at `at`.
    pub const fn new(at: Timestamp) -> Self {
        Cutoff(at)
    }

    /// The instant of the cut-off.
    pub const fn at(self) -> Timestamp {
        self.0
    }

    /// Whether a token issued at `issued_at` (its `iat`) is revoked by this cut-off.
    pub fn covers(self, issued_at: Timestamp) -> bool {
        issued_at <= self.0
    }

    /// The smallest integer `iat` that this cut-off does not cover.
    pub fn first_valid_iat(self) -> i64 {
        self.0.as_secs_floor().saturating_add(1)
    }
}

/// Why a token is no longer accepted.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum RevocationReason {
    /// The token itself was revoked (denylist mode).
    Token,
    /// The token is not registered, or was unregistered (allowlist mode).
    NotRegistered,
    /// The user logged out everywhere, or was locked, after the token was issued.
    User(Cutoff),
    /// The token's session ended after the token was issued.
    Session(Cutoff),
    /// The tokens of one of the token's claim values (its client app, its tenant, its
    /// device…: [`Policy::with_claim_cutoffs`](crate::Policy::with_claim_cutoffs)) were revoked after the token was issued. The
    /// cut-off is the latest of them.
    Claim(Cutoff),
    /// The store lost records it had acknowledged, and the token was issued before the loss
    /// was noticed: one of the lost records may have revoked it (see
    /// [`CheckReply::store_cutoff`](crate::CheckReply::store_cutoff)).
    DataLoss(Cutoff),
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RevocationReason::Token => "the token has been revoked",
            RevocationReason::NotRegistered => "the token is not registered",
            RevocationReason::User(_) => "the tokens of this user have been revoked",
            RevocationReason::Session(_) => "the session of this token has ended",
            RevocationReason::Claim(_) => {
                "the tokens of this token's client, tenant or device have been revoked"
            }
            RevocationReason::DataLoss(_) => {
                "the token was issued before the revocation store lost its records"
            }
        })
    }
}

/// The outcome of a check.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Verdict {
    /// Nothing revokes the token.
    Valid,
    /// The token must be refused.
    Revoked(RevocationReason),
}

/// Why a token's claims are refused before the store is even asked.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// A claim that revocation needs is absent.
    #[error("the token has no {0} claim")]
    MissingClaim(&'static str),
    /// The policy requires a `jti`.
    #[error("the token has no jti claim, which this service requires")]
    MissingJti,
    /// `exp + leeway` has passed.
    #[error("the token has expired")]
    Expired,
    /// `nbf - leeway` is still ahead.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iat` is ahead of the clock by more than [`Policy::issued_at_skew`](crate::Policy::issued_at_skew): it would
    /// escape cut-offs.
    #[error("the token was issued in the future")]
    IssuedInFuture,
    /// `exp - iat` exceeds the policy's longest lifetime: it could outlive its cut-offs.
    #[error("the token lives longer than this service accepts")]
    LifetimeTooLong,
    /// `exp` is before `iat`.
    #[error("the token expires before it was issued")]
    ExpiresBeforeIssued,
    /// A claim the policy gives cut-offs ([`Policy::with_claim_cutoffs`](crate::Policy::with_claim_cutoffs)) is neither a string
    /// nor an integer, so its cut-offs could not apply.
    #[error("the token's {0} claim is neither a string nor an integer")]
    UnusableClaim(String),
    /// A claim the policy gives cut-offs appears twice in the payload: which value counts is
    /// unknowable.
    #[error("the token has its {0} claim twice")]
    DuplicateClaim(String),
    /// The policy gives cut-offs to claims, and the payload is not a JSON object.
    #[error("the token's payload is not a JSON object")]
    UnreadablePayload,
}

/// Why [`Revocations::revoke_claim`](crate::Revocations::revoke_claim) recorded nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimRevocationError {
    /// The policy gives no cut-offs to this claim: a cut-off written for it would never be
    /// read, and the tokens it names would keep working.
    #[error(
        "the policy gives no cut-offs to the {0} claim (see Policy::with_claim_cutoffs): \
         nothing was revoked"
    )]
    NotInPolicy(String),
    /// The store failed: the revocation may not have happened.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What [`Revocations::revoke_token`](crate::Revocations::revoke_token) did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum TokenRevocation {
    /// A denylist record now lives until this instant.
    Recorded {
        /// When the record may go: the token's expiry plus leeway.
        until: Timestamp,
    },
    /// The token has expired already: nothing needed storing.
    AlreadyExpired,
    /// Allowlist mode: the token's registration was deleted (`was_registered` tells if it existed).
    Unregistered {
        /// Whether a live registration was there.
        was_registered: bool,
    },
}
