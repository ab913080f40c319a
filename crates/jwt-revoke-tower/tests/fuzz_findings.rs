//! What the fuzz targets found (see FUZZING.md), as regular tests. Each fails until the
//! library is fixed.

use jwt_revoke_tower::jsonwebtoken::jwk::JwkSet;
use jwt_revoke_tower::{DecodingKeys, JwksError};

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
