//! The memory store against the reference model of revocation (`conformance::model`): generated
//! sequences of issues, checks, revocations and clock jumps, every answer compared, every
//! record freed once its retention has passed.
//!
//! `MODEL_CASES=20000 cargo test -p jwt-revoke-memory --test model` runs more than CI's 512.

use std::sync::Arc;

use jwt_revoke_core::conformance::model::{ModelRun, ModelSubject};
use jwt_revoke_memory::MemoryStore;

#[test]
fn the_memory_store_agrees_with_the_reference_model() {
    ModelRun::new(512).check(|clock| async move {
        let store = Arc::new(MemoryStore::builder().clock(Arc::new(clock)).build());
        let counted = Arc::clone(&store);
        ModelSubject::new(store).count_records_with(move || {
            let store = Arc::clone(&counted);
            async move { Ok(store.len() as u64) }
        })
    });
}
