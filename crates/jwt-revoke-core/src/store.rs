//! The storage contract: [`RevocationStore`] and its error type.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::key::RecordKey;
use crate::time::Timestamp;

/// A boxed error from a store's backend, kept as the `source` of a [`StoreError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The keys of one token: its own record, its user's cut-off, its session's cut-off and the
/// cut-offs of the claims the policy names ([`ClaimKeys`]).
///
/// A check reads all of them in ONE call. `user` is the key of the token's (`iss`, `sub`) and is always present: besides naming the
/// user's cut-off, it lets a store place the token's record next to its user's (a Redis hash
/// tag) so that both are read in one round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenKeys {
    /// The token's record: a denylist key or an allowlist key, depending on the policy.
    pub token: RecordKey,
    /// The user's cut-off record.
    pub user: RecordKey,
    /// The session's cut-off record, when the token has a `sid`.
    pub session: Option<RecordKey>,
    /// The cut-off records of the token's claim values ([`ClaimId::key`]), one for each
    /// claim the policy names and the token carries; empty for most policies.
    ///
    /// [`ClaimId::key`]: crate::ClaimId::key
    pub claims: ClaimKeys,
}

impl TokenKeys {
    /// The keys of a token's record, its user's cut-off and, optionally, its session's cut-off.
    pub fn new(token: RecordKey, user: RecordKey, session: Option<RecordKey>) -> Self {
        TokenKeys {
            token,
            user,
            session,
            claims: ClaimKeys::EMPTY,
        }
    }

    /// The same keys with the cut-off records of the token's claim values.
    #[must_use]
    pub fn with_claims(mut self, claims: ClaimKeys) -> Self {
        self.claims = claims;
        self
    }
}

/// The cut-off records of a token's claim values: at most [`ClaimKeys::MAX`], kept inline so
/// that a check allocates nothing for them.
///
/// ```
/// use jwt_revoke_core::{ClaimId, ClaimKeys};
/// let keys = ClaimKeys::new(&[ClaimId::new("iss", "azp", "app").key()]).expect("one key fits");
/// assert_eq!(keys.len(), 1);
/// assert!(ClaimKeys::new(&[ClaimId::new("iss", "azp", "app").key(); 5]).is_none());
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ClaimKeys {
    keys: [RecordKey; ClaimKeys::MAX],
    len: u8,
}

impl ClaimKeys {
    /// The most claims a policy can give cut-offs: each is one more record read per check.
    pub const MAX: usize = 4;

    /// No claim keys.
    pub const EMPTY: ClaimKeys = ClaimKeys {
        keys: [RecordKey::from_bytes([0; 32]); ClaimKeys::MAX],
        len: 0,
    };

    /// These keys; `None` when there are more than [`MAX`](Self::MAX).
    pub fn new(keys: &[RecordKey]) -> Option<Self> {
        let mut out = ClaimKeys::EMPTY;
        out.keys.get_mut(..keys.len())?.copy_from_slice(keys);
        // At most MAX (4): fits a u8.
        out.len = keys.len() as u8;
        Some(out)
    }

    /// The keys, in the order of the policy's claims (a claim the token lacks has none).
    pub fn as_slice(&self) -> &[RecordKey] {
        &self.keys[..usize::from(self.len)]
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether there are none (the policy names no claims, or the token has none of them).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Default for ClaimKeys {
    fn default() -> Self {
        ClaimKeys::EMPTY
    }
}

impl fmt::Debug for ClaimKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// A store's answer to a check of [`TokenKeys`]: the live records it holds, nothing judged yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CheckReply {
    /// Whether a live record exists for the token key.
    pub token_listed: bool,
    /// The user's live cut-off, if any.
    pub user_cutoff: Option<Timestamp>,
    /// The session's live cut-off, if any (always `None` when the keys had no session).
    pub session_cutoff: Option<Timestamp>,
    /// The latest of the live cut-offs of [`TokenKeys::claims`], if any: a token is covered by
    /// one of them exactly when it is covered by the latest.
    pub claim_cutoff: Option<Timestamp>,
    /// A cut-off over every token of the store: the instant at which the store noticed that
    /// it had lost records it had acknowledged (a restarted server without persistence, a
    /// flush, a failover to a replica that missed writes). Every token issued up to then may
    /// have been revoked in the lost records, so the engine refuses it. `None` for stores
    /// that cannot lose data or have not.
    pub store_cutoff: Option<Timestamp>,
}

impl CheckReply {
    /// A reply with the given parts.
    pub fn new(
        token_listed: bool,
        user_cutoff: Option<Timestamp>,
        session_cutoff: Option<Timestamp>,
    ) -> Self {
        CheckReply {
            token_listed,
            user_cutoff,
            session_cutoff,
            claim_cutoff: None,
            store_cutoff: None,
        }
    }

    /// The same reply with the latest live cut-off of the token's claim values (see
    /// [`CheckReply::claim_cutoff`]).
    #[must_use]
    pub fn with_claim_cutoff(mut self, claim_cutoff: Option<Timestamp>) -> Self {
        self.claim_cutoff = claim_cutoff;
        self
    }

    /// The same reply with a store-wide cut-off (see [`CheckReply::store_cutoff`]).
    #[must_use]
    pub fn with_store_cutoff(mut self, store_cutoff: Option<Timestamp>) -> Self {
        self.store_cutoff = store_cutoff;
        self
    }
}

/// How full a store is: for operators' health checks and dashboards.
///
/// A store with a capacity refuses new records once it holds that many
/// ([`StoreError::CapacityExceeded`]); anyone who can log in and out adds one record per
/// logout, which lives as long as the token it revokes. So a store of capacity *C* whose
/// tokens live *L* seconds sustains about *C / L* revocations a second before it refuses them
/// (one million records and 15-minute tokens: about 1,100 a second).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreUsage {
    /// Records held, counting expired ones not freed yet.
    pub records: u64,
    /// The most records the store holds, when it has a limit.
    pub capacity: Option<u64>,
}

impl StoreUsage {
    /// A store holding `records` of at most `capacity`.
    pub fn new(records: u64, capacity: Option<u64>) -> Self {
        StoreUsage { records, capacity }
    }

    /// How full the store is, from 0 to 1; `None` without a limit.
    pub fn fill_ratio(&self) -> Option<f64> {
        self.capacity.map(|capacity| {
            if capacity == 0 {
                1.0
            } else {
                self.records as f64 / capacity as f64
            }
        })
    }
}

/// Why a store call failed.
///
/// The one distinction callers act on is [`StoreError::is_unavailable`]: the store could not be
/// reached or did not answer in time, so nobody knows whether the token is revoked. The layer
/// fails closed on it (503) unless configured to fail open. Anything else is a real failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend cannot be reached: connection refused or lost, pool exhausted, cluster down.
    #[error("revocation store unavailable: {source}")]
    Unavailable {
        /// What the backend said.
        #[source]
        source: BoxError,
    },
    /// The call did not complete within its time limit.
    #[error("revocation store did not answer within {0:?}")]
    Timeout(Duration),
    /// The store is full and refuses a new record. It never evicts a live revocation to make
    /// room: an evicted revocation is a resurrected token.
    #[error("revocation store is full ({capacity} records); refusing a new record")]
    CapacityExceeded {
        /// The configured maximum number of records.
        capacity: usize,
    },
    /// The store lost records it had acknowledged and was told to refuse every answer until
    /// an operator has looked (rather than to revoke every token issued before the loss).
    /// Not [`is_unavailable`](StoreError::is_unavailable): failing open never opens on it.
    #[error(
        "the revocation store lost acknowledged records (noticed at {noticed_at}) and refuses \
         to answer until an operator clears the loss"
    )]
    DataLoss {
        /// When the loss was noticed.
        noticed_at: Timestamp,
    },
    /// Any other failure: a protocol error, a corrupt record, a script error.
    #[error("revocation store failed: {source}")]
    Backend {
        /// What went wrong.
        #[source]
        source: BoxError,
    },
}

impl StoreError {
    /// An [`StoreError::Unavailable`] from any error.
    pub fn unavailable(source: impl Into<BoxError>) -> Self {
        StoreError::Unavailable {
            source: source.into(),
        }
    }

    /// A [`StoreError::Backend`] from any error.
    pub fn backend(source: impl Into<BoxError>) -> Self {
        StoreError::Backend {
            source: source.into(),
        }
    }

    /// True when the store could not be asked (unreachable or too slow): the answer is unknown,
    /// as opposed to a store that answered with a failure.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable { .. } | StoreError::Timeout(_)
        )
    }
}

/// Where revocation state lives: the one trait a backend implements.
///
/// Stores are deliberately dumb: they keep records with expiry instants and answer questions
/// about them. What a record *means* (denylist or allowlist, which tokens a cut-off covers, how
/// long anything lives) is decided by [`Revocations`](crate::Revocations), so every backend
/// behaves the same. The trait is object safe: `Arc<dyn RevocationStore>` is how the rest of
/// jwt-revoke holds a store.
///
/// # Contract
/// Every store must honour these points; the conformance suite (feature `conformance`) checks
/// them, so run it against yours.
/// - A record whose `expires_at` has passed (by the store's clock) is never reported again,
///   and the store frees it by itself eventually, not only when it is read.
/// - A record is never dropped before its `expires_at`, not even under memory pressure. A store
///   that is full refuses new records with [`StoreError::CapacityExceeded`].
/// - [`raise_cutoff`](Self::raise_cutoff) is atomic and monotonic: of concurrent writers, the
///   latest instant wins, whatever the order of arrival.
/// - A call that fails leaves no doubt: an error means the write may not have happened, so the
///   caller reports failure and never success.
/// - Keys arrive as digests; a store never needs and never receives a raw token.
///
/// # Implementing
/// ```
/// use async_trait::async_trait;
/// use jwt_revoke_core::{TokenKeys, CheckReply, RecordKey, RevocationStore, StoreError, Timestamp};
///
/// /// A store that refuses to work: shows the shape of an implementation.
/// #[derive(Debug)]
/// struct Offline;
///
/// #[async_trait]
/// impl RevocationStore for Offline {
///     async fn check(&self, _: &TokenKeys) -> Result<CheckReply, StoreError> {
///         Err(StoreError::unavailable("offline"))
///     }
///     async fn insert_token(&self, _: &TokenKeys, _: Timestamp) -> Result<(), StoreError> {
///         Err(StoreError::unavailable("offline"))
///     }
///     async fn remove_token(&self, _: &TokenKeys) -> Result<bool, StoreError> {
///         Err(StoreError::unavailable("offline"))
///     }
///     async fn raise_cutoff(&self, _: RecordKey, _: Timestamp, _: Timestamp) -> Result<Timestamp, StoreError> {
///         Err(StoreError::unavailable("offline"))
///     }
/// }
///
/// let store: std::sync::Arc<dyn RevocationStore> = std::sync::Arc::new(Offline);
/// # let _ = store;
/// ```
#[async_trait]
pub trait RevocationStore: Send + Sync + fmt::Debug + 'static {
    /// Reads the token record, the user cut-off, the session cut-off and the cut-offs of the
    /// claim values of `keys` together; of the claim cut-offs, the answer is the latest
    /// ([`CheckReply::claim_cutoff`]).
    ///
    /// Expired records must read as absent.
    async fn check(&self, keys: &TokenKeys) -> Result<CheckReply, StoreError>;

    /// Writes the record of `keys.token` so that it lives until `expires_at`.
    ///
    /// `keys.user` (and `keys.session`) are passed so that a store can place the record with
    /// the user's; they are not written. Writing a record that exists keeps the later expiry.
    /// An `expires_at` that has already passed writes nothing and succeeds.
    async fn insert_token(&self, keys: &TokenKeys, expires_at: Timestamp)
    -> Result<(), StoreError>;

    /// Deletes the record of `keys.token`; tells whether a live one was there.
    async fn remove_token(&self, keys: &TokenKeys) -> Result<bool, StoreError>;

    /// Raises the cut-off stored under `key` to `at`, unless it already holds a later one, and
    /// makes the record live until at least `expires_at`. Returns the cut-off now in force.
    ///
    /// Must be atomic: two concurrent calls leave the later of the two instants.
    async fn raise_cutoff(
        &self,
        key: RecordKey,
        at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<Timestamp, StoreError>;

    /// Frees every record that has expired; returns how many it freed, when it knows.
    ///
    /// Backends that expire records by themselves (Redis TTLs) keep this default, which does
    /// nothing. Stores that need it should also run it on their own schedule.
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        Ok(0)
    }

    /// How many records the store holds and may hold, when it can tell cheaply (no I/O); the
    /// default says nothing. See [`StoreUsage`] for what a full store means.
    fn usage(&self) -> Option<StoreUsage> {
        None
    }

    /// The longest any call of this store takes, when the store bounds its calls itself (the
    /// Redis store: its per-call timeout, plus its wait for replicas when it has one); the
    /// default says it does not. The engine derives from it the one limit that every caller
    /// applies to every store call ([`Revocations::store_timeout`]), a little longer, so that
    /// the store's own, more precise error comes first.
    ///
    /// [`Revocations::store_timeout`]: crate::Revocations::store_timeout
    fn call_timeout(&self) -> Option<Duration> {
        None
    }

    /// A short name of the store's kind, the `store` label of the engine's metrics and what
    /// a status report says: `memory`, `redis`, `redis_cluster`, ... The default is `custom`.
    fn kind(&self) -> &'static str {
        "custom"
    }
}

#[async_trait]
impl<S: RevocationStore + ?Sized> RevocationStore for Arc<S> {
    async fn check(&self, keys: &TokenKeys) -> Result<CheckReply, StoreError> {
        (**self).check(keys).await
    }
    async fn insert_token(
        &self,
        keys: &TokenKeys,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        (**self).insert_token(keys, expires_at).await
    }
    async fn remove_token(&self, keys: &TokenKeys) -> Result<bool, StoreError> {
        (**self).remove_token(keys).await
    }
    async fn raise_cutoff(
        &self,
        key: RecordKey,
        at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<Timestamp, StoreError> {
        (**self).raise_cutoff(key, at, expires_at).await
    }
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        (**self).delete_expired().await
    }
    fn usage(&self) -> Option<StoreUsage> {
        (**self).usage()
    }
    fn call_timeout(&self) -> Option<Duration> {
        (**self).call_timeout()
    }
    fn kind(&self) -> &'static str {
        (**self).kind()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_and_connection_failures_are_unavailable_and_nothing_else_is() {
        assert!(StoreError::Timeout(Duration::from_millis(5)).is_unavailable());
        assert!(StoreError::unavailable("connection refused").is_unavailable());
        assert!(!StoreError::backend("bad script").is_unavailable());
        assert!(!StoreError::CapacityExceeded { capacity: 1 }.is_unavailable());
        assert!(
            !StoreError::DataLoss {
                noticed_at: Timestamp::EPOCH
            }
            .is_unavailable()
        );
    }

    #[test]
    fn errors_keep_their_source() {
        let err = StoreError::unavailable(std::io::Error::other("refused"));
        let source = std::error::Error::source(&err).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("refused"));
    }
}
