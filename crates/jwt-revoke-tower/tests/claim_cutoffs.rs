//! Cut-offs by any claim (`Policy::with_claim_cutoffs`), through the layer: a client app, a
//! device revoked as a whole; a claim the cut-offs could not apply to is refused, never let
//! through.

mod support;

use axum::http::StatusCode;
use axum::routing::post;
use axum::{Extension, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use jwt_revoke_core::{ClaimId, ClaimRevocationError, ManualClock, RevocationReason, Verdict};
use jwt_revoke_tower::RevocationHandle;
use serde_json::{Value, json};
use support::*;

/// A layer whose policy gives cut-offs to `azp` and `device`, with a route that logs the
/// caller's device out.
fn setup() -> (Router, jwt_revoke_core::Revocations, ManualClock) {
    let clock = clock();
    let revocations = claim_revocations(&clock, &["azp", "device"]);
    let layer = hs256_builder(revocations.clone()).build().expect("builds");
    let device_logout = Router::new().route(
        "/logout/device",
        post(
            |Extension(handle): Extension<RevocationHandle>| async move {
                match handle.revoke_claim("device").await {
                    Ok(Some(_)) => StatusCode::NO_CONTENT,
                    Ok(None) => StatusCode::CONFLICT,
                    Err(ClaimRevocationError::NotInPolicy(_)) => StatusCode::BAD_REQUEST,
                    Err(_) => StatusCode::SERVICE_UNAVAILABLE,
                }
            },
        ),
    );
    let app = app(layer.clone()).merge(device_logout.layer(layer));
    (app, revocations, clock)
}

fn token(jti: &str, extra: Value) -> String {
    let mut claims = claims("alice", jti);
    if let (Some(claims), Value::Object(extra)) = (claims.as_object_mut(), extra) {
        claims.extend(extra);
    }
    sign(&claims)
}

#[tokio::test]
async fn a_device_logout_ends_every_token_of_that_device_and_no_other() {
    let (app, revocations, _) = setup();
    let phone = token("a", json!({"azp": "app-1", "device": "phone"}));
    let laptop = token("b", json!({"azp": "app-1", "device": "laptop"}));
    let phone_other_app = token("c", json!({"azp": "app-2", "device": "phone"}));
    let no_device = token("d", json!({"azp": "app-1"}));
    for token in [&phone, &laptop, &phone_other_app, &no_device] {
        // Seen once before the revocation: the claims memo holds its facts from now on.
        assert_eq!(status_for(&app, "GET", "/me", token).await, StatusCode::OK);
    }

    assert_eq!(
        status_for(&app, "POST", "/logout/device", &phone).await,
        StatusCode::NO_CONTENT
    );
    assert_invalid_token(&app, &phone, "client, tenant or device").await;
    assert_invalid_token(&app, &phone_other_app, "client, tenant or device").await;
    assert_eq!(
        status_for(&app, "GET", "/me", &laptop).await,
        StatusCode::OK
    );
    assert_eq!(
        status_for(&app, "GET", "/me", &no_device).await,
        StatusCode::OK
    );
    // A token without the claim has no device to log out.
    assert_eq!(
        status_for(&app, "POST", "/logout/device", &no_device).await,
        StatusCode::CONFLICT
    );

    // The whole client app, from the engine (an admin action).
    let cutoff = revocations
        .revoke_claim(&ClaimId::new(ISSUER, "azp", "app-1"))
        .await
        .expect("revoke the app");
    for token in [&laptop, &no_device] {
        assert_invalid_token(&app, token, "client, tenant or device").await;
    }
    let facts = revocations
        .inspect(
            &serde_json::from_value(json!({
                "iss": ISSUER, "sub": "bob", "jti": "z", "azp": "app-1",
                "iat": NOW, "exp": NOW + 60,
            }))
            .expect("claims"),
            &json!({"azp": "app-1"}).to_string(),
        )
        .expect("inspects");
    assert_eq!(
        revocations.check(&facts).await.expect("check"),
        Verdict::Revoked(RevocationReason::Claim(cutoff))
    );
}

#[tokio::test]
async fn a_claim_the_cutoffs_cannot_read_is_refused_not_let_through() {
    let (app, _, _) = setup();
    for (value, why) in [
        (
            json!(["phone", "laptop"]),
            "device claim is neither a string nor an integer",
        ),
        (
            json!({"id": "phone"}),
            "device claim is neither a string nor an integer",
        ),
        (
            json!(true),
            "device claim is neither a string nor an integer",
        ),
        (
            json!(1.5),
            "device claim is neither a string nor an integer",
        ),
    ] {
        let token = token("a", json!({ "device": value }));
        assert_invalid_token(&app, &token, why).await;
    }
    // An integer is its digits: the device 42 is the device "42".
    let numeric = token("n", json!({"device": 42}));
    let textual = token("t", json!({"device": "42"}));
    assert_eq!(
        status_for(&app, "POST", "/logout/device", &numeric).await,
        StatusCode::NO_CONTENT
    );
    assert_invalid_token(&app, &textual, "client, tenant or device").await;
    // `null` is no claim at all.
    let null = token("u", json!({"device": null}));
    assert_eq!(status_for(&app, "GET", "/me", &null).await, StatusCode::OK);
}

/// A payload that names a claim twice: which value the issuer meant cannot be known, and
/// the one a cut-off reads might not be the one the application reads.
#[tokio::test]
async fn a_claim_written_twice_is_refused() {
    let (app, _, _) = setup();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(format!(
        r#"{{"iss":"{ISSUER}","sub":"alice","jti":"x","iat":{NOW},"exp":{},"device":"phone","device":"laptop"}}"#,
        NOW + 60
    ));
    let message = format!("{header}.{payload}");
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(SECRET),
        Algorithm::HS256,
    )
    .expect("signs");
    assert_invalid_token(
        &app,
        &format!("{message}.{signature}"),
        "device claim twice",
    )
    .await;
}

#[tokio::test]
async fn a_claim_the_policy_does_not_name_cannot_be_revoked() {
    let clock = clock();
    let revocations = memory_revocations(&clock);
    let layer = hs256_builder(revocations.clone()).build().expect("builds");
    let app = Router::new()
        .route(
            "/logout/device",
            post(
                |Extension(handle): Extension<RevocationHandle>| async move {
                    match handle.revoke_claim("device").await {
                        Err(ClaimRevocationError::NotInPolicy(claim)) if claim == "device" => {
                            StatusCode::BAD_REQUEST
                        }
                        _ => StatusCode::NO_CONTENT,
                    }
                },
            ),
        )
        .layer(layer);
    let phone = token("a", json!({"device": "phone"}));
    // Acknowledging it would be a lie: no check reads a cut-off on `device`.
    assert_eq!(
        status_for(&app, "POST", "/logout/device", &phone).await,
        StatusCode::BAD_REQUEST
    );
    assert!(matches!(
        revocations
            .revoke_claim(&ClaimId::new(ISSUER, "device", "phone"))
            .await,
        Err(ClaimRevocationError::NotInPolicy(_))
    ));
}
