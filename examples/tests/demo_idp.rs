//! The demo binary with an external identity provider whose keys it fetches: a JWKS server run
//! by the test (an ES256 P-256 key and an EdDSA Ed25519 key, generated for this run, and a
//! discovery document), the IdP's access tokens at the protected routes and the RFC 7009
//! endpoint beside the demo's own, and its back-channel logouts.

mod support;

use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_revoke_examples::demo::{DEFAULT_IDP_AUDIENCE, ISSUER};
use jwt_revoke_tower::jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse,
};
use jwt_revoke_tower::jsonwebtoken::{self, Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support::RunningDemo;

const SECRET: &str = "demo idp test secret";
const ES_KID: &str = "idp-es256-1";
const ED_KID: &str = "idp-eddsa-1";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

/// A signing key of an identity provider: its private key, its `kid` and algorithm.
struct SigningKey {
    key: EncodingKey,
    /// The raw public key (for Ed25519: the 32 bytes of a JWK's `x`).
    public_raw: Vec<u8>,
    kid: String,
    alg: Algorithm,
}

impl SigningKey {
    /// A fresh ES256 (P-256) or EdDSA (Ed25519) key named `kid`.
    fn generate(alg: Algorithm, kid: &str) -> Self {
        let pair = match alg {
            Algorithm::ES256 => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            Algorithm::EdDSA => rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519),
            other => panic!("no key generation for {other:?} here"),
        }
        .expect("a key pair");
        let pem = pair.serialize_pem();
        let key = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
            _ => EncodingKey::from_ed_pem(pem.as_bytes()),
        }
        .expect("a PKCS#8 key");
        SigningKey {
            key,
            public_raw: pair.public_key_raw().to_vec(),
            kid: kid.to_owned(),
            alg,
        }
    }

    /// Its public half as the IdP publishes it: `kid`, `use: sig`, `alg`.
    fn jwk(&self) -> Jwk {
        let mut jwk = match self.alg {
            // `Jwk::from_encoding_key` reads Ed25519 keys in PKCS#8 v1 only (48 bytes), and
            // rcgen writes v2 (the public key included): the OKP key from its raw public key.
            Algorithm::EdDSA => Jwk {
                common: CommonParameters {
                    key_algorithm: Some(KeyAlgorithm::EdDSA),
                    ..CommonParameters::default()
                },
                algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                    key_type: OctetKeyPairType::OctetKeyPair,
                    curve: EllipticCurve::Ed25519,
                    x: URL_SAFE_NO_PAD.encode(&self.public_raw),
                }),
            },
            _ => Jwk::from_encoding_key(&self.key, self.alg).expect("a public JWK"),
        };
        jwk.common.key_id = Some(self.kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk
    }

    /// `claims` signed with this key, its `kid` in the header (and `typ` when given).
    fn sign(&self, claims: &Value, typ: Option<&str>) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        if let Some(typ) = typ {
            header.typ = Some(typ.to_owned());
        }
        jsonwebtoken::encode(&header, claims, &self.key).expect("signs")
    }
}

/// The identity provider run by the test: its keys and where it serves them.
struct Idp {
    /// `http://127.0.0.1:<port>`: the issuer, and where `/jwks` and the discovery document are.
    base: String,
    es256: SigningKey,
    eddsa: SigningKey,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Idp {
    /// Serves `/jwks` (both keys) and `/.well-known/openid-configuration`, whose `issuer` is
    /// `discovery_issuer(base)` (the base URL itself for an honest provider), on a free port
    /// of the test's runtime.
    async fn start(discovery_issuer: fn(&str) -> String) -> Self {
        let es256 = SigningKey::generate(Algorithm::ES256, ES_KID);
        let eddsa = SigningKey::generate(Algorithm::EdDSA, ED_KID);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        let jwks = Arc::new(JwkSet {
            keys: vec![es256.jwk(), eddsa.jwk()],
        });
        let discovery = Arc::new(json!({
            "issuer": discovery_issuer(&base),
            "jwks_uri": format!("{base}/jwks"),
        }));
        let app = Router::new()
            .route(
                "/jwks",
                get(move || {
                    let jwks = Arc::clone(&jwks);
                    async move { Json(jwks.as_ref().clone()) }
                }),
            )
            .route(
                "/.well-known/openid-configuration",
                get(move || {
                    let discovery = Arc::clone(&discovery);
                    async move { Json(discovery.as_ref().clone()) }
                }),
            );
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the IdP serves");
        });
        Idp {
            base,
            es256,
            eddsa,
            server,
        }
    }

    /// The claims of an access token of this IdP for `audience`, living ten minutes.
    fn access_claims(&self, audience: &str, sub: &str, jti: &str, sid: &str) -> Value {
        json!({
            "iss": self.base, "aud": audience, "sub": sub, "jti": jti, "sid": sid,
            "iat": now(), "exp": now() + 600,
        })
    }
}

/// Starts the demo binary with `env` off the test's runtime thread, so that the runtime keeps
/// serving the IdP while the demo fetches its keys before it listens.
async fn start_demo(env: Vec<(&'static str, String)>) -> RunningDemo {
    tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        support::start_binary(env!("CARGO_BIN_EXE_demo"), "DEMO_ADDR", &env)
    })
    .await
    .expect("the demo starts")
}

/// Runs the demo binary with `env` until it exits (off the runtime thread, which keeps serving
/// the IdP): its output. A demo still running after 30 s is killed and the test fails: it
/// should have refused its settings.
async fn run_to_exit(env: Vec<(&'static str, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_demo"));
        command
            .env("DEMO_ADDR", "127.0.0.1:0")
            .env("DEMO_JWT_SECRET", SECRET)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in &env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the demo binary runs");
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().expect("waits").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let output = child.wait_with_output().expect("the output");
                panic!(
                    "the demo kept running with {env:?}: {}",
                    String::from_utf8_lossy(&output.stdout)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.wait_with_output().expect("the output")
    })
    .await
    .expect("the demo ran")
}

/// The status of `GET /me` with `token`, and its body.
async fn me(client: &reqwest::Client, base: &str, token: &str) -> (u16, Value) {
    let (status, body, _) = me_challenged(client, base, token).await;
    (status, body)
}

/// [`me`], with the `WWW-Authenticate` challenge (empty when there is none).
async fn me_challenged(client: &reqwest::Client, base: &str, token: &str) -> (u16, Value, String) {
    let response = client
        .get(format!("{base}/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("me");
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, challenge)
}

/// Asserts that `token` is refused at `/me` (401) for a reason naming `why`.
async fn assert_refused(client: &reqwest::Client, base: &str, token: &str, why: &str) {
    let (status, body, challenge) = me_challenged(client, base, token).await;
    assert_eq!(status, 401, "{why}: {body}");
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\"") && challenge.contains(why),
        "refused for {why:?}: {challenge}"
    );
}

#[tokio::test]
async fn the_demo_accepts_the_fetched_idps_es256_and_eddsa_tokens_and_revokes_them() {
    let idp = Idp::start(str::to_owned).await;
    let audience = "idp-test-api";
    let demo = start_demo(vec![
        ("DEMO_JWT_SECRET", SECRET.to_owned()),
        ("DEMO_IDP_ISSUER", idp.base.clone()),
        ("DEMO_IDP_JWKS_URL", format!("{}/jwks", idp.base)),
        ("DEMO_IDP_AUDIENCE", audience.to_owned()),
    ])
    .await;
    let base = demo.url.clone();
    let client = reqwest::Client::new();

    let es_claims = idp.access_claims(audience, "erin", "es-1", "es-session");
    let es_token = idp.es256.sign(&es_claims, None);
    let ed_claims = idp.access_claims(audience, "frank", "ed-1", "ed-session");
    let ed_token = idp.eddsa.sign(&ed_claims, None);
    for (token, claims) in [(&es_token, &es_claims), (&ed_token, &ed_claims)] {
        let (status, body) = me(&client, &base, token).await;
        assert_eq!(status, 200, "{body}");
        for claim in ["iss", "sub", "jti", "sid", "iat", "exp"] {
            assert_eq!(body[claim], claims[claim], "{claim} in {body}");
        }
    }

    // Logged out at /logout: refused after.
    let logout = client
        .post(format!("{base}/logout"))
        .bearer_auth(&es_token)
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), 204);
    assert_refused(&client, &base, &es_token, "revoked").await;
    assert_eq!(
        me(&client, &base, &ed_token).await.0,
        200,
        "the other token stands"
    );

    // Revoked at the RFC 7009 endpoint: refused after.
    let revoke = client
        .post(format!("{base}/oauth/revoke"))
        .form(&[("token", &ed_token)])
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoke.status(), 200);
    assert_refused(&client, &base, &ed_token, "revoked").await;

    // The demo's own tokens work beside the IdP's.
    let login: Value = client
        .post(format!("{base}/login"))
        .json(&json!({ "sub": "alice" }))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let own = login["access_token"].as_str().expect("a token");
    let (status, body) = me(&client, &base, own).await;
    assert_eq!(
        (status, body["iss"].as_str()),
        (200, Some(ISSUER)),
        "{body}"
    );
    assert_eq!(body["sub"], "alice");

    // Refused: a key not in the set (under the set's kid, and under a kid it lacks), another
    // audience, and the demo's issuer signed with the IdP's key.
    let stranger = SigningKey::generate(Algorithm::ES256, ES_KID);
    let strangers_claims = idp.access_claims(audience, "mallory", "x-1", "x-session");
    let posing = stranger.sign(&strangers_claims, None);
    let unknown_kid = SigningKey::generate(Algorithm::EdDSA, "not-in-the-set").sign(
        &idp.access_claims(audience, "mallory", "x-2", "x-session"),
        None,
    );
    let other_audience = idp.es256.sign(
        &idp.access_claims("another-api", "erin", "x-3", "x-session"),
        None,
    );
    let mut as_the_demo = idp.access_claims(audience, "alice", "x-4", "x-session");
    as_the_demo["iss"] = json!(ISSUER);
    let as_the_demo = idp.es256.sign(&as_the_demo, None);
    // (The demo's issuer takes HS256 only: the IdP's ES256 is not its algorithm.)
    for (token, why) in [
        (&posing, "signature"),
        (&unknown_kid, "kid"),
        (&other_audience, "audience"),
        (&as_the_demo, "algorithm"),
    ] {
        assert_refused(&client, &base, token, why).await;
    }
}

#[tokio::test]
async fn the_demo_discovers_the_idps_keys_from_its_issuer_and_refuses_a_document_of_another() {
    let idp = Idp::start(str::to_owned).await;
    let demo = start_demo(vec![
        ("DEMO_JWT_SECRET", SECRET.to_owned()),
        ("DEMO_IDP_ISSUER", idp.base.clone()),
        ("DEMO_IDP_DISCOVERY", "on".to_owned()),
    ])
    .await;
    let client = reqwest::Client::new();
    let claims = idp.access_claims(DEFAULT_IDP_AUDIENCE, "grace", "ed-2", "ed-session-2");
    let token = idp.eddsa.sign(&claims, None);
    let (status, body) = me(&client, &demo.url, &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sub"], "grace");
    assert_eq!(body["iss"], idp.base.as_str());
    drop(demo);

    // A discovery document naming another issuer, even one a slash away, stops the demo.
    for other in [
        (|base: &str| format!("{base}/")) as fn(&str) -> String,
        |_: &str| "https://idp.elsewhere.test".to_owned(),
    ] {
        let impostor = Idp::start(other).await;
        let output = run_to_exit(vec![
            ("DEMO_IDP_ISSUER", impostor.base.clone()),
            ("DEMO_IDP_DISCOVERY", "on".to_owned()),
        ])
        .await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "the demo must refuse a discovery document of another issuer: {stderr}"
        );
        assert!(stderr.contains("DEMO_IDP_DISCOVERY"), "{stderr}");
    }
}

#[tokio::test]
async fn a_back_channel_logout_of_the_fetched_idp_ends_its_session() {
    let idp = Idp::start(str::to_owned).await;
    let demo = start_demo(vec![
        ("DEMO_JWT_SECRET", SECRET.to_owned()),
        ("DEMO_IDP_ISSUER", idp.base.clone()),
        ("DEMO_IDP_JWKS_URL", format!("{}/jwks", idp.base)),
    ])
    .await;
    let base = demo.url.clone();
    let client = reqwest::Client::new();
    let ended = idp.eddsa.sign(
        &idp.access_claims(DEFAULT_IDP_AUDIENCE, "heidi", "ed-3", "idp-session-1"),
        None,
    );
    let other = idp.es256.sign(
        &idp.access_claims(DEFAULT_IDP_AUDIENCE, "heidi", "es-3", "idp-session-2"),
        None,
    );
    let (status, body) = me(&client, &base, &ended).await;
    assert_eq!(status, 200, "{body}");
    let sid = body["sid"].as_str().expect("a sid").to_owned();
    assert_eq!(me(&client, &base, &other).await.0, 200);

    let logout = idp.es256.sign(
        &json!({
            "iss": idp.base, "aud": DEFAULT_IDP_AUDIENCE, "iat": now(), "exp": now() + 120,
            "jti": "bcl-idp-1", "sid": sid,
            "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
        }),
        Some("logout+jwt"),
    );
    let response = client
        .post(format!("{base}/backchannel-logout"))
        .form(&[("logout_token", &logout)])
        .send()
        .await
        .expect("back-channel logout");
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    assert_eq!(status, 200, "{body}");
    assert_refused(&client, &base, &ended, "session").await;
    assert_eq!(
        me(&client, &base, &other).await.0,
        200,
        "another session of the same user stands"
    );
}

#[tokio::test]
async fn both_a_jwks_url_and_discovery_stop_the_demo_with_a_clear_message() {
    let idp = Idp::start(str::to_owned).await;
    let output = run_to_exit(vec![
        ("DEMO_IDP_ISSUER", idp.base.clone()),
        ("DEMO_IDP_JWKS_URL", format!("{}/jwks", idp.base)),
        ("DEMO_IDP_DISCOVERY", "on".to_owned()),
    ])
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "the demo must refuse two key sources: {stderr}"
    );
    assert!(
        stderr.contains("DEMO_IDP_JWKS_URL") && stderr.contains("DEMO_IDP_DISCOVERY"),
        "the message names both settings: {stderr}"
    );
}
