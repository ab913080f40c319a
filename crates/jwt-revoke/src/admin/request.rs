//! The bodies the admin API takes. Each refuses a field it does not know: a misspelt `at` must
//! be an error, not a revocation at another instant.

use std::fmt;

use jwt_revoke_core::{NumericDate, Revocations, Timestamp};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::refusal::Refusal;

/// `POST /revocations/users`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokeUser {
    pub(crate) iss: String,
    pub(crate) sub: String,
    pub(crate) at: Option<NumericDate>,
}

/// `POST /revocations/sessions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokeSession {
    pub(crate) iss: String,
    pub(crate) sid: String,
    pub(crate) at: Option<NumericDate>,
}

/// `POST /revocations/claims`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokeClaim {
    pub(crate) iss: String,
    pub(crate) claim: String,
    pub(crate) value: ClaimValue,
    pub(crate) at: Option<NumericDate>,
}

/// `POST /revocations/jti`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokeJti {
    pub(crate) iss: String,
    pub(crate) sub: String,
    pub(crate) jti: String,
    pub(crate) expires_at: Option<NumericDate>,
    pub(crate) for_seconds: Option<u64>,
}

/// `POST /revocations/tokens` and `POST /check`: a compact token, read without trusting it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenBody {
    pub(crate) token: String,
}

impl fmt::Debug for TokenBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the token.
        f.debug_struct("TokenBody").finish_non_exhaustive()
    }
}

/// A claim's value: a string, or an integer read as its decimal digits (`42` and `"42"` are
/// one value, as the engine reads a token's claims).
#[derive(Debug)]
pub(crate) struct ClaimValue(pub(crate) String);

impl<'de> Deserialize<'de> for ClaimValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ClaimValueVisitor;
        impl Visitor<'_> for ClaimValueVisitor {
            type Value = ClaimValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an integer")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ClaimValue, E> {
                Ok(ClaimValue(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ClaimValue, E> {
                Ok(ClaimValue(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ClaimValue, E> {
                Ok(ClaimValue(v.to_string()))
            }
        }
        deserializer.deserialize_any(ClaimValueVisitor)
    }
}

/// An identifier field (`iss`, `sub`, `sid`, `jti`, a claim's name or value): compared exactly
/// by every check, so an empty one, or one with whitespace around it (a paste that took the
/// newline), would be acknowledged and match no token.
pub(crate) fn identifier<'a>(field: &'static str, value: &'a str) -> Result<&'a str, Refusal> {
    if value.is_empty() {
        return Err(Refusal::invalid_field(
            field,
            format!("{field} must not be empty"),
        ));
    }
    if value.trim() != value {
        return Err(Refusal::invalid_field(
            field,
            format!(
                "{field} has whitespace around it; identifiers are compared exactly, so it \
                 would match no token"
            ),
        ));
    }
    Ok(value)
}

/// The instant of an optional `at` (`None` for "now"), refused when every token it could cover
/// has expired: the engine would store nothing, and an answer naming that instant as the
/// cut-off in force could hide a later one.
pub(crate) fn instant(
    revocations: &Revocations,
    at: Option<NumericDate>,
) -> Result<Option<Timestamp>, Refusal> {
    let Some(at) = at.map(NumericDate::timestamp) else {
        return Ok(None);
    };
    let now = revocations.clock().now();
    let retention = revocations.policy().cutoff_retention();
    if at.saturating_add(retention) <= now {
        return Err(Refusal::invalid_field(
            "at",
            format!(
                "every token issued up to at has expired (tokens live at most {} s here, with \
                 the leeway): there is nothing to revoke (at is in seconds since the epoch)",
                retention.as_secs()
            ),
        ));
    }
    Ok(Some(at))
}
