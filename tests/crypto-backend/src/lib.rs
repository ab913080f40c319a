//! Builds a layer the way an application would; the tests say what must happen per backend set.

use std::sync::Arc;
use std::time::Duration;

use jwt_revoke_core::{Policy, Revocations};
use jwt_revoke_memory::MemoryStore;
use jwt_revoke_tower::jsonwebtoken::{Algorithm, DecodingKey};
use jwt_revoke_tower::{BuildError, DecodingKeys, RevocationLayer};

/// Builds an HS256 layer over a memory store.
pub fn build_layer() -> Result<RevocationLayer, BuildError> {
    let revocations = Revocations::new(Arc::new(MemoryStore::new()), Policy::new(Duration::from_secs(60)));
    RevocationLayer::verifying(revocations, DecodingKeys::new(DecodingKey::from_secret(b"secret")), &[Algorithm::HS256])
        .build()
}
