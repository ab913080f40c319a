//! The event receivers, each validation step broken in turn, with logout tokens and SETs
//! signed inside the tests by freshly generated RS256 and ES256 keys.

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, Header};
use jwt_revoke_core::{
    ManualClock, RegisteredClaims, RevocationReason, Revocations, Timestamp, Verdict,
};
use jwt_revoke_memory::MemoryStore;
use jwt_revoke_tower::DecodingKeys;
use jwt_revoke_tower::events::{
    BackchannelLogout, CREDENTIAL_CHANGE, EventTokenTrust, FusionAuthWebhook, RevocationEndpoint,
    SESSION_REVOKED, SecurityEventReceiver,
};
use serde_json::{Value, json};
use support::{DownStore, NOW, clock, hs256_builder, policy, revocations_on, sign};
use tower::ServiceExt;

const IDP: &str = "https://idp.test";
const CLIENT: &str = "our-client-id";
/// The issuer of the access tokens the events revoke.
const API: &str = "https://api.test";

/// A key pair of an identity provider, generated for this test run.
use support::KeyPair as Idp;

/// What the receivers are told to trust of an identity provider's key pair.
trait Trusted {
    fn trust(&self) -> EventTokenTrust;
}

impl Trusted for Idp {
    fn trust(&self) -> EventTokenTrust {
        EventTokenTrust::new(
            DecodingKeys::new(self.decoding.clone()),
            &[self.alg],
            IDP,
            CLIENT,
        )
    }
}

fn engine(clock: &ManualClock) -> Revocations {
    let store = MemoryStore::builder()
        .clock(Arc::new(clock.clone()))
        .build();
    revocations_on(Arc::new(store), clock, policy())
}

/// An access token of `API` (as claims, already verified) for the engine to judge.
async fn access_verdict(revocations: &Revocations, sub: &str, sid: &str, iat: i64) -> Verdict {
    let claims: RegisteredClaims = serde_json::from_value(json!({
        "iss": API, "sub": sub, "sid": sid, "jti": format!("{sub}-{sid}-{iat}"),
        "iat": iat, "exp": iat + 600,
    }))
    .expect("claims");
    let facts = revocations.inspect(&claims, "").expect("a valid token");
    revocations.check(&facts).await.expect("check")
}

/// A change made to a token's claims to break one validation step.
type ClaimsChange = dyn Fn(&mut serde_json::Map<String, Value>);

fn logout_claims(jti: &str) -> Value {
    json!({
        "iss": IDP, "aud": CLIENT, "iat": NOW, "exp": NOW + 120, "jti": jti,
        "sub": "alice", "sid": "session-1",
        "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
    })
}

fn form(body: String) -> Request<Body> {
    Request::post("/")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request")
}

async fn send<S>(service: S, request: Request<Body>) -> (StatusCode, http::HeaderMap, Value)
where
    S: tower::Service<
            Request<Body>,
            Response = http::Response<jwt_revoke_tower::events::EventBody>,
            Error = std::convert::Infallible,
        >,
{
    let response = service.oneshot(request).await.expect("infallible");
    let (head, body) = response.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("a JSON body")
    };
    (head.status, head.headers, json)
}

fn backchannel(idp: &Idp, revocations: &Revocations) -> BackchannelLogout {
    BackchannelLogout::builder(revocations.clone(), idp.trust())
        .revoke_for_issuer(API)
        .build()
        .expect("builds")
}

async fn post_logout(receiver: &BackchannelLogout, token: &str) -> (StatusCode, Value) {
    let (status, headers, body) =
        send(receiver.clone(), form(format!("logout_token={token}"))).await;
    assert_eq!(headers["cache-control"], "no-store", "always no-store");
    (status, body)
}

async fn assert_logout_refused(receiver: &BackchannelLogout, token: &str, why: &str) {
    let (status, body) = post_logout(receiver, token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {body}");
    assert_eq!(body["error"], "invalid_request");
    let description = body["error_description"].as_str().expect("a description");
    assert!(
        description.contains(why),
        "expected {why:?}, got {description:?}"
    );
}

#[tokio::test]
async fn a_logout_token_with_sid_ends_that_session_rs256_and_es256() {
    for alg in [Algorithm::RS256, Algorithm::ES256] {
        let clock = clock();
        let revocations = engine(&clock);
        let idp = Idp::generate(alg);
        let receiver = backchannel(&idp, &revocations);
        let token = idp.sign(Some("logout+jwt"), &logout_claims("l-1"));
        let (status, body) = post_logout(&receiver, &token).await;
        assert_eq!((status, body), (StatusCode::OK, Value::Null), "{alg:?}");
        assert!(matches!(
            access_verdict(&revocations, "alice", "session-1", NOW).await,
            Verdict::Revoked(RevocationReason::Session(_))
        ));
        assert_eq!(
            access_verdict(&revocations, "alice", "session-2", NOW).await,
            Verdict::Valid
        );
    }
}

#[tokio::test]
async fn a_logout_token_without_sid_ends_every_session_of_the_user() {
    let clock = clock();
    let revocations = engine(&clock);
    let idp = Idp::generate(Algorithm::ES256);
    let receiver = backchannel(&idp, &revocations);
    let mut claims = logout_claims("l-2");
    claims.as_object_mut().expect("object").remove("sid");
    let (status, _) = post_logout(&receiver, &idp.sign(None, &claims)).await;
    assert_eq!(status, StatusCode::OK);
    for sid in ["session-1", "session-2"] {
        assert!(matches!(
            access_verdict(&revocations, "alice", sid, NOW).await,
            Verdict::Revoked(RevocationReason::User(_))
        ));
    }
    assert_eq!(
        access_verdict(&revocations, "bob", "session-1", NOW).await,
        Verdict::Valid
    );
}

#[tokio::test]
async fn every_validation_step_of_a_logout_token_refuses_when_broken() {
    let clock = clock();
    let revocations = engine(&clock);
    let idp = Idp::generate(Algorithm::RS256);
    let receiver = backchannel(&idp, &revocations);
    let with = |change: &ClaimsChange| {
        let mut claims = logout_claims("l-x");
        change(claims.as_object_mut().expect("object"));
        idp.sign(Some("logout+jwt"), &claims)
    };
    let other_key = Idp::generate(Algorithm::RS256).sign(None, &logout_claims("l-3"));
    assert_logout_refused(&receiver, &other_key, "signature is invalid").await;
    let other_alg = Idp::generate(Algorithm::ES256).sign(None, &logout_claims("l-4"));
    assert_logout_refused(&receiver, &other_alg, "algorithm is not accepted").await;
    let hs256 = sign(&logout_claims("l-5"));
    assert_logout_refused(&receiver, &hs256, "algorithm is not accepted").await;
    let cases: &[(&str, &ClaimsChange)] = &[
        ("issuer is not accepted", &|c| {
            c.insert("iss".into(), json!("https://evil.test"));
        }),
        ("audience is not accepted", &|c| {
            c.insert("aud".into(), json!("someone-else"));
        }),
        ("has no aud claim", &|c| {
            c.remove("aud");
        }),
        ("has no iat claim", &|c| {
            c.remove("iat");
        }),
        ("issued in the future", &|c| {
            c.insert("iat".into(), json!(NOW + 600));
        }),
        ("issued too long ago", &|c| {
            c.insert("iat".into(), json!(NOW - 3600));
            c.insert("exp".into(), json!(NOW + 60));
        }),
        ("has expired", &|c| {
            c.insert("exp".into(), json!(NOW - 1));
        }),
        ("has no exp claim", &|c| {
            c.remove("exp");
        }),
        ("has no jti claim", &|c| {
            c.remove("jti");
        }),
        ("has no events claim", &|c| {
            c.remove("events");
        }),
        ("no back-channel logout event", &|c| {
            c.insert("events".into(), json!({ "https://other.test/event": {} }));
        }),
        ("no back-channel logout event", &|c| {
            c.insert(
                "events".into(),
                json!({ "http://schemas.openid.net/event/backchannel-logout": "yes" }),
            );
        }),
        ("must not contain a nonce", &|c| {
            c.insert("nonce".into(), json!("n-0S6_WzA2Mj"));
        }),
        ("neither sub nor sid", &|c| {
            c.remove("sub");
            c.remove("sid");
        }),
    ];
    for (why, change) in cases {
        assert_logout_refused(&receiver, &with(change), why).await;
    }
    for typ in ["at+jwt", "application/at+jwt", "secevent+jwt"] {
        let token = idp.sign(Some(typ), &logout_claims("l-6"));
        assert_logout_refused(&receiver, &token, "is not a logout token").await;
    }
    // Nothing of all that was acted on.
    assert_eq!(
        access_verdict(&revocations, "alice", "session-1", NOW).await,
        Verdict::Valid
    );
}

#[tokio::test]
async fn a_logout_token_is_acted_on_once() {
    let clock = clock();
    let revocations = engine(&clock);
    let idp = Idp::generate(Algorithm::ES256);
    let receiver = backchannel(&idp, &revocations);
    let token = idp.sign(Some("logout+jwt"), &logout_claims("l-7"));
    assert_eq!(post_logout(&receiver, &token).await.0, StatusCode::OK);
    clock.advance(Duration::from_secs(30));
    assert_logout_refused(&receiver, &token, "used already").await;
    // A replay could have moved the cut-off past a new login; it did not.
    assert_eq!(
        access_verdict(&revocations, "alice", "session-1", NOW + 10).await,
        Verdict::Valid
    );
}

#[tokio::test]
async fn malformed_logout_requests_are_refused() {
    let clock = clock();
    let revocations = engine(&clock);
    let idp = Idp::generate(Algorithm::RS256);
    let receiver = backchannel(&idp, &revocations);
    assert_logout_refused(&receiver, "", "logout_token parameter is missing").await;
    assert_logout_refused(&receiver, "garbage", "malformed").await;
    let (status, _, body) = send(receiver.clone(), form("nothing=here".into())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("missing"))
    );
    let json_body = Request::post("/")
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .expect("request");
    assert_eq!(
        send(receiver.clone(), json_body).await.0,
        StatusCode::BAD_REQUEST
    );
    let get = Request::get("/").body(Body::empty()).expect("request");
    let (status, headers, _) = send(receiver.clone(), get).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["allow"], "POST");
    let huge = form(format!("logout_token={}", "a".repeat(100 * 1024)));
    assert_eq!(send(receiver, huge).await.0, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn keys_can_come_from_a_jwks() {
    let clock = clock();
    let revocations = engine(&clock);
    let idp = Idp::generate(Algorithm::RS256);
    let mut jwk = Jwk::from_encoding_key(&idp.encoding, Algorithm::RS256).expect("a jwk");
    jwk.common.key_id = Some("key-2026".into());
    let keys = DecodingKeys::from_jwks(&JwkSet { keys: vec![jwk] }).expect("usable keys");
    let trust = EventTokenTrust::new(keys, &[Algorithm::RS256], IDP, CLIENT);
    let receiver = BackchannelLogout::builder(revocations.clone(), trust)
        .revoke_for_issuer(API)
        .build()
        .expect("builds");
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("key-2026".into());
    let token = jsonwebtoken::encode(&header, &logout_claims("l-8"), &idp.encoding).expect("signs");
    assert_eq!(post_logout(&receiver, &token).await.0, StatusCode::OK);
    header.kid = Some("unknown".into());
    let token = jsonwebtoken::encode(&header, &logout_claims("l-9"), &idp.encoding).expect("signs");
    assert_logout_refused(&receiver, &token, "key id (kid) is not known").await;
}

#[tokio::test]
async fn a_store_outage_is_503_so_that_the_idp_retries() {
    let clock = clock();
    let revocations = revocations_on(Arc::new(DownStore), &clock, policy());
    let idp = Idp::generate(Algorithm::ES256);
    let receiver = backchannel(&idp, &revocations);
    let token = idp.sign(None, &logout_claims("l-10"));
    let (status, headers, _) = send(receiver, form(format!("logout_token={token}"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(headers.contains_key("retry-after"));
}

// ---- Security Event Tokens --------------------------------------------------------------

fn set_claims(jti: &str, events: Value) -> Value {
    json!({ "iss": IDP, "aud": CLIENT, "iat": NOW, "jti": jti, "events": events })
}

fn set_request(token: String) -> Request<Body> {
    Request::post("/")
        .header("content-type", "application/secevent+jwt")
        .body(Body::from(token))
        .expect("request")
}

fn set_receiver(idp: &Idp, revocations: &Revocations) -> SecurityEventReceiver {
    SecurityEventReceiver::builder(revocations.clone(), idp.trust())
        .revoke_for_issuer(API)
        .build()
        .expect("builds")
}

async fn assert_set_refused(
    receiver: &SecurityEventReceiver,
    token: String,
    code: &str,
    why: &str,
) {
    let (status, _, body) = send(receiver.clone(), set_request(token)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {body}");
    assert_eq!(body["err"], code, "{why}: {body}");
    let description = body["description"].as_str().expect("a description");
    assert!(
        description.contains(why),
        "expected {why:?}, got {description:?}"
    );
}

#[tokio::test]
async fn caep_session_revoked_ends_a_session_or_a_user() {
    let clock = clock();
    let revocations = engine(&clock);
    let idp = Idp::generate(Algorithm::RS256);
    let receiver = set_receiver(&idp, &revocations);
    let session = json!({ SESSION_REVOKED: {
        "subject": { "format": "complex",
                     "session": { "format": "opaque", "id": "session-1" },
                     "user": { "format": "iss_sub", "iss": API, "sub": "alice" } },
    }});
    let token = idp.sign(Some("secevent+jwt"), &set_claims("s-1", session));
    let (status, _, _) = send(receiver.clone(), set_request(token)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(matches!(
        access_verdict(&revocations, "alice", "session-1", NOW).await,
        Verdict::Revoked(RevocationReason::Session(_))
    ));
    assert_eq!(
        access_verdict(&revocations, "alice", "session-2", NOW).await,
        Verdict::Valid
    );

    // The Shared Signals Framework puts the subject at the top level, as sub_id.
    let mut claims = set_claims("s-2", json!({ SESSION_REVOKED: {} }));
    claims["sub_id"] = json!({ "format": "iss_sub", "iss": API, "sub": "bob" });
    let (status, _, _) = send(receiver, set_request(idp.sign(None, &claims))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(matches!(
        access_verdict(&revocations, "bob", "any", NOW).await,
        Verdict::Revoked(RevocationReason::User(_))
    ));
}

#[tokio::test]
async fn caep_credential_change_cuts_off_at_the_event_timestamp() {
    let clock = clock();
    let revocations = engine(&clock);
    let idp = Idp::generate(Algorithm::ES256);
    let receiver = set_receiver(&idp, &revocations);
    let event = json!({ CREDENTIAL_CHANGE: {
        "subject": { "format": "opaque", "id": "carol" },
        "credential_type": "password", "change_type": "update",
        "event_timestamp": NOW - 100,
    }});
    let token = idp.sign(Some("secevent+jwt"), &set_claims("s-3", event));
    assert_eq!(
        send(receiver, set_request(token)).await.0,
        StatusCode::ACCEPTED
    );
    assert!(matches!(
        access_verdict(&revocations, "carol", "x", NOW - 200).await,
        Verdict::Revoked(RevocationReason::User(_))
    ));
    assert_eq!(
        access_verdict(&revocations, "carol", "x", NOW - 50).await,
        Verdict::Valid,
        "a token issued after the change survives"
    );
}

#[tokio::test]
async fn every_validation_step_of_a_set_refuses_with_rfc_8935_codes() {
    let clock = clock();
    let revocations = engine(&clock);
    let idp = Idp::generate(Algorithm::RS256);
    let receiver = set_receiver(&idp, &revocations);
    let event =
        json!({ SESSION_REVOKED: { "subject": { "format": "opaque", "id": "session-1" } } });
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = set_claims("s-x", event.clone());
        change(&mut claims);
        idp.sign(Some("secevent+jwt"), &claims)
    };
    let other_key = Idp::generate(Algorithm::RS256).sign(None, &set_claims("s-4", event.clone()));
    assert_set_refused(&receiver, other_key, "invalid_key", "signature is invalid").await;
    let other_alg = Idp::generate(Algorithm::ES256).sign(None, &set_claims("s-5", event.clone()));
    assert_set_refused(
        &receiver,
        other_alg,
        "invalid_key",
        "algorithm is not accepted",
    )
    .await;
    assert_set_refused(
        &receiver,
        with(&|c| c["iss"] = json!("https://evil.test")),
        "invalid_issuer",
        "issuer",
    )
    .await;
    assert_set_refused(
        &receiver,
        with(&|c| c["aud"] = json!("other")),
        "invalid_audience",
        "audience",
    )
    .await;
    assert_set_refused(
        &receiver,
        with(&|c| c["iat"] = json!(NOW + 600)),
        "invalid_request",
        "future",
    )
    .await;
    let no_jti = with(&|c| {
        c.as_object_mut().expect("object").remove("jti");
    });
    assert_set_refused(&receiver, no_jti, "invalid_request", "no jti").await;
    let no_events = with(&|c| {
        c.as_object_mut().expect("object").remove("events");
    });
    assert_set_refused(&receiver, no_events, "invalid_request", "no events claim").await;
    let email = with(&|c| {
        c["events"] =
            json!({ SESSION_REVOKED: { "subject": { "format": "email", "email": "a@b.test" } } });
    });
    assert_set_refused(&receiver, email, "invalid_request", "not supported").await;
    let no_subject = with(&|c| c["events"] = json!({ SESSION_REVOKED: {} }));
    assert_set_refused(&receiver, no_subject, "invalid_request", "has no subject").await;
    for typ in ["logout+jwt", "at+jwt"] {
        let token = idp.sign(Some(typ), &set_claims("s-6", event.clone()));
        assert_set_refused(
            &receiver,
            token,
            "invalid_request",
            "not a security event token",
        )
        .await;
    }
    // An access token is no SET.
    let access = idp.sign(
        None,
        &json!({ "iss": IDP, "aud": CLIENT, "iat": NOW, "jti": "a", "sub": "x", "exp": NOW + 60 }),
    );
    assert_set_refused(&receiver, access, "invalid_request", "no events claim").await;
    let (status, _, body) = send(
        receiver.clone(),
        Request::post("/")
            .header("content-type", "application/jwt")
            .body(Body::from("x"))
            .expect("request"),
    )
    .await;
    assert_eq!(
        (status, body["err"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    assert_eq!(
        access_verdict(&revocations, "alice", "session-1", NOW).await,
        Verdict::Valid
    );
}

#[tokio::test]
async fn a_set_is_acted_on_once_and_unknown_events_are_accepted_and_ignored() {
    let clock = clock();
    let revocations = engine(&clock);
    let idp = Idp::generate(Algorithm::ES256);
    let receiver = set_receiver(&idp, &revocations);
    let unknown = idp.sign(
        None,
        &set_claims("s-7", json!({ "https://example.test/other": {} })),
    );
    assert_eq!(
        send(receiver.clone(), set_request(unknown.clone())).await.0,
        StatusCode::ACCEPTED
    );
    assert_set_refused(&receiver, unknown, "invalid_request", "delivered already").await;
}

// ---- FusionAuth webhook -------------------------------------------------------------------

fn fusionauth(revocations: &Revocations) -> FusionAuthWebhook {
    FusionAuthWebhook::builder(
        revocations.clone(),
        API,
        http::HeaderName::from_static("x-webhook-secret"),
        WEBHOOK_SECRET,
    )
    .build()
    .expect("a long enough secret")
}

const WEBHOOK_SECRET: &str = "a webhook secret for tests";

fn webhook_request(secret: Option<&str>, body: &Value) -> Request<Body> {
    let mut request = Request::post("/").header("content-type", "application/json");
    if let Some(secret) = secret {
        request = request.header("x-webhook-secret", secret);
    }
    request.body(Body::from(body.to_string())).expect("request")
}

#[tokio::test]
async fn a_fusionauth_refresh_token_revoke_cuts_off_the_user() {
    let clock = clock();
    let revocations = engine(&clock);
    let webhook = fusionauth(&revocations);
    let event = json!({ "event": {
        "type": "jwt.refresh-token.revoke", "userId": "dave",
        "applicationTimeToLiveInSeconds": { "app-1": 3600 }, "createInstant": NOW * 1000,
    }});
    for secret in [None, Some("wrong secret")] {
        let (status, _, _) = send(webhook.clone(), webhook_request(secret, &event)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        access_verdict(&revocations, "dave", "s", NOW).await,
        Verdict::Valid
    );
    let (status, _, _) = send(
        webhook.clone(),
        webhook_request(Some(WEBHOOK_SECRET), &event),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(matches!(
        access_verdict(&revocations, "dave", "s", NOW).await,
        Verdict::Revoked(RevocationReason::User(_))
    ));
    let other = json!({ "event": { "type": "user.login.success", "userId": "erin" } });
    assert_eq!(
        send(
            webhook.clone(),
            webhook_request(Some(WEBHOOK_SECRET), &other)
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        access_verdict(&revocations, "erin", "s", NOW).await,
        Verdict::Valid
    );
    let no_user = json!({ "event": { "type": "jwt.refresh-token.revoke" } });
    assert_eq!(
        send(
            webhook.clone(),
            webhook_request(Some(WEBHOOK_SECRET), &no_user)
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send(
            webhook,
            webhook_request(Some(WEBHOOK_SECRET), &json!([1, 2]))
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
}

// ---- RFC 7009 -----------------------------------------------------------------------------

fn access_token(jti: &str) -> String {
    sign(&support::claims("frank", jti))
}

#[tokio::test]
async fn rfc_7009_revokes_a_valid_token_and_says_200_to_anything_else() {
    let clock = clock();
    let revocations = support::memory_revocations(&clock);
    let layer = hs256_builder(revocations.clone()).build().expect("builds");
    let endpoint = RevocationEndpoint::new(&layer).expect("verifying layer");
    let app = support::app(layer).route_service("/oauth/revoke", endpoint);
    let token = access_token("r-1");
    let revoke = |body: String| {
        Request::post("/oauth/revoke")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .expect("request")
    };
    let response = support::send(
        &app,
        revoke(format!("token={token}&token_type_hint=access_token")),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    support::assert_invalid_token(&app, &token, "the token has been revoked").await;
    for unknown in ["garbage", "a.b.c", &sign(&json!({"iss": "x"}))] {
        let response = support::send(&app, revoke(format!("token={unknown}"))).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "RFC 7009: invalid tokens are no error"
        );
    }
    let response = support::send(&app, revoke("token_type_hint=access_token".into())).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_str(&support::body_text(response).await).expect("json");
    assert_eq!(body["error"], "invalid_request");
    let twice = support::send(&app, revoke(format!("token={token}&token={token}"))).await;
    assert_eq!(twice.status(), StatusCode::BAD_REQUEST);
    let refresh = support::send(
        &app,
        revoke("token=opaque-refresh-token&token_type_hint=refresh_token".into()),
    )
    .await;
    assert_eq!(refresh.status(), StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_str(&support::body_text(refresh).await).expect("json");
    assert_eq!(body["error"], "unsupported_token_type");
}

#[tokio::test]
async fn rfc_7009_can_require_client_authentication_and_never_fakes_success() {
    let clock = clock();
    let layer = hs256_builder(support::memory_revocations(&clock))
        .build()
        .expect("builds");
    let endpoint = RevocationEndpoint::new(&layer)
        .expect("verifying layer")
        .authenticate_client(|head| {
            head.headers
                .get("authorization")
                .is_some_and(|v| v == "Basic Y2xpZW50OnNlY3JldA==")
        });
    let request = |auth: Option<&str>| {
        let mut request =
            Request::post("/").header("content-type", "application/x-www-form-urlencoded");
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request
            .body(Body::from(format!("token={}", access_token("r-2"))))
            .expect("request")
    };
    let (status, _, body) = send(endpoint.clone(), request(None)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    assert_eq!(
        send(endpoint, request(Some("Basic Y2xpZW50OnNlY3JldA==")))
            .await
            .0,
        StatusCode::OK
    );

    let down = hs256_builder(revocations_on(Arc::new(DownStore), &clock, policy()))
        .build()
        .expect("builds");
    let endpoint = RevocationEndpoint::new(&down).expect("verifying layer");
    let (status, headers, _) = send(endpoint, request(None)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(headers.contains_key("retry-after"));
}

#[test]
fn rfc_7009_needs_a_layer_that_verifies() {
    let clock = ManualClock::new(Timestamp::from_secs(NOW));
    let layer = jwt_revoke_tower::RevocationLayer::claims_verified_upstream(
        support::memory_revocations(&clock),
    )
    .build()
    .expect("builds");
    match RevocationEndpoint::new(&layer) {
        Err(err) => assert!(
            err.to_string().contains("RevocationLayer::verifying"),
            "{err}"
        ),
        Ok(_) => panic!("an endpoint over claims verified upstream"),
    }
}

#[test]
fn a_webhook_secret_too_short_to_be_one_is_refused() {
    let clock = clock();
    for secret in ["", "short"] {
        let built = FusionAuthWebhook::builder(
            engine(&clock),
            API,
            http::HeaderName::from_static("x-webhook-secret"),
            secret,
        )
        .build();
        assert!(
            matches!(
                built,
                Err(jwt_revoke_tower::events::WeakSecret { min_bytes: 16, .. })
            ),
            "{secret:?}"
        );
    }
}

#[tokio::test]
async fn a_set_may_not_revoke_the_users_of_another_issuer() {
    let clock = clock();
    let revocations = engine(&clock);
    let idp = Idp::generate(Algorithm::ES256);
    let receiver = set_receiver(&idp, &revocations);
    let event = json!({ SESSION_REVOKED: {
        "subject": { "format": "iss_sub", "iss": "https://other-tenant.test", "sub": "admin" },
    }});
    let token = idp.sign(None, &set_claims("s-9", event));
    assert_set_refused(
        &receiver,
        token,
        "invalid_request",
        "not the one this receiver revokes for",
    )
    .await;
}

#[tokio::test]
async fn a_logout_cuts_at_its_own_instant_so_a_later_login_survives() {
    let clock = clock();
    let revocations = engine(&clock);
    let idp = Idp::generate(Algorithm::RS256);
    let receiver = backchannel(&idp, &revocations);
    // The IdP logged the user out at NOW; the token arrives 30 s later, after a new login.
    clock.advance(Duration::from_secs(30));
    let mut claims = logout_claims("l-11");
    claims.as_object_mut().expect("object").remove("sid");
    assert_eq!(
        post_logout(&receiver, &idp.sign(None, &claims)).await.0,
        StatusCode::OK
    );
    assert!(matches!(
        access_verdict(&revocations, "alice", "session-1", NOW).await,
        Verdict::Revoked(RevocationReason::User(_))
    ));
    assert_eq!(
        access_verdict(&revocations, "alice", "session-2", NOW + 20).await,
        Verdict::Valid,
        "a login after the logout instant survives the late delivery"
    );
}

#[tokio::test]
async fn an_ended_session_ends_its_tokens_minted_after_a_late_logout_token_was_issued() {
    let clock = clock();
    let revocations = engine(&clock);
    let idp = Idp::generate(Algorithm::RS256);
    let receiver = backchannel(&idp, &revocations);
    // The provider ended session-1 at NOW - 60; the delivery arrives now (retried, or the
    // provider's clock is behind ours), after a token of the session was minted at NOW - 30.
    let mut claims = logout_claims("l-late");
    claims["iat"] = json!(NOW - 60);
    assert_eq!(
        post_logout(&receiver, &idp.sign(None, &claims)).await.0,
        StatusCode::OK
    );
    for iat in [NOW - 30, NOW, NOW + 1] {
        assert!(
            matches!(
                access_verdict(&revocations, "alice", "session-1", iat).await,
                Verdict::Revoked(RevocationReason::Session(_))
            ),
            "a token of the ended session issued at {iat} survived"
        );
    }
    assert_eq!(
        access_verdict(&revocations, "alice", "session-2", NOW - 30).await,
        Verdict::Valid,
        "another session of the user lives on"
    );
}

#[tokio::test]
async fn a_caep_session_revoked_ends_the_session_up_to_now_whatever_its_timestamp() {
    let clock = clock();
    let revocations = engine(&clock);
    let idp = Idp::generate(Algorithm::ES256);
    let receiver = set_receiver(&idp, &revocations);
    let event = json!({ SESSION_REVOKED: {
        "subject": { "format": "opaque", "id": "session-1" },
        "event_timestamp": NOW - 300,
    }});
    let token = idp.sign(Some("secevent+jwt"), &set_claims("s-late", event));
    assert_eq!(
        send(receiver, set_request(token)).await.0,
        StatusCode::ACCEPTED
    );
    assert!(matches!(
        access_verdict(&revocations, "alice", "session-1", NOW - 100).await,
        Verdict::Revoked(RevocationReason::Session(_))
    ));
}

/// An event token whose header marks a parameter critical (RFC 7515 §4.1.11) is refused by
/// both token receivers, and nothing of it is acted on: the receivers understand no JWS
/// extension. Found by issue 12's hostile matrix on the layer, which shares this verifier.
#[tokio::test]
async fn an_event_token_with_a_critical_header_parameter_is_refused() {
    let clock = clock();
    let revocations = engine(&clock);
    let idp = Idp::generate(Algorithm::RS256);
    let critical = |typ: &str, claims: &Value| {
        let mut header = Header::new(idp.alg);
        header.typ = Some(typ.to_owned());
        header.crit = Some(vec!["urn:example:bound".to_owned()]);
        jsonwebtoken::encode(&header, claims, &idp.encoding).expect("signs")
    };
    let receiver = backchannel(&idp, &revocations);
    let token = critical("logout+jwt", &logout_claims("l-crit"));
    assert_logout_refused(&receiver, &token, "critical header parameter (crit)").await;
    let receiver = set_receiver(&idp, &revocations);
    let event =
        json!({ SESSION_REVOKED: { "subject": { "format": "opaque", "id": "session-1" } } });
    let token = critical("secevent+jwt", &set_claims("s-crit", event));
    let (status, _, body) = send(receiver, set_request(token)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let description = body["description"].as_str().expect("a description");
    assert!(
        description.contains("critical header parameter (crit)"),
        "{description}"
    );
    assert_eq!(
        access_verdict(&revocations, "alice", "session-1", NOW).await,
        Verdict::Valid
    );
}

/// The receiver's metrics (feature `metrics`): each event of an accepted SET counted by type,
/// applied or ignored; each request counted by outcome (a replay is refused).
#[test]
fn set_events_are_counted_by_type_and_requests_by_outcome() {
    use jwt_revoke_tower::observe::{EVENTS, SECURITY_EVENTS};
    use support::recorder::{pairs, recorded};
    let ((), snapshot) = recorded(async || {
        let clock = clock();
        let revocations = engine(&clock);
        let idp = Idp::generate(Algorithm::ES256);
        let receiver = set_receiver(&idp, &revocations);
        let events = json!({
            SESSION_REVOKED: { "subject": { "format": "opaque", "id": "session-1" } },
            CREDENTIAL_CHANGE: { "subject": { "format": "opaque", "id": "carol" } },
            "https://schemas.openid.net/secevent/risc/event-type/account-purged": {},
        });
        let token = idp.sign(Some("secevent+jwt"), &set_claims("s-m", events));
        let accepted = send(receiver.clone(), set_request(token.clone())).await;
        assert_eq!(accepted.0, StatusCode::ACCEPTED);
        let replayed = send(receiver, set_request(token)).await;
        assert_eq!(replayed.0, StatusCode::BAD_REQUEST);
    });
    assert_eq!(
        snapshot.counters(EVENTS),
        pairs(&[
            ("outcome=accepted,receiver=security_event", 1),
            ("outcome=refused,receiver=security_event", 1),
        ])
    );
    assert_eq!(
        snapshot.counters(SECURITY_EVENTS),
        pairs(&[
            ("event=credential_change,outcome=applied", 1),
            ("event=other,outcome=ignored", 1),
            ("event=session_revoked,outcome=applied", 1),
        ])
    );
}
