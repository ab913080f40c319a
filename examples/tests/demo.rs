//! The demo's contract, through its router and over a real TCP socket.

mod support;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use jwt_revoke_examples::demo::{self, DemoConfig, ISSUER};
use jwt_revoke_memory::MemoryStore;
use jwt_revoke_tower::jsonwebtoken::{self, Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &[u8] = b"demo test secret";

fn app() -> axum::Router {
    demo::router(DemoConfig::new(
        SECRET.to_vec(),
        Arc::new(MemoryStore::new()),
    ))
    .expect("builds")
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    let body = match body {
        Some(json) => {
            builder = builder.header("content-type", "application/json");
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    let response = app
        .clone()
        .oneshot(builder.body(body).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    (status, json)
}

async fn login(app: &axum::Router, sub: &str) -> String {
    let (status, body) = call(app, "POST", "/login", None, Some(json!({ "sub": sub }))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    body["access_token"].as_str().expect("a token").to_owned()
}

#[tokio::test]
async fn login_issues_the_documented_claims() {
    let app = app();
    let token = login(&app, "alice").await;
    let (status, me) = call(&app, "GET", "/me", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["iss"], ISSUER);
    assert_eq!(me["sub"], "alice");
    assert_eq!(me["jti"].as_str().map(str::len), Some(32));
    assert_eq!(me["sid"].as_str().map(str::len), Some(32));
    let (iat, exp) = (
        me["iat"].as_i64().expect("iat"),
        me["exp"].as_i64().expect("exp"),
    );
    assert_eq!(exp - iat, 900);
    assert!((iat - now()).abs() <= 2, "iat is now");
    // Two logins: two sessions, two token ids.
    let (_, again) = call(&app, "GET", "/me", Some(&login(&app, "alice").await), None).await;
    assert_ne!(again["sid"], me["sid"]);
    assert_ne!(again["jti"], me["jti"]);
}

#[tokio::test]
async fn bad_logins_are_4xx() {
    let app = app();
    assert_eq!(
        call(&app, "POST", "/login", None, Some(json!({ "sub": "" })))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        call(&app, "POST", "/login", None, Some(json!({ "nope": 1 })))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        call(&app, "POST", "/login", None, None).await.0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
}

#[tokio::test]
async fn logout_revokes_only_this_token() {
    let app = app();
    let token = login(&app, "alice").await;
    let other = login(&app, "alice").await;
    assert_eq!(
        call(&app, "POST", "/logout", Some(&token), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app, "GET", "/me", Some(&token), None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, "GET", "/me", Some(&other), None).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn logout_all_revokes_every_token_of_the_user_and_a_new_login_works_at_once() {
    let app = app();
    let first = login(&app, "alice").await;
    let second = login(&app, "alice").await;
    let bob = login(&app, "bob").await;
    assert_eq!(
        call(&app, "POST", "/logout/all", Some(&first), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app, "GET", "/me", Some(&first), None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, "GET", "/me", Some(&second), None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, "GET", "/me", Some(&bob), None).await.0,
        StatusCode::OK
    );
    // Logging in again within the same second must give a token that works.
    let fresh = login(&app, "alice").await;
    assert_eq!(
        call(&app, "GET", "/me", Some(&fresh), None).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn logout_session_revokes_that_session_only() {
    let app = app();
    let token = login(&app, "alice").await;
    let other_session = login(&app, "alice").await;
    assert_eq!(
        call(&app, "POST", "/logout/session", Some(&token), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app, "GET", "/me", Some(&token), None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, "GET", "/me", Some(&other_session), None).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn healthz_needs_no_token_and_protected_routes_do() {
    let app = app();
    assert_eq!(
        call(&app, "GET", "/healthz", None, None).await.0,
        StatusCode::OK
    );
    for (method, path) in [
        ("GET", "/me"),
        ("POST", "/logout"),
        ("POST", "/logout/all"),
        ("POST", "/logout/session"),
    ] {
        assert_eq!(
            call(&app, method, path, None, None).await.0,
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn tokens_minted_elsewhere_with_the_secret_work_until_revoked() {
    let app = app();
    // Only iss, sub and exp: no iat, no jti, no sid.
    let minimal = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({ "iss": ISSUER, "sub": "carol", "exp": now() + 3600 }),
        &EncodingKey::from_secret(SECRET),
    )
    .expect("signs");
    let (status, me) = call(&app, "GET", "/me", Some(&minimal), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["sub"], "carol");
    assert_eq!(
        call(&app, "POST", "/logout", Some(&minimal), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app, "GET", "/me", Some(&minimal), None).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Another issuer, same secret: refused.
    let foreign = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({ "iss": "someone-else", "sub": "carol", "exp": now() + 3600 }),
        &EncodingKey::from_secret(SECRET),
    )
    .expect("signs");
    assert_eq!(
        call(&app, "GET", "/me", Some(&foreign), None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_demo_serves_its_contract_over_tcp() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(axum::serve(listener, app()).into_future());
    support::login_me_logout_over_http(&format!("http://{addr}")).await;
    server.abort();
}
