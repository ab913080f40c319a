//! The engine's metrics (feature `metrics`, through the [`metrics`] facade: the application
//! installs the recorder). Without the feature every function here is empty.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `jwt_revoke_store_call_duration_seconds` | histogram | `store`, `op` | a store call the engine made, from the call to its answer (success or error) |
//! | `jwt_revoke_store_errors_total` | counter | `store`, `op`, `kind` | a store call that failed: `kind` is `unavailable` (no answer, a timeout), `backend` (an answer that is an error) or `cancelled` (the caller gave up before the answer: its own timeout, or the request it served was dropped, a client gone) |
//!
//! `store` is the store's [`kind`](crate::RevocationStore::kind), `op` one of `check`,
//! `insert_token`, `remove_token`, `raise_cutoff`.

use std::future::Future;

use crate::StoreError;

/// The store call duration histogram's name.
pub const STORE_CALL_DURATION: &str = "jwt_revoke_store_call_duration_seconds";
/// The store error counter's name.
pub const STORE_ERRORS: &str = "jwt_revoke_store_errors_total";

/// Runs one store call `call`, timed and its failure counted.
#[cfg(feature = "metrics")]
pub(crate) async fn store_call<T>(
    store: &'static str,
    op: &'static str,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    /// Counts a call dropped before its answer: the caller's timeout gave up on it.
    struct Cancelled {
        store: &'static str,
        op: &'static str,
        armed: bool,
    }
    impl Drop for Cancelled {
        fn drop(&mut self) {
            if self.armed {
                metrics::counter!(STORE_ERRORS, "store" => self.store, "op" => self.op, "kind" => "cancelled")
                    .increment(1);
            }
        }
    }
    let mut guard = Cancelled {
        store,
        op,
        armed: true,
    };
    let started = std::time::Instant::now();
    let outcome = call.await;
    guard.armed = false;
    metrics::histogram!(STORE_CALL_DURATION, "store" => store, "op" => op)
        .record(started.elapsed().as_secs_f64());
    if let Err(err) = &outcome {
        let kind = if err.is_unavailable() {
            "unavailable"
        } else {
            "backend"
        };
        metrics::counter!(STORE_ERRORS, "store" => store, "op" => op, "kind" => kind).increment(1);
    }
    outcome
}

/// Runs one store call `call` (no metrics without the feature).
#[cfg(not(feature = "metrics"))]
#[inline(always)]
pub(crate) async fn store_call<T>(
    _store: &'static str,
    _op: &'static str,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    call.await
}
