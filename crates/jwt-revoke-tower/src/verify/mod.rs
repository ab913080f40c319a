//! Verifying a token with `jsonwebtoken`, under keys and algorithms the caller fixes, and the
//! two caches of what verification learned: the verified-token cache (a token seen before
//! skips its signature check) and the claims memo (a payload seen before skips its parsing,
//! its claim checks and hashing; its header and signature are verified).
//!
//! A verifier holds one or several issuers, each with its keys (configured, or fetched by a
//! [`RemoteKeys`](crate::RemoteKeys) source), algorithms and audiences. With several, the
//! token's `iss` is read before verification only to choose whose keys verify it; the
//! verified token must then name that same issuer.

mod cache;
mod keys;
mod memo;

pub(crate) use cache::VerifiedCache;
pub use keys::DecodingKeys;
pub(crate) use memo::ClaimsMemo;

use std::borrow::Cow;
use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use jwt_revoke_core::{Policy, TokenFacts};
use serde_json::value::RawValue;

use crate::claims::Claims;
use crate::error::BuildError;
use crate::issuers::Keys;
use crate::rejection::{InvalidReason, RejectionKind};
use keys::{CompiledKeys, Selected, VerifyingKey};

/// A token that passed verification and the policy, waiting for the store's word.
#[derive(Clone)]
pub(crate) struct Authenticated {
    pub(crate) claims: Claims,
    pub(crate) token: Arc<TokenFacts>,
}

/// Verifies compact JWS tokens: signature, algorithm, `exp`/`nbf`, optional `iss`/`aud`,
/// and the token type (RFC 8725 §3.11).
pub(crate) struct JwtVerifier {
    /// At least one. With one, every token is verified with its keys (and its `iss`, when it
    /// names one, is required by the validation); with several, the token's `iss` chooses.
    issuers: Vec<IssuerVerifier>,
}

/// One issuer's keys and rules.
struct IssuerVerifier {
    /// The `iss` it verifies; `None` only for a single verifier without one (any issuer, or
    /// those the layer's claim rules accept).
    iss: Option<String>,
    keys: KeyHolder,
}

/// The keys of one issuer, readied for its settings.
enum KeyHolder {
    Fixed(CompiledKeys),
    #[cfg(feature = "remote-keys")]
    Remote {
        source: crate::remote::RemoteKeys,
        /// The settings each fetched set is readied for.
        settings: VerifierSettings,
        /// The fetched set readied for this verifier, redone when the source's set changes.
        compiled: arc_swap::ArcSwapOption<CompiledKeys>,
    },
}

/// Settings for [`JwtVerifier::new`] besides keys.
#[derive(Clone)]
pub(crate) struct VerifierSettings {
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) issuers: Vec<String>,
    pub(crate) audiences: Vec<String>,
    pub(crate) leeway: std::time::Duration,
    /// Claims that must be present (jsonwebtoken's "spec claims": `exp`, `iss`, `aud`, ...).
    pub(crate) required: Vec<&'static str>,
}

impl VerifierSettings {
    /// The settings of access tokens under `policy`: `exp` required unless the policy accepts
    /// tokens without it.
    pub(crate) fn access(
        algorithms: Vec<Algorithm>,
        issuers: Vec<String>,
        audiences: Vec<String>,
        policy: &Policy,
    ) -> Self {
        // jsonwebtoken checks `iss` and `aud` only when present unless they are required:
        // an allowlist of issuers or audiences must not be escaped by leaving the claim out.
        let required = [
            (policy.tokens_without_exp().is_none(), "exp"),
            (!issuers.is_empty(), "iss"),
            (!audiences.is_empty(), "aud"),
        ]
        .into_iter()
        .filter_map(|(needed, claim)| needed.then_some(claim))
        .collect();
        VerifierSettings {
            algorithms,
            issuers,
            audiences,
            leeway: policy.leeway(),
            required,
        }
    }
}

/// One issuer as [`JwtVerifier::new`] takes it.
pub(crate) struct IssuerSpec {
    /// The issuer, `None` for a verifier of any (one spec only).
    pub(crate) iss: Option<String>,
    pub(crate) keys: Keys,
    pub(crate) settings: VerifierSettings,
}

impl JwtVerifier {
    /// A verifier of one set of keys under `settings` (whose `issuers` the token's `iss` must
    /// be one of, when there are any).
    pub(crate) fn new(
        keys: impl Into<Keys>,
        settings: VerifierSettings,
    ) -> Result<Self, BuildError> {
        Self::of_issuers(vec![IssuerSpec {
            iss: None,
            keys: keys.into(),
            settings,
        }])
    }

    /// A verifier of several issuers, each token verified by the one its `iss` names.
    pub(crate) fn of_issuers(specs: Vec<IssuerSpec>) -> Result<Self, BuildError> {
        if specs.is_empty() {
            return Err(BuildError::NoKeys);
        }
        crypto_backend_usable()?;
        let several = specs.len() > 1;
        let mut issuers: Vec<IssuerVerifier> = Vec::with_capacity(specs.len());
        for spec in specs {
            if spec.settings.algorithms.is_empty() {
                return Err(BuildError::NoAlgorithms);
            }
            if several && spec.iss.is_none() {
                return Err(BuildError::NoKeys);
            }
            let mut spec = spec;
            if let Some(iss) = &spec.iss {
                // The verified token must name the issuer whose keys verified it.
                spec.settings.issuers = vec![iss.clone()];
                if !spec.settings.required.contains(&"iss") {
                    spec.settings.required.push("iss");
                }
            }
            if let Some(iss) = &spec.iss
                && issuers.iter().any(|known| known.iss.as_ref() == Some(iss))
            {
                return Err(BuildError::DuplicateIssuer { iss: iss.clone() });
            }
            let keys = match spec.keys {
                Keys::Fixed(keys) => {
                    let compiled = CompiledKeys::new(keys, &spec.settings.algorithms, 0, |algs| {
                        validation(algs, &spec.settings)
                    })?;
                    if compiled.is_empty() {
                        return Err(BuildError::NoKeys);
                    }
                    KeyHolder::Fixed(compiled)
                }
                #[cfg(feature = "remote-keys")]
                Keys::Remote(source) => KeyHolder::Remote {
                    source,
                    settings: spec.settings,
                    compiled: arc_swap::ArcSwapOption::empty(),
                },
            };
            issuers.push(IssuerVerifier {
                iss: spec.iss,
                keys,
            });
        }
        Ok(JwtVerifier { issuers })
    }

    /// `verify(self)`, and once more after the wait it asks for (a `kid` its issuer's fetched
    /// key set lacks, and a refetch begun): for callers that may wait, the receivers.
    pub(crate) async fn waiting<T>(
        &self,
        verify: impl Fn(&Self) -> Result<T, VerifyError>,
    ) -> Result<T, VerifyError> {
        match verify(self) {
            Err(VerifyError {
                wait: Some(wait), ..
            }) => {
                wait.wait().await;
                verify(self)
            }
            outcome => outcome,
        }
    }

    /// Verifies `token` as an access token; the error is what the client is told.
    pub(crate) fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        Claims::from_verified_payload(self.verify_payload(token)?)
            .map_err(|_| VerifyError::refusal(malformed_claims()))
    }

    /// Verifies `token` as an access token and returns its payload, unparsed.
    pub(crate) fn verify_payload(&self, token: &str) -> Result<Box<RawValue>, VerifyError> {
        self.verify_payload_stamped(token)
            .map(|(payload, _)| payload)
    }

    /// [`verify_payload`](Self::verify_payload), with the stamp of the keys that verified it.
    pub(crate) fn verify_payload_stamped(
        &self,
        token: &str,
    ) -> Result<(Box<RawValue>, Option<KeyStamp>), VerifyError> {
        let (typ, payload, stamp) = self.verify_stamped(token, decode_claims)?;
        refuse_event_token_type(typ.as_deref())?;
        if carries_events_claim(payload.get()).map_err(VerifyError::refusal)? {
            return Err(VerifyError::refusal(event_token_refused()));
        }
        Ok((payload, stamp))
    }

    /// Verifies `token` as an access token whose payload this verifier accepted before (the
    /// claims memo holds it): its header and signature exactly as
    /// [`verify_payload_stamped`](Self::verify_payload_stamped) verifies them, not its claims.
    ///
    /// Sound because every check of the claims here is a function of the payload text and the
    /// issuer it names (required claims, `iss`, `aud`, no `events`; jsonwebtoken's time checks
    /// are off, the engine's run on every request): the same text passes them again. What
    /// depends on the token's other two parts — its header (`alg` among the key's algorithms,
    /// `kid`, `typ`, `crit`) and its signature over both — is checked here as for any token.
    pub(crate) fn verify_known_payload_stamped(
        &self,
        token: &str,
    ) -> Result<Option<KeyStamp>, VerifyError> {
        let (typ, (), stamp) = self.verify_stamped(token, check_signature)?;
        refuse_event_token_type(typ.as_deref())?;
        Ok(stamp)
    }

    /// Whether keys that verified a token (its `stamp`) are still those in force: configured
    /// keys always are; a fetched set while it is neither stale nor replaced. A verified-token
    /// cache serves an entry only while they are, so that a key the identity provider removed,
    /// or keys gone stale, stop verifying the tokens it remembers too.
    pub(crate) fn still_in_force(&self, stamp: Option<KeyStamp>) -> bool {
        let Some(stamp) = stamp else {
            return true;
        };
        match self.issuers.get(stamp.issuer).map(|issuer| &issuer.keys) {
            Some(KeyHolder::Fixed(_)) => true,
            #[cfg(feature = "remote-keys")]
            Some(KeyHolder::Remote { source, .. }) => source
                .current()
                .is_ok_and(|snapshot| snapshot.generation == stamp.generation),
            None => false,
        }
    }

    /// Verifies the signature, algorithm, issuer, audience and required claims of `token`;
    /// returns its header's `typ` and its payload, for the caller to judge.
    pub(crate) fn verify_signature(
        &self,
        token: &str,
    ) -> Result<(Option<String>, Box<RawValue>), VerifyError> {
        self.verify_stamped(token, decode_claims)
            .map(|(typ, payload, _)| (typ, payload))
    }

    fn verify_stamped<T>(&self, token: &str, read: Reader<T>) -> Result<Verified<T>, VerifyError> {
        let (index, issuer) = match self.issuers.as_slice() {
            [only] => (0, only),
            several => with_unverified_issuer(token, |iss| {
                several
                    .iter()
                    .enumerate()
                    .find(|(_, issuer)| issuer.iss.as_deref() == Some(iss))
            })?
            .ok_or_else(|| {
                failure(
                    FailureClass::Issuer,
                    InvalidReason::Issuer,
                    "the token's issuer is not accepted",
                )
            })?,
        };
        issuer.verify(token, index, read)
    }
}

/// A verified token: its header's `typ`, what the [`Reader`] read of its payload, and the
/// stamp of the keys that verified it (`None` for configured keys).
type Verified<T> = (Option<String>, T, Option<KeyStamp>);

/// How a token is verified with one key: its header, and what is read of its payload.
type Reader<T> = fn(&str, &VerifyingKey) -> jsonwebtoken::errors::Result<(Header, T)>;

/// Everything: header, signature, and the claims under the key's validation (jsonwebtoken's
/// `decode`); the payload, unparsed.
fn decode_claims(
    token: &str,
    key: &VerifyingKey,
) -> jsonwebtoken::errors::Result<(Header, Box<RawValue>)> {
    jsonwebtoken::decode::<Box<RawValue>>(token, &key.key, &key.validation)
        .map(|data| (data.header, data.claims))
}

/// The header and the signature only, checked as jsonwebtoken's `decode` checks them before it
/// reads the claims, in its order and with its errors: the header parses, its `alg` is one of
/// the key's algorithms (all of one family), the signature over the first two parts verifies.
fn check_signature(token: &str, key: &VerifyingKey) -> jsonwebtoken::errors::Result<(Header, ())> {
    let header = jsonwebtoken::decode_header(token)?;
    let algorithms = &key.validation.algorithms;
    if !algorithms.contains(&header.alg)
        || algorithms
            .iter()
            .any(|alg| alg.family() != header.alg.family())
    {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    // `decode_header` found the two dots: the message is everything before the last one.
    let (message, signature) = token
        .rsplit_once('.')
        .ok_or(jsonwebtoken::errors::Error::from(ErrorKind::InvalidToken))?;
    if jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key.key, header.alg)? {
        Ok((header, ()))
    } else {
        Err(ErrorKind::InvalidSignature.into())
    }
}

/// RFC 8725 §3.11: a logout or security event token (by its `typ`) is never an access token.
fn refuse_event_token_type(typ: Option<&str>) -> Result<(), VerifyError> {
    if typ.is_some_and(is_event_token_type) {
        return Err(VerifyError::refusal(invalid(
            InvalidReason::TokenType,
            "this type of token (typ) is not an access token",
        )));
    }
    Ok(())
}

/// Which keys verified a token: the issuer's place in the verifier and the version of its
/// fetched key set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyStamp {
    issuer: usize,
    generation: u64,
}

impl IssuerVerifier {
    /// Verifies `token` with this issuer's keys; `index` is this issuer's place, for the stamp.
    #[cfg_attr(not(feature = "remote-keys"), allow(unused_variables))]
    fn verify<T>(
        &self,
        token: &str,
        index: usize,
        read: Reader<T>,
    ) -> Result<Verified<T>, VerifyError> {
        match &self.keys {
            KeyHolder::Fixed(keys) => verify_with(keys, token, read)
                .map(|(typ, payload)| (typ, payload, None))
                .map_err(|miss| miss.refusal()),
            #[cfg(feature = "remote-keys")]
            KeyHolder::Remote {
                source,
                settings,
                compiled,
            } => {
                let snapshot = source.current().map_err(VerifyError::from)?;
                let current = compiled.load();
                let keys = match current.as_ref() {
                    Some(keys) if keys.generation == snapshot.generation => Arc::clone(keys),
                    _ => {
                        drop(current);
                        let keys = Arc::new(
                            CompiledKeys::new(
                                snapshot.keys.clone(),
                                &settings.algorithms,
                                snapshot.generation,
                                |algs| validation(algs, settings),
                            )
                            .map_err(|err| {
                                tracing::warn!(source = %source.location(), %err, "a fetched key set cannot be used");
                                VerifyError {
                                    keys_may_change: true,
                                    ..failure(FailureClass::Key, InvalidReason::UnknownKey, "the token's key id (kid) is not known")
                                }
                            })?,
                        );
                        if keys.is_empty() {
                            tracing::warn!(
                                source = %source.location(),
                                "no key of the fetched key set verifies any of the allowed algorithms"
                            );
                        }
                        compiled.store(Some(Arc::clone(&keys)));
                        keys
                    }
                };
                let stamp = KeyStamp {
                    issuer: index,
                    generation: snapshot.generation,
                };
                verify_with(&keys, token, read)
                    .map(|(typ, payload)| (typ, payload, Some(stamp)))
                    .map_err(|miss| {
                        let unknown_kid = matches!(miss, Miss::UnknownKid);
                        let mut err = miss.refusal();
                        // A key failure a later key set may undo: not one of an algorithm the
                        // layer never accepts, whatever keys come.
                        err.keys_may_change = err.class == FailureClass::Key
                            && jsonwebtoken::decode_header(token)
                                .is_ok_and(|header| settings.algorithms.contains(&header.alg));
                        if unknown_kid {
                            err.wait = source.request_refetch(snapshot.generation);
                        }
                        err
                    })
            }
        }
    }
}

/// Why `verify_with` found no key, or what verification said.
enum Miss {
    UnknownKid,
    Refused(VerifyError),
}

impl Miss {
    fn refusal(self) -> VerifyError {
        match self {
            Miss::UnknownKid => failure(
                FailureClass::Key,
                InvalidReason::UnknownKey,
                "the token's key id (kid) is not known",
            ),
            Miss::Refused(err) => err,
        }
    }
}

/// Verifies `token` with the key its header selects among `keys`, reading its payload with
/// `read`.
fn verify_with<T>(
    keys: &CompiledKeys,
    token: &str,
    read: Reader<T>,
) -> Result<(Option<String>, T), Miss> {
    let selected = keys
        .select(|| {
            jsonwebtoken::decode_header(token)
                .map(|header| header.kid)
                .map_err(|err| describe(&err, token))
        })
        .map_err(Miss::Refused)?;
    let (header, payload) = match selected {
        Selected::One(key) => {
            read(token, key).map_err(|err| Miss::Refused(describe(&err, token)))?
        }
        Selected::Each(candidates) => {
            // A key set without kids: each key that may verify the token's algorithm, in turn,
            // until one verifies its signature. A failure other than the signature (a claim)
            // is the token's own, and final.
            let alg = jsonwebtoken::decode_header(token)
                .map_err(|err| Miss::Refused(describe(&err, token)))?
                .alg;
            let mut last = failure(
                FailureClass::Key,
                InvalidReason::Algorithm,
                "the token's algorithm is not accepted",
            );
            let mut verified = None;
            for key in candidates
                .iter()
                .filter(|key| key.validation.algorithms.contains(&alg))
            {
                match read(token, key) {
                    Ok(data) => {
                        verified = Some(data);
                        break;
                    }
                    Err(err) if *err.kind() == ErrorKind::InvalidSignature => {
                        last = describe(&err, token);
                    }
                    Err(err) => return Err(Miss::Refused(describe(&err, token))),
                }
            }
            verified.ok_or(Miss::Refused(last))?
        }
        Selected::UnknownKid => return Err(Miss::UnknownKid),
        Selected::NoKid => {
            return Err(Miss::Refused(failure(
                FailureClass::Key,
                InvalidReason::UnknownKey,
                "the token names no key id (kid), and its issuer's keys are chosen by one",
            )));
        }
    };
    // RFC 7515 §4.1.11: `crit` names extensions the recipient must understand and enforce,
    // or refuse the token. We understand none, so a token that has any is refused: its
    // issuer said "not unless you enforce this" (jsonwebtoken reads `crit` and leaves the
    // judgement to us). A `null` names nothing and reads as absent.
    if header.crit.is_some() {
        return Err(Miss::Refused(failure(
            FailureClass::Other,
            InvalidReason::Malformed,
            "the token has a critical header parameter (crit) this service does not understand",
        )));
    }
    Ok((header.typ, payload))
}

/// The `iss` of a token not verified yet, only to choose whose keys verify it (the verified
/// token must then name the same issuer: the validation requires it). Read as every JSON
/// reader reads it (escapes decoded); a payload with two `iss` members is refused, so no
/// reader can see another issuer than the one whose keys were chosen.
fn with_unverified_issuer<R>(
    token: &str,
    choose: impl FnOnce(&str) -> R,
) -> Result<R, VerifyError> {
    use base64::Engine as _;
    #[derive(serde::Deserialize)]
    struct IssOnly<'a> {
        // Borrowed unless it has escapes: no allocation for the usual issuer.
        #[serde(borrow)]
        iss: Option<Cow<'a, str>>,
    }
    let malformed = || {
        failure(
            FailureClass::Other,
            InvalidReason::Malformed,
            "the token is malformed",
        )
    };
    let mut segments = token.split('.');
    let (Some(_), Some(payload), Some(_), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(malformed());
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| malformed())?;
    let parsed: IssOnly = serde_json::from_slice(&bytes).map_err(|_| malformed())?;
    parsed.iss.map(|iss| choose(&iss)).ok_or_else(|| {
        failure(
            FailureClass::Other,
            InvalidReason::MissingClaim,
            "the token has no iss claim",
        )
    })
}

fn validation(algorithms: Vec<Algorithm>, settings: &VerifierSettings) -> Validation {
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
        validation.set_issuer(&settings.issuers);
    }
    if settings.audiences.is_empty() {
        validation.validate_aud = false;
    } else {
        validation.set_audience(&settings.audiences);
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
    invalid(
        InvalidReason::TokenType,
        "an event token (logout token or SET) is not an access token",
    )
}

/// The rejection of a verified payload whose registered claims do not parse.
pub(crate) fn malformed_claims() -> RejectionKind {
    invalid(
        InvalidReason::Malformed,
        "the token's registered claims are malformed",
    )
}

fn invalid(reason: InvalidReason, why: &'static str) -> RejectionKind {
    RejectionKind::InvalidToken(reason, Cow::Borrowed(why))
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
    /// The issuer's keys are not available yet (a remote key set's first fetch has not
    /// succeeded): nothing was judged.
    #[cfg_attr(not(feature = "remote-keys"), allow(dead_code))]
    Unavailable,
}

/// A verification failure: its class and what the client is told.
#[derive(Debug)]
pub(crate) struct VerifyError {
    pub(crate) class: FailureClass,
    /// Why, in a word (metrics).
    pub(crate) reason: InvalidReason,
    pub(crate) description: Cow<'static, str>,
    /// The token names a `kid` its issuer's fetched key set does not have, and a fetch of the
    /// set has begun: waiting for it, then verifying again, may succeed.
    pub(crate) wait: Option<KeyWait>,
    /// The failure is the keys' (unknown `kid`, signature, keys stale or not fetched yet) and
    /// the keys are fetched ones, which may change: the same token may verify later. A
    /// receiver must not answer as if it never will (an RFC 7009 200 promises "never again";
    /// an identity provider told 400 drops its logout): it answers 503, to be retried.
    pub(crate) keys_may_change: bool,
}

impl VerifyError {
    /// A refusal the pipeline made (always `invalid_token`).
    pub(crate) fn refusal(kind: RejectionKind) -> Self {
        let (reason, description) = match kind {
            RejectionKind::InvalidToken(reason, why) => (reason, why),
            RejectionKind::InvalidRequest(why) => (InvalidReason::Malformed, why),
            _ => (
                InvalidReason::Other,
                Cow::Borrowed("the token could not be verified"),
            ),
        };
        VerifyError {
            class: FailureClass::Other,
            reason,
            description,
            wait: None,
            keys_may_change: false,
        }
    }
}

impl From<VerifyError> for RejectionKind {
    fn from(err: VerifyError) -> Self {
        match err.class {
            FailureClass::Unavailable => RejectionKind::KeysUnavailable {
                retry_after: std::time::Duration::from_secs(1),
            },
            _ => RejectionKind::InvalidToken(err.reason, err.description),
        }
    }
}

fn failure(class: FailureClass, reason: InvalidReason, why: &'static str) -> VerifyError {
    VerifyError {
        class,
        reason,
        description: Cow::Borrowed(why),
        wait: None,
        keys_may_change: false,
    }
}

/// A wait for a key set's fetch (see [`VerifyError::wait`]).
#[cfg(feature = "remote-keys")]
pub(crate) use crate::remote::KeyWait;

/// A wait for a key set's fetch: none without remote key sources.
#[cfg(not(feature = "remote-keys"))]
#[derive(Debug)]
pub(crate) enum KeyWait {}

#[cfg(not(feature = "remote-keys"))]
impl KeyWait {
    /// Never called: there is no value.
    pub(crate) async fn wait(self) {
        match self {}
    }
}

/// What the client is told about a verification failure: precise enough to debug a client,
/// never jsonwebtoken's internal text, never the token.
fn describe(err: &jsonwebtoken::errors::Error, token: &str) -> VerifyError {
    use FailureClass::{Audience, Issuer, Key, Other};
    use InvalidReason as R;
    match err.kind() {
        ErrorKind::InvalidSignature => {
            failure(Key, R::Signature, "the token's signature is invalid")
        }
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm => {
            failure(Key, R::Algorithm, "the token's algorithm is not accepted")
        }
        ErrorKind::ExpiredSignature => failure(Other, R::Expired, "the token has expired"),
        ErrorKind::ImmatureSignature => {
            failure(Other, R::NotYetValid, "the token is not valid yet")
        }
        ErrorKind::InvalidIssuer => {
            failure(Issuer, R::Issuer, "the token's issuer is not accepted")
        }
        ErrorKind::InvalidAudience => failure(
            Audience,
            R::Audience,
            "the token's audience is not accepted",
        ),
        ErrorKind::MissingRequiredClaim(claim) => VerifyError {
            class: Other,
            reason: R::MissingClaim,
            description: Cow::Owned(format!(
                "the token has no {} claim",
                if claim.chars().all(|c| c.is_ascii_alphanumeric()) {
                    claim.as_str()
                } else {
                    "required"
                }
            )),
            wait: None,
            keys_may_change: false,
        },
        ErrorKind::InvalidClaimFormat(_) => {
            failure(Other, R::Malformed, "a claim of the token is malformed")
        }
        ErrorKind::Json(_)
        | ErrorKind::Base64(_)
        | ErrorKind::Utf8(_)
        | ErrorKind::InvalidToken => {
            if header_names_foreign_algorithm(token) {
                failure(Key, R::Algorithm, "the token's algorithm is not accepted")
            } else {
                failure(Other, R::Malformed, "the token is malformed")
            }
        }
        _ => failure(Other, R::Other, "the token could not be verified"),
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
