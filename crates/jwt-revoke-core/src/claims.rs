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

/// Why the values of the claims a policy gives cut-offs could not be read from a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClaimValueError {
    /// The payload is not a JSON object.
    Unreadable,
    /// The claim (the policy's `n`-th) is neither a string nor an integer.
    Unusable(usize),
    /// The claim appears twice in the payload.
    Duplicate(usize),
}

/// The values of the claims `names` in `payload` (a verified payload, JSON), in their order:
/// a string as it is, an integer as its decimal digits, `None` for an absent or `null` claim.
pub(crate) fn claim_values(
    payload: &str,
    names: &[String],
) -> Result<Vec<Option<String>>, ClaimValueError> {
    let mut deserializer = serde_json::Deserializer::from_str(payload);
    let picked = de::DeserializeSeed::deserialize(ClaimPicker { names }, &mut deserializer)
        .and_then(|picked| deserializer.end().map(|()| picked))
        .map_err(|_| ClaimValueError::Unreadable)?;
    picked
        .into_iter()
        .enumerate()
        .map(|(n, value)| match value {
            Picked::Absent => Ok(None),
            Picked::Value(value) => Ok(Some(value)),
            Picked::Unusable => Err(ClaimValueError::Unusable(n)),
            Picked::Duplicate => Err(ClaimValueError::Duplicate(n)),
        })
        .collect()
}

/// One claim's value as [`claim_values`] reads it.
enum Picked {
    Absent,
    Value(String),
    Unusable,
    Duplicate,
}

struct ClaimPicker<'n> {
    names: &'n [String],
}

impl<'de> de::DeserializeSeed<'de> for ClaimPicker<'_> {
    type Value = Vec<Picked>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ClaimPicker<'_> {
    type Value = Vec<Picked>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JWT payload (a JSON object)")
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut picked: Vec<Picked> = self.names.iter().map(|_| Picked::Absent).collect();
        let mut seen = vec![false; self.names.len()];
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match self.names.iter().position(|name| *name == key) {
                Some(n) => {
                    let value = map.next_value::<ClaimValue>()?;
                    picked[n] = if seen[n] {
                        // A second occurrence, whatever either says: which one the issuer
                        // meant is unknowable, so the token is refused.
                        Picked::Duplicate
                    } else {
                        match value {
                            ClaimValue::Null => Picked::Absent,
                            ClaimValue::Text(text) => Picked::Value(text),
                            ClaimValue::Other => Picked::Unusable,
                        }
                    };
                    seen[n] = true;
                }
                None => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        Ok(picked)
    }
}

/// A claim value: text (a string, or an integer's digits), `null`, or anything else.
enum ClaimValue {
    Text(String),
    Null,
    Other,
}

impl<'de> Deserialize<'de> for ClaimValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = ClaimValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ClaimValue, E> {
                Ok(ClaimValue::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<ClaimValue, E> {
                Ok(ClaimValue::Text(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ClaimValue, E> {
                Ok(ClaimValue::Text(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ClaimValue, E> {
                Ok(ClaimValue::Text(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<ClaimValue, E> {
                Ok(ClaimValue::Other)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<ClaimValue, E> {
                Ok(ClaimValue::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<ClaimValue, E> {
                Ok(ClaimValue::Null)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<ClaimValue, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(ClaimValue::Other)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<ClaimValue, A::Error> {
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(ClaimValue::Other)
            }
        }
        deserializer.deserialize_any(ValueVisitor)
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
    fn claim_values_are_strings_or_integers_and_nothing_else() {
        let names = ["azp".to_owned(), "tenant".to_owned(), "device".to_owned()];
        let read = |json: &str| claim_values(json, &names);
        assert_eq!(
            read(r#"{"azp":"app","tenant":42,"x":[1,{"a":2}]}"#),
            Ok(vec![Some("app".to_owned()), Some("42".to_owned()), None])
        );
        // Escapes are read as JSON means them: the value, not its spelling.
        assert_eq!(
            read(r#"{"\u0061zp":"\u0061pp","device":null}"#),
            Ok(vec![Some("app".to_owned()), None, None])
        );
        assert_eq!(
            read(r#"{"tenant":["a","b"]}"#),
            Err(ClaimValueError::Unusable(1))
        );
        for other in ["1.5", "true", "{}", "[]"] {
            let json = format!(r#"{{"device":{other}}}"#);
            assert_eq!(read(&json), Err(ClaimValueError::Unusable(2)), "{json}");
        }
        assert_eq!(
            read(r#"{"azp":"a","azp":"b"}"#),
            Err(ClaimValueError::Duplicate(0))
        );
        assert_eq!(
            read(r#"{"azp":null,"azp":"b"}"#),
            Err(ClaimValueError::Duplicate(0))
        );
        for bad in ["", "[]", "\"x\"", "{", r#"{"azp":"a"} {}"#] {
            assert_eq!(read(bad), Err(ClaimValueError::Unreadable), "{bad:?}");
        }
    }

    #[test]
    fn dates_round_trip() {
        let claims = parse(r#"{"iat":10,"exp":10.5}"#).expect("valid");
        let json = serde_json::to_string(&claims).expect("serializes");
        assert_eq!(json, r#"{"exp":10.5,"iat":10}"#);
    }
}
