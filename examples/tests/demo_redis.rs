//! The demo on Redis (`REVOCATION_STORE=redis://…`), with a redis-server the test starts
//! itself: a fleet of instances sees one revocation, and an outage in the middle of traffic
//! gives 503 (gRPC: status 14) within the timeout, never a 401 or a false logout, and the same
//! process recovers by itself with earlier revocations still in force.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use jwt_revoke_examples::config::store_config;
use jwt_revoke_examples::demo::{self, DemoConfig};
use jwt_revoke_redis::test_support::RedisServer;
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &[u8] = b"demo redis test secret";
/// The store bounds each call to 500 ms and the engine to 550 ms; a failing request must come back
/// well within this.
const NO_HANG: Duration = Duration::from_millis(2_000);
const RECOVERY: Duration = Duration::from_secs(30);

async fn instance(url: &str) -> axum::Router {
    instance_with(url, false).await
}

async fn instance_with(url: &str, local_replica: bool) -> axum::Router {
    let store = store_config(url, local_replica)
        .expect("a Redis URL")
        .build()
        .await
        .expect("the Redis store builds");
    demo::router(DemoConfig::new(SECRET.to_vec(), store)).expect("the demo builds")
}

async fn send(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: &str,
    grpc: bool,
) -> axum::response::Response {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"));
    if grpc {
        // A gRPC call: HTTP/2 (over HTTP/1.x no rejection is a 200).
        request = request
            .version(http::Version::HTTP_2)
            .header("content-type", "application/grpc")
            .header("te", "trailers");
    }
    app.clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("infallible")
}

/// The status of a plain (not gRPC) request.
async fn status(app: &axum::Router, method: &str, path: &str, token: &str) -> StatusCode {
    send(app, method, path, token, false).await.status()
}

async fn login(app: &axum::Router, sub: &str) -> String {
    let request = Request::post("/login")
        .header("content-type", "application/json")
        .body(Body::from(json!({ "sub": sub }).to_string()))
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .expect("body");
    let body: Value = serde_json::from_slice(&body).expect("json");
    body["access_token"].as_str().expect("a token").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_one_instance_holds_on_every_other() {
    let server = RedisServer::start();
    let (first, second) = (instance(&server.url()).await, instance(&server.url()).await);
    let token = login(&first, "alice").await;
    let other = login(&second, "alice").await;
    assert_eq!(status(&second, "GET", "/me", &token).await, StatusCode::OK);

    assert_eq!(
        status(&first, "POST", "/logout", &token).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        status(&second, "GET", "/me", &token).await,
        StatusCode::UNAUTHORIZED
    );

    assert_eq!(
        status(&second, "POST", "/logout/all", &other).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        status(&first, "GET", "/me", &other).await,
        StatusCode::UNAUTHORIZED
    );
    // A new login after "log out everywhere" works at once, on any instance.
    let fresh = login(&first, "alice").await;
    assert_eq!(status(&second, "GET", "/me", &fresh).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_fails_closed_within_the_timeout_and_the_process_recovers() {
    let mut server = RedisServer::start_persistent();
    let app = instance(&server.url()).await;
    let live = login(&app, "bob").await;
    let revoked = login(&app, "bob").await;
    assert_eq!(
        status(&app, "POST", "/logout", &revoked).await,
        StatusCode::NO_CONTENT
    );

    server.crash();

    for _ in 0..3 {
        let started = Instant::now();
        let response = send(&app, "GET", "/me", &live, false).await;
        assert!(
            started.elapsed() < NO_HANG,
            "a request hung for {:?}",
            started.elapsed()
        );
        assert_eq!(
            response.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "fail closed, not 401"
        );
        assert!(response.headers().contains_key("retry-after"));

        let started = Instant::now();
        let response = send(&app, "GET", "/me", &live, true).await;
        assert!(started.elapsed() < NO_HANG);
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "gRPC errors ride on HTTP 200"
        );
        assert_eq!(response.headers()["grpc-status"], "14", "UNAVAILABLE");
    }
    // A logout while Redis is down must not claim success.
    let response = send(&app, "POST", "/logout", &live, false).await;
    assert_ne!(
        response.status(),
        StatusCode::NO_CONTENT,
        "a logout that did not happen was reported"
    );
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);

    server.restart();

    let deadline = Instant::now() + RECOVERY;
    loop {
        let status = status(&app, "GET", "/me", &live).await;
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "only 503 while recovering"
        );
        assert!(
            Instant::now() < deadline,
            "the process did not recover within {RECOVERY:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The revocation written before the outage still holds.
    let response = send(&app, "GET", "/me", &revoked, false).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer error="invalid_token", error_description="the token has been revoked""#
    );
}

#[tokio::test]
async fn an_unreachable_redis_stops_the_demo_at_start_up_with_a_clear_error() {
    let server = RedisServer::start();
    let url = server.url();
    drop(server);
    let err = store_config(&url, false)
        .expect("a Redis URL")
        .build()
        .await
        .expect_err("nothing listens there any more");
    assert!(err.to_string().contains("Redis"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_with_a_local_replica_see_each_others_revocations_within_half_a_second() {
    let server = RedisServer::start();
    let (first, second) = (
        instance_with(&server.url(), true).await,
        instance_with(&server.url(), true).await,
    );
    let token = login(&first, "alice").await;
    assert_eq!(status(&second, "GET", "/me", &token).await, StatusCode::OK);
    assert_eq!(
        status(&first, "POST", "/logout", &token).await,
        StatusCode::NO_CONTENT
    );
    // The revoking instance sees it at once; the other within the replica's bound (500 ms).
    assert_eq!(
        status(&first, "GET", "/me", &token).await,
        StatusCode::UNAUTHORIZED
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        status(&second, "GET", "/me", &token).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_local_replica_without_redis_is_a_configuration_error() {
    let err = store_config("memory", true).expect_err("nothing to replicate");
    assert!(
        err.to_string().contains("REVOCATION_LOCAL_REPLICA"),
        "{err}"
    );
}
