//! Adversarial review of claim cut-offs through the layer: hand-written payloads (what an
//! issuer may sign), the claims memo and the verified-token cache, the handle's
//! `revoke_claim`. Each test asserts the safe behaviour.

mod support;

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use jwt_revoke_core::{ClaimId, ClaimRevocationError, ManualClock, Revocations};
use jwt_revoke_tower::{Claims, RevocationHandle, RevocationLayer};
use support::*;

/// The engine of a policy that gives cut-offs to `azp` and `device`.
fn engine() -> (Revocations, ManualClock) {
    let clock = clock();
    let revocations = claim_revocations(&clock, &["azp", "device"]);
    (revocations, clock)
}

/// Routes `/me` and `/logout/<claim>` (the handle's `revoke_claim`: 204 revoked, 409 the
/// token lacks the claim, 400 not in the policy) behind `layer`.
fn routes(layer: RevocationLayer) -> Router {
    let logout = |claim: &'static str| {
        post(
            move |Extension(handle): Extension<RevocationHandle>| async move {
                match handle.revoke_claim(claim).await {
                    Ok(Some(_)) => StatusCode::NO_CONTENT,
                    Ok(None) => StatusCode::CONFLICT,
                    Err(ClaimRevocationError::NotInPolicy(_)) => StatusCode::BAD_REQUEST,
                    Err(_) => StatusCode::SERVICE_UNAVAILABLE,
                }
            },
        )
    };
    Router::new()
        .route(
            "/me",
            get(|Extension(claims): Extension<Claims>| async move { claims.json().to_owned() }),
        )
        .route("/logout/device", logout("device"))
        .route("/logout/DEVICE", logout("DEVICE"))
        .route("/logout/azp", logout("azp"))
        .layer(layer)
}

/// A token whose payload is exactly `payload` (the issuer's bytes), signed HS256.
fn raw_token(payload: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let message = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(SECRET),
        Algorithm::HS256,
    )
    .expect("signs");
    format!("{message}.{signature}")
}

/// The registered claims of a live token `jti`, then `extra` members as written.
fn payload(jti: &str, extra: &str) -> String {
    format!(
        r#"{{"iss":"{ISSUER}","sub":"alice","jti":"{jti}","iat":{NOW},"exp":{}{}{extra}}}"#,
        NOW + 600,
        if extra.is_empty() { "" } else { "," }
    )
}

/// Payloads that differ only in spelling — whitespace, member order, escapes in the claim's
/// name or value — are different memo entries, and each is revoked by the value it means,
/// also when its facts were memoized before the revocation.
#[tokio::test]
async fn every_spelling_of_a_revoked_value_is_refused_even_when_memoized() {
    let (revocations, clock) = engine();
    let layer = hs256_builder(revocations.clone()).build().expect("builds");
    let app = routes(layer.clone());
    let spellings = [
        payload("same", r#""azp":"app""#),
        payload("same", r#""azp" : "app" "#),
        payload("same", r#""\u0061zp":"app""#),
        payload("same", r#""azp":"\u0061pp""#),
        format!(
            r#"{{"azp":"app","iss":"{ISSUER}","sub":"alice","jti":"same","iat":{NOW},"exp":{}}}"#,
            NOW + 600
        ),
        format!(
            " \n{{\"iss\":\"{ISSUER}\",\"sub\":\"alice\",\"jti\":\"same\",\"iat\":{NOW},\"exp\":{},\"azp\":\"app\"}}\t",
            NOW + 600
        ),
    ];
    let tokens: Vec<String> = spellings.iter().map(|p| raw_token(p)).collect();
    let other_app = raw_token(&payload("same", r#""azp":"app2""#));
    for token in tokens.iter().chain([&other_app]) {
        assert_eq!(status_for(&app, "GET", "/me", token).await, StatusCode::OK);
        // Twice: the second from the memo.
        assert_eq!(status_for(&app, "GET", "/me", token).await, StatusCode::OK);
    }
    assert!(layer.stats().claims_memo_hits() >= tokens.len() as u64);
    clock.advance(std::time::Duration::from_secs(1));
    revocations
        .revoke_claim(&ClaimId::new(ISSUER, "azp", "app"))
        .await
        .expect("revokes");
    for (token, spelling) in tokens.iter().zip(&spellings) {
        let status = status_for(&app, "GET", "/me", token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "escaped: {spelling}");
    }
    assert_eq!(
        status_for(&app, "GET", "/me", &other_app).await,
        StatusCode::OK
    );
}

/// The memo never lends one payload's claim keys to another: two tokens alike but for the
/// device, the first memoized; revoking the second's device leaves the first alone, and
/// the reverse.
#[tokio::test]
async fn the_memo_keeps_claim_keys_per_payload() {
    let (revocations, clock) = engine();
    let layer = hs256_builder(revocations.clone())
        .cache_verified_tokens(100)
        .build()
        .expect("builds");
    let app = routes(layer);
    let phone = raw_token(&payload("t", r#""device":"phone""#));
    let laptop = raw_token(&payload("t", r#""device":"laptop""#));
    for token in [&phone, &laptop, &phone, &laptop] {
        assert_eq!(status_for(&app, "GET", "/me", token).await, StatusCode::OK);
    }
    clock.advance(std::time::Duration::from_secs(1));
    assert_eq!(
        status_for(&app, "POST", "/logout/device", &laptop).await,
        StatusCode::NO_CONTENT
    );
    assert_invalid_token(&app, &laptop, "client, tenant or device").await;
    assert_eq!(status_for(&app, "GET", "/me", &phone).await, StatusCode::OK);
}

/// A claim the issuer wrote in a form the cut-offs cannot read is refused through the layer
/// (401, never 200, never 500): fractions and exponents, `-0`, integers beyond u64, a claim
/// written twice in two spellings, a lone surrogate.
#[tokio::test]
async fn unreadable_claim_forms_are_refused_through_the_layer() {
    let (revocations, _) = engine();
    let app = routes(hs256_builder(revocations).build().expect("builds"));
    for extra in [
        r#""device":42.0"#,
        r#""device":4.2e1"#,
        r#""device":-0"#,
        r#""device":1e2"#,
        r#""device":18446744073709551616"#,
        r#""device":"phone","\u0064evice":"laptop""#,
        r#""device":null,"device":"phone""#,
        r#""device":"\ud800""#,
    ] {
        let token = raw_token(&payload("f", extra));
        let status = status_for(&app, "GET", "/me", &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{extra}");
    }
    // A byte-order mark before the payload: not JSON, refused (not 500).
    let bom = raw_token(&format!("\u{feff}{}", payload("b", r#""device":"phone""#)));
    assert_eq!(
        status_for(&app, "GET", "/me", &bom).await,
        StatusCode::UNAUTHORIZED
    );
}

/// The handle revokes only a claim the policy names, in exactly its spelling: `DEVICE` is
/// refused (400), not acknowledged; and after `device` is revoked every token of that
/// device is refused however its payload spells the value.
#[tokio::test]
async fn the_handle_acknowledges_only_what_a_check_reads() {
    let (revocations, clock) = engine();
    let app = routes(hs256_builder(revocations).build().expect("builds"));
    let phone = raw_token(&payload("p", r#""device":"phone""#));
    let phone_escaped = raw_token(&payload("q", r#""device":"\u0070hone""#));
    assert_eq!(
        status_for(&app, "POST", "/logout/DEVICE", &phone).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(status_for(&app, "GET", "/me", &phone).await, StatusCode::OK);
    // No azp in the token: nothing to revoke by it, and nothing claimed.
    assert_eq!(
        status_for(&app, "POST", "/logout/azp", &phone).await,
        StatusCode::CONFLICT
    );
    clock.advance(std::time::Duration::from_secs(1));
    assert_eq!(
        status_for(&app, "POST", "/logout/device", &phone_escaped).await,
        StatusCode::NO_CONTENT
    );
    assert_invalid_token(&app, &phone, "client, tenant or device").await;
}

/// Claims handed over by an upstream verifier go through the same picker: a duplicate claim
/// is refused, an escaped name is revoked by what it means.
#[tokio::test]
async fn claims_verified_upstream_are_read_as_strictly() {
    let (revocations, clock) = engine();
    let layer = RevocationLayer::claims_verified_upstream(revocations.clone())
        .build()
        .expect("builds");
    let protected = Router::new()
        .route("/me", get(|| async { "ok" }))
        .layer(layer);
    let call = |payload: String| {
        let protected = protected.clone();
        async move {
            let claims = Claims::from_verified_json(&payload).expect("json");
            let mut request = request("GET", "/me", None);
            request.extensions_mut().insert(claims);
            send(&protected, request).await.status()
        }
    };
    assert_eq!(
        call(payload("u", r#""device":"a","device":"b""#)).await,
        StatusCode::UNAUTHORIZED
    );
    let escaped = payload("v", r#""\u0064evice":"phone""#);
    assert_eq!(call(escaped.clone()).await, StatusCode::OK);
    clock.advance(std::time::Duration::from_secs(1));
    revocations
        .revoke_claim(&ClaimId::new(ISSUER, "device", "phone"))
        .await
        .expect("revokes");
    assert_eq!(call(escaped).await, StatusCode::UNAUTHORIZED);
}
