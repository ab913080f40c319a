//! What the fuzz targets found (see FUZZING.md), as regular tests: each failed before its fix.

use jwt_revoke_tower::jsonwebtoken::jwk::JwkSet;
use std::sync::Arc;
use std::time::Duration;

use jwt_revoke_core::{Policy, Revocations};
use jwt_revoke_memory::MemoryStore;
use jwt_revoke_tower::jsonwebtoken::{Algorithm, DecodingKey};
use jwt_revoke_tower::{BuildError, DecodingKeys, JwksError, RevocationLayer};

/// F2, found by `jwks`: an Ed25519 key whose `x` is 18 bytes, not 32, is accepted by
/// `DecodingKeys::from_jwks` (jsonwebtoken's `DecodingKey::from_jwk` does not check the
/// length). With the `rust_crypto` backend, every token that names its `kid` with `EdDSA`
/// then panics in verification (jsonwebtoken slices `[..32]` in
/// `crypto/rust_crypto/eddsa.rs`): one request, one panic. `from_jwks` promises that a key
/// jsonwebtoken cannot use is an error; this one should be `UnreadableKey`.
#[test]
fn a_short_ed25519_key_in_a_key_set_is_refused() {
    let jwks: JwkSet = serde_json::from_str(
        r#"{"keys": [{"kty": "OKP", "use": "sig", "crv": "Ed25519",
            "x": "2-Jj2UvNCvQiUPNYReEpQVj8", "kid": "ed01", "alg": "EdDSA"}]}"#,
    )
    .expect("a well-formed key set");
    assert!(
        matches!(
            DecodingKeys::from_jwks(&jwks),
            Err(JwksError::UnreadableKey { .. })
        ),
        "an Ed25519 key of 18 bytes was accepted"
    );
}

/// F2, the same key configured by hand: `DecodingKey::from_ed_der` takes any bytes. Building a
/// layer on it is refused, so no request ever reaches jsonwebtoken with it.
#[test]
fn a_short_ed25519_key_configured_by_hand_is_refused_when_the_layer_is_built() {
    let revocations = Revocations::new(
        Arc::new(MemoryStore::new()),
        Policy::new(Duration::from_secs(900)),
    );
    for keys in [
        DecodingKeys::new(DecodingKey::from_ed_der(&[7; 18])),
        DecodingKeys::by_kid_only().with_kid("ed01", DecodingKey::from_ed_der(&[7; 33])),
    ] {
        let built =
            RevocationLayer::verifying(revocations.clone(), keys, &[Algorithm::EdDSA]).build();
        assert!(
            matches!(built, Err(BuildError::MalformedKey { .. })),
            "a malformed Ed25519 key was accepted: {built:?}"
        );
    }
}
