//! A Redis that loses its data — restarted without persistence, `FLUSHALL`, `FLUSHDB`, restarted
//! from an older snapshot — must not bring revoked tokens back: the store notices through its
//! marker and every token issued before the loss was noticed counts as revoked (or, told so,
//! every call fails until an operator clears the loss). Also: the eviction policy re-checked
//! while the store runs, and writes acknowledged only once a Redis replica holds them.
//!
//! Each test runs its own redis-server: they flush and restart it.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use jwt_revoke_core::{
    Clock, NumericDate, Policy, RegisteredClaims, RevocationReason, RevocationStore, Revocations,
    StoreError, SystemClock, TokenFacts, Verdict,
};
use jwt_revoke_redis::test_support::{RedisServer, unique_prefix};
use jwt_revoke_redis::{DataLossReaction, KeyPrefix, RedisStore, RedisStoreConfig};
use support::{ISSUER, from_now, keys};

const TIMEOUT: Duration = Duration::from_millis(500);
/// Far more than anything here should take: a test that waits this long has failed.
const PATIENCE: Duration = Duration::from_secs(10);

fn config(server: &RedisServer, prefix: &KeyPrefix) -> RedisStoreConfig {
    RedisStoreConfig::from_url(server.url())
        .with_key_prefix(prefix.clone())
        .with_timeout(TIMEOUT)
}

async fn store(server: &RedisServer, prefix: &KeyPrefix) -> RedisStore {
    config(server, prefix)
        .build()
        .await
        .expect("the test server accepts connections")
}

fn engine(store: &RedisStore) -> Revocations {
    Revocations::new(
        Arc::new(store.clone()),
        Policy::new(Duration::from_secs(900)),
    )
}

/// The engine of `store` with a clock `ahead` of the real one: it accepts the tokens an issuer
/// mints a few seconds from now (after a cut-off, at its `first_valid_iat`).
fn engine_ahead(store: &RedisStore, ahead: Duration) -> Revocations {
    let clock = jwt_revoke_core::ManualClock::new(SystemClock.now().saturating_add(ahead));
    engine(store).with_clock(Arc::new(clock))
}

/// A token of `sub` issued at `iat` (seconds), valid for ten minutes after it.
fn token(revocations: &Revocations, sub: &str, jti: &str, iat: i64) -> TokenFacts {
    let mut claims = RegisteredClaims::new();
    claims.iss = Some(ISSUER.into());
    claims.sub = Some(sub.into());
    claims.jti = Some(jti.into());
    claims.iat = Some(NumericDate::from_secs(iat));
    claims.exp = Some(NumericDate::from_secs(iat + 600));
    revocations.inspect(&claims, "raw").expect("valid claims")
}

fn now_secs() -> i64 {
    SystemClock.now().as_secs_floor()
}

/// The first verdict Redis gives once it answers again; any "valid" on the way fails.
async fn first_answer(revocations: &Revocations, token: &TokenFacts) -> Verdict {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match revocations.check(token).await {
            Ok(verdict) => return verdict,
            Err(err) => {
                assert!(err.is_unavailable(), "while Redis comes back: {err}");
                assert!(Instant::now() < deadline, "Redis did not come back: {err}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

fn data_loss_cutoff(verdict: &Verdict) -> jwt_revoke_core::Cutoff {
    match verdict {
        Verdict::Revoked(RevocationReason::DataLoss(cutoff)) => *cutoff,
        other => panic!("expected a refusal for the data loss, got {other:?}"),
    }
}

/// Revokes a token, loses the data with `lose`, and shows: the revoked token is refused (and
/// so is every token issued before the loss was noticed), a token issued after works, the loss
/// is counted once, and a store built afterwards agrees on its instant.
async fn a_loss_is_noticed_and_nothing_it_revoked_comes_back(lose: impl FnOnce(&mut RedisServer)) {
    let mut server = RedisServer::start();
    let prefix = unique_prefix();
    let store = store(&server, &prefix).await;
    let revocations = engine(&store);
    let revoked = token(&revocations, "alice", "revoked", now_secs() - 10);
    let untouched = token(&revocations, "bob", "untouched", now_secs() - 10);
    revocations.revoke_token(&revoked).await.expect("revoke");
    assert_eq!(
        revocations.check(&revoked).await.expect("check"),
        Verdict::Revoked(RevocationReason::Token)
    );
    assert_eq!(store.data_loss_status().losses_noticed, 0);

    lose(&mut server);

    let verdict = first_answer(&revocations, &revoked).await;
    let cutoff = data_loss_cutoff(&verdict);
    // Every token issued before the loss was noticed: it may have been revoked in what was lost.
    data_loss_cutoff(&revocations.check(&untouched).await.expect("check"));
    // A token issued after it works (the documented way: iat = first_valid_iat).
    let ahead = engine_ahead(&store, Duration::from_secs(5));
    let fresh = token(&ahead, "alice", "fresh", cutoff.first_valid_iat());
    assert_eq!(ahead.check(&fresh).await.expect("check"), Verdict::Valid);

    let status = store.data_loss_status();
    assert_eq!(status.losses_noticed, 1, "{status:?}");
    // The store reports the instant it noticed; the engine's cut-off adds the `iat` allowance.
    let noticed = status.cutoff.expect("a store-wide cut-off");
    assert_eq!(
        noticed.saturating_add(Policy::DEFAULT_ISSUED_AT_SKEW),
        cutoff.at(),
        "{status:?}"
    );
    assert!(!status.failing_closed);

    // Every instance agrees: one built now reads the loss from the marker.
    let later = self::store(&server, &prefix).await;
    let later_engine = engine(&later);
    assert_eq!(
        data_loss_cutoff(&later_engine.check(&revoked).await.expect("check")),
        cutoff
    );
    assert_eq!(later.data_loss_status().cutoff, Some(noticed));
}

#[tokio::test]
async fn a_restart_without_persistence_is_noticed() {
    a_loss_is_noticed_and_nothing_it_revoked_comes_back(RedisServer::restart_empty).await;
}

#[tokio::test]
async fn a_flushall_is_noticed() {
    a_loss_is_noticed_and_nothing_it_revoked_comes_back(|server| {
        server.cli(&["FLUSHALL"]);
    })
    .await;
}

#[tokio::test]
async fn a_flushdb_is_noticed() {
    a_loss_is_noticed_and_nothing_it_revoked_comes_back(|server| {
        server.cli(&["FLUSHDB"]);
    })
    .await;
}

/// The unlucky operator: Redis restarts empty and a new instance starts before any running one
/// has checked a token. The new one takes the empty Redis for a first start and writes a
/// marker; the running one sees a marker of another epoch and records the loss all the same.
#[tokio::test]
async fn a_store_built_after_the_loss_does_not_hide_it() {
    let mut server = RedisServer::start();
    let prefix = unique_prefix();
    let running = store(&server, &prefix).await;
    let revocations = engine(&running);
    let revoked = token(&revocations, "carol", "revoked", now_secs() - 10);
    revocations.revoke_token(&revoked).await.expect("revoke");

    server.restart_empty();
    let newcomer = store(&server, &prefix).await;
    assert_eq!(newcomer.data_loss_status().losses_noticed, 0);

    let cutoff = data_loss_cutoff(&first_answer(&revocations, &revoked).await);
    assert_eq!(
        data_loss_cutoff(&engine(&newcomer).check(&revoked).await.expect("check")),
        cutoff,
        "the newcomer learns the loss from the marker at its next check"
    );
}

/// A server that comes back with an older copy of its data (a replica promoted before it had
/// every write, an old snapshot loaded): the marker is there, but its count of writes went
/// back, and the writes after the snapshot are gone.
#[tokio::test]
async fn a_server_restarted_from_an_older_snapshot_is_noticed() {
    let mut server = RedisServer::start();
    let prefix = unique_prefix();
    let store = store(&server, &prefix).await;
    let revocations = engine(&store);
    let kept = token(&revocations, "dave", "kept", now_secs() - 10);
    let lost = token(&revocations, "dave", "lost", now_secs() - 10);
    revocations.revoke_token(&kept).await.expect("revoke");
    server.cli(&["SAVE"]);
    revocations.revoke_token(&lost).await.expect("revoke");
    // Killed and started again: it loads the snapshot, which lacks the second revocation.
    server.restart();

    let verdict = first_answer(&revocations, &lost).await;
    data_loss_cutoff(&verdict);
    assert_eq!(
        revocations.check(&kept).await.expect("check"),
        Verdict::Revoked(RevocationReason::Token)
    );
    assert_eq!(store.data_loss_status().losses_noticed, 1);
}

/// Many instances notice one loss at the same moment: one records it, all agree on the instant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_noticing_one_loss_together_agree_on_its_instant() {
    let server = RedisServer::start();
    let prefix = unique_prefix();
    let mut stores = Vec::new();
    for _ in 0..6 {
        stores.push(store(&server, &prefix).await);
    }
    server.cli(&["FLUSHALL"]);
    let checks = stores.iter().map(|store| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .check(&keys("erin", "t-1", None))
                .await
                .map(|reply| reply.store_cutoff)
        })
    });
    let mut cutoffs = Vec::new();
    for check in checks {
        cutoffs.push(
            check
                .await
                .expect("a check never panics")
                .expect("check")
                .expect("a store-wide cut-off"),
        );
    }
    assert!(
        cutoffs.iter().all(|cutoff| *cutoff == cutoffs[0]),
        "{cutoffs:?}"
    );
    for store in &stores {
        assert_eq!(store.data_loss_status().losses_noticed, 1);
    }
}

#[tokio::test]
async fn told_to_fail_closed_every_call_fails_until_an_operator_clears_the_loss() {
    let server = RedisServer::start();
    let prefix = unique_prefix();
    let config = config(&server, &prefix).with_data_loss_reaction(DataLossReaction::FailClosed);
    let store = config.build().await.expect("build");
    let other = config.build().await.expect("build");
    let revocations = engine(&store);
    let revoked = token(&revocations, "frank", "revoked", now_secs() - 10);
    revocations.revoke_token(&revoked).await.expect("revoke");

    server.cli(&["FLUSHALL"]);
    let noticed = match store.check(&keys("frank", "x", None)).await {
        Err(StoreError::DataLoss { noticed_at }) => noticed_at,
        other => panic!("expected DataLoss, got {other:?}"),
    };
    let refused = store
        .check(&keys("frank", "x", None))
        .await
        .expect_err("refused");
    assert!(!refused.is_unavailable(), "fail-open must never open on it");
    assert!(store.data_loss_status().failing_closed);
    // Every instance refuses, and so do writes — which are still made.
    assert!(matches!(
        other.check(&keys("frank", "x", None)).await,
        Err(StoreError::DataLoss { noticed_at }) if noticed_at == noticed
    ));
    let ahead = engine_ahead(&store, Duration::from_secs(10));
    let during = token(&ahead, "frank", "during", noticed.as_secs_floor() + 5);
    assert!(matches!(
        ahead.revoke_token(&during).await,
        Err(StoreError::DataLoss { .. })
    ));

    store.clear_data_loss().await.expect("clear");
    assert!(!store.data_loss_status().failing_closed);
    // Cleared for every instance, and the cut-off stays: nothing lost comes back.
    for engine in [
        engine_ahead(&store, Duration::from_secs(10)),
        engine_ahead(&other, Duration::from_secs(10)),
    ] {
        data_loss_cutoff(&engine.check(&revoked).await.expect("check"));
        assert_eq!(
            engine.check(&during).await.expect("check"),
            Verdict::Revoked(RevocationReason::Token),
            "the revocation made while refused holds"
        );
    }
    assert!(!other.data_loss_status().failing_closed);
}

/// `CONFIG SET maxmemory-policy allkeys-lru` made after the store was built: caught within
/// seconds, checks refused (not as unavailable) until the policy is safe again; a store that
/// allows an evicting server keeps answering.
#[tokio::test]
async fn an_eviction_policy_set_later_is_caught_and_checks_wait_until_it_is_safe() {
    let server = RedisServer::start();
    let prefix = unique_prefix();
    let store = config(&server, &prefix)
        .with_policy_check_interval(Duration::from_millis(100))
        .build()
        .await
        .expect("build");
    let allowing = config(&server, &prefix)
        .with_allow_evicting_server(true)
        .with_policy_check_interval(Duration::from_millis(100))
        .build()
        .await
        .expect("build");
    let token = keys("grace", "t-1", None);
    store.check(&token).await.expect("check");

    server.cli(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]);
    let started = Instant::now();
    let refusal = loop {
        match store.check(&token).await {
            Ok(_) => {
                assert!(
                    started.elapsed() < PATIENCE,
                    "the policy change was not caught"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(err) => break err,
        }
    };
    assert!(!refusal.is_unavailable(), "{refusal}");
    assert!(refusal.to_string().contains("allkeys-lru"), "{refusal}");
    assert_eq!(
        store.data_loss_status().evicting_policy.as_deref(),
        Some("allkeys-lru")
    );
    allowing.check(&token).await.expect("allowed explicitly");

    server.cli(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    let deadline = Instant::now() + PATIENCE;
    while store.check(&token).await.is_err() {
        assert!(Instant::now() < deadline, "checks did not resume");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(store.data_loss_status().evicting_policy, None);
}

/// A store moved to another prefix (`with_key_prefix`) after its background task started: the
/// moved one is refused too when the server starts to evict, and keeps an eviction it knew of.
#[tokio::test]
async fn a_store_moved_to_another_prefix_still_refuses_an_evicting_server() {
    let server = RedisServer::start();
    let store = config(&server, &unique_prefix())
        .with_policy_check_interval(Duration::from_millis(100))
        .build()
        .await
        .expect("build");
    let token = keys("hope", "t-1", None);
    store.check(&token).await.expect("the original's task runs");
    let moved = store.clone().with_key_prefix(unique_prefix());
    moved.check(&token).await.expect("check");

    server.cli(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]);
    let started = Instant::now();
    while moved.check(&token).await.is_ok() {
        assert!(
            started.elapsed() < PATIENCE,
            "the moved store kept answering from an evicting server"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let moved_again = moved.clone().with_key_prefix(unique_prefix());
    let refusal = moved_again
        .check(&token)
        .await
        .expect_err("what the server may evict stays known");
    assert!(refusal.to_string().contains("allkeys-lru"), "{refusal}");
    server.cli(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
}

/// `acknowledge_after_replicas`: a write returns only once a Redis replica holds it, and fails
/// (never reports success) when the replica does not answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_wait_for_a_replica_and_fail_without_it() {
    let primary = RedisServer::start();
    let replica = RedisServer::start_replica_of(&primary);
    let prefix = unique_prefix();
    let wait = Duration::from_millis(300);
    let store = config(&primary, &prefix)
        .with_acknowledge_after_replicas(1, wait)
        .build()
        .await
        .expect("build");
    let token = keys("heidi", "t-1", None);
    store
        .insert_token(&token, from_now(Duration::from_secs(60)))
        .await
        .expect("acknowledged by the replica");
    // The replica holds it.
    let held = store.key_prefix().token_key(&token);
    assert_eq!(replica.cli(&["EXISTS", &held]).trim(), "1");

    replica.pause();
    let started = Instant::now();
    let failed = store
        .insert_token(
            &keys("heidi", "t-2", None),
            from_now(Duration::from_secs(60)),
        )
        .await
        .expect_err("no replica acknowledged it");
    let took = started.elapsed();
    replica.resume();
    assert!(failed.is_unavailable(), "{failed}");
    assert!(
        took < TIMEOUT + wait + Duration::from_secs(1),
        "took {took:?}"
    );
    // Checks do not queue behind WAIT: they kept their own connection.
    store.check(&token).await.expect("check");

    // Asking for more replicas than there are fails every write.
    let greedy = config(&primary, &prefix)
        .with_acknowledge_after_replicas(2, Duration::from_millis(100))
        .build()
        .await
        .expect("build");
    assert!(
        greedy
            .raise_cutoff(
                token.user,
                SystemClock.now(),
                from_now(Duration::from_secs(60))
            )
            .await
            .is_err()
    );
    // And with the replica back, writes are acknowledged again.
    let deadline = Instant::now() + PATIENCE;
    while store
        .insert_token(
            &keys("heidi", "t-3", None),
            from_now(Duration::from_secs(60)),
        )
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "writes were not acknowledged again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_marker_is_no_record_and_never_expires() {
    let server = RedisServer::start();
    let prefix = unique_prefix();
    let store = store(&server, &prefix).await;
    store
        .insert_token(
            &keys("ivan", "t-1", None),
            from_now(Duration::from_secs(60)),
        )
        .await
        .expect("insert");
    let marker = prefix.marker_key("0");
    assert_eq!(server.cli(&["TTL", &marker]).trim(), "-1");
    let value = server.cli(&["GET", &marker]);
    let fields: Vec<&str> = value.split_whitespace().collect();
    assert_eq!(fields.len(), 3, "{value}");
    assert_eq!(
        (fields[1], fields[2]),
        ("1", "ok"),
        "one write counted: {value}"
    );
}
