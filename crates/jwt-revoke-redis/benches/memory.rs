//! Redis memory per record: what one revoked token and one user cut-off cost on the server.
//!
//! ```text
//! cargo bench -p jwt-revoke-redis --bench memory
//! BENCH_RECORDS=100000 BENCH_SAMPLE=500 cargo bench -p jwt-revoke-redis --bench memory
//! ```
//!
//! Starts its own throw-away `redis-server`, writes `BENCH_RECORDS` (default 10,000) revoked
//! tokens through `RedisStore::insert_token`, then as many user cut-offs through
//! `RedisStore::raise_cutoff`, and reports the bytes per record two ways:
//! - `MEMORY USAGE <key>` averaged over `BENCH_SAMPLE` (default 200) keys of each kind, found
//!   with `SCAN` under the store's prefix: the key, its value and its main-table entry;
//! - the growth of `INFO memory`'s `used_memory` over each phase, divided by the records
//!   written: everything, including the expiry-table entry and the hash tables' growth
//!   (which is why it is the larger figure, and moves in steps as the tables double).

use std::time::Duration;

use jwt_revoke_core::{Clock, RevocationStore, SystemClock, TokenId, TokenKeys, UserId};
use jwt_revoke_redis::test_support::RedisServer;
use jwt_revoke_redis::{KeyPrefix, RedisStore, RedisStoreConfig, redis};
use redis::aio::MultiplexedConnection;

const ISSUER: &str = "https://idp.example";

/// How long the records live: long enough that none expires during the run.
const LIFETIME: Duration = Duration::from_secs(3_600);

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(run());
}

/// What one kind of record costs.
struct Cost {
    kind: &'static str,
    keys_found: usize,
    key_length: usize,
    /// `MEMORY USAGE` of the sampled keys: minimum, mean, maximum.
    usage: (i64, f64, i64),
    /// `used_memory` growth over the phase, per record written.
    growth: f64,
}

async fn run() {
    let records = env_number("BENCH_RECORDS", 10_000).max(1);
    let sample = env_number("BENCH_SAMPLE", 200).max(1);
    let server = RedisServer::start();
    let store = RedisStoreConfig::from_url(server.url())
        .build()
        .await
        .expect("the throw-away server accepts the store");
    let mut admin = redis::Client::open(server.url())
        .expect("a valid URL")
        .get_multiplexed_async_connection()
        .await
        .expect("an admin connection");
    let prefix = store.key_prefix().clone();
    let now = SystemClock.now();
    let expires_at = now.saturating_add(LIFETIME);

    warm_up(&store, &mut admin, expires_at).await;

    let tokens: Vec<TokenKeys> = (0..records)
        .map(|n| {
            TokenKeys::new(
                TokenId::from_jti(ISSUER, format!("user-{n}"), format!("jti-{n}")).denylist_key(),
                UserId::new(ISSUER, format!("user-{n}")).key(),
                None,
            )
        })
        .collect();

    let before = used_memory(&mut admin).await;
    for keys in &tokens {
        store
            .insert_token(keys, expires_at)
            .await
            .expect("insert_token");
    }
    let after_tokens = used_memory(&mut admin).await;
    for keys in &tokens {
        store
            .raise_cutoff(keys.user, now, expires_at)
            .await
            .expect("raise_cutoff");
    }
    let after_cutoffs = used_memory(&mut admin).await;

    let token_cost = measure_kind(
        &mut admin,
        "token record",
        &prefix,
        't',
        sample,
        (after_tokens - before) as f64 / records as f64,
    )
    .await;
    let cutoff_cost = measure_kind(
        &mut admin,
        "user cut-off",
        &prefix,
        'c',
        sample,
        (after_cutoffs - after_tokens) as f64 / records as f64,
    )
    .await;

    println!(
        "\n{records} records of each kind on redis-server {} (maxmemory-policy noeviction), \
         prefix {prefix:?}:",
        server_version(&mut admin).await
    );
    println!(
        "  {:<13} {:>7} {:>8}   {:>29}   {:>20}",
        "record", "keys", "key len", "MEMORY USAGE min/mean/max", "Δ used_memory / N"
    );
    for cost in [&token_cost, &cutoff_cost] {
        let (min, mean, max) = cost.usage;
        println!(
            "  {:<13} {:>7} {:>8}   {:>14} / {:>5.1} / {:>4} B   {:>18.1} B",
            cost.kind, cost.keys_found, cost.key_length, min, mean, max, cost.growth
        );
        assert_eq!(
            cost.keys_found, records,
            "every {} written should be found under the prefix",
            cost.kind
        );
    }
    println!(
        "  (MEMORY USAGE counts the key, a 16 B value object, even for a token's shared `1`, and \
         one main-table entry;\n   used_memory also holds the expiry-table entry and both \
         tables' bucket arrays, which double in steps)"
    );
    println!(
        "  used_memory: {before} B before, {after_tokens} B after the tokens, \
         {after_cutoffs} B after the cut-offs"
    );

    println!("\nExamples:");
    let user = tokens[0].user;
    for (kind, key) in [
        ("token record", prefix.token_key(&tokens[0])),
        ("user cut-off", prefix.cutoff_key(&user)),
    ] {
        describe(&mut admin, kind, &key).await;
    }
}

/// Loads both write scripts (their text counts in `used_memory`) and creates the keyspace's
/// tables, then deletes what it wrote, so that the phases measure records only.
async fn warm_up(
    store: &RedisStore,
    admin: &mut MultiplexedConnection,
    expires_at: jwt_revoke_core::Timestamp,
) {
    let warm = store
        .clone()
        .with_key_prefix(KeyPrefix::new("warm-up:").expect("a valid prefix"));
    let keys = TokenKeys::new(
        TokenId::from_jti(ISSUER, "warm-up", "warm-up").denylist_key(),
        UserId::new(ISSUER, "warm-up").key(),
        None,
    );
    warm.insert_token(&keys, expires_at)
        .await
        .expect("insert_token");
    warm.raise_cutoff(keys.user, SystemClock.now(), expires_at)
        .await
        .expect("raise_cutoff");
    let prefix = warm.key_prefix();
    let _: i64 = redis::cmd("DEL")
        .arg(prefix.token_key(&keys))
        .arg(prefix.cutoff_key(&keys.user))
        .query_async(admin)
        .await
        .expect("DEL");
}

/// Finds every key of one kind (`t` or `c`) under `prefix` with `SCAN`, and measures an evenly
/// spread sample of them with `MEMORY USAGE`.
async fn measure_kind(
    admin: &mut MultiplexedConnection,
    kind: &'static str,
    prefix: &KeyPrefix,
    letter: char,
    sample: usize,
    growth: f64,
) -> Cost {
    let pattern = format!("{}{letter}{{*", glob_escape(prefix.as_str()));
    let mut keys = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1_000)
            .query_async(admin)
            .await
            .expect("SCAN");
        keys.extend(batch);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    keys.sort();
    let step = keys.len().div_ceil(sample).max(1);
    let mut usages = Vec::new();
    for key in keys.iter().step_by(step) {
        let usage: Option<i64> = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(key)
            .query_async(admin)
            .await
            .expect("MEMORY USAGE");
        usages.extend(usage);
    }
    let min = usages.iter().copied().min().unwrap_or(0);
    let max = usages.iter().copied().max().unwrap_or(0);
    let mean = usages.iter().sum::<i64>() as f64 / usages.len().max(1) as f64;
    Cost {
        kind,
        keys_found: keys.len(),
        key_length: keys.first().map_or(0, String::len),
        usage: (min, mean, max),
        growth,
    }
}

/// Prints one key with its value, encoding and remaining TTL.
async fn describe(admin: &mut MultiplexedConnection, kind: &str, key: &str) {
    let mut pipe = redis::pipe();
    pipe.cmd("GET")
        .arg(key)
        .cmd("PTTL")
        .arg(key)
        .cmd("OBJECT")
        .arg("ENCODING")
        .arg(key)
        .cmd("MEMORY")
        .arg("USAGE")
        .arg(key);
    let (value, pttl, encoding, usage): (Option<String>, i64, Option<String>, Option<i64>) = pipe
        .query_async(admin)
        .await
        .expect("GET, PTTL, OBJECT ENCODING, MEMORY USAGE");
    println!(
        "  {kind}: {key} ({} bytes)\n    value {:?} (encoding {}), PTTL {pttl} ms (~{:.0} s), \
         MEMORY USAGE {} B",
        key.len(),
        value.unwrap_or_default(),
        encoding.unwrap_or_default(),
        pttl as f64 / 1_000.0,
        usage.unwrap_or(0),
    );
}

/// `INFO memory`'s `used_memory`, read after a moment's pause so that the server has settled.
async fn used_memory(admin: &mut MultiplexedConnection) -> i64 {
    tokio::time::sleep(Duration::from_millis(200)).await;
    info_field(admin, "memory", "used_memory")
        .await
        .parse()
        .expect("used_memory is a number")
}

async fn server_version(admin: &mut MultiplexedConnection) -> String {
    info_field(admin, "server", "redis_version").await
}

async fn info_field(admin: &mut MultiplexedConnection, section: &str, field: &str) -> String {
    let info: String = redis::cmd("INFO")
        .arg(section)
        .query_async(admin)
        .await
        .expect("INFO");
    info.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .map(|value| value.trim().to_owned())
        .unwrap_or_else(|| panic!("INFO {section} has no {field}"))
}

/// `text` as a literal in a `SCAN MATCH` glob.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
