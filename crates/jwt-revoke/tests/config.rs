//! `RevocationConfig` seen from outside: complete files in TOML and JSON that build a layer
//! which accepts a good token and refuses a revoked one, every bad value with the error it
//! gets (naming its setting), and a `Debug` that shows no secret.

mod support;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use jwt_revoke::jsonwebtoken::jwk::{Jwk, JwkSet};
use jwt_revoke::jsonwebtoken::{self, Algorithm, EncodingKey, Header};
use jwt_revoke::{ConfigError, RevocationHandle, RevocationLayer};
use serde_json::json;
use tower::ServiceExt;

use support::{ISSUER, SECRET, TempDir, json, now, toml};

const AUDIENCE: &str = "https://api.example.test";

fn claims(sub: &str, jti: &str) -> serde_json::Value {
    let now = now();
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "jti": jti, "iat": now, "exp": now + 300})
}

fn sign(
    alg: Algorithm,
    kid: Option<&str>,
    key: &EncodingKey,
    claims: &serde_json::Value,
) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).expect("signs")
}

fn hs256(claims: &serde_json::Value) -> String {
    sign(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(SECRET),
        claims,
    )
}

/// A fresh key pair: the private key to sign with, the public key's PEM.
fn key_pair(alg: Algorithm) -> (EncodingKey, String) {
    let rcgen_alg = match alg {
        Algorithm::RS256 => &rcgen::PKCS_RSA_SHA256,
        Algorithm::ES256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        other => panic!("no key generation for {other:?}"),
    };
    let pair = rcgen::KeyPair::generate_for(rcgen_alg).expect("a fresh key pair");
    let private = pair.serialize_pem();
    let encoding = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(private.as_bytes()),
        _ => EncodingKey::from_ec_pem(private.as_bytes()),
    }
    .expect("pkcs8");
    (encoding, pair.public_key_pem())
}

/// The layer in front of `/me`, `/logout` and `/healthz`.
fn app(layer: RevocationLayer) -> Router {
    Router::new()
        .route("/me", get(|| async { "me" }))
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/logout",
            post(|revoke: RevocationHandle| async move {
                match revoke.revoke_token().await {
                    Ok(_) => StatusCode::NO_CONTENT,
                    Err(_) => StatusCode::SERVICE_UNAVAILABLE,
                }
            }),
        )
        .layer(layer)
}

async fn call(app: &Router, method: &str, path: &str, token: Option<&str>) -> StatusCode {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request.body(Body::empty()).expect("a request");
    app.clone()
        .oneshot(request)
        .await
        .expect("infallible")
        .status()
}

/// The token is accepted, logged out, then refused.
async fn accepted_then_refused_once_revoked(app: &Router, token: &str) {
    assert_eq!(call(app, "GET", "/me", Some(token)).await, StatusCode::OK);
    assert_eq!(
        call(app, "POST", "/logout", Some(token)).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(app, "GET", "/me", Some(token)).await,
        StatusCode::UNAUTHORIZED
    );
}

fn complete_toml(secret_file: &str) -> String {
    format!(
        r#"
audiences = ["{AUDIENCE}"]
token_sources = ["bearer", {{ cookie = "access_token" }}, {{ header = "x-access-token" }}]
on_store_failure = "fail_closed"
retry_after = "2s"
max_token_bytes = 4096
claims_memo = 1048576
cache_verified_tokens = 1000

[store]
backend = "memory"
capacity = 10000
sweep_period = "10s"

[policy]
max_token_lifetime = "900s"
leeway = "0s"
issued_at_skew = "1s"
mode = "denylist"
identity = "require_jti"
tokens_without_exp = "3600s"
claim_cutoffs = ["azp", "tenant"]

[bypass]
paths = ["/healthz"]
prefixes = ["/grpc.reflection."]

[[issuers]]
iss = "{ISSUER}"
algorithms = ["HS256"]

[[issuers.keys]]
secret_file = "{secret_file}"
"#
    )
}

#[tokio::test]
async fn a_complete_toml_file_builds_a_layer_that_refuses_a_token_once_revoked() {
    let dir = TempDir::new();
    let secret_file = dir.write("hs256", [SECRET, b"\n"].concat());
    let config = toml(&complete_toml(&secret_file)).expect("a valid file");
    let layer = config.build().await.expect("builds");
    assert_eq!(
        layer.revocations().policy().max_token_lifetime().as_secs(),
        900
    );
    assert_eq!(
        layer.revocations().policy().claim_cutoffs(),
        ["azp", "tenant"]
    );
    let revocations = layer.revocations().clone();
    let app = app(layer);

    let token = hs256(&claims("alice", "t-1"));
    accepted_then_refused_once_revoked(&app, &token).await;
    // Every setting took: the bypass, the audience, the identity rule, the other sources.
    assert_eq!(call(&app, "GET", "/healthz", None).await, StatusCode::OK);
    let mut other_audience = claims("bob", "t-2");
    other_audience["aud"] = json!("https://elsewhere.test");
    assert_eq!(
        call(&app, "GET", "/me", Some(&hs256(&other_audience))).await,
        StatusCode::UNAUTHORIZED
    );
    let mut no_jti = claims("bob", "t-3");
    no_jti.as_object_mut().expect("an object").remove("jti");
    assert_eq!(
        call(&app, "GET", "/me", Some(&hs256(&no_jti))).await,
        StatusCode::UNAUTHORIZED,
        "identity = require_jti"
    );
    let by_cookie = Request::get("/me")
        .header(
            "cookie",
            format!("access_token={}", hs256(&claims("carol", "t-4"))),
        )
        .body(Body::empty())
        .expect("a request");
    let response = app.clone().oneshot(by_cookie).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);

    // claim_cutoffs: every token of one client app, revoked at once; another app's lives.
    let of_app = |sub: &str, jti: &str, azp: &str| {
        let mut claims = claims(sub, jti);
        claims["azp"] = json!(azp);
        hs256(&claims)
    };
    let (leaked, other) = (
        of_app("dan", "t-5", "leaked-app"),
        of_app("dan", "t-6", "web"),
    );
    assert_eq!(
        call(&app, "GET", "/me", Some(&leaked)).await,
        StatusCode::OK
    );
    revocations
        .revoke_claim(&jwt_revoke::ClaimId::new(ISSUER, "azp", "leaked-app"))
        .await
        .expect("the policy names azp");
    assert_eq!(
        call(&app, "GET", "/me", Some(&leaked)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(call(&app, "GET", "/me", Some(&other)).await, StatusCode::OK);
}

#[tokio::test]
async fn the_same_file_in_json_reads_the_same_and_builds_alike() {
    let dir = TempDir::new();
    let secret_file = dir.write("hs256", SECRET);
    let from_toml = toml(&complete_toml(&secret_file)).expect("valid TOML");
    let from_json = json(&format!(
        r#"{{
        "audiences": ["{AUDIENCE}"],
        "token_sources": ["bearer", {{"cookie": "access_token"}}, {{"header": "X-Access-Token"}}],
        "on_store_failure": "fail_closed",
        "retry_after": 2000,
        "max_token_bytes": 4096,
        "claims_memo": 1048576,
        "cache_verified_tokens": 1000,
        "store": {{"backend": "memory", "capacity": 10000, "sweep_period": "10s"}},
        "policy": {{
            "max_token_lifetime": 900000, "leeway": 0, "issued_at_skew": "1000ms",
            "mode": "denylist", "identity": "require_jti", "tokens_without_exp": "3600s",
            "claim_cutoffs": ["azp", "tenant"]
        }},
        "bypass": {{"paths": ["/healthz"], "prefixes": ["/grpc.reflection."]}},
        "issuers": [{{"iss": "{ISSUER}", "algorithms": ["HS256"], "keys": [{{"secret_file": "{secret_file}"}}]}}]
    }}"#
    ))
    .expect("valid JSON");
    assert_eq!(from_json, from_toml);
    let app = app(from_json.build().await.expect("builds"));
    accepted_then_refused_once_revoked(&app, &hs256(&claims("alice", "t-1"))).await;
}

#[tokio::test]
async fn pem_keys_and_an_inline_key_set_verify_their_own_tokens_by_kid() {
    let dir = TempDir::new();
    let (rsa, rsa_pem) = key_pair(Algorithm::RS256);
    let (ec, ec_pem) = key_pair(Algorithm::ES256);
    let (jwks_key, _) = key_pair(Algorithm::ES256);
    let rsa_file = dir.write("rsa.pem", rsa_pem);
    let ec_file = dir.write("ec.pem", ec_pem);
    let mut jwk = Jwk::from_encoding_key(&jwks_key, Algorithm::ES256).expect("a public JWK");
    jwk.common.key_id = Some("from-the-set".into());
    let jwks = serde_json::to_string(&JwkSet { keys: vec![jwk] }).expect("serializes");
    let config = json(&format!(
        r#"{{
        "audiences": ["{AUDIENCE}"],
        "store": {{"backend": "memory"}},
        "policy": {{"max_token_lifetime": "900s"}},
        "issuers": [{{
            "iss": "{ISSUER}",
            "algorithms": ["RS256", "ES256"],
            "keys": [
                {{"jwks": {jwks}}},
                {{"kid": "rsa-1", "pem_file": "{rsa_file}"}},
                {{"kid": "ec-1", "pem_file": "{ec_file}"}}
            ]
        }}]
    }}"#
    ))
    .expect("valid JSON");
    let app = app(config.build().await.expect("builds"));
    for (n, (alg, kid, key)) in [
        (Algorithm::RS256, "rsa-1", &rsa),
        (Algorithm::ES256, "ec-1", &ec),
        (Algorithm::ES256, "from-the-set", &jwks_key),
    ]
    .into_iter()
    .enumerate()
    {
        let token = sign(alg, Some(kid), key, &claims("dave", &format!("t-{n}")));
        accepted_then_refused_once_revoked(&app, &token).await;
    }
    // A key answers for its own kid only.
    let token = sign(
        Algorithm::ES256,
        Some("ec-1"),
        &jwks_key,
        &claims("dave", "t-9"),
    );
    assert_eq!(
        call(&app, "GET", "/me", Some(&token)).await,
        StatusCode::UNAUTHORIZED
    );
}

/// The smallest valid file: a memory store, the required policy, one HS256 issuer.
fn minimal_toml(secret_file: &str) -> String {
    format!(
        r#"
[store]
backend = "memory"

[policy]
max_token_lifetime = "900s"

[[issuers]]
iss = "{ISSUER}"
algorithms = ["HS256"]

[[issuers.keys]]
secret_file = "{secret_file}"
"#
    )
}

const OCT_KEY_SET: &str =
    r#"jwks = { keys = [{ kty = "oct", kid = "shared", k = "c3VwZXItc2VjcmV0LWJ5dGVz" }] }"#;

/// Each (text to replace, replacement, the setting named, what the error says) of the
/// minimal file is refused while reading.
#[test]
fn every_bad_value_is_refused_while_reading_with_its_setting_and_what_is_accepted() {
    let file = "/run/secrets/hs256";
    let base = minimal_toml(file);
    let key_line = format!("secret_file = \"{file}\"");
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "[store]",
            "audience = \"x\"\n[store]",
            "audience",
            "unknown field `audience`",
        ),
        (
            "max_token_lifetime = \"900s\"",
            "max_token_lifetime = \"900s\"\nlevay = \"1s\"",
            "policy.levay",
            "unknown field `levay`",
        ),
        (
            &key_line,
            "jwks_url = \"https://idp.test/jwks\"",
            "issuers[0].keys[0].jwks_url",
            "unknown field `jwks_url`",
        ),
        (
            "max_token_lifetime = \"900s\"",
            "max_token_lifetime = \"900s\"\nleeway = \"soon\"",
            "policy.leeway",
            "invalid duration \"soon\": write e.g. \"250ms\" or \"2s\"",
        ),
        (
            "max_token_lifetime = \"900s\"",
            "max_token_lifetime = \"900s\"\nclaim_cutoffs = [\"azp\", \"exp\"]",
            "policy.claim_cutoffs",
            "the claim \"exp\" cannot have cut-offs",
        ),
        (
            "max_token_lifetime = \"900s\"",
            "max_token_lifetime = \"900s\"\nclaim_cutoffs = [\"a\", \"b\", \"c\", \"d\", \"e\"]",
            "policy.claim_cutoffs",
            "at most 4 claims can have cut-offs, not 5",
        ),
        (
            "max_token_lifetime = \"900s\"",
            "max_token_lifetime = \"900s\"\nclaim_cutoffs = \"azp\"",
            "policy.claim_cutoffs",
            "invalid type",
        ),
        (
            "max_token_lifetime = \"900s\"",
            "max_token_lifetime = \"a while\"",
            "policy.max_token_lifetime",
            "invalid duration \"a while\"",
        ),
        (
            "max_token_lifetime = \"900s\"",
            "max_token_lifetime = 0",
            "policy.max_token_lifetime",
            "a duration of zero is not accepted here",
        ),
        (
            "max_token_lifetime = \"900s\"",
            "leeway = \"1s\"",
            "policy",
            "missing field `max_token_lifetime`",
        ),
        (
            "algorithms = [\"HS256\"]",
            "algorithms = [\"none\"]",
            "issuers[0].algorithms[0]",
            "unknown variant `none`, expected one of `HS256`",
        ),
        (
            "algorithms = [\"HS256\"]",
            "algorithms = []",
            "issuers[0].algorithms",
            "at least one algorithm (e.g. \"RS256\" or \"HS256\") is needed",
        ),
        (
            "max_token_lifetime = \"900s\"",
            "max_token_lifetime = \"900s\"\nmode = \"greylist\"",
            "policy.mode",
            "unknown variant `greylist`, expected `denylist` or `allowlist`",
        ),
        (
            "max_token_lifetime = \"900s\"",
            "max_token_lifetime = \"900s\"\nidentity = \"jti\"",
            "policy.identity",
            "unknown variant `jti`, expected `jti_or_digest` or `require_jti`",
        ),
        (
            "[store]",
            "on_store_failure = \"fail_sideways\"\n[store]",
            "on_store_failure",
            "unknown variant `fail_sideways`, expected `fail_closed` or `fail_open`",
        ),
        (
            "[store]",
            "retry_after = \"later\"\n[store]",
            "retry_after",
            "invalid duration \"later\"",
        ),
        (
            "[store]",
            "token_sources = []\n[store]",
            "token_sources",
            "at least one token source is needed",
        ),
        (
            "[store]",
            "token_sources = [\"basic\"]\n[store]",
            "token_sources[0]",
            "unknown variant `basic`, expected one of `bearer`, `cookie`, `header`",
        ),
        (
            "[store]",
            "token_sources = [{ cookie = \"a b\" }]\n[store]",
            "token_sources[0].cookie",
            "\"a b\" is not a cookie name",
        ),
        (
            "[store]",
            "token_sources = [{ header = \"x token\" }]\n[store]",
            "token_sources[0].header",
            "\"x token\" is not a header name",
        ),
        (
            "[store]",
            "cache_verified_tokens = 0\n[store]",
            "cache_verified_tokens",
            "expected a nonzero usize",
        ),
        (
            "[store]",
            "max_token_bytes = -1\n[store]",
            "max_token_bytes",
            "invalid value: integer `-1`",
        ),
        (
            "[store]",
            "[bypass]\nprefixes = [\"\"]\n[store]",
            "bypass.prefixes",
            "\"\" is not a path: write one that starts with `/`",
        ),
        (
            "[store]",
            "[bypass]\npaths = [\"healthz\"]\n[store]",
            "bypass.paths",
            "\"healthz\" is not a path",
        ),
        (
            "[store]",
            "[bypass]\nexact = [\"/healthz\"]\n[store]",
            "bypass.exact",
            "unknown field `exact`",
        ),
        (
            "backend = \"memory\"",
            "backend = \"postgres\"",
            "store.backend",
            "unknown variant `postgres`, expected `memory` or `redis`",
        ),
        (
            "backend = \"memory\"",
            "backend = \"memory\"\ncapacty = 5",
            "store",
            "unknown field `capacty`",
        ),
        (
            &format!("iss = \"{ISSUER}\""),
            "iss = \"\"",
            "issuers[0].iss",
            "an empty name is not accepted here",
        ),
        (
            &key_line,
            &format!("{key_line}\npem_file = \"/etc/key.pem\""),
            "issuers[0].keys[0]",
            "a key is one of `pem_file`, `secret_file` or `jwks`, not several",
        ),
        (
            &key_line,
            "kid = \"k1\"",
            "issuers[0].keys[0]",
            "a key needs one of `pem_file`, `secret_file` or `jwks`",
        ),
        (
            &key_line,
            r#"kid = "k1"
jwks = { keys = [{ kty = "EC", crv = "P-256", kid = "k1", x = "AAAA", y = "AAAA" }] }"#,
            "issuers[0].keys[0]",
            "a key set's keys carry their own `kid`",
        ),
        (
            &key_line,
            OCT_KEY_SET,
            "issuers[0].keys[0].jwks",
            "the key \"shared\" of the key set is a shared secret (kty \"oct\")",
        ),
        (
            &key_line,
            "jwks = { keys = [] }",
            "issuers[0].keys[0].jwks",
            "the key set has no keys",
        ),
        (
            &format!("[[issuers.keys]]\n{key_line}"),
            "keys = []",
            "issuers",
            "issuers[0]: the issuer needs keys",
        ),
    ];
    for (replace, with, path, why) in cases {
        assert!(base.contains(replace), "the case replaces {replace:?}");
        let text = base.replacen(replace, with, 1);
        let err = toml(&text).expect_err(with);
        assert!(
            matches!(err, ConfigError::Invalid { .. }),
            "{with}: {err:?}"
        );
        assert_eq!(err.path(), *path, "{with}: {err}");
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("{path}: ")),
            "{with}: {message}"
        );
        assert!(message.contains(why), "{with}: {message}");
    }
    // The shared secret of a refused key set is not repeated in the error.
    let text = base.replacen(&key_line, OCT_KEY_SET, 1);
    let err = toml(&text).expect_err("an oct key");
    assert!(
        !err.to_string().contains("c3VwZXItc2VjcmV0LWJ5dGVz"),
        "{err}"
    );
}

#[test]
fn the_issuer_list_holds_issuers_each_once_each_with_one_key_source() {
    let err =
        toml("issuers = []\n[store]\nbackend = \"memory\"\n[policy]\nmax_token_lifetime = 900")
            .expect_err("no issuer");
    assert_eq!(err.path(), "issuers");
    assert!(
        err.to_string().contains("at least one issuer is needed"),
        "{err}"
    );

    let two = format!(
        "{}\n[[issuers]]\niss = \"https://other.test\"\nalgorithms = [\"HS256\"]\n\
         [[issuers.keys]]\nsecret_file = \"/b\"\n",
        minimal_toml("/a")
    );
    toml(&two).expect("two issuers, each with its keys");
    let twice = format!(
        "{}\n[[issuers]]\niss = \"{ISSUER}\"\nalgorithms = [\"HS256\"]\n\
         [[issuers.keys]]\nsecret_file = \"/b\"\n",
        minimal_toml("/a")
    );
    let err = toml(&twice).expect_err("one issuer twice");
    assert_eq!(err.path(), "issuers", "{err}");
    assert!(err.to_string().contains("is listed twice"), "{err}");
    let both = minimal_toml("/a").replace(
        "[[issuers.keys]]",
        "jwks_url = \"https://idp.test/jwks\"\n[[issuers.keys]]",
    );
    let err = toml(&both).expect_err("keys and a JWKS URL");
    assert!(
        err.to_string().contains("give one of `keys`, `jwks_url`"),
        "{err}"
    );

    let err = json(r#"{"store": {"backend": "memory"}, "policy": {"max_token_lifetime": 900}}"#)
        .expect_err("no issuers");
    assert!(err.to_string().contains("missing field `issuers`"), "{err}");
}

/// What only building finds: files, keys against algorithms, settings against each other.
/// Each case is a minimal file changed by `edit`, refused at `path` saying `why`.
#[tokio::test]
async fn what_building_finds_is_refused_with_the_setting_and_never_a_secret() {
    let dir = TempDir::new();
    let short_secret = "short secret 123"; // 16 bytes
    let short = dir.write("short", format!("{short_secret}\n"));
    let forty = dir.write("forty", "x".repeat(40));
    let good = dir.write("good", SECRET);
    let (_, rsa_pem) = key_pair(Algorithm::RS256);
    let rsa = dir.write("rsa.pem", &rsa_pem);
    let private = dir.write(
        "private.pem",
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIHJpdmF0ZSBrZXkgYnl0ZXMgbm90IHJlYWxseSEhIQ==\n-----END PRIVATE KEY-----\n",
    );
    let garbage = dir.write("garbage.pem", "not a key at all");
    let missing = dir.path("missing.pem");

    let cases: Vec<(String, &str, String)> = vec![
        (
            minimal_toml(&good).replace("secret_file", "pem_file"),
            "issuers[0].keys[0].pem_file",
            "holds no RSA, EC (P-256, P-384) or Ed25519 public key in PEM".into(),
        ),
        (
            minimal_toml(&missing).replace("secret_file", "pem_file"),
            "issuers[0].keys[0].pem_file",
            format!("cannot read {missing}: "),
        ),
        (
            minimal_toml(&garbage).replace("secret_file", "pem_file"),
            "issuers[0].keys[0].pem_file",
            format!("{garbage} holds no RSA, EC"),
        ),
        (
            minimal_toml(&private).replace("secret_file", "pem_file"),
            "issuers[0].keys[0].pem_file",
            format!("{private} holds a private key: give the public key"),
        ),
        (
            minimal_toml(&missing),
            "issuers[0].keys[0].secret_file",
            format!("cannot read {missing}: "),
        ),
        (
            // A path to something endless (or a log file) is an error, not an endless read.
            minimal_toml("/dev/zero"),
            "issuers[0].keys[0].secret_file",
            "cannot read /dev/zero: it holds more than 1048576 bytes: not a key".into(),
        ),
        (
            minimal_toml(&short),
            "issuers[0].keys[0].secret_file",
            format!("the secret in {short} is 16 bytes; HS256 needs at least 32 (RFC 7518 §3.2)"),
        ),
        (
            minimal_toml(&forty).replace("[\"HS256\"]", "[\"HS256\", \"HS512\"]"),
            "issuers[0].keys[0].secret_file",
            format!("the secret in {forty} is 40 bytes; HS512 needs at least 64"),
        ),
        (
            // An HS algorithm with an RSA key.
            minimal_toml(&rsa).replace("secret_file", "pem_file"),
            "issuers[0].keys[0].pem_file",
            "an RSA public key verifies none of the issuer's algorithms (HS256): it verifies \
             RS256, RS384, RS512, PS256, PS384, PS512"
                .into(),
        ),
        (
            // An RSA algorithm with an HMAC secret.
            minimal_toml(&good).replace("[\"HS256\"]", "[\"RS256\"]"),
            "issuers[0].keys[0].secret_file",
            "an HMAC secret (secret_file) verifies none of the issuer's algorithms (RS256): it \
             verifies HS256, HS384, HS512"
                .into(),
        ),
        (
            minimal_toml(&good).replace("[\"HS256\"]", "[\"HS256\", \"RS256\"]"),
            "issuers[0].algorithms",
            "no key of this issuer verifies RS256: it needs an RSA public key".into(),
        ),
        (
            format!(
                "{}\n[[issuers.keys]]\nsecret_file = \"{good}\"\n",
                minimal_toml(&good)
            ),
            "issuers[0].keys[1]",
            "two keys without `kid`".into(),
        ),
        (
            format!(
                "{}kid = \"k\"\n[[issuers.keys]]\nkid = \"k\"\nsecret_file = \"{good}\"\n",
                minimal_toml(&good)
            ),
            "issuers[0].keys[1].kid",
            "two keys have the kid \"k\"".into(),
        ),
        (
            format!(
                "{}[[issuers.keys]]\njwks = {{ keys = [{{ kty = \"EC\", crv = \"P-256\", kid = \"e\", x = \"AAAA\", y = \"AAAA\" }}] }}\n",
                minimal_toml(&good)
            ),
            "issuers[0].keys[0]",
            "a key without `kid` cannot sit beside a key set".into(),
        ),
        (
            format!(
                "audiences = [\"a\"]\naccept_any_audience = true\n{}",
                minimal_toml(&good)
            ),
            "accept_any_audience",
            "contradicts `audiences`".into(),
        ),
        (
            format!(
                "on_store_failure = \"fail_open\"\nretry_after = \"5s\"\n{}",
                minimal_toml(&good)
            ),
            "retry_after",
            "no meaning with on_store_failure = \"fail_open\"".into(),
        ),
    ];
    for (text, path, why) in cases {
        let config = toml(&text).unwrap_or_else(|err| panic!("reads: {err}\n{text}"));
        let err = config.build().await.expect_err(&why);
        assert_eq!(err.path(), path, "{err}");
        let message = err.to_string();
        assert!(message.starts_with(&format!("{path}: ")), "{message}");
        assert!(message.contains(&why), "{message}\nwanted: {why}");
        for secret in [short_secret, std::str::from_utf8(SECRET).expect("text")] {
            assert!(!message.contains(secret), "a secret in {message}");
            assert!(!format!("{err:?}").contains(secret), "a secret in {err:?}");
        }
    }
}

#[tokio::test]
async fn an_unreachable_redis_store_is_a_store_error() {
    let dir = TempDir::new();
    let good = dir.write("good", SECRET);
    let text = minimal_toml(&good).replace(
        "backend = \"memory\"",
        "backend = \"redis\"\nurl = \"redis://127.0.0.1:1\"\nconnect_timeout = \"300ms\"",
    );
    let err = toml(&text)
        .expect("reads")
        .build()
        .await
        .expect_err("nothing listens on port 1");
    assert_eq!(err.path(), "store");
    assert!(
        err.to_string()
            .starts_with("store: the Redis revocation store could not be built"),
        "{err}"
    );
}

#[test]
fn an_error_quotes_no_line_of_the_file() {
    let text = minimal_toml("/run/secrets/hs256").replace(
        "backend = \"memory\"",
        "backend = \"redis\"\nurl = \"redis://:pa55word-in-url@cache:6379\"\ntimeout = 0",
    );
    let err = toml(&text).expect_err("a zero timeout");
    assert_eq!(err.path(), "store", "{err}");
    let message = err.to_string();
    assert!(message.contains("zero"), "{message}");
    assert!(message.contains("TOML parse error at line"), "{message}");
    assert!(!message.contains("pa55word-in-url"), "{message}");
    assert!(!message.contains('\n'), "one line: {message}");
}

#[tokio::test]
async fn debug_shows_neither_a_secret_nor_a_redis_password() {
    let dir = TempDir::new();
    let secret_file = dir.write("hs256", SECRET);
    let text = minimal_toml(&secret_file).replace(
        "backend = \"memory\"",
        "backend = \"redis\"\nurl = \"redis://:pa55word-in-url@cache.internal:6379/0\"",
    );
    let config = toml(&text).expect("reads");
    let debug = format!("{config:?}");
    assert!(debug.contains(&secret_file), "the file is named: {debug}");
    assert!(!debug.contains("pa55word-in-url"), "{debug}");
    assert!(
        !debug.contains(std::str::from_utf8(SECRET).expect("text")),
        "{debug}"
    );
    // A layer built from the file shows no secret either.
    let memory = toml(&minimal_toml(&secret_file)).expect("reads");
    let layer = memory.build().await.expect("builds");
    let debug = format!("{layer:?}");
    assert!(
        !debug.contains(std::str::from_utf8(SECRET).expect("text")),
        "{debug}"
    );
}

#[test]
fn the_readme_s_example_file_reads_as_it_says() {
    let readme = include_str!("../../../README.md");
    let section = readme
        .split("## Configuration from one file")
        .nth(1)
        .expect("the README has the section");
    let block = section
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a TOML block");
    let config = toml(block).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(config.issuers[0].iss, "https://auth.example.com");
    assert_eq!(config.issuers[0].algorithms, [Algorithm::RS256]);
    assert_eq!(config.policy.max_token_lifetime.as_secs(), 900);
    assert!(!format!("{config:?}").contains(":password@"), "{config:?}");
}

/// `shadow_mode` lets a revoked token through, counted; a misspelt mode is refused, naming the
/// setting; without it, the revoked token is refused.
#[tokio::test]
async fn shadow_mode_is_chosen_in_the_file_by_name_only() {
    let dir = TempDir::new();
    let secret = dir.write("secret", SECRET);
    let base = minimal_toml(&secret);
    let token = hs256(
        &json!({"iss": ISSUER, "sub": "alice", "jti": "t-shadow", "iat": now(), "exp": now() + 300}),
    );

    let shadow = toml(&format!("shadow_mode = \"revocations\"\n{base}"))
        .expect("reads")
        .build()
        .await
        .expect("builds");
    let stats = shadow.clone();
    let shadow = app(shadow);
    assert_eq!(
        call(&shadow, "POST", "/logout", Some(&token)).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&shadow, "GET", "/me", Some(&token)).await,
        StatusCode::OK
    );
    assert_eq!(stats.stats().would_reject(), 1);

    let err = toml(&format!("shadow_mode = \"on\"\n{base}")).expect_err("not a mode");
    assert_eq!(err.path(), "shadow_mode", "{err}");
    assert!(
        err.to_string().contains("revocations_and_invalid_tokens"),
        "{err}"
    );
}
