//! Several issuers in one configuration, one of them with keys fetched from a JWKS URL served
//! by the test: each token verified only by its own issuer's keys, from the attacker's side.

mod support;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use jwt_revoke::RevocationLayer;
use jwt_revoke::jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jwt_revoke::jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support::{SECRET, TempDir, now, toml};
use tower::ServiceExt;

const OWN: &str = "https://api.example.test";
const IDP: &str = "https://idp.example.test";

/// An ES256 key of the identity provider, and its public JWK under `kid`.
fn idp_key(kid: &str) -> (EncodingKey, Jwk) {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("a key pair");
    let encoding = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).expect("pkcs8");
    let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).expect("a JWK");
    jwk.common.key_id = Some(kid.to_owned());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    (encoding, jwk)
}

/// Serves `{"keys": [jwk]}` at `/jwks` on a free loopback port; the URL.
async fn serve_jwks(jwk: Jwk) -> String {
    let document = json!({ "keys": [jwk] }).to_string();
    let app = Router::new().route("/jwks", get(move || async move { document.clone() }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let url = format!("http://{}/jwks", listener.local_addr().expect("bound"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn claims(iss: &str, aud: Option<&str>) -> Value {
    let now = now();
    let mut claims = json!({ "iss": iss, "sub": "alice", "jti": format!("t-{iss}"), "iat": now, "exp": now + 600 });
    if let Some(aud) = aud {
        claims["aud"] = json!(aud);
    }
    claims
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jwt_revoke::jsonwebtoken::encode(&header, claims, key).expect("signs")
}

async fn status(layer: &RevocationLayer, token: &str) -> StatusCode {
    let app = Router::new()
        .route("/me", get(|| async { "me" }))
        .layer(layer.clone());
    let request = Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("a request");
    app.oneshot(request).await.expect("infallible").status()
}

#[tokio::test]
async fn two_issuers_from_one_file_each_token_verified_only_by_its_own_issuers_keys() {
    let dir = TempDir::new();
    let secret = dir.write("hs256", SECRET);
    let (idp, jwk) = idp_key("idp-1");
    let jwks_url = serve_jwks(jwk).await;
    let text = format!(
        r#"
[store]
backend = "memory"

[policy]
max_token_lifetime = "1h"

[[issuers]]
iss = "{OWN}"
algorithms = ["HS256"]

[[issuers.keys]]
secret_file = "{secret}"

[[issuers]]
iss = "{IDP}"
algorithms = ["ES256"]
audiences = ["my-api"]
jwks_url = "{jwks_url}"

[issuers.fetch]
allow_http_loopback = true
"#
    );
    let layer = toml(&text)
        .expect("reads")
        .build()
        .await
        .expect("builds: the JWKS is fetched");
    let own_key = EncodingKey::from_secret(SECRET);

    // Each issuer's own tokens work.
    let own = sign(Algorithm::HS256, None, &own_key, &claims(OWN, None));
    assert_eq!(status(&layer, &own).await, StatusCode::OK);
    let theirs = sign(
        Algorithm::ES256,
        Some("idp-1"),
        &idp,
        &claims(IDP, Some("my-api")),
    );
    assert_eq!(status(&layer, &theirs).await, StatusCode::OK);

    // The attacker holds one issuer's key and writes the other's name: refused both ways.
    let forged_own = sign(Algorithm::ES256, Some("idp-1"), &idp, &claims(OWN, None));
    assert_eq!(status(&layer, &forged_own).await, StatusCode::UNAUTHORIZED);
    let forged_idp = sign(
        Algorithm::HS256,
        None,
        &own_key,
        &claims(IDP, Some("my-api")),
    );
    assert_eq!(status(&layer, &forged_idp).await, StatusCode::UNAUTHORIZED);
    // An issuer not listed, or none at all, is refused before any key is tried.
    let stranger = sign(
        Algorithm::HS256,
        None,
        &own_key,
        &claims("https://evil.test", None),
    );
    assert_eq!(status(&layer, &stranger).await, StatusCode::UNAUTHORIZED);
    let mut no_iss = claims(OWN, None);
    no_iss.as_object_mut().expect("an object").remove("iss");
    let no_iss = sign(Algorithm::HS256, None, &own_key, &no_iss);
    assert_eq!(status(&layer, &no_iss).await, StatusCode::UNAUTHORIZED);
    // The IdP's audience rule is its own: a token of it without `my-api` is refused, and the
    // own issuer (no audiences) refuses a token that names one.
    let wrong_aud = sign(
        Algorithm::ES256,
        Some("idp-1"),
        &idp,
        &claims(IDP, Some("other")),
    );
    assert_eq!(status(&layer, &wrong_aud).await, StatusCode::UNAUTHORIZED);
    let own_with_aud = sign(
        Algorithm::HS256,
        None,
        &own_key,
        &claims(OWN, Some("my-api")),
    );
    assert_eq!(
        status(&layer, &own_with_aud).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_jwks_url_that_cannot_be_fetched_fails_the_build_naming_the_setting() {
    let dir = TempDir::new();
    let secret = dir.write("hs256", SECRET);
    let base = format!(
        "[store]\nbackend = \"memory\"\n[policy]\nmax_token_lifetime = \"1h\"\n\
         [[issuers]]\niss = \"{OWN}\"\nalgorithms = [\"HS256\"]\n[[issuers.keys]]\n\
         secret_file = \"{secret}\"\n[[issuers]]\niss = \"{IDP}\"\nalgorithms = [\"ES256\"]\n"
    );
    // Plain HTTP to a host that is not loopback: refused whatever `allow_http_loopback` says.
    let text = format!(
        "{base}jwks_url = \"http://idp.example.test/jwks\"\n[issuers.fetch]\nallow_http_loopback = true\n"
    );
    let err = toml(&text)
        .expect("reads")
        .build()
        .await
        .expect_err("not HTTPS");
    assert_eq!(err.path(), "issuers[1].jwks_url", "{err}");
    assert!(err.to_string().contains("loopback"), "{err}");
    // Nothing listens there: the first fetch fails, and so does the build.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        listener.local_addr().expect("bound").port()
    };
    let text = format!(
        "{base}jwks_url = \"http://127.0.0.1:{closed}/jwks\"\n[issuers.fetch]\nallow_http_loopback = true\n"
    );
    let err = toml(&text)
        .expect("reads")
        .build()
        .await
        .expect_err("unreachable");
    assert_eq!(err.path(), "issuers[1].jwks_url", "{err}");
    assert!(err.to_string().contains("fetching"), "{err}");
    // `fetch` beside configured keys means nothing, and says so.
    let text = format!(
        "[store]\nbackend = \"memory\"\n[policy]\nmax_token_lifetime = \"1h\"\n\
         [[issuers]]\niss = \"{OWN}\"\nalgorithms = [\"HS256\"]\n[issuers.fetch]\n\
         timeout = \"1s\"\n[[issuers.keys]]\nsecret_file = \"{secret}\"\n"
    );
    let err = toml(&text).expect_err("fetch without fetched keys");
    assert!(
        err.to_string()
            .contains("`fetch` says how keys are fetched"),
        "{err}"
    );
}
