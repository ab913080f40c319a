//! How each setting of a [`RevocationConfig`](super::RevocationConfig) is read: durations,
//! names, paths, the core types' spellings. Each check is also run again by `build` (the
//! fields are public, so a value may have changed since it was read): one rule, one place.

use std::fmt;
use std::time::Duration;

use jwt_revoke_core::{IdentityRule, ListMode, settings};
use jwt_revoke_tower::TokenSource;
use jwt_revoke_tower::jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, de::Error as _};

use super::IssuerConfig;

/// The spelling of [`ListMode`] in a file.
#[derive(Deserialize)]
#[serde(remote = "ListMode", rename_all = "snake_case")]
pub(super) enum ListModeDef {
    Denylist,
    Allowlist,
}

/// [`ShadowMode`](jwt_revoke_tower::ShadowMode) as written: `"revocations"` or
/// `"revocations_and_invalid_tokens"`.
pub(super) struct ShadowModeDef;

impl ShadowModeDef {
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<jwt_revoke_tower::ShadowMode>, D::Error> {
        use jwt_revoke_tower::ShadowMode;
        #[derive(Deserialize)]
        #[serde(rename_all = "snake_case")]
        enum Written {
            Revocations,
            RevocationsAndInvalidTokens,
        }
        Ok(Some(match Written::deserialize(deserializer)? {
            Written::Revocations => ShadowMode::Revocations,
            Written::RevocationsAndInvalidTokens => ShadowMode::RevocationsAndInvalidTokens,
        }))
    }
}

/// The spelling of [`IdentityRule`] in a file.
#[derive(Deserialize)]
#[serde(remote = "IdentityRule", rename_all = "snake_case")]
pub(super) enum IdentityRuleDef {
    JtiOrDigest,
    RequireJti,
}

/// The spelling of a [`TokenSource`] in a file: `"bearer"`, `{cookie = "name"}`,
/// `{header = "name"}`.
#[derive(Deserialize)]
#[serde(remote = "TokenSource", rename_all = "snake_case")]
enum TokenSourceDef {
    #[serde(rename = "bearer")]
    AuthorizationBearer,
    Cookie(#[serde(deserialize_with = "cookie_name")] String),
    Header(#[serde(deserialize_with = "header_name")] http::HeaderName),
}

/// A positive duration (see [`settings::duration`]), when present.
pub(super) fn optional_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    settings::duration(deserializer).map(Some)
}

/// A duration that may be zero (a leeway, a skew allowance), when present: the forms of
/// [`settings::duration`], and `0`, `"0s"`, `"0ms"`.
pub(super) fn optional_duration_or_zero<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    struct OrZero;
    impl Visitor<'_> for OrZero {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(
                "a duration: milliseconds, or text such as \"250ms\" or \"2s\" (zero allowed)",
            )
        }
        fn visit_u64<E: de::Error>(self, millis: u64) -> Result<Duration, E> {
            Ok(Duration::from_millis(millis))
        }
        fn visit_i64<E: de::Error>(self, millis: i64) -> Result<Duration, E> {
            u64::try_from(millis)
                .map(Duration::from_millis)
                .map_err(|_| E::custom("a duration cannot be negative"))
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
            if is_zero_with_unit(text) {
                return Ok(Duration::ZERO);
            }
            settings::duration(de::value::StrDeserializer::<E>::new(text))
        }
    }
    deserializer.deserialize_any(OrZero).map(Some)
}

fn is_zero_with_unit(text: &str) -> bool {
    let text = text.trim();
    let number = text
        .strip_suffix("ms")
        .or_else(|| text.strip_suffix('s'))
        .map(str::trim);
    matches!(number.map(str::parse::<f64>), Some(Ok(zero)) if zero == 0.0)
}

/// The token sources, at least one.
pub(super) fn token_sources<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<TokenSource>, D::Error> {
    #[derive(Deserialize)]
    struct One(#[serde(with = "TokenSourceDef")] TokenSource);
    let sources: Vec<One> = Vec::deserialize(deserializer)?;
    if sources.is_empty() {
        return Err(D::Error::custom(NO_TOKEN_SOURCE));
    }
    Ok(sources.into_iter().map(|One(source)| source).collect())
}

pub(super) const NO_TOKEN_SOURCE: &str = "at least one token source is needed: \"bearer\", \
     {cookie = \"name\"} or {header = \"name\"}";

pub(super) fn default_token_sources() -> Vec<TokenSource> {
    vec![TokenSource::AuthorizationBearer]
}

fn cookie_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let name = String::deserialize(deserializer)?;
    check_cookie_name(&name).map_err(D::Error::custom)?;
    Ok(name)
}

/// A cookie name is an RFC 6265 token: visible ASCII without separators.
pub(super) fn check_cookie_name(name: &str) -> Result<(), String> {
    let separator = |b: u8| b"()<>@,;:\\\"/[]?={}".contains(&b);
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && !separator(b)) {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a cookie name: write visible ASCII without spaces or any of \
             ()<>@,;:\\\"/[]?={{}}"
        ))
    }
}

fn header_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<http::HeaderName, D::Error> {
    let name = String::deserialize(deserializer)?;
    http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        D::Error::custom(format!(
            "{name:?} is not a header name: write letters, digits and -, e.g. \"x-access-token\""
        ))
    })
}

/// Bypassed paths and prefixes: each starts with `/`.
pub(super) fn bypass_paths<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    let paths: Vec<String> = Vec::deserialize(deserializer)?;
    for path in &paths {
        check_bypass_path(path).map_err(D::Error::custom)?;
    }
    Ok(paths)
}

/// Bypassed prefixes: paths (see [`check_bypass_path`]) that do not match every path.
pub(super) fn bypass_prefixes<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    let prefixes: Vec<String> = Vec::deserialize(deserializer)?;
    for prefix in &prefixes {
        check_bypass_prefix(prefix).map_err(D::Error::custom)?;
    }
    Ok(prefixes)
}

/// A bypass prefix: a path, and not `/`, which every request's path starts with.
pub(super) fn check_bypass_prefix(prefix: &str) -> Result<(), String> {
    check_bypass_path(prefix)?;
    if prefix == "/" {
        return Err(
            "the prefix \"/\" matches every path: the layer would check no request; name the \
             paths to skip (\"/healthz\") or a narrower prefix (\"/public/\")"
                .to_owned(),
        );
    }
    Ok(())
}

/// A request's path starts with `/`: anything else would never match, and an empty prefix
/// would let every request skip the layer.
pub(super) fn check_bypass_path(path: &str) -> Result<(), String> {
    if path.starts_with('/') {
        Ok(())
    } else {
        Err(format!(
            "{path:?} is not a path: write one that starts with `/`, e.g. \"/healthz\""
        ))
    }
}

/// Names (`iss`, audiences): non-empty text.
pub(super) fn name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let name = String::deserialize(deserializer)?;
    if name.is_empty() {
        return Err(D::Error::custom("an empty name is not accepted here"));
    }
    Ok(name)
}

pub(super) fn names<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let names: Vec<String> = Vec::deserialize(deserializer)?;
    if names.iter().any(String::is_empty) {
        return Err(D::Error::custom("an empty name is not accepted here"));
    }
    Ok(names)
}

/// The issuers: at least one, none twice (see [`check_issuers`]).
pub(super) fn issuers<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<IssuerConfig>, D::Error> {
    let issuers: Vec<IssuerConfig> = Vec::deserialize(deserializer)?;
    check_issuers(&issuers).map_err(D::Error::custom)?;
    Ok(issuers)
}

/// At least one issuer, and no `iss` twice: whose keys verify its tokens would be a guess.
pub(super) fn check_issuers(issuers: &[IssuerConfig]) -> Result<(), String> {
    if issuers.is_empty() {
        return Err("at least one issuer is needed: add an [[issuers]] entry".to_owned());
    }
    for (index, issuer) in issuers.iter().enumerate() {
        check_key_source(issuer).map_err(|why| format!("issuers[{index}]: {why}"))?;
        if issuers[..index]
            .iter()
            .any(|earlier| earlier.iss == issuer.iss)
        {
            return Err(format!(
                "the issuer {:?} is listed twice: give each issuer one entry, with all its keys",
                issuer.iss
            ));
        }
    }
    Ok(())
}

/// Exactly one of `keys`, `jwks_url` and `discovery`; `fetch` only with the last two.
fn check_key_source(issuer: &IssuerConfig) -> Result<(), String> {
    let given = [
        !issuer.keys.is_empty(),
        issuer.jwks_url.is_some(),
        issuer.discovery,
    ];
    match given.iter().filter(|given| **given).count() {
        0 => Err(
            "the issuer needs keys: `keys` (files, an inline key set), `jwks_url` or \
             `discovery = true`"
                .to_owned(),
        ),
        1 if issuer.fetch.is_some() && !issuer.keys.is_empty() => Err(
            "`fetch` says how keys are fetched: it goes with `jwks_url` or `discovery`, not \
             with configured `keys`"
                .to_owned(),
        ),
        1 => Ok(()),
        _ => Err(
            "give one of `keys`, `jwks_url` and `discovery = true`: which keys verify the \
             issuer's tokens must not be a guess"
                .to_owned(),
        ),
    }
}

/// A non-empty list (algorithms, keys), `what` naming its items.
pub(super) fn non_empty<'de, D, T>(deserializer: D, what: &str) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let items: Vec<T> = Vec::deserialize(deserializer)?;
    if items.is_empty() {
        return Err(D::Error::custom(format!("at least one {what} is needed")));
    }
    Ok(items)
}

pub(super) fn algorithms<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<jwt_revoke_tower::jsonwebtoken::Algorithm>, D::Error> {
    non_empty(deserializer, "algorithm (e.g. \"RS256\" or \"HS256\")")
}

/// An inline key set: public keys only (a shared secret goes in a file, never in the
/// configuration, which gets printed, logged and committed).
pub(super) fn public_key_set<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<JwkSet>, D::Error> {
    // Read as plain JSON first: jsonwebtoken's `Jwk` drops the private members (`d`, …), so
    // a private key pasted here would pass unseen, and the configuration gets committed.
    let raw = serde_json::Value::deserialize(deserializer)?;
    check_no_private_members(&raw).map_err(D::Error::custom)?;
    let set: JwkSet = serde_json::from_value(raw).map_err(D::Error::custom)?;
    check_public_key_set(&set).map_err(D::Error::custom)?;
    Ok(Some(set))
}

/// The members of a private JWK (RFC 7518 §6.2.2, §6.3.2; a shared secret, `kty = "oct"`,
/// is refused by [`check_public_key_set`] with its own message).
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

fn check_no_private_members(raw: &serde_json::Value) -> Result<(), String> {
    let keys = raw
        .get("keys")
        .and_then(serde_json::Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    for key in keys {
        if let Some(member) = PRIVATE_MEMBERS
            .iter()
            .find(|member| key.get(**member).is_some())
        {
            let kid = key
                .get("kid")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("without kid");
            return Err(format!(
                "the key {kid:?} of the key set holds a private member ({member:?}): an inline \
                 key set holds public keys only; remove the private parts (and replace the key if \
                 this file was shared)"
            ));
        }
    }
    Ok(())
}

pub(super) fn check_public_key_set(set: &JwkSet) -> Result<(), String> {
    if set.keys.is_empty() {
        return Err("the key set has no keys".to_owned());
    }
    for jwk in &set.keys {
        if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
            let kid = jwk.common.key_id.as_deref().unwrap_or("without kid");
            return Err(format!(
                "the key {kid:?} of the key set is a shared secret (kty \"oct\"): an inline \
                 key set holds public keys only; give a secret with secret_file"
            ));
        }
    }
    Ok(())
}

/// The claims a policy gives cut-offs, checked as [`Policy::with_claim_cutoffs`] checks them.
///
/// [`Policy::with_claim_cutoffs`]: jwt_revoke_core::Policy::with_claim_cutoffs
pub(super) fn claim_cutoffs<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    let names = Vec::<String>::deserialize(deserializer)?;
    jwt_revoke_core::Policy::new(std::time::Duration::from_secs(1))
        .with_claim_cutoffs(names.iter().cloned())
        .map_err(serde::de::Error::custom)?;
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Leeway {
        #[serde(default, deserialize_with = "optional_duration_or_zero")]
        value: Option<Duration>,
    }

    fn leeway(json: &str) -> Result<Option<Duration>, String> {
        serde_json::from_str::<Leeway>(json)
            .map(|read| read.value)
            .map_err(|err| err.to_string())
    }

    #[test]
    fn a_leeway_may_be_zero_in_every_form_and_is_otherwise_a_duration() {
        for zero in ["0", r#""0s""#, r#""0ms""#, r#"" 0.0 s""#] {
            assert_eq!(
                leeway(&format!(r#"{{"value": {zero}}}"#)),
                Ok(Some(Duration::ZERO)),
                "{zero}"
            );
        }
        assert_eq!(
            leeway(r#"{"value": "1.5s"}"#),
            Ok(Some(Duration::from_millis(1500)))
        );
        assert_eq!(leeway("{}"), Ok(None));
        for (bad, why) in [
            (r#""soon""#, "invalid duration \"soon\""),
            ("-1", "negative"),
            (r#""0""#, "write e.g."),
        ] {
            let err = leeway(&format!(r#"{{"value": {bad}}}"#)).expect_err(bad);
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn cookie_names_and_paths_are_checked() {
        assert!(check_cookie_name("access_token").is_ok());
        for bad in ["", "a b", "a=b", "a;b", "é"] {
            assert!(check_cookie_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_bypass_path("/healthz").is_ok());
        for bad in ["", "healthz", " /x"] {
            assert!(check_bypass_path(bad).is_err(), "{bad:?}");
        }
    }
}
