//! A Redis that hangs (SIGSTOP: connections stay open, nothing is answered) under a burst of
//! checks: the work the store keeps in flight is bounded, so the process's memory stays
//! bounded, and every check is answered (as unavailable) within its timeout; once Redis runs
//! again, checks work again.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use jwt_revoke_core::RevocationStore;
use jwt_revoke_redis::test_support::{RedisServer, unique_prefix};
use jwt_revoke_redis::{RedisStore, RedisStoreConfig};
use support::{from_now, keys};

const TIMEOUT: Duration = Duration::from_millis(500);
/// What a check may take beyond its timeout on a loaded 2-core CI machine before it counts
/// as hanging.
const MARGIN: Duration = Duration::from_millis(1_500);
/// The burst: `WAVES` waves of `WAVE` checks, one wave every `EVERY`, each check on its own
/// task as a request's would be: 30,000 checks over 3 s.
const WAVES: usize = 30;
const WAVE: usize = 1_000;
const EVERY: Duration = Duration::from_millis(100);
/// The stated bound on the growth of the test process's resident memory during the burst.
/// The store keeps at most `max_in_flight` (default 4,096) checks in flight; what one holds
/// (its keys, its share of a pipeline, redis-rs's entry for it) is well under a kilobyte.
/// Before the bound, each of the 30,000 checks left about a kilobyte behind for as long as
/// Redis hung (see the commit that added this test for the figures).
const RSS_GROWTH_BOUND: u64 = 16 * 1024 * 1024;

/// Resident memory of this process, in bytes (`/proc/self/statm`, Linux).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .expect("statm's second field is the resident page count");
    // The page size of every Linux this runs on (x86-64, aarch64 with 4 KiB pages); a larger
    // one only makes the bound stricter.
    pages * 4_096
}

/// Runs the burst against `store` and returns (peak growth of resident memory, slowest check,
/// checks that failed otherwise than as unavailable, checks that succeeded).
async fn burst(store: &Arc<RedisStore>) -> (u64, Duration, Vec<String>, usize) {
    let before = resident_bytes();
    let mut peak = before;
    // Finished checks are collected as the burst goes: a finished task not yet joined keeps
    // its allocation, which would measure the test rather than the store.
    let mut tasks = tokio::task::JoinSet::new();
    let mut slowest = Duration::ZERO;
    let mut other = Vec::new();
    let mut succeeded = 0;
    let mut collect = |(took, outcome): (Duration, Result<_, jwt_revoke_core::StoreError>)| {
        slowest = slowest.max(took);
        match outcome {
            Ok(_) => succeeded += 1,
            Err(err) if err.is_unavailable() => {}
            Err(err) => other.push(err.to_string()),
        }
    };
    let mut ticker = tokio::time::interval(EVERY);
    for wave in 0..WAVES {
        ticker.tick().await;
        for n in 0..WAVE {
            let store = Arc::clone(store);
            let token = keys(&format!("user-{n}"), &format!("t-{wave}-{n}"), Some("s-1"));
            tasks.spawn(async move {
                let started = Instant::now();
                let outcome = store.check(&token).await;
                (started.elapsed(), outcome)
            });
        }
        while let Some(done) = tasks.try_join_next() {
            collect(done.expect("a check never panics"));
        }
        peak = peak.max(resident_bytes());
    }
    while let Some(done) = tasks.join_next().await {
        collect(done.expect("a check never panics"));
        peak = peak.max(resident_bytes());
    }
    // Whatever the store still holds for the stalled server counts too.
    peak = peak.max(resident_bytes());
    (peak.saturating_sub(before), slowest, other, succeeded)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_redis_costs_bounded_memory_and_every_check_is_answered_in_time() {
    let server = RedisServer::start();
    let store = Arc::new(
        RedisStoreConfig::from_url(server.url())
            .with_key_prefix(unique_prefix())
            .with_timeout(TIMEOUT)
            .build()
            .await
            .expect("the test server accepts connections"),
    );
    let revoked = keys("alice", "revoked", Some("s-1"));
    store
        .insert_token(&revoked, from_now(Duration::from_secs(600)))
        .await
        .expect("insert");
    // Warm up: the connection, the batcher, the allocator's first arenas.
    for _ in 0..3 {
        assert!(store.check(&revoked).await.expect("check").token_listed);
    }

    server.pause();
    let (growth, slowest, other, succeeded) = burst(&store).await;
    let (held, max) = store.calls_in_flight();
    server.resume();
    assert!(held <= max, "{held} calls in flight, bound {max}");

    eprintln!(
        "{} checks while Redis hung: resident memory grew by {:.1} MiB, slowest check {slowest:?}",
        WAVES * WAVE,
        growth as f64 / (1024.0 * 1024.0)
    );
    assert_eq!(succeeded, 0, "a check succeeded while Redis hung");
    assert!(
        other.is_empty(),
        "failures other than unavailable: {other:?}"
    );
    assert!(
        slowest <= TIMEOUT + MARGIN,
        "a check took {slowest:?} (timeout {TIMEOUT:?})"
    );
    assert!(
        growth <= RSS_GROWTH_BOUND,
        "resident memory grew by {growth} bytes during the burst (bound {RSS_GROWTH_BOUND})"
    );

    // Running again: checks work, and the revocation is still there.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match store.check(&revoked).await {
            Ok(reply) => {
                assert!(reply.token_listed, "the revocation survived the stall");
                break;
            }
            Err(err) => {
                assert!(err.is_unavailable(), "while recovering: {err}");
                assert!(Instant::now() < deadline, "no recovery within 10 s: {err}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    // Every call the hang held is let go once Redis has answered it.
    while store.calls_in_flight().0 > 0 {
        assert!(
            Instant::now() < deadline,
            "calls still in flight: {:?}",
            store.calls_in_flight()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
