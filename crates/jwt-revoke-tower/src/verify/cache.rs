//! The verified-token cache: a token seen before skips signature verification, never the
//! revocation check.

use jwt_revoke_core::{Policy, Timestamp};
use sha2::{Digest, Sha256};

use super::{Authenticated, KeyStamp};

/// Verified tokens by the SHA-256 digest of their compact form, each until its own expiry.
///
/// Keyed by the digest of the exact bytes that were verified, so a token that differs in any
/// byte is verified afresh. An entry is dropped when its token expires (`exp` plus leeway,
/// or `iat` plus the policy's retention for tokens without `exp`) and never served after.
/// The cache belongs to one layer, and so to one set of trusted keys: a layer built with other
/// keys starts with an empty cache. An entry of a fetched key set is served only while that
/// version of the set is in force: rotated or stale keys stop verifying what it remembers. When full, the least useful entries are evicted (S3-FIFO,
/// by quick_cache): evicting a *verified token* costs one more verification, nothing else.
pub(crate) struct VerifiedCache {
    entries: quick_cache::sync::Cache<[u8; 32], Entry>,
}

#[derive(Clone)]
struct Entry {
    known: Authenticated,
    until: Timestamp,
    /// The keys that verified it, to be still in force when it is served.
    stamp: Option<KeyStamp>,
}

impl VerifiedCache {
    pub(crate) fn new(capacity: usize) -> Self {
        VerifiedCache {
            entries: quick_cache::sync::Cache::new(capacity.max(1)),
        }
    }

    /// The digest a token is cached under.
    pub(crate) fn digest(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    /// The claims and facts of a token verified before, unless its entry has expired or the
    /// keys that verified it are no longer in force (`in_force`: a fetched key set replaced
    /// or stale).
    pub(crate) fn get(
        &self,
        digest: &[u8; 32],
        now: Timestamp,
        in_force: impl FnOnce(Option<KeyStamp>) -> bool,
    ) -> Option<Authenticated> {
        let entry = self.entries.get(digest)?;
        if entry.until <= now || !in_force(entry.stamp) {
            self.entries.remove(digest);
            return None;
        }
        Some(entry.known)
    }

    /// Remembers a verified token until it expires; a token with no expiry to go by is not
    /// cached.
    pub(crate) fn insert(
        &self,
        digest: [u8; 32],
        known: &Authenticated,
        stamp: Option<KeyStamp>,
        policy: &Policy,
    ) {
        let registered = known.claims.registered();
        let until = match (registered.exp, registered.iat, policy.tokens_without_exp()) {
            (Some(exp), _, _) => exp.timestamp().saturating_add(policy.leeway()),
            (None, Some(iat), Some(retention)) => iat
                .timestamp()
                .saturating_add(retention)
                .saturating_add(policy.leeway()),
            _ => return,
        };
        self.entries.insert(
            digest,
            Entry {
                known: known.clone(),
                until,
                stamp,
            },
        );
    }
}
