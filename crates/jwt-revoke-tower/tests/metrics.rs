//! The layer's metrics (feature `metrics`): a scripted sequence of requests, then the exact
//! value of every counter it moved, read from a recorder installed for this test only.
//!
//! An operator reads these numbers to know what the layer refuses and why: a decision that
//! is not counted, or counted under the wrong reason, hides an attack or an outage.

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use jwt_revoke_tower::{StoreFailure, observe};
use serde_json::json;
use support::recorder::{pairs, recorded};
use support::*;

#[test]
fn every_decision_is_counted_once_under_its_outcome_and_reason() {
    let ((), snapshot) = recorded(async || {
        let clock = clock();
        let layer = hs256_builder(memory_revocations(&clock))
            .build()
            .expect("builds");
        let app = app(layer);
        let token = sign(&claims("alice", "t-1"));

        // allowed twice (one of them the logout that revokes the token) ...
        assert_eq!(status_for(&app, "GET", "/me", &token).await, StatusCode::OK);
        assert_eq!(
            status_for(&app, "POST", "/logout", &token).await,
            StatusCode::NO_CONTENT
        );
        // ... then refused: revoked, twice; no token; forged; expired; an event token.
        assert_invalid_token(&app, &token, "revoked").await;
        assert_invalid_token(&app, &token, "revoked").await;
        let anonymous = send(&app, request("GET", "/me", None)).await;
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
        let forged = sign_with(
            &claims("alice", "t-2"),
            jsonwebtoken::Algorithm::HS256,
            b"not the secret at all, 32 bytes+",
        );
        assert_invalid_token(&app, &forged, "signature").await;
        let expired = sign(&json!({
            "iss": ISSUER, "sub": "alice", "jti": "t-3", "iat": NOW - 7200, "exp": NOW - 3600,
        }));
        assert_invalid_token(&app, &expired, "expired").await;
        let logout_token = sign(&json!({
            "iss": ISSUER, "sub": "alice", "jti": "t-4", "iat": NOW, "exp": NOW + 60,
            "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
        }));
        assert_invalid_token(&app, &logout_token, "event token").await;
        // "Log out everywhere" with a fresh token, then that token is refused by the user's
        // cut-off.
        let second = sign(&claims("bob", "t-5"));
        assert_eq!(
            status_for(&app, "POST", "/logout/all", &second).await,
            StatusCode::OK
        );
        assert_invalid_token(&app, &second, "revoked").await;
    });

    assert_eq!(
        snapshot.counters(observe::DECISIONS),
        pairs(&[
            ("outcome=allowed,reason=valid", 3),
            ("outcome=rejected,reason=revoked_token", 2),
            ("outcome=rejected,reason=revoked_user", 1),
            ("outcome=rejected,reason=no_token", 1),
            ("outcome=rejected,reason=signature", 1),
            ("outcome=rejected,reason=expired", 1),
            ("outcome=rejected,reason=token_type", 1),
        ])
    );
    // One store check per request that got as far as the store (3 allowed, 3 revoked), one
    // insert (the logout), one cut-off (log out everywhere); no errors.
    let check = [("op", "check"), ("store", "memory")];
    assert_eq!(
        snapshot.histogram_len(jwt_revoke_core::observe::STORE_CALL_DURATION, &check),
        6
    );
    let insert = [("op", "insert_token"), ("store", "memory")];
    assert_eq!(
        snapshot.histogram_len(jwt_revoke_core::observe::STORE_CALL_DURATION, &insert),
        1
    );
    let raise = [("op", "raise_cutoff"), ("store", "memory")];
    assert_eq!(
        snapshot.histogram_len(jwt_revoke_core::observe::STORE_CALL_DURATION, &raise),
        1
    );
    assert_eq!(
        snapshot.counters(jwt_revoke_core::observe::STORE_ERRORS),
        vec![]
    );
}

#[test]
fn a_store_outage_is_counted_as_errors_and_as_refusals_or_fail_open_passes() {
    let ((), snapshot) = recorded(async || {
        let clock = clock();
        let closed = hs256_builder(revocations_on(Arc::new(DownStore), &clock, policy()))
            .build()
            .expect("builds");
        let open = hs256_builder(revocations_on(Arc::new(DownStore), &clock, policy()))
            .on_store_failure(StoreFailure::FailOpen)
            .build()
            .expect("builds");
        let hanging = revocations_on(Arc::new(HangingStore), &clock, policy())
            .with_store_timeout(Duration::from_millis(50));
        let timing_out = hs256_builder(hanging).build().expect("builds");
        let token = sign(&claims("alice", "t-1"));
        assert_eq!(
            status_for(&app(closed), "GET", "/me", &token).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status_for(&app(open), "GET", "/me", &token).await,
            StatusCode::OK
        );
        assert_eq!(
            status_for(&app(timing_out), "GET", "/me", &token).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
    });
    assert_eq!(
        snapshot.counters(observe::DECISIONS),
        pairs(&[
            ("outcome=rejected,reason=store_unavailable", 2),
            ("outcome=failed_open,reason=store_unavailable", 1),
        ])
    );
    // The down store answers (an error); the hanging one is given up on by the timeout.
    assert_eq!(
        snapshot.counters(jwt_revoke_core::observe::STORE_ERRORS),
        pairs(&[
            ("kind=unavailable,op=check,store=custom", 2),
            ("kind=cancelled,op=check,store=custom", 1),
        ])
    );
}

#[test]
fn the_caches_count_their_hits_and_misses() {
    let ((), snapshot) = recorded(async || {
        let clock = clock();
        let layer = hs256_builder(memory_revocations(&clock))
            .cache_verified_tokens(100)
            .build()
            .expect("builds");
        let app = app(layer);
        let token = sign(&claims("alice", "t-1"));
        for _ in 0..3 {
            assert_eq!(status_for(&app, "GET", "/me", &token).await, StatusCode::OK);
        }
    });
    assert_eq!(
        snapshot.counters(observe::CACHE_LOOKUPS),
        // The claims memo is asked only when the token is verified: once.
        pairs(&[
            ("cache=verified_token,result=miss", 1),
            ("cache=verified_token,result=hit", 2),
            ("cache=claims_memo,result=miss", 1),
        ])
    );
}

#[test]
fn each_receiver_request_is_counted_by_outcome() {
    use axum::body::Body;
    use axum::http::Request;
    use jwt_revoke_tower::events::RevocationEndpoint;
    let ((), snapshot) = recorded(async || {
        let clock = clock();
        let layer = hs256_builder(memory_revocations(&clock))
            .build()
            .expect("builds");
        let endpoint = RevocationEndpoint::new(&layer).expect("a verifying layer");
        let app = app(layer).route_service("/oauth/revoke", endpoint);
        let down = hs256_builder(revocations_on(Arc::new(DownStore), &clock, policy()))
            .build()
            .expect("builds");
        let down_app = app_of_endpoint(RevocationEndpoint::new(&down).expect("verifying"));
        let revoke = |body: String| {
            Request::post("/oauth/revoke")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .expect("request")
        };
        let token = sign(&claims("alice", "t-1"));
        // Accepted: a revocation, and (RFC 7009) a token that is not one.
        let ok = send(&app, revoke(format!("token={token}"))).await;
        assert_eq!(ok.status(), StatusCode::OK);
        let garbage = send(&app, revoke("token=garbage".to_owned())).await;
        assert_eq!(garbage.status(), StatusCode::OK);
        // Refused: no token parameter; a GET.
        let missing = send(&app, revoke("token_type_hint=access_token".to_owned())).await;
        assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
        let get = Request::get("/oauth/revoke")
            .body(Body::empty())
            .expect("request");
        assert_eq!(
            send(&app, get).await.status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        // Unavailable: the store is down.
        let unavailable = send(&down_app, revoke(format!("token={token}"))).await;
        assert_eq!(unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
    });
    assert_eq!(
        snapshot.counters(observe::EVENTS),
        pairs(&[
            ("outcome=accepted,receiver=token_revocation", 2),
            ("outcome=refused,receiver=token_revocation", 2),
            ("outcome=unavailable,receiver=token_revocation", 1),
        ])
    );
}

fn app_of_endpoint(endpoint: jwt_revoke_tower::events::RevocationEndpoint) -> axum::Router {
    axum::Router::new().route_service("/oauth/revoke", endpoint)
}
