//! Shared helpers of the layer's behaviour tests: tokens, an app, stores that misbehave.
#![allow(dead_code, unreachable_pub)]

pub mod recorder;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use axum::routing::{get, post};
use axum::{Extension, Router};
use http_body_util::BodyExt;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use jwt_revoke_core::{
    CheckReply, Clock, ManualClock, Policy, RecordKey, RevocationStore, Revocations, StoreError,
    Timestamp, TokenKeys,
};
use jwt_revoke_memory::MemoryStore;
use jwt_revoke_tower::{
    Claims, DecodingKeys, RejectionResponse, RevocationHandle, RevocationLayer,
    RevocationLayerBuilder,
};
use serde_json::{Value, json};
use tower::ServiceExt;

pub const SECRET: &[u8] = b"test secret, long enough for HS256";
pub const ISSUER: &str = "https://issuer.test";
/// The instant every test starts at (2023-11-14T22:13:20Z).
pub const NOW: i64 = 1_700_000_000;

pub fn clock() -> ManualClock {
    ManualClock::new(Timestamp::from_secs(NOW))
}

pub fn policy() -> Policy {
    Policy::new(Duration::from_secs(3600)).with_leeway(Duration::from_secs(0))
}

pub fn revocations_on(
    store: Arc<dyn RevocationStore>,
    clock: &ManualClock,
    policy: Policy,
) -> Revocations {
    Revocations::new(store, policy).with_clock(Arc::new(clock.clone()))
}

pub fn memory_revocations(clock: &ManualClock) -> Revocations {
    let store = MemoryStore::builder()
        .clock(Arc::new(clock.clone()))
        .build();
    revocations_on(Arc::new(store), clock, policy())
}

/// An engine over a memory store on `clock` whose policy gives cut-offs to `claims`.
pub fn claim_revocations(clock: &ManualClock, claims: &[&str]) -> Revocations {
    let store = MemoryStore::builder()
        .clock(Arc::new(clock.clone()))
        .build();
    let policy = policy()
        .with_claim_cutoffs(claims.iter().copied())
        .expect("a valid list of claims");
    revocations_on(Arc::new(store), clock, policy)
}

pub fn hs256_builder(revocations: Revocations) -> RevocationLayerBuilder {
    RevocationLayer::verifying(
        revocations,
        DecodingKeys::new(DecodingKey::from_secret(SECRET)),
        &[Algorithm::HS256],
    )
}

/// Claims of a fresh token issued at `NOW`, living one hour.
pub fn claims(sub: &str, jti: &str) -> Value {
    json!({ "iss": ISSUER, "sub": sub, "jti": jti, "sid": format!("session-of-{sub}"), "iat": NOW, "exp": NOW + 3600 })
}

pub fn sign(claims: &Value) -> String {
    sign_with(claims, Algorithm::HS256, SECRET)
}

pub fn sign_with(claims: &Value, alg: Algorithm, secret: &[u8]) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret))
        .expect("signs")
}

pub fn sign_header(header: &Header, claims: &Value) -> String {
    jsonwebtoken::encode(header, claims, &EncodingKey::from_secret(SECRET)).expect("signs")
}

/// A router with the protected routes the tests use and `/healthz` outside any check.
pub fn app<R>(layer: RevocationLayer<R>) -> Router
where
    R: RejectionResponse<Body> + Send + Sync + 'static,
{
    Router::new()
        .route(
            "/me",
            get(|Extension(claims): Extension<Claims>| async move { claims.json().to_owned() }),
        )
        .route(
            "/logout",
            post(
                |Extension(handle): Extension<RevocationHandle>| async move {
                    match handle.revoke_token().await {
                        Ok(_) => StatusCode::NO_CONTENT,
                        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
                    }
                },
            ),
        )
        .route(
            "/logout/all",
            post(
                |Extension(handle): Extension<RevocationHandle>| async move {
                    match handle.revoke_user().await {
                        Ok(cutoff) => (StatusCode::OK, cutoff.first_valid_iat().to_string()),
                        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, String::new()),
                    }
                },
            ),
        )
        .route(
            "/logout/session",
            post(
                |Extension(handle): Extension<RevocationHandle>| async move {
                    match handle.revoke_session().await {
                        Ok(Some(_)) => StatusCode::NO_CONTENT,
                        Ok(None) => StatusCode::CONFLICT,
                        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
                    }
                },
            ),
        )
        .route("/healthz", get(|| async { "ok" }))
        .layer(layer)
}

pub fn request(method: &str, path: &str, token: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    builder.body(Body::empty()).expect("request")
}

/// The status `app` answers `method path` with `token` as a Bearer token.
pub async fn status_for(app: &Router, method: &str, path: &str, token: &str) -> StatusCode {
    send(app, request(method, path, Some(token))).await.status()
}

pub async fn send(app: &Router, request: Request<Body>) -> Response<Body> {
    app.clone().oneshot(request).await.expect("infallible")
}

pub async fn body_text(response: Response<Body>) -> String {
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8(bytes.to_vec()).expect("utf-8 body")
}

pub fn www_authenticate(response: &Response<Body>) -> &str {
    response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().expect("ascii"))
        .unwrap_or("<absent>")
}

/// The HMAC signature of the signing input `message` (`<header>.<payload>`, any bytes) with
/// `secret` under `alg`, as a compact JWS.
pub fn hmac_signed(message: &str, alg: Algorithm, secret: &[u8]) -> String {
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &EncodingKey::from_secret(secret), alg)
            .expect("signs");
    format!("{message}.{signature}")
}

/// What a client is told for `GET /me` with `token`: status, challenge, body.
pub async fn client_answer(app: &Router, token: &str) -> (StatusCode, String, String) {
    let response = send(app, request("GET", "/me", Some(token))).await;
    let challenge = www_authenticate(&response).to_owned();
    (response.status(), challenge, body_text(response).await)
}

/// Asserts a 401 `invalid_token` whose description contains `why`.
pub async fn assert_invalid_token(app: &Router, token: &str, why: &str) {
    let response = send(app, request("GET", "/me", Some(token))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "for {why}");
    let challenge = www_authenticate(&response).to_owned();
    assert!(
        challenge.starts_with(r#"Bearer error="invalid_token", error_description=""#),
        "{challenge}"
    );
    assert!(challenge.contains(why), "expected {why:?} in {challenge}");
    assert_eq!(
        body_text(response).await,
        "",
        "rejections have an empty body"
    );
}

/// A store that is down: every call fails as unavailable.
#[derive(Debug, Default)]
pub struct DownStore;

#[async_trait]
impl RevocationStore for DownStore {
    async fn check(&self, _: &TokenKeys) -> Result<CheckReply, StoreError> {
        Err(StoreError::unavailable(std::io::Error::other(
            "connection refused",
        )))
    }
    async fn insert_token(&self, _: &TokenKeys, _: Timestamp) -> Result<(), StoreError> {
        Err(StoreError::unavailable(std::io::Error::other(
            "connection refused",
        )))
    }
    async fn remove_token(&self, _: &TokenKeys) -> Result<bool, StoreError> {
        Err(StoreError::unavailable(std::io::Error::other(
            "connection refused",
        )))
    }
    async fn raise_cutoff(
        &self,
        _: RecordKey,
        _: Timestamp,
        _: Timestamp,
    ) -> Result<Timestamp, StoreError> {
        Err(StoreError::unavailable(std::io::Error::other(
            "connection refused",
        )))
    }
}

/// A store that never answers.
#[derive(Debug, Default)]
pub struct HangingStore;

#[async_trait]
impl RevocationStore for HangingStore {
    async fn check(&self, _: &TokenKeys) -> Result<CheckReply, StoreError> {
        std::future::pending().await
    }
    async fn insert_token(&self, _: &TokenKeys, _: Timestamp) -> Result<(), StoreError> {
        std::future::pending().await
    }
    async fn remove_token(&self, _: &TokenKeys) -> Result<bool, StoreError> {
        std::future::pending().await
    }
    async fn raise_cutoff(
        &self,
        _: RecordKey,
        _: Timestamp,
        _: Timestamp,
    ) -> Result<Timestamp, StoreError> {
        std::future::pending().await
    }
}

/// A signing key pair generated for this test run: what an identity provider (or our own
/// issuer with asymmetric keys) signs with.
pub struct KeyPair {
    pub alg: Algorithm,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
}

impl KeyPair {
    /// A fresh RS256 or ES256 key pair.
    pub fn generate(alg: Algorithm) -> Self {
        let rcgen_alg = match alg {
            Algorithm::RS256 => &rcgen::PKCS_RSA_SHA256,
            Algorithm::ES256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            other => panic!("no key generation for {other:?}"),
        };
        let pair = rcgen::KeyPair::generate_for(rcgen_alg).expect("a fresh key pair");
        let (private, public) = (pair.serialize_pem(), pair.public_key_pem());
        let (encoding, decoding) = match alg {
            Algorithm::RS256 => (
                EncodingKey::from_rsa_pem(private.as_bytes()).expect("pkcs8"),
                DecodingKey::from_rsa_pem(public.as_bytes()).expect("spki"),
            ),
            _ => (
                EncodingKey::from_ec_pem(private.as_bytes()).expect("pkcs8"),
                DecodingKey::from_ec_pem(public.as_bytes()).expect("spki"),
            ),
        };
        KeyPair {
            alg,
            encoding,
            decoding,
        }
    }

    /// `claims` signed with this key, typed `typ` (no `typ` header when `None`).
    pub fn sign(&self, typ: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.typ = typ.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("signs")
    }
}

/// Keeps `Clock` in scope for tests that read it.
pub fn now(clock: &ManualClock) -> Timestamp {
    clock.now()
}
