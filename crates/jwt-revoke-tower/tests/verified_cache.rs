//! The verified-token cache: fewer verifications, the same answers.

mod support;

use std::time::Duration;

use axum::http::StatusCode;
use jsonwebtoken::{Algorithm, DecodingKey};
use jwt_revoke_tower::{DecodingKeys, RevocationLayer};
use support::*;

fn cached_app(
    capacity: usize,
) -> (
    axum::Router,
    RevocationLayer,
    jwt_revoke_core::ManualClock,
    jwt_revoke_core::Revocations,
) {
    let clock = clock();
    let revocations = memory_revocations(&clock);
    let layer = hs256_builder(revocations.clone())
        .cache_verified_tokens(capacity)
        .build()
        .expect("builds");
    (app(layer.clone()), layer, clock, revocations)
}

async fn status(app: &axum::Router, method: &str, path: &str, token: &str) -> StatusCode {
    send(app, request(method, path, Some(token))).await.status()
}

#[tokio::test]
async fn a_token_seen_before_skips_verification_but_never_the_revocation_check() {
    let (app, layer, _, _) = cached_app(100);
    let token = sign(&claims("alice", "t1"));
    assert_eq!(status(&app, "GET", "/me", &token).await, StatusCode::OK);
    assert_eq!(
        layer.stats().verified_cache_hits(),
        0,
        "first sight: verified"
    );
    assert_eq!(status(&app, "GET", "/me", &token).await, StatusCode::OK);
    assert_eq!(
        layer.stats().verified_cache_hits(),
        1,
        "second sight: cached"
    );

    assert_eq!(
        status(&app, "POST", "/logout", &token).await,
        StatusCode::NO_CONTENT
    );
    assert_invalid_token(&app, &token, "the token has been revoked").await;
    assert!(
        layer.stats().verified_cache_hits() >= 3,
        "the revoked token was a cache hit"
    );
}

#[tokio::test]
async fn an_entry_is_never_served_after_its_token_expires() {
    let (app, layer, clock, _) = cached_app(100);
    let token = sign(&claims("alice", "t1"));
    assert_eq!(status(&app, "GET", "/me", &token).await, StatusCode::OK);
    clock.advance(Duration::from_secs(3600));
    assert_invalid_token(&app, &token, "the token has expired").await;
    assert_eq!(
        layer.stats().verified_cache_hits(),
        0,
        "the expired entry was not served"
    );
}

#[tokio::test]
async fn a_token_that_differs_in_any_byte_is_verified_afresh() {
    let (app, layer, _, _) = cached_app(100);
    let token = sign(&claims("alice", "t1"));
    assert_eq!(status(&app, "GET", "/me", &token).await, StatusCode::OK);
    // Same header and payload, another signature: a forgery riding on a cached token.
    let (signed, _) = token.rsplit_once('.').expect("three parts");
    let forged = format!("{signed}.{}", "A".repeat(43));
    assert_invalid_token(&app, &forged, "the token's signature is invalid").await;
    // Another payload under the original signature.
    let other = sign(&claims("mallory", "t1"));
    let (_, signature) = token.rsplit_once('.').expect("three parts");
    let (other_signed, _) = other.rsplit_once('.').expect("three parts");
    let spliced = format!("{other_signed}.{signature}");
    assert_invalid_token(&app, &spliced, "the token's signature is invalid").await;
    assert_eq!(layer.stats().verified_cache_hits(), 0);
}

#[tokio::test]
async fn a_layer_with_other_keys_has_its_own_empty_cache() {
    let (app, _, _, revocations) = cached_app(100);
    let token = sign(&claims("alice", "t1"));
    assert_eq!(status(&app, "GET", "/me", &token).await, StatusCode::OK);
    let rotated = RevocationLayer::verifying(
        revocations,
        DecodingKeys::new(DecodingKey::from_secret(b"the rotated-in secret")),
        &[Algorithm::HS256],
    )
    .cache_verified_tokens(100)
    .build()
    .expect("builds");
    let rotated_app = support::app(rotated.clone());
    assert_invalid_token(&rotated_app, &token, "the token's signature is invalid").await;
    assert_eq!(rotated.stats().verified_cache_hits(), 0);
}

#[tokio::test]
async fn a_full_cache_still_verifies_everything_it_no_longer_holds() {
    let (app, layer, _, _) = cached_app(2);
    let tokens: Vec<String> = (0..20)
        .map(|n| sign(&claims("alice", &format!("t{n}"))))
        .collect();
    for _ in 0..2 {
        for token in &tokens {
            assert_eq!(status(&app, "GET", "/me", token).await, StatusCode::OK);
        }
    }
    assert!(
        layer.stats().verified_cache_hits() < 20,
        "a cache of 2 cannot have held 20 tokens"
    );
}
