//! The claims memo: a token seen again skips parsing and hashing, never verification, the
//! time checks or the revocation check.

mod support;

use std::time::Duration;

use axum::http::StatusCode;
use jwt_revoke_core::Timestamp;
use jwt_revoke_tower::RevocationLayer;
use serde_json::json;
use support::*;

fn memo_app(max_bytes: usize) -> (axum::Router, RevocationLayer, jwt_revoke_core::ManualClock) {
    let clock = clock();
    let layer = hs256_builder(memory_revocations(&clock))
        .claims_memo(max_bytes)
        .build()
        .expect("builds");
    (app(layer.clone()), layer, clock)
}

async fn get_me(app: &axum::Router, token: &str) -> (StatusCode, String) {
    let response = send(app, request("GET", "/me", Some(token))).await;
    let status = response.status();
    (status, body_text(response).await)
}

async fn post(app: &axum::Router, path: &str, token: &str) -> StatusCode {
    send(app, request("POST", path, Some(token))).await.status()
}

#[tokio::test]
async fn a_token_seen_again_hands_the_same_claims_to_the_handler() {
    let (app, layer, _) = memo_app(1 << 20);
    let token = sign(&claims("alice", "t1"));
    let first = get_me(&app, &token).await;
    assert_eq!(first.0, StatusCode::OK);
    assert_eq!(layer.stats().claims_memo_hits(), 0, "first sight: parsed");
    let second = get_me(&app, &token).await;
    assert_eq!(layer.stats().claims_memo_hits(), 1, "second sight: memo");
    assert_eq!(second, first, "the handler sees the same claims");
    assert!(second.1.contains(r#""sub":"alice""#), "{}", second.1);
}

#[tokio::test]
async fn the_memo_is_on_by_default() {
    let clock = clock();
    let layer = hs256_builder(memory_revocations(&clock))
        .build()
        .expect("builds");
    let app = app(layer.clone());
    let token = sign(&claims("alice", "t1"));
    for _ in 0..3 {
        assert_eq!(get_me(&app, &token).await.0, StatusCode::OK);
    }
    assert_eq!(layer.stats().claims_memo_hits(), 2);
}

#[tokio::test]
async fn every_kind_of_revocation_still_applies_to_a_memoized_token() {
    let (app, layer, clock) = memo_app(1 << 20);
    // By token.
    let token = sign(&claims("alice", "t1"));
    assert_eq!(get_me(&app, &token).await.0, StatusCode::OK);
    assert_eq!(post(&app, "/logout", &token).await, StatusCode::NO_CONTENT);
    assert_invalid_token(&app, &token, "the token has been revoked").await;

    // By user: a cut-off after the token's iat.
    let bob = sign(&claims("bob", "t2"));
    assert_eq!(get_me(&app, &bob).await.0, StatusCode::OK);
    assert_eq!(get_me(&app, &bob).await.0, StatusCode::OK);
    clock.advance(Duration::from_secs(5));
    assert_eq!(post(&app, "/logout/all", &bob).await, StatusCode::OK);
    assert_invalid_token(&app, &bob, "revoked").await;

    // By session.
    let carol = sign(&claims("carol", "t3"));
    assert_eq!(get_me(&app, &carol).await.0, StatusCode::OK);
    assert_eq!(
        post(&app, "/logout/session", &carol).await,
        StatusCode::NO_CONTENT
    );
    assert_invalid_token(&app, &carol, "the session of this token has ended").await;

    assert!(
        layer.stats().claims_memo_hits() >= 6,
        "the refused requests were memo hits: {}",
        layer.stats().claims_memo_hits()
    );
}

#[tokio::test]
async fn the_time_claims_are_judged_again_on_every_hit() {
    let (app, layer, clock) = memo_app(1 << 20);
    let token = sign(&json!({
        "iss": ISSUER, "sub": "alice", "jti": "t1", "iat": NOW, "nbf": NOW, "exp": NOW + 60,
    }));
    assert_eq!(get_me(&app, &token).await.0, StatusCode::OK);
    assert_eq!(get_me(&app, &token).await.0, StatusCode::OK);
    assert_eq!(layer.stats().claims_memo_hits(), 1);

    // A clock stepped back before `nbf` (beyond the leeway): not valid yet, memo or not.
    clock.set(Timestamp::from_secs(NOW - 3600));
    assert_invalid_token(&app, &token, "the token is not valid yet").await;

    // Past `exp` and the leeway: expired.
    clock.set(Timestamp::from_secs(NOW + 3600));
    assert_invalid_token(&app, &token, "the token has expired").await;
    assert_eq!(
        layer.stats().claims_memo_hits(),
        3,
        "both refusals were judged on memo hits"
    );
}

#[tokio::test]
async fn a_memoized_payload_under_another_signature_is_refused() {
    let (app, layer, _) = memo_app(1 << 20);
    let token = sign(&claims("alice", "t1"));
    assert_eq!(get_me(&app, &token).await.0, StatusCode::OK);
    let (signed, _) = token.rsplit_once('.').expect("three parts");
    let forged = format!("{signed}.{}", "A".repeat(43));
    assert_invalid_token(&app, &forged, "the token's signature is invalid").await;
    assert_eq!(layer.stats().claims_memo_hits(), 0);
}

#[tokio::test]
async fn tokens_without_jti_are_kept_and_stay_revocable_by_their_payload() {
    let (app, layer, _) = memo_app(1 << 20);
    let token = sign(&json!({
        "iss": ISSUER, "sub": "alice", "iat": NOW, "exp": NOW + 3600,
    }));
    assert_eq!(get_me(&app, &token).await.0, StatusCode::OK);
    assert_eq!(get_me(&app, &token).await.0, StatusCode::OK);
    assert_eq!(
        layer.stats().claims_memo_hits(),
        1,
        "the identity of a token without jti is its payload's digest: in the memo too"
    );
    assert_eq!(post(&app, "/logout", &token).await, StatusCode::NO_CONTENT);
    assert_invalid_token(&app, &token, "the token has been revoked").await;
    let other = sign(&json!({
        "iss": ISSUER, "sub": "alice", "iat": NOW, "exp": NOW + 3599,
    }));
    assert_eq!(
        get_me(&app, &other).await.0,
        StatusCode::OK,
        "another payload, another token"
    );
}

#[tokio::test]
async fn zero_bytes_turns_the_memo_off() {
    let (app, layer, _) = memo_app(0);
    let token = sign(&claims("alice", "t1"));
    for _ in 0..3 {
        assert_eq!(get_me(&app, &token).await.0, StatusCode::OK);
    }
    assert_eq!(layer.stats().claims_memo_hits(), 0);
}

#[tokio::test]
async fn a_full_memo_keeps_what_fits_and_answers_the_rest_the_long_way() {
    // Room for about two entries.
    let (app, layer, _) = memo_app(2_500);
    let tokens: Vec<String> = (0..20)
        .map(|n| sign(&claims("alice", &format!("t{n}"))))
        .collect();
    for _ in 0..3 {
        for token in &tokens {
            assert_eq!(get_me(&app, token).await.0, StatusCode::OK);
        }
    }
    let hits = layer.stats().claims_memo_hits();
    assert!(
        hits < 20,
        "20 tokens cannot all be kept in 2.5 kB: {hits} hits"
    );
    assert_eq!(layer.stats().allowed(), 60, "every request was answered");
}

/// Users send many tokens: by default the memo holds 10,000 distinct tokens of an ordinary
/// size (here with `sid`, about 200 bytes of payload each), so that each one seen again is a
/// hit. (Before the memo held each payload once and its default grew, about 5,000 fit.)
#[tokio::test]
async fn by_default_the_memo_holds_ten_thousand_distinct_tokens() {
    let clock = clock();
    let layer = hs256_builder(memory_revocations(&clock))
        .build()
        .expect("builds");
    let app = app(layer.clone());
    let tokens: Vec<String> = (0..10_000)
        .map(|n| {
            let mut token = claims(&format!("user-{}", n % 1_000), &format!("token-{n}"));
            token["sid"] = json!(format!("session-{n}"));
            token["azp"] = json!("web-app-frontend");
            token["scope"] = json!("openid profile email orders:read orders:write");
            sign(&token)
        })
        .collect();
    let payload = tokens[0].split('.').nth(1).expect("a JWS").len() * 3 / 4;
    assert!(payload >= 190, "an ordinary payload, not {payload} bytes");
    for token in &tokens {
        assert_eq!(get_me(&app, token).await.0, StatusCode::OK);
    }
    assert_eq!(layer.stats().claims_memo_hits(), 0);
    for token in &tokens {
        assert_eq!(get_me(&app, token).await.0, StatusCode::OK);
    }
    assert_eq!(
        layer.stats().claims_memo_hits(),
        10_000,
        "every token seen again should be a hit"
    );
}
