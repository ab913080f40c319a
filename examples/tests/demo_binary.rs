//! The README's run commands, as a user runs them: the `demo`, `demo-grpc` and `demo-hyper`
//! binaries, configured by environment, reached over TCP.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{RunningDemo, start_binary, start_binary_in};

const SECRET: &str = "binary test secret";

/// Starts `binary` listening on a free port (`addr_var`), on `store`.
fn start(binary: &str, addr_var: &str, store: &str) -> RunningDemo {
    start_binary(
        binary,
        addr_var,
        &[("REVOCATION_STORE", store), ("DEMO_JWT_SECRET", SECRET)],
    )
}

#[tokio::test]
async fn the_demo_binary_listens_where_told_and_serves_login_and_logout() {
    let demo = start(env!("CARGO_BIN_EXE_demo"), "DEMO_ADDR", "memory");
    let base = demo.url.clone();
    support::login_me_logout_over_http(&base).await;
}

#[tokio::test]
async fn the_demo_binary_runs_on_redis_from_the_store_setting_alone() {
    let server = jwt_revoke_redis::test_support::RedisServer::start();
    let demo = start(env!("CARGO_BIN_EXE_demo"), "DEMO_ADDR", &server.url());
    let base = demo.url.clone();
    support::login_me_logout_over_http(&base).await;
    let keys = server.cli(&["DBSIZE"]);
    assert_ne!(keys.trim(), "0", "the revocation went to Redis");
}

/// The demo announces its store; a password in `REVOCATION_STORE` stays out of it.
#[tokio::test]
async fn the_demo_announces_its_redis_store_without_the_password() {
    let server = jwt_revoke_redis::test_support::RedisServer::start();
    server.cli(&["CONFIG", "SET", "requirepass", "s3cret-pa55word"]);
    let url = server
        .url()
        .replacen("redis://", "redis://:s3cret-pa55word@", 1);
    let demo = start(env!("CARGO_BIN_EXE_demo"), "DEMO_ADDR", &url);
    assert!(
        !demo.announcement.contains("s3cret-pa55word"),
        "{}",
        demo.announcement
    );
    assert!(
        demo.announcement.contains("***@127.0.0.1"),
        "{}",
        demo.announcement
    );
    support::login_me_logout_over_http(&demo.url).await;
}

#[test]
fn an_unknown_store_setting_stops_the_demo_with_a_clear_message() {
    let output = Command::new(env!("CARGO_BIN_EXE_demo"))
        .env("DEMO_ADDR", "127.0.0.1:0")
        .env("REVOCATION_STORE", "carrier-pigeon://loft")
        .output()
        .expect("the demo binary runs");
    assert!(
        !output.status.success(),
        "the demo must refuse an unknown store"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("REVOCATION_STORE"), "{stderr}");
}

#[tokio::test]
async fn the_demo_binary_runs_on_redis_with_a_local_replica_from_settings_alone() {
    let server = jwt_revoke_redis::test_support::RedisServer::start();
    let demo = start_binary(
        env!("CARGO_BIN_EXE_demo"),
        "DEMO_ADDR",
        &[
            ("REVOCATION_STORE", &server.url()),
            ("REVOCATION_LOCAL_REPLICA", "on"),
            ("DEMO_JWT_SECRET", SECRET),
        ],
    );
    let base = demo.url.clone();
    support::login_me_logout_over_http(&base).await;
    let clients = server.cli(&["CLIENT", "LIST", "TYPE", "pubsub"]);
    assert!(
        clients.contains("sub=1"),
        "the replica subscribed: {clients}"
    );
}

#[test]
fn a_replica_setting_that_is_neither_on_nor_off_stops_the_demo() {
    let output = Command::new(env!("CARGO_BIN_EXE_demo"))
        .env("DEMO_ADDR", "127.0.0.1:0")
        .env("REVOCATION_LOCAL_REPLICA", "maybe")
        .output()
        .expect("the demo binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("REVOCATION_LOCAL_REPLICA"), "{stderr}");
}

#[tokio::test]
async fn the_grpc_demo_binary_serves_health_behind_the_layer() {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    let demo = start(env!("CARGO_BIN_EXE_demo-grpc"), "DEMO_GRPC_ADDR", "memory");
    let url = demo.url.clone();
    let channel = tonic::transport::Channel::from_shared(url)
        .expect("a valid uri")
        .connect()
        .await
        .expect("connects");
    let mut health = HealthClient::new(channel);
    let status = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect_err("no token");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: String::new(),
    });
    let token = support::token(SECRET.as_bytes(), "frank", "t-1");
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii"),
    );
    let reply = health.check(request).await.expect("a valid token passes");
    assert_eq!(reply.into_inner().status, 1, "SERVING");
}

#[tokio::test]
async fn the_hyper_demo_binary_serves_the_layer_over_tcp() {
    let demo = start(
        env!("CARGO_BIN_EXE_demo-hyper"),
        "DEMO_HYPER_ADDR",
        "memory",
    );
    let base = demo.url.clone();
    let client = reqwest::Client::new();
    let health = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200, "the health check is bypassed");
    let anonymous = client.get(format!("{base}/me")).send().await.expect("me");
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");

    let token = support::token(SECRET.as_bytes(), "grace", "t-1");
    let me = client
        .get(format!("{base}/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);
    let claims: serde_json::Value = me.json().await.expect("json claims");
    assert_eq!(claims["sub"], "grace");
    let logout = client
        .post(format!("{base}/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), 204);
    let after = client
        .get(format!("{base}/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me");
    assert_eq!(after.status(), 401);
    assert_eq!(
        after.headers()["www-authenticate"],
        r#"Bearer error="invalid_token", error_description="the token has been revoked""#
    );
}

/// A directory of its own for a test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("jwt-revoke-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        TempDir(dir)
    }

    fn write(&self, name: &str, contents: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("writes");
        path.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A layer configuration for the demo: memory store, the demo's issuer, HS256 with the
/// secret in `secret_file`; `policy_extra` added to its policy.
fn demo_config(secret_file: &str, policy_extra: &str) -> String {
    format!(
        r#"
[store]
backend = "memory"

[policy]
max_token_lifetime = "3600s"
{policy_extra}

[[issuers]]
iss = "jwt-revoke-demo"
algorithms = ["HS256"]

[[issuers.keys]]
secret_file = "{secret_file}"
"#
    )
}

/// Runs the demo binary to its end with `env`; its exit status and standard error.
fn run_to_failure(env: &[(&str, &str)]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_demo"));
    command.env("DEMO_ADDR", "127.0.0.1:0");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("the demo binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "the demo must refuse: {stderr}");
    stderr
}

#[tokio::test]
async fn the_demo_binary_reads_its_whole_layer_from_demo_config() {
    let dir = TempDir::new("demo-config");
    let secret_file = dir.write("secret", "a secret of the test's own, 32 bytes or more\n");
    let config = dir.write("demo.toml", &demo_config(&secret_file, "leeway = \"5s\""));
    let demo = start_binary(
        env!("CARGO_BIN_EXE_demo"),
        "DEMO_ADDR",
        &[("DEMO_CONFIG", &config)],
    );
    let base = demo.url.clone();
    // The demo's login signs with the file's secret; the file's layer accepts, then refuses.
    support::login_me_logout_over_http(&base).await;
    // A token signed with the development secret (the demo's default) is refused: the
    // file's secret is the only key.
    let stranger = support::token(
        jwt_revoke_examples::demo::DEVELOPMENT_SECRET.as_bytes(),
        "eve",
        "t-1",
    );
    let me = reqwest::Client::new()
        .get(format!("{base}/me"))
        .bearer_auth(stranger)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 401);
}

#[tokio::test]
async fn the_example_demo_toml_runs_the_demo_from_the_workspace_root() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let demo = start_binary_in(
        &root,
        env!("CARGO_BIN_EXE_demo"),
        "DEMO_ADDR",
        &[("DEMO_CONFIG", "examples/demo.toml")],
    );
    let base = demo.url.clone();
    support::login_me_logout_over_http(&base).await;
    let development = std::fs::read_to_string(root.join("examples/dev-secret.txt")).expect("reads");
    assert_eq!(
        development.trim_end_matches('\n'),
        jwt_revoke_examples::demo::DEVELOPMENT_SECRET,
        "the example's secret file holds the public development secret, nothing else"
    );
}

#[test]
fn a_broken_demo_config_stops_the_demo_naming_the_setting() {
    let dir = TempDir::new("demo-config-broken");
    let secret_file = dir.write("secret", "a secret of the test's own, 32 bytes or more");
    let short_file = dir.write("short", "too short");
    for (config, setting, why) in [
        (
            demo_config(&secret_file, "leeway = \"soon\""),
            "policy.leeway",
            "invalid duration \"soon\"",
        ),
        (
            demo_config(&short_file, ""),
            "issuers[0].keys[0].secret_file",
            "is 9 bytes; HS256 needs at least 32",
        ),
        (
            demo_config(&secret_file, "")
                .replace("iss = \"jwt-revoke-demo\"", "iss = \"https://other.test\""),
            "issuers",
            "the demo issues tokens as \"jwt-revoke-demo\"",
        ),
        ("[store\nbackend = \"memory\"".to_owned(), "line 1", ""),
    ] {
        let file = dir.write("broken.toml", &config);
        let stderr = run_to_failure(&[("DEMO_CONFIG", &file)]);
        assert!(
            stderr.contains(&format!("DEMO_CONFIG {file}: {setting}: ")),
            "{stderr}"
        );
        assert!(stderr.contains(why), "{stderr}");
        assert!(!stderr.contains("too short"), "no secret in {stderr}");
    }
    let stderr = run_to_failure(&[(
        "DEMO_CONFIG",
        &dir.0.join("absent.toml").display().to_string(),
    )]);
    assert!(stderr.contains("cannot read DEMO_CONFIG"), "{stderr}");
}

#[test]
fn demo_config_and_the_variables_it_replaces_are_refused_together() {
    let dir = TempDir::new("demo-config-conflict");
    let secret_file = dir.write("secret", "a secret of the test's own, 32 bytes or more");
    let config = dir.write("demo.toml", &demo_config(&secret_file, ""));
    let stderr = run_to_failure(&[
        ("DEMO_CONFIG", &config),
        ("REVOCATION_STORE", "memory"),
        ("DEMO_JWT_SECRET", SECRET),
    ]);
    assert!(
        stderr.contains("unset REVOCATION_STORE and DEMO_JWT_SECRET (or DEMO_CONFIG)"),
        "{stderr}"
    );
}
