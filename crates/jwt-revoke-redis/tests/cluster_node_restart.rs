//! A cluster master restarted without its data (SIGKILL, data files gone, `nodes.conf` kept, so
//! that it comes back as the same member with the same slots). The README states that a loss on
//! a cluster is noticed within `loss_check_interval` plus 2 × `timeout`, as `tests/cluster.rs`
//! shows for a `FLUSHALL`. After a restart the store first has to reach the node again: its
//! checks fail (503 in the layer) for about 2 s, the time redis-rs's cluster connection takes to
//! reconnect here, and the bound holds from its first answer on. Until the loss is noticed,
//! checks answer without the lost records: the stated window, seen by the fault soak
//! (examples/tests/soak) as revoked tokens accepted for a moment after such a restart.

mod support;

use std::time::{Duration, Instant};

use jwt_revoke_core::RevocationStore;
use jwt_revoke_redis::RedisStoreConfig;
use jwt_revoke_redis::test_support::{RedisCluster, unique_prefix};
use support::{from_now, keys};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restarted_empty_is_noticed_within_the_stated_bound() {
    let mut cluster = RedisCluster::start();
    let timeout = Duration::from_millis(500);
    let interval = Duration::from_secs(1);
    let store = RedisStoreConfig::from_cluster_nodes(cluster.node_urls())
        .with_key_prefix(unique_prefix())
        .with_timeout(timeout)
        .with_loss_check_interval(interval)
        .build()
        .await
        .expect("the test cluster accepts connections");
    let token = keys("alice", "t-1", Some("s-1"));
    store
        .insert_token(&token, from_now(Duration::from_secs(60)))
        .await
        .expect("insert");
    assert!(store.check(&token).await.expect("check").token_listed);
    let owner = cluster.owner_of(&store.key_prefix().token_key(&token));

    let node = cluster.node_mut(owner);
    node.crash();
    for entry in std::fs::read_dir(node.dir())
        .expect("its directory")
        .flatten()
    {
        let path = entry.path();
        let keep = path
            .file_name()
            .is_some_and(|name| name == "redis.log" || name == "nodes.conf");
        if !keep {
            let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
        }
    }
    node.restart();
    // The node answers again, without the record: from now on the loss is there to notice.
    let back = Instant::now();
    let bound = interval + timeout * 2;
    let mut first_answer = None;
    let mut answered_without_the_record = 0;
    loop {
        match store.check(&token).await {
            Ok(reply) if reply.store_cutoff.is_some() => break,
            Ok(reply) => {
                first_answer.get_or_insert(back.elapsed());
                if !reply.token_listed {
                    answered_without_the_record += 1;
                }
            }
            Err(_) => {}
        }
        assert!(
            back.elapsed() < Duration::from_secs(20),
            "the loss was not noticed within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = back.elapsed();
    let reached = first_answer.unwrap_or(took);
    eprintln!(
        "a node restarted empty: first answer after {reached:?}, loss noticed after {took:?} \
         (bound {bound:?} from the first answer); {answered_without_the_record} checks answered \
         without the revoked record"
    );
    // The same margin as the FLUSHALL test, for a loaded machine.
    assert!(
        took - reached <= bound + Duration::from_millis(750),
        "a node restarted empty was noticed {:?} after the store reached it again, past the \
         stated bound {bound:?}; meanwhile {answered_without_the_record} checks answered \
         without the revoked record (the revoked token accepted)",
        took - reached
    );
    // The record is gone, but the loss's cut-off covers the token: refused as before.
    let reply = store.check(&token).await.expect("check");
    assert!(!reply.token_listed && reply.store_cutoff.is_some());
}
