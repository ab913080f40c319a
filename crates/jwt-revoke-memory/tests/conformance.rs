//! `MemoryStore` against the store contract: the core conformance suite, one test per case.

use std::sync::Arc;

use jwt_revoke_core::conformance::Harness;
use jwt_revoke_core::{ManualClock, Timestamp};
use jwt_revoke_memory::MemoryStore;

async fn harness() -> Harness {
    let clock = Arc::new(ManualClock::new(Timestamp::from_secs(1_700_000_000)));
    let store = Arc::new(MemoryStore::builder().clock(clock.clone()).build());
    let counted = Arc::clone(&store);
    Harness::new(store, clock).count_records_with(move || {
        let store = Arc::clone(&counted);
        async move { Ok(store.len() as u64) }
    })
}

jwt_revoke_core::revocation_store_conformance!(harness);
