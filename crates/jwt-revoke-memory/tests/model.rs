//! The memory store against the reference model of revocation (`conformance::model`): generated
//! sequences of issues, checks, revocations and clock jumps, every answer compared, every
//! record freed once its retention has passed.
//!
//! `MODEL_CASES=20000 cargo test -p jwt-revoke-memory --test model` runs more than CI's 512.

use std::sync::Arc;

use jwt_revoke_core::conformance::model::{IssuedAt, ModelRun, ModelSubject, Op};
use jwt_revoke_memory::MemoryStore;

async fn subject(clock: jwt_revoke_core::ManualClock) -> ModelSubject {
    let store = Arc::new(MemoryStore::builder().clock(Arc::new(clock)).build());
    let counted = Arc::clone(&store);
    ModelSubject::new(store).count_records_with(move || {
        let store = Arc::clone(&counted);
        async move { Ok(store.len() as u64) }
    })
}

#[test]
fn the_memory_store_agrees_with_the_reference_model() {
    ModelRun::new(512).check(subject);
}

/// The minimal sequence `MODEL_CASES=2000` shrank to on one redis-server, kept: in allowlist
/// mode two tokens share an identity (`sub`, `jti`); registering one accepts both, destroying
/// it refuses both, registering it again accepts both again. The harness once remembered only
/// the token it re-registered as "valid again" and called the other's acceptance a revoked
/// token coming back; the store and the model were right.
#[test]
fn re_registering_an_identity_accepts_every_token_of_it_again() {
    let token = Op::Issue {
        user: 0,
        jti: Some(1),
        sid: None,
        app: None,
        iat: IssuedAt::Now,
        lives_secs: 600,
    };
    let ops = [
        token.clone(),
        token,
        Op::Register(1),
        Op::Check(0),
        Op::RevokeToken(1),
        Op::Check(0),
        Op::Register(1),
        Op::Check(0),
    ];
    ModelRun::new(1).replay(true, &ops, subject);
}
