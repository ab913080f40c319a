//! Every check is answered within the store's timeout, whatever its batch does: a batch formed
//! late, a batch shared with a clone of a longer timeout, a batcher whose runtime is gone, a
//! check that must also settle the data-loss marker, and a timeout too long to add to the
//! clock. Each of these once waited past its timeout (or panicked) when a batched check had no
//! timer of its own; written from the reviewer's probes of that change.
//!
//! Callers outside the tower layer (which has its own backstop) call `RevocationStore::check`
//! directly: the store's bound is theirs.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use jwt_revoke_core::RevocationStore;
use jwt_revoke_redis::test_support::{RedisServer, unique_prefix};
use jwt_revoke_redis::{RedisStore, RedisStoreConfig};
use support::keys;

async fn store_on(server: &RedisServer, timeout: Duration) -> RedisStore {
    RedisStoreConfig::from_url(server.url())
        .with_key_prefix(unique_prefix())
        .with_timeout(timeout)
        .build()
        .await
        .expect("builds")
}

/// Two handles of one store (a clone with another timeout) share the batcher: the short one's
/// check is bounded by its own timeout, not by the longest of its batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_timeout_clone_is_bounded_by_its_own_timeout() {
    let server = RedisServer::start();
    let long = store_on(&server, Duration::from_secs(3)).await;
    long.check(&keys("u", "warm", None)).await.expect("warm");
    let short = long.clone().with_timeout(Duration::from_millis(120));
    server.pause();
    let started = Instant::now();
    let k1 = keys("u", "a", None);
    let k2 = keys("u", "b", None);
    let (_, (short_took, short_result)) = tokio::join!(long.check(&k1), async {
        let r = short.check(&k2).await;
        (started.elapsed(), r)
    });
    server.resume();
    eprintln!("short check: {short_took:?} {short_result:?}");
    assert!(short_result.is_err());
    assert!(
        short_took < Duration::from_millis(200 + 500),
        "the 200 ms check took {short_took:?}"
    );
}

/// A batch formed late (another task held the runtime for 250 ms after the first check queued):
/// the first check is still answered at its own deadline, not its batch's latest.
#[test]
fn the_first_check_of_a_late_batch_is_bounded_by_its_own_timeout() {
    let server = RedisServer::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = Arc::new(store_on(&server, Duration::from_millis(300)).await);
        store.check(&keys("u", "warm", None)).await.expect("warm");
        server.pause();
        let t0 = Instant::now();
        let a = {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let r = store.check(&keys("u", "a", None)).await;
                (t0.elapsed(), r)
            })
        };
        let b = {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                // A request's CPU work (or any blocking) between the batcher's wake-up and
                // its turn.
                std::thread::sleep(Duration::from_millis(250));
                let r = store.check(&keys("u", "b", None)).await;
                (t0.elapsed(), r)
            })
        };
        let (a_took, a_result) = a.await.unwrap();
        let (b_took, _) = b.await.unwrap();
        server.resume();
        eprintln!("first check: {a_took:?} {a_result:?}; second {b_took:?}");
        assert!(a_result.is_err());
        assert!(
            a_took < Duration::from_millis(300 + 150),
            "a 300 ms check took {a_took:?}"
        );
    });
}

/// A store used from a second runtime while its batcher task lives on a first runtime that is
/// not being driven (or is then dropped): the check must still end within its timeout.
#[test]
fn a_check_queued_for_a_batcher_on_another_runtime_is_bounded() {
    let server = RedisServer::start();
    let rt_a = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let store = rt_a.block_on(async {
        let store = store_on(&server, Duration::from_millis(200)).await;
        // The batcher's task starts here, on rt_a.
        store.check(&keys("u", "warm", None)).await.expect("warm");
        store
    });
    let store = Arc::new(store);
    let rt_b = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let check = {
        let store = Arc::clone(&store);
        rt_b.spawn(async move {
            let t0 = Instant::now();
            let r =
                tokio::time::timeout(Duration::from_secs(3), store.check(&keys("u", "x", None)))
                    .await;
            (t0.elapsed(), r)
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    // rt_a goes away while the check waits in the queue.
    drop(rt_a);
    let (took, outcome) = rt_b.block_on(check).unwrap();
    eprintln!("check from rt_b: {took:?} {outcome:?}");
    assert!(
        outcome.is_ok(),
        "the check hung for {took:?} (outer 3 s timeout fired)"
    );
}

/// Any configured timeout, up to `Duration::MAX`: clamped as `tokio::time::timeout` clamps it,
/// never a panic.
#[tokio::test]
async fn a_huge_timeout_does_not_panic() {
    let server = RedisServer::shared();
    let store = store_on(server, Duration::from_secs(1))
        .await
        .with_timeout(Duration::MAX);
    let outcome = tokio::spawn(async move { store.check(&keys("u", "x", None)).await }).await;
    assert!(outcome.is_ok(), "the check panicked: {outcome:?}");
}

/// The same from a settings file: "1e19s" parses and builds.
#[tokio::test]
async fn a_huge_timeout_from_settings_does_not_panic() {
    let server = RedisServer::shared();
    let json = format!(r#"{{"url":"{}","timeout":"1e19s"}}"#, server.url());
    let config: RedisStoreConfig = serde_json::from_str(&json).expect("parses");
    let store = config.build().await.expect("builds");
    let outcome = tokio::spawn(async move { store.check(&keys("u", "x", None)).await }).await;
    assert!(outcome.is_ok(), "the check panicked: {outcome:?}");
}

/// A TCP proxy (threads) that delays every chunk from the server by `delay` (not cumulatively).
fn delaying_proxy(server: u16, delay: Duration) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let client = client.unwrap();
            let upstream = std::net::TcpStream::connect(("127.0.0.1", server)).unwrap();
            let (mut cr, mut uw) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut cr, &mut uw);
            });
            let (tx, rx) = std::sync::mpsc::channel::<(Instant, Vec<u8>)>();
            let mut ur = upstream;
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                loop {
                    let n = match ur.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let _ = tx.send((Instant::now() + delay, buf[..n].to_vec()));
                }
            });
            let mut cw = client;
            std::thread::spawn(move || {
                while let Ok((at, bytes)) = rx.recv() {
                    std::thread::sleep(at.saturating_duration_since(Instant::now()));
                    if cw.write_all(&bytes).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// A check whose marker must be settled (here: created, the first check of a store built over
/// a connection manager) costs two round trips: both must fit in the one timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_that_settles_the_marker_is_bounded_by_one_timeout() {
    let server = RedisServer::start();
    let timeout = Duration::from_millis(500);
    let port = delaying_proxy(server.port(), Duration::from_millis(350));
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let manager = client.get_connection_manager().await.unwrap();
    let store = RedisStore::from_connection_manager(manager)
        .with_key_prefix(unique_prefix())
        .with_policy_check_interval(None)
        .with_timeout(timeout);
    let started = Instant::now();
    let outcome = store.check(&keys("u", "x", None)).await;
    let took = started.elapsed();
    eprintln!("settling check: {took:?} {outcome:?}");
    assert!(
        took < timeout + Duration::from_millis(100),
        "a {timeout:?} check took {took:?}, answered {outcome:?}"
    );
}

/// Every duration of a store's settings at its longest: the store's arithmetic on them (the
/// markers' staleness, the guard's next rounds, the replica's lease and silence limit, the wait
/// for a replica) saturates instead of panicking, and the store works.
#[tokio::test]
async fn a_store_with_every_duration_at_its_longest_works() {
    let server = RedisServer::shared();
    let json = format!(
        r#"{{"url":"{}","key_prefix":"{}","timeout":"1e19s","policy_check_interval":"1e19s",
            "loss_check_interval":"1e19s",
            "local_replica":{{"max_staleness":"1e19s","heartbeat":"1e18s"}}}}"#,
        server.url(),
        unique_prefix()
    );
    let config: RedisStoreConfig = serde_json::from_str(&json).expect("parses");
    let store = config.build().await.expect("builds");
    let revoked = keys("u", "revoked", None);
    let outcome = tokio::spawn(async move {
        assert!(store.wait_for_local_replica(Duration::MAX).await);
        store
            .insert_token(&revoked, support::from_now(Duration::from_secs(60)))
            .await
            .expect("insert");
        store.check(&revoked).await.expect("check").token_listed
    })
    .await;
    assert!(
        matches!(outcome, Ok(true)),
        "the store panicked or lost the revocation: {outcome:?}"
    );
}

/// A write whose marker must be settled (created: the first call of a store over a connection
/// manager is a write) costs more round trips than a write: all fit in the one write limit.
/// (Each script's first call is three round trips here, `EVALSHA` answered `NOSCRIPT`, then
/// `SCRIPT LOAD` and `EVALSHA` again: about 360 ms for the write, as much again for the
/// marker's creation.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_settles_the_marker_is_bounded_by_one_timeout() {
    let server = RedisServer::start();
    let timeout = Duration::from_millis(500);
    let port = delaying_proxy(server.port(), Duration::from_millis(120));
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).expect("url");
    let manager = client.get_connection_manager().await.expect("connects");
    let store = RedisStore::from_connection_manager(manager)
        .with_key_prefix(unique_prefix())
        .with_policy_check_interval(None)
        .with_timeout(timeout);
    let started = Instant::now();
    let outcome = store
        .insert_token(
            &keys("u", "w", None),
            support::from_now(Duration::from_secs(60)),
        )
        .await;
    let took = started.elapsed();
    assert!(
        took < timeout + Duration::from_millis(100),
        "a {timeout:?} write took {took:?}, answered {outcome:?}"
    );
}

/// The wait for replicas at its longest: Redis takes `WAIT`'s milliseconds as a signed count to
/// add to its clock and refuses more, so a settings file's "1e19s" once failed every write
/// (after applying it). Clamped, the write is acknowledged by the replica and succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_longest_wait_for_replicas_is_one_redis_accepts() {
    let primary = RedisServer::start();
    let _replica = RedisServer::start_replica_of(&primary);
    let json = format!(
        r#"{{"url":"{}","key_prefix":"{}",
            "acknowledge_after_replicas":{{"replicas":1,"timeout":"1e19s"}}}}"#,
        primary.url(),
        unique_prefix()
    );
    let config: RedisStoreConfig = serde_json::from_str(&json).expect("parses");
    let store = config.build().await.expect("builds");
    let token = keys("u", "acknowledged", None);
    store
        .insert_token(&token, support::from_now(Duration::from_secs(60)))
        .await
        .expect("the replica acknowledges the write");
    assert!(store.check(&token).await.expect("check").token_listed);
}
