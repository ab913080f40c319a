//! What issue 12's machinery (the hostile matrix at the demos' edge, the fuzzers, the model)
//! found in the layer, each kept as a regular test with its minimal input.

mod support;

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use jwt_revoke_tower::{DecodingKeys, RevocationLayer};
use serde_json::Value;
use support::*;

/// A token whose header is exactly `header` (JSON text), over `claims`, signed with `key`.
fn sign_with_raw_header(header: &str, claims: &Value, alg: Algorithm, key: &EncodingKey) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).expect("signs");
    format!("{message}.{signature}")
}

fn hs256_raw(header: &str) -> String {
    sign_with_raw_header(
        header,
        &claims("alice", "t-1"),
        Algorithm::HS256,
        &EncodingKey::from_secret(SECRET),
    )
}

/// RFC 7515 §4.1.11: a JWS whose `crit` header names an extension the recipient does not
/// understand must be refused. The layer understands none, so any `crit` is refused — an
/// issuer that marks a parameter critical means "do not accept this token unless you enforce
/// it" (a token bound to a key, say), and accepting it ignored that. Found by the hostile
/// matrix: the layer answered 200.
#[tokio::test]
async fn a_token_with_a_critical_header_parameter_is_refused() {
    let clock = clock();
    let app = app(hs256_builder(memory_revocations(&clock))
        .build()
        .expect("builds"));
    // The control: the same token without `crit` is accepted.
    let plain = hs256_raw(r#"{"alg":"HS256","typ":"JWT"}"#);
    assert_eq!(status_for(&app, "GET", "/me", &plain).await, StatusCode::OK);
    for header in [
        r#"{"alg":"HS256","typ":"JWT","crit":["urn:example:bound"],"urn:example:bound":true}"#,
        r#"{"alg":"HS256","crit":["exp"],"exp":1}"#,
        // An empty list is forbidden by RFC 7515 and refused the same way.
        r#"{"alg":"HS256","crit":[]}"#,
    ] {
        assert_invalid_token(&app, &hs256_raw(header), "critical header parameter (crit)").await;
    }
    // A `crit` that is no list of names is a malformed header.
    for header in [
        r#"{"alg":"HS256","crit":"urn:example:bound"}"#,
        r#"{"alg":"HS256","crit":[1]}"#,
    ] {
        let response = send(&app, request("GET", "/me", Some(&hs256_raw(header)))).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header}");
    }
}

/// A header that names a parameter twice is not one JSON object a reader agrees on (RFC 7515
/// §4: the names must be unique); it is refused rather than read one way here and another way
/// by whoever else reads it. (This held before the fix above: jsonwebtoken's header reader
/// refuses a repeated field. Kept as a guard, since the `crit` check relies on it.)
#[tokio::test]
async fn a_header_with_a_repeated_parameter_is_refused() {
    let clock = clock();
    let app = app(hs256_builder(memory_revocations(&clock))
        .build()
        .expect("builds"));
    for header in [
        r#"{"alg":"HS256","crit":["x"],"crit":null}"#,
        r#"{"alg":"HS256","kid":"a","kid":"b"}"#,
    ] {
        let response = send(&app, request("GET", "/me", Some(&hs256_raw(header)))).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header}");
    }
}

/// Where no key is named by `kid` (one default key), a token's `kid` selects nothing and is
/// not judged: identity providers stamp a `kid` on every token, and a service configured with
/// the one key they use must accept them. The signature is still checked against that key.
/// Where keys are named by `kid`, a `kid` that names none of them is refused. The hostile
/// matrix questioned the first rule; it is the documented one (see `DecodingKeys`).
#[tokio::test]
async fn a_kid_is_matched_only_against_keys_named_by_kid() {
    let clock = clock();
    let one_key = app(hs256_builder(memory_revocations(&clock))
        .build()
        .expect("builds"));
    let stamped = hs256_raw(r#"{"alg":"HS256","kid":"2026-11"}"#);
    assert_eq!(
        status_for(&one_key, "GET", "/me", &stamped).await,
        StatusCode::OK
    );
    let forged = sign_with_raw_header(
        r#"{"alg":"HS256","kid":"2026-11"}"#,
        &claims("alice", "t-2"),
        Algorithm::HS256,
        &EncodingKey::from_secret(b"another secret, long enough for HS256"),
    );
    assert_invalid_token(&one_key, &forged, "signature").await;

    let named = app(RevocationLayer::verifying(
        memory_revocations(&clock),
        DecodingKeys::by_kid_only().with_kid("2026-11", DecodingKey::from_secret(SECRET)),
        &[Algorithm::HS256],
    )
    .build()
    .expect("builds"));
    assert_eq!(
        status_for(&named, "GET", "/me", &stamped).await,
        StatusCode::OK
    );
    let unknown = hs256_raw(r#"{"alg":"HS256","kid":"2025-01"}"#);
    assert_invalid_token(&named, &unknown, "key id (kid) is not known").await;
    let none = hs256_raw(r#"{"alg":"HS256"}"#);
    assert_invalid_token(&named, &none, "key id (kid)").await;
}
