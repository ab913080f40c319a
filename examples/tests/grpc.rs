//! The gRPC demo seen by a real tonic client over TCP.

mod support;

use std::time::Duration;

use jwt_revoke_core::RevocationStore;
use jwt_revoke_examples::demo::DemoConfig;
use jwt_revoke_examples::grpc::{self, pb};
use jwt_revoke_memory::MemoryStore;
use jwt_revoke_redis::test_support::RedisServer;
use std::sync::Arc;
use tonic::transport::Channel;
use tonic::{Code, Request};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

const SECRET: &[u8] = b"grpc test secret";

/// A running gRPC demo; stops when dropped.
struct Demo {
    channel: Channel,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn start(store: Arc<dyn RevocationStore>) -> Demo {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("an address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = DemoConfig::new(SECRET.to_vec(), store);
    tokio::spawn(grpc::serve(listener, config, async {
        let _ = stopped.await;
    }));
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("a valid uri")
        .connect()
        .await
        .expect("the demo accepts connections");
    Demo {
        channel,
        stop: Some(stop),
    }
}

fn token(sub: &str, jti: &str) -> String {
    support::token(SECRET, sub, jti)
}

fn authorized<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii"),
    );
    request
}

async fn health(demo: &Demo, token: Option<&str>) -> Result<ServingStatus, tonic::Status> {
    let message = HealthCheckRequest {
        service: String::new(),
    };
    let request = match token {
        Some(token) => authorized(message, token),
        None => Request::new(message),
    };
    let reply = HealthClient::new(demo.channel.clone())
        .check(request)
        .await?;
    Ok(reply.into_inner().status())
}

#[tokio::test]
async fn a_valid_token_reaches_the_services_and_its_claims_reach_the_handler() {
    let demo = start(Arc::new(MemoryStore::new())).await;
    let token = token("alice", "t-1");
    assert_eq!(
        health(&demo, Some(&token)).await.expect("health"),
        ServingStatus::Serving
    );
    let mut session = pb::session_client::SessionClient::new(demo.channel.clone());
    let me = session
        .who_am_i(authorized(pb::WhoAmIRequest {}, &token))
        .await
        .expect("who am i")
        .into_inner();
    assert_eq!(
        (me.sub.as_str(), me.jti.as_str(), me.sid.as_str()),
        ("alice", "t-1", "session-t-1")
    );
}

#[tokio::test]
async fn missing_metadata_is_unauthenticated() {
    let demo = start(Arc::new(MemoryStore::new())).await;
    let status = health(&demo, None).await.expect_err("no token, no service");
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = health(&demo, Some("not a token"))
        .await
        .expect_err("garbage");
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.message().contains("malformed"), "{status:?}");
}

#[tokio::test]
async fn a_token_revoked_by_its_holder_is_refused_with_the_reason() {
    let demo = start(Arc::new(MemoryStore::new())).await;
    let token = token("bob", "t-2");
    let mut session = pb::session_client::SessionClient::new(demo.channel.clone());
    session
        .revoke_me(authorized(pb::RevokeMeRequest {}, &token))
        .await
        .expect("revoke me");
    let status = health(&demo, Some(&token)).await.expect_err("revoked");
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "the token has been revoked");
    // Another token of the same user still works.
    assert!(
        health(&demo, Some(&self::token("bob", "t-3")))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn reflection_needs_no_token() {
    let demo = start(Arc::new(MemoryStore::new())).await;
    let mut reflection = ServerReflectionClient::new(demo.channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection without a token")
        .into_inner();
    let reply = replies
        .message()
        .await
        .expect("a reply")
        .expect("one message");
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!("not a service list: {reply:?}");
    };
    let names: Vec<&str> = list
        .service
        .iter()
        .map(|service| service.name.as_str())
        .collect();
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_is_unavailable_not_unauthenticated() {
    let mut server = RedisServer::start();
    let store = jwt_revoke_redis::RedisStore::connect(&server.url())
        .await
        .expect("connects");
    let demo = start(Arc::new(store)).await;
    let token = token("carol", "t-4");
    assert!(health(&demo, Some(&token)).await.is_ok());
    server.crash();
    let started = std::time::Instant::now();
    let status = health(&demo, Some(&token))
        .await
        .expect_err("the store is down");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    // A revocation attempted meanwhile reports failure.
    let mut session = pb::session_client::SessionClient::new(demo.channel.clone());
    let status = session
        .revoke_me(authorized(pb::RevokeMeRequest {}, &token))
        .await
        .expect_err("cannot revoke while the store is down");
    assert_eq!(status.code(), Code::Unavailable);
}
