//! Choosing the revocation store by configuration: the application code never changes.

use std::sync::Arc;

use jwt_revoke_core::RevocationStore;
use jwt_revoke_memory::MemoryStore;

/// Why a store could not be built from its configuration value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreConfigError {
    /// The value names no backend this build knows.
    #[error("unsupported REVOCATION_STORE value {0:?}: use `memory`, or `redis://host:port`")]
    Unsupported(String),
}

/// Builds a store from a configuration value: `memory` (the embedded default).
pub async fn store_from_config(value: &str) -> Result<Arc<dyn RevocationStore>, StoreConfigError> {
    let value = value.trim();
    if value.is_empty() || value.eq_ignore_ascii_case("memory") {
        return Ok(Arc::new(MemoryStore::new()));
    }
    Err(StoreConfigError::Unsupported(value.to_owned()))
}
