//! Shadow (report-only) mode: what it lets through, what it still refuses, and that it counts
//! every request it would have refused.

mod support;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use jwt_revoke_tower::{Claims, RevocationLayer, ShadowMode};
use support::*;

/// `/whoami`: the subject of the verified claims, or `anonymous` when the layer let the request
/// through without any; `/logout` of the support app revokes the caller's token.
fn shadow_app(layer: RevocationLayer) -> Router {
    let whoami = Router::new()
        .route(
            "/whoami",
            get(|claims: Option<axum::Extension<Claims>>| async move {
                claims
                    .and_then(|claims| claims.registered().sub.clone())
                    .unwrap_or_else(|| "anonymous".to_owned())
            }),
        )
        .layer(layer.clone());
    app(layer).merge(whoami)
}

#[tokio::test]
async fn shadow_mode_lets_a_revoked_token_through_counted_and_enforcement_refuses_it() {
    let clock = clock();
    let revocations = memory_revocations(&clock);
    let shadow = hs256_builder(revocations.clone())
        .shadow_mode(ShadowMode::Revocations)
        .build()
        .expect("builds");
    let enforcing = hs256_builder(revocations).build().expect("builds");
    let shadow_app = shadow_app(shadow.clone());
    let enforcing_app = app(enforcing.clone());

    let token = sign(&claims("alice", "t-1"));
    assert_eq!(
        status_for(&shadow_app, "POST", "/logout", &token).await,
        StatusCode::NO_CONTENT
    );
    // The same revoked token, the same store: the enforcing layer refuses it ...
    assert_invalid_token(&enforcing_app, &token, "revoked").await;
    assert_eq!(enforcing.stats().rejected_revoked(), 1);
    // ... the shadow layer lets it through, with its claims, and counts it.
    let response = send(&shadow_app, request("GET", "/whoami", Some(&token))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_text(response).await, "alice");
    assert_eq!(shadow.stats().would_reject(), 1);
    assert_eq!(shadow.stats().rejected_revoked(), 0, "nothing was refused");

    // Everything but revocation is enforced as always: a forged token, no token.
    let forged = sign_with(
        &claims("alice", "t-2"),
        jsonwebtoken::Algorithm::HS256,
        b"not the secret at all, 32 bytes+",
    );
    assert_eq!(
        status_for(&shadow_app, "GET", "/whoami", &forged).await,
        StatusCode::UNAUTHORIZED
    );
    let anonymous = send(&shadow_app, request("GET", "/whoami", None)).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(shadow.stats().would_reject(), 1);
    assert_eq!(shadow.stats().rejected_invalid(), 2);
}

#[tokio::test]
async fn shadow_mode_of_invalid_tokens_too_passes_them_without_claims_and_counts_them() {
    let clock = clock();
    let layer = hs256_builder(memory_revocations(&clock))
        .shadow_mode(ShadowMode::RevocationsAndInvalidTokens)
        .build()
        .expect("builds");
    let app = shadow_app(layer.clone());
    let forged = sign_with(
        &claims("mallory", "t-1"),
        jsonwebtoken::Algorithm::HS256,
        b"not the secret at all, 32 bytes+",
    );
    for sent in [Some(forged.as_str()), None, Some("not.a.token")] {
        let response = send(&app, request("GET", "/whoami", sent)).await;
        assert_eq!(response.status(), StatusCode::OK, "{sent:?}");
        // Let through, but never with claims it did not verify.
        assert_eq!(body_text(response).await, "anonymous", "{sent:?}");
    }
    assert_eq!(layer.stats().would_reject(), 3);
    assert_eq!(layer.stats().rejected_invalid(), 0);
    let good = sign(&claims("alice", "t-2"));
    let response = send(&app, request("GET", "/whoami", Some(&good))).await;
    assert_eq!(body_text(response).await, "alice");
    assert_eq!(layer.stats().would_reject(), 3);
}

#[tokio::test]
async fn without_shadow_mode_nothing_is_let_through_or_counted_as_would_reject() {
    let clock = clock();
    let layer = hs256_builder(memory_revocations(&clock))
        .build()
        .expect("builds");
    let app = shadow_app(layer.clone());
    let token = sign(&claims("alice", "t-1"));
    assert_eq!(
        status_for(&app, "POST", "/logout", &token).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        status_for(&app, "GET", "/whoami", &token).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status_for(&app, "GET", "/whoami", "not.a.token").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(layer.stats().would_reject(), 0);
}
