//! The demo's event endpoints: RFC 7009 at `POST /oauth/revoke` and OpenID Connect
//! back-channel logout at `POST /backchannel-logout`, from an identity provider whose RS256 key
//! is generated for this run.

mod support;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use jwt_revoke_examples::demo::{self, DEFAULT_IDP_AUDIENCE, DemoConfig, IdpConfig, IdpKeys};
use jwt_revoke_memory::MemoryStore;
use jwt_revoke_tower::jsonwebtoken::{self, Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &[u8] = b"demo events test secret";
const IDP: &str = "https://idp.demo.test";

/// An identity provider's RS256 key pair: (private PEM, public PEM).
fn idp_key() -> (String, String) {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("a key pair");
    (pair.serialize_pem(), pair.public_key_pem())
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

fn logout_token(private_pem: &str, jti: &str, sub: Option<&str>, sid: Option<&str>) -> String {
    let mut claims = json!({
        "iss": IDP, "aud": DEFAULT_IDP_AUDIENCE, "iat": now(), "exp": now() + 120, "jti": jti,
        "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
    });
    if let Some(sub) = sub {
        claims["sub"] = json!(sub);
    }
    if let Some(sid) = sid {
        claims["sid"] = json!(sid);
    }
    let mut header = Header::new(Algorithm::RS256);
    header.typ = Some("logout+jwt".into());
    let key = EncodingKey::from_rsa_pem(private_pem.as_bytes()).expect("pkcs8");
    jsonwebtoken::encode(&header, &claims, &key).expect("signs")
}

fn app(public_pem: &str) -> axum::Router {
    let config = DemoConfig::new(SECRET, Arc::new(MemoryStore::new())).with_idp(IdpConfig {
        issuer: IDP.to_owned(),
        keys: IdpKeys::PublicKeyPem(public_pem.as_bytes().to_vec()),
        audience: DEFAULT_IDP_AUDIENCE.to_owned(),
    });
    demo::router(config).expect("the demo builds")
}

async fn call(app: &axum::Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn login(app: &axum::Router, sub: &str) -> (String, String) {
    let request = Request::post("/login")
        .header("content-type", "application/json")
        .body(Body::from(json!({ "sub": sub }).to_string()))
        .expect("request");
    let (status, body) = call(app, request).await;
    assert_eq!(status, StatusCode::OK);
    let token = body["access_token"].as_str().expect("a token").to_owned();
    let (_, me) = call(app, bearer("GET", "/me", &token)).await;
    (token, me["sid"].as_str().expect("a sid").to_owned())
}

fn bearer(method: &str, path: &str, token: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request")
}

fn form(path: &str, body: String) -> Request<Body> {
    Request::post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request")
}

#[tokio::test]
async fn a_back_channel_logout_ends_the_demo_session_it_names() {
    let (private, public) = idp_key();
    let app = app(&public);
    let (token, sid) = login(&app, "alice").await;
    let (other, _) = login(&app, "alice").await;
    let logout = logout_token(&private, "bcl-1", Some("alice"), Some(&sid));
    let (status, _) = call(
        &app,
        form("/backchannel-logout", format!("logout_token={logout}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        call(&app, bearer("GET", "/me", &token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, bearer("GET", "/me", &other)).await.0,
        StatusCode::OK,
        "another session"
    );
    // The same logout token again: a replay.
    let (status, body) = call(
        &app,
        form("/backchannel-logout", format!("logout_token={logout}")),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
    // A token signed by anyone else is refused.
    let (stranger, _) = idp_key();
    let forged = logout_token(&stranger, "bcl-2", Some("alice"), None);
    let (status, body) = call(
        &app,
        form("/backchannel-logout", format!("logout_token={forged}")),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        call(&app, bearer("GET", "/me", &other)).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_demo_revokes_a_token_posted_to_its_rfc_7009_endpoint() {
    let (_, public) = idp_key();
    let app = app(&public);
    let (token, _) = login(&app, "bob").await;
    let (status, _) = call(&app, form("/oauth/revoke", format!("token={token}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        call(&app, bearer("GET", "/me", &token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = call(&app, form("/oauth/revoke", "token=not-a-token".into())).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "RFC 7009: unknown tokens are no error"
    );
    let (status, body) = call(&app, form("/oauth/revoke", String::new())).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
}

#[tokio::test]
async fn the_demo_binary_takes_its_identity_provider_from_the_environment() {
    let (private, public) = idp_key();
    let dir = std::env::temp_dir().join(format!("jwt-revoke-idp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let key_file = dir.join("idp.pem");
    std::fs::write(&key_file, &public).expect("writes the key");
    let key_path = key_file.to_string_lossy().into_owned();
    let demo = support::start_binary(
        env!("CARGO_BIN_EXE_demo"),
        "DEMO_ADDR",
        &[
            ("DEMO_JWT_SECRET", "binary events secret"),
            ("DEMO_IDP_ISSUER", IDP),
            ("DEMO_IDP_PUBLIC_KEY", &key_path),
        ],
    );
    let base = demo.url.clone();
    let token = support::token(b"binary events secret", "carol", "t-1");
    let client = reqwest::Client::new();
    let logout = logout_token(&private, "bcl-3", None, Some("session-t-1"));
    let response = client
        .post(format!("{base}/backchannel-logout"))
        .form(&[("logout_token", logout)])
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status(), 200);
    let me = client
        .get(format!("{base}/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 401);
    drop(demo);
    let _ = std::fs::remove_dir_all(&dir);
}
