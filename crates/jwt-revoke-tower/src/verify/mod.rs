//! Verifying a token with `jsonwebtoken`, under keys and algorithms the caller fixes, and the
//! two caches of what verification learned: the verified-token cache (a token seen before
//! skips its signature check) and the claims memo (a payload seen before skips its parsing
//! and hashing).

mod cache;
mod memo;

pub(crate) use cache::VerifiedCache;
pub(crate) use memo::ClaimsMemo;

use std::borrow::Cow;
use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use jwt_revoke_core::{Policy, TokenFacts};
use serde_json::value::RawValue;

use crate::claims::Claims;
use crate::error::{BuildError, JwksError};
use crate::rejection::RejectionKind;

/// The keys that may have signed a token: an optional default key and keys by `kid`.
///
/// When keys are named by `kid`, a token whose header names a `kid` is checked with that key
/// only (a `kid` that names none of them is refused), and a token without `kid` with the
/// default key only. When no key is named (one default key), a token's `kid` selects nothing
/// and is not judged: identity providers stamp a `kid` on every token, and the one key you
/// configured still has to verify its signature. Each key accepts only the layer's algorithms of its own family
/// (an HMAC secret never verifies an `RS256` token: no algorithm confusion), and a key from a
/// JWKS that states its `alg` only that one. Two keys with one `kid` are refused when the
/// layer is built ([`BuildError::DuplicateKid`]).
///
/// ```
/// use jsonwebtoken::DecodingKey;
/// use jwt_revoke_tower::DecodingKeys;
///
/// let keys = DecodingKeys::new(DecodingKey::from_secret(b"current secret"))
///     .with_kid("2026-11", DecodingKey::from_secret(b"rotated-in secret"));
/// # let _ = keys;
/// ```
#[derive(Clone)]
pub struct DecodingKeys {
    default: Option<KeyEntry>,
    by_kid: Vec<(String, KeyEntry)>,
}

/// A token that passed verification and the policy, waiting for the store's word.
#[derive(Clone)]
pub(crate) struct Authenticated {
    pub(crate) claims: Claims,
    pub(crate) token: Arc<TokenFacts>,
}

/// One key and what it may be used for.
#[derive(Clone)]
struct KeyEntry {
    key: DecodingKey,
    /// The one algorithm the key may verify, when its JWK states it.
    algorithm: Option<Algorithm>,
    /// From a key set: a key that fits none of the layer's algorithms is left out rather than
    /// refused (an identity provider publishes keys for other clients too).
    from_key_set: bool,
}

impl KeyEntry {
    fn configured(key: DecodingKey) -> Self {
        KeyEntry {
            key,
            algorithm: None,
            from_key_set: false,
        }
    }
}

impl DecodingKeys {
    /// Keys with one default key, for tokens without `kid`.
    pub fn new(default: DecodingKey) -> Self {
        DecodingKeys {
            default: Some(KeyEntry::configured(default)),
            by_kid: Vec::new(),
        }
    }

    /// Keys selected by `kid` only: a token without `kid` is refused.
    pub fn by_kid_only() -> Self {
        DecodingKeys {
            default: None,
            by_kid: Vec::new(),
        }
    }

    /// The signature keys of a JSON Web Key Set (RFC 7517), by `kid`: what an identity
    /// provider publishes at its `jwks_uri`.
    ///
    /// - A key is used only for signatures: one whose `use` is present and not `sig`, or whose
    ///   `key_ops` do not include `verify`, is left out, as is one without `kid`.
    /// - A key that states its `alg` verifies that algorithm only (when the layer allows it);
    ///   one whose `alg` is not a signature algorithm is left out.
    /// - Two signature keys with one `kid` are an error, as is a key jsonwebtoken cannot read.
    ///
    /// ```
    /// use jwt_revoke_tower::DecodingKeys;
    /// use jwt_revoke_tower::jsonwebtoken::jwk::JwkSet;
    ///
    /// let jwks: JwkSet = serde_json::from_str(r#"{"keys": [{
    ///     "kty": "oct", "kid": "2026-11", "alg": "HS256", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ"
    /// }]}"#).unwrap();
    /// let keys = DecodingKeys::from_jwks(&jwks).unwrap();
    /// assert!(format!("{keys:?}").contains("2026-11"));
    /// ```
    pub fn from_jwks(jwks: &jsonwebtoken::jwk::JwkSet) -> Result<Self, JwksError> {
        use jsonwebtoken::jwk::{KeyOperations, PublicKeyUse};
        let mut keys = DecodingKeys::by_kid_only();
        for jwk in &jwks.keys {
            let common = &jwk.common;
            let for_signatures =
                matches!(common.public_key_use, None | Some(PublicKeyUse::Signature))
                    && common
                        .key_operations
                        .as_ref()
                        .is_none_or(|ops| ops.contains(&KeyOperations::Verify));
            let Some(kid) = common.key_id.as_ref().filter(|_| for_signatures) else {
                continue;
            };
            let algorithm = match &common.key_algorithm {
                None => None,
                Some(stated) => match stated.to_string().parse::<Algorithm>() {
                    Ok(algorithm) => Some(algorithm),
                    // An encryption algorithm (RSA-OAEP, ...) or one jsonwebtoken cannot verify.
                    Err(_) => continue,
                },
            };
            if keys.by_kid.iter().any(|(known, _)| known == kid) {
                return Err(JwksError::DuplicateKid { kid: kid.clone() });
            }
            let key = DecodingKey::from_jwk(jwk)
                .and_then(|key| well_formed(&key).map(|()| key))
                .map_err(|source| JwksError::UnreadableKey {
                    kid: kid.clone(),
                    source,
                })?;
            keys.by_kid.push((
                kid.clone(),
                KeyEntry {
                    key,
                    algorithm,
                    from_key_set: true,
                },
            ));
        }
        Ok(keys)
    }

    /// Whether some key here can verify `algorithm`: one of its family, and, for a key from a
    /// key set that states its `alg`, exactly that one. A key set's keys for encryption, or
    /// stating an algorithm jsonwebtoken cannot verify, were left out by
    /// [`from_jwks`](Self::from_jwks) and verify nothing. For checking a configuration: an
    /// allowed algorithm no key verifies refuses every token that uses it.
    ///
    /// ```
    /// use jsonwebtoken::{Algorithm, DecodingKey};
    /// use jwt_revoke_tower::DecodingKeys;
    /// let keys = DecodingKeys::new(DecodingKey::from_secret(b"a secret of 32 bytes or more....."));
    /// assert!(keys.verifies(Algorithm::HS256));
    /// assert!(!keys.verifies(Algorithm::RS256));
    /// ```
    pub fn verifies(&self, algorithm: Algorithm) -> bool {
        self.default
            .iter()
            .chain(self.by_kid.iter().map(|(_, entry)| entry))
            .any(|entry| {
                entry.key.family() == algorithm.family()
                    && entry.algorithm.is_none_or(|stated| stated == algorithm)
            })
    }

    /// Adds a key for tokens whose header says `kid`.
    pub fn with_kid(mut self, kid: impl Into<String>, key: DecodingKey) -> Self {
        self.by_kid.push((kid.into(), KeyEntry::configured(key)));
        self
    }
}

impl std::fmt::Debug for DecodingKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("DecodingKeys")
            .field(
                "default",
                &self.default.as_ref().map(|entry| entry.key.family()),
            )
            .field(
                "kids",
                &self.by_kid.iter().map(|(kid, _)| kid).collect::<Vec<_>>(),
            )
            .finish()
    }
}

struct VerifyingKey {
    key: DecodingKey,
    validation: Validation,
}

/// Verifies compact JWS tokens: signature, algorithm, `exp`/`nbf`, optional `iss`/`aud`,
/// and the token type (RFC 8725 §3.11).
pub(crate) struct JwtVerifier {
    default: Option<VerifyingKey>,
    by_kid: Vec<(String, VerifyingKey)>,
}

/// Settings for [`JwtVerifier::new`] besides keys.
pub(crate) struct VerifierSettings<'a> {
    pub(crate) algorithms: &'a [Algorithm],
    pub(crate) issuers: &'a [String],
    pub(crate) audiences: &'a [String],
    pub(crate) leeway: std::time::Duration,
    /// Claims that must be present (jsonwebtoken's "spec claims": `exp`, `iss`, `aud`, ...).
    pub(crate) required: Vec<&'static str>,
}

impl<'a> VerifierSettings<'a> {
    /// The settings of access tokens under `policy`: `exp` required unless the policy accepts
    /// tokens without it.
    pub(crate) fn access(
        algorithms: &'a [Algorithm],
        issuers: &'a [String],
        audiences: &'a [String],
        policy: &Policy,
    ) -> Self {
        VerifierSettings {
            algorithms,
            issuers,
            audiences,
            leeway: policy.leeway(),
            // jsonwebtoken checks `iss` and `aud` only when present unless they are required:
            // an allowlist of issuers or audiences must not be escaped by leaving the claim out.
            required: [
                (policy.tokens_without_exp().is_none(), "exp"),
                (!issuers.is_empty(), "iss"),
                (!audiences.is_empty(), "aud"),
            ]
            .into_iter()
            .filter_map(|(needed, claim)| needed.then_some(claim))
            .collect(),
        }
    }
}

/// Refuses a key jsonwebtoken would choke on at every token: an Ed25519 public key is 32 bytes,
/// and jsonwebtoken neither checks that when it reads one (`from_jwk`, `from_ed_der`,
/// `from_ed_components`) nor, with its `rust_crypto` backend, before slicing it to 32 bytes
/// (a panic per request; found by the `jwks` fuzz target, FUZZING.md F2).
fn well_formed(key: &DecodingKey) -> jsonwebtoken::errors::Result<()> {
    use jsonwebtoken::errors::ErrorKind;
    if key.family() == jsonwebtoken::AlgorithmFamily::Ed && key.try_get_as_bytes()?.len() != 32 {
        return Err(ErrorKind::InvalidEddsaKey.into());
    }
    Ok(())
}

impl JwtVerifier {
    pub(crate) fn new(
        keys: DecodingKeys,
        settings: &VerifierSettings<'_>,
    ) -> Result<Self, BuildError> {
        if settings.algorithms.is_empty() {
            return Err(BuildError::NoAlgorithms);
        }
        if keys.default.is_none() && keys.by_kid.is_empty() {
            return Err(BuildError::NoKeys);
        }
        crypto_backend_usable()?;
        // The key for `name`, or `None` for a key-set key that fits none of the algorithms.
        let make = |entry: KeyEntry, name: &str| -> Result<Option<VerifyingKey>, BuildError> {
            if well_formed(&entry.key).is_err() {
                return Err(BuildError::MalformedKey {
                    key: name.to_owned(),
                });
            }
            let family = entry.key.family();
            let algorithms: Vec<Algorithm> = settings
                .algorithms
                .iter()
                .copied()
                .filter(|alg| alg.family() == family)
                .filter(|alg| entry.algorithm.is_none_or(|only| only == *alg))
                .collect();
            if algorithms.is_empty() {
                if entry.from_key_set {
                    tracing::debug!(
                        kid = name,
                        "a key of the key set fits none of the allowed algorithms; left out"
                    );
                    return Ok(None);
                }
                return Err(BuildError::KeyAlgorithmMismatch {
                    key: name.to_owned(),
                });
            }
            Ok(Some(VerifyingKey {
                key: entry.key,
                validation: validation(algorithms, settings),
            }))
        };
        for (index, (kid, _)) in keys.by_kid.iter().enumerate() {
            if keys.by_kid[..index]
                .iter()
                .any(|(earlier, _)| earlier == kid)
            {
                return Err(BuildError::DuplicateKid { kid: kid.clone() });
            }
        }
        let default = match keys.default {
            Some(entry) => make(entry, "default")?,
            None => None,
        };
        let mut by_kid = Vec::with_capacity(keys.by_kid.len());
        for (kid, entry) in keys.by_kid {
            if let Some(verifying) = make(entry, &kid)? {
                by_kid.push((kid, verifying));
            }
        }
        if default.is_none() && by_kid.is_empty() {
            return Err(BuildError::NoKeys);
        }
        Ok(JwtVerifier { default, by_kid })
    }

    /// Verifies `token` as an access token; the error is what the client is told.
    pub(crate) fn verify(&self, token: &str) -> Result<Claims, RejectionKind> {
        Claims::from_verified_payload(self.verify_payload(token)?).map_err(|_| malformed_claims())
    }

    /// Verifies `token` as an access token and returns its payload, unparsed.
    pub(crate) fn verify_payload(&self, token: &str) -> Result<Box<RawValue>, RejectionKind> {
        let (typ, payload) = self.verify_signature(token).map_err(RejectionKind::from)?;
        if typ.as_deref().is_some_and(is_event_token_type) {
            return Err(invalid("this type of token (typ) is not an access token"));
        }
        if carries_events_claim(payload.get())? {
            return Err(event_token_refused());
        }
        Ok(payload)
    }

    /// Verifies the signature, algorithm, issuer, audience and required claims of `token`;
    /// returns its header's `typ` and its payload, for the caller to judge.
    pub(crate) fn verify_signature(
        &self,
        token: &str,
    ) -> Result<(Option<String>, Box<RawValue>), VerifyError> {
        let key = if self.by_kid.is_empty() {
            self.default.as_ref()
        } else {
            let header = jsonwebtoken::decode_header(token).map_err(|err| describe(&err, token))?;
            match header.kid {
                Some(kid) => self
                    .by_kid
                    .iter()
                    .find(|(k, _)| *k == kid)
                    .map(|(_, key)| key),
                None => self.default.as_ref(),
            }
        };
        let Some(key) = key else {
            return Err(failure(
                FailureClass::Key,
                "the token's key id (kid) is not known",
            ));
        };
        let data = jsonwebtoken::decode::<Box<RawValue>>(token, &key.key, &key.validation)
            .map_err(|err| describe(&err, token))?;
        // RFC 7515 §4.1.11: `crit` names extensions the recipient must understand and enforce,
        // or refuse the token. We understand none, so a token that has any is refused: its
        // issuer said "not unless you enforce this" (jsonwebtoken reads `crit` and leaves the
        // judgement to us). A `null` names nothing and reads as absent.
        if data.header.crit.is_some() {
            return Err(failure(
                FailureClass::Other,
                "the token has a critical header parameter (crit) this service does not understand",
            ));
        }
        Ok((data.header.typ, data.claims))
    }
}

fn validation(algorithms: Vec<Algorithm>, settings: &VerifierSettings<'_>) -> Validation {
    let mut validation = Validation::new(algorithms[0]);
    validation.algorithms = algorithms;
    // Time claims (`exp`, `nbf`, `iat`) are judged by the engine (`Revocations::inspect`) with
    // the engine's clock and leeway, not here with the system clock: one clock decides every
    // time question, so a cut-off, a record's expiry and a token's expiry never disagree, and
    // tests that control the clock control all of it. jsonwebtoken still requires `exp` to be
    // present unless the policy accepts tokens without it.
    validation.leeway = settings.leeway.as_secs();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_required_spec_claims(&settings.required);
    if settings.issuers.is_empty() {
        validation.iss = None;
    } else {
        validation.set_issuer(settings.issuers);
    }
    if settings.audiences.is_empty() {
        validation.validate_aud = false;
    } else {
        validation.set_audience(settings.audiences);
    }
    validation
}

/// RFC 8725 §3.11: tokens made for other purposes (logout tokens, security event tokens) must
/// never pass as access tokens, even when signed by the same issuer with the same key.
pub(crate) fn is_event_token_type(typ: &str) -> bool {
    let typ = typ.trim();
    let bare = typ
        .get(..12)
        .filter(|prefix| prefix.eq_ignore_ascii_case("application/"))
        .map_or(typ, |_| &typ[12..]);
    bare.eq_ignore_ascii_case("logout+jwt") || bare.eq_ignore_ascii_case("secevent+jwt")
}

/// Whether a verified payload has an `events` claim: many identity providers type logout
/// tokens `JWT` or not at all, and the claim still marks an event token, which is never an
/// access token (RFC 8725 §3.11). Decided on the parsed claims, as every JSON reader sees them
/// (`"\u0065vents"` is `events` too); a payload that does not parse (a repeated member, say)
/// is refused rather than given the benefit of the doubt.
pub(crate) fn carries_events_claim(payload: &str) -> Result<bool, RejectionKind> {
    #[derive(serde::Deserialize)]
    struct EventsOnly {
        events: Option<serde::de::IgnoredAny>,
    }
    // A member name can spell `events` only literally or with escapes, which need a
    // backslash: without either, no parse can find one, and ordinary access tokens skip it.
    if !payload.contains("events") && !payload.contains('\\') {
        return Ok(false);
    }
    serde_json::from_str::<EventsOnly>(payload)
        .map(|parsed| parsed.events.is_some())
        .map_err(|_| malformed_claims())
}

/// The rejection of an event token presented as an access token.
pub(crate) fn event_token_refused() -> RejectionKind {
    invalid("an event token (logout token or SET) is not an access token")
}

/// The rejection of a verified payload whose registered claims do not parse.
pub(crate) fn malformed_claims() -> RejectionKind {
    invalid("the token's registered claims are malformed")
}

fn invalid(why: &'static str) -> RejectionKind {
    RejectionKind::InvalidToken(Cow::Borrowed(why))
}

/// Which part of a token's verification failed, for receivers whose protocol names it
/// (RFC 8935's `invalid_key`, `invalid_issuer`, `invalid_audience`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureClass {
    /// Signature, algorithm or key.
    Key,
    /// `iss`.
    Issuer,
    /// `aud`.
    Audience,
    /// Anything else: malformed, a missing claim.
    Other,
}

/// A verification failure: its class and what the client is told.
#[derive(Debug, Clone)]
pub(crate) struct VerifyError {
    pub(crate) class: FailureClass,
    pub(crate) description: Cow<'static, str>,
}

impl From<VerifyError> for RejectionKind {
    fn from(err: VerifyError) -> Self {
        RejectionKind::InvalidToken(err.description)
    }
}

fn failure(class: FailureClass, why: &'static str) -> VerifyError {
    VerifyError {
        class,
        description: Cow::Borrowed(why),
    }
}

/// What the client is told about a verification failure: precise enough to debug a client,
/// never jsonwebtoken's internal text, never the token.
fn describe(err: &jsonwebtoken::errors::Error, token: &str) -> VerifyError {
    use FailureClass::{Audience, Issuer, Key, Other};
    match err.kind() {
        ErrorKind::InvalidSignature => failure(Key, "the token's signature is invalid"),
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm => failure(Key, "the token's algorithm is not accepted"),
        ErrorKind::ExpiredSignature => failure(Other, "the token has expired"),
        ErrorKind::ImmatureSignature => failure(Other, "the token is not valid yet"),
        ErrorKind::InvalidIssuer => failure(Issuer, "the token's issuer is not accepted"),
        ErrorKind::InvalidAudience => failure(Audience, "the token's audience is not accepted"),
        ErrorKind::MissingRequiredClaim(claim) => VerifyError {
            class: Other,
            description: Cow::Owned(format!(
                "the token has no {} claim",
                if claim.chars().all(|c| c.is_ascii_alphanumeric()) {
                    claim.as_str()
                } else {
                    "required"
                }
            )),
        },
        ErrorKind::InvalidClaimFormat(_) => failure(Other, "a claim of the token is malformed"),
        ErrorKind::Json(_)
        | ErrorKind::Base64(_)
        | ErrorKind::Utf8(_)
        | ErrorKind::InvalidToken => {
            if header_names_foreign_algorithm(token) {
                failure(Key, "the token's algorithm is not accepted")
            } else {
                failure(Other, "the token is malformed")
            }
        }
        _ => failure(Other, "the token could not be verified"),
    }
}

/// Whether a token that jsonwebtoken could not parse carries an `alg` it does not know
/// (`none` above all), to say so instead of "malformed". Only runs on the error path.
fn header_names_foreign_algorithm(token: &str) -> bool {
    use base64::Engine as _;
    let Some((header, _)) = token.split_once('.') else {
        return false;
    };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header) else {
        return false;
    };
    #[derive(serde::Deserialize)]
    struct AlgOnly {
        alg: String,
    }
    serde_json::from_slice::<AlgOnly>(&bytes).is_ok_and(|h| h.alg.parse::<Algorithm>().is_err())
}

/// Checks at build time that jsonwebtoken has a usable crypto backend.
///
/// jsonwebtoken picks its backend from its cargo features (`aws_lc_rs` or `rust_crypto`); with
/// neither or both, and no provider installed by hand, it panics at the first decode — on the
/// first request, in production. The layer asks once, at build time, and turns that into an
/// error that says what to do.
fn crypto_backend_usable() -> Result<(), BuildError> {
    // Only success is remembered: a provider installed later must be seen by a later build.
    static KNOWN_USABLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if KNOWN_USABLE.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(());
    }
    let usable = std::panic::catch_unwind(|| {
        let key = DecodingKey::from_secret(b"jwt-revoke crypto backend probe");
        // The result does not matter, only that a backend answered instead of panicking.
        let _ = jsonwebtoken::crypto::verify("", b"", &key, Algorithm::HS256);
    })
    .is_ok();
    if usable {
        KNOWN_USABLE.store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    } else {
        Err(BuildError::NoCryptoBackend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_token_types_are_recognised_in_every_spelling() {
        for typ in [
            "logout+jwt",
            "application/logout+jwt",
            "Secevent+JWT",
            " APPLICATION/secevent+jwt",
        ] {
            assert!(is_event_token_type(typ), "{typ}");
        }
        for typ in ["JWT", "at+jwt", "application/at+jwt", "", "application/"] {
            assert!(!is_event_token_type(typ), "{typ}");
        }
    }

    #[test]
    fn an_events_claim_is_found_however_it_is_written() {
        for payload in [
            r#"{"events":{}}"#,
            r#"{"\u0065vents":{}}"#,
            r#"{"ev\u0065nts":1}"#,
        ] {
            assert!(
                matches!(carries_events_claim(payload), Ok(true)),
                "{payload}"
            );
        }
        for payload in [
            r#"{"sub":"a"}"#,
            r#"{"sub":"\u0061","eventsx":1}"#,
            r#"{"events":null}"#,
        ] {
            assert!(
                matches!(carries_events_claim(payload), Ok(false)),
                "{payload}"
            );
        }
        assert!(carries_events_claim(r#"{"events":1,"events":2}"#).is_err());
    }

    #[test]
    fn unknown_algorithms_are_named_as_such() {
        // {"alg":"none","typ":"JWT"} . {"sub":"x"} . (no signature)
        let token = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0.";
        assert!(header_names_foreign_algorithm(token));
        assert!(!header_names_foreign_algorithm("not a token"));
    }

    #[test]
    fn the_backend_probe_answers_when_a_backend_is_compiled_in() {
        // Tests build jsonwebtoken with aws_lc_rs (dev-dependency); tests/crypto-backend covers
        // the other cases in a build of its own.
        assert!(crypto_backend_usable().is_ok());
    }
}
