//! The README's run command, as a user runs it: the `demo` binary, configured by environment.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// Kills the demo when the test ends, whatever happens.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_demo(store: &str) -> (Demo, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_demo"))
        .env("DEMO_ADDR", "127.0.0.1:0")
        .env("REVOCATION_STORE", store)
        .env("DEMO_JWT_SECRET", "binary test secret")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the demo binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let demo = Demo(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the demo prints where it listens");
    let url = line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    (demo, url)
}

#[tokio::test]
async fn the_demo_binary_listens_where_told_and_serves_login_and_logout() {
    let (_demo, base) = start_demo("memory");
    support::login_me_logout_over_http(&base).await;
}

#[tokio::test]
async fn the_demo_binary_runs_on_redis_from_the_store_setting_alone() {
    let server = jwt_revoke_redis::test_support::RedisServer::start();
    let (_demo, base) = start_demo(&server.url());
    support::login_me_logout_over_http(&base).await;
    let keys = server.cli(&["DBSIZE"]);
    assert_ne!(keys.trim(), "0", "the revocation went to Redis");
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
