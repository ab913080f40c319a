//! The key layout: which Redis key holds which record.
//!
//! Every key is `<prefix><kind>{<tag>}<rest>`:
//!
//! | record | key | value |
//! |---|---|---|
//! | a token (denylist or allowlist) | `<prefix>t{<user[..8]>}<token>` | `1` |
//! | a user's, a session's or a claim value's cut-off | `<prefix>c{<key[..8]>}<key[8..]>` | the cut-off, µs since the epoch |
//! | the data-loss marker (one per server; one per slot range on a cluster) | `<prefix>m{<tag>}` | see `data_loss.rs` |
//!
//! where `<token>`, `<user>` and `<key>` are the 32-byte [`RecordKey`] digests written in
//! unpadded base64url (43 characters; the first 8 encode exactly the first 6 bytes; its
//! alphabet has no `{`, `}` or `:`, so it never breaks a tag).
//!
//! The `{…}` part is a Redis Cluster hash tag: only it decides the slot. A token's record is
//! tagged with the first 6 bytes of its **user's** digest, the same characters that tag the
//! user's cut-off, so both live in one slot and are read with one `MGET`. A session's cut-off is
//! tagged with its own digest: it is written by back-channel logout, which may know only the
//! `sid`, so it cannot be placed by user.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_revoke_core::{RecordKey, TokenKeys};
use serde::Deserialize;

/// How many base64url characters make the hash tag: 8 characters are exactly 6 bytes.
const TAG_LEN: usize = 8;
/// The digest bytes the tag encodes.
const TAG_BYTES: usize = 6;
/// A 32-byte digest in unpadded base64url.
const DIGEST_LEN: usize = 43;

/// The text that starts every key this store writes, so that it can share a Redis with others.
///
/// Any text without `{` or `}`: those would move the hash tag and with it the cluster slot,
/// so a prefix containing them is refused. The default is `jwt-revoke:`. Give each service
/// (or each environment) sharing one Redis its own prefix when their revocations must not
/// mix; give every instance of one service the same prefix, or they will not see each
/// other's revocations.
///
/// ```
/// use jwt_revoke_redis::KeyPrefix;
/// assert_eq!(KeyPrefix::default().as_str(), "jwt-revoke:");
/// assert!(KeyPrefix::new("billing:revoked:").is_ok());
/// assert!(KeyPrefix::new("{billing}:").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct KeyPrefix(String);

impl KeyPrefix {
    /// The prefix used when none is configured.
    pub const DEFAULT: &'static str = "jwt-revoke:";

    /// A prefix, refused when it contains a hash-tag brace.
    pub fn new(prefix: impl Into<String>) -> Result<Self, InvalidKeyPrefix> {
        let prefix = prefix.into();
        if prefix.contains(['{', '}']) {
            return Err(InvalidKeyPrefix { prefix });
        }
        Ok(KeyPrefix(prefix))
    }

    /// The prefix's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Redis key of a token's record (denylist or allowlist, as the key says), in the same
    /// cluster slot as its user's cut-off. For operators and tests: the store computes it itself.
    ///
    /// ```
    /// use jwt_revoke_core::{TokenId, TokenKeys, UserId};
    /// use jwt_revoke_redis::KeyPrefix;
    ///
    /// let user = UserId::new("https://idp.example", "alice").key();
    /// let keys = TokenKeys::new(TokenId::from_jti("https://idp.example", "alice", "t-1").denylist_key(), user, None);
    /// let token_key = KeyPrefix::default().token_key(&keys);
    /// let user_key = KeyPrefix::default().cutoff_key(&user);
    /// assert!(token_key.starts_with("jwt-revoke:t{"));
    /// // Same hash tag: same slot.
    /// assert_eq!(token_key[12..22], user_key[12..22]);
    /// ```
    pub fn token_key(&self, keys: &TokenKeys) -> String {
        // One allocation: the tag (the user digest's first 6 bytes, exactly its first 8
        // characters) and the token digest are encoded straight into the key.
        let mut key = self.start(b't', TAG_LEN + 1 + DIGEST_LEN);
        key.push_str(&Base64url::of(&keys.user.as_bytes()[..TAG_BYTES]));
        key.push('}');
        key.push_str(&Base64url::of(keys.token.as_bytes()));
        key
    }

    /// The Redis key of a cut-off record: a user's ([`UserId::key`]) or a session's
    /// ([`SessionId::key`]); the two never share a digest.
    ///
    /// [`UserId::key`]: jwt_revoke_core::UserId::key
    /// [`SessionId::key`]: jwt_revoke_core::SessionId::key
    pub fn cutoff_key(&self, key: &RecordKey) -> String {
        let encoded = Base64url::of(key.as_bytes());
        let digest: &str = &encoded;
        let mut out = self.start(b'c', DIGEST_LEN + 1);
        out.push_str(&digest[..TAG_LEN]);
        out.push('}');
        out.push_str(&digest[TAG_LEN..]);
        out
    }

    /// The Redis key of a data-loss marker: `<prefix>m{<tag>}`. One server has one, tagged
    /// `0`; a cluster has one per slot range, each tagged so that it lands in its range. No
    /// record key reads as a marker, nor a marker as a record (its tag is not 8 characters
    /// long and its kind is neither `t` nor `c`).
    ///
    /// ```
    /// use jwt_revoke_redis::KeyPrefix;
    /// assert_eq!(KeyPrefix::default().marker_key("0"), "jwt-revoke:m{0}");
    /// ```
    pub fn marker_key(&self, tag: &str) -> String {
        let mut key = self.start(b'm', tag.len() + 1);
        key.push_str(tag);
        key.push('}');
        key
    }

    fn start(&self, kind: u8, rest: usize) -> String {
        let mut key = String::with_capacity(self.0.len() + 2 + rest);
        key.push_str(&self.0);
        key.push(char::from(kind));
        key.push('{');
        key
    }
}

impl Default for KeyPrefix {
    fn default() -> Self {
        KeyPrefix(Self::DEFAULT.to_owned())
    }
}

impl fmt::Debug for KeyPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for KeyPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for KeyPrefix {
    type Error = InvalidKeyPrefix;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        KeyPrefix::new(value)
    }
}

impl TryFrom<&str> for KeyPrefix {
    type Error = InvalidKeyPrefix;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        KeyPrefix::new(value)
    }
}

/// A key prefix that contains `{` or `}`, which would change the keys' cluster hash tags.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a Redis key prefix must not contain '{{' or '}}' (they would move the cluster hash tag): {prefix:?}"
)]
pub struct InvalidKeyPrefix {
    prefix: String,
}

/// A 32-byte digest back from its 43 base64url characters.
fn digest_from_base64url(text: &[u8]) -> Option<RecordKey> {
    let mut bytes = [0u8; 32];
    (text.len() == 43 && URL_SAFE_NO_PAD.decode_slice(text, &mut bytes).ok()? == 32)
        .then_some(RecordKey::from_bytes(bytes))
}

/// What a key of this store holds, read back from the key's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Record {
    /// A token's record, by the token's digest.
    Token(RecordKey),
    /// A user's or session's cut-off, by its digest.
    Cutoff(RecordKey),
}

impl KeyPrefix {
    /// The record a Redis key names, or `None` for a key this store did not write.
    pub(crate) fn parse(&self, key: &[u8]) -> Option<Record> {
        let rest = key.strip_prefix(self.0.as_bytes())?;
        let (&kind, rest) = rest.split_first()?;
        let rest = rest.strip_prefix(b"{")?;
        let (tag, rest) = rest.split_at_checked(TAG_LEN)?;
        let rest = rest.strip_prefix(b"}")?;
        match kind {
            b't' => digest_from_base64url(rest).map(Record::Token),
            b'c' => {
                let mut whole = [0u8; 43];
                whole.get_mut(..TAG_LEN)?.copy_from_slice(tag);
                whole
                    .get_mut(TAG_LEN..)?
                    .copy_from_slice(rest.get(..43 - TAG_LEN)?);
                (rest.len() == 43 - TAG_LEN)
                    .then(|| digest_from_base64url(&whole))
                    .flatten()
                    .map(Record::Cutoff)
            }
            _ => None,
        }
    }

    /// The channel on which writes to this prefix in database `db` are announced, for local
    /// replicas (Redis pub/sub channels are shared by all databases, hence the number).
    pub(crate) fn channel(&self, db: i64) -> String {
        format!("{}changes@{db}", self.0)
    }

    /// A `SCAN … MATCH` pattern for every key under this prefix: the prefix with glob
    /// characters escaped, then `*`.
    pub(crate) fn scan_pattern(&self) -> String {
        let mut pattern = String::with_capacity(self.0.len() + 1);
        for c in self.0.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('*');
        pattern
    }
}

/// CRC16/XMODEM, the checksum Redis Cluster places keys by.
fn crc16(data: &[u8]) -> u16 {
    crc16::State::<crc16::XMODEM>::calculate(data)
}

/// The cluster slot of a key whose hash tag is `tag`.
pub(crate) fn slot_of_tag(tag: &str) -> u16 {
    crc16(tag.as_bytes()) % 16_384
}

/// The unpadded base64url of at most 32 bytes, on the stack: a key is then built with one
/// allocation, its own (encoding into a `String` of its own first cost two, and base64's
/// `encode_string` more instructions than both).
struct Base64url {
    text: [u8; DIGEST_LEN],
    len: usize,
}

impl Base64url {
    fn of(bytes: &[u8]) -> Self {
        let mut text = [0u8; DIGEST_LEN];
        let len = URL_SAFE_NO_PAD
            .encode_slice(bytes, &mut text)
            .expect("43 characters hold the base64url of 32 bytes");
        Base64url { text, len }
    }
}

impl std::ops::Deref for Base64url {
    type Target = str;
    fn deref(&self) -> &str {
        std::str::from_utf8(&self.text[..self.len]).expect("base64url is ASCII")
    }
}

/// A tag (decimal digits) whose slot lies in `start..=end`; `None` only for an empty range.
pub(crate) fn tag_in(start: u16, end: u16) -> Option<String> {
    // Every slot is reached by some number below 110,000 (tested below); the bound keeps a
    // malformed range from looping for long.
    (0u32..200_000)
        .map(|n| n.to_string())
        .find(|tag| (start..=end).contains(&slot_of_tag(tag)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jwt_revoke_core::{SessionId, TokenId, UserId};

    /// Unpadded base64url of a 32-byte digest: 43 characters.
    fn base64url(bytes: &[u8; 32]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The keys are data: the layout of the module's table, spelled out from the whole
    /// digests, for many digests (a byte changed would leave every stored revocation behind).
    #[test]
    fn the_keys_are_the_documented_layout() {
        let prefix = KeyPrefix::new("svc:").expect("valid prefix");
        for n in 0..512u32 {
            let user = UserId::new("iss", format!("user-{n}")).key();
            let token =
                TokenId::from_jti("iss", format!("user-{n}"), format!("t-{n}")).denylist_key();
            let keys = TokenKeys::new(token, user, None);
            let (user64, token64) = (base64url(user.as_bytes()), base64url(token.as_bytes()));
            assert_eq!(
                prefix.token_key(&keys),
                format!("svc:t{{{}}}{token64}", &user64[..8])
            );
            assert_eq!(
                prefix.cutoff_key(&user),
                format!("svc:c{{{}}}{}", &user64[..8], &user64[8..])
            );
        }
        let ones = RecordKey::from_bytes([0xff; 32]);
        assert_eq!(
            KeyPrefix::default().cutoff_key(&ones),
            format!("jwt-revoke:c{{{}}}{}8", "_".repeat(8), "_".repeat(34))
        );
    }

    #[test]
    fn base64url_matches_rfc_4648() {
        let mut bytes = [0u8; 32];
        bytes[..6].copy_from_slice(b"foobar");
        let encoded = base64url(&bytes);
        assert_eq!(encoded.len(), 43);
        assert!(encoded.starts_with("Zm9vYmFy"), "{encoded}");
        assert_eq!(base64url(&[0xff; 32]), "_".repeat(42) + "8");
    }

    #[test]
    fn a_token_shares_its_users_tag_and_sessions_do_not() {
        let prefix = KeyPrefix::new("p:").expect("valid prefix");
        let user = UserId::new("iss", "alice").key();
        let session = SessionId::new("iss", "s-1").key();
        let keys = TokenKeys::new(
            TokenId::from_jti("iss", "alice", "t").denylist_key(),
            user,
            Some(session),
        );
        let tag =
            |key: &str| key[key.find('{').expect("tag")..=key.find('}').expect("tag")].to_owned();
        let token_key = prefix.token_key(&keys);
        assert_eq!(tag(&token_key), tag(&prefix.cutoff_key(&user)));
        assert_ne!(tag(&token_key), tag(&prefix.cutoff_key(&session)));
        assert_eq!(token_key.len(), 2 + 1 + 10 + 43);
        assert_eq!(prefix.cutoff_key(&user).len(), 2 + 1 + 10 + 35);
    }

    #[test]
    fn a_cutoff_key_holds_the_whole_digest() {
        let user = UserId::new("iss", "alice").key();
        let key = KeyPrefix::default().cutoff_key(&user);
        let digest: String = key["jwt-revoke:c".len()..]
            .chars()
            .filter(|c| *c != '{' && *c != '}')
            .collect();
        assert_eq!(digest, base64url(user.as_bytes()));
    }

    #[test]
    fn every_key_reads_back_as_the_record_it_names() {
        let prefix = KeyPrefix::new("svc *[x]: ").expect("valid prefix");
        let user = UserId::new("iss", "alice").key();
        let session = SessionId::new("iss", "s-1").key();
        let token = TokenId::from_jti("iss", "alice", "t").denylist_key();
        let keys = TokenKeys::new(token, user, Some(session));
        assert_eq!(
            prefix.parse(prefix.token_key(&keys).as_bytes()),
            Some(Record::Token(token))
        );
        assert_eq!(
            prefix.parse(prefix.cutoff_key(&user).as_bytes()),
            Some(Record::Cutoff(user))
        );
        assert_eq!(
            prefix.parse(prefix.cutoff_key(&session).as_bytes()),
            Some(Record::Cutoff(session))
        );
        // Keys of other prefixes, other kinds, or cut short are not ours.
        let token_key = prefix.token_key(&keys);
        for foreign in [
            KeyPrefix::default().token_key(&keys),
            token_key.replacen(" t{", " x{", 1),
            token_key[..token_key.len() - 1].to_owned(),
            format!("{token_key}A"),
            token_key.replace('}', "~"),
            String::new(),
        ] {
            assert_eq!(prefix.parse(foreign.as_bytes()), None, "{foreign}");
        }
        assert_eq!(prefix.scan_pattern(), "svc \\*\\[x\\]: *");
        // A marker is no record, whatever its tag.
        for tag in ["0", "12345678", "AAAAAAAA", "{"] {
            assert_eq!(
                prefix.parse(prefix.marker_key(tag).as_bytes()),
                None,
                "{tag}"
            );
        }
    }

    #[test]
    fn braces_in_a_prefix_are_refused() {
        for bad in ["{", "}", "a{b}c"] {
            assert!(KeyPrefix::new(bad).is_err(), "{bad}");
        }
        assert_eq!(KeyPrefix::new("").expect("empty is fine").as_str(), "");
        let parsed: Result<KeyPrefix, _> = serde_json::from_str(r#""x{""#);
        assert!(parsed.is_err());
    }

    #[test]
    fn slots_are_computed_as_redis_does() {
        use redis::cluster_routing::Slot;
        for key in [
            "0",
            "17",
            "jwt-revoke:m{42}",
            "{user1000}.following",
            "123456789",
        ] {
            let ours = if let (Some(open), Some(close)) = (key.find('{'), key.find('}')) {
                slot_of_tag(&key[open + 1..close])
            } else {
                crc16(key.as_bytes()) % 16_384
            };
            assert_eq!(Slot::new(ours), Some(Slot::for_key(key)), "{key}");
        }
        // The reference value of the Redis Cluster specification.
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn every_slot_has_a_short_tag() {
        let mut covered = vec![false; 16_384];
        for n in 0u32..110_000 {
            covered[usize::from(slot_of_tag(&n.to_string()))] = true;
        }
        assert!(covered.iter().all(|&slot| slot));
        let tag = tag_in(9_000, 9_000).expect("a tag for one slot");
        assert_eq!(slot_of_tag(&tag), 9_000);
        assert_eq!(tag_in(5, 4), None);
    }
}
