//! The claims memo: a token seen before skips parsing its claims and hashing its identities,
//! never its verification, its time checks or the revocation check.

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
/// Bounded by bytes (each entry weighs its payload plus [`ENTRY_OVERHEAD`]); when full, the
/// least useful entries are evicted (S3-FIFO, by quick_cache), which costs a parse and three
/// hashes on their next use, nothing else.
pub(crate) struct ClaimsMemo {
    entries: quick_cache::sync::Cache<Box<str>, Authenticated, ByPayloadSize>,
}

/// About what an entry holds besides its payload (the text twice: key and claims; the parsed
/// claims; the facts with their identities and keys), for the byte budget.
pub(crate) const ENTRY_OVERHEAD: u64 = 512;

#[derive(Clone)]
struct ByPayloadSize;

impl quick_cache::Weighter<Box<str>, Authenticated> for ByPayloadSize {
    fn weight(&self, key: &Box<str>, _: &Authenticated) -> u64 {
        // The payload is held twice: as the key and inside the claims.
        2 * key.len() as u64 + ENTRY_OVERHEAD
    }
}

impl ClaimsMemo {
    /// A memo holding up to about `max_bytes`; `None` for 0.
    pub(crate) fn new(max_bytes: usize) -> Option<Self> {
        let max_bytes = u64::try_from(max_bytes).unwrap_or(u64::MAX);
        if max_bytes < ENTRY_OVERHEAD {
            return None;
        }
        let estimated_items = usize::try_from(max_bytes / (ENTRY_OVERHEAD + 512))
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

    /// Keeps what was learned from a payload.
    pub(crate) fn insert(&self, authenticated: &Authenticated) {
        self.entries.insert(
            Box::from(authenticated.claims.json()),
            authenticated.clone(),
        );
    }
}
