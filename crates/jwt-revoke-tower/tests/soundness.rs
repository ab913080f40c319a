//! The holes a security review found, each tried from the attacker's side: the forged request,
//! the clock, the escaped byte. Every test here failed before its fix.

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, Version};
use axum::middleware::{self, Next};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use jwt_revoke_core::{Policy, Revocations, StoreError, Timestamp, TokenKeys, UserId};
use jwt_revoke_tower::events::RevocationEndpoint;
use jwt_revoke_tower::{Claims, DecodingKeys, RevocationLayer, StoreFailure};
use serde_json::{Value, json};
use support::*;

// ---- 1. Signature malleability ------------------------------------------------------------

/// The order of the P-256 group, big-endian.
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// `n - s` for a big-endian `s < n`.
fn negate_mod_order(s: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut digit = i16::from(P256_ORDER[i]) - i16::from(s[i]) - borrow;
        borrow = i16::from(digit < 0);
        if digit < 0 {
            digit += 256;
        }
        out[i] = u8::try_from(digit).expect("a byte");
    }
    out
}

/// The same ES256 token with its other valid signature: `(r, s)` becomes `(r, n - s)`.
fn with_other_ecdsa_signature(token: &str) -> String {
    let (signed, signature) = token.rsplit_once('.').expect("three segments");
    let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
    assert_eq!(signature.len(), 64, "an ES256 signature is r || s");
    let mut flipped = signature[..32].to_vec();
    flipped.extend(negate_mod_order(&signature[32..]));
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(flipped))
}

fn es256_app(keys: &KeyPair, clock: &jwt_revoke_core::ManualClock) -> axum::Router {
    let layer = RevocationLayer::verifying(
        memory_revocations(clock),
        DecodingKeys::new(keys.decoding.clone()),
        &[Algorithm::ES256],
    )
    .build()
    .expect("builds");
    let endpoint = RevocationEndpoint::new(&layer).expect("a verifying layer");
    app(layer).route_service("/oauth/revoke", endpoint)
}

fn revoke_form(token: &str) -> Request<Body> {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("token", token)
        .finish();
    Request::post("/oauth/revoke")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request")
}

async fn status_of(app: &axum::Router, token: &str) -> StatusCode {
    send(app, request("GET", "/me", Some(token))).await.status()
}

#[tokio::test]
async fn the_other_ecdsa_signature_of_a_token_revoked_by_digest_is_refused() {
    let keys = KeyPair::generate(Algorithm::ES256);
    let clock = clock();
    let mut no_jti = claims("alice", "unused");
    no_jti.as_object_mut().expect("object").remove("jti");
    let token = keys.sign(None, &no_jti);
    let twin = with_other_ecdsa_signature(&token);
    assert_ne!(token, twin);
    // Without any revocation both signatures verify: the twin is a working token.
    let fresh = es256_app(&keys, &clock);
    assert_eq!(status_of(&fresh, &twin).await, StatusCode::OK);

    // Revoked by logout, then by RFC 7009: the twin must be refused as well.
    let app = es256_app(&keys, &clock);
    assert_eq!(
        status_for(&app, "POST", "/logout", &token).await,
        StatusCode::NO_CONTENT
    );
    assert_invalid_token(&app, &token, "the token has been revoked").await;
    assert_invalid_token(&app, &twin, "the token has been revoked").await;

    let app = es256_app(&keys, &clock);
    assert_eq!(
        send(&app, revoke_form(&twin)).await.status(),
        StatusCode::OK
    );
    assert_invalid_token(&app, &token, "the token has been revoked").await;
    assert_invalid_token(&app, &twin, "the token has been revoked").await;
}

/// Every re-encoding of a token's segments an attacker can make without the key.
fn reencodings(token: &str) -> Vec<String> {
    let segments: Vec<&str> = token.split('.').collect();
    let mut variants = Vec::new();
    for index in 0..3 {
        let segment = segments[index];
        let mut with = |replacement: String| {
            let mut parts: Vec<String> = segments.iter().map(|s| (*s).to_owned()).collect();
            parts[index] = replacement;
            variants.push(parts.join("."));
        };
        // base64 padding, as a lenient decoder would accept it
        with(format!("{segment}="));
        with(format!("{segment}=="));
        // the spare low bits of the last character set
        let (head, last) = segment.split_at(segment.len() - 1);
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let value = alphabet
            .iter()
            .position(|&c| c == last.as_bytes()[0])
            .expect("base64url");
        for spare in 1..4 {
            let changed = alphabet[(value ^ spare) & 63] as char;
            with(format!("{head}{changed}"));
        }
        // the standard alphabet instead of the URL-safe one
        with(segment.replace('-', "+").replace('_', "/"));
    }
    variants.retain(|variant| variant != token);
    variants
}

#[tokio::test]
async fn no_reencoding_of_a_revoked_token_is_accepted() {
    let keys = KeyPair::generate(Algorithm::ES256);
    let clock = clock();
    let app = es256_app(&keys, &clock);
    let mut no_jti = claims("alice", "unused");
    no_jti.as_object_mut().expect("object").remove("jti");
    let token = keys.sign(None, &no_jti);
    assert_eq!(
        send(&app, revoke_form(&token)).await.status(),
        StatusCode::OK
    );
    for variant in reencodings(&token)
        .into_iter()
        .chain(reencodings(&with_other_ecdsa_signature(&token)))
    {
        assert_eq!(
            status_of(&app, &variant).await,
            StatusCode::UNAUTHORIZED,
            "{variant}"
        );
    }
}

// ---- 2. Claims verified upstream ----------------------------------------------------------

/// An upstream authentication layer: verifies the `at` cookie and hands its claims on.
async fn verify_cookie_upstream(
    mut request: axum::extract::Request,
    next: Next,
) -> axum::response::Response {
    let cookie = request
        .headers()
        .get("cookie")
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.strip_prefix("at="))
        .map(str::to_owned);
    if let Some(token) = cookie {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        if jsonwebtoken::decode::<Value>(&token, &DecodingKey::from_secret(SECRET), &validation)
            .is_ok()
        {
            let payload = token.split('.').nth(1).expect("a payload");
            let payload = URL_SAFE_NO_PAD.decode(payload).expect("base64url");
            let payload = String::from_utf8(payload).expect("utf-8");
            request
                .extensions_mut()
                .insert(Claims::from_verified_json(&payload).expect("claims"));
        }
    }
    next.run(request).await
}

fn upstream_app(revocations: Revocations, read_cookie_too: bool) -> axum::Router {
    let mut builder = RevocationLayer::claims_verified_upstream(revocations);
    if read_cookie_too {
        builder = builder.token_from_cookie("at");
    }
    app(builder.build().expect("builds")).layer(middleware::from_fn(verify_cookie_upstream))
}

fn cookie_request(method: &str, path: &str, cookie: &str, bearer: Option<&str>) -> Request<Body> {
    let mut request = request(method, path, bearer);
    request
        .headers_mut()
        .insert("cookie", format!("at={cookie}").parse().expect("a header"));
    request
}

/// `token`'s payload behind another header, with a signature of nothing.
fn forged_beside(token: &str) -> String {
    let payload = token.split('.').nth(1).expect("a payload");
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT", "alg":"HS256"}"#);
    format!("{header}.{payload}.AAAA")
}

#[tokio::test]
async fn a_forged_bearer_beside_a_revoked_cookie_verified_upstream_is_refused() {
    let clock = clock();
    let mut no_jti = claims("alice", "unused");
    no_jti.as_object_mut().expect("object").remove("jti");
    let token = sign(&no_jti);
    let same_header_forgery = format!("{}.AAAA", token.rsplit_once('.').expect("segments").0);

    // The layer reads the Bearer header and the cookie: two different tokens are ambiguous.
    let app = upstream_app(memory_revocations(&clock), true);
    let logout = send(&app, cookie_request("POST", "/logout", &token, None)).await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    for forged in [&same_header_forgery, &forged_beside(&token)] {
        let response = send(&app, cookie_request("GET", "/me", &token, Some(forged))).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{forged}");
        assert!(
            www_authenticate(&response).contains("invalid_request"),
            "{}",
            www_authenticate(&response)
        );
    }

    // The layer reads only the Bearer header, the upstream layer only the cookie: the identity
    // is what was verified, however the forged bearer's header is written.
    let app = upstream_app(memory_revocations(&clock), false);
    let logout = send(
        &app,
        cookie_request("POST", "/logout", &token, Some(&token)),
    )
    .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    for forged in [&same_header_forgery, &forged_beside(&token)] {
        let response = send(&app, cookie_request("GET", "/me", &token, Some(forged))).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{forged}");
    }
}

#[tokio::test]
async fn two_different_cookies_of_the_tokens_name_are_a_bad_request() {
    let clock = clock();
    let layer = hs256_builder(memory_revocations(&clock))
        .token_sources([])
        .token_from_cookie("at")
        .build()
        .expect("builds");
    let app = app(layer);
    let good = sign(&claims("alice", "t1"));
    let other = sign(&claims("bob", "t2"));
    let with_cookies = |cookies: &str| {
        let mut request = request("GET", "/me", None);
        request
            .headers_mut()
            .insert("cookie", cookies.parse().expect("a header"));
        request
    };
    let response = send(&app, with_cookies(&format!("at={good}; at={other}"))).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = send(&app, with_cookies(&format!("at={good}; at=garbage"))).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // The same token twice is no ambiguity.
    let response = send(&app, with_cookies(&format!("at={good}; at={good}"))).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_bearer_token_and_a_different_cookie_are_a_bad_request_when_verifying_too() {
    let clock = clock();
    let layer = hs256_builder(memory_revocations(&clock))
        .token_from_cookie("at")
        .build()
        .expect("builds");
    let app = app(layer);
    let good = sign(&claims("alice", "t1"));
    let other = sign(&claims("bob", "t2"));
    let response = send(&app, cookie_request("GET", "/me", &other, Some(&good))).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = send(&app, cookie_request("GET", "/me", &good, Some(&good))).await;
    assert_eq!(response.status(), StatusCode::OK);
}

// ---- 3. A rejection that reads as success --------------------------------------------------

fn grpc_like(version: Version, content_type: &str, token: Option<&str>) -> Request<Body> {
    let mut request = request("POST", "/me", token);
    *request.version_mut() = version;
    request
        .headers_mut()
        .insert("content-type", content_type.parse().expect("a header"));
    request
        .headers_mut()
        .insert("te", "trailers".parse().expect("a header"));
    request
}

#[tokio::test]
async fn over_http_1_a_grpc_content_type_never_turns_a_rejection_into_a_2xx() {
    let clock = clock();
    let revocations = memory_revocations(&clock);
    let app = app(hs256_builder(revocations.clone()).build().expect("builds"));
    let revoked = sign(&claims("alice", "t1"));
    revocations
        .revoke_user(&UserId::new(ISSUER, "alice"))
        .await
        .expect("revokes");
    for version in [Version::HTTP_10, Version::HTTP_11] {
        for content_type in [
            "application/grpc",
            "application/grpc+proto",
            "Application/GRPC",
        ] {
            for token in [None, Some("garbage"), Some(revoked.as_str())] {
                let response = send(&app, grpc_like(version, content_type, token)).await;
                assert_eq!(
                    response.status(),
                    StatusCode::UNAUTHORIZED,
                    "{version:?} {content_type} {token:?}"
                );
            }
        }
    }
    // Over HTTP/2 a gRPC client is talking: the trailers-only gRPC form.
    let response = send(&app, grpc_like(Version::HTTP_2, "application/grpc", None)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["grpc-status"], "16");
    // Without `te: trailers` it is no gRPC client (a proxy's auth subrequest over HTTP/2).
    let mut no_te = grpc_like(Version::HTTP_2, "application/grpc", None);
    no_te.headers_mut().remove("te");
    assert_eq!(send(&app, no_te).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn grpc_web_gets_an_http_error_with_the_grpc_status_beside_it() {
    let clock = clock();
    let app = app(hs256_builder(memory_revocations(&clock))
        .build()
        .expect("builds"));
    for version in [Version::HTTP_11, Version::HTTP_2] {
        for content_type in ["application/grpc-web", "application/grpc-web-text+proto"] {
            let response = send(&app, grpc_like(version, content_type, None)).await;
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{content_type}"
            );
            assert_eq!(response.headers()["grpc-status"], "16");
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
        }
    }
    let down = app_with_store(Arc::new(DownStore));
    let token = sign(&claims("alice", "t1"));
    let response = send(
        &down,
        grpc_like(Version::HTTP_11, "application/grpc-web", Some(&token)),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["grpc-status"], "14");
}

fn app_with_store(store: Arc<dyn jwt_revoke_core::RevocationStore>) -> axum::Router {
    let clock = clock();
    app(hs256_builder(revocations_on(store, &clock, policy()))
        .build()
        .expect("builds"))
}

#[tokio::test]
async fn a_custom_rejection_cannot_answer_2xx_over_http_1() {
    let clock = clock();
    let layer = hs256_builder(memory_revocations(&clock))
        .build()
        .expect("builds")
        .with_rejection(|_: &jwt_revoke_tower::Rejection| {
            let mut response = axum::http::Response::new(Body::from("denied"));
            *response.status_mut() = StatusCode::OK;
            response
        });
    let app = axum::Router::new()
        .route("/me", axum::routing::get(|| async { "secret" }))
        .layer(layer);
    let response = send(&app, request("GET", "/me", None)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

// ---- 4. RFC 7009: a 200 means never again ---------------------------------------------------

fn endpoint_app(clock: &jwt_revoke_core::ManualClock, policy: Policy) -> axum::Router {
    let store = jwt_revoke_memory::MemoryStore::builder()
        .clock(Arc::new(clock.clone()))
        .build();
    let layer = hs256_builder(revocations_on(Arc::new(store), clock, policy))
        .build()
        .expect("builds");
    let endpoint = RevocationEndpoint::new(&layer).expect("a verifying layer");
    app(layer).route_service("/oauth/revoke", endpoint)
}

#[tokio::test]
async fn a_token_revoked_before_it_is_valid_is_refused_once_it_is() {
    for (claim, ahead) in [("nbf", 600), ("iat", 120)] {
        let clock = clock();
        let app = endpoint_app(&clock, policy());
        let mut early = claims("alice", &format!("early-{claim}"));
        early[claim] = json!(NOW + ahead);
        if claim == "iat" {
            early["exp"] = json!(NOW + ahead + 600);
        }
        let token = sign(&early);
        assert_eq!(
            status_of(&app, &token).await,
            StatusCode::UNAUTHORIZED,
            "not valid yet"
        );
        assert_eq!(
            send(&app, revoke_form(&token)).await.status(),
            StatusCode::OK
        );
        clock.advance(Duration::from_secs(ahead as u64 + 1));
        assert_invalid_token(&app, &token, "the token has been revoked").await;
    }
}

#[tokio::test]
async fn a_token_revoked_with_whitespace_around_it_is_refused_without() {
    for wrapped in ["{} ", " {}", "{}\t", "\t{} ", "{}\n", "{}\r\n"] {
        let clock = clock();
        let app = endpoint_app(&clock, policy());
        let token = sign(&claims("alice", "t1"));
        let sent = wrapped.replace("{}", &token);
        assert_eq!(
            send(&app, revoke_form(&sent)).await.status(),
            StatusCode::OK
        );
        assert_invalid_token(&app, &token, "the token has been revoked").await;
    }
}

// ---- 5. Cut-offs cover every token accepted before them ------------------------------------

#[tokio::test]
async fn logging_out_everywhere_refuses_a_token_accepted_a_moment_before_with_an_iat_ahead() {
    let clock = clock();
    let revocations = memory_revocations(&clock);
    let app = app(hs256_builder(revocations.clone()).build().expect("builds"));
    let mut ahead = claims("alice", "ahead");
    ahead["iat"] = json!(NOW + 1);
    let ahead = sign(&ahead);
    let caller = sign(&claims("alice", "caller"));
    assert_eq!(
        status_of(&app, &ahead).await,
        StatusCode::OK,
        "accepted before"
    );
    assert_eq!(
        status_for(&app, "POST", "/logout/all", &caller).await,
        StatusCode::OK
    );
    assert_eq!(
        status_of(&app, &ahead).await,
        StatusCode::UNAUTHORIZED,
        "and after"
    );

    // The same through the engine, outside any request.
    let mut ahead = claims("bob", "ahead");
    ahead["iat"] = json!(NOW + 1);
    let ahead = sign(&ahead);
    assert_eq!(status_of(&app, &ahead).await, StatusCode::OK);
    revocations
        .revoke_user(&UserId::new(ISSUER, "bob"))
        .await
        .expect("revokes");
    assert_eq!(status_of(&app, &ahead).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logging_out_everywhere_refuses_a_token_without_iat_accepted_before() {
    let clock = clock();
    let store = jwt_revoke_memory::MemoryStore::builder()
        .clock(Arc::new(clock.clone()))
        .build();
    let policy = Policy::new(Duration::from_secs(3600)).with_leeway(Duration::from_secs(30));
    let app = app(
        hs256_builder(revocations_on(Arc::new(store), &clock, policy))
            .build()
            .expect("builds"),
    );
    let mut no_iat = claims("alice", "no-iat");
    no_iat.as_object_mut().expect("object").remove("iat");
    // The latest exp accepted without iat: the longest lifetime and the 2 s skew allowance.
    no_iat["exp"] = json!(NOW + 3600 + 2);
    let no_iat = sign(&no_iat);
    let caller = sign(&claims("alice", "caller"));
    assert_eq!(
        status_of(&app, &no_iat).await,
        StatusCode::OK,
        "accepted before"
    );
    assert_eq!(
        status_for(&app, "POST", "/logout/all", &caller).await,
        StatusCode::OK
    );
    assert_eq!(
        status_of(&app, &no_iat).await,
        StatusCode::UNAUTHORIZED,
        "and after"
    );
}

#[tokio::test]
async fn ending_a_session_refuses_its_tokens_accepted_before_with_an_iat_ahead() {
    let clock = clock();
    let app = app(hs256_builder(memory_revocations(&clock))
        .build()
        .expect("builds"));
    let mut ahead = claims("alice", "ahead");
    ahead["iat"] = json!(NOW + 1);
    let ahead = sign(&ahead);
    let caller = sign(&claims("alice", "caller"));
    assert_eq!(status_of(&app, &ahead).await, StatusCode::OK);
    assert_eq!(
        status_for(&app, "POST", "/logout/session", &caller).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(status_of(&app, &ahead).await, StatusCode::UNAUTHORIZED);
}

// ---- 7. Event tokens in disguise -------------------------------------------------------------

/// A token over exactly this payload text, signed with the test secret.
fn sign_raw_payload(payload: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let message = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
        Algorithm::HS256,
    )
    .expect("signs");
    format!("{message}.{signature}")
}

#[tokio::test]
async fn an_event_token_whose_events_claim_is_escaped_or_repeated_is_no_access_token() {
    let clock = clock();
    let app = app(hs256_builder(memory_revocations(&clock))
        .build()
        .expect("builds"));
    let base = format!(
        r#""iss":"{ISSUER}","sub":"alice","jti":"l-1","iat":{NOW},"exp":{}"#,
        NOW + 60
    );
    let event = r#"{"http://schemas.openid.net/event/backchannel-logout":{}}"#;
    // Sanity: the raw signer makes tokens the layer accepts.
    assert_eq!(
        status_of(&app, &sign_raw_payload(&format!("{{{base}}}"))).await,
        StatusCode::OK
    );
    for payload in [
        format!(r#"{{{base},"\u0065vents":{event}}}"#),
        format!(r#"{{{base},"ev\u0065nts":{event}}}"#),
        format!(r#"{{{base},"\u0065\u0076\u0065\u006e\u0074\u0073":{event}}}"#),
        format!(r#"{{{base},"events":{event},"events":{event}}}"#),
    ] {
        let response = send(
            &app,
            request("GET", "/me", Some(&sign_raw_payload(&payload))),
        )
        .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{payload}");
    }
}

// ---- 8. Audience -------------------------------------------------------------------------

#[tokio::test]
async fn a_token_for_another_audience_is_refused_by_a_layer_that_names_none() {
    let clock = clock();
    let app = app(hs256_builder(memory_revocations(&clock))
        .build()
        .expect("builds"));
    for aud in [
        json!("some-other-api"),
        json!(["web", "some-other-api"]),
        json!([]),
    ] {
        let mut foreign = claims("alice", "t1");
        foreign["aud"] = aud.clone();
        let response = send(&app, request("GET", "/me", Some(&sign(&foreign)))).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{aud}");
    }
    // A token without `aud` names no audience, and is for whoever accepts it.
    assert_eq!(
        status_of(&app, &sign(&claims("alice", "t2"))).await,
        StatusCode::OK
    );
    // Accepting any audience is a choice made in so many words.
    let any = app_of(
        hs256_builder(memory_revocations(&clock))
            .accept_any_audience()
            .build()
            .expect("builds"),
    );
    let mut foreign = claims("alice", "t3");
    foreign["aud"] = json!("some-other-api");
    assert_eq!(status_of(&any, &sign(&foreign)).await, StatusCode::OK);
}

#[tokio::test]
async fn claims_verified_upstream_obey_the_issuer_and_audience_rules_too() {
    let clock = clock();
    let layer = RevocationLayer::claims_verified_upstream(memory_revocations(&clock))
        .issuers([ISSUER])
        .build()
        .expect("builds");
    let app = app(layer);
    let with_claims = |claims: Value| {
        let mut request = request("GET", "/me", None);
        request
            .extensions_mut()
            .insert(Claims::from_verified_json(&claims.to_string()).expect("claims"));
        request
    };
    assert_eq!(
        send(&app, with_claims(claims("alice", "t1")))
            .await
            .status(),
        StatusCode::OK
    );
    let mut foreign = claims("alice", "t2");
    foreign["aud"] = json!("some-other-api");
    assert_eq!(
        send(&app, with_claims(foreign)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let mut elsewhere = claims("alice", "t3");
    elsewhere["iss"] = json!("https://elsewhere.test");
    assert_eq!(
        send(&app, with_claims(elsewhere)).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

// ---- 9. Fail open opens only on unavailability --------------------------------------------

/// A store that answers every check with an error that is not unavailability.
#[derive(Debug)]
struct CorruptStore;

#[async_trait::async_trait]
impl jwt_revoke_core::RevocationStore for CorruptStore {
    async fn check(&self, _: &TokenKeys) -> Result<jwt_revoke_core::CheckReply, StoreError> {
        Err(StoreError::backend("a corrupt record"))
    }
    async fn insert_token(&self, _: &TokenKeys, _: Timestamp) -> Result<(), StoreError> {
        Err(StoreError::backend("a script error"))
    }
    async fn remove_token(&self, _: &TokenKeys) -> Result<bool, StoreError> {
        Err(StoreError::backend("a script error"))
    }
    async fn raise_cutoff(
        &self,
        _: jwt_revoke_core::RecordKey,
        _: Timestamp,
        _: Timestamp,
    ) -> Result<Timestamp, StoreError> {
        Err(StoreError::backend("a script error"))
    }
}

#[tokio::test]
async fn failing_open_does_not_open_on_an_answer_that_is_an_error() {
    let clock = clock();
    let layer = hs256_builder(revocations_on(Arc::new(CorruptStore), &clock, policy()))
        .on_store_failure(StoreFailure::FailOpen)
        .build()
        .expect("builds");
    let stats = layer.clone();
    let app = app(layer);
    let response = send(
        &app,
        request("GET", "/me", Some(&sign(&claims("alice", "t1")))),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(stats.stats().failed_open(), 0);
    // Unavailability still opens, as configured.
    let down = hs256_builder(revocations_on(Arc::new(DownStore), &clock, policy()))
        .on_store_failure(StoreFailure::FailOpen)
        .build()
        .expect("builds");
    let response = send(
        &app_of(down),
        request("GET", "/me", Some(&sign(&claims("alice", "t1")))),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}

fn app_of(layer: RevocationLayer) -> axum::Router {
    app(layer)
}

// ---- 10. JWKS -----------------------------------------------------------------------------

#[test]
fn a_key_set_with_a_duplicate_kid_is_refused() {
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(json!({"keys": [
        {"kty": "oct", "kid": "k1", "alg": "HS256", "k": URL_SAFE_NO_PAD.encode(SECRET)},
        {"kty": "oct", "kid": "k1", "alg": "HS256", "k": URL_SAFE_NO_PAD.encode(b"another secret of the attacker")},
    ]}))
    .expect("a JWKS");
    assert!(DecodingKeys::from_jwks(&jwks).is_err());
}

#[tokio::test]
async fn a_jwk_is_used_only_with_its_own_algorithm_and_only_for_signatures() {
    let clock = clock();
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(json!({"keys": [
        {"kty": "oct", "kid": "k1", "alg": "HS256", "k": URL_SAFE_NO_PAD.encode(SECRET)},
        {"kty": "oct", "kid": "k2", "use": "enc", "k": URL_SAFE_NO_PAD.encode(SECRET)},
        {"kty": "oct", "kid": "k3", "use": "sig", "k": URL_SAFE_NO_PAD.encode(SECRET)},
    ]}))
    .expect("a JWKS");
    let layer = RevocationLayer::verifying(
        memory_revocations(&clock),
        DecodingKeys::from_jwks(&jwks).expect("keys"),
        &[Algorithm::HS256, Algorithm::HS384],
    )
    .build()
    .expect("builds");
    let app = app(layer);
    let signed = |alg: Algorithm, kid: &str| {
        let mut header = Header::new(alg);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(
            &header,
            &claims("alice", &format!("{kid}-{alg:?}")),
            &jsonwebtoken::EncodingKey::from_secret(SECRET),
        )
        .expect("signs")
    };
    assert_eq!(
        status_of(&app, &signed(Algorithm::HS256, "k1")).await,
        StatusCode::OK
    );
    assert_eq!(
        status_of(&app, &signed(Algorithm::HS384, "k1")).await,
        StatusCode::UNAUTHORIZED,
        "k1 states HS256"
    );
    assert_eq!(
        status_of(&app, &signed(Algorithm::HS256, "k2")).await,
        StatusCode::UNAUTHORIZED,
        "k2 is an encryption key"
    );
    assert_eq!(
        status_of(&app, &signed(Algorithm::HS384, "k3")).await,
        StatusCode::OK
    );
}

// ---- 14. A full store ---------------------------------------------------------------------

#[tokio::test]
async fn a_full_store_refuses_revocations_with_a_clear_error_and_checks_as_usual() {
    let clock = clock();
    let store = jwt_revoke_memory::MemoryStore::builder()
        .clock(Arc::new(clock.clone()))
        .capacity(1)
        .build();
    let layer = hs256_builder(revocations_on(Arc::new(store), &clock, policy()))
        .build()
        .expect("builds");
    let endpoint = RevocationEndpoint::new(&layer).expect("a verifying layer");
    let app = app(layer).route_service("/oauth/revoke", endpoint);
    let revoked = sign(&claims("alice", "t1"));
    let valid = sign(&claims("bob", "t2"));
    assert_eq!(
        status_for(&app, "POST", "/logout", &revoked).await,
        StatusCode::NO_CONTENT,
        "the one record that fits"
    );
    // Full: checks are answered as always.
    assert_invalid_token(&app, &revoked, "the token has been revoked").await;
    assert_eq!(status_of(&app, &valid).await, StatusCode::OK);
    // A revocation is refused, never reported done.
    assert_eq!(
        status_for(&app, "POST", "/logout", &valid).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let response = send(&app, revoke_form(&valid)).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = serde_json::from_str(&body_text(response).await).expect("json");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|description| description.contains("full")),
        "{body}"
    );
    assert_eq!(status_of(&app, &valid).await, StatusCode::OK);
}
