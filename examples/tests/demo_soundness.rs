//! The security review's attacks, tried against the demo binary over TCP (HTTP/1.1), as they
//! were reproduced: each of these got a 200 before its fix.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_revoke_examples::demo::ISSUER;
use jwt_revoke_tower::jsonwebtoken::{self, Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{RunningDemo, start_binary};

const SECRET: &str = "soundness test secret";

fn demo() -> RunningDemo {
    start_binary(
        env!("CARGO_BIN_EXE_demo"),
        "DEMO_ADDR",
        &[("REVOCATION_STORE", "memory"), ("DEMO_JWT_SECRET", SECRET)],
    )
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

fn mint(claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("signs")
}

fn claims(sub: &str, jti: &str) -> Value {
    let now = now();
    json!({ "iss": ISSUER, "sub": sub, "jti": jti, "iat": now, "exp": now + 600 })
}

async fn me(demo: &RunningDemo, token: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{}/me", demo.url))
        .bearer_auth(token)
        .send()
        .await
        .expect("me")
        .status()
}

async fn revoke(demo: &RunningDemo, token: &str) -> StatusCode {
    reqwest::Client::new()
        .post(format!("{}/oauth/revoke", demo.url))
        .form(&[("token", token)])
        .send()
        .await
        .expect("revoke")
        .status()
}

#[tokio::test]
async fn a_grpc_content_type_over_http_1_gets_a_4xx_not_a_200() {
    let demo = demo();
    let client = reqwest::Client::new();
    let revoked = mint(&claims("alice", "t1"));
    assert_eq!(revoke(&demo, &revoked).await, StatusCode::OK);
    for token in [None, Some("garbage"), Some(revoked.as_str())] {
        let mut request = client
            .post(format!("{}/me", demo.url))
            .header("content-type", "application/grpc");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("a response");
        assert_eq!(response.version(), reqwest::Version::HTTP_11);
        assert!(
            response.status().is_client_error(),
            "{token:?}: {}",
            response.status()
        );
    }
}

#[tokio::test]
async fn rfc_7009_revokes_a_token_that_becomes_valid_later_and_one_sent_with_whitespace() {
    let demo = demo();
    // Valid from about three seconds from now (iat ahead of the 2 s allowance).
    let mut early = claims("alice", "early");
    early["iat"] = json!(now() + 4);
    let early = mint(&early);
    assert_eq!(me(&demo, &early).await, StatusCode::UNAUTHORIZED);
    assert_eq!(revoke(&demo, &early).await, StatusCode::OK);

    let spaced = mint(&claims("alice", "spaced"));
    assert_eq!(revoke(&demo, &format!("{spaced} \t")).await, StatusCode::OK);
    assert_eq!(me(&demo, &spaced).await, StatusCode::UNAUTHORIZED);

    tokio::time::sleep(Duration::from_millis(3_200)).await;
    let response = reqwest::Client::new()
        .get(format!("{}/me", demo.url))
        .bearer_auth(&early)
        .send()
        .await
        .expect("me");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .contains("revoked"),
        "{:?}",
        response.headers()
    );
}

#[tokio::test]
async fn logging_out_everywhere_refuses_a_token_accepted_before_with_an_iat_ahead() {
    let demo = demo();
    let mut ahead = claims("alice", "ahead");
    ahead["iat"] = json!(now() + 1);
    let ahead = mint(&ahead);
    assert_eq!(me(&demo, &ahead).await, StatusCode::OK, "accepted before");
    let logout = reqwest::Client::new()
        .post(format!("{}/logout/all", demo.url))
        .bearer_auth(mint(&claims("alice", "caller")))
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        me(&demo, &ahead).await,
        StatusCode::UNAUTHORIZED,
        "and after"
    );
}

#[tokio::test]
async fn a_token_for_another_audience_or_an_event_token_in_disguise_is_refused() {
    let demo = demo();
    let mut foreign = claims("alice", "aud");
    foreign["aud"] = json!("some-other-api");
    assert_eq!(me(&demo, &mint(&foreign)).await, StatusCode::UNAUTHORIZED);

    // A logout token whose events claim is written with an escape, signed with the secret.
    let now = now();
    let payload = format!(
        r#"{{"iss":"{ISSUER}","sub":"alice","jti":"l-1","iat":{now},"exp":{},"\u0065vents":{{"http://schemas.openid.net/event/backchannel-logout":{{}}}}}}"#,
        now + 60
    );
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(SECRET.as_bytes()),
        Algorithm::HS256,
    )
    .expect("signs");
    assert_eq!(
        me(&demo, &format!("{message}.{signature}")).await,
        StatusCode::UNAUTHORIZED
    );
}
