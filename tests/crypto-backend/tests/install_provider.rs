//! The documented way out of "both backends": install one provider before building.
//! (Its own test binary: a provider is installed once per process.)

#[cfg(feature = "both")]
#[test]
fn installing_a_provider_by_hand_makes_both_backends_work() {
    use jwt_revoke_crypto_backend_check::build_layer;
    use jwt_revoke_tower::jsonwebtoken::crypto::{CryptoProvider, rust_crypto};

    // Before anything touches jsonwebtoken: its first use fixes the process's provider for
    // good (even a failed build of the layer does), which is why the error says "before".
    CryptoProvider::install_default(&rust_crypto::DEFAULT_PROVIDER).expect("first install");
    assert!(build_layer().is_ok(), "a provider chosen by hand is used");
}

#[cfg(not(feature = "both"))]
#[test]
fn without_both_backends_there_is_nothing_to_choose() {
    // Covered by backend_selection; this keeps the binary from being empty.
    assert_eq!(
        jwt_revoke_crypto_backend_check::build_layer().is_ok(),
        cfg!(feature = "rust_crypto")
    );
}
