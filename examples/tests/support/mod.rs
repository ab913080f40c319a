//! The demo's contract over HTTP, shared by the tests that reach a demo over TCP.
#![allow(dead_code, unreachable_pub)]

use serde_json::{Value, json};

/// Logs in at `base`, reads `/me`, logs out, and checks that the token is refused after.
pub async fn login_me_logout_over_http(base: &str) {
    let client = reqwest::Client::new();
    let health = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let login: Value = client
        .post(format!("{base}/login"))
        .json(&json!({ "sub": "dave" }))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = login["access_token"].as_str().expect("a token");
    let me = client
        .get(format!("{base}/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);
    let logout = client
        .post(format!("{base}/logout"))
        .bearer_auth(token)
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), 204);
    let after = client
        .get(format!("{base}/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("me again");
    assert_eq!(after.status(), 401);
    assert_eq!(
        after.headers()["www-authenticate"],
        r#"Bearer error="invalid_token", error_description="the token has been revoked""#
    );
    let anonymous = client
        .get(format!("{base}/me"))
        .send()
        .await
        .expect("anonymous");
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
}
