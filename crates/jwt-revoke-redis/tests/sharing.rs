//! What a changed copy of a store (`with_*` on a clone) shares with the original, and what it
//! must not forget: each test is an attack that once worked (a revoked token answered valid,
//! a refusal skipped), written by a review of the clones' sharing.

mod support;

use std::time::{Duration, Instant};

use jwt_revoke_core::RevocationStore;
use jwt_revoke_redis::test_support::{RedisCluster, RedisServer, unique_prefix};
use jwt_revoke_redis::{DataLossReaction, RedisStoreConfig};
use support::{from_now, keys};

const PATIENCE: Duration = Duration::from_secs(10);

/// A store moved to the prefix it already has (`connect` then `with_key_prefix` of the
/// configured prefix, which is the default one) forgets the marker it had read: after a
/// FLUSHALL it takes the absent marker for a first start and answers a revoked token valid.
#[tokio::test]
async fn a_store_moved_to_its_own_prefix_still_notices_a_flush() {
    let server = RedisServer::start();
    let prefix = unique_prefix();
    let store = RedisStoreConfig::from_url(server.url())
        .with_key_prefix(prefix.clone())
        .build()
        .await
        .expect("build");
    let token = keys("mallory", "t-1", None);
    store
        .insert_token(&token, from_now(Duration::from_secs(60)))
        .await
        .expect("revoked");
    assert!(store.check(&token).await.expect("check").token_listed);
    let same = store.clone().with_key_prefix(prefix.clone());

    server.cli(&["FLUSHALL"]);

    let reply = same.check(&token).await.expect("check");
    assert!(
        reply.token_listed || reply.store_cutoff.is_some(),
        "after a FLUSHALL the store moved to its own prefix answered the revoked token valid: \
         {reply:?}"
    );
}

/// The background task of a moved store takes its chores from whichever clone checks first:
/// a clone with a slow policy check starts it, and the store configured to re-check the policy
/// every 100 ms keeps answering from an evicting server.
#[tokio::test]
async fn a_clones_slow_policy_check_does_not_become_the_stores() {
    let server = RedisServer::start();
    let store = RedisStoreConfig::from_url(server.url())
        .with_key_prefix(unique_prefix())
        .with_policy_check_interval(Duration::from_millis(100))
        .build()
        .await
        .expect("build");
    let moved = store.clone().with_key_prefix(unique_prefix());
    let slow = moved
        .clone()
        .with_policy_check_interval(Some(Duration::from_secs(3600)));
    let token = keys("mallory", "t-1", None);
    slow.check(&token)
        .await
        .expect("the slow clone checks first");
    moved.check(&token).await.expect("check");

    server.cli(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]);
    let started = Instant::now();
    while moved.check(&token).await.is_ok() {
        if started.elapsed() > Duration::from_secs(3) {
            server.cli(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
            panic!(
                "a store re-checking the policy every 100 ms answered from an evicting server \
                 for {:?}: its background task runs a clone's hourly schedule",
                started.elapsed()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.cli(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
}

/// A cluster store moved to a prefix whose markers record a loss answers, for its first
/// seconds, without having read them: the loss's store-wide cut-off is missing (a token whose
/// revocation was lost is valid), and a fail-closed store answers instead of refusing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_store_moved_to_another_prefix_reads_its_markers_before_answering() {
    let cluster = RedisCluster::shared();
    let lost = unique_prefix();
    // Another instance on `lost`: revokes a token, then Redis loses it (its record and the
    // marker of its node, deleted here as a FLUSHALL of that node would), and the instance
    // records the loss in the markers.
    let other = RedisStoreConfig::from_cluster_nodes(cluster.node_urls())
        .with_key_prefix(lost.clone())
        .with_loss_check_interval(Duration::from_millis(100))
        .build()
        .await
        .expect("build");
    let token = keys("mallory", "t-1", None);
    other
        .insert_token(&token, from_now(Duration::from_secs(60)))
        .await
        .expect("revoked");
    let token_key = lost.token_key(&token);
    let owner = &cluster.nodes()[cluster.owner_of(&token_key)];
    owner.cli(&["DEL", &token_key]);
    let pattern = format!("{}m{{*", lost.as_str());
    for marker in owner.cli(&["--scan", "--pattern", &pattern]).lines() {
        owner.cli(&["DEL", marker.trim()]);
    }
    let started = Instant::now();
    while other.data_loss_status().cutoff.is_none() {
        assert!(started.elapsed() < PATIENCE, "the loss was not recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    for reaction in [DataLossReaction::StoreCutoff, DataLossReaction::FailClosed] {
        let store = RedisStoreConfig::from_cluster_nodes(cluster.node_urls())
            .with_key_prefix(unique_prefix())
            .with_data_loss_reaction(reaction)
            .build()
            .await
            .expect("build");
        let moved = store.clone().with_key_prefix(lost.clone());
        match (reaction, moved.check(&token).await) {
            (DataLossReaction::StoreCutoff, Ok(reply)) => assert!(
                reply.store_cutoff.is_some(),
                "the moved store answered without the recorded loss: the token whose \
                 revocation was lost is valid: {reply:?}"
            ),
            (DataLossReaction::FailClosed, Err(err)) => {
                assert!(
                    matches!(err, jwt_revoke_core::StoreError::DataLoss { .. }),
                    "{err}"
                );
            }
            (reaction, answer) => panic!(
                "{reaction:?}: the moved store answered {answer:?} over a recorded, uncleared loss"
            ),
        }
    }
}
