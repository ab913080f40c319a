//! What an operator does by hand, shared by the `jwt-revoke` command-line tool and any admin
//! interface: read a leaked token without trusting it, say why the store refuses a token (or
//! does not), and report the state of a store.
//!
//! Nothing here keeps or prints a token. A token read with [`UnverifiedToken::read`] is parsed
//! for its claims and forgotten; its errors say what is wrong with it, never what it holds.
//!
//! ```
//! # use std::{sync::Arc, time::Duration};
//! use jwt_revoke::ops::{self, Decision, UnverifiedToken};
//! use jwt_revoke::{MemoryStore, Policy, Revocations};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let revocations = Revocations::new(Arc::new(MemoryStore::new()), Policy::new(Duration::from_secs(900)));
//! # let now = revocations.clock().now().as_secs_floor();
//! # let payload = format!(r#"{{"iss":"https://idp.example","sub":"alice","jti":"t-1","iat":{now},"exp":{}}}"#, now + 600);
//! # let b64 = |bytes: &[u8]| { use jwt_revoke::jsonwebtoken::*; encode(&Header::default(), &serde_json::from_slice::<serde_json::Value>(bytes).unwrap(), &EncodingKey::from_secret(&[7; 32])).unwrap() };
//! # let leaked = b64(payload.as_bytes());
//! // A token pasted by whoever found it, read without checking its signature.
//! let token = UnverifiedToken::read(&leaked)?;
//! let facts = token.facts(&revocations)?;
//! assert_eq!(ops::explain(&revocations, &facts).await?.decision, None);
//!
//! revocations.revoke_token(&facts).await?;
//! let explanation = ops::explain(&revocations, &facts).await?;
//! assert_eq!(explanation.decision, Some(Decision::TokenRecord));
//! assert!(explanation.refused);
//! # Ok(())
//! # }
//! ```
//!
//! Store calls are not bounded here (this crate runs on no particular runtime): bound each
//! one by [`Revocations::store_timeout`], as the command-line tool does.

use std::fmt;
use std::time::Duration;

use jwt_revoke_core::{
    ClaimKeys, Cutoff, RegisteredClaims, RevocationReason, Revocations, StoreError, Timestamp,
    TokenError, TokenFacts, TokenKeys, Verdict,
};
use serde::Serialize;
use serde::ser::Serializer;
use serde_json::value::RawValue;

#[cfg(any(feature = "memory", feature = "redis"))]
mod status;
#[cfg(any(feature = "memory", feature = "redis"))]
pub use status::*;

/// The longest token [`UnverifiedToken::read`] reads: far beyond any real JWT (the layer
/// refuses tokens over 8 KiB by default), small enough that a pasted file is refused, not parsed.
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// A token read **without checking its signature**: what it says about itself.
///
/// For revoking a leaked token, the claims are all that is needed, and trusting them costs
/// nothing: a forged token that names a real `jti` revokes at most that token, which the
/// operator asked for anyway. Judging whether to accept a token needs the signature: that is
/// the layer's job, never this type's.
///
/// The token itself is not kept: only its claims and its payload (which anyone holding the
/// token can read). `Debug` shows the claims, never the payload's other members.
#[derive(Clone)]
pub struct UnverifiedToken {
    claims: RegisteredClaims,
    payload: Box<RawValue>,
    header: TokenHeader,
}

/// What a token's header says: its algorithm, key id and type, as written (unverified).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TokenHeader {
    /// `alg`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// `kid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// `typ`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
}

impl fmt::Debug for UnverifiedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnverifiedToken")
            .field("claims", &self.claims)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

/// Why a text is not a token that can be read. None of these says what the text holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// Nothing was given.
    #[error("no token was given")]
    Empty,
    /// Longer than [`MAX_TOKEN_BYTES`].
    #[error("the token is {0} bytes long, more than the {MAX_TOKEN_BYTES} a JWT may have here")]
    TooLong(usize),
    /// Five parts: an encrypted token (JWE), whose claims only its recipient can read.
    #[error(
        "this is an encrypted token (JWE, five parts): its claims cannot be read without the \
         recipient's key; revoke it by its jti (`revoke jti`) or its user"
    )]
    Encrypted,
    /// Not three parts separated by dots.
    #[error("not a JWT: a JWT is three base64url parts separated by dots ({0} found)")]
    NotCompact(usize),
    /// A part holds a character base64url does not have, or cannot be a base64url length.
    #[error("the token's {0} is not base64url")]
    NotBase64(&'static str),
    /// The header or the payload is not a JSON object (or not UTF-8).
    #[error("the token's {part} is not a JSON object: {reason}")]
    NotJson {
        /// `header` or `payload`.
        part: &'static str,
        /// What the reader said, with every literal it quoted hidden.
        reason: String,
    },
}

impl UnverifiedToken {
    /// Reads a compact JWS (`header.payload.signature`), its signature unchecked.
    ///
    /// Whitespace around the token (a pasted line's newline) is ignored, and so is a leading
    /// `Bearer ` (a header copied whole). Never panics, whatever the input.
    ///
    /// ```
    /// use jwt_revoke::ops::{ReadError, UnverifiedToken};
    ///
    /// // {"alg":"HS256"} . {"iss":"i","sub":"alice","exp":1} . (a signature)
    /// let token = UnverifiedToken::read("eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJpIiwic3ViIjoiYWxpY2UiLCJleHAiOjF9.c2ln")?;
    /// assert_eq!(token.claims().sub.as_deref(), Some("alice"));
    /// assert_eq!(token.payload(), r#"{"iss":"i","sub":"alice","exp":1}"#);
    ///
    /// // Errors say what is wrong, never what the text was.
    /// let err = UnverifiedToken::read("hunter2").unwrap_err();
    /// assert_eq!(err, ReadError::NotCompact(1));
    /// assert!(!err.to_string().contains("hunter2"));
    /// # Ok::<(), ReadError>(())
    /// ```
    pub fn read(token: &str) -> Result<Self, ReadError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(ReadError::TooLong(token.len()));
        }
        let token = token.trim();
        let token = match token.get(..7) {
            Some(scheme) if scheme.eq_ignore_ascii_case("bearer ") => token[7..].trim_start(),
            _ => token,
        };
        if token.is_empty() {
            return Err(ReadError::Empty);
        }
        let parts: Vec<&str> = token.split('.').collect();
        let (header, payload) = match parts.as_slice() {
            [header, payload, _signature] => (*header, *payload),
            [_, _, _, _, _] => return Err(ReadError::Encrypted),
            other => return Err(ReadError::NotCompact(other.len())),
        };
        let header_bytes = base64url(header).ok_or(ReadError::NotBase64("header"))?;
        let payload_bytes = base64url(payload).ok_or(ReadError::NotBase64("payload"))?;
        let header: TokenHeader = json_object(&header_bytes, "header").and_then(|raw| {
            #[derive(serde::Deserialize)]
            struct Fields {
                alg: Option<String>,
                kid: Option<String>,
                typ: Option<String>,
            }
            let fields: Fields =
                serde_json::from_str(raw.get()).map_err(|err| not_json("header", &err))?;
            Ok(TokenHeader {
                alg: fields.alg,
                kid: fields.kid,
                typ: fields.typ,
            })
        })?;
        let payload = json_object(&payload_bytes, "payload")?;
        let claims: RegisteredClaims =
            serde_json::from_str(payload.get()).map_err(|err| not_json("payload", &err))?;
        Ok(UnverifiedToken {
            claims,
            payload,
            header,
        })
    }

    /// The registered claims, as the token states them.
    pub fn claims(&self) -> &RegisteredClaims {
        &self.claims
    }

    /// The payload's JSON text, exactly as the layer sees it after verification (without the
    /// whitespace around it): a token without `jti` is identified by its digest.
    pub fn payload(&self) -> &str {
        self.payload.get()
    }

    /// What the header says (`alg`, `kid`, `typ`), unverified.
    pub fn header(&self) -> &TokenHeader {
        &self.header
    }

    /// What revocation needs of the token, by the engine's policy, with the rules for a token
    /// about to be revoked ([`Revocations::inspect_for_revocation`]): a token not valid yet is
    /// revocable, an expired one is refused ([`TokenError::Expired`]: nothing to record).
    pub fn facts(&self, revocations: &Revocations) -> Result<TokenFacts, TokenError> {
        revocations.inspect_for_revocation(&self.claims, self.payload.get())
    }
}

/// The facts of a token known by its `jti` alone (`revoke jti`): issuer, subject, `jti`, and
/// when it expires. The record made from them is the one the layer reads for a token with
/// those `iss`, `sub` and `jti`, whatever else it holds.
///
/// `expires_at` bounds how long the record is kept (plus the policy's leeway). Not knowing it,
/// give [`latest_expiry`]: the latest `exp` of any token the policy accepts now.
///
/// ```
/// # use std::{sync::Arc, time::Duration};
/// use jwt_revoke::{MemoryStore, Policy, Revocations, TokenId};
/// use jwt_revoke::ops;
///
/// let revocations = Revocations::new(Arc::new(MemoryStore::new()), Policy::new(Duration::from_secs(900)));
/// let facts = ops::jti_facts(&revocations, "https://idp.example", "alice", "t-1", ops::latest_expiry(&revocations))?;
/// assert_eq!(facts.token(), &TokenId::from_jti("https://idp.example", "alice", "t-1"));
/// # Ok::<(), jwt_revoke::TokenError>(())
/// ```
pub fn jti_facts(
    revocations: &Revocations,
    issuer: &str,
    subject: &str,
    jti: &str,
    expires_at: Timestamp,
) -> Result<TokenFacts, TokenError> {
    if jti.is_empty() {
        // An empty `jti` identifies nothing (the engine would fall back to a digest).
        return Err(TokenError::MissingClaim("jti"));
    }
    let mut claims = RegisteredClaims::new();
    claims.iss = Some(issuer.to_owned());
    claims.sub = Some(subject.to_owned());
    claims.jti = Some(jti.to_owned());
    claims.exp = Some(expires_at.into());
    // The payload matters only for the claims the policy gives cut-offs: this token has none
    // of them, which is right for a record that only its `jti` names.
    let payload = serde_json::to_string(&claims).map_err(|_| TokenError::UnreadablePayload)?;
    revocations.inspect_for_revocation(&claims, &payload)
}

/// The latest `exp` of a token the engine accepts now: issued at most the `iat` allowance
/// ahead ([`Policy::issued_at_skew`](crate::Policy::issued_at_skew)), living at most the
/// longest lifetime. A record kept until then (plus the leeway) outlives every such token.
pub fn latest_expiry(revocations: &Revocations) -> Timestamp {
    let policy = revocations.policy();
    let longest = policy
        .max_token_lifetime()
        .max(policy.tokens_without_exp().unwrap_or(Duration::ZERO));
    revocations
        .clock()
        .now()
        .saturating_add(policy.issued_at_skew())
        .saturating_add(longest)
}

/// Which record decides that a token is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Decision {
    /// The token's own revocation record (denylist).
    TokenRecord,
    /// The token is not registered (allowlist mode): absence means refused.
    NotRegistered,
    /// Its user's cut-off covers its `iat`.
    UserCutoff,
    /// Its session's cut-off covers its `iat`.
    SessionCutoff,
    /// A cut-off of one of its claim values (`azp`, a tenant…) covers its `iat`.
    ClaimCutoff,
    /// The store lost records, and the token was issued before that was noticed.
    DataLossCutoff,
}

/// An instant, written as RFC 3339 UTC text with microseconds
/// (`2026-01-02T03:04:05.250000Z`) in JSON and in `Display`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Moment(pub Timestamp);

impl fmt::Display for Moment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = self.0.as_micros();
        let secs = micros.div_euclid(1_000_000);
        let fraction = micros.rem_euclid(1_000_000);
        let days = secs.div_euclid(86_400);
        let in_day = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{fraction:06}Z",
            in_day / 3600,
            in_day % 3600 / 60,
            in_day % 60
        )
    }
}

impl Serialize for Moment {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A cut-off as an operator reads it: its instant, and the first `iat` it spares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CutoffView {
    /// Every token issued at or before this instant is refused.
    pub at: Moment,
    /// The smallest integer `iat` it does not cover ([`Cutoff::first_valid_iat`]).
    pub first_valid_iat: i64,
}

impl From<Cutoff> for CutoffView {
    fn from(cutoff: Cutoff) -> Self {
        CutoffView {
            at: Moment(cutoff.at()),
            first_valid_iat: cutoff.first_valid_iat(),
        }
    }
}

/// The live records the store holds for a token: all of them, whichever decides.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RecordsFound {
    /// Whether the store holds a record under the token's key (denylist: revoked; allowlist:
    /// registered).
    pub token_record: bool,
    /// The user's cut-off.
    pub user_cutoff: Option<CutoffView>,
    /// The session's cut-off (only for a token with a `sid`).
    pub session_cutoff: Option<CutoffView>,
    /// The latest cut-off of the token's claim values.
    pub claim_cutoff: Option<CutoffView>,
    /// The store-wide cut-off of a data loss.
    pub data_loss_cutoff: Option<Moment>,
}

/// The token a verdict is about, as the store knows it (no secret in it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TokenSummary {
    /// `iss`.
    pub iss: String,
    /// `sub`.
    pub sub: String,
    /// `jti`, when the token is identified by it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The first 16 hex digits of the SHA-256 of the payload, when the token has no `jti`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_digest: Option<String>,
    /// `sid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The claim values the policy gives cut-offs, as `name=value`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<String>,
    /// `iat`.
    pub issued_at: Option<Moment>,
    /// `exp` (or `iat` plus the retention, for a token without `exp`).
    pub expires_at: Moment,
}

impl TokenSummary {
    /// The summary of `facts`.
    pub fn of(facts: &TokenFacts) -> Self {
        let (jti, payload_digest) = match facts.token().identified_by() {
            jwt_revoke_core::IdentifiedBy::Jti(jti) => (Some(jti.clone()), None),
            jwt_revoke_core::IdentifiedBy::PayloadDigest(digest) => (
                None,
                Some(digest[..8].iter().map(|b| format!("{b:02x}")).collect()),
            ),
        };
        TokenSummary {
            iss: facts.token().issuer().to_owned(),
            sub: facts.token().subject().to_owned(),
            jti,
            payload_digest,
            sid: facts.session().map(|sid| sid.sid().to_owned()),
            claims: facts
                .claims()
                .iter()
                .map(|claim| format!("{}={}", claim.claim(), claim.value()))
                .collect(),
            issued_at: facts.issued_at().map(Moment),
            expires_at: Moment(facts.expires_at()),
        }
    }
}

/// Why the store refuses a token, or that it does not: see [`explain`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Explanation {
    /// The token.
    pub token: TokenSummary,
    /// Whether a service on this store, with this policy, refuses the token for a record (its
    /// signature and times are judged apart).
    pub refused: bool,
    /// The record that decides, when refused.
    pub decision: Option<Decision>,
    /// What the layer tells the client (`error_description`), or `"not revoked"`.
    pub description: String,
    /// The cut-off that decides (for a cut-off decision).
    pub cutoff: Option<CutoffView>,
    /// For a claim cut-off: the claim value, `name=value`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// Until when the record refuses the token: its expiry plus the leeway, after which
    /// expiry refuses it anyway (for a token without `iat` covered by a cut-off: when the
    /// cut-off's record goes, if earlier).
    pub refused_until: Option<Moment>,
    /// Every live record the store holds for the token.
    pub records: RecordsFound,
}

/// Asks the store about `facts` (one call, or a few more to name which claim value's
/// cut-off decides) and says what decides: the token's record, a cut-off, a data loss, or
/// nothing. The verdict is the engine's own ([`Revocations::judge`]).
///
/// Not bounded in time: wrap it in `tokio::time::timeout(revocations.store_timeout(), …)`.
pub async fn explain(
    revocations: &Revocations,
    facts: &TokenFacts,
) -> Result<Explanation, StoreError> {
    let reply = revocations.store().check(facts.keys()).await?;
    let verdict = revocations.judge(facts, &reply);
    let policy = revocations.policy();
    let expiry_end = facts.expires_at().saturating_add(policy.leeway());
    let cutoff_end = |cutoff: Cutoff| match facts.issued_at() {
        Some(_) => expiry_end,
        None => expiry_end.min(cutoff.at().saturating_add(policy.cutoff_retention())),
    };
    let records = RecordsFound {
        token_record: reply.token_listed,
        user_cutoff: reply.user_cutoff.map(|at| Cutoff::new(at).into()),
        session_cutoff: reply.session_cutoff.map(|at| Cutoff::new(at).into()),
        claim_cutoff: reply.claim_cutoff.map(|at| Cutoff::new(at).into()),
        data_loss_cutoff: reply.store_cutoff.map(Moment),
    };
    let mut explanation = Explanation {
        token: TokenSummary::of(facts),
        refused: false,
        decision: None,
        description: "not revoked".to_owned(),
        cutoff: None,
        claim: None,
        refused_until: None,
        records,
    };
    let Verdict::Revoked(reason) = verdict else {
        return Ok(explanation);
    };
    explanation.refused = true;
    explanation.description = reason.to_string();
    let (decision, cutoff) = match reason {
        RevocationReason::Token => (Decision::TokenRecord, None),
        RevocationReason::NotRegistered => (Decision::NotRegistered, None),
        RevocationReason::User(cutoff) => (Decision::UserCutoff, Some(cutoff)),
        RevocationReason::Session(cutoff) => (Decision::SessionCutoff, Some(cutoff)),
        RevocationReason::Claim(cutoff) => (Decision::ClaimCutoff, Some(cutoff)),
        RevocationReason::DataLoss(cutoff) => (Decision::DataLossCutoff, Some(cutoff)),
        // A reason this version does not know: refused all the same.
        _ => {
            explanation.refused_until = Some(Moment(expiry_end));
            return Ok(explanation);
        }
    };
    explanation.decision = Some(decision);
    explanation.cutoff = cutoff.map(CutoffView::from);
    explanation.refused_until = Some(Moment(cutoff.map_or(expiry_end, cutoff_end)));
    if decision == Decision::ClaimCutoff && facts.claims().len() > 1 {
        explanation.claim = deciding_claim(revocations, facts, reply.claim_cutoff).await?;
    } else if decision == Decision::ClaimCutoff {
        explanation.claim = facts
            .claims()
            .first()
            .map(|claim| format!("{}={}", claim.claim(), claim.value()));
    }
    Ok(explanation)
}

/// Which of the token's claim values holds the cut-off `latest`: one check of each.
async fn deciding_claim(
    revocations: &Revocations,
    facts: &TokenFacts,
    latest: Option<Timestamp>,
) -> Result<Option<String>, StoreError> {
    for claim in facts.claims() {
        let Some(one) = ClaimKeys::new(&[claim.key()]) else {
            continue;
        };
        let keys = TokenKeys::new(facts.keys().token, facts.keys().user, None).with_claims(one);
        let reply = revocations.store().check(&keys).await?;
        if reply.claim_cutoff.is_some() && reply.claim_cutoff == latest {
            return Ok(Some(format!("{}={}", claim.claim(), claim.value())));
        }
    }
    Ok(None)
}

/// Unpadded base64url, spare trailing bits ignored (what was signed is what counts, not how
/// it was written).
const BASE64URL: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    base64::engine::GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes unpadded base64url (see [`BASE64URL`]); `None` for any other character or an
/// impossible length.
fn base64url(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    BASE64URL.decode(text).ok()
}

/// The JSON object in `bytes`, as the layer's reader keeps it (no whitespace around it).
fn json_object(bytes: &[u8], part: &'static str) -> Result<Box<RawValue>, ReadError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ReadError::NotJson {
        part,
        reason: "it is not UTF-8".to_owned(),
    })?;
    let raw: Box<RawValue> = serde_json::from_str(text).map_err(|err| not_json(part, &err))?;
    if !raw.get().starts_with('{') {
        return Err(ReadError::NotJson {
            part,
            reason: "it is JSON, but not an object".to_owned(),
        });
    }
    Ok(raw)
}

fn not_json(part: &'static str, err: &serde_json::Error) -> ReadError {
    ReadError::NotJson {
        part,
        reason: hide_literals(&err.to_string()),
    }
}

/// A reader's message with every quoted literal replaced by `"…"`: a claim's value may be
/// what the operator must not paste into a ticket. serde writes a number or a boolean of the
/// wrong type in backticks (``invalid type: integer `987654321`, expected a string``): those
/// are hidden too, except a field's name (lowercase letters and `_`, as in ``duplicate field
/// `sub` ``), which no value of a wrong type can be but `true` and `false`.
fn hide_literals(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    let mut escaped = false;
    for c in message.chars() {
        match (quoted, c) {
            (false, '"') => {
                quoted = true;
                out.push_str("\"…");
            }
            (true, '\\') if !escaped => escaped = true,
            (true, '"') if !escaped => {
                quoted = false;
                out.push('"');
            }
            (true, _) => escaped = false,
            (false, c) => out.push(c),
        }
    }
    if quoted {
        out.push('"');
    }
    // Strings first (a backtick inside one is the sender's), then serde's backticked values.
    hide_backticked(&out)
}

/// `message` with every backticked literal that is not a field's name replaced by `` `…` ``.
fn hide_backticked(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..=start]);
        let body = &rest[start + 1..];
        let end = body.find('`').unwrap_or(body.len());
        let literal = &body[..end];
        let a_name = !literal.is_empty()
            && literal.len() <= 32
            && literal.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        out.push_str(if a_name { literal } else { "…" });
        out.push('`');
        rest = body.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(bytes: &[u8]) -> String {
        use base64::Engine as _;
        super::BASE64URL.encode(bytes)
    }

    fn token(header: &str, payload: &str) -> String {
        format!(
            "{}.{}.c2ln",
            encode(header.as_bytes()),
            encode(payload.as_bytes())
        )
    }

    #[test]
    fn base64url_reads_what_it_is_given_and_refuses_the_rest() {
        for sample in [
            &b""[..],
            b"a",
            b"ab",
            b"abc",
            b"abcd",
            &[0xff, 0xfe, 0x00, 0x7f],
        ] {
            assert_eq!(base64url(&encode(sample)).as_deref(), Some(sample));
        }
        assert_eq!(base64url("a"), None, "one character is no byte");
        assert_eq!(base64url("ab=="), None, "padding is not base64url");
        assert_eq!(base64url("a+/b"), None, "standard alphabet");
        // Spare trailing bits are ignored: "QR" and "QQ" both read as "A".
        assert_eq!(base64url("QR"), base64url("QQ"));
    }

    #[test]
    fn a_token_is_read_as_the_layer_reads_it() {
        let read = UnverifiedToken::read(&format!(
            "Bearer {}\n",
            token(
                r#"{"alg":"ES256","kid":"k1"}"#,
                " {\"iss\":\"i\",\"sub\":\"s\"}\n"
            )
        ))
        .expect("a token");
        assert_eq!(
            read.payload(),
            r#"{"iss":"i","sub":"s"}"#,
            "trimmed as RawValue does"
        );
        assert_eq!(read.header().alg.as_deref(), Some("ES256"));
        assert_eq!(read.header().kid.as_deref(), Some("k1"));
        assert_eq!(read.claims().iss.as_deref(), Some("i"));
    }

    #[test]
    fn errors_never_echo_what_they_were_given() {
        let secret = "hunter2-secret-value";
        for (text, expected) in [
            (String::new(), ReadError::Empty),
            ("   ".to_owned(), ReadError::Empty),
            (secret.to_owned(), ReadError::NotCompact(1)),
            (format!("{secret}.{secret}"), ReadError::NotCompact(2)),
            ("a.b.c.d.e".to_owned(), ReadError::Encrypted),
            (format!("{secret}!.e30.x"), ReadError::NotBase64("header")),
            (
                "x".repeat(MAX_TOKEN_BYTES + 1),
                ReadError::TooLong(MAX_TOKEN_BYTES + 1),
            ),
        ] {
            let err = UnverifiedToken::read(&text).expect_err("refused");
            assert_eq!(err, expected);
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
        for payload in [
            format!(r#"{{"sub":"{secret}","exp":"{secret}"}}"#),
            format!(r#"{{"sub":"{secret}","sub":"{secret}"}}"#),
            format!(r#"["{secret}"]"#),
            format!(r#"{{"sub":"{secret}""#),
        ] {
            let err = UnverifiedToken::read(&token("{}", &payload)).expect_err("refused");
            assert!(
                matches!(
                    err,
                    ReadError::NotJson {
                        part: "payload",
                        ..
                    }
                ),
                "{err}"
            );
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn moments_are_rfc_3339_in_utc() {
        assert_eq!(
            Moment(Timestamp::EPOCH).to_string(),
            "1970-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            Moment(Timestamp::from_micros(1_700_000_000_250_000)).to_string(),
            "2023-11-14T22:13:20.250000Z"
        );
        assert_eq!(
            Moment(Timestamp::from_secs(951_782_400)).to_string(),
            "2000-02-29T00:00:00.000000Z"
        );
        assert_eq!(
            Moment(Timestamp::from_secs(-1)).to_string(),
            "1969-12-31T23:59:59.000000Z"
        );
        // The extremes format without a panic.
        let _ = Moment(Timestamp::MAX).to_string();
        let _ = Moment(Timestamp::MIN).to_string();
    }

    #[test]
    fn hidden_literals_keep_the_message_readable() {
        assert_eq!(
            hide_literals(r#"invalid type: string "a\"b", expected x at line 1"#),
            r#"invalid type: string "…", expected x at line 1"#
        );
    }
}
