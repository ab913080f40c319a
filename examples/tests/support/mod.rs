//! The demo's contract over HTTP, shared by the tests that reach a demo over TCP.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use jwt_revoke_examples::demo::ISSUER;
use jwt_revoke_tower::jsonwebtoken::{self, Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// An HS256 token of the demos' issuer for `sub`, as any service holding `secret` could
/// mint: `jti` as given, `sid` derived from it, living ten minutes from now.
pub fn token(secret: &[u8], sub: &str, jti: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    let claims = json!({
        "iss": ISSUER, "sub": sub, "jti": jti, "sid": format!("session-{jti}"),
        "iat": now, "exp": now + 600,
    });
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("signs")
}

/// Logs in at `base`, reads `/me`, logs out, and checks that the token is refused after.
pub async fn login_me_logout_over_http(base: &str) {
    let client = reqwest::Client::new();
    let health = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let login: Value = client
        .post(format!("{base}/login"))
        .json(&json!({ "sub": "dave" }))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = login["access_token"].as_str().expect("a token");
    let me = client
        .get(format!("{base}/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);
    let logout = client
        .post(format!("{base}/logout"))
        .bearer_auth(token)
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), 204);
    let after = client
        .get(format!("{base}/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("me again");
    assert_eq!(after.status(), 401);
    assert_eq!(
        after.headers()["www-authenticate"],
        r#"Bearer error="invalid_token", error_description="the token has been revoked""#
    );
    let anonymous = client
        .get(format!("{base}/me"))
        .send()
        .await
        .expect("anonymous");
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
}

/// A demo binary running for a test; killed when dropped, whatever happens.
pub struct RunningDemo {
    child: Child,
    /// Where it listens: `http://127.0.0.1:<port>`.
    pub url: String,
    /// The line it announced itself with (where it listens, on which store).
    pub announcement: String,
}

impl Drop for RunningDemo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `binary` on a free port (`addr_var` = `127.0.0.1:0`) with `env` set, and reads the
/// address it prints.
pub fn start_binary(binary: &str, addr_var: &str, env: &[(&str, &str)]) -> RunningDemo {
    start_binary_with_stderr(binary, addr_var, env, Stdio::null())
}

/// [`start_binary`], with the binary's standard error written to `stderr` (a file a test
/// reads afterwards for panics, say).
pub fn start_binary_with_stderr(
    binary: &str,
    addr_var: &str,
    env: &[(&str, &str)],
    stderr: impl Into<Stdio>,
) -> RunningDemo {
    start_command(Command::new(binary), addr_var, env, stderr)
}

/// [`start_binary`], run from `dir` (relative paths in its settings are read from there).
pub fn start_binary_in(
    dir: &std::path::Path,
    binary: &str,
    addr_var: &str,
    env: &[(&str, &str)],
) -> RunningDemo {
    let mut command = Command::new(binary);
    command.current_dir(dir);
    start_command(command, addr_var, env, Stdio::null())
}

fn start_command(
    mut command: Command,
    addr_var: &str,
    env: &[(&str, &str)],
    stderr: impl Into<Stdio>,
) -> RunningDemo {
    command
        .env(addr_var, "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(stderr);
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("the demo binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the demo prints where it listens");
    let url = line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    RunningDemo {
        child,
        url,
        announcement: line,
    }
}
