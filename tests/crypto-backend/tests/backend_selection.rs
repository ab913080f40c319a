//! What building a layer does with none, one or both jsonwebtoken backends.

use jwt_revoke_crypto_backend_check::build_layer;
use jwt_revoke_tower::BuildError;

#[test]
fn the_layer_builds_only_with_exactly_one_backend() {
    let result = build_layer();
    if cfg!(feature = "rust_crypto") && !cfg!(feature = "both") {
        assert!(result.is_ok(), "one backend: {result:?}");
    } else {
        // None or both: a clear error at start-up instead of a panic at the first request.
        let err = result.expect_err("no usable backend must be an error");
        assert!(matches!(err, BuildError::NoCryptoBackend));
        let message = err.to_string();
        assert!(message.contains("aws_lc_rs") && message.contains("rust_crypto"), "{message}");
    }
}
