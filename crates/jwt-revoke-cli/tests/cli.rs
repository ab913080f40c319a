//! The built `jwt-revoke` binary against a real redis-server that each test starts: every
//! command's output and exit code, from the operator's side (what they type, what they read)
//! and the attacker's (a token or a password that must never be printed).

mod support;

use std::time::{Duration, Instant};

use jwt_revoke::{TokenId, TokenKeys, UserId};
use jwt_revoke_redis::test_support::RedisServer;
use serde_json::json;
use support::{Run, now, run, run_with_stdin, token};

/// The policy the tests' services have.
const LIFETIME: &str = "15m";

fn with_store<'a>(url: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend(["--store", url, "--max-token-lifetime", LIFETIME]);
    all
}

fn alice_token(jti: &str) -> String {
    let now = now();
    token(json!({
        "iss": "https://idp.example", "sub": "alice", "jti": jti, "sid": "login-1",
        "azp": "mobile-app", "iat": now, "exp": now + 600,
    }))
}

fn assert_no_secret(run: &Run, secret: &str) {
    assert!(!run.all().contains(secret), "printed a secret: {run:?}");
}

#[test]
fn a_token_revoked_by_revoke_token_is_refused_by_check_for_its_own_record() {
    let server = RedisServer::start();
    let url = server.url();
    let leaked = alice_token("leaked-1");

    let before = run_with_stdin(&with_store(&url, &["check", "--json", "-"]), &leaked);
    assert_eq!(before.code, 0, "{before:?}");
    assert_eq!(before.json()["refused"], false);
    assert_eq!(before.json()["decision"], serde_json::Value::Null);

    let revoked = run_with_stdin(
        &with_store(&url, &["revoke", "token", "--json", "-"]),
        &leaked,
    );
    assert_eq!(revoked.code, 0, "{revoked:?}");
    let report = revoked.json();
    assert_eq!(report["outcome"], "recorded");
    assert_eq!(report["token"]["jti"], "leaked-1");
    assert_eq!(report["token"]["sub"], "alice");
    assert_eq!(report["signature_verified"], false);

    // Human output, the token given as an argument this time.
    let after = run(&with_store(&url, &["check", &leaked]));
    assert_eq!(after.code, 3, "refused: exit 3 {after:?}");
    assert!(
        after
            .stdout
            .starts_with("REFUSED: the token has been revoked"),
        "{after:?}"
    );
    assert!(
        after.stdout.contains("its own revocation record"),
        "{after:?}"
    );
    let json = run_with_stdin(&with_store(&url, &["check", "--json", "-"]), &leaked).json();
    assert_eq!(json["decision"], "token_record");
    assert_eq!(json["records"]["token_record"], true);
    assert_eq!(json["refused_by"], "record");
    // Refused until its expiry plus the default 60 s leeway.
    assert!(json["refused_until"].as_str().is_some());

    // Another token of alice is untouched.
    let other = run_with_stdin(&with_store(&url, &["check", "-"]), &alice_token("other"));
    assert_eq!(other.code, 0, "{other:?}");

    for run in [&before, &revoked, &after] {
        assert_no_secret(run, &leaked);
        assert_no_secret(run, leaked.rsplit('.').next().expect("a signature"));
    }
}

#[test]
fn revoke_user_then_check_names_the_user_cutoff_and_a_later_token_is_accepted() {
    let server = RedisServer::start();
    let url = server.url();
    let earlier = alice_token("t-1");

    let revoked = run(&with_store(
        &url,
        &[
            "revoke",
            "user",
            "--iss",
            "https://idp.example",
            "--sub",
            "alice",
            "--json",
        ],
    ));
    assert_eq!(revoked.code, 0, "{revoked:?}");
    let report = revoked.json();
    assert_eq!(report["sub"], "alice");
    let first_valid_iat = report["cutoff"]["first_valid_iat"]
        .as_i64()
        .expect("the first valid iat");
    assert!(report["kept_until"].as_str().is_some());

    let check = run_with_stdin(&with_store(&url, &["check", "--json", "-"]), &earlier);
    assert_eq!(check.code, 3, "{check:?}");
    let json = check.json();
    assert_eq!(json["decision"], "user_cutoff");
    assert_eq!(
        json["description"],
        "the tokens of this user have been revoked"
    );
    assert_eq!(json["cutoff"]["first_valid_iat"], first_valid_iat);
    let human = run_with_stdin(&with_store(&url, &["check", "-"]), &earlier);
    assert!(human.stdout.contains("its user's cut-off at "), "{human:?}");

    // The documented way back in: a token with iat >= first_valid_iat, accepted as soon as
    // the clock is within the 2 s allowance of it.
    let fresh = token(json!({
        "iss": "https://idp.example", "sub": "alice", "jti": "t-2",
        "iat": first_valid_iat, "exp": first_valid_iat + 600,
    }));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let check = run_with_stdin(&with_store(&url, &["check", "--json", "-"]), &fresh);
        if check.code == 0 {
            assert_eq!(
                check.json()["records"]["user_cutoff"]["first_valid_iat"],
                first_valid_iat
            );
            break;
        }
        // Until then: refused by its iat (in the future), never by the cut-off.
        assert_eq!(check.json()["refused_by"], "claims", "{check:?}");
        assert!(Instant::now() < deadline, "{check:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn sessions_claim_values_and_jtis_are_revoked_and_explained() {
    let server = RedisServer::start();
    let url = server.url();
    let policy = ["--claim-cutoff", "azp"];
    let args = |extra: &[&'static str]| -> Vec<String> {
        let mut all: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        all.extend(["--store", &url, "--max-token-lifetime", LIFETIME].map(str::to_owned));
        all.extend(policy.map(str::to_owned));
        all
    };
    let run_args = |extra: &[&'static str], stdin: Option<&str>| {
        let owned = args(extra);
        let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
        match stdin {
            Some(text) => run_with_stdin(&refs, text),
            None => run(&refs),
        }
    };

    // A session.
    let session_token = alice_token("s-token");
    let revoked = run_args(
        &[
            "revoke",
            "session",
            "--iss",
            "https://idp.example",
            "--sid",
            "login-1",
            "--json",
        ],
        None,
    );
    assert_eq!(revoked.code, 0, "{revoked:?}");
    assert_eq!(revoked.json()["sid"], "login-1");
    let check = run_args(&["check", "--json", "-"], Some(&session_token));
    assert_eq!(check.code, 3);
    assert_eq!(check.json()["decision"], "session_cutoff");

    // A claim value: every token of the mobile app.
    let bob = token(json!({
        "iss": "https://idp.example", "sub": "bob", "jti": "b-1", "azp": "mobile-app",
        "iat": now(), "exp": now() + 600,
    }));
    assert_eq!(run_args(&["check", "-"], Some(&bob)).code, 0);
    let revoked = run_args(
        &[
            "revoke",
            "claim",
            "--iss",
            "https://idp.example",
            "--claim",
            "azp",
            "--value",
            "mobile-app",
        ],
        None,
    );
    assert_eq!(revoked.code, 0, "{revoked:?}");
    assert!(
        revoked
            .stdout
            .starts_with("revoked: every token of claim azp=\"mobile-app\""),
        "{revoked:?}"
    );
    let check = run_args(&["check", "--json", "-"], Some(&bob));
    assert_eq!(check.code, 3, "{check:?}");
    assert_eq!(check.json()["decision"], "claim_cutoff");
    assert_eq!(check.json()["claim"], "azp=mobile-app");

    // A claim the policy does not read is refused, never acknowledged.
    let refused = run(&with_store(
        &url,
        &[
            "revoke",
            "claim",
            "--iss",
            "https://idp.example",
            "--claim",
            "tenant",
            "--value",
            "t",
        ],
    ));
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("NOT revoked: the policy gives no cut-offs to the tenant claim"),
        "{refused:?}"
    );

    // A jti, with an explicit expiry; the token carrying it is then refused by its record.
    let carol = token(json!({
        "iss": "https://idp.example", "sub": "carol", "jti": "c-9",
        "iat": now(), "exp": now() + 300,
    }));
    let exp = (now() + 300).to_string();
    let owned = args(&[
        "revoke",
        "jti",
        "--iss",
        "https://idp.example",
        "--sub",
        "carol",
        "--jti",
        "c-9",
        "--json",
    ]);
    let mut refs: Vec<&str> = owned.iter().map(String::as_str).collect();
    refs.extend(["--expires-at", &exp]);
    let revoked = run(&refs);
    assert_eq!(revoked.code, 0, "{revoked:?}");
    assert_eq!(revoked.json()["outcome"], "recorded");
    let check = run_args(&["check", "--json", "-"], Some(&carol));
    assert_eq!(check.code, 3);
    assert_eq!(check.json()["decision"], "token_record");
    // The same jti of another user is another token.
    let dave = token(json!({
        "iss": "https://idp.example", "sub": "dave", "jti": "c-9", "iat": now(), "exp": now() + 300,
    }));
    assert_eq!(run_args(&["check", "-"], Some(&dave)).code, 0);

    // An expired jti needs no record.
    let past = (now() - 3_600).to_string();
    let owned = args(&[
        "revoke", "jti", "--iss", "i", "--sub", "s", "--jti", "old", "--json",
    ]);
    let mut refs: Vec<&str> = owned.iter().map(String::as_str).collect();
    refs.extend(["--expires-at", &past]);
    let expired = run(&refs);
    assert_eq!(expired.code, 0, "{expired:?}");
    assert_eq!(expired.json()["outcome"], "already_expired");
}

#[test]
fn verify_with_checks_the_signature_with_the_keys_algorithm_never_the_tokens() {
    let server = RedisServer::start();
    let url = server.url();
    let dir = std::env::temp_dir().join(format!("jwt-revoke-cli-verify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let right = dir.join("right.secret");
    let wrong = dir.join("wrong.secret");
    std::fs::write(&right, [support::SECRET, b"\n"].concat()).expect("write");
    std::fs::write(&wrong, b"another secret of thirty-two bytes or more\n").expect("write");
    let leaked = alice_token("v-1");

    let args = |key: &std::path::Path| -> Vec<String> {
        let key = key.display().to_string();
        with_store(
            &url,
            &["revoke", "token", "--json", "--verify-with", &key, "-"],
        )
        .into_iter()
        .map(str::to_owned)
        .collect()
    };
    let refs = |owned: &[String]| owned.iter().map(String::clone).collect::<Vec<_>>();

    let owned = refs(&args(&wrong));
    let refused = run_with_stdin(
        &owned.iter().map(String::as_str).collect::<Vec<_>>(),
        &leaked,
    );
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.error_json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("does not verify") && e.contains("the signature is wrong"))
    );
    assert_no_secret(&refused, &leaked);
    // Nothing was recorded.
    assert_eq!(
        run_with_stdin(&with_store(&url, &["check", "-"]), &leaked).code,
        0
    );

    let owned = refs(&args(&right));
    let revoked = run_with_stdin(
        &owned.iter().map(String::as_str).collect::<Vec<_>>(),
        &leaked,
    );
    assert_eq!(revoked.code, 0, "{revoked:?}");
    assert_eq!(revoked.json()["signature_verified"], true);

    // A token whose header says `none`, unsigned: an HMAC key verifies HS* only.
    let unsigned = {
        let parts: Vec<&str> = leaked.split('.').collect();
        format!("eyJhbGciOiJub25lIn0.{}.", parts[1])
    };
    let owned = refs(&args(&right));
    let refused = run_with_stdin(
        &owned.iter().map(String::as_str).collect::<Vec<_>>(),
        &unsigned,
    );
    assert_eq!(refused.code, 2, "{refused:?}");
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn bad_inputs_exit_2_with_a_clear_message_and_never_echo_the_token() {
    let server = RedisServer::start();
    let url = server.url();
    let marker = "s3cr3t-T0KEN-material";
    for (garbage, says) in [
        (marker.to_owned(), "not a JWT"),
        (format!("{marker}.{marker}.{marker}"), "is not base64url"),
        (format!("eyJ9.{marker}.x"), "not base64url"),
        ("a.b.c.d.e".to_owned(), "encrypted token (JWE"),
        // base64url of `{"sub":"s3cr3t-T0KEN-material"` (no closing brace)
        (
            "e30.eyJzdWIiOiJzM2NyM3QtVDBLRU4tbWF0ZXJpYWwi.x".to_owned(),
            "not a JSON object",
        ),
    ] {
        for command in [&["check", "-"][..], &["revoke", "token", "-"]] {
            let result = run_with_stdin(&with_store(&url, command), &garbage);
            assert_eq!(result.code, 2, "{garbage}: {result:?}");
            assert!(result.stderr.contains(says), "{garbage}: {result:?}");
            assert_no_secret(&result, marker);
        }
    }
    // A token whose claims the policy refuses: a lifetime longer than the services accept.
    let long = token(json!({"iss": "i", "sub": "s", "iat": now(), "exp": now() + 86_400}));
    let refused = run_with_stdin(
        &with_store(&url, &["revoke", "token", "--json", "-"]),
        &long,
    );
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.error_json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("lives longer"))
    );
    let check = run_with_stdin(&with_store(&url, &["check", "--json", "-"]), &long);
    assert_eq!(check.code, 3, "refused by its claims: {check:?}");
    assert_eq!(check.json()["refused_by"], "claims");

    // Not a store URL.
    let bad_url = run(&["status", "--store", "http://redis:6379"]);
    assert_eq!(bad_url.code, 2, "{bad_url:?}");
    assert!(
        bad_url.stderr.contains("unsupported store URL"),
        "{bad_url:?}"
    );
    // No store at all; no lifetime.
    let no_store = run(&[
        "revoke",
        "user",
        "--iss",
        "i",
        "--sub",
        "s",
        "--max-token-lifetime",
        "1h",
    ]);
    assert_eq!(no_store.code, 2);
    assert!(no_store.stderr.contains("no store"), "{no_store:?}");
    let no_lifetime = run(&[
        "revoke", "user", "--iss", "i", "--sub", "s", "--store", &url,
    ]);
    assert_eq!(no_lifetime.code, 2);
    assert!(
        no_lifetime.stderr.contains("--max-token-lifetime"),
        "{no_lifetime:?}"
    );
    // The memory store would revoke nothing anywhere: refused.
    let memory = run(&[
        "revoke",
        "user",
        "--iss",
        "i",
        "--sub",
        "s",
        "--store",
        "memory",
        "--max-token-lifetime",
        "1h",
    ]);
    assert_eq!(memory.code, 2);
    assert!(
        memory
            .stderr
            .contains("memory store lives inside each service"),
        "{memory:?}"
    );
    // A missing file, a usage error of clap.
    let missing = run(&with_store(
        &url,
        &[
            "revoke",
            "users",
            "--iss",
            "i",
            "--file",
            "/nonexistent/subjects.txt",
            "--json",
        ],
    ));
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(
        missing.error_json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("/nonexistent/subjects.txt"))
    );
    assert_eq!(missing.error_json()["exit_code"], 2);
    let usage = run(&["revoke", "user", "--iss", "i"]);
    assert_eq!(usage.code, 2, "{usage:?}");
    assert!(usage.stderr.contains("--sub"), "{usage:?}");
}

#[test]
fn a_redis_password_is_never_printed() {
    let server = RedisServer::start();
    let password = "Pa55-hunter2-word";
    // A live server that has no password: AUTH fails, and the error is printed.
    let live = format!("redis://:{password}@127.0.0.1:{}", server.port());
    // Nothing listens there.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("address").port();
        drop(listener);
        format!("redis://user:{password}@127.0.0.1:{port}/0")
    };
    for url in [&live, &dead] {
        for args in [
            vec!["status", "--store", url],
            vec!["status", "--store", url, "--json"],
            vec![
                "revoke",
                "user",
                "--iss",
                "i",
                "--sub",
                "s",
                "--store",
                url,
                "--max-token-lifetime",
                "1h",
            ],
            vec![
                "revoke",
                "user",
                "--iss",
                "i",
                "--sub",
                "s",
                "--store",
                url,
                "--max-token-lifetime",
                "1h",
                "--json",
            ],
        ] {
            let result = run(&args);
            assert_eq!(result.code, 1, "{args:?}: {result:?}");
            assert_no_secret(&result, password);
            assert_no_secret(&result, "hunter2");
        }
    }
    // As an environment variable, and in --help's environment display.
    let from_env = support::command(&["status", "--json"])
        .env("REVOCATION_STORE", &dead)
        .output()
        .expect("run");
    assert_eq!(from_env.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&from_env.stdout).contains("hunter2"));
    assert!(!String::from_utf8_lossy(&from_env.stderr).contains("hunter2"));
    let help = support::command(&["--help"])
        .env("REVOCATION_STORE", &dead)
        .output()
        .expect("run");
    assert!(!String::from_utf8_lossy(&help.stdout).contains("hunter2"));
    // A shown location hides the user part.
    let json = run(&["status", "--store", &dead, "--json"]).json();
    assert_eq!(json["reachable"], false);
    assert!(
        json["location"]
            .as_str()
            .is_some_and(|l| l.contains("***@127.0.0.1")),
        "{json}"
    );
}

#[test]
fn status_reports_the_store_its_records_its_marker_and_its_replication() {
    let server = RedisServer::start();
    let url = server.url();
    for sub in ["a", "b", "c"] {
        assert_eq!(
            run(&with_store(
                &url,
                &["revoke", "user", "--iss", "i", "--sub", sub]
            ))
            .code,
            0
        );
    }
    let leaked = alice_token("status-1");
    assert_eq!(
        run_with_stdin(&with_store(&url, &["revoke", "token", "-"]), &leaked).code,
        0
    );

    let status = run(&["status", "--store", &url, "--json"]);
    assert_eq!(status.code, 0, "{status:?}");
    let json = status.json();
    assert_eq!(json["kind"], "redis");
    assert_eq!(json["shared"], true);
    assert_eq!(json["reachable"], true);
    assert_eq!(json["healthy"], true);
    assert_eq!(json["key_prefix"], "jwt-revoke:");
    assert_eq!(json["records"]["tokens"], 1);
    assert_eq!(json["records"]["cutoffs"], 3);
    assert_eq!(json["records"]["complete"], true);
    assert_eq!(json["data_loss"]["marker"], "ok");
    assert_eq!(json["data_loss"]["reaction"], "store_cutoff");
    assert_eq!(json["data_loss"]["failing_closed"], false);
    assert_eq!(json["replication"]["role"], "master");
    assert_eq!(json["replication"]["connected_replicas"], 0);

    let human = run(&["status", "--store", &url]);
    assert_eq!(human.code, 0);
    assert!(human.stdout.contains("reachable    yes"), "{human:?}");
    assert!(
        human
            .stdout
            .contains("records      5 (1 token records, 3 cut-offs)"),
        "{human:?}"
    );
    assert!(human.stdout.contains("marker ok"), "{human:?}");

    // Another prefix holds nothing.
    let other = run(&[
        "status",
        "--store",
        &url,
        "--key-prefix",
        "billing:",
        "--json",
    ])
    .json();
    assert_eq!(other["records"]["tokens"], 0);

    // The settings file of the services: its [store], its [policy] and the replica settings.
    let dir = std::env::temp_dir().join(format!("jwt-revoke-cli-status-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("service.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[store]
backend = "redis"
url = "{url}"
key_prefix = "svc:"
acknowledge_after_replicas = {{ replicas = 1, timeout = "50ms" }}
local_replica = {{ max_staleness = "250ms" }}

[policy]
max_token_lifetime = "15m"

[[issuers]]
iss = "https://idp.example"
algorithms = ["HS256"]
[[issuers.keys]]
secret_file = "/run/secrets/never-read"
"#
        ),
    )
    .expect("write");
    let config = config.display().to_string();
    let json = run(&["status", "--config", &config, "--json"]).json();
    assert_eq!(json["replication"]["acknowledge_after_replicas"], 1);
    // Revoking with the file: its prefix, its policy. (The test's Redis has no replica, so
    // `acknowledge_after_replicas = 1` makes every write fail: said, never reported done.)
    let unacknowledged = run(&[
        "revoke", "user", "--config", &config, "--iss", "i", "--sub", "z",
    ]);
    assert_eq!(unacknowledged.code, 1, "{unacknowledged:?}");
    assert!(
        unacknowledged.stderr.contains("NOT revoked"),
        "{unacknowledged:?}"
    );
    let plain = dir.join("plain.json");
    std::fs::write(
        &plain,
        json!({
            "store": {"backend": "redis", "url": url, "key_prefix": "svc:"},
            "policy": {"max_token_lifetime": "15m"},
            "issuers": [{"iss": "i", "algorithms": ["HS256"], "keys": [{"secret_file": "/never/read"}]}],
        })
        .to_string(),
    )
    .expect("write");
    let plain = plain.display().to_string();
    let revoked = run(&[
        "revoke", "user", "--config", &plain, "--iss", "i", "--sub", "z",
    ]);
    assert_eq!(revoked.code, 0, "{revoked:?}");
    let under_prefix = run(&["status", "--config", &plain, "--json"]).json();
    assert_eq!(
        under_prefix["records"]["cutoffs"], 1,
        "under the file's prefix: {under_prefix}"
    );
    assert_eq!(
        json["replication"]["local_replica"]["max_staleness_ms"],
        250
    );
    assert_eq!(json["key_prefix"], "svc:");
    // Another way to the same Redis keeps the file's prefix (and its other settings).
    let tunnel = format!("redis://localhost:{}", server.port());
    let json = run(&["status", "--config", &config, "--store", &tunnel, "--json"]).json();
    assert_eq!(json["key_prefix"], "svc:", "{json}");
    assert_eq!(json["location"], tunnel.as_str());
    assert_eq!(json["replication"]["acknowledge_after_replicas"], 1);
    // The policy options contradict a settings file.
    let both = run(&[
        "check",
        "--config",
        &config,
        "--max-token-lifetime",
        "1h",
        "-",
    ]);
    assert_eq!(both.code, 2, "{both:?}");
    std::fs::remove_dir_all(&dir).expect("clean up");

    // The memory store: this process only.
    let memory = run(&["status", "--store", "memory", "--json"]).json();
    assert_eq!(memory["kind"], "memory");
    assert_eq!(memory["shared"], false);

    // A server that went away.
    drop(server);
    let gone = run(&["status", "--store", &url, "--json"]);
    assert_eq!(gone.code, 1, "{gone:?}");
    assert_eq!(gone.json()["reachable"], false);
    assert_eq!(gone.json()["healthy"], false);
}

/// The subjects `user-0` … `user-{n-1}`, with comments, blank lines and spaces to skip.
fn subjects_file(name: &str, n: usize) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("jwt-revoke-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("subjects.txt");
    let mut text = String::from("# incident 2026-42: every account of the leaked export\n\n");
    for i in 0..n {
        text.push_str(&format!("  user-{i}\r\n"));
        if i % 1000 == 0 {
            text.push_str("# a comment\n\n");
        }
    }
    std::fs::write(&path, text).expect("write the subjects");
    path
}

/// Subjects of `iss` whose user cut-off the store does not hold, asked as a service would.
async fn not_revoked(url: &str, iss: &str, subjects: impl Iterator<Item = String>) -> Vec<String> {
    use futures_util::StreamExt as _;
    let revocations = support::engine(url, Duration::from_secs(900)).await;
    let store = revocations.store().clone();
    futures_util::stream::iter(subjects)
        .map(|sub| {
            let store = store.clone();
            async move {
                let user = UserId::new(iss, sub.as_str());
                let keys = TokenKeys::new(
                    TokenId::from_jti(iss, sub.as_str(), "any").denylist_key(),
                    user.key(),
                    None,
                );
                let reply = store.check(&keys).await.expect("the store answers");
                reply.user_cutoff.is_none().then_some(sub)
            }
        })
        .buffer_unordered(256)
        .filter_map(|missing| async move { missing })
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_revocation_of_100_000_subjects_finishes_and_states_its_throughput() {
    let server = RedisServer::start();
    let url = server.url();
    let file = subjects_file("bulk", 100_000);
    let file_arg = file.display().to_string();
    let started = Instant::now();
    let result = run(&with_store(
        &url,
        &[
            "revoke",
            "users",
            "--iss",
            "https://idp.example",
            "--file",
            &file_arg,
            "--json",
        ],
    ));
    let wall = started.elapsed();
    assert_eq!(result.code, 0, "{result:?}");
    let json = result.json();
    assert_eq!(json["done"], 100_000);
    assert_eq!(json["failed"], 0);
    assert_eq!(json["not_attempted"], 0);
    assert_eq!(json["complete"], true);
    assert_eq!(json["failed_to"], serde_json::Value::Null);
    let rate = json["per_second"].as_f64().expect("a rate");
    println!(
        "bulk: 100000 subjects revoked in {:.2} s ({rate:.0} a second; {:.2} s for the whole \
         process), concurrency 64, debug build",
        json["seconds"].as_f64().unwrap_or_default(),
        wall.as_secs_f64()
    );
    let missing = not_revoked(
        &url,
        "https://idp.example",
        (0..100_000).map(|i| format!("user-{i}")),
    )
    .await;
    assert!(
        missing.is_empty(),
        "{} not revoked: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    // The comment and blank lines were no subjects: 100,000 cut-offs, and the marker.
    assert_eq!(server.cli(&["DBSIZE"]).trim(), "100001");

    // Rerunning is harmless, and human output names the count.
    let again = run(&with_store(
        &url,
        &[
            "revoke",
            "users",
            "--iss",
            "https://idp.example",
            "--file",
            &file_arg,
        ],
    ));
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        again
            .stdout
            .starts_with("revoked 100000 subjects of \"https://idp.example\""),
        "{again:?}"
    );
    std::fs::remove_dir_all(file.parent().expect("dir")).expect("clean up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_killed_mid_bulk_fails_naming_the_rest_and_a_rerun_completes_it() {
    const N: usize = 50_000;
    let mut server = RedisServer::start_persistent();
    let url = server.url();
    let file = subjects_file("crash", N);
    let file_arg = file.display().to_string();
    let failed_file = format!("{file_arg}.failed");
    let args = with_store(
        &url,
        &[
            "revoke",
            "users",
            "--iss",
            "https://idp.example",
            "--file",
            &file_arg,
            "--concurrency",
            "2",
            "--json",
        ],
    );
    let child = support::command(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run jwt-revoke");
    // Some progress first: cut-offs are landing.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let keys: usize = server.cli(&["DBSIZE"]).trim().parse().expect("a count");
        if keys > 2_000 {
            break;
        }
        assert!(Instant::now() < deadline, "no progress: {keys} keys");
        std::thread::sleep(Duration::from_millis(5));
    }
    server.crash();
    let output = child.wait_with_output().expect("wait");
    let result = Run {
        code: output.status.code().expect("exited"),
        stdout: String::from_utf8(output.stdout).expect("UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("UTF-8"),
    };
    assert_eq!(result.code, 1, "a partial success is a failure: {result:?}");
    let json = result.json();
    assert_eq!(json["complete"], false);
    let done = json["done"].as_u64().expect("done");
    let unfinished =
        json["failed"].as_u64().expect("failed") + json["not_attempted"].as_u64().expect("n");
    assert!(done >= 2_000 && unfinished > 0, "{json}");
    assert_eq!(
        done + unfinished,
        N as u64,
        "every subject accounted for: {json}"
    );
    assert_eq!(json["failed_to"], failed_file.as_str());
    assert!(
        !json["first_failures"]
            .as_array()
            .expect("listed")
            .is_empty()
    );
    let listed: Vec<String> = std::fs::read_to_string(&failed_file)
        .expect("the unfinished subjects are written")
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        listed.len() as u64,
        unfinished,
        "the failed file names each unfinished subject"
    );
    println!("crash mid-bulk: {done} revoked, {unfinished} named in {failed_file}");

    server.restart();
    // What the failed file does not name was revoked before the crash (persistent Redis).
    let named: std::collections::HashSet<&str> = listed.iter().map(String::as_str).collect();
    let missing = not_revoked(
        &url,
        "https://idp.example",
        (0..N)
            .map(|i| format!("user-{i}"))
            .filter(|sub| !named.contains(sub.as_str())),
    )
    .await;
    assert!(
        missing.is_empty(),
        "reported done but not revoked: {:?}",
        &missing[..missing.len().min(5)]
    );

    // The rerun of the whole file completes it, and removes the stale failed list.
    let rerun = run(&with_store(
        &url,
        &[
            "revoke",
            "users",
            "--iss",
            "https://idp.example",
            "--file",
            &file_arg,
            "--json",
        ],
    ));
    assert_eq!(rerun.code, 0, "{rerun:?}");
    assert_eq!(rerun.json()["done"], N as u64);
    assert!(
        !std::path::Path::new(&failed_file).exists(),
        "a stale failed list is removed"
    );
    let missing = not_revoked(
        &url,
        "https://idp.example",
        (0..N).map(|i| format!("user-{i}")),
    )
    .await;
    assert!(missing.is_empty(), "{} still not revoked", missing.len());
    std::fs::remove_dir_all(file.parent().expect("dir")).expect("clean up");
}

#[test]
fn verify_with_takes_a_pem_public_key_or_a_jwks_and_refuses_algorithm_confusion() {
    use jwt_revoke::jsonwebtoken::jwk::{Jwk, JwkSet};
    use jwt_revoke::jsonwebtoken::{Algorithm, EncodingKey, Header, encode};

    let server = RedisServer::start();
    let url = server.url();
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("a key pair");
    let private = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).expect("a key");
    let mut jwk = Jwk::from_encoding_key(&private, Algorithm::ES256).expect("a public JWK");
    jwk.common.key_id = Some("idp-key-1".to_owned());
    let dir = std::env::temp_dir().join(format!("jwt-revoke-cli-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let public_pem = dir.join("idp.pem");
    let private_pem = dir.join("idp-private.pem");
    let jwks = dir.join("jwks.json");
    std::fs::write(&public_pem, pair.public_key_pem()).expect("write");
    std::fs::write(&private_pem, pair.serialize_pem()).expect("write");
    std::fs::write(
        &jwks,
        serde_json::to_string(&JwkSet { keys: vec![jwk] }).expect("json"),
    )
    .expect("write");
    let claims = |jti: &str| {
        json!({
            "iss": "https://idp.example", "sub": "erin", "jti": jti, "iat": now(), "exp": now() + 600,
        })
    };
    let es256 = |jti: &str, kid: Option<&str>| {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = kid.map(str::to_owned);
        encode(&header, &claims(jti), &private).expect("signs")
    };
    let with_key = |command: &[&str], key: &std::path::Path, token: &str| {
        let key = key.display().to_string();
        let mut args = command.to_vec();
        args.extend(["--json", "--verify-with", &key, "-"]);
        run_with_stdin(&with_store(&url, &args), token)
    };

    let by_pem = with_key(&["revoke", "token"], &public_pem, &es256("e-1", None));
    assert_eq!(by_pem.code, 0, "{by_pem:?}");
    assert_eq!(by_pem.json()["signature_verified"], true);
    let by_jwks = with_key(&["check"], &jwks, &es256("e-1", Some("idp-key-1")));
    assert_eq!(by_jwks.code, 3, "verified, and revoked: {by_jwks:?}");
    assert_eq!(by_jwks.json()["decision"], "token_record");

    // The algorithm-confusion forgery: HS256 "signed" with the public key's text. The key says
    // EC, so HS256 is not one it verifies, whatever the token's header claims.
    let forged = encode(
        &Header::new(Algorithm::HS256),
        &claims("e-2"),
        &EncodingKey::from_secret(pair.public_key_pem().as_bytes()),
    )
    .expect("signs");
    let refused = with_key(&["revoke", "token"], &public_pem, &forged);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.error_json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("does not verify"))
    );
    // A kid the key set does not hold; a private key where a public one goes.
    let unknown = with_key(&["check"], &jwks, &es256("e-3", Some("other-key")));
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(unknown.stderr.contains("no key of"), "{unknown:?}");
    let private = with_key(&["check"], &private_pem, &es256("e-3", None));
    assert_eq!(private.code, 2, "{private:?}");
    assert!(
        private.stderr.contains("holds a private key"),
        "{private:?}"
    );
    // --algorithm pins one the key verifies, or is refused.
    let pinned = run_with_stdin(
        &with_store(
            &url,
            &[
                "check",
                "--verify-with",
                &public_pem.display().to_string(),
                "--algorithm",
                "RS256",
                "-",
            ],
        ),
        &es256("e-4", None),
    );
    assert_eq!(pinned.code, 2, "{pinned:?}");
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_data_loss_check_names_the_data_loss_cutoff_and_status_the_marker() {
    let mut server = RedisServer::start();
    let url = server.url();
    // A running service: its store is the one that notices the loss.
    let service = support::engine(&url, Duration::from_secs(900)).await;
    let before = alice_token("before-loss");
    server.restart_empty();
    // The service's next check notices the loss and writes it in the marker.
    let facts = jwt_revoke::ops::UnverifiedToken::read(&before)
        .expect("a token")
        .facts(&service)
        .expect("facts");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(verdict) = service.check(&facts).await {
            assert!(
                matches!(
                    verdict,
                    jwt_revoke::Verdict::Revoked(jwt_revoke::RevocationReason::DataLoss(_))
                ),
                "{verdict:?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the service did not reconnect");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let check = run_with_stdin(&with_store(&url, &["check", "--json", "-"]), &before);
    assert_eq!(check.code, 3, "{check:?}");
    assert_eq!(check.json()["decision"], "data_loss_cutoff");
    assert!(
        check.json()["records"]["data_loss_cutoff"]
            .as_str()
            .is_some()
    );
    let status = run(&["status", "--store", &url, "--json"]);
    assert_eq!(
        status.code, 0,
        "store_cutoff keeps the store answering: {status:?}"
    );
    let json = status.json();
    assert_eq!(json["data_loss"]["marker"], "lost");
    assert!(json["data_loss"]["marker_at"].as_str().is_some());
    assert!(json["data_loss"]["cutoff"].as_str().is_some());
    let human = run(&["status", "--store", &url]);
    assert!(
        human.stdout.contains("data loss    marker lost at "),
        "{human:?}"
    );
}

#[test]
fn usage_errors_are_json_too_when_json_is_asked_for() {
    let usage = run(&["revoke", "user", "--iss", "i", "--json"]);
    assert_eq!(usage.code, 2, "{usage:?}");
    let error = usage.error_json();
    assert_eq!(error["exit_code"], 2);
    assert!(
        error["error"].as_str().is_some_and(|e| e.contains("--sub")),
        "{error}"
    );
    assert!(usage.stdout.is_empty());
    // Help is help, with the exit codes.
    let help = run(&["--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("Exit codes:"), "{help:?}");
    assert!(
        help.stdout.contains("3  check: the token is refused"),
        "{help:?}"
    );
    let help = run(&["revoke", "token", "--help"]);
    assert!(
        help.stdout
            .contains("preferred: an argument stays in the shell's history"),
        "{help:?}"
    );
}

/// Without the `tls` feature, a `rediss://` store is a usage error that says how to get TLS.
#[cfg(not(feature = "tls"))]
#[test]
fn a_rediss_store_without_tls_says_which_feature_brings_it() {
    let result = run(&[
        "status",
        "--store",
        "rediss://:Pa55word@127.0.0.1:1",
        "--json",
    ]);
    assert_eq!(result.code, 2, "{result:?}");
    assert!(
        result.error_json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("--features tls"))
    );
    assert_no_secret(&result, "Pa55word");
}
