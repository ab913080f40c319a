//! The local replica: checks answered from process memory, kept current through Redis pub/sub,
//! with a proven bound on staleness, and Redis read directly whenever that proof is missing.
//!
//! Every test runs its own redis-server (started here on a free port) or its own prefix, so
//! that the channel and keys are its alone.

mod support;

use std::time::{Duration, Instant};

use jwt_revoke_core::{Clock, RevocationStore, SystemClock, TokenKeys, UserId};
use jwt_revoke_redis::test_support::{RedisServer, unique_prefix};
use jwt_revoke_redis::{BuildError, KeyPrefix, RedisStore, RedisStoreConfig, ReplicaConfig};
use support::{ISSUER, from_now, keys};

/// Long enough that a heartbeat is never late by that much, even on a loaded CI machine: the
/// tests that count local answers must not see the replica lapse.
const STALENESS: Duration = Duration::from_millis(1_000);
const HEARTBEAT: Duration = Duration::from_millis(50);
const TIMEOUT: Duration = Duration::from_millis(500);
/// Far more than anything here should take: a test that waits this long has failed.
const PATIENCE: Duration = Duration::from_secs(10);

fn replica_config() -> ReplicaConfig {
    ReplicaConfig::default()
        .with_max_staleness(STALENESS)
        .with_heartbeat(HEARTBEAT)
}

async fn replicated(server: &RedisServer, prefix: &KeyPrefix) -> RedisStore {
    replicated_with(server, prefix, replica_config()).await
}

async fn replicated_with(
    server: &RedisServer,
    prefix: &KeyPrefix,
    replica: ReplicaConfig,
) -> RedisStore {
    RedisStoreConfig::from_url(server.url())
        .with_key_prefix(prefix.clone())
        .with_timeout(TIMEOUT)
        .with_local_replica(replica)
        .build()
        .await
        .expect("the test server accepts connections")
}

async fn plain(server: &RedisServer, prefix: &KeyPrefix) -> RedisStore {
    RedisStoreConfig::from_url(server.url())
        .with_key_prefix(prefix.clone())
        .with_timeout(TIMEOUT)
        .build()
        .await
        .expect("the test server accepts connections")
}

fn local_checks(store: &RedisStore) -> u64 {
    store.replica_status().expect("a replica").local_checks
}

fn is_fresh(store: &RedisStore) -> bool {
    store.replica_status().expect("a replica").fresh
}

/// Polls `condition` every 10 ms until it holds; false after [`PATIENCE`].
async fn eventually(mut condition: impl AsyncFnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < PATIENCE {
        if condition().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

async fn token_listed(store: &RedisStore, token: &TokenKeys) -> bool {
    store.check(token).await.expect("check").token_listed
}

#[tokio::test]
async fn the_first_copy_holds_what_redis_held_before() {
    let server = RedisServer::shared();
    let prefix = unique_prefix();
    let writer = plain(server, &prefix).await;
    let token = keys("alice", "t-1", Some("s-1"));
    let until = from_now(Duration::from_secs(60));
    writer.insert_token(&token, until).await.expect("insert");
    let user_cutoff = writer
        .raise_cutoff(token.user, SystemClock.now(), until)
        .await
        .expect("user cut-off");
    let session_cutoff = writer
        .raise_cutoff(token.session.expect("a session"), SystemClock.now(), until)
        .await
        .expect("session cut-off");

    let store = replicated(server, &prefix).await;
    let status = store.replica_status().expect("a replica");
    assert!(status.fresh, "build waits for the first copy: {status:?}");
    assert_eq!(status.resyncs, 1);
    assert_eq!(status.records, 3);
    let reply = store.check(&token).await.expect("check");
    assert!(reply.token_listed);
    assert_eq!(reply.user_cutoff, Some(user_cutoff));
    assert_eq!(reply.session_cutoff, Some(session_cutoff));
    let status = store.replica_status().expect("a replica");
    assert_eq!((status.local_checks, status.direct_checks), (1, 0));
}

#[tokio::test]
async fn revocations_made_elsewhere_are_seen_within_the_bound() {
    let server = RedisServer::shared();
    let prefix = unique_prefix();
    let store = replicated(server, &prefix).await;
    let elsewhere = plain(server, &prefix).await;
    let token = keys("bob", "t-2", Some("s-2"));
    assert!(!token_listed(&store, &token).await);

    let until = from_now(Duration::from_secs(60));
    elsewhere.insert_token(&token, until).await.expect("insert");
    let cutoff = elsewhere
        .raise_cutoff(token.user, SystemClock.now(), until)
        .await
        .expect("cut-off");
    // The promise: a write confirmed `max_staleness` ago is seen by a local answer.
    tokio::time::sleep(STALENESS).await;
    let before = local_checks(&store);
    let reply = store.check(&token).await.expect("check");
    assert!(
        local_checks(&store) > before,
        "answered by the replica, which is fresh while Redis answers"
    );
    assert!(reply.token_listed, "the token revoked elsewhere");
    assert_eq!(reply.user_cutoff, Some(cutoff));
}

#[tokio::test]
async fn its_own_writes_are_seen_by_its_next_check() {
    let server = RedisServer::shared();
    let prefix = unique_prefix();
    let store = replicated(server, &prefix).await;
    let token = keys("carol", "t-3", Some("s-3"));
    let until = from_now(Duration::from_secs(60));
    store.insert_token(&token, until).await.expect("insert");
    assert!(
        token_listed(&store, &token).await,
        "no wait for the message"
    );
    let session = token.session.expect("a session");
    let at = store
        .raise_cutoff(session, SystemClock.now(), until)
        .await
        .expect("cut-off");
    assert_eq!(
        store.check(&token).await.expect("check").session_cutoff,
        Some(at)
    );
    assert_eq!(store.replica_status().expect("a replica").direct_checks, 0);
}

#[tokio::test]
async fn a_deleted_registration_is_gone_at_once_here_and_within_the_bound_elsewhere() {
    let server = RedisServer::shared();
    let prefix = unique_prefix();
    let store = replicated(server, &prefix).await;
    let other = replicated(server, &prefix).await;
    let token = keys("dave", "t-4", None);
    store
        .insert_token(&token, from_now(Duration::from_secs(60)))
        .await
        .expect("register");
    assert!(token_listed(&store, &token).await);
    assert!(eventually(async || token_listed(&other, &token).await).await);

    assert!(store.remove_token(&token).await.expect("remove"));
    // Until a heartbeat sent after the deletion has come back, the replica may still hold the
    // record (or get it back from an older message): the deleting store asks Redis.
    let direct = store.replica_status().expect("a replica").direct_checks;
    assert!(
        !token_listed(&store, &token).await,
        "the deleting store sees its own deletion"
    );
    assert_eq!(
        store.replica_status().expect("a replica").direct_checks,
        direct + 1,
        "the check right after the deletion went to Redis"
    );
    tokio::time::sleep(STALENESS).await;
    assert!(
        !token_listed(&other, &token).await,
        "the other, within the bound"
    );
    assert!(
        eventually(async || is_fresh(&store)).await,
        "fresh again once a later heartbeat came back"
    );
    assert!(!token_listed(&store, &token).await);
}

#[tokio::test]
async fn in_allowlist_mode_a_token_the_replica_lacks_is_looked_up_in_redis() {
    let server = RedisServer::start();
    let prefix = unique_prefix();
    let store = replicated_with(
        &server,
        &prefix,
        replica_config().with_confirm_missing_tokens(true),
    )
    .await;
    let registered = keys("ivan", "t-1", None);
    store
        .insert_token(&registered, from_now(Duration::from_secs(60)))
        .await
        .expect("register");
    // A registration made a moment ago on another instance, which no message has brought
    // here: written behind the stores' backs, it is never announced.
    let elsewhere = keys("ivan", "t-2", None);
    server.cli(&["SET", &prefix.token_key(&elsewhere), "1", "PX", "60000"]);

    let before = store.replica_status().expect("a replica");
    assert!(
        token_listed(&store, &registered).await,
        "held: answered locally"
    );
    assert!(
        token_listed(&store, &elsewhere).await,
        "not held: Redis has it"
    );
    let after = store.replica_status().expect("a replica");
    assert_eq!(after.local_checks - before.local_checks, 1);
    assert_eq!(after.direct_checks - before.direct_checks, 1);
}

#[tokio::test]
async fn a_paused_redis_is_answered_locally_within_the_bound_and_directly_after_it() {
    let server = RedisServer::start();
    let prefix = unique_prefix();
    let store = replicated(&server, &prefix).await;
    let token = keys("erin", "t-5", None);
    store
        .insert_token(&token, from_now(Duration::from_secs(60)))
        .await
        .expect("insert");

    // Redis stops answering anyone for 4 s; the connection stays up.
    server.cli(&["CLIENT", "PAUSE", "4000", "ALL"]);
    assert!(
        token_listed(&store, &token).await,
        "within the bound: answered locally (Redis could not have answered)"
    );
    tokio::time::sleep(STALENESS + Duration::from_millis(100)).await;
    let err = store
        .check(&token)
        .await
        .expect_err("past the bound without a heartbeat, the check goes to Redis, which is paused");
    assert!(err.is_unavailable(), "{err}");
    assert!(!is_fresh(&store));

    assert!(
        eventually(async || is_fresh(&store)).await,
        "a new copy once Redis answers again"
    );
    assert!(token_listed(&store, &token).await);
}

#[tokio::test]
async fn what_was_missed_while_disconnected_is_in_the_next_copy() {
    let server = RedisServer::start();
    let prefix = unique_prefix();
    let store = replicated(&server, &prefix).await;
    let user = UserId::new(ISSUER, "frank").key();
    let token = keys("frank", "t-6", None);
    assert_eq!(token.user, user);

    // A cut-off written behind the stores' backs is announced to nobody.
    let at = SystemClock.now();
    server.cli(&[
        "SET",
        &prefix.cutoff_key(&user),
        &at.as_micros().to_string(),
        "PX",
        "60000",
    ]);
    tokio::time::sleep(STALENESS).await;
    assert_eq!(
        store.check(&token).await.expect("check").user_cutoff,
        None,
        "the replica could not know"
    );

    // The subscription drops; whatever was missed, the new copy holds.
    server.cli(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    assert!(
        eventually(async || {
            let status = store.replica_status().expect("a replica");
            status.resyncs >= 2 && status.fresh
        })
        .await,
        "copied again after the disconnect: {:?}",
        store.replica_status()
    );
    assert_eq!(
        store.check(&token).await.expect("check").user_cutoff,
        Some(at)
    );
}

#[tokio::test]
async fn a_replica_too_small_for_the_store_is_not_used() {
    let server = RedisServer::shared();
    let prefix = unique_prefix();
    let writer = plain(server, &prefix).await;
    let until = from_now(Duration::from_secs(60));
    for n in 0..5 {
        writer
            .insert_token(&keys("gina", &format!("t-{n}"), None), until)
            .await
            .expect("insert");
    }
    let store = RedisStoreConfig::from_url(server.url())
        .with_key_prefix(prefix.clone())
        .with_connect_timeout(Duration::from_millis(500))
        .with_local_replica(replica_config().with_capacity(2))
        .build()
        .await
        .expect("builds, and reads Redis");
    assert!(!is_fresh(&store));
    for n in 0..5 {
        assert!(token_listed(&store, &keys("gina", &format!("t-{n}"), None)).await);
    }
    let status = store.replica_status().expect("a replica");
    assert_eq!((status.local_checks, status.direct_checks), (0, 5));
}

#[tokio::test]
async fn a_replica_that_fills_up_stops_answering_and_every_revocation_still_holds() {
    let server = RedisServer::shared();
    let prefix = unique_prefix();
    let store = replicated_with(server, &prefix, replica_config().with_capacity(3)).await;
    assert!(is_fresh(&store), "empty: it fits");
    let until = from_now(Duration::from_secs(60));
    let tokens: Vec<TokenKeys> = (0..5)
        .map(|n| keys("hana", &format!("t-{n}"), None))
        .collect();
    for token in &tokens {
        store
            .insert_token(token, until)
            .await
            .expect("Redis takes them all");
    }
    assert!(!is_fresh(&store), "the fourth did not fit");
    tokio::time::sleep(STALENESS * 2).await;
    assert!(
        !is_fresh(&store),
        "and it stays unused: no copy fits either"
    );
    for token in &tokens {
        assert!(token_listed(&store, token).await, "read from Redis");
    }
}

/// The other half of the above: once the revocations that did not fit have expired, the
/// replica makes a copy that fits and answers locally again, by itself (no reconnect, no
/// restart), and a revocation made after that is answered from it too.
#[tokio::test]
async fn a_replica_that_filled_up_is_rebuilt_once_the_revocations_fit_again() {
    let server = RedisServer::shared();
    let prefix = unique_prefix();
    let store = replicated_with(server, &prefix, replica_config().with_capacity(3)).await;
    let soon = from_now(Duration::from_millis(300));
    for n in 0..5 {
        store
            .insert_token(&keys("iris", &format!("short-{n}"), None), soon)
            .await
            .expect("Redis takes them all");
    }
    assert!(!is_fresh(&store), "the fourth did not fit");
    assert!(
        eventually(async || is_fresh(&store)).await,
        "a copy made after the five expired fits: the replica is used again"
    );
    let later = keys("iris", "later", None);
    store
        .insert_token(&later, from_now(Duration::from_secs(60)))
        .await
        .expect("insert");
    let before = local_checks(&store);
    assert!(token_listed(&store, &later).await);
    assert_eq!(
        local_checks(&store),
        before + 1,
        "answered by the rebuilt replica"
    );
}

/// A replicated store moved to another prefix: its replica holds the old prefix's records and
/// hears only the old prefix's changes, so it must not answer for the new one. Another
/// instance revokes a token under the new prefix; the moved store says so.
#[tokio::test]
async fn a_store_moved_to_another_prefix_does_not_answer_from_the_old_prefixs_replica() {
    let server = RedisServer::shared();
    let (old, new) = (unique_prefix(), unique_prefix());
    let store = replicated(server, &old).await;
    assert!(is_fresh(&store));
    let moved = store.clone().with_key_prefix(new.clone());
    let token = keys("jade", "t-1", None);
    plain(server, &new)
        .await
        .insert_token(&token, from_now(Duration::from_secs(60)))
        .await
        .expect("another instance revokes it under the new prefix");
    assert!(
        token_listed(&moved, &token).await,
        "the moved store answered from the old prefix's replica: a revoked token was valid"
    );
    assert!(
        !token_listed(&store, &token).await,
        "the old prefix has no such record"
    );
}

#[tokio::test]
async fn dropping_the_store_ends_its_subscription() {
    let server = RedisServer::start();
    let subscribers = || {
        server
            .cli(&["CLIENT", "LIST", "TYPE", "pubsub"])
            .lines()
            .filter(|line| line.contains("sub="))
            .count()
    };
    let store = replicated(&server, &unique_prefix()).await;
    let clone = store.clone();
    assert_eq!(subscribers(), 1);
    drop(store);
    assert_eq!(subscribers(), 1, "a clone still uses it");
    drop(clone);
    assert!(eventually(async || subscribers() == 0).await);
}

#[tokio::test]
async fn settings_that_cannot_work_are_refused() {
    let cluster = RedisStoreConfig::from_cluster_nodes(["redis://127.0.0.1:1"])
        .with_local_replica(ReplicaConfig::default());
    assert!(matches!(
        cluster.build().await,
        Err(BuildError::InvalidConfig(why)) if why.contains("one server")
    ));
    let slow_heartbeat = RedisStoreConfig::from_url("redis://127.0.0.1:1").with_local_replica(
        ReplicaConfig::default()
            .with_max_staleness(Duration::from_millis(100))
            .with_heartbeat(Duration::from_millis(100)),
    );
    assert!(matches!(
        slow_heartbeat.build().await,
        Err(BuildError::InvalidConfig(why)) if why.contains("shorter")
    ));
    let empty = RedisStoreConfig::from_url("redis://127.0.0.1:1")
        .with_local_replica(ReplicaConfig::default().with_capacity(0));
    assert!(matches!(
        empty.build().await,
        Err(BuildError::InvalidConfig(_))
    ));
}

/// Redis flushed under a subscribed replica: no change message says so, and the replica's copy
/// still holds what Redis lost. No answer may say "valid" for the revoked token meanwhile, and
/// the answers carry the store-wide cut-off once a heartbeat has read the marker.
#[tokio::test]
async fn a_flush_under_a_replica_is_noticed_through_the_marker() {
    let server = RedisServer::start();
    let prefix = unique_prefix();
    let store = replicated(&server, &prefix).await;
    let token = keys("olga", "t-1", None);
    store
        .insert_token(&token, from_now(Duration::from_secs(60)))
        .await
        .expect("insert");
    assert!(token_listed(&store, &token).await);

    server.cli(&["FLUSHALL"]);
    let flushed = Instant::now();
    loop {
        let reply = store.check(&token).await.expect("check");
        assert!(
            reply.token_listed || reply.store_cutoff.is_some(),
            "a check answered as if the flushed revocation had never been: {reply:?}"
        );
        if reply.store_cutoff.is_some() {
            break;
        }
        assert!(flushed.elapsed() < PATIENCE, "the flush was not noticed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!(
        "FLUSHALL under a replica noticed after {:?}",
        flushed.elapsed()
    );
    // Within a few heartbeats, well inside the staleness bound.
    assert!(
        flushed.elapsed() < STALENESS * 2,
        "noticed after {:?}",
        flushed.elapsed()
    );
    assert_eq!(store.data_loss_status().losses_noticed, 1);
    // The copy is made anew, and answers carry the cut-off from there too.
    assert!(
        eventually(async || {
            let status = store.replica_status().expect("a replica");
            status.fresh && status.resyncs >= 2
        })
        .await
    );
    let before = local_checks(&store);
    let reply = store.check(&token).await.expect("check");
    assert!(reply.store_cutoff.is_some(), "{reply:?}");
    assert_eq!(local_checks(&store), before + 1, "answered by the replica");
}

/// A restart without persistence under a replica: the subscription breaks, the replica's
/// next copy finds the marker gone, and no answer on the way says "valid" for the token.
#[tokio::test]
async fn a_restart_without_persistence_under_a_replica_is_noticed() {
    let mut server = RedisServer::start();
    let prefix = unique_prefix();
    let store = replicated(&server, &prefix).await;
    let token = keys("pavel", "t-1", None);
    store
        .insert_token(&token, from_now(Duration::from_secs(60)))
        .await
        .expect("insert");

    server.restart_empty();
    let restarted = Instant::now();
    loop {
        match store.check(&token).await {
            Ok(reply) => {
                assert!(
                    reply.token_listed || reply.store_cutoff.is_some(),
                    "a check answered as if the lost revocation had never been: {reply:?}"
                );
                if reply.store_cutoff.is_some() {
                    break;
                }
            }
            Err(err) => assert!(err.is_unavailable(), "{err}"),
        }
        assert!(restarted.elapsed() < PATIENCE, "the loss was not noticed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        eventually(async || {
            let status = store.replica_status().expect("a replica");
            status.fresh && status.resyncs >= 2
        })
        .await
    );
    assert!(
        store
            .check(&token)
            .await
            .expect("check")
            .store_cutoff
            .is_some()
    );
}

/// A store built from a pool (or a connection manager) gets a replica too, and it is as
/// current as one a config builds: a revocation made elsewhere, and a claim value's cut-off,
/// are answered locally within the bound.
#[tokio::test]
async fn a_store_built_from_a_pool_or_a_connection_manager_gets_a_replica() {
    use jwt_revoke_core::{ClaimId, ClaimKeys};
    use jwt_revoke_redis::{deadpool_redis, redis};
    let server = RedisServer::shared();
    let prefix = unique_prefix();
    let pool = deadpool_redis::Config::from_url(server.url())
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .expect("a pool");
    let client = || redis::Client::open(server.url()).expect("a client");
    let manager = redis::aio::ConnectionManager::new(client())
        .await
        .expect("a connection manager");
    let stores = [
        RedisStore::from_pool(pool),
        RedisStore::from_connection_manager(manager),
    ]
    .map(|store| {
        store
            .with_key_prefix(prefix.clone())
            .with_timeout(TIMEOUT)
            .with_local_replica(client(), replica_config())
            .expect("one server, in a runtime")
    });
    let elsewhere = plain(server, &prefix).await;
    let device = ClaimId::new(ISSUER, "device", "d-1").key();
    let token = keys("dana", "t-1", None).with_claims(ClaimKeys::new(&[device]).expect("one"));
    let until = from_now(Duration::from_secs(60));
    for store in &stores {
        assert!(store.wait_for_local_replica(PATIENCE).await, "{store:?}");
        assert!(!token_listed(store, &token).await);
    }
    elsewhere.insert_token(&token, until).await.expect("insert");
    let at = elsewhere
        .raise_cutoff(device, SystemClock.now(), until)
        .await
        .expect("cut-off");
    tokio::time::sleep(STALENESS).await;
    for store in &stores {
        let before = local_checks(store);
        let reply = store.check(&token).await.expect("check");
        assert!(local_checks(store) > before, "answered locally: {store:?}");
        assert!(reply.token_listed, "the token revoked elsewhere: {store:?}");
        assert_eq!(
            reply.claim_cutoff,
            Some(at),
            "the device's cut-off: {store:?}"
        );
    }
}

#[test]
fn a_replica_outside_a_runtime_is_refused_not_a_panic() {
    use jwt_revoke_redis::redis;
    let server = RedisServer::shared();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let store = runtime.block_on(plain(server, &unique_prefix()));
    let client = redis::Client::open(server.url()).expect("a client");
    // No runtime here: a task cannot be started, and that is an error, not a panic.
    assert!(matches!(
        store.with_local_replica(client, replica_config()),
        Err(BuildError::InvalidConfig(why)) if why.contains("Tokio runtime")
    ));
}
