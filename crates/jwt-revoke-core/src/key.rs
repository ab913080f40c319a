//! Who and what is revoked: identities of tokens, users and sessions, and the digests stores see.
//!
//! A token is identified by (`iss`, `sub`, `jti`), or, without a `jti`, by (`iss`, `sub`) and
//! the SHA-256 digest of its verified payload. A user is (`iss`, `sub`) and a session is
//! (`iss`, `sid`): `jti`, `sub` and `sid` are unique only per issuer, so the issuer is always
//! part of the identity.
//!
//! Stores never see these identities. They see [`RecordKey`]s: SHA-256 digests of a
//! length-prefixed, domain-separated encoding of the identity. That keeps raw tokens and even
//! user ids out of the store, makes every key the same size, and makes it impossible for an
//! issuer name that contains a separator to collide with another (issuer, subject) pair.

use std::fmt;

use sha2::{Digest, Sha256};

/// The derivation of user and session keys, unchanged since the first release: cut-offs
/// written by any version are found by every version.
const CUTOFF_KEYS: &[u8] = b"jwt-revoke/v1/";
/// The derivation of token keys (see [`TokenId`]).
const TOKEN_KEYS: &[u8] = b"jwt-revoke/v2/";

/// The opaque, fixed-size key of one record in a store: a SHA-256 digest.
///
/// Two identities of different kinds (a user and a session, a denylisted token and an
/// allowlisted one) never share a key, so a store may keep them all in one keyspace.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordKey([u8; 32]);

impl RecordKey {
    /// Wraps 32 bytes, for stores that read keys back from their backend.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        RecordKey(bytes)
    }

    /// The digest's bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, 64 characters: for logs, debugging and stores that want text keys
    /// (the Redis store writes its own, shorter base64url form).
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(64);
        for byte in self.0 {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        out
    }

    fn derive(version: &[u8], domain: &str, parts: &[&[u8]]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(version);
        hasher.update(domain.as_bytes());
        for part in parts {
            // Length prefixes make the encoding unambiguous: ("a:b", "c") != ("a", "b:c").
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part);
        }
        RecordKey(hasher.finalize().into())
    }
}

impl fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordKey({})", &self.to_hex()[..16])
    }
}

/// How a token is identified within its issuer and subject.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum IdentifiedBy {
    /// The token's `jti` claim.
    Jti(String),
    /// SHA-256 of the token's verified payload (the JSON text its signature covers), for
    /// tokens without a `jti`.
    ///
    /// Not of the whole compact token: an attacker can re-encode a token without its key
    /// (an ECDSA signature `(r, s)` verifies as `(r, n - s)` too), but not its signed payload.
    /// The raw token is never kept.
    PayloadDigest([u8; 32]),
}

impl fmt::Debug for IdentifiedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentifiedBy::Jti(jti) => f.debug_tuple("Jti").field(jti).finish(),
            IdentifiedBy::PayloadDigest(digest) => {
                write!(f, "PayloadDigest({})", &RecordKey(*digest).to_hex()[..16])
            }
        }
    }
}

/// The identity of one token: its issuer, its subject and its `jti` (or, without one, the
/// digest of its verified payload).
///
/// The subject is part of it because a `jti` is only promised unique per issuer by
/// convention: an issuer that reuses a `jti` across users must not let one user's logout end
/// another's token, whichever store answers.
///
/// ```
/// use jwt_revoke_core::TokenId;
/// let by_jti = TokenId::from_jti("https://idp.example", "alice", "4f1c");
/// let by_payload = TokenId::from_payload("https://idp.example", "alice", r#"{"sub":"alice"}"#);
/// assert_ne!(by_jti.denylist_key(), by_payload.denylist_key());
/// // The same jti of two users is two tokens.
/// assert_ne!(by_jti.denylist_key(), TokenId::from_jti("https://idp.example", "bob", "4f1c").denylist_key());
/// // The same token in the denylist and in the allowlist has two unrelated keys.
/// assert_ne!(by_jti.denylist_key(), by_jti.allowlist_key());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct TokenId {
    issuer: String,
    subject: String,
    identifier: IdentifiedBy,
}

impl TokenId {
    /// A token of `subject` at `issuer`, identified by its `jti`.
    pub fn from_jti(
        issuer: impl Into<String>,
        subject: impl Into<String>,
        jti: impl Into<String>,
    ) -> Self {
        TokenId {
            issuer: issuer.into(),
            subject: subject.into(),
            identifier: IdentifiedBy::Jti(jti.into()),
        }
    }

    /// A token of `subject` at `issuer` without `jti`, identified by the SHA-256 digest of
    /// its **verified** payload: the JSON text that its signature covers, without the JSON
    /// whitespace around it (a JSON reader such as `serde_json`'s `RawValue` drops it, so the
    /// digest is the same whether it is taken from the decoded payload or from parsed claims).
    pub fn from_payload(
        issuer: impl Into<String>,
        subject: impl Into<String>,
        payload: &str,
    ) -> Self {
        let payload = payload.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
        TokenId {
            issuer: issuer.into(),
            subject: subject.into(),
            identifier: IdentifiedBy::PayloadDigest(Sha256::digest(payload.as_bytes()).into()),
        }
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The subject (`sub`).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The `jti` or payload digest.
    pub fn identified_by(&self) -> &IdentifiedBy {
        &self.identifier
    }

    /// The key of this token's record in denylist mode.
    pub fn denylist_key(&self) -> RecordKey {
        self.key("token-denied")
    }

    /// The key of this token's record in allowlist mode.
    pub fn allowlist_key(&self) -> RecordKey {
        self.key("token-allowed")
    }

    /// The key of the record that an event token (a logout token, a security event token)
    /// with this identity has been acted on: receivers refuse a replay while it lives. Apart
    /// from the denylist and allowlist keys, so an event's `jti` never revokes a token.
    pub fn processed_event_key(&self) -> RecordKey {
        self.key("event-processed")
    }

    fn key(&self, domain: &str) -> RecordKey {
        // Version 2 of token keys: (iss, sub, jti) and payload digests. Version 1 keyed
        // (iss, jti) and the digest of the whole compact token.
        let (issuer, subject) = (self.issuer.as_bytes(), self.subject.as_bytes());
        match &self.identifier {
            IdentifiedBy::Jti(jti) => RecordKey::derive(
                TOKEN_KEYS,
                domain,
                &[b"jti", issuer, subject, jti.as_bytes()],
            ),
            IdentifiedBy::PayloadDigest(digest) => RecordKey::derive(
                TOKEN_KEYS,
                domain,
                &[b"payload-sha256", issuer, subject, digest],
            ),
        }
    }
}

/// A user: (`iss`, `sub`). The subject of a "log out everywhere" cut-off.
///
/// ```
/// use jwt_revoke_core::UserId;
/// // The same `sub` at two issuers is two users.
/// assert_ne!(UserId::new("issuer-a", "42").key(), UserId::new("issuer-b", "42").key());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct UserId {
    issuer: String,
    subject: String,
}

impl UserId {
    /// The user `subject` of `issuer`.
    pub fn new(issuer: impl Into<String>, subject: impl Into<String>) -> Self {
        UserId {
            issuer: issuer.into(),
            subject: subject.into(),
        }
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `sub` claim.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The key of this user's cut-off record.
    pub fn key(&self) -> RecordKey {
        RecordKey::derive(
            CUTOFF_KEYS,
            "user",
            &[self.issuer.as_bytes(), self.subject.as_bytes()],
        )
    }
}

/// A login session: (`iss`, `sid`). The subject of a per-session cut-off (OIDC back-channel logout).
///
/// ```
/// use jwt_revoke_core::{SessionId, UserId};
/// // A session and a user with the same text never share a record.
/// assert_ne!(SessionId::new("iss", "x").key(), UserId::new("iss", "x").key());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct SessionId {
    issuer: String,
    session: String,
}

impl SessionId {
    /// The session `sid` of `issuer`.
    pub fn new(issuer: impl Into<String>, sid: impl Into<String>) -> Self {
        SessionId {
            issuer: issuer.into(),
            session: sid.into(),
        }
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `sid` claim.
    pub fn sid(&self) -> &str {
        &self.session
    }

    /// The key of this session's cut-off record.
    pub fn key(&self) -> RecordKey {
        RecordKey::derive(
            CUTOFF_KEYS,
            "session",
            &[self.issuer.as_bytes(), self.session.as_bytes()],
        )
    }
}

/// The tokens that carry one value of one claim at one issuer: (`iss`, claim name, value).
/// The subject of a claim cut-off: "every token of client app X" (`azp`, `client_id`),
/// "every token of tenant T", "every token of device D" issued up to an instant.
///
/// The policy names the claims that get cut-offs ([`Policy::with_claim_cutoffs`]); a claim's
/// value is its string, or an integer's decimal digits (so `"42"` and `42` are one value).
///
/// ```
/// use jwt_revoke_core::{ClaimId, UserId};
/// let client = ClaimId::new("https://idp.example", "azp", "mobile-app");
/// // Another claim with the same value, or the same value at another issuer, is another record.
/// assert_ne!(client.key(), ClaimId::new("https://idp.example", "tenant", "mobile-app").key());
/// assert_ne!(client.key(), ClaimId::new("https://other.example", "azp", "mobile-app").key());
/// // Never a user's record, whatever the text.
/// assert_ne!(ClaimId::new("i", "sub", "alice").key(), UserId::new("i", "alice").key());
/// ```
///
/// [`Policy::with_claim_cutoffs`]: crate::Policy::with_claim_cutoffs
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct ClaimId {
    issuer: String,
    claim: String,
    value: String,
}

impl ClaimId {
    /// The tokens of `issuer` whose claim `claim` has the value `value`.
    pub fn new(
        issuer: impl Into<String>,
        claim: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        ClaimId {
            issuer: issuer.into(),
            claim: claim.into(),
            value: value.into(),
        }
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The claim's name (`azp`, `tenant`, …).
    pub fn claim(&self) -> &str {
        &self.claim
    }

    /// The claim's value.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The key of this claim value's cut-off record.
    pub fn key(&self) -> RecordKey {
        RecordKey::derive(
            CUTOFF_KEYS,
            "claim",
            &[
                self.issuer.as_bytes(),
                self.claim.as_bytes(),
                self.value.as_bytes(),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_in_identifiers_cannot_collide() {
        assert_ne!(UserId::new("a:b", "c").key(), UserId::new("a", "b:c").key());
        assert_ne!(UserId::new("ab", "").key(), UserId::new("a", "b").key());
        assert_ne!(
            TokenId::from_jti("a", "s", "bc").denylist_key(),
            TokenId::from_jti("ab", "s", "c").denylist_key()
        );
        assert_ne!(
            TokenId::from_jti("i", "a", "bc").denylist_key(),
            TokenId::from_jti("i", "ab", "c").denylist_key()
        );
    }

    #[test]
    fn claim_keys_cannot_collide_across_their_parts() {
        assert_ne!(
            ClaimId::new("i", "ab", "c").key(),
            ClaimId::new("i", "a", "bc").key()
        );
        assert_ne!(
            ClaimId::new("i:a", "b", "c").key(),
            ClaimId::new("i", "a:b", "c").key()
        );
        // SHA-256("jwt-revoke/v1/claim" || be64(1) "i" || be64(3) "azp" || be64(1) "x"),
        // computed independently of this code: stores persist it, so it never changes.
        assert_eq!(
            ClaimId::new("i", "azp", "x").key().to_hex(),
            "97454050c1a49e84053fd5e508576bd76ff1fd5c70be085cbccd6ff98da835fc"
        );
    }

    #[test]
    fn keys_are_stable_across_releases() {
        // Stores persist these keys: changing the derivation would silently forget revocations.
        // The expected value is SHA-256("jwt-revoke/v1/user" || be64(1) "i" || be64(1) "s"),
        // computed independently of this code.
        assert_eq!(
            UserId::new("i", "s").key().to_hex(),
            "5621951597f780dbff0297d9ce1e2a95fc5ed347f1f1634d179db42f3029aba2"
        );
    }

    #[test]
    fn token_keys_are_stable_across_releases() {
        // SHA-256("jwt-revoke/v2/token-denied" || be64(3) "jti" || be64(1) "i" || be64(1) "s"
        // || be64(1) "j"), computed independently of this code.
        assert_eq!(
            TokenId::from_jti("i", "s", "j").denylist_key().to_hex(),
            "255ee651b804b8d26fc14de3ba130b1996c97272dda63bce64a7f3ceb4ec35f2"
        );
        // SHA-256("jwt-revoke/v2/token-denied" || be64(14) "payload-sha256" || be64(1) "i"
        // || be64(1) "s" || be64(32) SHA-256("{}")).
        assert_eq!(
            TokenId::from_payload("i", "s", "{}")
                .denylist_key()
                .to_hex(),
            "e626673a15b375648065ca0b7d9e02c9012378bd61ac7398046ad0d182a2d012"
        );
    }

    #[test]
    fn whitespace_around_a_payload_is_not_part_of_its_identity() {
        assert_eq!(
            TokenId::from_payload("i", "s", "{\"a\":1}\r\n"),
            TokenId::from_payload("i", "s", " \t{\"a\":1}")
        );
        assert_ne!(
            TokenId::from_payload("i", "s", "{\"a\":1}"),
            TokenId::from_payload("i", "s", "{\"a\": 1}")
        );
    }

    #[test]
    fn a_payload_identity_never_holds_the_payload() {
        let id = TokenId::from_payload("iss", "sub", r#"{"secret":"claims"}"#);
        let debug = format!("{id:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(matches!(id.identified_by(), IdentifiedBy::PayloadDigest(_)));
    }
}
