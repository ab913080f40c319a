//! `StoreConfig` from every URL form and from TOML and JSON, each bad value with the error it
//! gets, and the stores it builds — a Redis one against a real server this test starts.

use std::time::Duration;

use jwt_revoke::redis::test_support::{RedisServer, unique_prefix};
use jwt_revoke::{
    MemoryStoreConfig, Policy, RedisStoreConfig, ReplicaConfig, Revocations, StoreConfig,
    StoreConfigError,
};

fn parse(url: &str) -> Result<StoreConfig, String> {
    url.parse::<StoreConfig>().map_err(|err| err.to_string())
}

fn json(text: &str) -> Result<StoreConfig, String> {
    serde_json::from_str(text).map_err(|err| err.to_string())
}

fn toml(text: &str) -> Result<StoreConfig, String> {
    toml::from_str(text).map_err(|err| err.to_string())
}

#[test]
fn every_url_form_names_its_store() {
    for memory in ["memory", "MEMORY", "  memory\n"] {
        assert_eq!(parse(memory), Ok(StoreConfig::default()), "{memory:?}");
    }
    for (url, expected) in [
        (
            "redis://cache:6379",
            RedisStoreConfig::from_url("redis://cache:6379"),
        ),
        (
            " redis://:pw@cache/2 ",
            RedisStoreConfig::from_url("redis://:pw@cache/2"),
        ),
        (
            "rediss://cache:6380",
            RedisStoreConfig::from_url("rediss://cache:6380"),
        ),
        ("REDIS://cache", RedisStoreConfig::from_url("REDIS://cache")),
        (
            "redis://a:7000, redis://b:7000,redis://c:7000",
            RedisStoreConfig::from_cluster_nodes([
                "redis://a:7000",
                "redis://b:7000",
                "redis://c:7000",
            ]),
        ),
    ] {
        assert_eq!(parse(url), Ok(StoreConfig::Redis(expected)), "{url:?}");
    }
}

#[test]
fn a_url_of_no_backend_is_refused_with_the_forms_that_are_accepted() {
    for bad in [
        "",
        "   ",
        "postgres://db/revocations",
        "redis://",
        "redis:/cache",
        "cache:6379",
        "memory,redis://cache",
        "redis://a:7000,http://b:7000",
        "redis://a:7000,,redis://b:7000",
    ] {
        let err = parse(bad).expect_err(bad);
        assert!(err.starts_with("unsupported store URL"), "{bad:?}: {err}");
        assert!(
            err.contains("use `memory`, `redis://host:port`"),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn the_same_settings_read_from_toml_and_json() {
    let memory = MemoryStoreConfig::default();
    assert_eq!(
        toml(r#"backend = "memory""#),
        Ok(StoreConfig::Memory(memory.clone()))
    );
    assert_eq!(
        json(r#"{"backend": "memory"}"#),
        Ok(StoreConfig::Memory(memory))
    );

    let from_toml = toml(
        r#"
        backend = "memory"
        capacity = 5000
        shards = 8
        sweep_period = "10s"
        "#,
    )
    .expect("reads");
    let from_json = json(r#"{"backend":"memory","capacity":5000,"shards":8,"sweep_period":10000}"#)
        .expect("reads");
    assert_eq!(from_toml, from_json);
    let StoreConfig::Memory(config) = from_toml else {
        panic!("a memory store")
    };
    assert_eq!(
        (config.capacity, config.shards, config.sweep_period),
        (Some(5000), 8, Duration::from_secs(10))
    );

    let redis = toml(
        r#"
        backend = "redis"
        url = "redis://:s3cret@cache:6379/1"
        key_prefix = "billing:revoked:"
        timeout = "250ms"
        [local_replica]
        max_staleness = "1s"
        "#,
    )
    .expect("reads");
    let StoreConfig::Redis(config) = &redis else {
        panic!("a Redis store")
    };
    assert_eq!(config.timeout, Duration::from_millis(250));
    assert_eq!(config.key_prefix.as_str(), "billing:revoked:");
    assert_eq!(
        config
            .local_replica
            .as_ref()
            .map(|replica| replica.max_staleness),
        Some(Duration::from_secs(1))
    );
    assert!(!format!("{redis:?}").contains("s3cret"), "{redis:?}");

    let cluster =
        json(r#"{"backend":"redis","cluster_nodes":["redis://a:7000","redis://b:7000"]}"#)
            .expect("reads");
    assert_eq!(
        cluster,
        StoreConfig::Redis(RedisStoreConfig::from_cluster_nodes([
            "redis://a:7000",
            "redis://b:7000"
        ]))
    );
}

#[test]
fn each_bad_setting_is_refused_with_its_name_and_what_is_accepted() {
    for (bad, why) in [
        (r#"{"capacity": 10}"#, "missing field `backend`"),
        (
            r#"{"backend": "postgres"}"#,
            "unknown variant `postgres`, expected `memory` or `redis`",
        ),
        (
            r#"{"backend": "memory", "capacty": 10}"#,
            "unknown field `capacty`",
        ),
        (
            r#"{"backend": "memory", "capacity": 10, "unbounded": true}"#,
            "`capacity` and `unbounded`",
        ),
        (
            r#"{"backend": "memory", "shards": 0}"#,
            "`shards` must be at least 1",
        ),
        (
            r#"{"backend": "memory", "sweep_period": "often"}"#,
            "invalid duration \"often\"",
        ),
        (
            r#"{"backend": "redis", "url": "redis://r", "time_out": "1s"}"#,
            "unknown field `time_out`",
        ),
        (
            r#"{"backend": "redis", "url": "redis://r", "timeout": 0}"#,
            "zero",
        ),
        (
            r#"{"backend": "redis", "url": "redis://r", "key_prefix": "{x}"}"#,
            "key prefix must not contain '{'",
        ),
        (
            r#"{"backend": "redis", "url": "redis://r", "local_replica": {"heartbeet": "1s"}}"#,
            "unknown field `heartbeet`",
        ),
    ] {
        let err = json(bad).expect_err(bad);
        assert!(err.contains(why), "{bad}: {err}");
    }
    // A value of the wrong type says what was expected (serde's tagged enums keep no field
    // names in such errors: the text is serde's).
    let err = toml("backend = \"memory\"\ncapacity = \"lots\"").expect_err("a string capacity");
    assert!(
        err.contains(r#"invalid type: string "lots", expected usize"#),
        "{err}"
    );
}

#[test]
fn a_local_replica_is_for_one_redis_server_only() {
    let replica = ReplicaConfig::default();
    let one = parse("redis://cache").expect("parses");
    let StoreConfig::Redis(config) = one.with_local_replica(replica.clone()).expect("one server")
    else {
        panic!("a Redis store")
    };
    assert!(config.local_replica.is_some());
    for (config, why) in [
        (StoreConfig::default(), "not for the memory store"),
        (
            parse("redis://a,redis://b").expect("parses"),
            "not for a Redis Cluster",
        ),
    ] {
        let err = config.with_local_replica(replica.clone()).expect_err(why);
        assert!(err.to_string().contains(why), "{err}");
    }
}

async fn revoke_and_check(config: &StoreConfig) {
    use jwt_revoke::{RegisteredClaims, TokenRevocation, Verdict};
    let store = config.build().await.expect("builds");
    let revocations = Revocations::new(store, Policy::new(Duration::from_secs(600)));
    let now = revocations.clock().now().as_secs_floor();
    let mut claims = RegisteredClaims::new();
    claims.iss = Some("https://issuer.test".into());
    claims.sub = Some("alice".into());
    claims.jti = Some("t-1".into());
    claims.iat = Some(jwt_revoke::NumericDate::from_secs(now));
    claims.exp = Some(jwt_revoke::NumericDate::from_secs(now + 600));
    let facts = revocations
        .inspect(&claims, r#"{"sub":"alice"}"#)
        .expect("a valid token");
    assert_eq!(
        revocations.check(&facts).await.expect("answers"),
        Verdict::Valid
    );
    let revoked = revocations.revoke_token(&facts).await.expect("revokes");
    assert!(
        matches!(revoked, TokenRevocation::Recorded { .. }),
        "{revoked:?}"
    );
    assert!(matches!(
        revocations.check(&facts).await.expect("answers"),
        Verdict::Revoked(_)
    ));
}

#[tokio::test]
async fn the_memory_store_it_builds_revokes() {
    revoke_and_check(&parse("memory").expect("parses")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_stores_it_builds_revoke_on_a_real_server() {
    let server = RedisServer::start();
    // A prefix of its own for each store, so that each starts empty.
    let with_prefix = |config: StoreConfig| match config {
        StoreConfig::Redis(redis) => StoreConfig::Redis(redis.with_key_prefix(unique_prefix())),
        other => other,
    };
    let one = with_prefix(parse(&server.url()).expect("parses"));
    revoke_and_check(&one).await;
    let replicated = with_prefix(
        parse(&server.url())
            .expect("parses")
            .with_local_replica(ReplicaConfig::default())
            .expect("one server"),
    );
    revoke_and_check(&replicated).await;
}

#[tokio::test]
async fn a_redis_store_that_cannot_be_reached_is_a_build_error() {
    let err = match parse("redis://127.0.0.1:1").expect("parses") {
        StoreConfig::Redis(config) => {
            StoreConfig::Redis(config.with_connect_timeout(Duration::from_millis(300)))
        }
        other => other,
    }
    .build()
    .await
    .expect_err("nothing listens on port 1");
    assert!(matches!(err, StoreConfigError::Redis(_)), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("the Redis revocation store could not be built"),
        "{err}"
    );
}
