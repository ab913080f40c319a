//! End to end: the demo service on a Redis the test starts, a user logged in, the operator's
//! `jwt-revoke revoke user` on that Redis, and the demo then answers 401; a new login works.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use jwt_revoke::StoreConfig;
use jwt_revoke_examples::demo::{self, DemoConfig, ISSUER};
use jwt_revoke_redis::test_support::RedisServer;
use serde_json::{Value, json};
use support::{run, run_with_stdin};
use tower::ServiceExt as _;

const SECRET: &[u8] = b"demo secret for the CLI end-to-end test";

async fn login(app: &axum::Router, sub: &str) -> String {
    let request = Request::post("/login")
        .header("content-type", "application/json")
        .body(Body::from(json!({ "sub": sub }).to_string()))
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .expect("body");
    let body: Value = serde_json::from_slice(&body).expect("json");
    body["access_token"].as_str().expect("a token").to_owned()
}

async fn me(app: &axum::Router, token: &str) -> (StatusCode, String) {
    let request = Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, challenge)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_refuses_a_user_the_operator_revoked_with_the_cli() {
    let server = RedisServer::start();
    let url = server.url();
    let store: StoreConfig = url.parse().expect("a Redis URL");
    let app = demo::router(DemoConfig::new(
        SECRET.to_vec(),
        store.build().await.expect("the Redis store builds"),
    ))
    .expect("the demo builds");

    let alice = login(&app, "alice").await;
    let bob = login(&app, "bob").await;
    assert_eq!(me(&app, &alice).await.0, StatusCode::OK);

    // The operator, with the demo's own policy (tokens live at most 24 h).
    let revoked = run(&[
        "revoke",
        "user",
        "--iss",
        ISSUER,
        "--sub",
        "alice",
        "--store",
        &url,
        "--max-token-lifetime",
        "24h",
        "--json",
    ]);
    assert_eq!(revoked.code, 0, "{revoked:?}");

    let (status, challenge) = me(&app, &alice).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge,
        r#"Bearer error="invalid_token", error_description="the tokens of this user have been revoked""#
    );
    // Bob is untouched; the CLI's check agrees with the demo on both.
    assert_eq!(me(&app, &bob).await.0, StatusCode::OK);
    let check = |token: &str| {
        run_with_stdin(
            &[
                "check",
                "--store",
                &url,
                "--max-token-lifetime",
                "24h",
                "--json",
                "-",
            ],
            token,
        )
    };
    let alice_check = check(&alice);
    assert_eq!(alice_check.code, 3, "{alice_check:?}");
    assert_eq!(alice_check.json()["decision"], "user_cutoff");
    assert_eq!(check(&bob).code, 0);

    // A new login after the revocation works (the demo issues it at the first valid iat).
    let fresh = login(&app, "alice").await;
    assert_eq!(me(&app, &fresh).await.0, StatusCode::OK);
}
