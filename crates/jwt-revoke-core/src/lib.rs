//! The core of jwt-revoke: server-side revocation for JWTs.
//!
//! A JWT is valid until its `exp`, whoever holds it. This crate holds what it takes to end
//! that early, independent of any web framework or storage backend:
//!
//! - identities: a token is (`iss`, `sub`, `jti`) or (`iss`, `sub`, SHA-256 of its verified
//!   payload), a user is (`iss`, `sub`), a session is (`iss`, `sid`) — see [`TokenId`],
//!   [`UserId`], [`SessionId`];
//! - the [`RevocationStore`] trait that backends implement (jwt-revoke-memory, jwt-revoke-redis,
//!   or yours), with one error type, [`StoreError`];
//! - the [`Policy`] of a service and the engine, [`Revocations`], that applies it: per-token
//!   denylist, per-user and per-session cut-offs, and an allowlist mode;
//! - a [`Clock`] abstraction, so that tests control time without sleeping;
//! - with the `conformance` feature, a suite that checks any store against the trait's
//!   contract in one call.
//!
//! Most applications use this crate through jwt-revoke-tower's layer, which verifies each
//! request's token and asks the engine about it.
//!
//! # What the policies mean
//! | policy | a token is refused when | record kept until |
//! |---|---|---|
//! | per-token denylist | its record exists | the token's `exp` + leeway |
//! | per-user cut-off | `iat` ≤ the user's cut-off (see [`Cutoff`]) | cut-off + longest lifetime + leeway |
//! | per-session cut-off | it has a `sid` and `iat` ≤ that session's cut-off | as above |
//! | per-claim cut-off ([`Policy::with_claim_cutoffs`]) | it carries that value of the claim (`azp`, a tenant, a device) and `iat` ≤ its cut-off | as above |
//! | allowlist | its record does **not** exist | the token's `exp` + leeway |
//!
//! Cut-offs work in both list modes; whether a token is checked against a denylist or an
//! allowlist is the policy's [`ListMode`].
#![cfg_attr(docsrs, feature(doc_cfg))]

mod claims;
mod key;
pub mod observe;
mod policy;
mod revocations;
pub mod settings;
mod store;
mod time;
mod verdict;

#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;

pub use claims::{Audience, NumericDate, RegisteredClaims};
pub use key::{ClaimId, IdentifiedBy, RecordKey, SessionId, TokenId, UserId};
pub use policy::{IdentityRule, ListMode, Policy, PolicyError};
pub use revocations::{Revocations, TokenFacts};
pub use store::{
    BoxError, CheckReply, ClaimKeys, RevocationStore, StoreError, StoreUsage, TokenKeys,
};
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
pub use verdict::{
    ClaimRevocationError, Cutoff, RevocationReason, TokenError, TokenRevocation, Verdict,
};
