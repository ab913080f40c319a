//! `RemoteKeys` against a real HTTP server the tests start (tests/support/jwks_server.rs): the
//! rules of src/remote/mod.rs from an attacker's side (forged kids, floods, keys for other
//! uses or algorithms, duplicate kids, tokens of one issuer passed as another's) and from an
//! operator's (rotation without a restart, outages, stale keys, discovery, start-up, limits).
//!
//! The engine runs on a `ManualClock` at `NOW`; the key source's timing is real time, so every
//! interval here is short and every wait is for an outcome, bounded generously.

mod support;

#[path = "support/jwks_server.rs"]
mod jwks_server;

use std::future::Future;
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use http_body_util::BodyExt;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use jwt_revoke_core::{RegisteredClaims, RevocationReason, Revocations, Verdict};
use jwt_revoke_tower::events::{BackchannelLogout, EventTokenTrust, RevocationEndpoint};
use jwt_revoke_tower::remote::Freshness;
use jwt_revoke_tower::{
    DecodingKeys, KeySourceError, RemoteKeys, RemoteKeysBuilder, RevocationLayer, TrustedIssuer,
};
use serde_json::{Value, json};
use tower::ServiceExt;

use jwks_server::JwksServer;
use support::{
    ISSUER, KeyPair, NOW, SECRET, app, body_text, claims, clock, memory_revocations, request, send,
    www_authenticate,
};

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

// ---- keys, key sets and tokens ------------------------------------------------------------

/// The public JWK of `pair` under `kid`, stating its algorithm and `use: sig`.
fn jwk(pair: &KeyPair, kid: &str) -> Value {
    if pair.alg == Algorithm::EdDSA {
        // Built by hand: jsonwebtoken reads only PKCS#8 v1 Ed25519 keys for this, rcgen writes v2.
        let x = pair
            .decoding
            .try_get_as_bytes()
            .expect("raw Ed25519 public key");
        return json!({
            "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid,
            "x": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(x),
        });
    }
    let mut jwk = Jwk::from_encoding_key(&pair.encoding, pair.alg).expect("a jwk");
    jwk.common.key_id = Some(kid.to_owned());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    serde_json::to_value(jwk).expect("a JSON jwk")
}

/// `jwk` with one member changed (`Value::Null` removes it).
fn jwk_with(pair: &KeyPair, kid: &str, member: &str, value: Value) -> Value {
    let mut jwk = jwk(pair, kid);
    let object = jwk.as_object_mut().expect("an object");
    if value.is_null() {
        object.remove(member);
    } else {
        object.insert(member.to_owned(), value);
    }
    jwk
}

fn jwks(keys: &[Value]) -> Value {
    json!({ "keys": keys })
}

/// `claims` signed by `pair` with `alg`, naming `kid` (none when `None`).
fn signed_as(pair: &KeyPair, alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &pair.encoding).expect("signs")
}

/// An access token of `ISSUER` for alice, signed by `pair` and naming `kid`.
fn token(pair: &KeyPair, kid: &str, jti: &str) -> String {
    signed_as(pair, pair.alg, Some(kid), &claims("alice", jti))
}

/// A compact JWS over the exact `payload` text (for payloads serde would never write, such as
/// a repeated member).
fn sign_raw(header: &Value, payload: &str, alg: Algorithm, key: &EncodingKey) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let message = format!("{}.{}", b64.encode(header.to_string()), b64.encode(payload));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).expect("signs");
    format!("{message}.{signature}")
}

/// A fresh Ed25519 key pair.
fn ed25519() -> KeyPair {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("an Ed25519 key pair");
    KeyPair {
        alg: Algorithm::EdDSA,
        encoding: EncodingKey::from_ed_pem(pair.serialize_pem().as_bytes()).expect("pkcs8"),
        decoding: DecodingKey::from_ed_pem(pair.public_key_pem().as_bytes()).expect("spki"),
    }
}

// ---- sources, layers, answers -------------------------------------------------------------

/// A source of `server`'s key set whose timers stay out of the way unless a test sets them: no
/// scheduled refresh within a test, no refetch for an unknown kid within a minute of the last
/// fetch.
fn source(server: &JwksServer) -> RemoteKeysBuilder {
    RemoteKeys::jwks_url(server.jwks_url())
        .allow_http_loopback()
        .refresh_bounds(Duration::from_secs(60), Duration::from_secs(60))
        .refetch_interval(Duration::from_secs(60))
        .connect_timeout(Duration::from_secs(1))
        .fetch_timeout(Duration::from_secs(2))
}

/// The support app behind a layer verifying `ISSUER`'s tokens with `keys`.
fn app_with(keys: RemoteKeys, algorithms: &[Algorithm]) -> Router {
    app(layer_with(
        memory_revocations(&clock()),
        keys,
        algorithms,
        false,
    ))
}

fn layer_with(
    revocations: Revocations,
    keys: RemoteKeys,
    algorithms: &[Algorithm],
    cache_verified_tokens: bool,
) -> RevocationLayer {
    let builder = RevocationLayer::verifying(revocations, keys, algorithms).issuers([ISSUER]);
    let builder = if cache_verified_tokens {
        builder.cache_verified_tokens(1_000)
    } else {
        builder
    };
    builder.build().expect("a valid layer")
}

/// The status `GET /me` gets with `token`, and its `WWW-Authenticate`.
async fn answer(app: &Router, token: &str) -> (StatusCode, String) {
    let response = send(app, request("GET", "/me", Some(token))).await;
    (response.status(), www_authenticate(&response).to_owned())
}

async fn assert_accepted(app: &Router, token: &str, what: &str) {
    let (status, challenge) = answer(app, token).await;
    assert_eq!(status, StatusCode::OK, "{what}: {challenge}");
}

async fn assert_refused(app: &Router, token: &str, why: &str, what: &str) {
    let (status, challenge) = answer(app, token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {challenge}");
    assert!(
        challenge.contains(why),
        "{what}: expected {why:?} in {challenge}"
    );
}

/// Waits until `done`, polling; panics with `what` if it takes longer than `within`.
async fn eventually(what: &str, within: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    loop {
        if done().await {
            return;
        }
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(ms(20)).await;
    }
}

// ---- 1. rotation ------------------------------------------------------------------------

#[tokio::test]
async fn rotation_a_key_added_later_is_accepted_after_an_unknown_kid_refetch() {
    let first = KeyPair::generate(Algorithm::ES256);
    let next = KeyPair::generate(Algorithm::RS256);
    let server = JwksServer::start(jwks(&[jwk(&first, "k1")])).await;
    let keys = source(&server)
        .refetch_interval(ms(200))
        .start()
        .await
        .expect("starts");
    let app = app_with(keys.clone(), &[Algorithm::ES256, Algorithm::RS256]);
    assert_accepted(
        &app,
        &token(&first, "k1", "t-1"),
        "a token of the first key",
    )
    .await;
    let rotated = token(&next, "k2", "t-2");
    server.set_jwks(jwks(&[jwk(&first, "k1"), jwk(&next, "k2")]));
    // Past the refetch interval the start-up fetch began.
    tokio::time::sleep(ms(250)).await;
    assert_accepted(
        &app,
        &rotated,
        "a token of the key the IdP added, without a restart",
    )
    .await;
    assert_eq!(server.jwks_hits(), 2, "one refetch, by that request");
    let status = keys.status();
    assert_eq!(status.kids, ["k1", "k2"]);
    assert_eq!((status.keys, status.fetches, status.failures), (2, 2, 0));
    assert_eq!(status.freshness, Freshness::Fresh);
    assert_accepted(&app, &token(&first, "k1", "t-3"), "the first key still").await;
}

/// The scheduled refresh brings an added key (no refetch can: the interval is a minute) and
/// takes a removed one away.
async fn rotation_by_the_scheduled_refresh(cache_verified_tokens: bool) {
    let first = KeyPair::generate(Algorithm::ES256);
    let next = KeyPair::generate(Algorithm::ES256);
    let server = JwksServer::start(jwks(&[jwk(&first, "k1")])).await;
    let keys = source(&server)
        .refresh_bounds(ms(200), ms(200))
        .start()
        .await
        .expect("starts");
    let layer = layer_with(
        memory_revocations(&clock()),
        keys.clone(),
        &[Algorithm::ES256],
        cache_verified_tokens,
    );
    let app = app(layer);
    let old = token(&first, "k1", "t-old");
    assert_accepted(&app, &old, "a token of the first key").await;
    assert_accepted(&app, &old, "the same token again").await;
    let rotated = token(&next, "k2", "t-new");
    assert_refused(
        &app,
        &rotated,
        "key id (kid) is not known",
        "before it is published",
    )
    .await;
    server.set_jwks(jwks(&[jwk(&first, "k1"), jwk(&next, "k2")]));
    eventually(
        "a token of the added key accepted after the scheduled refresh",
        Duration::from_secs(5),
        async || answer(&app, &rotated).await.0 == StatusCode::OK,
    )
    .await;
    assert!(server.jwks_hits() >= 2 && keys.status().fetches >= 2);
    server.set_jwks(jwks(&[jwk(&next, "k2")]));
    eventually(
        "a token of the removed key refused after the next refresh",
        Duration::from_secs(5),
        async || answer(&app, &old).await.0 == StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_refused(&app, &old, "key id (kid) is not known", "the removed key").await;
    assert_eq!(keys.status().kids, ["k2"]);
    assert_accepted(&app, &rotated, "the added key still").await;
}

#[tokio::test]
async fn rotation_the_scheduled_refresh_adds_and_removes_keys() {
    rotation_by_the_scheduled_refresh(false).await;
}

#[tokio::test]
async fn rotation_a_removed_key_is_refused_even_for_a_token_in_the_verified_cache() {
    rotation_by_the_scheduled_refresh(true).await;
}

#[tokio::test]
async fn rotation_a_request_waits_for_the_refetch_no_longer_than_unknown_kid_wait() {
    let first = KeyPair::generate(Algorithm::ES256);
    let next = KeyPair::generate(Algorithm::ES256);
    let server = JwksServer::start(jwks(&[jwk(&first, "k1")])).await;
    let keys = source(&server)
        .refetch_interval(ms(100))
        .unknown_kid_wait(ms(200))
        .fetch_timeout(Duration::from_secs(5))
        .start()
        .await
        .expect("starts");
    let app = app_with(keys.clone(), &[Algorithm::ES256]);
    tokio::time::sleep(ms(150)).await;
    server.set_jwks(jwks(&[jwk(&first, "k1"), jwk(&next, "k2")]));
    server.set_delay(ms(1_500));
    let rotated = token(&next, "k2", "t-1");
    // The wait ends long before the slow fetch does: refused, not held for 1.5 s.
    assert_refused(
        &app,
        &rotated,
        "key id (kid) is not known",
        "during a slow fetch",
    )
    .await;
    eventually(
        "the slow fetch brings k2",
        Duration::from_secs(5),
        async || keys.status().kids.len() == 2,
    )
    .await;
    assert_accepted(&app, &rotated, "once the fetch is over").await;
}

/// A key set whose keys all fit other algorithms than the layer's (an IdP publishes keys for
/// other clients) still refetches for a token naming a new kid.
#[tokio::test]
async fn rotation_a_new_kid_refetches_even_when_no_key_in_force_fits_the_layer() {
    let other_clients = KeyPair::generate(Algorithm::ES256);
    let ours = KeyPair::generate(Algorithm::RS256);
    let server = JwksServer::start(jwks(&[jwk(&other_clients, "es-1")])).await;
    let keys = source(&server)
        .refetch_interval(ms(100))
        .start()
        .await
        .expect("starts");
    let app = app_with(keys, &[Algorithm::RS256]);
    tokio::time::sleep(ms(150)).await;
    server.set_jwks(jwks(&[jwk(&other_clients, "es-1"), jwk(&ours, "rs-1")]));
    let (status, challenge) = answer(&app, &token(&ours, "rs-1", "t-1")).await;
    assert_eq!(
        (status, server.jwks_hits()),
        (StatusCode::OK, 2),
        "a token naming the kid the IdP just published: {challenge}"
    );
}

// ---- 2. flood -----------------------------------------------------------------------------

/// `count` requests at once, each naming a kid of its own that no key set has.
async fn flood(
    app: &Router,
    attacker: &KeyPair,
    count: usize,
    tag: &str,
) -> Vec<(StatusCode, String)> {
    let tokens: Vec<String> = (0..count)
        .map(|i| {
            token(
                attacker,
                &format!("forged-{tag}-{i}"),
                &format!("f-{tag}-{i}"),
            )
        })
        .collect();
    let tasks: Vec<_> = tokens
        .into_iter()
        .map(|token| {
            let app = app.clone();
            tokio::spawn(async move {
                let response = app
                    .oneshot(request("GET", "/me", Some(&token)))
                    .await
                    .expect("infallible");
                (response.status(), www_authenticate(&response).to_owned())
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(count);
    for task in tasks {
        answers.push(task.await.expect("a request task"));
    }
    answers
}

fn assert_all_refused_for_their_kid(answers: &[(StatusCode, String)]) {
    for (status, challenge) in answers {
        assert_eq!(*status, StatusCode::UNAUTHORIZED, "{challenge}");
        assert!(
            challenge.contains("key id (kid) is not known"),
            "{challenge}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_unknown_kids_cost_at_most_one_fetch_per_refetch_interval() {
    let idp = KeyPair::generate(Algorithm::ES256);
    let attacker = KeyPair::generate(Algorithm::ES256);
    let good = token(&idp, "k1", "good");

    // The start-up fetch began a moment ago; the interval is a minute.
    let server = JwksServer::start(jwks(&[jwk(&idp, "k1")])).await;
    let keys = source(&server)
        .refetch_interval(Duration::from_secs(60))
        .start()
        .await
        .expect("starts");
    let app = app_with(keys, &[Algorithm::ES256]);
    let before = server.jwks_hits();
    assert_eq!(before, 1, "the start-up fetch");
    let answers = flood(&app, &attacker, 1_000, "a").await;
    assert_all_refused_for_their_kid(&answers);
    assert!(
        server.jwks_hits() - before <= 1,
        "1,000 forged kids made {} fetches",
        server.jwks_hits() - before
    );
    assert_accepted(&app, &good, "the IdP's own token after the flood").await;

    // The interval has passed: the flood starts one fetch (slow, so that the others find it
    // under way), and the rest wait for it or are refused at once.
    let interval = Duration::from_secs(1);
    let server = JwksServer::start(jwks(&[jwk(&idp, "k1")])).await;
    let keys = source(&server)
        .refetch_interval(interval)
        .unknown_kid_wait(Duration::from_secs(2))
        .start()
        .await
        .expect("starts");
    let app = app_with(keys.clone(), &[Algorithm::ES256]);
    tokio::time::sleep(interval + ms(100)).await;
    server.set_delay(ms(300));
    let before = server.jwks_hits();
    let began = Instant::now();
    let answers = flood(&app, &attacker, 1_000, "b").await;
    let elapsed = began.elapsed();
    assert_all_refused_for_their_kid(&answers);
    let fetches = server.jwks_hits() - before;
    let allowed = 1 + u64::try_from(elapsed.as_millis() / interval.as_millis()).expect("small");
    assert!(
        fetches >= 1,
        "an unknown kid past the interval starts a fetch"
    );
    assert!(
        fetches <= allowed,
        "1,000 forged kids over {elapsed:?} made {fetches} fetches, at most {allowed} allowed"
    );
    assert_eq!(keys.status().failures, 0);
    server.set_delay(Duration::ZERO);
    assert_accepted(&app, &good, "the IdP's own token after the flood").await;
}

// ---- 3. outages ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Outage {
    Stopped,
    Status500,
    Timeout,
    Garbage,
    Oversize,
    OversizeChunked,
    DuplicateKids,
    NoSignatureKey,
}

const DOCUMENT_LIMIT: usize = 8 * 1024;

/// The last good keys ride out `outage` until `max_stale`; then the issuer's tokens are
/// refused 401 "stale" (never 200, never 500); when the IdP recovers they are accepted again.
async fn outage(outage: Outage) {
    let idp = KeyPair::generate(Algorithm::ES256);
    let attacker = KeyPair::generate(Algorithm::ES256);
    let good_set = jwks(&[jwk(&idp, "k1")]);
    let server = JwksServer::start(good_set.clone()).await;
    let keys = source(&server)
        .refresh_bounds(ms(100), ms(100))
        .max_stale(ms(1_500))
        .fetch_timeout(ms(400))
        .max_document_bytes(DOCUMENT_LIMIT)
        .start()
        .await
        .expect("starts");
    let app = app_with(keys.clone(), &[Algorithm::ES256]);
    let good = token(&idp, "k1", "t-1");
    assert_accepted(&app, &good, "before the outage").await;

    let padded = {
        let mut set = good_set.clone();
        set["padding"] = json!("x".repeat(DOCUMENT_LIMIT));
        set
    };
    let expected = match outage {
        Outage::Stopped => {
            server.stop().await;
            "fetching"
        }
        Outage::Status500 => {
            server.set_status(500);
            "answered 500"
        }
        Outage::Timeout => {
            server.set_delay(Duration::from_secs(2));
            "fetching"
        }
        Outage::Garbage => {
            server.set_body(Some(b"<html>Service Unavailable</html>".to_vec()));
            "no usable key set"
        }
        Outage::Oversize => {
            server.set_jwks(padded);
            "larger than 8192 bytes"
        }
        Outage::OversizeChunked => {
            server.set_chunked(true);
            server.set_jwks(padded);
            "larger than 8192 bytes"
        }
        Outage::DuplicateKids => {
            server.set_jwks(jwks(&[jwk(&idp, "k1"), jwk(&attacker, "k1")]));
            "two signature keys"
        }
        Outage::NoSignatureKey => {
            server.set_jwks(jwks(&[jwk_with(&idp, "k1", "use", json!("enc"))]));
            "no key usable for signatures"
        }
    };
    eventually(
        &format!("{outage:?}: a failed fetch"),
        Duration::from_secs(5),
        async || keys.status().failures >= 1,
    )
    .await;
    assert_accepted(&app, &good, &format!("{outage:?}: the last good keys")).await;
    let status = keys.status();
    assert_eq!(status.freshness, Freshness::Fresh, "{outage:?}");
    assert_eq!(
        status.kids,
        ["k1"],
        "{outage:?}: the last good set in force"
    );
    let last_error = status.last_error.expect("the failure is reported");
    assert!(
        last_error.contains(expected),
        "{outage:?}: expected {expected:?} in {last_error:?}"
    );
    if matches!(outage, Outage::DuplicateKids) {
        let forged = token(&attacker, "k1", "t-forged");
        let (status, _) = answer(&app, &forged).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "the second key of k1");
    }

    eventually(
        &format!("{outage:?}: refused once the keys are stale"),
        Duration::from_secs(5),
        async || {
            let (status, challenge) = answer(&app, &good).await;
            match status {
                StatusCode::OK => false,
                StatusCode::UNAUTHORIZED => {
                    assert!(challenge.contains("stale"), "{outage:?}: {challenge}");
                    true
                }
                other => panic!("{outage:?}: {other} ({challenge}), never anything but 200 or 401"),
            }
        },
    )
    .await;
    assert_eq!(keys.status().freshness, Freshness::Stale, "{outage:?}");
    let unknown = token(&attacker, "k9", "t-unknown");
    assert_eq!(
        answer(&app, &unknown).await.0,
        StatusCode::UNAUTHORIZED,
        "{outage:?}: an unknown kid while stale"
    );

    match outage {
        Outage::Stopped => server.restart().await,
        _ => {
            server.heal();
            server.set_jwks(good_set);
        }
    }
    eventually(
        &format!("{outage:?}: accepted again once the IdP recovers"),
        Duration::from_secs(5),
        async || answer(&app, &good).await.0 == StatusCode::OK,
    )
    .await;
    let status = keys.status();
    assert_eq!(status.freshness, Freshness::Fresh, "{outage:?}");
    assert_eq!(status.last_error, None, "{outage:?}");
}

#[tokio::test]
async fn outage_server_stopped_keeps_the_last_good_keys_until_max_stale() {
    outage(Outage::Stopped).await;
}

#[tokio::test]
async fn outage_http_500_keeps_the_last_good_keys_until_max_stale() {
    outage(Outage::Status500).await;
}

#[tokio::test]
async fn outage_timeout_keeps_the_last_good_keys_until_max_stale() {
    outage(Outage::Timeout).await;
}

#[tokio::test]
async fn outage_garbage_keeps_the_last_good_keys_until_max_stale() {
    outage(Outage::Garbage).await;
}

#[tokio::test]
async fn outage_oversize_document_keeps_the_last_good_keys_until_max_stale() {
    outage(Outage::Oversize).await;
}

#[tokio::test]
async fn outage_oversize_chunked_document_keeps_the_last_good_keys_until_max_stale() {
    outage(Outage::OversizeChunked).await;
}

#[tokio::test]
async fn outage_duplicate_kids_keep_the_last_good_keys_until_max_stale() {
    outage(Outage::DuplicateKids).await;
}

#[tokio::test]
async fn outage_a_set_without_signature_keys_keeps_the_last_good_keys_until_max_stale() {
    outage(Outage::NoSignatureKey).await;
}

/// `max_stale` bounds how long keys survive *failed* fetches; an IdP that answers every fetch
/// never makes them stale, whatever `max-age` it sends.
#[tokio::test]
async fn outage_keys_never_go_stale_while_the_idp_answers() {
    let idp = KeyPair::generate(Algorithm::ES256);
    let server = JwksServer::start(jwks(&[jwk(&idp, "k1")])).await;
    server.set_cache_control(Some("public, max-age=3600"));
    let keys = source(&server)
        .refresh_bounds(ms(200), Duration::from_secs(3600))
        .max_stale(Duration::from_secs(1))
        .start()
        .await
        .expect("starts (max_stale is above the refresh's lower bound)");
    let app = app_with(keys.clone(), &[Algorithm::ES256]);
    let good = token(&idp, "k1", "t-1");
    tokio::time::sleep(ms(1_500)).await;
    let (status, challenge) = answer(&app, &good).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the IdP never failed, yet: {challenge}; status {:?}",
        keys.status()
    );
}

/// A token verified before the keys went stale is refused once they are, cache or not.
#[tokio::test]
async fn outage_stale_keys_refuse_tokens_in_the_verified_cache_too() {
    let idp = KeyPair::generate(Algorithm::ES256);
    let server = JwksServer::start(jwks(&[jwk(&idp, "k1")])).await;
    let keys = source(&server)
        .refresh_bounds(ms(100), ms(100))
        .max_stale(ms(500))
        .start()
        .await
        .expect("starts");
    let app = app(layer_with(
        memory_revocations(&clock()),
        keys.clone(),
        &[Algorithm::ES256],
        true,
    ));
    let good = token(&idp, "k1", "t-1");
    assert_accepted(&app, &good, "before the outage").await;
    server.set_status(503);
    eventually("the keys go stale", Duration::from_secs(5), async || {
        keys.status().freshness == Freshness::Stale
    })
    .await;
    assert_refused(
        &app,
        &good,
        "stale",
        "a cached token once the keys are stale",
    )
    .await;
}

// ---- operator: the schedule and the fetcher's life -----------------------------------------

fn until(at: Option<SystemTime>) -> Duration {
    at.expect("a refresh is scheduled")
        .duration_since(SystemTime::now())
        .unwrap_or_default()
}

#[tokio::test]
async fn refresh_follows_max_age_within_the_bounds() {
    let idp = KeyPair::generate(Algorithm::ES256);
    let server = JwksServer::start(jwks(&[jwk(&idp, "k1")])).await;

    // A max-age above the upper bound: the upper bound, and fetches keep coming.
    server.set_cache_control(Some("max-age=3600"));
    let keys = source(&server)
        .refresh_bounds(ms(100), ms(300))
        .start()
        .await
        .expect("starts");
    assert!(
        until(keys.status().next_refresh) <= ms(300),
        "{:?}",
        keys.status()
    );
    let before = server.jwks_hits();
    eventually("scheduled refreshes", Duration::from_secs(5), async || {
        server.jwks_hits() >= before + 2
    })
    .await;
    drop(keys);

    // A max-age within the bounds: the max-age, less up to 10 % of jitter.
    server.set_cache_control(Some("public, max-age=2"));
    let keys = source(&server)
        .refresh_bounds(ms(100), Duration::from_secs(3600))
        .start()
        .await
        .expect("starts");
    let next = until(keys.status().next_refresh);
    assert!(next > ms(1_000) && next <= ms(2_000), "{next:?}");
    drop(keys);

    // No max-age (or one below the lower bound): the lower bound.
    for cache_control in [None, Some("max-age=0"), Some("no-cache")] {
        server.set_cache_control(cache_control);
        let keys = source(&server)
            .refresh_bounds(Duration::from_secs(30), Duration::from_secs(3600))
            .start()
            .await
            .expect("starts");
        let next = until(keys.status().next_refresh);
        assert!(
            next > Duration::from_secs(20) && next <= Duration::from_secs(30),
            "{cache_control:?}: {next:?}"
        );
    }
}

#[tokio::test]
async fn the_fetcher_stops_when_the_last_handle_is_dropped() {
    let idp = KeyPair::generate(Algorithm::ES256);
    let server = JwksServer::start(jwks(&[jwk(&idp, "k1")])).await;
    let keys = source(&server)
        .refresh_bounds(ms(50), ms(50))
        .start()
        .await
        .expect("starts");
    let app = app_with(keys.clone(), &[Algorithm::ES256]);
    let clone = keys.clone();
    eventually(
        "refreshes while handles live",
        Duration::from_secs(5),
        async || server.jwks_hits() >= 3,
    )
    .await;
    drop(keys);
    drop(app);
    let before = server.jwks_hits();
    tokio::time::sleep(ms(300)).await;
    assert!(
        server.jwks_hits() > before,
        "a clone still holds the fetcher"
    );
    drop(clone);
    tokio::time::sleep(ms(150)).await;
    let after_drop = server.jwks_hits();
    tokio::time::sleep(ms(400)).await;
    assert_eq!(
        server.jwks_hits(),
        after_drop,
        "no fetch after the last handle went"
    );
}

// ---- 4. discovery -------------------------------------------------------------------------

#[tokio::test]
async fn discovery_a_document_naming_another_issuer_fails_the_start() {
    let idp = KeyPair::generate(Algorithm::ES256);
    let server = JwksServer::start(jwks(&[jwk(&idp, "k1")])).await;
    server.set_issuer(Some("https://someone-else.test"));
    let err = RemoteKeys::discover(server.base())
        .allow_http_loopback()
        .start()
        .await
        .expect_err("the document names another issuer");
    match &err {
        KeySourceError::IssuerMismatch { expected, found } => {
            assert_eq!(expected, server.base());
            assert_eq!(found, "https://someone-else.test");
        }
        other => panic!("expected IssuerMismatch, got {other:?}"),
    }
    assert_eq!(
        server.jwks_hits(),
        0,
        "no key set fetched for a mismatched issuer"
    );

    // OpenID Connect Discovery §4.3: exactly the same string, not a trailing slash more.
    server.set_issuer(None);
    let err = RemoteKeys::discover(format!("{}/", server.base()))
        .allow_http_loopback()
        .start()
        .await
        .expect_err("the configured issuer has a slash more");
    assert!(
        matches!(err, KeySourceError::IssuerMismatch { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn discovery_a_matching_document_names_the_key_set_fetched() {
    let idp = KeyPair::generate(Algorithm::ES256);
    let server = JwksServer::start(jwks(&[jwk(&idp, "k1")])).await;
    let issuer = server.base().to_owned();
    let keys = RemoteKeys::discover(&issuer)
        .allow_http_loopback()
        .start()
        .await
        .expect("the document names this issuer");
    let status = keys.status();
    assert_eq!(status.jwks_uri.as_deref(), Some(server.jwks_url().as_str()));
    assert_eq!(status.location, format!("{issuer} (discovery)"));
    assert_eq!(status.kids, ["k1"]);
    assert!(status.last_success.is_some() && status.next_refresh.is_some());
    assert_eq!((status.fetches, status.failures), (1, 0));
    assert_eq!((server.discovery_hits(), server.jwks_hits()), (1, 1));
    let layer = RevocationLayer::verifying(memory_revocations(&clock()), keys, &[Algorithm::ES256])
        .issuers([issuer.as_str()])
        .build()
        .expect("a valid layer");
    let app = app(layer);
    let mut claims = claims("alice", "t-1");
    claims["iss"] = json!(issuer);
    let token = signed_as(&idp, Algorithm::ES256, Some("k1"), &claims);
    assert_accepted(&app, &token, "a token of the discovered issuer").await;

    // The key set may live elsewhere than the discovery document.
    let elsewhere = JwksServer::start(jwks(&[jwk(&idp, "k-elsewhere")])).await;
    server.set_jwks_uri(Some(&elsewhere.jwks_url()));
    let keys = RemoteKeys::discover(&issuer)
        .allow_http_loopback()
        .start()
        .await
        .expect("starts");
    assert_eq!(keys.status().jwks_uri, Some(elsewhere.jwks_url()));
    assert_eq!(keys.status().kids, ["k-elsewhere"]);

    // A discovered jwks_uri obeys the URL rules too.
    server.set_jwks_uri(Some("http://idp.example/jwks"));
    let err = RemoteKeys::discover(&issuer)
        .allow_http_loopback()
        .start()
        .await
        .expect_err("plain HTTP to another host");
    assert!(matches!(err, KeySourceError::Url { .. }), "{err:?}");
}

/// After a failed fetch, discovery is redone: a key set that moved is found again.
#[tokio::test]
async fn discovery_a_key_set_that_moved_is_found_again_after_a_failure() {
    let idp = KeyPair::generate(Algorithm::ES256);
    let next = KeyPair::generate(Algorithm::ES256);
    let discovery = JwksServer::start(jwks(&[])).await;
    let old_home = JwksServer::start(jwks(&[jwk(&idp, "k1")])).await;
    let new_home = JwksServer::start(jwks(&[jwk(&idp, "k1"), jwk(&next, "k2")])).await;
    discovery.set_jwks_uri(Some(&old_home.jwks_url()));
    let keys = RemoteKeys::discover(discovery.base())
        .allow_http_loopback()
        .refresh_bounds(ms(100), ms(100))
        .start()
        .await
        .expect("starts");
    discovery.set_jwks_uri(Some(&new_home.jwks_url()));
    old_home.set_status(404);
    eventually(
        "the key set found at its new home",
        Duration::from_secs(5),
        async || keys.status().kids.len() == 2,
    )
    .await;
    assert_eq!(keys.status().jwks_uri, Some(new_home.jwks_url()));
}

// ---- 5. which keys of a set verify what -------------------------------------------------

#[tokio::test]
async fn keys_a_key_stating_its_alg_verifies_that_algorithm_only_even_under_its_kid() {
    let rsa = KeyPair::generate(Algorithm::RS256);
    let ec = KeyPair::generate(Algorithm::ES256);
    let other_rsa = KeyPair::generate(Algorithm::RS256);
    let server = JwksServer::start(jwks(&[
        jwk(&rsa, "stated"),
        jwk_with(&other_rsa, "unstated", "alg", Value::Null),
    ]))
    .await;
    let keys = source(&server).start().await.expect("starts");
    let app = app_with(
        keys,
        &[Algorithm::RS256, Algorithm::PS256, Algorithm::ES256],
    );
    let claims = claims("alice", "t-1");
    let rs256 = signed_as(&rsa, Algorithm::RS256, Some("stated"), &claims);
    assert_accepted(&app, &rs256, "RS256 by the key stating RS256").await;
    // The same RSA key's signature, with another RSA algorithm the layer allows.
    let ps256 = signed_as(&rsa, Algorithm::PS256, Some("stated"), &claims);
    assert_refused(
        &app,
        &ps256,
        "algorithm is not accepted",
        "PS256 by an RS256 key",
    )
    .await;
    // An ES256 token claiming the RS256 key's kid.
    let es256 = signed_as(&ec, Algorithm::ES256, Some("stated"), &claims);
    assert_refused(&app, &es256, "", "ES256 under an RS256 key's kid").await;
    // Control: a key without `alg` verifies every allowed algorithm of its family.
    let unstated = signed_as(&other_rsa, Algorithm::PS256, Some("unstated"), &claims);
    assert_accepted(&app, &unstated, "PS256 by an RSA key stating no alg").await;
}

#[tokio::test]
async fn keys_for_encryption_are_never_used_to_verify() {
    let sig = KeyPair::generate(Algorithm::ES256);
    let enc = KeyPair::generate(Algorithm::ES256);
    let ops = KeyPair::generate(Algorithm::ES256);
    let oaep = KeyPair::generate(Algorithm::RS256);
    let server = JwksServer::start(jwks(&[
        jwk(&sig, "sig"),
        jwk_with(&enc, "enc", "use", json!("enc")),
        jwk_with(&ops, "ops", "key_ops", json!(["encrypt", "wrapKey"])),
        jwk_with(&oaep, "oaep", "alg", json!("RSA-OAEP")),
    ]))
    .await;
    let keys = source(&server).start().await.expect("starts");
    assert_eq!(
        keys.status().kids,
        ["sig"],
        "only the signature key is in force"
    );
    let app = app_with(keys, &[Algorithm::ES256, Algorithm::RS256]);
    assert_accepted(&app, &token(&sig, "sig", "t-1"), "the signature key").await;
    for (pair, kid) in [(&enc, "enc"), (&ops, "ops"), (&oaep, "oaep")] {
        assert_refused(
            &app,
            &token(pair, kid, "t-2"),
            "key id (kid) is not known",
            kid,
        )
        .await;
    }
}

/// The module's rule lists RSA, EC and OKP keys: a symmetric (`oct`) key in a key set anyone
/// can download is a secret everyone knows, and must never verify a token.
#[tokio::test]
async fn keys_a_symmetric_key_published_in_a_key_set_is_never_used() {
    let idp = KeyPair::generate(Algorithm::ES256);
    let secret = b"a secret published to the whole world";
    let oct = json!({
        "kty": "oct", "kid": "hs", "alg": "HS256", "use": "sig",
        "k": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
    });
    let server = JwksServer::start(jwks(&[jwk(&idp, "k1"), oct])).await;
    let keys = source(&server).start().await.expect("starts");
    let app = app_with(keys.clone(), &[Algorithm::ES256, Algorithm::HS256]);
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("hs".to_owned());
    let forged = jsonwebtoken::encode(
        &header,
        &claims("alice", "t-forged"),
        &EncodingKey::from_secret(secret),
    )
    .expect("signs");
    let (status, challenge) = answer(&app, &forged).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a token signed with the key set's published secret: {challenge}"
    );
    assert_eq!(keys.status().kids, ["k1"]);
}

#[tokio::test]
async fn keys_duplicate_kids_are_refused_at_start_and_as_a_refresh() {
    let idp = KeyPair::generate(Algorithm::ES256);
    let attacker = KeyPair::generate(Algorithm::ES256);
    let duplicated = jwks(&[jwk(&idp, "k1"), jwk(&attacker, "k1")]);
    let server = JwksServer::start(duplicated.clone()).await;
    let err = source(&server)
        .start()
        .await
        .expect_err("a set with two keys of one kid");
    assert!(
        matches!(&err, KeySourceError::Document { why, .. } if why.contains("\"k1\"")),
        "{err}"
    );

    server.set_jwks(jwks(&[jwk(&idp, "k1")]));
    let keys = source(&server)
        .refresh_bounds(ms(100), ms(100))
        .start()
        .await
        .expect("starts");
    let app = app_with(keys.clone(), &[Algorithm::ES256]);
    let forged = token(&attacker, "k1", "t-forged");
    assert_refused(&app, &forged, "signature is invalid", "before").await;
    server.set_jwks(duplicated);
    eventually(
        "the refresh with two keys of k1 fails",
        Duration::from_secs(5),
        async || keys.status().failures >= 2,
    )
    .await;
    assert_refused(&app, &forged, "signature is invalid", "after").await;
    assert_accepted(&app, &token(&idp, "k1", "t-1"), "the last good k1").await;
    assert!(
        keys.status()
            .last_error
            .is_some_and(|e| e.contains("two signature keys")),
        "{:?}",
        keys.status()
    );
}

#[tokio::test]
async fn keys_without_kid_are_used_only_when_no_key_of_the_set_has_one() {
    let anonymous = KeyPair::generate(Algorithm::ES256);
    let named = KeyPair::generate(Algorithm::ES256);
    let server = JwksServer::start(jwks(&[jwk_with(&anonymous, "x", "kid", Value::Null)])).await;
    let keys = source(&server)
        .refresh_bounds(ms(100), ms(100))
        .start()
        .await
        .expect("starts");
    let app = app_with(keys.clone(), &[Algorithm::ES256]);
    let claims = claims("alice", "t-1");
    let bare = signed_as(&anonymous, Algorithm::ES256, None, &claims);
    assert_accepted(&app, &bare, "a set without kids: its key is tried").await;
    let forged = signed_as(&named, Algorithm::ES256, None, &claims);
    assert_refused(&app, &forged, "signature is invalid", "another key").await;
    server.set_jwks(jwks(&[
        jwk_with(&anonymous, "x", "kid", Value::Null),
        jwk(&named, "named"),
    ]));
    eventually(
        "the set with a kid in force",
        Duration::from_secs(5),
        async || keys.status().kids == ["named"],
    )
    .await;
    assert_refused(
        &app,
        &bare,
        "names no key id",
        "the key without kid is left out",
    )
    .await;
    assert_eq!(keys.status().keys, 1);
}

#[tokio::test]
async fn keys_rsa_ec_and_okp_keys_each_verify_their_own_tokens_and_unusable_ones_are_left_out() {
    let rsa = KeyPair::generate(Algorithm::RS256);
    let ec = KeyPair::generate(Algorithm::ES256);
    let ed = ed25519();
    let short_ed = {
        let mut key = jwk(&ed, "short-ed");
        key["x"] = json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 31]));
        key
    };
    let server = JwksServer::start(jwks(&[
        jwk(&rsa, "rsa"),
        jwk(&ec, "ec"),
        jwk(&ed, "ed"),
        json!({ "kty": "weird", "kid": "weird" }),
        short_ed,
    ]))
    .await;
    let keys = source(&server).start().await.expect("starts");
    assert_eq!(keys.status().kids, ["rsa", "ec", "ed"]);
    let app = app_with(
        keys,
        &[Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA],
    );
    for (pair, kid) in [(&rsa, "rsa"), (&ec, "ec"), (&ed, "ed")] {
        assert_accepted(&app, &token(pair, kid, kid), kid).await;
    }
    assert_refused(
        &app,
        &token(&rsa, "ec", "x-1"),
        "",
        "an RSA token under the EC key",
    )
    .await;
    assert_refused(
        &app,
        &token(&ec, "ed", "x-2"),
        "",
        "an EC token under the Ed key",
    )
    .await;
    assert_refused(
        &app,
        &token(&ed, "short-ed", "x-3"),
        "",
        "the malformed Ed key",
    )
    .await;
}

// ---- 6. several issuers -------------------------------------------------------------------

const OURS: &str = "https://api.test";
const IDP: &str = "https://idp.test";

#[tokio::test]
async fn issuers_each_token_is_verified_only_by_its_own_issuers_keys() {
    let idp = KeyPair::generate(Algorithm::ES256);
    let server = JwksServer::start(jwks(&[jwk(&idp, "idp-1")])).await;
    let remote = source(&server).start().await.expect("starts");
    let layer = RevocationLayer::verifying_issuers(
        memory_revocations(&clock()),
        [
            TrustedIssuer::new(
                OURS,
                DecodingKeys::new(DecodingKey::from_secret(SECRET)),
                &[Algorithm::HS256],
            ),
            TrustedIssuer::new(IDP, remote, &[Algorithm::ES256]).audiences(["our-api"]),
        ],
    )
    .build()
    .expect("a valid layer");
    let app = app(layer);
    let of = |iss: &str, aud: Option<&str>| {
        let mut claims = claims("alice", &format!("{iss}-{aud:?}"));
        claims["iss"] = json!(iss);
        if let Some(aud) = aud {
            claims["aud"] = json!(aud);
        }
        claims
    };
    let hs256 = |claims: &Value| {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(SECRET),
        )
        .expect("signs")
    };
    let es256 = |claims: &Value| signed_as(&idp, Algorithm::ES256, Some("idp-1"), claims);

    assert_accepted(&app, &hs256(&of(OURS, None)), "our own token").await;
    assert_accepted(&app, &es256(&of(IDP, Some("our-api"))), "the IdP's token").await;
    assert_refused(
        &app,
        &es256(&of(IDP, None)),
        "no aud",
        "the IdP's audiences apply",
    )
    .await;

    let cases = [
        (es256(&of(OURS, None)), "our issuer, the IdP's key"),
        (
            es256(&of(OURS, Some("our-api"))),
            "our issuer, the IdP's key, with aud",
        ),
        (
            hs256(&of(IDP, Some("our-api"))),
            "the IdP's issuer, our secret",
        ),
        (
            es256(&of("https://unlisted.test", Some("our-api"))),
            "an unlisted issuer",
        ),
        (
            hs256(&of("https://unlisted.test", None)),
            "an unlisted issuer, our secret",
        ),
    ];
    for (token, what) in &cases {
        assert_refused(&app, token, "", what).await;
    }
    let mut no_iss = of(OURS, None);
    no_iss.as_object_mut().expect("object").remove("iss");
    assert_refused(&app, &hs256(&no_iss), "", "no iss at all").await;

    // Algorithm confusion: HS256 keyed with the IdP's public key.
    let public = jwk(&idp, "idp-1");
    let confused = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &of(IDP, Some("our-api")),
        &EncodingKey::from_secret(public.to_string().as_bytes()),
    )
    .expect("signs");
    assert_refused(&app, &confused, "", "HS256 keyed with the IdP's JWK").await;

    // Two `iss` members: whichever a reader takes, the token is refused.
    let times = format!(
        r#""iat":{NOW},"exp":{},"sub":"alice","jti":"two-iss""#,
        NOW + 3600
    );
    let payloads = [
        format!(r#"{{"iss":"{OURS}","iss":"{IDP}","aud":"our-api",{times}}}"#),
        format!(r#"{{"iss":"{IDP}","iss":"{OURS}","aud":"our-api",{times}}}"#),
        format!(r#"{{"iss":"{OURS}","\u0069ss":"{IDP}","aud":"our-api",{times}}}"#),
    ];
    for payload in &payloads {
        let by_idp = sign_raw(
            &json!({ "alg": "ES256", "typ": "JWT", "kid": "idp-1" }),
            payload,
            Algorithm::ES256,
            &idp.encoding,
        );
        assert_refused(&app, &by_idp, "", &format!("signed by the IdP: {payload}")).await;
        let by_us = sign_raw(
            &json!({ "alg": "HS256", "typ": "JWT" }),
            payload,
            Algorithm::HS256,
            &EncodingKey::from_secret(SECRET),
        );
        assert_refused(&app, &by_us, "", &format!("signed by us: {payload}")).await;
    }
    // Control: the raw signing itself yields tokens the layer accepts.
    let single = format!(r#"{{"iss":"{IDP}","aud":"our-api",{times}}}"#);
    let control = sign_raw(
        &json!({ "alg": "ES256", "typ": "JWT", "kid": "idp-1" }),
        &single,
        Algorithm::ES256,
        &idp.encoding,
    );
    assert_accepted(&app, &control, "one iss, signed raw").await;
}

// ---- 7. start-up --------------------------------------------------------------------------

#[tokio::test]
async fn start_without_keys_answers_503_until_the_first_fetch_succeeds() {
    let idp = KeyPair::generate(Algorithm::ES256);
    let server = JwksServer::start(jwks(&[jwk(&idp, "k1")])).await;
    server.set_status(500);
    let keys = source(&server)
        .refresh_bounds(ms(200), Duration::from_secs(60))
        .start_without_keys()
        .start()
        .await
        .expect("returns at once");
    let app = app_with(keys.clone(), &[Algorithm::ES256]);
    let good = token(&idp, "k1", "t-1");
    for sent in [good.clone(), token(&idp, "k-unknown", "t-2")] {
        let response = send(&app, request("GET", "/me", Some(&sent))).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "1");
    }
    eventually(
        "the first fetch retried in the background",
        Duration::from_secs(5),
        async || keys.status().failures >= 2,
    )
    .await;
    let status = keys.status();
    assert_eq!((status.freshness, status.keys), (Freshness::NoKeysYet, 0));
    assert!(status.last_error.is_some_and(|e| e.contains("500")));
    assert_eq!(answer(&app, &good).await.0, StatusCode::SERVICE_UNAVAILABLE);
    server.heal();
    eventually(
        "accepted once the IdP serves keys",
        Duration::from_secs(5),
        async || answer(&app, &good).await.0 == StatusCode::OK,
    )
    .await;
    assert_eq!(keys.status().freshness, Freshness::Fresh);
}

#[tokio::test]
async fn start_fails_when_the_first_fetch_fails() {
    let idp = KeyPair::generate(Algorithm::ES256);
    let server = JwksServer::start(jwks(&[jwk(&idp, "k1")])).await;
    server.set_status(500);
    let err = source(&server).start().await.expect_err("500");
    assert!(
        matches!(err, KeySourceError::Status { status: 500, .. }),
        "{err:?}"
    );
    server.heal();
    server.set_body(Some(b"{\"keys\": 42}".to_vec()));
    let err = source(&server).start().await.expect_err("not a key set");
    assert!(matches!(err, KeySourceError::Document { .. }), "{err:?}");
    server.set_body(None);
    server.stop().await;
    let err = source(&server).start().await.expect_err("nobody listens");
    assert!(matches!(err, KeySourceError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains(&server.jwks_url()), "{err}");
}

// ---- 8. where keys may come from ----------------------------------------------------------

#[tokio::test]
async fn urls_plain_http_only_to_loopback_and_only_when_allowed() {
    let idp = KeyPair::generate(Algorithm::ES256);
    let server = JwksServer::start(jwks(&[jwk(&idp, "k1")])).await;

    let err = RemoteKeys::jwks_url(server.jwks_url())
        .start()
        .await
        .expect_err("http://127.0.0.1 without allow_http_loopback");
    assert!(
        matches!(&err, KeySourceError::Url { why, .. } if why.contains("allow_http_loopback")),
        "{err}"
    );
    assert_eq!(server.jwks_hits(), 0, "refused before any request");
    RemoteKeys::jwks_url(server.jwks_url())
        .allow_http_loopback()
        .start()
        .await
        .expect("allowed");

    for (url, allow) in [
        ("http://idp.example/jwks", false),
        ("http://idp.example/jwks", true),
        ("http://10.0.0.1/jwks", true),
        ("ftp://idp.example/jwks", true),
        ("https://user:secret@idp.example/jwks", false),
        ("not a url", true),
    ] {
        let builder = RemoteKeys::jwks_url(url);
        let builder = if allow {
            builder.allow_http_loopback()
        } else {
            builder
        };
        let err = builder.start().await.expect_err(url);
        assert!(matches!(err, KeySourceError::Url { .. }), "{url}: {err:?}");
        assert!(!err.to_string().contains("secret"), "{err}");
    }
    let err = RemoteKeys::discover("http://idp.example")
        .allow_http_loopback()
        .start()
        .await
        .expect_err("discovery over plain HTTP to another host");
    assert!(matches!(err, KeySourceError::Url { .. }), "{err:?}");
}

#[tokio::test]
async fn urls_https_to_nothing_or_to_a_plain_server_fails_the_start() {
    let idp = KeyPair::generate(Algorithm::ES256);
    let server = JwksServer::start(jwks(&[jwk(&idp, "k1")])).await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        listener.local_addr().expect("bound").port()
    };
    for url in [
        format!("https://127.0.0.1:{closed}/jwks"),
        format!("https://{}/jwks", server.addr()),
    ] {
        let err = RemoteKeys::jwks_url(&url)
            .connect_timeout(Duration::from_secs(1))
            .fetch_timeout(Duration::from_secs(2))
            .start()
            .await
            .expect_err(&url);
        assert!(
            matches!(err, KeySourceError::Unreachable { .. }),
            "{url}: {err:?}"
        );
        assert!(
            err.to_string().contains(&url),
            "the error names the URL: {err}"
        );
    }
}

#[tokio::test]
async fn urls_redirects_are_followed_only_where_the_same_rules_allow() {
    let idp = KeyPair::generate(Algorithm::ES256);
    let server = JwksServer::start(jwks(&[jwk(&idp, "k1")])).await;
    let target = JwksServer::start(jwks(&[jwk(&idp, "k-target")])).await;
    server.set_redirect(Some("http://192.0.2.1/jwks"));
    let err = source(&server)
        .start()
        .await
        .expect_err("a redirect to plain HTTP elsewhere");
    assert!(
        err.to_string()
            .contains("is not a URL keys are fetched from"),
        "{err}"
    );
    server.set_redirect(Some(&target.jwks_url()));
    let keys = source(&server)
        .start()
        .await
        .expect("a redirect to loopback");
    assert_eq!(keys.status().kids, ["k-target"]);
}

#[tokio::test]
async fn settings_that_cannot_work_fail_the_start() {
    let start = |builder: RemoteKeysBuilder| async move {
        builder
            .allow_http_loopback()
            .start()
            .await
            .expect_err("invalid settings")
    };
    let url = "http://127.0.0.1:1/jwks";
    for err in [
        start(RemoteKeys::jwks_url(url).refresh_bounds(Duration::ZERO, Duration::from_secs(1)))
            .await,
        start(
            RemoteKeys::jwks_url(url)
                .refresh_bounds(Duration::from_secs(2), Duration::from_secs(1)),
        )
        .await,
        start(RemoteKeys::jwks_url(url).max_document_bytes(0)).await,
        start(
            RemoteKeys::jwks_url(url)
                .refresh_bounds(Duration::from_secs(60), Duration::from_secs(60))
                .max_stale(Duration::from_secs(59)),
        )
        .await,
    ] {
        assert!(matches!(err, KeySourceError::Settings(_)), "{err:?}");
    }
}

#[test]
fn a_source_started_outside_a_tokio_runtime_says_so() {
    let mut start = std::pin::pin!(RemoteKeys::jwks_url("https://idp.example/jwks").start());
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match start.as_mut().poll(&mut cx) {
        Poll::Ready(Err(KeySourceError::NoRuntime)) => {}
        Poll::Ready(other) => panic!("expected NoRuntime, got {other:?}"),
        Poll::Pending => panic!("expected NoRuntime at once"),
    }
}

// ---- 9. receivers -------------------------------------------------------------------------

fn revoke_request(token: &str) -> Request<Body> {
    Request::post("/oauth/revoke")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("token={token}")))
        .expect("request")
}

async fn revoke(app: &Router, token: &str) -> (StatusCode, Option<String>, String) {
    let response = send(app, revoke_request(token)).await;
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().expect("ascii").to_owned());
    (status, retry_after, body_text(response).await)
}

#[tokio::test]
async fn rfc_7009_with_remote_keys_never_says_200_to_a_token_they_may_verify_later() {
    let idp = KeyPair::generate(Algorithm::ES256);
    let next = KeyPair::generate(Algorithm::ES256);
    let attacker = KeyPair::generate(Algorithm::ES256);
    let server = JwksServer::start(jwks(&[jwk(&idp, "k1")])).await;
    let keys = source(&server)
        .refetch_interval(ms(100))
        .unknown_kid_wait(Duration::from_secs(1))
        .start()
        .await
        .expect("starts");
    let layer = layer_with(
        memory_revocations(&clock()),
        keys,
        &[Algorithm::ES256],
        false,
    );
    let endpoint = RevocationEndpoint::new(&layer).expect("a verifying layer");
    let app = app(layer).route_service("/oauth/revoke", endpoint);
    tokio::time::sleep(ms(150)).await;

    // A token of a key the IdP has not published yet: 503, not a "never again" it cannot keep.
    let rotated = token(&next, "k2", "t-rotated");
    let (status, retry_after, body) = revoke(&app, &rotated).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    let body: Value = serde_json::from_str(&body).expect("a JSON body");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(
        server.jwks_hits(),
        2,
        "the endpoint refetched for the unknown kid"
    );
    // A known kid whose signature does not verify: the IdP may have replaced the key.
    let forged = token(&attacker, "k1", "t-forged");
    assert_eq!(
        revoke(&app, &forged).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // Nothing can ever make these verify: 200, as RFC 7009 says.
    for invalid in ["garbage", "a.b.c"] {
        assert_eq!(revoke(&app, invalid).await.0, StatusCode::OK, "{invalid}");
    }

    // The 503 was right: once the key is published, the token is good.
    server.set_jwks(jwks(&[jwk(&idp, "k1"), jwk(&next, "k2")]));
    tokio::time::sleep(ms(150)).await;
    assert_accepted(&app, &rotated, "the token once its key is published").await;
    let (status, _, body) = revoke(&app, &rotated).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_refused(&app, &rotated, "revoked", "after its revocation").await;
    let good = token(&idp, "k1", "t-good");
    assert_eq!(revoke(&app, &good).await.0, StatusCode::OK);
    assert_refused(&app, &good, "revoked", "after its revocation").await;
}

#[tokio::test]
async fn rfc_7009_without_keys_yet_answers_503() {
    let idp = KeyPair::generate(Algorithm::ES256);
    let server = JwksServer::start(jwks(&[jwk(&idp, "k1")])).await;
    server.set_status(500);
    let keys = source(&server)
        .start_without_keys()
        .start()
        .await
        .expect("starts");
    let layer = layer_with(
        memory_revocations(&clock()),
        keys,
        &[Algorithm::ES256],
        false,
    );
    let endpoint = RevocationEndpoint::new(&layer).expect("a verifying layer");
    let app = app(layer).route_service("/oauth/revoke", endpoint);
    let (status, retry_after, body) = revoke(&app, &token(&idp, "k1", "t-1")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(retry_after.is_some());
}

const CLIENT: &str = "our-client-id";
const API: &str = "https://api.test";

fn logout_claims(jti: &str, sid: &str) -> Value {
    json!({
        "iss": IDP, "aud": CLIENT, "iat": NOW, "exp": NOW + 120, "jti": jti,
        "sub": "alice", "sid": sid,
        "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
    })
}

fn logout_token(pair: &KeyPair, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(pair.alg);
    header.kid = Some(kid.to_owned());
    header.typ = Some("logout+jwt".to_owned());
    jsonwebtoken::encode(&header, claims, &pair.encoding).expect("signs")
}

async fn post_logout(
    receiver: &BackchannelLogout,
    token: &str,
) -> (StatusCode, http::HeaderMap, String) {
    let request = Request::post("/")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("logout_token={token}")))
        .expect("request");
    let response = receiver.clone().oneshot(request).await.expect("infallible");
    let (head, body) = response.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    (
        head.status,
        head.headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

async fn access_verdict(revocations: &Revocations, sid: &str) -> Verdict {
    let claims: RegisteredClaims = serde_json::from_value(json!({
        "iss": API, "sub": "alice", "sid": sid, "jti": format!("access-{sid}"),
        "iat": NOW, "exp": NOW + 600,
    }))
    .expect("claims");
    let facts = revocations.inspect(&claims, "").expect("a valid token");
    revocations.check(&facts).await.expect("check")
}

#[tokio::test]
async fn backchannel_logout_accepts_a_logout_token_of_a_rotated_in_key() {
    let idp = KeyPair::generate(Algorithm::ES256);
    let next = KeyPair::generate(Algorithm::ES256);
    let attacker = KeyPair::generate(Algorithm::ES256);
    let server = JwksServer::start(jwks(&[jwk(&idp, "k1")])).await;
    let keys = source(&server)
        .refetch_interval(ms(100))
        .unknown_kid_wait(Duration::from_secs(1))
        .start()
        .await
        .expect("starts");
    let revocations = memory_revocations(&clock());
    let trust = EventTokenTrust::new(keys, &[Algorithm::ES256], IDP, CLIENT);
    let receiver = BackchannelLogout::builder(revocations.clone(), trust)
        .revoke_for_issuer(API)
        .build()
        .expect("builds");
    tokio::time::sleep(ms(150)).await;
    server.set_jwks(jwks(&[jwk(&idp, "k1"), jwk(&next, "k2")]));
    let logout = logout_token(&next, "k2", &logout_claims("l-1", "session-1"));
    let (status, _, body) = post_logout(&receiver, &logout).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(matches!(
        access_verdict(&revocations, "session-1").await,
        Verdict::Revoked(RevocationReason::Session(_))
    ));

    // A logout token under a kid nobody published: retried later, never acted on.
    tokio::time::sleep(ms(150)).await;
    let forged = logout_token(&attacker, "k3", &logout_claims("l-2", "session-2"));
    let (status, headers, body) = post_logout(&receiver, &forged).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(headers.contains_key("retry-after"));
    assert_eq!(
        access_verdict(&revocations, "session-2").await,
        Verdict::Valid
    );
}

// ---- the lead's refinements ---------------------------------------------------------------

/// A source that could not start recovers when its provider answers again, at the next request
/// rather than at its next scheduled retry (the backoff's first retry is 10 s away here; the
/// refresh's lower bound is an hour).
#[tokio::test]
async fn a_source_started_without_keys_fetches_at_the_first_request_after_its_idp_recovers() {
    let idp = KeyPair::generate(Algorithm::ES256);
    let server = JwksServer::start(jwks(&[jwk(&idp, "k1")])).await;
    server.set_status(500);
    let keys = source(&server)
        .refresh_bounds(Duration::from_secs(3600), Duration::from_secs(3600))
        .refetch_interval(ms(100))
        .start_without_keys()
        .start()
        .await
        .expect("returns at once");
    let app = app_with(keys.clone(), &[Algorithm::ES256]);
    let good = token(&idp, "k1", "t-1");
    eventually(
        "the first fetch failed",
        Duration::from_secs(5),
        async || keys.status().failures >= 1,
    )
    .await;
    server.heal();
    // Each 503 asks for a fetch (at most one per refetch interval): well before the 10 s retry.
    eventually(
        "accepted soon after the IdP recovers",
        Duration::from_secs(3),
        async || answer(&app, &good).await.0 == StatusCode::OK,
    )
    .await;
    assert!(server.jwks_hits() >= 2, "{}", server.jwks_hits());
}

/// A refresh that brings the same document keeps what the verified-token cache holds of it:
/// the cache keeps serving (only a different document makes its tokens verify again).
#[tokio::test]
async fn a_refresh_of_the_same_document_keeps_the_verified_token_cache() {
    let idp = KeyPair::generate(Algorithm::ES256);
    let server = JwksServer::start(jwks(&[jwk(&idp, "k1")])).await;
    let keys = source(&server)
        .refresh_bounds(ms(100), ms(100))
        .max_stale(Duration::from_secs(60))
        .start()
        .await
        .expect("starts");
    let layer = layer_with(
        memory_revocations(&clock()),
        keys.clone(),
        &[Algorithm::ES256],
        true,
    );
    let stats_layer = layer.clone();
    let app = app(layer);
    let good = token(&idp, "k1", "t-1");
    assert_accepted(&app, &good, "first seen").await;
    let fetched = server.jwks_hits();
    eventually("refreshed twice more", Duration::from_secs(5), async || {
        server.jwks_hits() >= fetched + 2
    })
    .await;
    let hits = stats_layer.stats().verified_cache_hits();
    assert_accepted(&app, &good, "seen again after refreshes").await;
    assert_eq!(
        stats_layer.stats().verified_cache_hits(),
        hits + 1,
        "served from the cache: the same document is the same keys"
    );
    // A different document (a key added) makes the cached token verify again, and still work.
    let next = KeyPair::generate(Algorithm::ES256);
    server.set_jwks(jwks(&[jwk(&idp, "k1"), jwk(&next, "k2")]));
    eventually(
        "the new document in force",
        Duration::from_secs(5),
        async || keys.status().kids.len() == 2,
    )
    .await;
    let hits = stats_layer.stats().verified_cache_hits();
    assert_accepted(&app, &good, "after the rotation").await;
    assert_eq!(
        stats_layer.stats().verified_cache_hits(),
        hits,
        "verified again under the new set"
    );
}

/// The RFC 7009 endpoint answers 503 only where a later key set could make the token verify:
/// a token of an algorithm the layer never accepts can never verify, and gets RFC 7009's 200.
#[tokio::test]
async fn rfc_7009_says_200_to_a_token_of_an_algorithm_the_layer_never_accepts() {
    let idp = KeyPair::generate(Algorithm::ES256);
    let rsa = KeyPair::generate(Algorithm::RS256);
    let server = JwksServer::start(jwks(&[jwk(&idp, "k1")])).await;
    let keys = source(&server).start().await.expect("starts");
    let layer = layer_with(
        memory_revocations(&clock()),
        keys,
        &[Algorithm::ES256],
        false,
    );
    let endpoint = RevocationEndpoint::new(&layer).expect("a verifying layer");
    let app = app(layer).route_service("/oauth/revoke", endpoint);
    // RS256 under the known kid: no key set can make the layer accept RS256.
    let foreign = token(&rsa, "k1", "t-rs256");
    let (status, _, body) = revoke(&app, &foreign).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_refused(&app, &foreign, "algorithm", "the layer refuses it too").await;
}

/// A source whose fetcher stopped with the runtime it was started on: an unknown kid is refused
/// at once (nothing would fetch, so nothing is worth waiting for), the status says so, and past
/// `max_stale` its keys are stale even though no fetch failed.
#[test]
fn a_source_whose_fetcher_stopped_with_its_runtime_waits_for_nothing_and_goes_stale() {
    let serving = tokio::runtime::Runtime::new().expect("a runtime for the server");
    let idp = KeyPair::generate(Algorithm::ES256);
    let server = serving.block_on(JwksServer::start(jwks(&[jwk(&idp, "k1")])));
    let starting = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the source");
    let keys = starting
        .block_on(
            source(&server)
                .refetch_interval(ms(50))
                .unknown_kid_wait(Duration::from_secs(5))
                .max_stale(ms(400))
                .refresh_bounds(ms(200), ms(200))
                .start(),
        )
        .expect("starts");
    drop(starting);
    assert!(!keys.status().fetcher_running);
    serving.block_on(async {
        let app = app_with(keys.clone(), &[Algorithm::ES256]);
        assert_accepted(&app, &token(&idp, "k1", "t-1"), "the keys fetched at start").await;
        let begun = Instant::now();
        assert_refused(
            &app,
            &token(&idp, "k-new", "t-2"),
            "kid",
            "no fetcher: refused",
        )
        .await;
        assert!(
            begun.elapsed() < Duration::from_secs(4),
            "refused without waiting the 5 s for a fetch that cannot come"
        );
        tokio::time::sleep(ms(500)).await;
        assert_refused(&app, &token(&idp, "k1", "t-3"), "stale", "past max_stale").await;
    });
}

// ---- metrics ------------------------------------------------------------------------------

/// The key source's metrics (feature `metrics`): each fetch counted by outcome, the same
/// document again as `unchanged`, and staleness as a gauge an alert can watch; the source's
/// URL is the label without its query (an API key there is no dashboard's business). On a runtime
/// of this test's thread, so that the fetcher task reports to this test's recorder.
#[test]
fn metrics_count_each_fetch_by_outcome_and_show_staleness() {
    use jwt_revoke_tower::observe::{KEY_FETCHES, KEY_SOURCE_STALE};
    let (url, snapshot) = support::recorder::recorded(async || {
        let idp = KeyPair::generate(Algorithm::ES256);
        let server = JwksServer::start(jwks(&[jwk(&idp, "k1")])).await;
        // An API key in the query string must not become a label.
        let keys = RemoteKeys::jwks_url(format!("{}?key=s3cret", server.jwks_url()))
            .allow_http_loopback()
            .connect_timeout(Duration::from_secs(1))
            .fetch_timeout(Duration::from_secs(2))
            .refresh_bounds(ms(100), ms(100))
            .max_stale(ms(600))
            .start()
            .await
            .expect("starts");
        // The same document again: at least one `unchanged` fetch.
        eventually("a refresh", Duration::from_secs(5), async || {
            keys.status().fetches >= 2
        })
        .await;
        server.set_status(500);
        let app = app_with(keys.clone(), &[Algorithm::ES256]);
        eventually("stale keys", Duration::from_secs(10), async || {
            answer(&app, &token(&idp, "k1", "t-1")).await.0 == StatusCode::UNAUTHORIZED
                && keys.status().failures >= 1
        })
        .await;
        // One more failed fetch past max_stale sets the gauge.
        let failures = keys.status().failures;
        eventually("another failure", Duration::from_secs(5), async || {
            keys.status().failures > failures
        })
        .await;
        // Nor does the status, nor the last error.
        let status = keys.status();
        assert!(!status.location.contains("s3cret"), "{}", status.location);
        let error = status.last_error.expect("the 500");
        assert!(!error.contains("s3cret") && error.contains("?…"), "{error}");
        drop(keys);
        format!("{}?…", server.jwks_url())
    });
    for (name, labels, _) in snapshot.all() {
        assert!(
            !format!("{labels:?}").contains("s3cret"),
            "{name} {labels:?}"
        );
        if name.starts_with("jwt_revoke_key_") {
            assert!(
                labels.contains(&("source".to_owned(), url.clone())),
                "{name} {labels:?}"
            );
        }
    }
    let fetches = |outcome: &str| {
        let labels = format!("outcome={outcome},source={url}");
        snapshot
            .counters(KEY_FETCHES)
            .into_iter()
            .find(|(l, _)| *l == labels)
            .map_or(0, |(_, n)| n)
    };
    assert_eq!(fetches("ok"), 1, "the first fetch");
    assert!(fetches("unchanged") >= 1);
    assert!(fetches("failed") >= 2);
    let stale = snapshot.gauge(KEY_SOURCE_STALE, &[("source", url.as_str())]);
    assert_eq!(stale, Some(1.0), "stale after max_stale of failures");
}

/// A JWKS URL with an API key in its query: a fetch that fails shows the URL without it, also
/// where the HTTP client's own message would have named the URL.
#[tokio::test]
async fn an_api_key_in_the_query_never_shows_in_a_failure() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("an address")
        .port();
    let err = RemoteKeys::jwks_url(format!("http://127.0.0.1:{port}/jwks?key=s3cret"))
        .allow_http_loopback()
        .connect_timeout(ms(500))
        .start()
        .await
        .expect_err("nothing listens there");
    let text = format!("{err} {err:?}");
    assert!(matches!(err, KeySourceError::Unreachable { .. }), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}/jwks?…")), "{text}");
}
