//! The `axum` feature: `Claims` and `RevocationHandle` as extractors.

mod support;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use jwt_revoke_tower::{Claims, RevocationHandle};
use support::*;

#[tokio::test]
async fn extractors_give_handlers_the_claims_and_the_handle() {
    let clock = clock();
    let layer = hs256_builder(memory_revocations(&clock))
        .build()
        .expect("builds");
    let app = Router::new()
        .route(
            "/me",
            get(
                |claims: Claims| async move { claims.registered().sub.clone().unwrap_or_default() },
            ),
        )
        .route(
            "/logout",
            post(|handle: RevocationHandle| async move {
                handle
                    .revoke_token()
                    .await
                    .map(|_| StatusCode::NO_CONTENT)
                    .unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
            }),
        )
        .layer(layer);
    let token = sign(&claims("alice", "t1"));
    let response = send(&app, request("GET", "/me", Some(&token))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_text(response).await, "alice");
    assert_eq!(
        status_for(&app, "POST", "/logout", &token).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        status_for(&app, "GET", "/me", &token).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_route_outside_the_layer_gets_a_500_that_names_the_mistake() {
    let app = Router::new().route(
        "/me",
        get(|claims: Claims| async move { claims.json().to_owned() }),
    );
    let response = send(&app, request("GET", "/me", None)).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body_text(response).await,
        "jwt-revoke: this route is not behind a RevocationLayer"
    );
}
