//! The rule of the RFC 7009 endpoint, over generated token shapes: a 200 means that the layer
//! built with the same rules will never accept that token again, whatever the token's times,
//! the whitespace around it or the claims it lacks, however far the clock moves on.
//!
//! `PROPTEST_CASES=5000 cargo test -p jwt-revoke-tower --test revocation_endpoint_rule` runs
//! more cases than CI's default.

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use jsonwebtoken::Algorithm;
use jwt_revoke_core::{Policy, Timestamp};
use jwt_revoke_memory::MemoryStore;
use jwt_revoke_tower::events::RevocationEndpoint;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use support::*;

/// A token as an attacker (or a sloppy client) may shape it.
#[derive(Debug, Clone)]
struct Shape {
    iss: Option<&'static str>,
    sub: Option<&'static str>,
    jti: Option<&'static str>,
    sid: bool,
    aud: Option<&'static str>,
    /// Offsets from the start of the test's clock, in milliseconds (fractional dates).
    iat: Option<i64>,
    nbf: Option<i64>,
    exp: Option<i64>,
    signed_by_us: bool,
    before: &'static str,
    after: &'static str,
    leeway_secs: u64,
    tokens_without_exp: bool,
}

fn offset() -> impl Strategy<Value = i64> {
    prop_oneof![
        // Near now, to the millisecond: the skew allowance, the leeway, the same second.
        -5_000i64..5_000,
        // Whole seconds over the token's life and beyond.
        (-7_200i64..7_200).prop_map(|secs| secs * 1_000),
    ]
}

fn whitespace() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", " ", "  ", "\t", "\n", "\r\n", " \t "])
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        (
            prop::option::weighted(0.9, Just(ISSUER)),
            prop::option::weighted(0.9, Just("alice")),
            prop::option::of(prop::sample::select(vec!["j-1", ""])),
            any::<bool>(),
            prop::option::weighted(0.2, Just("some-other-api")),
        ),
        (
            prop::option::weighted(0.8, offset()),
            prop::option::weighted(0.3, offset()),
            prop::option::weighted(0.9, offset()),
        ),
        (
            prop::bool::weighted(0.9),
            whitespace(),
            whitespace(),
            prop::sample::select(vec![0u64, 30]),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (iss, sub, jti, sid, aud),
                (iat, nbf, exp),
                (signed_by_us, before, after, leeway_secs, tokens_without_exp),
            )| Shape {
                iss,
                sub,
                jti,
                sid,
                aud,
                iat,
                nbf,
                exp,
                signed_by_us,
                before,
                after,
                leeway_secs,
                tokens_without_exp,
            },
        )
}

fn date(offset_millis: i64) -> Value {
    let millis = NOW * 1_000 + offset_millis;
    if millis % 1_000 == 0 {
        json!(millis / 1_000)
    } else {
        json!(millis as f64 / 1_000.0)
    }
}

fn token_of(shape: &Shape) -> String {
    let mut claims = Map::new();
    let mut put = |name: &str, value: Option<Value>| {
        if let Some(value) = value {
            claims.insert(name.to_owned(), value);
        }
    };
    put("iss", shape.iss.map(|iss| json!(iss)));
    put("sub", shape.sub.map(|sub| json!(sub)));
    put("jti", shape.jti.map(|jti| json!(jti)));
    put("sid", shape.sid.then(|| json!("s-1")));
    put("aud", shape.aud.map(|aud| json!(aud)));
    put("iat", shape.iat.map(date));
    put("nbf", shape.nbf.map(date));
    put("exp", shape.exp.map(date));
    let secret: &[u8] = if shape.signed_by_us {
        SECRET
    } else {
        b"another secret, the attacker's own"
    };
    sign_with(&Value::Object(claims), Algorithm::HS256, secret)
}

fn policy_of(shape: &Shape) -> Policy {
    let policy =
        Policy::new(Duration::from_secs(3_600)).with_leeway(Duration::from_secs(shape.leeway_secs));
    if shape.tokens_without_exp {
        policy.accept_tokens_without_exp(Duration::from_secs(3_600))
    } else {
        policy
    }
}

/// The instants at which the layer is asked again after a 200: now, and every edge the token's
/// dates and the policy's allowances make, in order (the clock only moves forward).
fn probes(shape: &Shape) -> Vec<i64> {
    let leeway = i64::try_from(shape.leeway_secs).expect("small") * 1_000;
    let skew = 2_000;
    let mut at = vec![
        0, 1, 999, 1_000, 2_001, 30_000, 61_000, 3_600_000, 7_300_000,
    ];
    for date in [shape.iat, shape.nbf, shape.exp].into_iter().flatten() {
        for edge in [
            date - skew - leeway,
            date - skew,
            date - leeway,
            date,
            date + 1,
        ] {
            at.extend([edge - 1, edge, edge + 1]);
        }
    }
    at.retain(|millis| *millis >= 0);
    at.sort_unstable();
    at.dedup();
    at
}

fn revoke(token: &str) -> Request<Body> {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("token", token)
        .finish();
    Request::post("/oauth/revoke")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request")
}

/// The requests a client could make with the token as revoked: in the Authorization header,
/// as it was sent (where a header can carry it) and trimmed.
fn uses(sent: &str, token: &str) -> Vec<Request<Body>> {
    let mut requests = vec![request("GET", "/me", Some(token))];
    if let Ok(value) = format!("Bearer {sent}").parse::<http::HeaderValue>() {
        let mut as_sent = request("GET", "/me", None);
        as_sent.headers_mut().insert("authorization", value);
        requests.push(as_sent);
    }
    requests
}

async fn check_rule(shape: Shape) -> Result<(), TestCaseError> {
    let clock = clock();
    let store = MemoryStore::builder()
        .clock(Arc::new(clock.clone()))
        .build();
    let revocations = revocations_on(Arc::new(store), &clock, policy_of(&shape));
    let layer = hs256_builder(revocations).build().expect("builds");
    let endpoint = RevocationEndpoint::new(&layer).expect("a verifying layer");
    let app = app(layer).route_service("/oauth/revoke", endpoint);

    let token = token_of(&shape);
    let sent = format!("{}{token}{}", shape.before, shape.after);
    let status = send(&app, revoke(&sent)).await.status();
    prop_assert!(
        status == StatusCode::OK,
        "a token signed by us or not gets 200 from RFC 7009, not {status}"
    );
    for millis in probes(&shape) {
        clock.set(Timestamp::from_micros((NOW * 1_000 + millis) * 1_000));
        for use_of in uses(&sent, &token) {
            let response = send(&app, use_of).await;
            prop_assert_ne!(
                response.status(),
                StatusCode::OK,
                "revoked with a 200, then accepted {} ms after: {}",
                millis,
                www_authenticate(&response)
            );
        }
    }
    Ok(())
}

proptest! {
    // 256 cases unless PROPTEST_CASES says otherwise; failures are shrunk and printed, not
    // written to a file.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_200_from_the_revocation_endpoint_means_never_accepted_again(shape in shape()) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(check_rule(shape))?;
    }
}
