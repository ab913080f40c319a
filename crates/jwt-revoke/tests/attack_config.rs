//! Adversarial review of `RevocationConfig`: a careless operator's files must not build a
//! layer that does something else than the file says, and no error or `Debug` may carry a
//! secret. Each test asserts the safe behaviour.

mod support;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use jwt_revoke::jsonwebtoken::{self, Algorithm, EncodingKey, Header};
use jwt_revoke::redis::test_support::{RedisServer, unique_prefix};
use jwt_revoke::{ClaimId, RevocationLayer};
use serde_json::json;
use tower::ServiceExt;

use support::{ISSUER, SECRET, TempDir, json, now, toml};

const PASSWORD: &str = "hunter2-Pa55word";

/// A minimal file: the memory store, one HS256 issuer, `store` and `extra` (TOML lines
/// before the first table) spliced in.
fn minimal(secret_file: &str, store: &str, extra: &str) -> String {
    format!(
        r#"
{extra}

[store]
{store}

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

fn app(layer: RevocationLayer) -> Router {
    Router::new()
        .route("/me", get(|| async { "me" }))
        .route("/admin", get(|| async { "admin" }))
        .layer(layer)
}

async fn call(app: &Router, path: &str, token: Option<&str>) -> StatusCode {
    let mut request = Request::builder().uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    app.clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("infallible")
        .status()
}

fn token(secret: &[u8], extra: serde_json::Value) -> String {
    let now = now();
    let mut claims =
        json!({"iss": ISSUER, "sub": "alice", "jti": "t-1", "iat": now, "exp": now + 300});
    if let (Some(claims), serde_json::Value::Object(extra)) = (claims.as_object_mut(), extra) {
        claims.extend(extra);
    }
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("signs")
}

/// A Redis URL with a password, written where a list or a backend's name goes (a plausible
/// slip), must not come back in the error: errors get logged.
#[test]
fn a_misplaced_redis_url_is_not_quoted_in_the_error() {
    let url = format!("redis://:{PASSWORD}@cache.internal:6379");
    let mut leaks = Vec::new();
    for store in [
        format!("backend = \"redis\"\ncluster_nodes = \"{url}\""),
        format!("backend = \"{url}\""),
        format!("backend = \"redis\"\nurl = [\"{url}\"]"),
    ] {
        let text = minimal("/run/secrets/hs256", &store, "");
        let err = toml(&text).expect_err("a misplaced URL");
        if err.to_string().contains(PASSWORD) || format!("{err:?}").contains(PASSWORD) {
            leaks.push(format!("TOML {store:?}: {err}"));
        }
    }
    let json_text = format!(
        r#"{{"store": {{"backend": "redis", "cluster_nodes": "{url}"}},
            "policy": {{"max_token_lifetime": "900s"}},
            "issuers": [{{"iss": "{ISSUER}", "algorithms": ["HS256"], "keys": [{{"secret_file": "/x"}}]}}]}}"#
    );
    let err = json(&json_text).expect_err("a string for a list");
    if err.to_string().contains(PASSWORD) {
        leaks.push(format!("JSON cluster_nodes: {err}"));
    }
    assert!(
        leaks.is_empty(),
        "the password is in the error:\n{}",
        leaks.join("\n")
    );
}

/// A Redis store that cannot be reached, or whose URL redis cannot read, is an error that
/// does not show the URL's password.
#[tokio::test]
async fn a_redis_build_error_does_not_show_the_password() {
    let dir = TempDir::new();
    let secret = dir.write("hs256", SECRET);
    for url in [
        format!("redis://:{PASSWORD}@127.0.0.1:1"),
        format!("redis://user:{PASSWORD}@127.0.0.1:notaport"),
        format!("redis://:{PASSWORD}@[::1"),
        format!("rediss://:{PASSWORD}@127.0.0.1:1"),
    ] {
        let store = format!("backend = \"redis\"\nurl = \"{url}\"\nconnect_timeout = \"300ms\"");
        let config = toml(&minimal(&secret, &store, "")).expect("reads");
        assert!(!format!("{config:?}").contains(PASSWORD), "{config:?}");
        let err = config.build().await.expect_err("cannot connect");
        assert!(
            !err.to_string().contains(PASSWORD) && !format!("{err:?}").contains(PASSWORD),
            "{url}: {err} / {err:?}"
        );
    }
}

/// An HMAC "secret" that is a PEM public key: whoever has the public key (everyone) can sign
/// HS256 tokens the layer accepts. The file is refused, not used as a secret.
#[tokio::test]
async fn a_secret_file_holding_a_public_key_is_refused() {
    let dir = TempDir::new();
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("a key");
    let public_pem = pair.public_key_pem();
    let file = dir.write("idp-public.pem", &public_pem);
    let config = toml(&minimal(&file, "backend = \"memory\"", "")).expect("reads");
    match config.build().await {
        Err(_) => {}
        Ok(layer) => {
            // What an attacker does with the public key.
            let forged = token(public_pem.trim_end().as_bytes(), json!({}));
            let status = call(&app(layer), "/me", Some(&forged)).await;
            panic!(
                "a PEM public key was taken as an HMAC secret; a token forged with it: {status}"
            );
        }
    }
}

/// An inline key set is "public keys only": a JWK carrying its private part (`d`) puts a
/// private key in a file that gets printed and committed, as a PEM private key would (which
/// `pem_file` refuses). Refused alike.
#[tokio::test]
async fn an_inline_key_set_with_a_private_key_is_refused() {
    // RFC 7517 A.2's P-256 key, private part included.
    let text = json!({
        "store": {"backend": "memory"},
        "policy": {"max_token_lifetime": "900s"},
        "issuers": [{
            "iss": ISSUER,
            "algorithms": ["ES256"],
            "keys": [{"jwks": {"keys": [{
                "kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig", "alg": "ES256",
                "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
                "y": "4Etl6SRW2YilurN5bmB2C9b1TQbhzZqhdq2Pgbwb4r4",
                "d": "870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE"
            }]}}]
        }]
    })
    .to_string();
    let outcome = match json(&text) {
        Err(err) => Err(err),
        Ok(config) => config.build().await.map(drop),
    };
    assert!(
        outcome.is_err(),
        "a private JWK (with \"d\") was accepted in the inline key set"
    );
}

/// `bypass.prefixes = ["/"]` matches every path: the layer would check nothing. The empty
/// prefix is refused for that reason; `/` alike.
#[tokio::test]
async fn a_bypass_prefix_that_matches_every_path_is_refused() {
    let dir = TempDir::new();
    let secret = dir.write("hs256", SECRET);
    let text = format!(
        "{}\n[bypass]\nprefixes = [\"/\"]\n",
        minimal(&secret, "backend = \"memory\"", "")
    );
    let outcome = match toml(&text) {
        Err(err) => Err(err.to_string()),
        Ok(config) => match config.build().await {
            Err(err) => Err(err.to_string()),
            Ok(layer) => Ok(call(&app(layer), "/admin", None).await),
        },
    };
    assert!(
        outcome.is_err(),
        "prefixes = [\"/\"] accepted: /admin without a token answers {outcome:?}"
    );
}

/// Every algorithm the file allows must be verified by some key the layer will use: a key of
/// the key set that the layer leaves out (for encryption, or stating another algorithm)
/// does not count.
#[tokio::test]
async fn an_algorithm_only_a_left_out_key_would_verify_is_refused() {
    let ed = json!({
        "kty": "OKP", "crv": "Ed25519", "kid": "ed",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    });
    let ec = |extra: serde_json::Value| {
        let mut key = json!({
            "kty": "EC", "crv": "P-256", "kid": "ec",
            "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
            "y": "4Etl6SRW2YilurN5bmB2C9b1TQbhzZqhdq2Pgbwb4r4"
        });
        key.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        key
    };
    let mut built = Vec::new();
    for (why, left_out) in [
        ("an encryption key", ec(json!({"use": "enc"}))),
        ("a key stating ES384", ec(json!({"alg": "ES384"}))),
        (
            "a key for encrypting only",
            ec(json!({"key_ops": ["encrypt"]})),
        ),
    ] {
        let text = json!({
            "store": {"backend": "memory"},
            "policy": {"max_token_lifetime": "900s"},
            "issuers": [{
                "iss": ISSUER,
                "algorithms": ["EdDSA", "ES256"],
                "keys": [{"jwks": {"keys": [ed.clone(), left_out]}}]
            }]
        })
        .to_string();
        let config = json(&text).expect("reads");
        if config.build().await.is_ok() {
            built.push(why);
        }
    }
    assert!(
        built.is_empty(),
        "ES256 is allowed but its only key is left out by the layer, built anyway: {built:?}"
    );
}

/// Local replica + allowlist: the replica's own docs say to set `confirm_missing_tokens` in
/// allowlist mode, else a token registered on another instance is refused until it arrives.
/// A file that combines them without it is refused before connecting.
#[tokio::test]
async fn an_allowlist_on_a_replica_that_does_not_confirm_missing_tokens_is_refused() {
    let dir = TempDir::new();
    let secret = dir.write("hs256", SECRET);
    let store = "backend = \"redis\"\nurl = \"redis://127.0.0.1:1\"\nconnect_timeout = \"300ms\"\nlocal_replica = {}";
    let text = minimal(&secret, store, "").replace(
        "max_token_lifetime = \"900s\"",
        "max_token_lifetime = \"900s\"\nmode = \"allowlist\"",
    );
    let err = toml(&text)
        .expect("reads")
        .build()
        .await
        .expect_err("port 1");
    assert_ne!(
        err.path(),
        "store",
        "the contradiction is not seen; the build failed only on connecting: {err}"
    );
}

/// Probes that held: each of these is refused, with its setting named.
#[tokio::test]
async fn careless_files_that_are_refused() {
    let dir = TempDir::new();
    let secret = dir.write("hs256", SECRET);
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("a key");
    let pem = dir.write("ec.pem", pair.public_key_pem());
    let private = dir.write("ec-private.pem", pair.serialize_pem());
    let base = minimal(&secret, "backend = \"memory\"", "");
    for (what, text) in [
        ("alg none", base.replace("[\"HS256\"]", "[\"none\"]")),
        ("alg None", base.replace("[\"HS256\"]", "[\"None\"]")),
        ("lowercase hs256", base.replace("[\"HS256\"]", "[\"hs256\"]")),
        ("an HS secret for RS256", base.replace("[\"HS256\"]", "[\"RS256\"]")),
        (
            "an EC key for HS256",
            base.replace(&format!("secret_file = \"{secret}\""), &format!("pem_file = \"{pem}\"")),
        ),
        (
            "a private PEM",
            base.replace("[\"HS256\"]", "[\"ES256\"]").replace(
                &format!("secret_file = \"{secret}\""),
                &format!("pem_file = \"{private}\""),
            ),
        ),
        ("an empty issuer", base.replace(&format!("iss = \"{ISSUER}\""), "iss = \"\"")),
        ("a memory store's typo", base.replace("backend = \"memory\"", "backend = \"memory\"\ncapcity = 5")),
        (
            "a memory store with a url",
            base.replace("backend = \"memory\"", "backend = \"memory\"\nurl = \"redis://r\""),
        ),
        ("a policy typo", base.replace("[policy]", "[policy]\nleway = \"30s\"")),
        (
            "an unknown top-level key",
            minimal(&secret, "backend = \"memory\"", "audience = [\"x\"]"),
        ),
        (
            "claim_cutoffs on exp",
            base.replace("[policy]", "[policy]\nclaim_cutoffs = [\"exp\"]"),
        ),
        (
            "claim_cutoffs twice",
            base.replace("[policy]", "[policy]\nclaim_cutoffs = [\"azp\", \"azp\"]"),
        ),
        (
            "a cut-off on sub",
            base.replace("[policy]", "[policy]\nclaim_cutoffs = [\"sub\"]"),
        ),
        (
            "a secret that is too short",
            base.replace(&secret, &dir.write("short", "short secret\n")),
        ),
        (
            "a missing secret file",
            base.replace(&secret, "/nonexistent/secret"),
        ),
        (
            "an inline oct key",
            base.replace(
                &format!("secret_file = \"{secret}\""),
                r#"jwks = { keys = [{ kty = "oct", kid = "s", k = "c3VwZXItc2VjcmV0LWJ5dGVzLXN1cGVyLXNlY3JldC1ieXRlcw" }] }"#,
            ),
        ),
        (
            "fail_open with a retry_after",
            minimal(&secret, "backend = \"memory\"", "on_store_failure = \"fail_open\"\nretry_after = \"2s\""),
        ),
        (
            "a negative leeway",
            base.replace("[policy]", "[policy]\nleeway = -1"),
        ),
        (
            "an empty prefix",
            format!("{base}\n[bypass]\nprefixes = [\"\"]\n"),
        ),
    ] {
        let outcome = match toml(&text) {
            Err(err) => Err(err),
            Ok(config) => config.build().await.map(drop),
        };
        let err = outcome.expect_err(what);
        let message = err.to_string();
        assert!(
            !message.contains(std::str::from_utf8(SECRET).expect("text")),
            "{what}: {message}"
        );
        assert!(!message.contains("BEGIN"), "{what}: {message}");
    }
}

/// `claim_cutoffs` in the file reach the policy, end to end on one Redis server (with and
/// without a local replica): a client app revoked by the engine is refused at the next
/// request, and another app is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_cutoffs_from_the_file_revoke_through_redis() {
    let server = RedisServer::start();
    let dir = TempDir::new();
    let secret = dir.write("hs256", SECRET);
    for replica in [
        "",
        "local_replica = { max_staleness = \"500ms\", heartbeat = \"50ms\" }",
    ] {
        let prefix = unique_prefix();
        let store = format!(
            "backend = \"redis\"\nurl = \"{}\"\nkey_prefix = \"{}\"\nallow_evicting_server = true\n{replica}",
            server.url(),
            prefix.as_str()
        );
        let text = minimal(&secret, &store, "").replace(
            "[policy]",
            "[policy]\nclaim_cutoffs = [\"azp\", \"tenant\"]",
        );
        let layer = toml(&text).expect("reads").build().await.expect("builds");
        let revocations = layer.revocations().clone();
        let app = app(layer);
        let app1 = token(SECRET, json!({"azp": "app-1", "tenant": 7}));
        let app2 = token(SECRET, json!({"azp": "app-2", "tenant": 8}));
        assert_eq!(call(&app, "/me", Some(&app1)).await, StatusCode::OK);
        assert_eq!(call(&app, "/me", Some(&app2)).await, StatusCode::OK);
        revocations
            .revoke_claim(&ClaimId::new(ISSUER, "tenant", "7"))
            .await
            .expect("revokes");
        assert_eq!(
            call(&app, "/me", Some(&app1)).await,
            StatusCode::UNAUTHORIZED,
            "replica: {replica:?}"
        );
        assert_eq!(call(&app, "/me", Some(&app2)).await, StatusCode::OK);
        revocations
            .revoke_claim(&ClaimId::new(ISSUER, "azp", "app-2"))
            .await
            .expect("revokes");
        assert_eq!(
            call(&app, "/me", Some(&app2)).await,
            StatusCode::UNAUTHORIZED,
            "replica: {replica:?}"
        );
    }
}

/// A store URL with a slip in its scheme (`REVOCATION_STORE`, `StoreConfig::from_str`) is
/// refused, and the refusal must not print the password it carries.
#[test]
fn a_mistyped_store_url_is_refused_without_its_password() {
    let mut leaks = Vec::new();
    for value in [
        format!("redis//:{PASSWORD}@cache.internal:6379"),
        format!("redis:/:{PASSWORD}@cache.internal:6379"),
        format!("http://:{PASSWORD}@cache.internal:6379"),
        format!("redis://a:6379,cache://:{PASSWORD}@b:6379"),
    ] {
        let err = value
            .parse::<jwt_revoke::StoreConfig>()
            .expect_err("not a store URL");
        if err.to_string().contains(PASSWORD) || format!("{err:?}").contains(PASSWORD) {
            leaks.push(format!("{value:?}: {err}"));
        }
    }
    assert!(
        leaks.is_empty(),
        "the password is in the error:\n{}",
        leaks.join("\n")
    );
}
