//! The layer seen from outside: real Axum routers driven with `oneshot`.

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, Header};
use jwt_revoke_core::{IdentityRule, Policy, UserId};
use jwt_revoke_tower::{
    BuildError, Claims, DecodingKeys, Rejection, RevocationLayer, StoreFailure,
};
use serde_json::json;
use support::*;

fn standard_app() -> (
    axum::Router,
    jwt_revoke_core::ManualClock,
    jwt_revoke_core::Revocations,
) {
    let clock = clock();
    let revocations = memory_revocations(&clock);
    let layer = hs256_builder(revocations.clone())
        .bypass("/healthz")
        .build()
        .expect("builds");
    (app(layer), clock, revocations)
}

#[tokio::test]
async fn a_valid_token_reaches_the_handler_with_its_claims() {
    let (app, _, _) = standard_app();
    let response = send(
        &app,
        request("GET", "/me", Some(&sign(&claims("alice", "t1")))),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = serde_json::from_str(&body_text(response).await).expect("json");
    assert_eq!(body["sub"], "alice");
    assert_eq!(body["jti"], "t1");
}

#[tokio::test]
async fn no_token_gets_a_bare_bearer_challenge() {
    let (app, _, _) = standard_app();
    let response = send(&app, request("GET", "/me", None)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        www_authenticate(&response),
        "Bearer",
        "RFC 6750 §3.1: no error code without a token"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn another_authorization_scheme_counts_as_no_token() {
    let (app, _, _) = standard_app();
    let request = Request::get("/me")
        .header("authorization", "Basic dXNlcjpwYXNz")
        .body(Body::empty())
        .expect("req");
    let response = send(&app, request).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(www_authenticate(&response), "Bearer");
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let (app, _, _) = standard_app();
    let token = sign(&claims("alice", "t1"));
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let request = Request::get("/me")
            .header("authorization", format!("{scheme} {token}"))
            .body(Body::empty())
            .expect("req");
        assert_eq!(
            send(&app, request).await.status(),
            StatusCode::OK,
            "{scheme}"
        );
    }
}

#[tokio::test]
async fn an_empty_bearer_token_is_a_bad_request() {
    let (app, _, _) = standard_app();
    for value in ["Bearer", "Bearer ", "Bearer    "] {
        let request = Request::get("/me")
            .header("authorization", value)
            .body(Body::empty())
            .expect("req");
        let response = send(&app, request).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{value:?}");
        assert_eq!(
            www_authenticate(&response),
            r#"Bearer error="invalid_request", error_description="the Bearer authorization has no token""#
        );
    }
}

#[tokio::test]
async fn garbage_is_an_invalid_token() {
    let (app, _, _) = standard_app();
    for garbage in ["garbage", "a.b.c", "....", "eyJ.eyJ.sig", "not~a~jwt!"] {
        assert_invalid_token(&app, garbage, "the token is malformed").await;
    }
}

#[tokio::test]
async fn an_oversized_token_is_refused_before_parsing() {
    let (app, _, _) = standard_app();
    let huge = "a".repeat(64 * 1024);
    assert_invalid_token(&app, &huge, "the token is larger than 8192 bytes").await;
}

#[tokio::test]
async fn alg_none_is_always_refused() {
    let (app, _, _) = standard_app();
    let b64 = |s: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    };
    let payload = b64(&claims("mallory", "t1").to_string());
    for header in [
        r#"{"alg":"none","typ":"JWT"}"#,
        r#"{"alg":"None"}"#,
        r#"{"alg":"NONE"}"#,
    ] {
        let token = format!("{}.{payload}.", b64(header));
        assert_invalid_token(&app, &token, "the token's algorithm is not accepted").await;
        // With a signature part too: still refused.
        let token = format!("{}.{payload}.c2ln", b64(header));
        assert_invalid_token(&app, &token, "the token's algorithm is not accepted").await;
    }
}

#[tokio::test]
async fn an_algorithm_outside_the_allowlist_is_refused() {
    let (app, _, _) = standard_app();
    let token = sign_with(&claims("alice", "t1"), Algorithm::HS512, SECRET);
    assert_invalid_token(&app, &token, "the token's algorithm is not accepted").await;
}

#[tokio::test]
async fn the_wrong_key_is_refused() {
    let (app, _, _) = standard_app();
    let token = sign_with(
        &claims("alice", "t1"),
        Algorithm::HS256,
        b"some other secret entirely",
    );
    assert_invalid_token(&app, &token, "the token's signature is invalid").await;
}

#[tokio::test]
async fn a_token_without_exp_is_refused_by_default() {
    let (app, _, _) = standard_app();
    let mut no_exp = claims("alice", "t1");
    no_exp.as_object_mut().expect("object").remove("exp");
    assert_invalid_token(&app, &sign(&no_exp), "the token has no exp claim").await;
}

#[tokio::test]
async fn tokens_without_exp_pass_when_opted_in_and_expire_after_the_retention() {
    let clock = clock();
    let store = jwt_revoke_memory::MemoryStore::builder()
        .clock(Arc::new(clock.clone()))
        .build();
    let revocations = revocations_on(
        Arc::new(store),
        &clock,
        policy().accept_tokens_without_exp(Duration::from_secs(600)),
    );
    let app = app(hs256_builder(revocations).build().expect("builds"));
    let mut no_exp = claims("alice", "t1");
    no_exp.as_object_mut().expect("object").remove("exp");
    let token = sign(&no_exp);
    assert_eq!(status_for(&app, "GET", "/me", &token).await, StatusCode::OK);
    clock.advance(Duration::from_secs(601));
    assert_invalid_token(&app, &token, "the token has expired").await;
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let (app, _, _) = standard_app();
    let mut expired = claims("alice", "t1");
    expired["iat"] = json!(NOW - 7200);
    expired["exp"] = json!(NOW - 3600);
    // The engine judges time with its clock (here the manual one), not the system clock.
    assert_invalid_token(&app, &sign(&expired), "the token has expired").await;
}

#[tokio::test]
async fn the_policy_refuses_what_would_escape_revocation() {
    let (app, _, _) = standard_app();
    let mut too_long = claims("alice", "t1");
    too_long["exp"] = json!(NOW + 3601);
    assert_invalid_token(
        &app,
        &sign(&too_long),
        "the token lives longer than this service accepts",
    )
    .await;

    let mut future = claims("alice", "t1");
    future["iat"] = json!(NOW + 120);
    assert_invalid_token(&app, &sign(&future), "the token was issued in the future").await;

    for missing in ["iss", "sub"] {
        let mut partial = claims("alice", "t1");
        partial.as_object_mut().expect("object").remove(missing);
        assert_invalid_token(
            &app,
            &sign(&partial),
            &format!("the token has no {missing} claim"),
        )
        .await;
    }
}

#[tokio::test]
async fn a_token_without_iat_is_accepted_and_counted_as_issued_as_early_as_possible() {
    let (app, _, revocations) = standard_app();
    let mut no_iat = claims("alice", "t1");
    no_iat.as_object_mut().expect("object").remove("iat");
    let token = sign(&no_iat);
    assert_eq!(status_for(&app, "GET", "/me", &token).await, StatusCode::OK);
    // Without iat nobody knows whether it predates a cut-off: it is revoked by one.
    revocations
        .revoke_user(&UserId::new(ISSUER, "alice"))
        .await
        .expect("revokes");
    assert_invalid_token(&app, &token, "the tokens of this user have been revoked").await;
    // And it may not expire later than the longest lifetime (and the 2 s skew allowance) from
    // now: it could outlive its cut-off.
    let mut far = claims("bob", "t2");
    far.as_object_mut().expect("object").remove("iat");
    far["exp"] = json!(NOW + 3603);
    assert_invalid_token(
        &app,
        &sign(&far),
        "the token lives longer than this service accepts",
    )
    .await;
}

#[tokio::test]
async fn two_authorization_headers_are_a_bad_request() {
    let (app, _, _) = standard_app();
    let token = sign(&claims("alice", "t1"));
    let request = Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("req");
    let response = send(&app, request).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(www_authenticate(&response).contains("more than one Authorization header"));
}

#[tokio::test]
async fn non_utf8_header_bytes_are_a_bad_request() {
    let (app, _, _) = standard_app();
    let mut request = Request::get("/me").body(Body::empty()).expect("req");
    request.headers_mut().insert(
        "authorization",
        HeaderValue::from_bytes(b"Bearer \xff\xfe.abc.def")
            .expect("obs-text is a legal header byte"),
    );
    let response = send(&app, request).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(www_authenticate(&response).contains("not visible ASCII text"));
}

#[tokio::test]
async fn logout_revokes_the_token_at_once() {
    let (app, _, _) = standard_app();
    let token = sign(&claims("alice", "t1"));
    let other = sign(&claims("alice", "t2"));
    assert_eq!(
        status_for(&app, "POST", "/logout", &token).await,
        StatusCode::NO_CONTENT
    );
    assert_invalid_token(&app, &token, "the token has been revoked").await;
    assert_eq!(
        status_for(&app, "GET", "/me", &other).await,
        StatusCode::OK,
        "only that token"
    );
}

#[tokio::test]
async fn a_token_without_jti_is_revoked_by_digest() {
    let (app, _, _) = standard_app();
    let mut no_jti = claims("alice", "unused");
    no_jti.as_object_mut().expect("object").remove("jti");
    let token = sign(&no_jti);
    let mut other = no_jti.clone();
    other["exp"] = json!(NOW + 3599);
    let other = sign(&other);
    assert_eq!(
        status_for(&app, "POST", "/logout", &token).await,
        StatusCode::NO_CONTENT
    );
    assert_invalid_token(&app, &token, "the token has been revoked").await;
    assert_eq!(status_for(&app, "GET", "/me", &other).await, StatusCode::OK);
}

#[tokio::test]
async fn logout_everywhere_follows_the_same_second_rule_from_both_sides() {
    let (app, clock, _) = standard_app();
    // Issued in the very second the revocation happens, a moment before it.
    clock.advance(Duration::from_millis(400));
    let before = sign(&claims("alice", "t1"));
    let bob = sign(&claims("bob", "t9"));
    let response = send(&app, request("POST", "/logout/all", Some(&before))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let first_valid_iat: i64 = body_text(response).await.parse().expect("an iat");
    // The cut-off is at now + the 2 s allowance for an iat ahead (NOW + 2.4 s): its second is
    // covered, the next one is not.
    assert_eq!(first_valid_iat, NOW + 3);

    assert_invalid_token(&app, &before, "the tokens of this user have been revoked").await;
    // The same second, after the cut-off: still refused, by design (integer iat is ambiguous),
    // and so is the next: a token issued ahead within the allowance is covered.
    clock.advance(Duration::from_millis(100));
    for iat in [NOW, NOW + 1, NOW + 2] {
        let mut covered = claims("alice", &format!("t2-{iat}"));
        covered["iat"] = json!(iat);
        assert_invalid_token(
            &app,
            &sign(&covered),
            "the tokens of this user have been revoked",
        )
        .await;
    }
    // A fractional iat after the cut-off instant is accepted at once.
    let mut fractional = claims("alice", "t4");
    fractional["iat"] = json!(NOW as f64 + 2.45);
    assert_eq!(
        status_for(&app, "GET", "/me", &sign(&fractional)).await,
        StatusCode::OK
    );
    // iat = first_valid_iat is accepted once the clock is within the allowance of it, at most
    // a second after the cut-off.
    let mut fresh = claims("alice", "t3");
    fresh["iat"] = json!(first_valid_iat);
    let fresh = sign(&fresh);
    assert_invalid_token(&app, &fresh, "the token was issued in the future").await;
    clock.set(jwt_revoke_core::Timestamp::from_secs(first_valid_iat - 2));
    assert_eq!(status_for(&app, "GET", "/me", &fresh).await, StatusCode::OK);
    // Other users are untouched.
    assert_eq!(status_for(&app, "GET", "/me", &bob).await, StatusCode::OK);
}

#[tokio::test]
async fn ending_a_session_revokes_its_tokens_only() {
    let (app, _, _) = standard_app();
    let token = sign(&claims("alice", "t1"));
    let mut other_session = claims("alice", "t2");
    other_session["sid"] = json!("another login");
    let other_session = sign(&other_session);
    assert_eq!(
        status_for(&app, "POST", "/logout/session", &token).await,
        StatusCode::NO_CONTENT
    );
    assert_invalid_token(&app, &token, "the session of this token has ended").await;
    assert_eq!(
        status_for(&app, "GET", "/me", &other_session).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_session_revocation_without_sid_says_so() {
    let (app, _, _) = standard_app();
    let mut no_sid = claims("alice", "t1");
    no_sid.as_object_mut().expect("object").remove("sid");
    let response = send(
        &app,
        request("POST", "/logout/session", Some(&sign(&no_sid))),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn revocations_made_outside_requests_apply_at_once() {
    let (app, _, revocations) = standard_app();
    let token = sign(&claims("alice", "t1"));
    assert_eq!(status_for(&app, "GET", "/me", &token).await, StatusCode::OK);
    revocations
        .revoke_user(&UserId::new(ISSUER, "alice"))
        .await
        .expect("revokes");
    assert_invalid_token(&app, &token, "the tokens of this user have been revoked").await;
}

#[tokio::test]
async fn bypassed_paths_need_no_token() {
    let (app, _, _) = standard_app();
    let response = send(&app, request("GET", "/healthz", None)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_text(response).await, "ok");
    // A prefix of a bypassed path is not bypassed.
    assert_eq!(
        send(&app, request("GET", "/me", None)).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn bypass_prefixes_cover_whole_services() {
    let clock = clock();
    let layer = hs256_builder(memory_revocations(&clock))
        .bypass_prefix("/heal")
        .build()
        .expect("builds");
    let app = app(layer);
    assert_eq!(
        send(&app, request("GET", "/healthz", None)).await.status(),
        StatusCode::OK
    );
}

fn grpc_request(token: Option<&str>) -> Request<Body> {
    // gRPC runs over HTTP/2; over HTTP/1.x a rejection is never a 200 (see tests/soundness.rs).
    let mut builder = Request::post("/me")
        .version(axum::http::Version::HTTP_2)
        .header("content-type", "application/grpc+proto")
        .header("te", "trailers");
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    builder.body(Body::empty()).expect("req")
}

#[tokio::test]
async fn grpc_calls_get_grpc_statuses() {
    let (app, _, revocations) = standard_app();
    let response = send(&app, grpc_request(None)).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "gRPC errors travel in a 200"
    );
    assert_eq!(response.headers()["grpc-status"], "16");
    assert_eq!(response.headers()["content-type"], "application/grpc");
    assert_eq!(
        response.headers()["grpc-message"],
        "no access token was sent"
    );

    let token = sign(&claims("alice", "t1"));
    revocations
        .revoke_user(&UserId::new(ISSUER, "alice"))
        .await
        .expect("revokes");
    let response = send(&app, grpc_request(Some(&token))).await;
    assert_eq!(response.headers()["grpc-status"], "16");
    assert_eq!(
        response.headers()["grpc-message"],
        "the tokens of this user have been revoked"
    );
    assert!(response.headers().get("www-authenticate").is_none());
}

#[tokio::test]
async fn a_down_store_fails_closed_with_503_and_retry_after() {
    let clock = clock();
    let layer = hs256_builder(revocations_on(Arc::new(DownStore), &clock, policy()))
        .build()
        .expect("builds");
    let stats_layer = layer.clone();
    let app = app(layer);
    let token = sign(&claims("alice", "t1"));
    let response = send(&app, request("GET", "/me", Some(&token))).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    let response = send(&app, grpc_request(Some(&token))).await;
    assert_eq!(response.headers()["grpc-status"], "14");
    assert_eq!(stats_layer.stats().store_failures(), 2);
    assert_eq!(stats_layer.stats().failed_open(), 0);
}

#[tokio::test]
async fn a_failed_revocation_is_reported_as_a_failure() {
    let clock = clock();
    let layer = hs256_builder(revocations_on(Arc::new(DownStore), &clock, policy()))
        .on_store_failure(StoreFailure::FailOpen)
        .build()
        .expect("builds");
    let app = app(layer);
    let token = sign(&claims("alice", "t1"));
    assert_eq!(
        status_for(&app, "POST", "/logout", &token).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn failing_open_lets_requests_through_and_counts_them() {
    let clock = clock();
    let layer = hs256_builder(revocations_on(Arc::new(DownStore), &clock, policy()))
        .on_store_failure(StoreFailure::FailOpen)
        .build()
        .expect("builds");
    let stats_layer = layer.clone();
    let app = app(layer);
    let response = send(
        &app,
        request("GET", "/me", Some(&sign(&claims("alice", "t1")))),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(stats_layer.stats().failed_open(), 1);
    assert_eq!(stats_layer.stats().store_failures(), 1);
    // Invalid tokens are still refused: failing open concerns only the store.
    assert_invalid_token(&app, "garbage", "malformed").await;
}

#[tokio::test(start_paused = true)]
async fn a_hanging_store_times_out_into_a_503() {
    let clock = clock();
    let revocations = revocations_on(Arc::new(HangingStore), &clock, policy())
        .with_store_timeout(Duration::from_millis(50));
    let layer = hs256_builder(revocations)
        .on_store_failure(StoreFailure::FailClosed {
            retry_after: Duration::from_secs(5),
        })
        .build()
        .expect("builds");
    let app = app(layer);
    let started = tokio::time::Instant::now();
    let response = send(
        &app,
        request("GET", "/me", Some(&sign(&claims("alice", "t1")))),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "5");
    // Paused time: this measures the timer the layer set, not the machine's speed.
    assert_eq!(started.elapsed(), Duration::from_millis(50));
    // Revoking through the handle is bounded by the same timeout.
    // (It fails before reaching the handler here, so test the handle directly.)
}

#[tokio::test]
async fn a_custom_rejection_replaces_the_default() {
    let (_, clock, _) = standard_app();
    let layer = hs256_builder(memory_revocations(&clock))
        .build()
        .expect("builds")
        .with_rejection(|rejection: &Rejection| {
            let mut response = axum::http::Response::new(Body::from(format!(
                "{{\"error\":\"{}\"}}",
                rejection.description()
            )));
            *response.status_mut() = rejection.status();
            response
        });
    let app = app(layer);
    let response = send(&app, request("GET", "/me", None)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        body_text(response).await,
        r#"{"error":"no access token was sent"}"#
    );
}

#[tokio::test]
async fn tokens_are_found_in_cookies_and_custom_headers() {
    let clock = clock();
    let layer = hs256_builder(memory_revocations(&clock))
        .token_from_cookie("access_token")
        .token_from_header(axum::http::HeaderName::from_static("x-access-token"))
        .build()
        .expect("builds");
    let app = app(layer);
    let token = sign(&claims("alice", "t1"));
    let by_cookie = Request::get("/me")
        .header("cookie", format!("theme=dark; access_token={token}"))
        .body(Body::empty())
        .expect("req");
    assert_eq!(send(&app, by_cookie).await.status(), StatusCode::OK);
    let by_header = Request::get("/me")
        .header("x-access-token", &token)
        .body(Body::empty())
        .expect("req");
    assert_eq!(send(&app, by_header).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn logout_and_event_tokens_are_not_access_tokens() {
    let (app, _, _) = standard_app();
    for typ in ["logout+jwt", "application/secevent+jwt"] {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(typ.to_owned());
        let token = sign_header(&header, &claims("alice", "t1"));
        assert_invalid_token(
            &app,
            &token,
            "this type of token (typ) is not an access token",
        )
        .await;
    }
}

#[tokio::test]
async fn keys_are_chosen_by_kid() {
    let clock = clock();
    let keys = DecodingKeys::by_kid_only()
        .with_kid("old", DecodingKey::from_secret(b"old secret"))
        .with_kid("new", DecodingKey::from_secret(SECRET));
    let layer = RevocationLayer::verifying(memory_revocations(&clock), keys, &[Algorithm::HS256])
        .build()
        .expect("builds");
    let app = app(layer);
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("new".into());
    assert_eq!(
        send(
            &app,
            request("GET", "/me", Some(&sign_header(&header, &claims("a", "1"))))
        )
        .await
        .status(),
        StatusCode::OK
    );
    header.kid = Some("old".into());
    assert_invalid_token(
        &app,
        &sign_header(&header, &claims("a", "1")),
        "signature is invalid",
    )
    .await;
    header.kid = Some("unknown".into());
    assert_invalid_token(
        &app,
        &sign_header(&header, &claims("a", "1")),
        "key id (kid) is not known",
    )
    .await;
    assert_invalid_token(&app, &sign(&claims("a", "1")), "names no key id (kid)").await;
}

#[tokio::test]
async fn issuer_and_audience_restrictions_apply() {
    let clock = clock();
    let layer = hs256_builder(memory_revocations(&clock))
        .issuers([ISSUER])
        .audiences(["api"])
        .build()
        .expect("builds");
    let app = app(layer);
    let mut good = claims("alice", "t1");
    good["aud"] = json!(["web", "api"]);
    assert_eq!(
        status_for(&app, "GET", "/me", &sign(&good)).await,
        StatusCode::OK
    );
    let mut wrong_aud = good.clone();
    wrong_aud["aud"] = json!("web");
    assert_invalid_token(&app, &sign(&wrong_aud), "audience is not accepted").await;
    let mut wrong_iss = good.clone();
    wrong_iss["iss"] = json!("https://evil.test");
    assert_invalid_token(&app, &sign(&wrong_iss), "issuer is not accepted").await;
}

#[tokio::test]
async fn claims_verified_upstream_are_checked_for_revocation() {
    let clock = clock();
    let revocations = memory_revocations(&clock);
    let layer = RevocationLayer::claims_verified_upstream(revocations.clone())
        .build()
        .expect("builds");
    let app = app(layer);
    let with_claims = |sub: &str| {
        let mut request = request("GET", "/me", None);
        let claims = Claims::from_verified_json(&claims(sub, "t1").to_string()).expect("claims");
        request.extensions_mut().insert(claims);
        request
    };
    assert_eq!(
        send(&app, with_claims("alice")).await.status(),
        StatusCode::OK
    );
    revocations
        .revoke_user(&UserId::new(ISSUER, "alice"))
        .await
        .expect("revokes");
    assert_eq!(
        send(&app, with_claims("alice")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Without upstream claims (say, the upstream layer is missing): refused, not let through.
    let response = send(
        &app,
        request("GET", "/me", Some(&sign(&claims("bob", "t1")))),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn configuration_mistakes_are_build_errors() {
    let clock = clock();
    // A layer without a verification mode cannot be written: the two modes are two
    // constructors (`verifying`, `claims_verified_upstream`).
    let no_algs = RevocationLayer::verifying(
        memory_revocations(&clock),
        DecodingKeys::new(DecodingKey::from_secret(SECRET)),
        &[],
    )
    .build();
    assert!(matches!(no_algs, Err(BuildError::NoAlgorithms)));
    // An HMAC secret can never verify RS256: the classic algorithm-confusion setup is refused.
    let confused = RevocationLayer::verifying(
        memory_revocations(&clock),
        DecodingKeys::new(DecodingKey::from_secret(SECRET)),
        &[Algorithm::RS256],
    )
    .build();
    assert!(matches!(
        confused,
        Err(BuildError::KeyAlgorithmMismatch { .. })
    ));
    let no_keys = RevocationLayer::verifying(
        memory_revocations(&clock),
        DecodingKeys::by_kid_only(),
        &[Algorithm::HS256],
    )
    .build();
    assert!(matches!(no_keys, Err(BuildError::NoKeys)));
    // Two keys for one kid: whichever was found first would decide.
    let twice = RevocationLayer::verifying(
        memory_revocations(&clock),
        DecodingKeys::by_kid_only()
            .with_kid("k", DecodingKey::from_secret(SECRET))
            .with_kid("k", DecodingKey::from_secret(b"another secret")),
        &[Algorithm::HS256],
    )
    .build();
    assert!(matches!(twice, Err(BuildError::DuplicateKid { kid }) if kid == "k"));
}

#[test]
fn the_service_is_clone_and_its_future_is_send() {
    fn assert_clone_send<T: Clone + Send + Sync>(_: &T) {}
    fn assert_send<T: Send>(_: &T) {}
    let clock = clock();
    let router = app(hs256_builder(memory_revocations(&clock))
        .build()
        .expect("builds"));
    let service = tower::ServiceBuilder::new()
        .layer(
            hs256_builder(memory_revocations(&clock))
                .build()
                .expect("builds"),
        )
        .service(router.clone());
    assert_clone_send(&service);
    let future = tower::ServiceExt::oneshot(service, request("GET", "/me", None));
    assert_send(&future);
}

#[test]
fn requiring_jti_refuses_tokens_without_one() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let clock = clock();
        let store = jwt_revoke_memory::MemoryStore::builder()
            .clock(Arc::new(clock.clone()))
            .build();
        let revocations = revocations_on(
            Arc::new(store),
            &clock,
            policy().with_identity(IdentityRule::RequireJti),
        );
        let app = app(hs256_builder(revocations).build().expect("builds"));
        let mut no_jti = claims("alice", "x");
        no_jti.as_object_mut().expect("object").remove("jti");
        assert_invalid_token(&app, &sign(&no_jti), "the token has no jti claim").await;
    });
    let _ = Policy::new(Duration::from_secs(1));
}

#[tokio::test]
async fn an_audience_or_issuer_allowlist_cannot_be_escaped_by_leaving_the_claim_out() {
    let clock = clock();
    let layer = hs256_builder(memory_revocations(&clock))
        .issuers([ISSUER])
        .audiences(["https://api.test"])
        .build()
        .expect("builds");
    let app = app(layer);
    let mut with_aud = claims("alice", "t1");
    with_aud["aud"] = json!("https://api.test");
    assert_eq!(
        status_for(&app, "GET", "/me", &sign(&with_aud)).await,
        StatusCode::OK
    );
    assert_invalid_token(
        &app,
        &sign(&claims("alice", "t2")),
        "the token has no aud claim",
    )
    .await;
    let mut no_iss = with_aud.clone();
    no_iss.as_object_mut().expect("object").remove("iss");
    assert_invalid_token(&app, &sign(&no_iss), "the token has no iss claim").await;
}

#[tokio::test]
async fn an_untyped_logout_token_is_not_an_access_token() {
    let (app, _, _) = standard_app();
    let mut logout = claims("alice", "t1");
    logout["events"] = json!({ "http://schemas.openid.net/event/backchannel-logout": {} });
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("JWT".into());
    assert_invalid_token(
        &app,
        &sign_header(&header, &logout),
        "is not an access token",
    )
    .await;
}

#[tokio::test]
async fn logging_out_everywhere_covers_a_token_issued_ahead_of_the_clock() {
    let clock = clock();
    let policy = Policy::new(Duration::from_secs(3600))
        .with_leeway(Duration::from_secs(60))
        .with_issued_at_skew(Duration::from_secs(60));
    let store = jwt_revoke_memory::MemoryStore::builder()
        .clock(Arc::new(clock.clone()))
        .build();
    let app = app(
        hs256_builder(revocations_on(Arc::new(store), &clock, policy))
            .build()
            .expect("builds"),
    );
    // The issuer's clock runs 30 s ahead of ours.
    let mut ahead = claims("alice", "t1");
    ahead["iat"] = json!(NOW + 30);
    let ahead = sign(&ahead);
    assert_eq!(
        status_for(&app, "POST", "/logout/all", &ahead).await,
        StatusCode::OK
    );
    assert_invalid_token(&app, &ahead, "the tokens of this user have been revoked").await;
}

#[tokio::test]
async fn claims_verified_upstream_without_jti_must_come_with_their_own_token() {
    let clock = clock();
    let layer = RevocationLayer::claims_verified_upstream(memory_revocations(&clock))
        .build()
        .expect("builds");
    let app = app(layer);
    let mut no_jti = claims("alice", "unused");
    no_jti.as_object_mut().expect("object").remove("jti");
    let verified = sign(&no_jti);
    let payload = no_jti.to_string();
    let with = |token: &str| {
        let mut request = request("GET", "/me", Some(token));
        request
            .extensions_mut()
            .insert(Claims::from_verified_json(&payload).expect("claims"));
        request
    };
    // A token whose payload is exactly the verified claims: its digest is looked up.
    let response = send(&app, with(&verified)).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        www_authenticate(&response)
    );
    assert_eq!(
        send(&app, request("POST", "/logout", None)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Another token beside the verified claims would dodge the verified token's record.
    let other = sign(&claims("bob", "t9"));
    let response = send(&app, with(&other)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(www_authenticate(&response).contains("not the one verified upstream"));
}

#[tokio::test]
async fn grpc_rejections_are_not_cached() {
    let (app, _, _) = standard_app();
    let response = send(&app, grpc_request(None)).await;
    assert_eq!(response.headers()["grpc-status"], "16");
    assert_eq!(response.headers()["cache-control"], "no-store");
}

/// A bypass prefix every path starts with would turn the layer off: refused when built.
#[test]
fn a_bypass_prefix_that_matches_every_path_is_refused() {
    for prefix in ["", "/"] {
        let built = hs256_builder(memory_revocations(&clock()))
            .bypass_prefix(prefix)
            .build();
        assert!(
            matches!(built, Err(jwt_revoke_tower::BuildError::BypassesEverything { ref prefix }) if prefix.len() <= 1),
            "{prefix:?}"
        );
    }
    assert!(
        hs256_builder(memory_revocations(&clock()))
            .bypass_prefix("/public/")
            .build()
            .is_ok()
    );
}
