//! The registered claims revocation needs, parsed from a token's payload.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::time::Timestamp;

/// A JWT NumericDate (RFC 7519 §2): seconds since the epoch, possibly fractional.
///
/// Kept at microsecond resolution: an issuer that writes a fractional `iat` gets exact
/// cut-off comparisons; an integer `iat` stands for the start of its second.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct NumericDate(Timestamp);

impl NumericDate {
    /// A date at whole seconds.
    pub fn from_secs(secs: i64) -> Self {
        NumericDate(Timestamp::from_secs(secs))
    }

    /// The instant.
    pub fn timestamp(self) -> Timestamp {
        self.0
    }
}

impl From<Timestamp> for NumericDate {
    fn from(value: Timestamp) -> Self {
        NumericDate(value)
    }
}

impl Serialize for NumericDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let micros = self.0.as_micros();
        if micros % 1_000_000 == 0 {
            serializer.serialize_i64(self.0.as_secs_floor())
        } else if self.0 == Timestamp::MAX || self.0 == Timestamp::MIN {
            // An integer date beyond i64 microseconds saturates when it is read; write the
            // integer that reads back as the same saturated instant (found by the
            // `claims_inspect` fuzz target, FUZZING.md F1: the f64 below is out of range).
            serializer.serialize_i64(if micros > 0 { i64::MAX } else { i64::MIN })
        } else {
            // Fractional dates are rare; an f64 keeps microseconds for any date before 2242,
            // the range the parser accepts them in.
            serializer.serialize_f64(micros as f64 / 1e6)
        }
    }
}

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumericDateVisitor;
        impl Visitor<'_> for NumericDateVisitor {
            type Value = NumericDate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a NumericDate (seconds since the epoch)")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumericDate, E> {
                Ok(NumericDate::from_secs(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumericDate, E> {
                i64::try_from(v)
                    .map(NumericDate::from_secs)
                    .map_err(|_| E::custom("NumericDate out of range"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<NumericDate, E> {
                // Below 2^33 s (year 2242) an f64 is closer than half a microsecond to every
                // microsecond, so rounding its fraction reads the microsecond the issuer wrote
                // (flooring `v × 10⁶` read 257.185101 as …100: FUZZING.md F3), and every date
                // written back reads back the same. Rounding never moves a date across a
                // microsecond boundary the other way: a date at or before a cut-off stays so.
                // Beyond (and for `1e300`) the date is refused, as no issuer writes one.
                const LIMIT: f64 = 8_589_934_592.0;
                if v.abs() >= LIMIT {
                    return Err(E::custom("NumericDate out of range"));
                }
                let secs = v.trunc();
                let micros = ((v - secs) * 1e6).round();
                Ok(NumericDate(Timestamp::from_micros(
                    secs as i64 * 1_000_000 + micros as i64,
                )))
            }
        }
        deserializer.deserialize_any(NumericDateVisitor)
    }
}

/// The `aud` claim: one audience or several.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience string.
    One(String),
    /// A list of audiences.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `audience` is among these.
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Audience::One(one) => one == audience,
            Audience::Many(many) => many.iter().any(|a| a == audience),
        }
    }
}

/// The registered claims of a token (RFC 7519 §4.1, plus OIDC's `sid`).
///
/// Every field is optional here; [`Revocations::inspect`](crate::Revocations::inspect) decides
/// which ones a policy requires and says which is missing.
///
/// ```
/// use jwt_revoke_core::RegisteredClaims;
/// let claims: RegisteredClaims = serde_json::from_str(
///     r#"{"iss":"https://idp.example","sub":"alice","iat":1700000000.25,"exp":1700000900}"#,
/// ).unwrap();
/// assert_eq!(claims.iat.unwrap().timestamp().as_micros(), 1_700_000_000_250_000);
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RegisteredClaims {
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Subject: the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    /// Expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<NumericDate>,
    /// Not before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<NumericDate>,
    /// Issued at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<NumericDate>,
    /// Token id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Session id (OpenID Connect Front-/Back-Channel Logout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl RegisteredClaims {
    /// Empty claims, to fill in field by field (the struct is `#[non_exhaustive]`).
    pub fn new() -> Self {
        Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<RegisteredClaims, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn integer_and_fractional_dates_parse_to_microseconds() {
        let claims = parse(r#"{"iat": 10, "exp": 10.5, "nbf": -1}"#).expect("valid claims");
        assert_eq!(claims.iat, Some(NumericDate::from_secs(10)));
        assert_eq!(
            claims.exp.map(|d| d.timestamp().as_micros()),
            Some(10_500_000)
        );
        assert_eq!(claims.nbf, Some(NumericDate::from_secs(-1)));
    }

    #[test]
    fn absurd_dates_are_errors_not_panics() {
        for json in [
            r#"{"exp": 1e300}"#,
            r#"{"exp": 18446744073709551615}"#,
            r#"{"exp": "soon"}"#,
            r#"{"iat": -1e300}"#,
        ] {
            assert!(parse(json).is_err(), "{json} should not parse");
        }
        // Saturates rather than overflowing: a date so far ahead is "never" in practice.
        let far = parse(r#"{"exp": 9223372036854775807}"#).expect("saturates");
        assert_eq!(far.exp.map(NumericDate::timestamp), Some(Timestamp::MAX));
    }

    #[test]
    fn audience_is_one_or_many() {
        let one = parse(r#"{"aud":"api"}"#).expect("one");
        let many = parse(r#"{"aud":["web","api"]}"#).expect("many");
        assert!(one.aud.expect("aud").contains("api"));
        assert!(many.aud.expect("aud").contains("api"));
    }

    #[test]
    fn dates_round_trip() {
        let claims = parse(r#"{"iat":10,"exp":10.5}"#).expect("valid");
        let json = serde_json::to_string(&claims).expect("serializes");
        assert_eq!(json, r#"{"exp":10.5,"iat":10}"#);
    }
}
