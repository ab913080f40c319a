// A deliberately simple, correct store: the conformance suite's own reference, used by the
// suite's docs and tests to show that it passes on a store that honours the contract.
// Included by `include!`, so it has no `use` of its own crate's items beyond paths.

/// A `Mutex<HashMap>` store that honours the `RevocationStore` contract and nothing more.
#[derive(Debug)]
pub struct ReferenceStore {
    clock: std::sync::Arc<dyn jwt_revoke_core::Clock>,
    tokens: std::sync::Mutex<std::collections::HashMap<jwt_revoke_core::RecordKey, jwt_revoke_core::Timestamp>>,
    cutoffs: std::sync::Mutex<
        std::collections::HashMap<jwt_revoke_core::RecordKey, (jwt_revoke_core::Timestamp, jwt_revoke_core::Timestamp)>,
    >,
}

impl ReferenceStore {
    /// An empty store reading `clock`.
    pub fn new(clock: std::sync::Arc<dyn jwt_revoke_core::Clock>) -> Self {
        ReferenceStore { clock, tokens: Default::default(), cutoffs: Default::default() }
    }

    /// Records held, expired ones not yet freed included.
    #[allow(clippy::len_without_is_empty)] // a test double: its count is all the suite needs
    pub fn len(&self) -> usize {
        self.tokens.lock().expect("not poisoned").len() + self.cutoffs.lock().expect("not poisoned").len()
    }
}

#[async_trait::async_trait]
impl jwt_revoke_core::RevocationStore for ReferenceStore {
    async fn check(
        &self,
        keys: &jwt_revoke_core::TokenKeys,
    ) -> Result<jwt_revoke_core::CheckReply, jwt_revoke_core::StoreError> {
        let now = self.clock.now();
        let token_listed = self.tokens.lock().expect("not poisoned").get(&keys.token).is_some_and(|e| *e > now);
        let cutoffs = self.cutoffs.lock().expect("not poisoned");
        let live = |key: &jwt_revoke_core::RecordKey| cutoffs.get(key).filter(|(_, e)| *e > now).map(|(at, _)| *at);
        let claim_cutoff = keys.claims.as_slice().iter().filter_map(live).max();
        Ok(jwt_revoke_core::CheckReply::new(token_listed, live(&keys.user), keys.session.as_ref().and_then(live))
            .with_claim_cutoff(claim_cutoff))
    }

    async fn insert_token(
        &self,
        keys: &jwt_revoke_core::TokenKeys,
        expires_at: jwt_revoke_core::Timestamp,
    ) -> Result<(), jwt_revoke_core::StoreError> {
        let now = self.clock.now();
        if expires_at > now {
            let mut tokens = self.tokens.lock().expect("not poisoned");
            let entry = tokens.entry(keys.token).or_insert(expires_at);
            *entry = (*entry).max(expires_at);
        }
        Ok(())
    }

    async fn remove_token(&self, keys: &jwt_revoke_core::TokenKeys) -> Result<bool, jwt_revoke_core::StoreError> {
        let now = self.clock.now();
        Ok(self.tokens.lock().expect("not poisoned").remove(&keys.token).is_some_and(|e| e > now))
    }

    async fn raise_cutoff(
        &self,
        key: jwt_revoke_core::RecordKey,
        at: jwt_revoke_core::Timestamp,
        expires_at: jwt_revoke_core::Timestamp,
    ) -> Result<jwt_revoke_core::Timestamp, jwt_revoke_core::StoreError> {
        let now = self.clock.now();
        let mut cutoffs = self.cutoffs.lock().expect("not poisoned");
        let (held, held_expiry) = match cutoffs.get(&key) {
            Some(&(held, expiry)) if expiry > now => (held, expiry),
            _ => (at, now),
        };
        let record = (held.max(at), held_expiry.max(expires_at));
        if record.1 > now {
            cutoffs.insert(key, record);
        }
        Ok(record.0)
    }

    async fn delete_expired(&self) -> Result<u64, jwt_revoke_core::StoreError> {
        let now = self.clock.now();
        let mut freed = 0;
        self.tokens.lock().expect("not poisoned").retain(|_, e| {
            let keep = *e > now;
            freed += u64::from(!keep);
            keep
        });
        self.cutoffs.lock().expect("not poisoned").retain(|_, (_, e)| {
            let keep = *e > now;
            freed += u64::from(!keep);
            keep
        });
        Ok(freed)
    }
}
