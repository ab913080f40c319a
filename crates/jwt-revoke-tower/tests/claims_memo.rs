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

/// The layer finds a memoized payload before it verifies the token, and then checks only the
/// token's header and signature (its claims passed every check when first seen). From the
/// attacker's side: take the payload part of a token the layer has seen, and put it under
/// every header and signature that might pass where a full verification would not.
mod the_payload_of_a_token_seen_before {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
    use jwt_revoke_tower::DecodingKeys;
    use jwt_revoke_tower::jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
    use serde_json::Value;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// `header` (as JSON) and the payload part `payload`, signed with `secret` under `alg`.
    fn resigned(header: &Value, payload: &str, alg: Algorithm, secret: &[u8]) -> String {
        hmac_signed(
            &format!("{}.{payload}", b64(header.to_string().as_bytes())),
            alg,
            secret,
        )
    }

    /// Sends each variant to a layer that has seen `seen` (so its payload is memoized) and to
    /// the same layer without a memo; asserts the answers are the same and the status is the
    /// expected one. Returns the memo layer's hit count.
    async fn same_answer_as_without_memo(
        builder: impl Fn(usize) -> jwt_revoke_tower::RevocationLayerBuilder,
        seen: &str,
        variants: &[(&str, String, StatusCode)],
    ) -> u64 {
        let memo_layer = builder(1 << 20).build().expect("builds");
        let memo = app(memo_layer.clone());
        let plain = app(builder(0).build().expect("builds"));
        assert_eq!(
            client_answer(&memo, seen).await.0,
            StatusCode::OK,
            "the seen token"
        );
        for (what, token, expected) in variants {
            let with_memo = client_answer(&memo, token).await;
            let without = client_answer(&plain, token).await;
            assert_eq!(with_memo, without, "{what}: the memo changed the answer");
            assert_eq!(with_memo.0, *expected, "{what}: {with_memo:?}");
        }
        memo_layer.stats().claims_memo_hits()
    }

    fn hs256(max_bytes: usize) -> jwt_revoke_tower::RevocationLayerBuilder {
        let clock = clock();
        hs256_builder(memory_revocations(&clock)).claims_memo(max_bytes)
    }

    #[tokio::test]
    async fn gets_no_header_or_signature_a_full_verification_refuses() {
        let seen = sign(&claims("alice", "t1"));
        let parts: Vec<&str> = seen.split('.').collect();
        let (header, payload, signature) = (parts[0], parts[1], parts[2]);
        let hs256_header = json!({ "alg": "HS256", "typ": "JWT" });
        let decoded = URL_SAFE_NO_PAD.decode(payload).expect("base64url");
        let variants = [
            (
                "alg none, no signature",
                format!("{}.{payload}.", b64(br#"{"alg":"none"}"#)),
                StatusCode::UNAUTHORIZED,
            ),
            (
                "another algorithm of the same secret",
                resigned(
                    &json!({ "alg": "HS384" }),
                    payload,
                    Algorithm::HS384,
                    SECRET,
                ),
                StatusCode::UNAUTHORIZED,
            ),
            (
                "another secret",
                resigned(&hs256_header, payload, Algorithm::HS256, b"another secret"),
                StatusCode::UNAUTHORIZED,
            ),
            (
                "the signature of another token",
                format!(
                    "{header}.{payload}.{}",
                    sign(&claims("bob", "t2"))
                        .rsplit('.')
                        .next()
                        .expect("signature")
                ),
                StatusCode::UNAUTHORIZED,
            ),
            (
                "no signature",
                format!("{header}.{payload}."),
                StatusCode::UNAUTHORIZED,
            ),
            (
                "a signature that is not base64url",
                format!("{header}.{payload}.{signature}="),
                StatusCode::UNAUTHORIZED,
            ),
            (
                "a fourth part",
                format!("{seen}.{signature}"),
                StatusCode::UNAUTHORIZED,
            ),
            (
                "the payload and signature without a header",
                format!("{payload}.{signature}"),
                StatusCode::UNAUTHORIZED,
            ),
            (
                "a logout token's typ, correctly signed",
                resigned(
                    &json!({ "alg": "HS256", "typ": "logout+jwt" }),
                    payload,
                    Algorithm::HS256,
                    SECRET,
                ),
                StatusCode::UNAUTHORIZED,
            ),
            (
                "a critical header parameter, correctly signed",
                resigned(
                    &json!({ "alg": "HS256", "crit": ["exp"], "exp": 1 }),
                    payload,
                    Algorithm::HS256,
                    SECRET,
                ),
                StatusCode::UNAUTHORIZED,
            ),
            (
                "a header that is not JSON, correctly signed",
                hmac_signed(
                    &format!("{}.{payload}", b64(b"{alg:HS256}")),
                    Algorithm::HS256,
                    SECRET,
                ),
                StatusCode::UNAUTHORIZED,
            ),
            (
                "the payload base64url-padded, correctly signed",
                resigned(
                    &hs256_header,
                    &URL_SAFE.encode(&decoded),
                    Algorithm::HS256,
                    SECRET,
                ),
                StatusCode::UNAUTHORIZED,
            ),
            (
                "the payload after a form feed (not JSON whitespace), correctly signed",
                resigned(
                    &hs256_header,
                    &b64(&[b"\x0c", &decoded[..]].concat()),
                    Algorithm::HS256,
                    SECRET,
                ),
                StatusCode::UNAUTHORIZED,
            ),
            (
                "the payload after a byte-order mark, correctly signed",
                resigned(
                    &hs256_header,
                    &b64(&[&b"\xef\xbb\xbf"[..], &decoded[..]].concat()),
                    Algorithm::HS256,
                    SECRET,
                ),
                StatusCode::UNAUTHORIZED,
            ),
            (
                "the same claims under another header, correctly signed",
                resigned(
                    &json!({ "alg": "HS256", "typ": "at+jwt" }),
                    payload,
                    Algorithm::HS256,
                    SECRET,
                ),
                StatusCode::OK,
            ),
            (
                "the payload within JSON whitespace, correctly signed",
                resigned(
                    &hs256_header,
                    &b64(&[b" \r\n\t", &decoded[..], b"\n "].concat()),
                    Algorithm::HS256,
                    SECRET,
                ),
                StatusCode::OK,
            ),
        ];
        let hits = same_answer_as_without_memo(hs256, &seen, &variants).await;
        // The two accepted variants carry the memoized payload: both were memo hits (the fast
        // path answered them); none of the refused ones counted as one.
        assert_eq!(hits, 2, "memo hits");
    }

    #[tokio::test]
    async fn is_verified_with_the_key_its_own_header_names() {
        let keys = || {
            DecodingKeys::by_kid_only()
                .with_kid("old", DecodingKey::from_secret(b"old secret"))
                .with_kid("new", DecodingKey::from_secret(SECRET))
        };
        let builder = |max_bytes: usize| {
            let clock = clock();
            jwt_revoke_tower::RevocationLayer::verifying(
                memory_revocations(&clock),
                keys(),
                &[Algorithm::HS256],
            )
            .claims_memo(max_bytes)
        };
        let seen = resigned(
            &json!({ "alg": "HS256", "kid": "new" }),
            &b64(claims("alice", "t1").to_string().as_bytes()),
            Algorithm::HS256,
            SECRET,
        );
        let payload = seen.split('.').nth(1).expect("payload");
        let variants = [
            (
                "another kid, the seen key's signature",
                resigned(
                    &json!({ "alg": "HS256", "kid": "old" }),
                    payload,
                    Algorithm::HS256,
                    SECRET,
                ),
                StatusCode::UNAUTHORIZED,
            ),
            (
                "an unknown kid",
                resigned(
                    &json!({ "alg": "HS256", "kid": "unknown" }),
                    payload,
                    Algorithm::HS256,
                    SECRET,
                ),
                StatusCode::UNAUTHORIZED,
            ),
            (
                "no kid",
                resigned(
                    &json!({ "alg": "HS256" }),
                    payload,
                    Algorithm::HS256,
                    SECRET,
                ),
                StatusCode::UNAUTHORIZED,
            ),
            (
                "the other key, by its kid",
                resigned(
                    &json!({ "alg": "HS256", "kid": "old" }),
                    payload,
                    Algorithm::HS256,
                    b"old secret",
                ),
                StatusCode::OK,
            ),
        ];
        let hits = same_answer_as_without_memo(builder, &seen, &variants).await;
        assert_eq!(hits, 1, "the other key's token was a memo hit");
    }

    #[tokio::test]
    async fn of_one_issuer_is_not_accepted_under_another_issuers_key() {
        const PARTNER: &str = "https://partner.test";
        let builder = |max_bytes: usize| {
            let clock = clock();
            jwt_revoke_tower::RevocationLayer::verifying_issuers(
                memory_revocations(&clock),
                [
                    jwt_revoke_tower::TrustedIssuer::new(
                        ISSUER,
                        DecodingKeys::new(DecodingKey::from_secret(SECRET)),
                        &[Algorithm::HS256],
                    ),
                    jwt_revoke_tower::TrustedIssuer::new(
                        PARTNER,
                        DecodingKeys::new(DecodingKey::from_secret(b"the partner's own secret")),
                        &[Algorithm::HS256],
                    ),
                ],
            )
            .claims_memo(max_bytes)
        };
        let seen = sign(&claims("alice", "t1"));
        let payload = seen.split('.').nth(1).expect("payload");
        let variants = [
            (
                "our issuer's payload under the partner's key",
                resigned(
                    &json!({ "alg": "HS256" }),
                    payload,
                    Algorithm::HS256,
                    b"the partner's own secret",
                ),
                StatusCode::UNAUTHORIZED,
            ),
            (
                "our issuer's payload under our key again",
                resigned(
                    &json!({ "alg": "HS256", "typ": "JWT" }),
                    payload,
                    Algorithm::HS256,
                    SECRET,
                ),
                StatusCode::OK,
            ),
        ];
        let hits = same_answer_as_without_memo(builder, &seen, &variants).await;
        assert_eq!(hits, 1);
    }

    #[tokio::test]
    async fn of_any_size_is_found_and_checked_alike() {
        // Payloads of up to 1,024 bytes are decoded on the stack, longer ones on the heap.
        for size in [1023, 1024, 1025, 4000] {
            let mut claims = claims("alice", &format!("t-{size}"));
            claims["pad"] = json!("");
            let bare = claims.to_string().len();
            claims["pad"] = json!("x".repeat(size - bare));
            assert_eq!(claims.to_string().len(), size);
            let seen = sign(&claims);
            let payload = seen.split('.').nth(1).expect("payload");
            let variants = [
                ("the seen token again", seen.clone(), StatusCode::OK),
                (
                    "another secret",
                    resigned(
                        &json!({ "alg": "HS256" }),
                        payload,
                        Algorithm::HS256,
                        b"another secret",
                    ),
                    StatusCode::UNAUTHORIZED,
                ),
            ];
            let hits = same_answer_as_without_memo(hs256, &seen, &variants).await;
            assert_eq!(hits, 1, "a payload of {size} bytes");
        }
    }

    #[tokio::test]
    async fn of_an_rs256_layer_is_not_accepted_under_an_hmac_of_its_public_key() {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("a key pair");
        let public_pem = pair.public_key_pem();
        let builder = |max_bytes: usize| {
            let clock = clock();
            jwt_revoke_tower::RevocationLayer::verifying(
                memory_revocations(&clock),
                DecodingKeys::new(DecodingKey::from_rsa_pem(public_pem.as_bytes()).expect("spki")),
                &[Algorithm::RS256],
            )
            .claims_memo(max_bytes)
        };
        let seen = jwt_revoke_tower::jsonwebtoken::encode(
            &jwt_revoke_tower::jsonwebtoken::Header::new(Algorithm::RS256),
            &claims("alice", "t1"),
            &EncodingKey::from_rsa_pem(pair.serialize_pem().as_bytes()).expect("pkcs8"),
        )
        .expect("signs");
        let payload = seen.split('.').nth(1).expect("payload");
        let variants = [(
            "HS256 keyed with the RSA public key",
            resigned(
                &json!({ "alg": "HS256" }),
                payload,
                Algorithm::HS256,
                public_pem.as_bytes(),
            ),
            StatusCode::UNAUTHORIZED,
        )];
        let hits = same_answer_as_without_memo(builder, &seen, &variants).await;
        assert_eq!(hits, 0);
    }
}
