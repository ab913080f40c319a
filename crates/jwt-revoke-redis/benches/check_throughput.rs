//! Throughput of `RedisStore::check` against a raw multiplexed `MGET` of the same keys, side
//! by side on one throw-away `redis-server`, with 64 callers in flight.
//!
//! ```text
//! cargo bench -p jwt-revoke-redis --bench check_throughput
//! BENCH_SECONDS=3 BENCH_ROUNDS=5 cargo bench -p jwt-revoke-redis --bench check_throughput
//! ```
//!
//! Each round runs every contender for `BENCH_SECONDS` (default 1) in turn, so that drift on a
//! shared machine hits them alike; the median of `BENCH_ROUNDS` (default 3) rounds is reported.
//! Contenders:
//! - `raw MGET`: one redis-rs `MultiplexedConnection`, `MGET` of precomputed keys: the bound;
//! - `manager MGET`: the same `MGET` through a `ConnectionManager` set up as
//!   `RedisStoreConfig::build` sets up the store's, inside a `tokio::time::timeout` as the
//!   store's calls are: the cost of the connection, so that the rest is the store's own;
//! - `store (url)`: `RedisStore::connect`, i.e. a `ConnectionManager`, keys derived per call;
//! - `store (pool)`: `RedisStore::from_pool` over a deadpool-redis pool;
//! - `pool per call`: taking a deadpool connection for each `MGET`, for comparison;
//! - `store replica`: the `store (url)` built with a local replica (`ReplicaConfig::default()`),
//!   which answers from process memory while it is fresh (the records written below reach it
//!   through its subscription);
//!
//! and then, on a three-master Redis Cluster, the store's check against the same commands sent
//! raw (an `MGET` of the token and user keys, a `GET` of the session's, together).
//!
//! The stores are shared by reference (as an `Arc`, the way a service holds one), not cloned
//! per call. Besides calls per second, each contender's CPU time per call is shown, for the
//! bench process (`client`, from `/proc/self/stat`; Linux only) and for the server (`server`,
//! from `INFO cpu`): on a machine with few cores the client's CPU per call bounds the
//! throughput, and it is steadier than the throughput when other work shares the machine.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jwt_revoke_core::{
    Clock, RevocationStore, SessionId, SystemClock, Timestamp, TokenId, TokenKeys, UserId,
};
use jwt_revoke_redis::test_support::RedisServer;
use jwt_revoke_redis::{RedisStore, RedisStoreConfig, ReplicaConfig, deadpool_redis, redis};
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};

const IN_FLIGHT: usize = 64;
const TOKENS: usize = 1_000;

/// The store's default per-call time limit, which `manager MGET` applies as the store does.
const TIMEOUT: Duration = Duration::from_millis(500);

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// One contender's run.
#[derive(Clone, Copy)]
struct Sample {
    /// Calls per second.
    rate: f64,
    /// CPU time of this process per call, in µs (`NaN` where `/proc` is missing).
    client_micros: f64,
    /// CPU time of the server per call, in µs.
    server_micros: f64,
}

/// This process's CPU time (user and system) in seconds, from `/proc/self/stat`.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces:
    // utime and stime are the 14th and 15th fields of the line, the 12th and 13th after it.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // The kernel reports USER_HZ ticks, 100 per second on every Linux platform.
    Some(ticks / 100.0)
}

/// The server's CPU time (user and system) in seconds, from `INFO cpu`.
async fn server_cpu_seconds(admin: &mut MultiplexedConnection) -> f64 {
    let info: String = redis::cmd("INFO")
        .arg("cpu")
        .query_async(admin)
        .await
        .expect("INFO cpu");
    info.lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            matches!(name, "used_cpu_sys" | "used_cpu_user")
                .then(|| value.trim().parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

/// Runs `IN_FLIGHT` callers of `op` for `duration`.
async fn measure<F, Fut>(admin: &mut MultiplexedConnection, duration: Duration, op: F) -> Sample
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let done = Arc::new(AtomicU64::new(0));
    let server_before = server_cpu_seconds(admin).await;
    let client_before = process_cpu_seconds();
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(IN_FLIGHT);
    for caller in 0..IN_FLIGHT {
        let (op, done) = (op.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = caller;
            let mut count = 0;
            while Instant::now() < deadline {
                op(n % TOKENS).await;
                n += IN_FLIGHT;
                count += 1;
                // A call answered at once (the replica's) never yields: without this, 64
                // callers held both workers for the whole run, starved the replica's heartbeat
                // and then the batcher, and a check that fell back to Redis timed out.
                if count % 64 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            done.fetch_add(count, Ordering::Relaxed);
        }));
    }
    for task in tasks {
        task.await.expect("a bench task panicked");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let client_after = process_cpu_seconds();
    let server_after = server_cpu_seconds(admin).await;
    let calls = done.load(Ordering::Relaxed).max(1) as f64;
    let client_micros = match (client_before, client_after) {
        (Some(before), Some(after)) => (after - before) * 1e6 / calls,
        _ => f64::NAN,
    };
    Sample {
        rate: calls / elapsed,
        client_micros,
        server_micros: (server_after - server_before) * 1e6 / calls,
    }
}

/// The median of each figure, taken separately.
fn median(samples: &[Sample]) -> Sample {
    let of = |figure: fn(&Sample) -> f64| {
        let mut values: Vec<f64> = samples.iter().map(figure).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    Sample {
        rate: of(|sample| sample.rate),
        client_micros: of(|sample| sample.client_micros),
        server_micros: of(|sample| sample.server_micros),
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(run());
}

async fn run() {
    let seconds = Duration::from_secs(env_number("BENCH_SECONDS", 1));
    let rounds = env_number("BENCH_ROUNDS", 3).max(1);
    let server = RedisServer::start();
    let url = server.url();

    let store = Arc::new(RedisStore::connect(&url).await.expect("connect"));
    let pool = deadpool_redis::Config::from_url(url.clone())
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .expect("pool");
    let pooled_store = Arc::new(RedisStore::from_pool(pool.clone()));
    let replicated = Arc::new(
        RedisStoreConfig::from_url(url.clone())
            .with_local_replica(ReplicaConfig::default())
            .build()
            .await
            .expect("a store with a local replica"),
    );
    let client = redis::Client::open(url.as_str()).expect("url");
    let raw = client
        .get_multiplexed_async_connection()
        .await
        .expect("raw connection");
    // The settings `RedisStoreConfig::build` gives the store's connection manager.
    let manager = ConnectionManager::new_with_config(
        client.clone(),
        ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(None)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_secs(1))
            .set_number_of_retries(8),
    )
    .await
    .expect("connection manager");
    let mut admin = client
        .get_multiplexed_async_connection()
        .await
        .expect("admin connection");

    for with_session in [false, true] {
        let tokens: Arc<Vec<TokenKeys>> = Arc::new(
            (0..TOKENS)
                .map(|n| {
                    TokenKeys::new(
                        TokenId::from_jti(
                            "https://idp.example",
                            format!("user-{n}"),
                            format!("t-{n}"),
                        )
                        .denylist_key(),
                        UserId::new("https://idp.example", format!("user-{n}")).key(),
                        with_session
                            .then(|| SessionId::new("https://idp.example", format!("s-{n}")).key()),
                    )
                })
                .collect(),
        );
        if !with_session {
            // Every call allocates this (the `async_trait` box) and moves it around.
            let check = RedisStore::check(&store, &tokens[0]);
            println!(
                "RedisStore::check future: {} bytes",
                std::mem::size_of_val(&*check)
            );
        }
        // Some records exist, so that replies carry values as in real use.
        let until = SystemClock.now().saturating_add(Duration::from_secs(600));
        for token in tokens.iter().step_by(3) {
            store.insert_token(token, until).await.expect("insert");
            store
                .raise_cutoff(token.user, Timestamp::from_secs(1_700_000_000), until)
                .await
                .expect("cut-off");
        }
        let raw_keys: Arc<Vec<Vec<String>>> = Arc::new(
            tokens
                .iter()
                .map(|token| {
                    let prefix = store.key_prefix();
                    let mut keys = vec![prefix.token_key(token), prefix.cutoff_key(&token.user)];
                    keys.extend(token.session.map(|session| prefix.cutoff_key(&session)));
                    keys
                })
                .collect(),
        );

        let names = [
            "raw MGET",
            "manager MGET",
            "store (url)",
            "store (pool)",
            "pool per call",
            "store replica",
        ];
        let mut results: Vec<Vec<Sample>> = vec![Vec::new(); names.len()];
        for _ in 0..rounds {
            results[0].push(
                measure(&mut admin, seconds, {
                    let (raw, raw_keys) = (raw.clone(), raw_keys.clone());
                    move |n| {
                        let (mut raw, raw_keys) = (raw.clone(), raw_keys.clone());
                        async move {
                            let _: Vec<redis::Value> = redis::cmd("MGET")
                                .arg(&raw_keys[n])
                                .query_async(&mut raw)
                                .await
                                .expect("MGET");
                        }
                    }
                })
                .await,
            );
            results[1].push(
                measure(&mut admin, seconds, {
                    let (manager, raw_keys) = (manager.clone(), raw_keys.clone());
                    move |n| {
                        let (mut manager, raw_keys) = (manager.clone(), raw_keys.clone());
                        async move {
                            let mut mget = redis::cmd("MGET");
                            mget.arg(&raw_keys[n]);
                            let mget = mget.query_async::<Vec<redis::Value>>(&mut manager);
                            tokio::time::timeout(TIMEOUT, mget)
                                .await
                                .expect("MGET in time")
                                .expect("MGET");
                        }
                    }
                })
                .await,
            );
            for (slot, store) in [
                (2, store.clone()),
                (3, pooled_store.clone()),
                (5, replicated.clone()),
            ] {
                results[slot].push(
                    measure(&mut admin, seconds, {
                        let tokens = tokens.clone();
                        move |n| {
                            let (store, tokens) = (store.clone(), tokens.clone());
                            async move {
                                // `RedisStore`'s own `check`, not the blanket one for `Arc`.
                                if let Err(err) = RedisStore::check(&store, &tokens[n]).await {
                                    panic!("check ({}): {err}", names[slot]);
                                }
                            }
                        }
                    })
                    .await,
                );
            }
            results[4].push(
                measure(&mut admin, seconds, {
                    let (pool, raw_keys) = (pool.clone(), raw_keys.clone());
                    move |n| {
                        let (pool, raw_keys) = (pool.clone(), raw_keys.clone());
                        async move {
                            let mut connection = pool.get().await.expect("pooled connection");
                            let _: Vec<redis::Value> = redis::cmd("MGET")
                                .arg(&raw_keys[n])
                                .query_async(&mut connection)
                                .await
                                .expect("MGET");
                        }
                    }
                })
                .await,
            );
        }

        let medians: Vec<Sample> = results.iter().map(|samples| median(samples)).collect();
        println!(
            "\n{} keys per check ({}), {IN_FLIGHT} in flight, median of {rounds} × {seconds:?}:",
            if with_session { 3 } else { 2 },
            if with_session {
                "token, user, session"
            } else {
                "token, user"
            },
        );
        println!(
            "  {:<14} {:>9}   {:>6}   {:>17}",
            "", "calls/s", "× raw", "CPU µs/call (client / server)"
        );
        for (name, sample) in names.iter().zip(&medians) {
            println!(
                "  {name:<14} {:>9.0}   {:>5.2}×   {:>8.2} / {:>5.2}",
                sample.rate,
                sample.rate / medians[0].rate,
                sample.client_micros,
                sample.server_micros,
            );
        }
        if let Some(status) = replicated.replica_status() {
            println!(
                "  (store replica: {} checks answered locally, {} by Redis so far)",
                status.local_checks, status.direct_checks
            );
        }
        let ratio = medians[2].rate / medians[0].rate;
        println!(
            "  store (url) / raw MGET = {ratio:.2} ({} the 0.8 target); \
             store (url) / manager MGET = {:.2}",
            if ratio >= 0.8 { "meets" } else { "MISSES" },
            medians[2].rate / medians[1].rate,
        );
    }
    drop(server);
    cluster(seconds, rounds).await;
}

/// The same on a three-master Redis Cluster: the store's check (one `MGET` of the token and
/// user keys, which share a slot, and the session's `GET` sent alongside) against the same two
/// commands sent raw over a redis-rs cluster connection.
async fn cluster(seconds: Duration, rounds: u64) {
    use jwt_revoke_redis::RedisStoreConfig;
    use jwt_revoke_redis::test_support::RedisCluster;

    let cluster = RedisCluster::start();
    let store = Arc::new(
        RedisStoreConfig::from_cluster_nodes(cluster.node_urls())
            .build()
            .await
            .expect("cluster store"),
    );
    let raw = redis::cluster::ClusterClient::new(cluster.node_urls())
        .expect("cluster client")
        .get_async_connection()
        .await
        .expect("raw cluster connection");
    let mut admin = redis::Client::open(cluster.node_urls()[0].as_str())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("admin connection");
    let tokens: Arc<Vec<TokenKeys>> = Arc::new(
        (0..TOKENS)
            .map(|n| {
                TokenKeys::new(
                    TokenId::from_jti("https://idp.example", format!("user-{n}"), format!("t-{n}"))
                        .denylist_key(),
                    UserId::new("https://idp.example", format!("user-{n}")).key(),
                    Some(SessionId::new("https://idp.example", format!("s-{n}")).key()),
                )
            })
            .collect(),
    );
    let keys: Arc<Vec<[String; 3]>> = Arc::new(
        tokens
            .iter()
            .map(|token| {
                let prefix = store.key_prefix();
                [
                    prefix.token_key(token),
                    prefix.cutoff_key(&token.user),
                    prefix.cutoff_key(&token.session.expect("a session")),
                ]
            })
            .collect(),
    );
    let mut results: [Vec<Sample>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..rounds {
        results[0].push(
            measure(&mut admin, seconds, {
                let (raw, keys) = (raw.clone(), keys.clone());
                move |n| {
                    let (mut raw, keys) = (raw.clone(), keys.clone());
                    async move {
                        // The same work as the store's: the pair's MGET and the session's GET,
                        // which lives in another slot, sent together.
                        let mut second = raw.clone();
                        let mut pair = redis::cmd("MGET");
                        pair.arg(&keys[n][..2]);
                        let mut session = redis::cmd("GET");
                        session.arg(&keys[n][2]);
                        let _: (Vec<redis::Value>, redis::Value) = futures_util::future::try_join(
                            pair.query_async(&mut raw),
                            session.query_async(&mut second),
                        )
                        .await
                        .expect("MGET and GET");
                    }
                }
            })
            .await,
        );
        results[1].push(
            measure(&mut admin, seconds, {
                let tokens = tokens.clone();
                let store = store.clone();
                move |n| {
                    let (store, tokens) = (store.clone(), tokens.clone());
                    async move {
                        RedisStore::check(&store, &tokens[n]).await.expect("check");
                    }
                }
            })
            .await,
        );
    }
    let (raw, checked) = (median(&results[0]), median(&results[1]));
    println!(
        "\nRedis Cluster (3 masters), {IN_FLIGHT} in flight, median of {rounds} × {seconds:?}:"
    );
    println!(
        "  raw MGET (token, user) + GET (session)  {:>9.0} calls/s",
        raw.rate
    );
    println!(
        "  store check (token, user, session)      {:>9.0} calls/s   {:.2}× raw",
        checked.rate,
        checked.rate / raw.rate
    );
}
