//! [`LayerStats`]: what a layer has done, counted.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of what the layer has done, shared by all clones of a layer and its services.
#[derive(Debug, Default)]
pub struct LayerStats {
    pub(crate) allowed: AtomicU64,
    pub(crate) rejected_invalid: AtomicU64,
    pub(crate) rejected_revoked: AtomicU64,
    pub(crate) store_failures: AtomicU64,
    pub(crate) failed_open: AtomicU64,
    pub(crate) verified_cache_hits: AtomicU64,
    pub(crate) claims_memo_hits: AtomicU64,
    pub(crate) would_reject: AtomicU64,
}

impl LayerStats {
    /// Requests let through with a valid, unrevoked token.
    pub fn allowed(&self) -> u64 {
        self.allowed.load(Ordering::Relaxed)
    }
    /// Requests refused for a missing, malformed or invalid token.
    pub fn rejected_invalid(&self) -> u64 {
        self.rejected_invalid.load(Ordering::Relaxed)
    }
    /// Requests refused because the token is revoked.
    pub fn rejected_revoked(&self) -> u64 {
        self.rejected_revoked.load(Ordering::Relaxed)
    }
    /// Store calls that failed or timed out (whatever happened to the request).
    pub fn store_failures(&self) -> u64 {
        self.store_failures.load(Ordering::Relaxed)
    }
    /// Requests let through unchecked because the store failed and the layer fails open.
    pub fn failed_open(&self) -> u64 {
        self.failed_open.load(Ordering::Relaxed)
    }
    /// Requests whose token was found in the verified-token cache (and so not verified again;
    /// its revocation was still checked).
    pub fn verified_cache_hits(&self) -> u64 {
        self.verified_cache_hits.load(Ordering::Relaxed)
    }

    /// Requests whose verified payload was found in the claims memo (see
    /// [`RevocationLayerBuilder::claims_memo`](crate::RevocationLayerBuilder::claims_memo)): not parsed nor hashed again.
    pub fn claims_memo_hits(&self) -> u64 {
        self.claims_memo_hits.load(Ordering::Relaxed)
    }

    /// Requests let through in [shadow mode](crate::ShadowMode) that the layer would have
    /// refused (not counted among the refusals).
    pub fn would_reject(&self) -> u64 {
        self.would_reject.load(Ordering::Relaxed)
    }

    pub(crate) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
