//! The conformance suite run on a store known to be correct, and on stores known to be broken:
//! it must pass the first and catch each of the others.

use std::sync::Arc;

use async_trait::async_trait;
use jwt_revoke_core::conformance::{self, Harness};
use jwt_revoke_core::{
    CheckReply, ManualClock, RecordKey, RevocationStore, StoreError, Timestamp, TokenKeys,
};

include!("support/reference_store.rs");

fn manual_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Timestamp::from_secs(1_700_000_000)))
}

async fn reference_harness() -> Harness {
    let clock = manual_clock();
    let store = Arc::new(ReferenceStore::new(clock.clone()));
    let counted = Arc::clone(&store);
    Harness::new(store, clock).count_records_with(move || {
        let store = Arc::clone(&counted);
        async move { Ok(store.len() as u64) }
    })
}

mod reference {
    jwt_revoke_core::revocation_store_conformance!(super::reference_harness);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_one_call_form_passes_on_the_reference_store() {
    conformance::run(reference_harness).await;
}

/// Wraps the reference store and breaks one promise of the contract.
#[derive(Debug)]
struct Broken {
    inner: ReferenceStore,
    flaw: Flaw,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Flaw {
    /// A raise overwrites the cut-off, whatever it held.
    LastWriterWins,
    /// Records are never reported as expired.
    IgnoresExpiry,
    /// Keys are not kept apart (as a store that drops part of the key would): records collide.
    CollidingKeys,
    /// Claim cut-offs are answered from the first claim key only (as a store written before
    /// there were several would).
    FirstClaimOnly,
    /// Claim cut-offs are never answered (a store written before there were any).
    IgnoresClaims,
}

fn collide(_: RecordKey) -> RecordKey {
    RecordKey::from_bytes([0; 32])
}

#[async_trait]
impl RevocationStore for Broken {
    async fn check(&self, keys: &TokenKeys) -> Result<CheckReply, StoreError> {
        match self.flaw {
            Flaw::IgnoresExpiry => {
                let tokens = self.inner.tokens.lock().expect("not poisoned");
                let cutoffs = self.inner.cutoffs.lock().expect("not poisoned");
                Ok(CheckReply::new(
                    tokens.contains_key(&keys.token),
                    cutoffs.get(&keys.user).map(|c| c.0),
                    keys.session.and_then(|s| cutoffs.get(&s).map(|c| c.0)),
                ))
            }
            Flaw::CollidingKeys => {
                let keys = TokenKeys::new(
                    collide(keys.token),
                    collide(keys.user),
                    keys.session.map(collide),
                );
                self.inner.check(&keys).await
            }
            Flaw::LastWriterWins => self.inner.check(keys).await,
            Flaw::IgnoresClaims => {
                let keys = keys.with_claims(jwt_revoke_core::ClaimKeys::EMPTY);
                self.inner.check(&keys).await
            }
            Flaw::FirstClaimOnly => {
                let first = &keys.claims.as_slice()[..keys.claims.len().min(1)];
                let keys = keys.with_claims(jwt_revoke_core::ClaimKeys::new(first).expect("one"));
                self.inner.check(&keys).await
            }
        }
    }
    async fn insert_token(
        &self,
        keys: &TokenKeys,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        if self.flaw == Flaw::CollidingKeys {
            let keys = TokenKeys::new(
                collide(keys.token),
                collide(keys.user),
                keys.session.map(collide),
            );
            return self.inner.insert_token(&keys, expires_at).await;
        }
        self.inner.insert_token(keys, expires_at).await
    }
    async fn remove_token(&self, keys: &TokenKeys) -> Result<bool, StoreError> {
        self.inner.remove_token(keys).await
    }
    async fn raise_cutoff(
        &self,
        key: RecordKey,
        at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<Timestamp, StoreError> {
        match self.flaw {
            Flaw::LastWriterWins => {
                self.inner
                    .cutoffs
                    .lock()
                    .expect("not poisoned")
                    .insert(key, (at, expires_at));
                Ok(at)
            }
            Flaw::CollidingKeys => self.inner.raise_cutoff(collide(key), at, expires_at).await,
            Flaw::IgnoresExpiry | Flaw::FirstClaimOnly | Flaw::IgnoresClaims => {
                self.inner.raise_cutoff(key, at, expires_at).await
            }
        }
    }
}

/// Runs one case on a broken store; true when the case failed (caught the flaw).
fn catches(flaw: Flaw, case: &str) -> bool {
    let case = case.to_owned();
    std::thread::spawn(move || {
        conformance::run_case(&case, move || async move {
            let clock = manual_clock();
            let store = Arc::new(Broken {
                inner: ReferenceStore::new(clock.clone()),
                flaw,
            });
            Harness::new(store, clock)
        })
    })
    .join()
    .is_err()
}

#[test]
fn the_suite_catches_a_cutoff_that_moves_backwards() {
    assert!(catches(
        Flaw::LastWriterWins,
        "a_cutoff_never_moves_backwards"
    ));
    assert!(catches(
        Flaw::LastWriterWins,
        "concurrent_cutoff_raises_keep_the_latest"
    ));
}

#[test]
fn the_suite_catches_records_that_never_expire() {
    assert!(catches(
        Flaw::IgnoresExpiry,
        "records_read_as_absent_once_expired"
    ));
}

#[test]
fn the_suite_catches_issuers_that_collide() {
    assert!(catches(Flaw::CollidingKeys, "issuers_are_isolated"));
}

#[test]
fn the_suite_catches_a_store_that_reads_one_claim_cutoff_only() {
    assert!(catches(
        Flaw::FirstClaimOnly,
        "one_check_answers_the_latest_claim_cutoff"
    ));
    // …and the same flaw passes the cases that do not look at claims.
    assert!(!catches(Flaw::FirstClaimOnly, "denylist_revokes_one_token"));
}

#[test]
fn a_case_that_needs_a_record_counter_says_so() {
    let outcome = std::thread::spawn(|| {
        conformance::run_case("expired_records_are_freed_without_being_read", || async {
            let clock = manual_clock();
            Harness::new(Arc::new(ReferenceStore::new(clock.clone())), clock)
        })
    })
    .join();
    let message = outcome.expect_err("the case fails without a counter");
    let text = message
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| message.downcast_ref::<&str>().map(|s| s.to_string()));
    assert!(text.is_some_and(|t| t.contains("Harness::count_records_with")));
}

// ---- The reference model ---------------------------------------------------------------------

use jwt_revoke_core::conformance::model::{ModelRun, ModelSubject};

fn model_subject(
    store: Arc<dyn RevocationStore>,
    counted: Option<Arc<ReferenceStore>>,
) -> ModelSubject {
    let subject = ModelSubject::new(store);
    match counted {
        Some(store) => subject.count_records_with(move || {
            let store = Arc::clone(&store);
            async move { Ok(store.len() as u64) }
        }),
        None => subject,
    }
}

#[test]
fn the_reference_store_agrees_with_the_model() {
    ModelRun::new(256).check(|clock| async move {
        let store = Arc::new(ReferenceStore::new(Arc::new(clock)));
        model_subject(store.clone(), Some(store))
    });
}

/// Whether the model-based tests catch a flaw (they panic with a minimal sequence).
fn model_catches(flaw: Flaw) -> bool {
    std::thread::spawn(move || {
        ModelRun::new(256).check(|clock| async move {
            let store = Arc::new(Broken {
                inner: ReferenceStore::new(Arc::new(clock)),
                flaw,
            });
            model_subject(store, None)
        });
    })
    .join()
    .is_err()
}

#[test]
fn the_model_catches_records_that_never_expire_and_keys_that_collide() {
    assert!(model_catches(Flaw::IgnoresExpiry));
    assert!(model_catches(Flaw::CollidingKeys));
}

#[test]
fn the_suite_and_the_model_catch_a_store_that_ignores_claim_cutoffs() {
    assert!(catches(
        Flaw::IgnoresClaims,
        "claim_cutoff_revokes_the_tokens_of_that_value_only"
    ));
    assert!(model_catches(Flaw::IgnoresClaims));
}

/// The model's minimal sequence of CI's run at stop 19: two tokens of one user share a `jti`
/// (the issuer reusing it, against RFC 7519 §4.1.7), the short-lived one is revoked, and the
/// long-lived one is refused by that record until it expires (DESIGN §3: a record lives to the
/// revoked token's `exp`), then valid, as the model says. The never-again rule is each token's
/// own: this one was never revoked itself. The same sequence with one token shows the rule.
#[test]
fn a_reused_jti_is_revoked_until_the_revoked_tokens_expiry_as_the_model_says() {
    use jwt_revoke_core::conformance::model::{IssuedAt, Op};
    let issue = |jti: Option<u8>, lives_secs| Op::Issue {
        user: 0,
        jti,
        sid: None,
        app: None,
        iat: IssuedAt::Absent,
        lives_secs,
    };
    let ops = [
        issue(Some(2), 60),
        Op::Check(0),
        issue(Some(2), 1),
        Op::RevokeToken(2),
        issue(None, 1),
        Op::Check(2),
        Op::AdvanceMillis(55_000),
        Op::Check(2),
    ];
    let subject = |clock: jwt_revoke_core::ManualClock| async move {
        let store = Arc::new(ReferenceStore::new(Arc::new(clock)));
        model_subject(store.clone(), Some(store))
    };
    ModelRun::new(1).replay(false, &ops, subject);
    // One token, revoked after it was accepted: refused for the rest of its life.
    let ops = [
        issue(Some(2), 60),
        Op::Check(0),
        Op::RevokeToken(0),
        Op::Check(0),
        Op::AdvanceMillis(55_000),
        Op::Check(0),
    ];
    ModelRun::new(1).replay(false, &ops, subject);
}
