//! An adversarial review of the soundness fixes, kept as tests.
//!
//! Part A: what the review found (each failed on the reviewed code, and passes since its fix).
//! Part B: attacks that held, kept so that they keep holding.

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::middleware::{self, Next};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jwt_revoke_core::{
    CheckReply, Clock, Policy, RevocationReason, SessionId, Timestamp, UserId, Verdict,
};
use jwt_revoke_memory::MemoryStore;
use jwt_revoke_tower::events::RevocationEndpoint;
use jwt_revoke_tower::{Claims, RevocationLayer};
use serde_json::{Value, json};
use support::*;

// ---- helpers --------------------------------------------------------------------------------

/// A token over exactly this payload text (any bytes the issuer chose), signed with the
/// test secret.
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

async fn status_of(app: &axum::Router, token: &str) -> StatusCode {
    send(app, request("GET", "/me", Some(token))).await.status()
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

/// The library's own default leeway (60 s, jsonwebtoken's), with 1-hour tokens.
fn default_leeway_policy() -> Policy {
    Policy::new(Duration::from_secs(3600))
}

fn memory_store(clock: &jwt_revoke_core::ManualClock) -> Arc<MemoryStore> {
    Arc::new(
        MemoryStore::builder()
            .clock(Arc::new(clock.clone()))
            .build(),
    )
}

fn without_iat(mut claims: Value) -> Value {
    claims.as_object_mut().expect("object").remove("iat");
    claims
}

// =============================================================================================
// Part A — findings (each test fails on the reviewed code)
// =============================================================================================

// ---- A1. A token without `iat` outlived the cut-off that covered it -------------------------
//
// `inspect` accepted a token without `iat` while `exp <= now + longest + leeway`, and such a
// token is valid until `exp + leeway`: up to `now + longest + 2·leeway`. A cut-off made at `now`
// is kept for `skew + longest + leeway`, so for `leeway - skew` after it expired the token it
// covered was accepted again. Now a token without `iat` may expire at most `longest + skew`
// from now: the cut-off outlives it.

/// The latest `exp` a token without `iat` may have at `now` (seconds): longest + skew.
const LATEST_EXP_WITHOUT_IAT: i64 = 3600 + 2;

#[tokio::test]
async fn a1_a_token_without_iat_never_outlives_the_user_cutoff_that_covers_it() {
    let clock = clock();
    let revocations = revocations_on(memory_store(&clock), &clock, default_leeway_policy());
    let app = app(hs256_builder(revocations).build().expect("builds"));

    // The reviewed attack: exp at `now + longest + leeway` is no longer accepted at all.
    let mut too_far = without_iat(claims("alice", "too-far"));
    too_far["exp"] = json!(NOW + 3600 + 60);
    assert_eq!(
        status_of(&app, &sign(&too_far)).await,
        StatusCode::UNAUTHORIZED
    );

    // The latest exp accepted now.
    let mut claims_no_iat = without_iat(claims("alice", "no-iat"));
    claims_no_iat["exp"] = json!(NOW + LATEST_EXP_WITHOUT_IAT);
    let no_iat = sign(&claims_no_iat);
    assert_eq!(
        status_of(&app, &no_iat).await,
        StatusCode::OK,
        "accepted before"
    );

    let caller = sign(&claims("alice", "caller"));
    assert_eq!(
        status_for(&app, "POST", "/logout/all", &caller).await,
        StatusCode::OK
    );
    // Never accepted again: not while the cut-off lives (NOW + 2 + 3600 + 60), nor after,
    // when the token has expired (exp + leeway = NOW + 3662).
    for at in [
        NOW + 1,
        NOW + 3600,
        NOW + 3661,
        NOW + 3662,
        NOW + 3663,
        NOW + 3700,
    ] {
        clock.set(Timestamp::from_secs(at));
        assert_eq!(
            status_of(&app, &no_iat).await,
            StatusCode::UNAUTHORIZED,
            "accepted again at NOW + {}",
            at - NOW
        );
    }
}

#[tokio::test]
async fn a1_nor_the_session_cutoff_or_the_store_cutoff_that_covers_it() {
    let clock = clock();
    let store = memory_store(&clock);
    let revocations = revocations_on(store, &clock, default_leeway_policy());
    let mut claims_no_iat = without_iat(claims("alice", "no-iat"));
    claims_no_iat["exp"] = json!(NOW + LATEST_EXP_WITHOUT_IAT);
    let token: jwt_revoke_core::RegisteredClaims =
        serde_json::from_value(claims_no_iat.clone()).expect("claims");
    let facts = revocations
        .inspect(&token, &claims_no_iat.to_string())
        .expect("accepted now");

    let session = SessionId::new(ISSUER, "session-of-alice");
    revocations.revoke_session(&session).await.expect("revokes");
    let loss = CheckReply::default().with_store_cutoff(Some(clock.now()));
    for at in [NOW, NOW + 3600, NOW + 3661, NOW + 3662, NOW + 3700] {
        clock.set(Timestamp::from_secs(at));
        let live = revocations.revalidate(&facts).is_ok();
        let session_verdict = revocations.check(&facts).await.expect("check");
        let loss_verdict = revocations.judge(&facts, &loss);
        assert!(
            !live
                || (matches!(
                    session_verdict,
                    Verdict::Revoked(RevocationReason::Session(_))
                ) && matches!(
                    loss_verdict,
                    Verdict::Revoked(RevocationReason::DataLoss(_))
                )),
            "at NOW + {}: a live token covered by the session cut-off / the store cut-off is \
             valid again: session {session_verdict:?}, data loss {loss_verdict:?}",
            at - NOW
        );
    }
}

// ---- A2. The claims memo skipped a time-dependent rule --------------------------------------
//
// `revalidate` re-ran expiry, nbf and iat-in-future, but not "without iat, exp at most the
// longest lifetime from now", which depends on the clock too: after a clock step back the memo
// (and the verified-token cache) accepted a token a fresh inspection refused, which then
// outlived the cut-offs that covered it. The rule is one of the time checks now.

#[tokio::test]
async fn a2_after_a_clock_step_back_the_claims_memo_refuses_what_inspect_refuses() {
    let clock = clock();
    let store = memory_store(&clock);
    let revocations = revocations_on(store.clone(), &clock, policy());
    let memo_app = app(hs256_builder(revocations.clone()).build().expect("builds"));
    let fresh_app = app(hs256_builder(revocations_on(store, &clock, policy()))
        .claims_memo(0)
        .build()
        .expect("builds"));

    // At NOW + 100, a token without iat expiring as late as `inspect` allows.
    clock.set(Timestamp::from_secs(NOW + 100));
    let mut no_iat = without_iat(claims("alice", "no-iat"));
    no_iat["exp"] = json!(NOW + 100 + LATEST_EXP_WITHOUT_IAT);
    let no_iat = sign(&no_iat);
    assert_eq!(status_of(&memo_app, &no_iat).await, StatusCode::OK);

    // The clock steps back 100 s (NTP correction, VM restore): both refuse it.
    clock.set(Timestamp::from_secs(NOW));
    assert_eq!(
        status_of(&fresh_app, &no_iat).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status_of(&memo_app, &no_iat).await,
        StatusCode::UNAUTHORIZED,
        "the memo accepts what inspect refuses"
    );
}

// ---- A3. Upstream mode: a payload with whitespace around its JSON is refused forever ----------
//
// The documented contract is `Claims::from_verified_json(<the token's decoded payload>)`; that
// goes through `RawValue::from_string`, which trims whitespace around the JSON, while
// `carries_payload` compares the token's decoded bytes to `claims.json()` exactly. A valid,
// unrevoked token without `jti` whose payload ends with a newline (a shell- or
// pretty-printer-made token) is refused on every request.

async fn verify_bearer_upstream(
    mut request: axum::extract::Request,
    next: Next,
) -> axum::response::Response {
    let token = request
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.strip_prefix("Bearer "))
        .map(str::to_owned);
    if let Some(token) = token {
        let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        if jsonwebtoken::decode::<Value>(
            &token,
            &jsonwebtoken::DecodingKey::from_secret(SECRET),
            &validation,
        )
        .is_ok()
        {
            // Exactly what the docs say: the token's decoded payload.
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

#[tokio::test]
async fn a3_upstream_claims_of_a_payload_with_a_trailing_newline_are_refused_forever() {
    let clock = clock();
    let layer = RevocationLayer::claims_verified_upstream(memory_revocations(&clock))
        .build()
        .expect("builds");
    let app = app(layer).layer(middleware::from_fn(verify_bearer_upstream));
    let body = format!(
        r#"{{"iss":"{ISSUER}","sub":"alice","iat":{NOW},"exp":{}}}"#,
        NOW + 600
    );
    // Sanity: the same claims without the newline pass.
    assert_eq!(
        status_of(&app, &sign_raw_payload(&body)).await,
        StatusCode::OK
    );
    let token = sign_raw_payload(&format!("{body}\n"));
    let response = send(&app, request("GET", "/me", Some(&token))).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "a valid, unrevoked token is refused: {}",
        www_authenticate(&response)
    );
}

#[tokio::test]
async fn a3_a_revocation_by_the_documented_payload_digest_misses_a_payload_with_a_trailing_newline()
{
    // `Revocations::inspect(claims, payload)` and `TokenId::from_payload` document `payload` as
    // "the exact JSON text the token's signature covers". An out-of-band revocation (an admin
    // tool revoking a leaked token without jti) that passes exactly that — the decoded payload —
    // succeeds, and the layer keeps accepting the token: it hashes the payload trimmed.
    let clock = clock();
    let revocations = memory_revocations(&clock);
    let app = app(hs256_builder(revocations.clone()).build().expect("builds"));
    let body = format!(
        r#"{{"iss":"{ISSUER}","sub":"alice","iat":{NOW},"exp":{}}}"#,
        NOW + 600
    );
    let signed_text = format!("{body}\n");
    let token = sign_raw_payload(&signed_text);
    assert_eq!(status_of(&app, &token).await, StatusCode::OK);

    let decoded = URL_SAFE_NO_PAD
        .decode(token.split('.').nth(1).expect("payload"))
        .expect("base64url");
    let decoded = String::from_utf8(decoded).expect("utf-8");
    assert_eq!(decoded, signed_text, "what the signature covers");
    let claims: jwt_revoke_core::RegisteredClaims = serde_json::from_str(&decoded).expect("claims");
    let facts = revocations.inspect(&claims, &decoded).expect("accepted");
    let outcome = revocations.revoke_token(&facts).await.expect("revoked");
    assert!(matches!(
        outcome,
        jwt_revoke_core::TokenRevocation::Recorded { .. }
    ));
    assert_eq!(
        status_of(&app, &token).await,
        StatusCode::UNAUTHORIZED,
        "revoked by the documented identity ({outcome:?}), still accepted"
    );
}

#[tokio::test]
async fn a5_claims_verified_upstream_with_an_events_claim_pass_as_an_access_token() {
    let clock = clock();
    let logout_like = json!({
        "iss": ISSUER, "sub": "alice", "jti": "logout-1", "sid": "session-of-alice",
        "iat": NOW, "exp": NOW + 120,
        "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
    });
    // Verify mode refuses it.
    let verifying = app(hs256_builder(memory_revocations(&clock))
        .build()
        .expect("builds"));
    assert_eq!(
        status_of(&verifying, &sign(&logout_like)).await,
        StatusCode::UNAUTHORIZED
    );
    // Upstream mode does not.
    let upstream = app(
        RevocationLayer::claims_verified_upstream(memory_revocations(&clock))
            .build()
            .expect("builds"),
    );
    let mut request = request("GET", "/me", Some(&sign(&logout_like)));
    request
        .extensions_mut()
        .insert(Claims::from_verified_json(&logout_like.to_string()).expect("claims"));
    let response = send(&upstream, request).await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "an event token's claims reach the handler as an access token's"
    );
}

// =============================================================================================
// Part B — attacks that held (these pass)
// =============================================================================================

#[tokio::test]
async fn b_duplicate_registered_members_are_refused_and_rfc_7009_agrees() {
    let clock = clock();
    let store = memory_store(&clock);
    let layer = hs256_builder(revocations_on(store, &clock, policy()))
        .token_from_cookie("at")
        .build()
        .expect("builds");
    let endpoint = RevocationEndpoint::new(&layer).expect("verifying");
    let app = app(layer).route_service("/oauth/revoke", endpoint);
    let base = format!(r#""iss":"{ISSUER}","iat":{NOW},"exp":{}"#, NOW + 600);
    for payload in [
        format!(r#"{{{base},"sub":"alice","sub":"bob","jti":"d1"}}"#),
        format!(r#"{{{base},"sub":"alice","jti":"d1","jti":"d2"}}"#),
        format!(r#"{{{base},"sub":"alice","jti":"d1","sid":"a","sid":"b"}}"#),
        format!(r#"{{{base},"sub":"alice","jti":"d1","iat":{NOW}}}"#),
        format!(r#"{{{base},"sub":"alice","jti":"d1","iss":"{ISSUER}"}}"#),
        format!(r#"{{{base},"s\u0075b":"alice","sub":"bob","jti":"d1"}}"#),
        format!(r#"{{{base},"sub":"alice","jti":"d1","exp":{}}}"#, NOW + 60),
    ] {
        let token = sign_raw_payload(&payload);
        assert_eq!(
            status_of(&app, &token).await,
            StatusCode::UNAUTHORIZED,
            "{payload}"
        );
        // The endpoint's 200 is then true: the layer never accepts it.
        assert_eq!(
            send(&app, revoke_form(&token)).await.status(),
            StatusCode::OK
        );
    }
    // Escaped member names are the claims they spell, for the layer and the endpoint alike.
    let escaped = sign_raw_payload(&format!(r#"{{{base},"s\u0075b":"alice","j\u0074i":"e1"}}"#));
    assert_eq!(status_of(&app, &escaped).await, StatusCode::OK);
    assert_eq!(
        send(&app, revoke_form(&escaped)).await.status(),
        StatusCode::OK
    );
    assert_eq!(status_of(&app, &escaped).await, StatusCode::UNAUTHORIZED);
    let plain =
        sign(&json!({"iss": ISSUER, "sub": "alice", "jti": "e1", "iat": NOW, "exp": NOW + 600}));
    assert_eq!(
        status_of(&app, &plain).await,
        StatusCode::UNAUTHORIZED,
        "same (iss, sub, jti)"
    );
}

#[tokio::test]
async fn b_odd_numbers_and_types_in_dates() {
    let clock = clock();
    let app = app(hs256_builder(memory_revocations(&clock))
        .build()
        .expect("builds"));
    let refused = [
        format!(
            r#"{{"iss":"{ISSUER}","sub":"a","iat":"{NOW}","exp":{}}}"#,
            NOW + 60
        ),
        format!(
            r#"{{"iss":"{ISSUER}","sub":"a","iat":{NOW},"exp":"{}"}}"#,
            NOW + 60
        ),
        format!(r#"{{"iss":"{ISSUER}","sub":"a","iat":{NOW},"exp":1e300}}"#),
        format!(r#"{{"iss":"{ISSUER}","sub":"a","iat":{NOW},"exp":9223372036854775807}}"#),
        format!(
            r#"{{"iss":"{ISSUER}","sub":"a","iat":-9223372036854775808,"exp":{}}}"#,
            NOW + 60
        ),
        format!(r#"{{"iss":"{ISSUER}","sub":"a","exp":9223372036854775807}}"#),
        format!(r#"{{"iss":"{ISSUER}","sub":"a","iat":{NOW},"exp":-0}}"#),
        format!(r#"{{"iss":"{ISSUER}","sub":"a","iat":{NOW}.5,"exp":{NOW}}}"#),
        format!(
            r#"{{"iss":["{ISSUER}"],"sub":"a","iat":{NOW},"exp":{}}}"#,
            NOW + 60
        ),
        format!(
            r#"{{"iss":"{ISSUER}","sub":7,"iat":{NOW},"exp":{}}}"#,
            NOW + 60
        ),
        format!(r#"["{ISSUER}","a",null,{},null]"#, NOW + 60),
        format!(r#""{ISSUER}""#),
        "null".to_owned(),
    ];
    for payload in refused {
        let token = sign_raw_payload(&payload);
        assert_eq!(
            status_of(&app, &token).await,
            StatusCode::UNAUTHORIZED,
            "{payload}"
        );
    }
    for payload in [
        format!(
            r#"{{"iss":"{ISSUER}","sub":"a","iat":1.7e9,"exp":{}}}"#,
            NOW + 60
        ),
        format!(
            r#"{{"iss":"{ISSUER}","sub":"a","iat":{NOW},"exp":{}.999999}}"#,
            NOW + 60
        ),
    ] {
        let token = sign_raw_payload(&payload);
        assert_eq!(status_of(&app, &token).await, StatusCode::OK, "{payload}");
    }
}

#[tokio::test]
async fn b_whitespace_quotes_and_encodings_in_each_source() {
    let clock = clock();
    let layer = hs256_builder(memory_revocations(&clock))
        .token_from_cookie("at")
        .token_from_header(http::HeaderName::from_static("x-token"))
        .build()
        .expect("builds");
    let app = app(layer);
    let token = sign(&claims("alice", "ws"));
    let with = |pairs: &[(&str, String)]| {
        let mut request = request("GET", "/me", None);
        for (name, value) in pairs {
            request.headers_mut().append(
                http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                value.parse().expect("value"),
            );
        }
        request
    };
    // The same token, trimmed differently in each source: one token.
    for pairs in [
        vec![
            ("authorization", format!("Bearer {token}")),
            ("cookie", format!("at={token} ")),
        ],
        vec![
            ("authorization", format!("bearer\t{token}\t")),
            ("x-token", format!(" {token}")),
        ],
        vec![("cookie", format!("x=1; at=\t{token}\t; y=2"))],
        vec![
            ("cookie", format!("at={token}")),
            ("cookie", format!("at= {token}")),
        ],
    ] {
        let response = send(&app, with(&pairs)).await;
        assert_eq!(response.status(), StatusCode::OK, "{pairs:?}");
    }
    // A quoted or percent-encoded cookie is another string: refused, never a bypass.
    for pairs in [
        vec![
            ("authorization", format!("Bearer {token}")),
            ("cookie", format!("at=\"{token}\"")),
        ],
        vec![
            ("authorization", format!("Bearer {token}")),
            ("cookie", format!("at={token}%20")),
        ],
    ] {
        let response = send(&app, with(&pairs)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{pairs:?}");
    }
    let response = send(&app, with(&[("cookie", format!("at=\"{token}\""))])).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn b_the_memo_and_cache_never_serve_a_revoked_or_foreign_token() {
    let clock = clock();
    let revocations = memory_revocations(&clock);
    let app = app(hs256_builder(revocations.clone())
        .cache_verified_tokens(64)
        .build()
        .expect("builds"));
    let mut no_jti = claims("alice", "unused");
    no_jti.as_object_mut().expect("object").remove("jti");
    let token = sign(&no_jti);
    for _ in 0..3 {
        assert_eq!(status_of(&app, &token).await, StatusCode::OK);
    }
    assert_eq!(
        status_for(&app, "POST", "/logout", &token).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(status_of(&app, &token).await, StatusCode::UNAUTHORIZED);
    // Same payload, signature of another key: the memo is not consulted before verification.
    let forged = format!(
        "{}.{}",
        token.rsplit_once('.').expect("segments").0,
        sign_with(
            &no_jti,
            Algorithm::HS256,
            b"the attacker's own key, long enough"
        )
        .rsplit_once('.')
        .expect("segments")
        .1
    );
    assert_eq!(status_of(&app, &forged).await, StatusCode::UNAUTHORIZED);
    // Clock step back past iat: refused (revalidate), and fine again afterwards.
    let fresh = sign(&claims("bob", "b-1"));
    assert_eq!(status_of(&app, &fresh).await, StatusCode::OK);
    clock.set(Timestamp::from_secs(NOW - 10));
    assert_eq!(status_of(&app, &fresh).await, StatusCode::UNAUTHORIZED);
    clock.set(Timestamp::from_secs(NOW));
    assert_eq!(status_of(&app, &fresh).await, StatusCode::OK);
}

#[tokio::test]
async fn b_cutoffs_cover_the_edges_of_the_skew_and_the_same_second() {
    let clock = clock();
    clock.set(Timestamp::from_micros(NOW * 1_000_000 + 999_999));
    let revocations = memory_revocations(&clock);
    let app = app(hs256_builder(revocations.clone()).build().expect("builds"));
    // The latest iat accepted now: now + 2 s, as an integer (rounded down) and fractionally.
    let mut tokens = Vec::new();
    for (i, iat) in [json!(NOW + 2), json!(NOW as f64 + 2.5), json!(NOW)]
        .into_iter()
        .enumerate()
    {
        let mut c = claims("alice", &format!("edge-{i}"));
        c["iat"] = iat;
        let token = sign(&c);
        assert_eq!(status_of(&app, &token).await, StatusCode::OK, "{c}");
        tokens.push(token);
    }
    let cutoff = revocations
        .revoke_user(&UserId::new(ISSUER, "alice"))
        .await
        .expect("revokes");
    for token in &tokens {
        assert_eq!(status_of(&app, token).await, StatusCode::UNAUTHORIZED);
    }
    // A token minted with first_valid_iat works as soon as the clock allows it.
    let mut fresh = claims("alice", "after");
    fresh["iat"] = json!(cutoff.first_valid_iat());
    let fresh = sign(&fresh);
    clock.set(Timestamp::from_secs(cutoff.first_valid_iat() - 2));
    assert_eq!(status_of(&app, &fresh).await, StatusCode::OK);
}

#[tokio::test]
async fn b_claims_memo_sizes_at_the_extremes_neither_panic_nor_refuse() {
    let clock = clock();
    for bytes in [512usize, 600, 1025, usize::MAX / 4096] {
        let app = app(hs256_builder(memory_revocations(&clock))
            .claims_memo(bytes)
            .build()
            .expect("builds"));
        let token = sign(&claims("alice", "m"));
        for _ in 0..3 {
            assert_eq!(status_of(&app, &token).await, StatusCode::OK, "{bytes}");
        }
    }
}

// ---- receivers and the layer under odd input: never a panic, never a 5xx with a healthy store

const IDP: &str = "https://idp.test";
const CLIENT: &str = "our-client-id";
const IDP_SECRET: &[u8] = b"the idp's shared secret, long enough";

fn idp_trust() -> jwt_revoke_tower::events::EventTokenTrust {
    jwt_revoke_tower::events::EventTokenTrust::new(
        jwt_revoke_tower::DecodingKeys::new(jsonwebtoken::DecodingKey::from_secret(IDP_SECRET)),
        &[Algorithm::HS256],
        IDP,
        CLIENT,
    )
}

async fn event_status<S>(service: S, request: Request<Body>) -> StatusCode
where
    S: tower::Service<
            Request<Body>,
            Response = http::Response<jwt_revoke_tower::events::EventBody>,
            Error = std::convert::Infallible,
        >,
{
    use tower::ServiceExt as _;
    service.oneshot(request).await.expect("infallible").status()
}

#[tokio::test]
async fn b_odd_sets_and_logout_tokens_get_4xx_or_success_never_5xx() {
    use jwt_revoke_tower::events::{
        BackchannelLogout, CREDENTIAL_CHANGE, SESSION_REVOKED, SecurityEventReceiver,
    };
    let clock = clock();
    let revocations = memory_revocations(&clock);
    let receiver = SecurityEventReceiver::builder(revocations.clone(), idp_trust())
        .revoke_for_issuer(ISSUER)
        .build()
        .expect("builds");
    let logout = BackchannelLogout::builder(revocations.clone(), idp_trust())
        .revoke_for_issuer(ISSUER)
        .build()
        .expect("builds");
    let events = [
        json!([]),
        json!("x"),
        json!({ SESSION_REVOKED: [] }),
        json!({ SESSION_REVOKED: { "subject": 7 } }),
        json!({ SESSION_REVOKED: { "subject": { "format": "complex", "session": { "format": "complex", "session": { "format": "opaque", "id": "s" } } } } }),
        json!({ SESSION_REVOKED: { "subject": { "format": "complex", "session": { "format": "iss_sub", "iss": "https://evil", "sub": "a" } } } }),
        json!({ SESSION_REVOKED: { "subject": { "format": "iss_sub", "iss": 5, "sub": "a" } } }),
        json!({ CREDENTIAL_CHANGE: { "subject": { "format": "opaque", "id": "a" }, "event_timestamp": "soon" } }),
        json!({ CREDENTIAL_CHANGE: { "subject": { "format": "opaque", "id": "a" }, "event_timestamp": 1e300 } }),
        json!({ CREDENTIAL_CHANGE: { "subject": { "format": "opaque", "id": "a" }, "event_timestamp": -9223372036854775808i64 } }),
        json!({ CREDENTIAL_CHANGE: { "subject": { "format": "opaque", "id": "a" }, "event_timestamp": 9223372036854775807i64 } }),
        json!({ CREDENTIAL_CHANGE: { "subject": { "format": "email", "email": "a@b" } } }),
    ];
    for (i, events) in events.into_iter().enumerate() {
        let set = json!({ "iss": IDP, "aud": CLIENT, "iat": NOW, "jti": format!("set-{i}"), "events": events });
        let token = sign_with(&set, Algorithm::HS256, IDP_SECRET);
        let request = Request::post("/")
            .header("content-type", "application/secevent+jwt")
            .body(Body::from(token))
            .expect("request");
        let status = event_status(receiver.clone(), request).await;
        assert!(
            status == StatusCode::ACCEPTED || status == StatusCode::BAD_REQUEST,
            "{set}: {status}"
        );
    }
    for claims in [
        json!({ "iss": IDP, "aud": CLIENT, "iat": NOW, "exp": NOW + 60, "jti": "l1", "events": { "http://schemas.openid.net/event/backchannel-logout": [] }, "sub": "a" }),
        json!({ "iss": IDP, "aud": CLIENT, "iat": NOW, "exp": NOW + 60, "jti": "l2", "events": { "http://schemas.openid.net/event/backchannel-logout": {} } }),
        json!({ "iss": IDP, "aud": CLIENT, "iat": NOW, "exp": NOW + 60, "jti": "l3", "events": { "http://schemas.openid.net/event/backchannel-logout": {} }, "sid": 5 }),
        json!({ "iss": IDP, "aud": [CLIENT, "x"], "iat": NOW as f64 + 0.5, "exp": NOW - 100, "jti": "l4", "events": { "http://schemas.openid.net/event/backchannel-logout": {} }, "sub": "a" }),
    ] {
        let token = sign_with(&claims, Algorithm::HS256, IDP_SECRET);
        let request = Request::post("/")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(format!("logout_token={token}")))
            .expect("request");
        let status = event_status(logout.clone(), request).await;
        assert!(
            status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
            "{claims}: {status}"
        );
    }
}

#[tokio::test]
async fn b_odd_tokens_and_headers_are_4xx() {
    let clock = clock();
    let app = app(hs256_builder(memory_revocations(&clock))
        .token_from_cookie("at")
        .build()
        .expect("builds"));
    let long = "a".repeat(9000);
    for token in [
        "..",
        ".",
        "a.b",
        "a.b.c.d",
        "a..c",
        "....",
        "e30.e30.",
        &long,
        "eyJhbGciOiJIUzI1NiJ9.bnVsbA.AAAA",
    ] {
        let status = status_of(&app, token).await;
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::BAD_REQUEST,
            "{token:.40}: {status}"
        );
    }
    for value in ["Bearer", "Bearer ", "Bearer\t", "bearer  ,", "Bearer a b"] {
        let mut req = request("GET", "/me", None);
        req.headers_mut()
            .insert("authorization", value.parse().expect("value"));
        let status = send(&app, req).await.status();
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::BAD_REQUEST,
            "{value}: {status}"
        );
    }
    for cookie in ["at=", "at", "=", ";;;", "at=;at=x"] {
        let mut req = request("GET", "/me", None);
        req.headers_mut()
            .insert("cookie", cookie.parse().expect("value"));
        let status = send(&app, req).await.status();
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::BAD_REQUEST,
            "{cookie}: {status}"
        );
    }
}
