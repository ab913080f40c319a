//! The README's run commands, as a user runs them: the `demo`, `demo-grpc` and `demo-hyper`
//! binaries, configured by environment, reached over TCP.

mod support;

use std::process::Command;

use support::{RunningDemo, start_binary};

const SECRET: &str = "binary test secret";

/// Starts `binary` listening on a free port (`addr_var`), on `store`.
fn start(binary: &str, addr_var: &str, store: &str) -> RunningDemo {
    start_binary(
        binary,
        addr_var,
        &[("REVOCATION_STORE", store), ("DEMO_JWT_SECRET", SECRET)],
    )
}

#[tokio::test]
async fn the_demo_binary_listens_where_told_and_serves_login_and_logout() {
    let demo = start(env!("CARGO_BIN_EXE_demo"), "DEMO_ADDR", "memory");
    let base = demo.url.clone();
    support::login_me_logout_over_http(&base).await;
}

#[tokio::test]
async fn the_demo_binary_runs_on_redis_from_the_store_setting_alone() {
    let server = jwt_revoke_redis::test_support::RedisServer::start();
    let demo = start(env!("CARGO_BIN_EXE_demo"), "DEMO_ADDR", &server.url());
    let base = demo.url.clone();
    support::login_me_logout_over_http(&base).await;
    let keys = server.cli(&["DBSIZE"]);
    assert_ne!(keys.trim(), "0", "the revocation went to Redis");
}

#[test]
fn an_unknown_store_setting_stops_the_demo_with_a_clear_message() {
    let output = Command::new(env!("CARGO_BIN_EXE_demo"))
        .env("DEMO_ADDR", "127.0.0.1:0")
        .env("REVOCATION_STORE", "carrier-pigeon://loft")
        .output()
        .expect("the demo binary runs");
    assert!(
        !output.status.success(),
        "the demo must refuse an unknown store"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("REVOCATION_STORE"), "{stderr}");
}

#[tokio::test]
async fn the_demo_binary_runs_on_redis_with_a_local_replica_from_settings_alone() {
    let server = jwt_revoke_redis::test_support::RedisServer::start();
    let demo = start_binary(
        env!("CARGO_BIN_EXE_demo"),
        "DEMO_ADDR",
        &[
            ("REVOCATION_STORE", &server.url()),
            ("REVOCATION_LOCAL_REPLICA", "on"),
            ("DEMO_JWT_SECRET", SECRET),
        ],
    );
    let base = demo.url.clone();
    support::login_me_logout_over_http(&base).await;
    let clients = server.cli(&["CLIENT", "LIST", "TYPE", "pubsub"]);
    assert!(
        clients.contains("sub=1"),
        "the replica subscribed: {clients}"
    );
}

#[test]
fn a_replica_setting_that_is_neither_on_nor_off_stops_the_demo() {
    let output = Command::new(env!("CARGO_BIN_EXE_demo"))
        .env("DEMO_ADDR", "127.0.0.1:0")
        .env("REVOCATION_LOCAL_REPLICA", "maybe")
        .output()
        .expect("the demo binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("REVOCATION_LOCAL_REPLICA"), "{stderr}");
}

#[tokio::test]
async fn the_grpc_demo_binary_serves_health_behind_the_layer() {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    let demo = start(env!("CARGO_BIN_EXE_demo-grpc"), "DEMO_GRPC_ADDR", "memory");
    let url = demo.url.clone();
    let channel = tonic::transport::Channel::from_shared(url)
        .expect("a valid uri")
        .connect()
        .await
        .expect("connects");
    let mut health = HealthClient::new(channel);
    let status = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect_err("no token");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: String::new(),
    });
    let token = support::token(SECRET.as_bytes(), "frank", "t-1");
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii"),
    );
    let reply = health.check(request).await.expect("a valid token passes");
    assert_eq!(reply.into_inner().status, 1, "SERVING");
}

#[tokio::test]
async fn the_hyper_demo_binary_serves_the_layer_over_tcp() {
    let demo = start(
        env!("CARGO_BIN_EXE_demo-hyper"),
        "DEMO_HYPER_ADDR",
        "memory",
    );
    let base = demo.url.clone();
    let client = reqwest::Client::new();
    let health = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200, "the health check is bypassed");
    let anonymous = client.get(format!("{base}/me")).send().await.expect("me");
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");

    let token = support::token(SECRET.as_bytes(), "grace", "t-1");
    let me = client
        .get(format!("{base}/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);
    let claims: serde_json::Value = me.json().await.expect("json claims");
    assert_eq!(claims["sub"], "grace");
    let logout = client
        .post(format!("{base}/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), 204);
    let after = client
        .get(format!("{base}/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me");
    assert_eq!(after.status(), 401);
    assert_eq!(
        after.headers()["www-authenticate"],
        r#"Bearer error="invalid_token", error_description="the token has been revoked""#
    );
}
