//! Running the built `jwt-revoke` binary, minting tokens, reading the store as a service would.

#![allow(dead_code, unreachable_pub)]

use std::io::Write as _;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jwt_revoke::jsonwebtoken::{EncodingKey, Header, encode};
use jwt_revoke::{Policy, RedisStoreConfig, Revocations};
use serde_json::Value;

/// The secret the tests sign with.
pub const SECRET: &[u8] = b"a test secret of thirty-two bytes or more";

/// What a run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The one JSON object printed on stdout.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|err| panic!("stdout is not one JSON object ({err}): {self:?}"))
    }

    /// The JSON error printed on stderr.
    pub fn error_json(&self) -> Value {
        let line = self.stderr.lines().last().unwrap_or_default();
        serde_json::from_str(line)
            .unwrap_or_else(|err| panic!("stderr's last line is not JSON ({err}): {self:?}"))
    }

    /// Everything printed.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// A command for the binary, with none of the caller's environment settings that it reads.
pub fn command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jwt-revoke"));
    command
        .args(args)
        .env_remove("REVOCATION_STORE")
        .env_remove("JWT_REVOKE_CONFIG")
        .env_remove("REVOCATION_MAX_TOKEN_LIFETIME")
        .stdin(Stdio::null());
    command
}

fn finish(output: Output) -> Run {
    Run {
        code: output.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(output.stdout).expect("UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("UTF-8"),
    }
}

/// Runs the binary with `args`.
pub fn run(args: &[&str]) -> Run {
    finish(command(args).output().expect("run jwt-revoke"))
}

/// Runs the binary with `args`, `stdin` on its standard input.
pub fn run_with_stdin(args: &[&str], stdin: &str) -> Run {
    let mut child = command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run jwt-revoke");
    let written = child
        .stdin
        .take()
        .expect("piped")
        .write_all(stdin.as_bytes());
    // A command that stops before reading (a usage error) closes its input: not a failure.
    if let Err(err) = written {
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::BrokenPipe,
            "write the token: {err}"
        );
    }
    finish(child.wait_with_output().expect("wait"))
}

/// The current time in whole seconds.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

/// An HS256 token with these claims.
pub fn token(claims: Value) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .expect("encode")
}

/// The engine a service with `lifetime` would have on this Redis.
pub async fn engine(url: &str, lifetime: Duration) -> Revocations {
    let store = RedisStoreConfig::from_url(url)
        .build()
        .await
        .expect("the test's Redis answers");
    Revocations::new(Arc::new(store), Policy::new(lifetime))
}
