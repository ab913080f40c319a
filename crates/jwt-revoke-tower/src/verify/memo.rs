//! The claims memo: a token whose payload was seen before skips parsing and checking its
//! claims and hashing its identities, never the verification of its header and signature, its
//! time checks or the revocation check.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::value::RawValue;

use super::Authenticated;

/// What the layer learned from a verified payload, by the payload's exact JSON text.
///
/// Everything [`Revocations::inspect`](jwt_revoke_core::Revocations::inspect) derives from a
/// token's claims — the parsed registered claims, the policy's verdict on them, the SHA-256
/// store keys — is a function of the payload alone, except the time checks, which
/// [`Revocations::revalidate`](jwt_revoke_core::Revocations::revalidate) runs again on every
/// hit (a token without `jti` is identified by the digest of its payload, so by the payload
/// too). Entries are looked up by full text equality (the hash only
/// finds the slot), so two payloads never share an entry. The payload of a token is not a
/// credential: without the signature it authenticates nothing.
///
/// The payload is held once: the entry's key is the same text the claims hold.
///
/// Bounded by bytes (each entry weighs its payload plus [`ENTRY_OVERHEAD`]); when full, the
/// least useful entries are evicted (S3-FIFO, by quick_cache), which costs a parse and three
/// hashes on their next use, nothing else.
pub(crate) struct ClaimsMemo {
    entries: quick_cache::sync::Cache<Payload, Authenticated, ByPayloadSize>,
}

/// A memo key: the payload text, shared with the claims it keys, compared and hashed as text.
#[derive(Clone)]
struct Payload(Arc<RawValue>);

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

impl Eq for Payload {}

impl Hash for Payload {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `str` hashes, so that a lookup by `&str` finds it (`Borrow<str>`).
        self.0.get().hash(state);
    }
}

impl Borrow<str> for Payload {
    fn borrow(&self) -> &str {
        self.0.get()
    }
}

/// About what an entry holds besides its payload (the parsed claims; the facts with their
/// identities and keys; the cache's own slot), for the byte budget.
pub(crate) const ENTRY_OVERHEAD: u64 = 512;

#[derive(Clone)]
struct ByPayloadSize;

impl quick_cache::Weighter<Payload, Authenticated> for ByPayloadSize {
    fn weight(&self, key: &Payload, _: &Authenticated) -> u64 {
        key.0.get().len() as u64 + ENTRY_OVERHEAD
    }
}

impl ClaimsMemo {
    /// A memo holding up to about `max_bytes`; `None` for 0.
    pub(crate) fn new(max_bytes: usize) -> Option<Self> {
        let max_bytes = u64::try_from(max_bytes).unwrap_or(u64::MAX);
        if max_bytes < ENTRY_OVERHEAD {
            return None;
        }
        // Sized for payloads of about 256 bytes; quick_cache adapts to what comes.
        let estimated_items = usize::try_from(max_bytes / (ENTRY_OVERHEAD + 256))
            .unwrap_or(usize::MAX)
            .max(1);
        Some(ClaimsMemo {
            entries: quick_cache::sync::Cache::with_weighter(
                estimated_items,
                max_bytes,
                ByPayloadSize,
            ),
        })
    }

    /// What was learned from this exact payload, if it was seen.
    pub(crate) fn get(&self, payload: &str) -> Option<Authenticated> {
        self.entries.get(payload)
    }

    /// What was learned from the payload of the compact JWS `token`, if it was seen, found
    /// **before** the token is verified: the caller may use the entry only once the token's
    /// header and signature verify
    /// ([`JwtVerifier::verify_known_payload_stamped`](super::JwtVerifier::verify_known_payload_stamped)).
    ///
    /// The payload is read as verification reads it: the part between the last two dots,
    /// base64url-decoded as jsonwebtoken decodes it (no padding), as UTF-8 text without the
    /// JSON whitespace around the value — the text a JSON reader keeps as the payload, and so
    /// the memo's key. A part that decodes to anything else finds nothing and takes the full
    /// verification, which refuses it.
    ///
    /// Looking up before verifying has two effects a verified-only lookup had not, both known
    /// and accepted: a refused token with a memoized payload marks that entry as used (it
    /// keeps an entry warm, which a valid token could do anyway), and it is refused after one
    /// parse of its header where a token with a payload not seen takes two (jsonwebtoken's
    /// `decode` parses it twice): a time difference that tells whether an exact payload was
    /// seen, to a client that already holds that payload.
    pub(crate) fn get_for_token(&self, token: &str) -> Option<Authenticated> {
        use base64::Engine as _;
        let (message, _) = token.rsplit_once('.')?;
        let (_, encoded) = message.rsplit_once('.')?;
        // Most payloads fit on the stack: no allocation for the lookup.
        let mut buffer = [0u8; 1024];
        let heap;
        let decoded = match URL_SAFE_NO_PAD.decode_slice(encoded, &mut buffer) {
            Ok(len) => &buffer[..len],
            Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
                heap = URL_SAFE_NO_PAD.decode(encoded).ok()?;
                &heap[..]
            }
            Err(base64::DecodeSliceError::DecodeError(_)) => return None,
        };
        let text = std::str::from_utf8(decoded).ok()?;
        self.get(text.trim_matches(is_json_whitespace))
    }

    /// Keeps what was learned from a payload.
    pub(crate) fn insert(&self, authenticated: &Authenticated) {
        self.entries.insert(
            Payload(Arc::clone(authenticated.claims.payload())),
            authenticated.clone(),
        );
    }
}

/// JSON's whitespace (RFC 8259 §2), which a reader skips around a value (not all of what
/// `char::is_whitespace` or `trim_ascii` trims: a form feed is not JSON whitespace).
fn is_json_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}
