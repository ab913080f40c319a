//! Outages: redis-server is killed (SIGKILL) while calls flow, then started again on the same
//! port and data. Calls fail as "unavailable" within their timeout, no write reports success
//! while Redis is down, and the same store object recovers by itself with every revocation
//! written before the outage still in force.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use jwt_revoke_core::{Clock, RevocationStore, StoreError, SystemClock, Timestamp, TokenKeys};
use jwt_revoke_redis::test_support::{RedisCluster, RedisServer, unique_prefix};
use jwt_revoke_redis::{RedisStore, RedisStoreConfig, deadpool_redis};
use support::{from_now, keys};

const TIMEOUT: Duration = Duration::from_millis(500);
/// A generous bound on how long a failing call may take: it must not hang.
const NO_HANG: Duration = Duration::from_millis(1_500);
/// How long Redis may take to be usable again after it restarts (a cluster needs to clear
/// its failure flags).
const RECOVERY: Duration = Duration::from_secs(40);

/// Checks that run in the background during the whole outage and count their outcomes.
struct Traffic {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    unavailable: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<Vec<String>>,
}

impl Traffic {
    fn start(store: RedisStore, token: TokenKeys) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let unavailable = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn({
            let (stop, ok, unavailable) = (stop.clone(), ok.clone(), unavailable.clone());
            async move {
                let mut other_errors = Vec::new();
                // Bounded: stops when told, or after at most 20k checks.
                for _ in 0..20_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let started = Instant::now();
                    match store.check(&token).await {
                        Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                        Err(err) if err.is_unavailable() => {
                            unavailable.fetch_add(1, Ordering::Relaxed)
                        }
                        Err(err) => {
                            other_errors.push(err.to_string());
                            0
                        }
                    };
                    if started.elapsed() > NO_HANG {
                        other_errors.push(format!("a check took {:?}", started.elapsed()));
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                other_errors
            }
        });
        Traffic {
            stop,
            ok,
            unavailable,
            task,
        }
    }

    async fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        let other_errors = self.task.await.expect("the background checks never panic");
        assert!(other_errors.is_empty(), "{other_errors:?}");
        assert!(self.ok.load(Ordering::Relaxed) > 0, "no check succeeded");
        assert!(
            self.unavailable.load(Ordering::Relaxed) > 0,
            "no check saw the outage"
        );
    }
}

/// Runs `call` and asserts it fails as unavailable, quickly.
async fn assert_unavailable<T: std::fmt::Debug>(
    what: &str,
    call: impl std::future::Future<Output = Result<T, StoreError>>,
) {
    let started = Instant::now();
    let result = call.await;
    let took = started.elapsed();
    match result {
        Err(err) => assert!(err.is_unavailable(), "{what}: {err}"),
        Ok(value) => panic!("{what} reported success while Redis is down: {value:?}"),
    }
    assert!(took < NO_HANG, "{what} took {took:?}");
}

/// Polls until a check succeeds again.
async fn wait_recovered(store: &RedisStore, token: &TokenKeys) {
    let deadline = Instant::now() + RECOVERY;
    loop {
        match store.check(token).await {
            Ok(_) => return,
            Err(err) => {
                assert!(err.is_unavailable(), "while recovering: {err}");
                assert!(
                    Instant::now() < deadline,
                    "not recovered within {RECOVERY:?}: {err}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// The whole scenario against one store: write, crash, fail, restart, recover, verify.
async fn outage_scenario(store: RedisStore, crash: impl FnOnce(), restart: impl FnOnce()) {
    let until = from_now(Duration::from_secs(600));
    let revoked = keys("alice", "revoked-before", Some("s-1"));
    let cutoff = Timestamp::from_micros(1_700_000_000_250_000);
    store.insert_token(&revoked, until).await.expect("insert");
    store
        .raise_cutoff(revoked.user, cutoff, until)
        .await
        .expect("user cut-off");
    store
        .raise_cutoff(revoked.session.expect("sid"), cutoff, until)
        .await
        .expect("session cut-off");

    let traffic = Traffic::start(store.clone(), revoked);
    tokio::time::sleep(Duration::from_millis(100)).await;
    crash();

    let during = keys("alice", "revoked-during", None);
    for _ in 0..3 {
        assert_unavailable("check", store.check(&revoked)).await;
    }
    assert_unavailable("insert_token", store.insert_token(&during, until)).await;
    assert_unavailable(
        "raise_cutoff",
        store.raise_cutoff(during.user, SystemClock.now(), until),
    )
    .await;
    assert_unavailable("remove_token", store.remove_token(&revoked)).await;

    restart();
    wait_recovered(&store, &revoked).await;
    traffic.finish().await;

    let reply = store.check(&revoked).await.expect("check after recovery");
    assert!(
        reply.token_listed,
        "a revocation made before the outage was lost"
    );
    assert_eq!(reply.user_cutoff, Some(cutoff));
    assert_eq!(reply.session_cutoff, Some(cutoff));
    assert!(
        !store.check(&during).await.expect("check").token_listed,
        "a write that failed must not appear later"
    );
    store
        .insert_token(&during, until)
        .await
        .expect("writes work again");
    assert!(store.check(&during).await.expect("check").token_listed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_built_from_a_url_survives_a_server_crash() {
    let server = std::sync::Mutex::new(RedisServer::start_persistent());
    let url = server.lock().expect("lock").url();
    let store = RedisStoreConfig::from_url(url)
        .with_key_prefix(unique_prefix())
        .with_timeout(TIMEOUT)
        .build()
        .await
        .expect("connect");
    outage_scenario(
        store,
        || server.lock().expect("lock").crash(),
        || server.lock().expect("lock").restart(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_over_a_deadpool_pool_survives_a_server_crash() {
    let server = std::sync::Mutex::new(RedisServer::start_persistent());
    let url = server.lock().expect("lock").url();
    let pool = deadpool_redis::Config::from_url(url)
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .expect("pool");
    let store = RedisStore::from_pool(pool)
        .with_key_prefix(unique_prefix())
        .with_timeout(TIMEOUT);
    outage_scenario(
        store,
        || server.lock().expect("lock").crash(),
        || server.lock().expect("lock").restart(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_store_survives_a_node_crash() {
    // Its own cluster: crashing a node of the shared one would disturb other tests.
    let cluster = RedisCluster::start();
    let store = RedisStoreConfig::from_cluster_nodes(cluster.node_urls())
        .with_key_prefix(unique_prefix())
        .with_timeout(TIMEOUT)
        .build()
        .await
        .expect("connect");
    // Crash the node that holds alice's token and cut-off.
    let owner = cluster.owner_of(&store.key_prefix().token_key(&keys(
        "alice",
        "revoked-before",
        None,
    )));
    let cluster = std::sync::Mutex::new(cluster);
    outage_scenario(
        store,
        || {
            cluster.lock().expect("lock").node_mut(owner).crash();
        },
        || {
            cluster.lock().expect("lock").node_mut(owner).restart();
        },
    )
    .await;
}
