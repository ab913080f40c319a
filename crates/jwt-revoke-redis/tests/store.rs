//! The store against a real single `redis-server`: layout, TTLs, atomicity, construction paths.

mod support;

use std::sync::Arc;
use std::time::Duration;

use jwt_revoke_core::{
    Clock, ManualClock, Policy, RegisteredClaims, RevocationReason, RevocationStore, Revocations,
    SystemClock, Timestamp, TokenId, TokenKeys, UserId, Verdict,
};
use jwt_revoke_redis::test_support::{RedisServer, unique_prefix};
use jwt_revoke_redis::{
    BuildError, KeyPrefix, RedisStore, RedisStoreConfig, deadpool_redis, redis,
};
use redis::AsyncCommands;
use support::{ISSUER, from_now, keys};

async fn store_on(server: &RedisServer) -> RedisStore {
    RedisStoreConfig::from_url(server.url())
        .with_key_prefix(unique_prefix())
        .build()
        .await
        .expect("the test server accepts connections")
}

async fn raw(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .expect("valid url")
        .get_multiplexed_async_connection()
        .await
        .expect("the test server accepts connections")
}

#[tokio::test]
async fn a_check_of_unknown_keys_finds_nothing() {
    let store = store_on(RedisServer::shared()).await;
    let reply = store
        .check(&keys("alice", "t-1", Some("s-1")))
        .await
        .expect("check");
    assert!(!reply.token_listed);
    assert_eq!(reply.user_cutoff, None);
    assert_eq!(reply.session_cutoff, None);
}

#[tokio::test]
async fn a_token_is_listed_until_removed() {
    let store = store_on(RedisServer::shared()).await;
    let token = keys("alice", "t-1", None);
    let other = keys("alice", "t-2", None);
    store
        .insert_token(&token, from_now(Duration::from_secs(60)))
        .await
        .expect("insert");
    assert!(store.check(&token).await.expect("check").token_listed);
    assert!(!store.check(&other).await.expect("check").token_listed);
    assert!(store.remove_token(&token).await.expect("remove"));
    assert!(!store.remove_token(&token).await.expect("remove again"));
    assert!(!store.check(&token).await.expect("check").token_listed);
}

#[tokio::test]
async fn check_reads_token_user_and_session_records_together() {
    let store = store_on(RedisServer::shared()).await;
    let token = keys("bob", "t-1", Some("s-1"));
    let until = from_now(Duration::from_secs(60));
    let user_at = Timestamp::from_micros(1_700_000_000_123_456);
    let session_at = Timestamp::from_micros(1_700_000_001_654_321);
    store.insert_token(&token, until).await.expect("insert");
    store
        .raise_cutoff(token.user, user_at, until)
        .await
        .expect("user");
    let session = token.session.expect("has a session");
    store
        .raise_cutoff(session, session_at, until)
        .await
        .expect("session");
    let reply = store.check(&token).await.expect("check");
    assert!(reply.token_listed);
    assert_eq!(reply.user_cutoff, Some(user_at));
    assert_eq!(reply.session_cutoff, Some(session_at));
    // The same token without its `sid` is not told about the session.
    let reply = store.check(&keys("bob", "t-1", None)).await.expect("check");
    assert_eq!(reply.session_cutoff, None);
}

/// How often Redis has run `command` (`INFO commandstats`), 0 before the first time.
fn calls_of(server: &RedisServer, command: &str) -> u64 {
    let prefix = format!("cmdstat_{command}:calls=");
    server
        .cli(&["INFO", "commandstats"])
        .lines()
        .find_map(|line| line.trim().strip_prefix(prefix.as_str()))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().expect("a count"))
}

#[tokio::test]
async fn a_check_reads_every_claim_cutoff_in_the_same_single_command() {
    use jwt_revoke_core::{ClaimId, ClaimKeys};
    let server = RedisServer::start();
    let store = store_on(&server).await;
    let until = from_now(Duration::from_secs(60));
    let claims: Vec<_> = ["azp", "tenant", "device", "org"]
        .iter()
        .map(|claim| ClaimId::new(ISSUER, *claim, "v").key())
        .collect();
    let at = |n: i64| Timestamp::from_micros(1_700_000_000_000_000 + n);
    store
        .raise_cutoff(claims[1], at(30), until)
        .await
        .expect("tenant");
    store
        .raise_cutoff(claims[3], at(10), until)
        .await
        .expect("org");
    let token =
        keys("bob", "t-1", Some("s-1")).with_claims(ClaimKeys::new(&claims).expect("four fit"));
    // The connection exists before counting.
    store.check(&keys("x", "y", None)).await.expect("check");
    let (mgets, gets) = (calls_of(&server, "mget"), calls_of(&server, "get"));
    let reply = store.check(&token).await.expect("check");
    assert_eq!(
        reply.claim_cutoff,
        Some(at(30)),
        "the latest of the claims'"
    );
    assert_eq!(
        (
            calls_of(&server, "mget") - mgets,
            calls_of(&server, "get") - gets
        ),
        (1, 0),
        "token, user, session, four claims and the marker: one MGET"
    );
}

#[tokio::test]
async fn every_key_is_written_with_a_ttl_no_longer_than_asked() {
    let server = RedisServer::shared();
    let store = store_on(server).await;
    let token = keys("carol", "t-1", None);
    let lifetime = Duration::from_millis(30_000);
    store
        .insert_token(&token, from_now(lifetime))
        .await
        .expect("insert");
    store
        .raise_cutoff(token.user, SystemClock.now(), from_now(lifetime))
        .await
        .expect("cut-off");
    let mut con = raw(server).await;
    for key in [
        store.key_prefix().token_key(&token),
        store.key_prefix().cutoff_key(&token.user),
    ] {
        let ttl: i64 = con.pttl(&key).await.expect("PTTL");
        assert!(ttl > 0 && ttl <= 30_000, "{key}: PTTL {ttl}");
    }
}

#[tokio::test]
async fn ttls_come_from_the_stores_clock() {
    let server = RedisServer::shared();
    // A store whose clock is an hour behind the real time writes hour-longer TTLs: it counts
    // from its own "now", as the engine that shares its clock expects.
    let clock = ManualClock::new(SystemClock.now().saturating_sub(Duration::from_secs(3_600)));
    let store = store_on(server).await.with_clock(Arc::new(clock.clone()));
    let token = keys("dave", "t-1", None);
    store
        .insert_token(&token, clock.now().saturating_add(Duration::from_secs(10)))
        .await
        .expect("insert");
    let ttl: i64 = raw(server)
        .await
        .pttl(store.key_prefix().token_key(&token))
        .await
        .expect("PTTL");
    assert!(ttl > 5_000 && ttl <= 10_000, "PTTL {ttl}");
}

#[tokio::test]
async fn an_expiry_in_the_past_writes_nothing_and_succeeds() {
    let server = RedisServer::shared();
    let store = store_on(server).await;
    let token = keys("erin", "t-1", None);
    let past = SystemClock.now().saturating_sub(Duration::from_secs(1));
    store.insert_token(&token, past).await.expect("insert");
    let at = Timestamp::from_secs(1_700_000_000);
    assert_eq!(
        store
            .raise_cutoff(token.user, at, past)
            .await
            .expect("raise"),
        at
    );
    let exists: i64 = raw(server)
        .await
        .exists(&[
            store.key_prefix().token_key(&token),
            store.key_prefix().cutoff_key(&token.user),
        ])
        .await
        .expect("EXISTS");
    assert_eq!(exists, 0);
}

#[tokio::test]
async fn writing_a_token_again_keeps_the_later_expiry() {
    let server = RedisServer::shared();
    let store = store_on(server).await;
    let mut con = raw(server).await;
    for (first, second) in [(600, 60), (60, 600)] {
        let token = keys("frank", &format!("t-{first}-{second}"), None);
        for secs in [first, second] {
            store
                .insert_token(&token, from_now(Duration::from_secs(secs)))
                .await
                .expect("insert");
        }
        let ttl: i64 = con
            .pttl(store.key_prefix().token_key(&token))
            .await
            .expect("PTTL");
        assert!(ttl > 300_000, "{first} then {second}: PTTL {ttl}");
    }
}

#[tokio::test]
async fn a_cutoff_never_moves_back_but_its_life_is_extended() {
    let server = RedisServer::shared();
    let store = store_on(server).await;
    let user = UserId::new(ISSUER, "grace").key();
    let later = Timestamp::from_micros(1_700_000_000_900_000);
    let earlier = Timestamp::from_micros(1_700_000_000_100_000);
    let short = from_now(Duration::from_secs(60));
    let long = from_now(Duration::from_secs(6_000));
    assert_eq!(
        store.raise_cutoff(user, later, short).await.expect("raise"),
        later
    );
    assert_eq!(
        store
            .raise_cutoff(user, earlier, long)
            .await
            .expect("raise"),
        later,
        "an earlier cut-off must not win"
    );
    let check = store
        .check(&TokenKeys::new(
            TokenId::from_jti(ISSUER, "x", "x").denylist_key(),
            user,
            None,
        ))
        .await
        .expect("check");
    assert_eq!(check.user_cutoff, Some(later));
    let ttl: i64 = raw(server)
        .await
        .pttl(store.key_prefix().cutoff_key(&user))
        .await
        .expect("PTTL");
    assert!(ttl > 3_000_000, "the longer life must be kept: PTTL {ttl}");
}

#[tokio::test]
async fn cutoffs_compare_exactly_at_any_magnitude() {
    let store = store_on(RedisServer::shared()).await;
    let until = from_now(Duration::from_secs(60));
    // Pairs beyond f64's 2^53, negative ones, and across the sign.
    for (n, (first, second, expected)) in [
        (i64::MAX - 1, i64::MAX - 2, i64::MAX - 1),
        (i64::MAX - 2, i64::MAX - 1, i64::MAX - 1),
        (-10, -5, -5),
        (-5, -10, -5),
        (-1, 0, 0),
        (9, 10, 10),
        (10, 9, 10),
    ]
    .into_iter()
    .enumerate()
    {
        let key = UserId::new(ISSUER, format!("magnitude-{n}")).key();
        store
            .raise_cutoff(key, Timestamp::from_micros(first), until)
            .await
            .expect("first");
        let in_force = store
            .raise_cutoff(key, Timestamp::from_micros(second), until)
            .await
            .expect("second");
        assert_eq!(in_force.as_micros(), expected, "{first} then {second}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_cutoffs_leave_the_latest() {
    let server = RedisServer::shared();
    let prefix = unique_prefix();
    let user = UserId::new(ISSUER, "henry").key();
    let until = from_now(Duration::from_secs(60));
    // Several stores (several connections) race; instants arrive in a scrambled order.
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(
            RedisStoreConfig::from_url(server.url())
                .with_key_prefix(prefix.clone())
                .build()
                .await
                .expect("connect"),
        );
    }
    let base = 1_700_000_000_000_000_i64;
    let mut tasks = Vec::new();
    for i in 0..200_i64 {
        let store = stores[(i % 4) as usize].clone();
        let at = Timestamp::from_micros(base + (i * 7_919) % 200);
        tasks.push(tokio::spawn(async move {
            let in_force = store.raise_cutoff(user, at, until).await.expect("raise");
            assert!(in_force >= at, "{in_force:?} < {at:?}");
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let reply = stores[0]
        .check(&TokenKeys::new(user, user, None))
        .await
        .expect("check");
    assert_eq!(reply.user_cutoff, Some(Timestamp::from_micros(base + 199)));
}

#[tokio::test]
async fn keys_follow_the_documented_layout_and_hold_no_raw_identifiers() {
    let server = RedisServer::shared();
    let prefix = KeyPrefix::new(format!("{}layout:", unique_prefix())).expect("prefix");
    let store = store_on(server).await.with_key_prefix(prefix.clone());
    let token = keys("ivan@example.com", "jti-secret-42", Some("sid-7"));
    let until = from_now(Duration::from_secs(60));
    store.insert_token(&token, until).await.expect("insert");
    store
        .raise_cutoff(token.user, SystemClock.now(), until)
        .await
        .expect("user");
    let session = token.session.expect("session");
    store
        .raise_cutoff(session, SystemClock.now(), until)
        .await
        .expect("session");
    let mut found: Vec<String> = raw(server)
        .await
        .keys(format!("{prefix}*"))
        .await
        .expect("KEYS");
    found.sort();
    let mut expected = vec![
        prefix.token_key(&token),
        prefix.cutoff_key(&token.user),
        prefix.cutoff_key(&session),
        // The data-loss marker: no record, and no identifier in it either.
        prefix.marker_key("0"),
    ];
    expected.sort();
    assert_eq!(found, expected);
    for key in &found {
        for secret in ["ivan", "jti-secret", "sid-7", "idp.example"] {
            assert!(!key.contains(secret), "{key} shows {secret}");
        }
    }
}

#[tokio::test]
async fn a_corrupt_record_is_a_failure_not_an_outage() {
    let server = RedisServer::shared();
    let store = store_on(server).await;
    let token = keys("judy", "t-1", None);
    let _: () = raw(server)
        .await
        .set(store.key_prefix().cutoff_key(&token.user), "not a number")
        .await
        .expect("SET");
    let err = store.check(&token).await.expect_err("a corrupt cut-off");
    assert!(!err.is_unavailable(), "{err}");
}

#[tokio::test]
async fn the_engine_runs_on_an_arc_dyn_store() {
    let server = RedisServer::shared();
    let store: Arc<dyn RevocationStore> = Arc::new(
        RedisStore::connect(&server.url())
            .await
            .expect("connect")
            .with_key_prefix(unique_prefix()),
    );
    let revocations = Revocations::new(store, Policy::new(Duration::from_secs(900)));
    let now = SystemClock.now().as_secs_floor();
    let mut claims = RegisteredClaims::new();
    claims.iss = Some(ISSUER.into());
    claims.sub = Some("kim".into());
    claims.jti = Some("t-1".into());
    claims.iat = Some(jwt_revoke_core::NumericDate::from_secs(now - 10));
    claims.exp = Some(jwt_revoke_core::NumericDate::from_secs(now + 600));
    let token = revocations.inspect(&claims, "raw").expect("valid claims");
    assert_eq!(
        revocations.check(&token).await.expect("check"),
        Verdict::Valid
    );
    revocations
        .revoke_user(token.user())
        .await
        .expect("revoke user");
    assert!(matches!(
        revocations.check(&token).await.expect("check"),
        Verdict::Revoked(RevocationReason::User(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_from_a_deadpool_pool_shares_one_connection() {
    let server = RedisServer::shared();
    let pool = deadpool_redis::Config::from_url(server.url())
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .expect("pool");
    let store = RedisStore::from_pool(pool.clone()).with_key_prefix(unique_prefix());
    let token = keys("liam", "t-1", None);
    store
        .insert_token(&token, from_now(Duration::from_secs(60)))
        .await
        .expect("insert");
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.check(&token).await.expect("check").token_listed
        }));
    }
    for task in tasks {
        assert!(task.await.expect("task"));
    }
    assert_eq!(
        pool.status().size,
        1,
        "64 concurrent checks must share one pooled connection"
    );
}

#[tokio::test]
async fn a_store_from_a_connection_manager_works() {
    let server = RedisServer::shared();
    let client = redis::Client::open(server.url()).expect("url");
    let manager = redis::aio::ConnectionManager::new(client)
        .await
        .expect("manager");
    let store = RedisStore::from_connection_manager(manager)
        .with_key_prefix(unique_prefix())
        .with_timeout(Duration::from_secs(1));
    assert_eq!(store.timeout(), Duration::from_secs(1));
    let token = keys("mia", "t-1", None);
    store
        .insert_token(&token, from_now(Duration::from_secs(60)))
        .await
        .expect("insert");
    assert!(store.check(&token).await.expect("check").token_listed);
    assert_eq!(
        store.eviction_policies().await.expect("INFO"),
        vec!["noeviction".to_owned()]
    );
}

#[tokio::test]
async fn a_server_that_may_evict_revocations_is_refused_unless_allowed() {
    let server = RedisServer::start();
    server.cli(&["CONFIG", "SET", "maxmemory-policy", "volatile-lru"]);
    let config = RedisStoreConfig::from_url(server.url());
    match config.build().await {
        Err(BuildError::EvictingServer { policy }) => assert_eq!(policy, "volatile-lru"),
        other => panic!("expected EvictingServer, got {other:?}"),
    }
    config
        .with_allow_evicting_server(true)
        .build()
        .await
        .expect("allowed explicitly");
}

#[tokio::test]
async fn connecting_to_nothing_fails_with_an_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let result = RedisStoreConfig::from_url(format!("redis://127.0.0.1:{port}"))
        .with_connect_timeout(Duration::from_secs(2))
        .build()
        .await;
    assert!(
        matches!(
            result,
            Err(BuildError::Redis(_) | BuildError::ConnectTimeout(_))
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_check_moves_a_small_future() {
    // Each check's future is allocated and moved; a large one cost a fifth of the throughput
    // (a deadpool `get` future held inline made it 14 KB). Keep it small for every source.
    let server = RedisServer::shared();
    let pool = deadpool_redis::Config::from_url(server.url())
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .expect("pool");
    let stores = [store_on(server).await, RedisStore::from_pool(pool)];
    let token = keys("size", "t-1", Some("s-1"));
    for store in &stores {
        let check = store.check(&token);
        let size = std::mem::size_of_val(&*check);
        assert!(size < 2_048, "{store:?}: a check's future is {size} bytes");
        check.await.expect("check");
    }
}

/// Redis's count of socket reads it has processed (`INFO stats`).
/// A counter of the server's `INFO stats`, such as `total_reads_processed`.
fn server_stat(server: &RedisServer, name: &str) -> u64 {
    server
        .cli(&["INFO", "stats"])
        .lines()
        .find_map(|line| line.trim().strip_prefix(name)?.strip_prefix(':'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("INFO stats has {name}"))
}

// One worker, as the load bench's server has: there a task that sends a command wakes
// redis-rs's driver into the next slot, which writes that command alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn concurrent_checks_share_writes_and_each_gets_its_own_answer() {
    let server = RedisServer::start();
    let store = store_on(&server).await;
    let until = from_now(Duration::from_secs(60));
    let tokens: Vec<TokenKeys> = (0..200)
        .map(|n| keys(&format!("user-{n}"), &format!("t-{n}"), Some("s-1")))
        .collect();
    for token in tokens.iter().step_by(2) {
        store.insert_token(token, until).await.expect("insert");
    }
    // Make sure the connection exists before counting.
    store.check(&tokens[1]).await.expect("check");

    // Each check on its own task, as each request of a server is: the case where every
    // command used to be its own write.
    let store = Arc::new(store);
    let before = server_stat(&server, "total_reads_processed");
    let tasks: Vec<_> = tokens
        .iter()
        .map(|token| {
            let (store, token) = (Arc::clone(&store), *token);
            tokio::spawn(async move { store.check(&token).await })
        })
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.expect("the task ends"));
    }
    let reads = server_stat(&server, "total_reads_processed") - before;
    for (n, reply) in replies.into_iter().enumerate() {
        let reply = reply.expect("check");
        assert_eq!(
            reply.token_listed,
            n % 2 == 0,
            "check {n} got its own answer"
        );
    }
    // A handful of reads for the checks (161 before checks were batched), and one for `INFO`.
    assert!(
        reads <= 20,
        "200 concurrent checks took {reads} reads by the server"
    );
}

/// The checks of a batch are read by one `MGET` with the data-loss marker (several when the
/// batch has over 512 keys): a batch that mixes checks with and without a session and with
/// claim values gives each check its own records and none of another's, also across the
/// split, and Redis runs a handful of commands for 300 checks, not one per check.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_batch_of_mixed_checks_is_a_few_mgets_and_each_check_gets_its_own_records() {
    use jwt_revoke_core::{ClaimId, ClaimKeys, SessionId};
    let server = RedisServer::start();
    let store = store_on(&server).await;
    let until = from_now(Duration::from_secs(60));
    let base = SystemClock.now().as_micros() - 1_000_000_000;
    let at = |offset: usize| Timestamp::from_micros(base + offset as i64);
    let session =
        |n: usize| (!n.is_multiple_of(3)).then(|| SessionId::new(ISSUER, format!("s-{n}")).key());
    let device = |n: usize| ClaimId::new(ISSUER, "device", format!("d-{n}")).key();
    let tokens: Vec<TokenKeys> = (0..300)
        .map(|n| {
            let mut token = keys(&format!("user-{n}"), &format!("t-{n}"), None);
            token.session = session(n);
            if n.is_multiple_of(2) {
                let app = ClaimId::new(ISSUER, "azp", format!("app-{}", n % 5)).key();
                token = token.with_claims(ClaimKeys::new(&[device(n), app]).expect("two fit"));
            }
            token
        })
        .collect();
    for (n, token) in tokens.iter().enumerate() {
        if n.is_multiple_of(4) {
            store.insert_token(token, until).await.expect("insert");
        }
        if n.is_multiple_of(5) {
            store
                .raise_cutoff(token.user, at(n), until)
                .await
                .expect("user");
        }
        if let (true, Some(session)) = (n.is_multiple_of(7), token.session) {
            store
                .raise_cutoff(session, at(2 * n), until)
                .await
                .expect("session");
        }
        if n.is_multiple_of(6) {
            store
                .raise_cutoff(device(n), at(3 * n), until)
                .await
                .expect("claim");
        }
    }
    store.check(&tokens[1]).await.expect("the connection is up");

    let store = Arc::new(store);
    let before = server_stat(&server, "total_commands_processed");
    let tasks: Vec<_> = tokens
        .iter()
        .map(|token| {
            let (store, token) = (Arc::clone(&store), *token);
            tokio::spawn(async move { store.check(&token).await })
        })
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.expect("the task ends").expect("check"));
    }
    let commands = server_stat(&server, "total_commands_processed") - before;
    for (n, reply) in replies.into_iter().enumerate() {
        assert_eq!(reply.token_listed, n.is_multiple_of(4), "check {n}: token");
        assert_eq!(
            reply.user_cutoff,
            (n.is_multiple_of(5)).then(|| at(n)),
            "check {n}: user"
        );
        assert_eq!(
            reply.session_cutoff,
            (n.is_multiple_of(7) && !n.is_multiple_of(3)).then(|| at(2 * n)),
            "check {n}: session"
        );
        assert_eq!(
            reply.claim_cutoff,
            (n.is_multiple_of(6)).then(|| at(3 * n)),
            "check {n}: claims"
        );
    }
    // The checks' MGETs and the first INFO (one MGET per check before: 300).
    assert!(
        commands <= 20,
        "300 concurrent checks ran {commands} commands on the server"
    );
}

/// A store kept across runtimes (a `static` in tests, a runtime rebuilt by a framework): its
/// batcher is started again in the runtime that uses it, so checks never wait for a task that
/// died with its runtime.
#[test]
fn a_store_keeps_working_after_the_runtime_that_first_used_it_is_gone() {
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    };
    let server = RedisServer::shared();
    let token = keys("ines", "t-1", None);
    let first = runtime();
    let store = first.block_on(async {
        let store = RedisStoreConfig::from_url(server.url())
            .with_key_prefix(unique_prefix())
            .with_timeout(Duration::from_millis(300))
            .build()
            .await
            .expect("the test server accepts connections");
        store
            .insert_token(&token, from_now(Duration::from_secs(60)))
            .await
            .expect("insert");
        assert!(store.check(&token).await.expect("check").token_listed);
        store
    });
    drop(first);

    let second = runtime();
    second.block_on(async {
        // redis-rs's connection driver died with the first runtime too; its manager reconnects
        // on the first failure. What must not happen is every check timing out.
        let mut answers = Vec::new();
        for _ in 0..20 {
            let answer = store.check(&token).await;
            let done = answer.as_ref().is_ok_and(|reply| reply.token_listed);
            answers.push(
                answer
                    .map(|reply| reply.token_listed)
                    .map_err(|e| e.to_string()),
            );
            if done {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no check answered in the second runtime: {answers:?}");
    });
}

/// The engine's one limit on store calls follows the store's own (issue 13: one owner per
/// timeout): a tenth longer than a call may take, writes' wait for replicas included.
#[tokio::test]
async fn the_engines_store_timeout_follows_the_redis_stores_own() {
    let server = RedisServer::shared();
    let engine = |store: RedisStore| {
        Revocations::new(Arc::new(store), Policy::new(Duration::from_secs(600))).store_timeout()
    };
    let config = RedisStoreConfig::from_url(server.url()).with_key_prefix(unique_prefix());
    let plain = config
        .clone()
        .with_timeout(Duration::from_millis(300))
        .build()
        .await
        .expect("builds");
    assert_eq!(engine(plain), Duration::from_millis(330));
    let default = config.clone().build().await.expect("builds");
    assert_eq!(engine(default), Duration::from_millis(550));
}
