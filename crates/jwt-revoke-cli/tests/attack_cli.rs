//! Attacks on the operator tool from the side of what it is fed: a subjects file saved by
//! another editor (a byte-order mark, UTF-16), identifiers pasted with the whitespace around
//! them, a rerun that cannot read its file. Each would let the tool answer "revoked" (or
//! forget what was not) while the services still accept the tokens.

mod support;

use std::time::Duration;

use jwt_revoke::{TokenId, TokenKeys, UserId};
use jwt_revoke_redis::test_support::RedisServer;
use support::{Run, run};

const ISS: &str = "https://idp.example";

fn with_store<'a>(url: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend(["--store", url, "--max-token-lifetime", "15m"]);
    all
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("jwt-revoke-attack-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

/// Whether the store holds a user cut-off for (`iss`, `sub`), asked as a service would.
fn has_cutoff(url: &str, iss: &str, sub: &str) -> bool {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let revocations = support::engine(url, Duration::from_secs(900)).await;
        let keys = TokenKeys::new(
            TokenId::from_jti(iss, sub, "any").denylist_key(),
            UserId::new(iss, sub).key(),
            None,
        );
        revocations
            .store()
            .check(&keys)
            .await
            .expect("the store answers")
            .user_cutoff
            .is_some()
    })
}

/// How many keys the server holds (the data-loss marker is one, once a store was opened).
fn keys(server: &RedisServer) -> u64 {
    server.cli(&["DBSIZE"]).trim().parse().expect("a count")
}

fn revoke_users(url: &str, file: &std::path::Path) -> Run {
    let file = file.display().to_string();
    run(&with_store(
        url,
        &["revoke", "users", "--iss", ISS, "--file", &file, "--json"],
    ))
}

/// A file saved "with BOM" (Notepad, Excel's CSV UTF-8): the first subject must be revoked,
/// not a subject named U+FEFF + its name, counted as done.
#[test]
fn a_byte_order_mark_does_not_hide_the_first_subject() {
    let server = RedisServer::start();
    let url = server.url();
    let dir = scratch("bom");
    let file = dir.join("subjects.txt");
    std::fs::write(&file, "\u{feff}alice\r\nbob\r\n").expect("write");
    let result = revoke_users(&url, &file);
    assert_eq!(result.code, 0, "{result:?}");
    assert_eq!(result.json()["done"], 2, "{result:?}");
    assert!(has_cutoff(&url, ISS, "bob"));
    assert!(
        has_cutoff(&url, ISS, "alice"),
        "answered done, but alice's tokens still work: {result:?}"
    );
    assert!(
        !has_cutoff(&url, ISS, "\u{feff}alice"),
        "a cut-off for a subject nobody has"
    );
    std::fs::remove_dir_all(dir).expect("clean up");
}

/// A subject with a no-break space (or another non-ASCII space) at an end: trimmed, it would
/// revoke another user (`alice`) and count the one named as done. Neither is right: the line
/// is named as unreadable and the run is not a success.
#[test]
fn a_subject_with_unicode_space_around_it_is_no_other_users_revocation() {
    let server = RedisServer::start();
    let url = server.url();
    let dir = scratch("nbsp");
    let file = dir.join("subjects.txt");
    std::fs::write(&file, "alice\u{00a0}\nbob \t\r\n").expect("write");
    let result = revoke_users(&url, &file);
    assert_eq!(result.code, 1, "{result:?}");
    let json = result.json();
    assert_eq!(json["done"], 1, "{json}");
    assert_eq!(json["unreadable_lines"], 1, "{json}");
    assert!(
        has_cutoff(&url, ISS, "bob"),
        "ASCII spaces and tabs are the file's"
    );
    assert!(!has_cutoff(&url, ISS, "alice"), "another user revoked");
    assert!(
        !has_cutoff(&url, ISS, "alice\u{00a0}"),
        "counted done by a guess"
    );
    std::fs::remove_dir_all(dir).expect("clean up");
}

/// A file saved as UTF-16 (Windows' "Unicode"): its lines after the first are valid UTF-8
/// full of NULs. None of them is a subject; none may be counted as revoked.
#[test]
fn a_utf16_file_revokes_nobody_and_says_so() {
    let server = RedisServer::start();
    let url = server.url();
    let dir = scratch("utf16");
    let file = dir.join("subjects.txt");
    let mut bytes = vec![0xff, 0xfe];
    for unit in "alice\r\nbob\r\ncarol\r\n".encode_utf16() {
        bytes.extend(unit.to_le_bytes());
    }
    std::fs::write(&file, bytes).expect("write");
    let result = revoke_users(&url, &file);
    assert_eq!(result.code, 1, "{result:?}");
    let json = result.json();
    assert_eq!(
        json["done"], 0,
        "subjects made of NULs counted as revoked: {json}"
    );
    // Its three lines, and the NUL after the last newline (the high byte of `\n`).
    assert_eq!(json["unreadable_lines"], 4, "{json}");
    assert_eq!(json["complete"], false);
    // Nothing but the data-loss marker was written.
    assert_eq!(keys(&server), 1, "{json}");
    std::fs::remove_dir_all(dir).expect("clean up");
}

/// An identifier with whitespace around it (a CSV's `\r`, a paste's newline), or an empty one,
/// matches no token: the tool must refuse it (exit 2) rather than answer "revoked" (exit 0),
/// as the admin API does.
#[test]
fn identifiers_that_match_no_token_are_refused_not_acknowledged() {
    let server = RedisServer::start();
    let url = server.url();
    let dir = scratch("identifiers");
    let file = dir.join("subjects.txt");
    std::fs::write(&file, "alice\n").expect("write");
    let file_arg = file.display().to_string();
    let cases: Vec<Vec<&str>> = vec![
        vec!["revoke", "user", "--iss", ISS, "--sub", "alice\r"],
        vec!["revoke", "user", "--iss", ISS, "--sub", ""],
        vec![
            "revoke",
            "user",
            "--iss",
            "https://idp.example\n",
            "--sub",
            "alice",
        ],
        vec!["revoke", "session", "--iss", ISS, "--sid", " login-1"],
        vec![
            "revoke", "jti", "--iss", ISS, "--sub", "alice", "--jti", "t-1\t",
        ],
        vec!["revoke", "jti", "--iss", ISS, "--sub", "", "--jti", "t-1"],
        vec![
            "revoke",
            "users",
            "--iss",
            "https://idp.example ",
            "--file",
            &file_arg,
        ],
    ];
    for case in cases {
        let result = run(&with_store(&url, &case));
        assert_eq!(
            result.code, 2,
            "acknowledged a revocation that refuses nothing: {case:?} → {result:?}"
        );
        assert!(result.stderr.contains("whitespace") || result.stderr.contains("empty"));
    }
    assert!(
        keys(&server) <= 1,
        "at most the marker: nothing was written"
    );
    std::fs::remove_dir_all(dir).expect("clean up");
}

/// A rerun that cannot read its file (an I/O error) revoked nothing: it must not delete the
/// list of subjects an earlier run failed to revoke.
#[test]
fn a_rerun_that_cannot_read_its_file_keeps_the_earlier_failed_list() {
    let server = RedisServer::start();
    let url = server.url();
    let dir = scratch("rerun");
    // A directory opens, and its first read fails (EISDIR): a read error at line 1.
    let input = dir.join("subjects");
    std::fs::create_dir_all(&input).expect("dir");
    let failed = dir.join("subjects.failed");
    std::fs::write(&failed, "mallory\n").expect("write");
    let result = revoke_users(&url, &input);
    assert_eq!(result.code, 1, "{result:?}");
    assert!(result.json()["read_error"].is_string(), "{result:?}");
    assert_eq!(
        std::fs::read_to_string(&failed).ok().as_deref(),
        Some("mallory\n"),
        "the only list of an unrevoked subject was removed: {result:?}"
    );
    assert!(!has_cutoff(&url, ISS, "mallory"));
    std::fs::remove_dir_all(dir).expect("clean up");
}

/// A token typed where a subcommand or a value was expected (`revoke <token>`, forgetting
/// `token`), a store URL one place too far: the usage error must not quote them, in words or
/// in JSON.
#[test]
fn a_usage_error_never_quotes_the_token_or_the_password_it_was_given() {
    let leaked = support::token(serde_json::json!({
        "iss": ISS, "sub": "alice", "jti": "leaked", "exp": support::now() + 600,
    }));
    let signature = leaked.rsplit('.').next().expect("a signature").to_owned();
    let bearer = format!("Bearer {leaked}");
    let url = "redis://operator:Hunter2pw@redis.internal:6379";
    let cases: Vec<Vec<&str>> = vec![
        vec!["revoke", &leaked],
        vec!["revoke", &leaked, "--json"],
        vec!["revoke", "user", "--iss", ISS, "--sub", "alice", &leaked],
        vec!["check", "--store", "memory", &leaked, "extra"],
        vec!["check", &bearer, "extra", "--json"],
        vec!["revoke", "user", "--iss", ISS, "--sub", "alice", url],
        vec!["status", url, "--json"],
    ];
    for case in cases {
        let result = run(&case);
        assert_eq!(result.code, 2, "{case:?} → {result:?}");
        let all = result.all();
        assert!(!all.is_empty(), "{case:?}: says nothing");
        for secret in [leaked.as_str(), signature.as_str(), "Hunter2pw"] {
            assert!(
                !all.contains(secret),
                "{case:?} printed a secret: {result:?}"
            );
        }
    }
}

/// An argument that is not UTF-8 (a Latin-1 subject from an old export) is a usage error,
/// exit 2, in JSON when asked: never a panic (exit 101).
#[test]
fn an_argument_that_is_not_utf8_is_a_usage_error_not_a_panic() {
    use std::os::unix::ffi::OsStrExt as _;
    for json in [false, true] {
        let mut command = support::command(&["revoke", "user", "--iss", ISS, "--sub"]);
        command.arg(std::ffi::OsStr::from_bytes(b"jos\xe9"));
        if json {
            command.arg("--json");
        }
        let output = command.output().expect("run jwt-revoke");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        if json {
            let line = stderr.lines().last().unwrap_or_default();
            let error: serde_json::Value = serde_json::from_str(line).expect("JSON");
            assert_eq!(error["exit_code"], 2, "{stderr}");
        }
    }
}

/// A line far longer than any subject (a binary or a dump given by mistake, with no newline
/// for megabytes) is refused as no subject, without being held whole, and the subjects after
/// it are still revoked.
#[test]
fn a_huge_line_is_no_subject_and_the_rest_is_still_revoked() {
    let server = RedisServer::start();
    let url = server.url();
    let dir = scratch("huge");
    let file = dir.join("subjects.txt");
    let mut text = String::from("alice\n");
    text.push_str(&"x".repeat(3 * 1024 * 1024));
    text.push_str("\nbob\n");
    std::fs::write(&file, text).expect("write");
    let result = revoke_users(&url, &file);
    assert_eq!(result.code, 1, "{result:?}");
    let json = result.json();
    assert_eq!(json["done"], 2, "{json}");
    assert_eq!(json["unreadable_lines"], 1, "{json}");
    assert_eq!(json["first_failures"][0]["subject"], "line 2", "{json}");
    assert!(has_cutoff(&url, ISS, "alice") && has_cutoff(&url, ISS, "bob"));
    std::fs::remove_dir_all(dir).expect("clean up");
}

/// `--failed-to` naming the input file under another name (a hard link) must be refused like
/// the same path: the first failure would truncate the file being read, and every subject
/// after the buffered part would be neither revoked nor listed.
#[test]
fn failed_to_a_hard_link_of_the_input_is_refused() {
    let server = RedisServer::start();
    let url = server.url();
    let dir = scratch("hardlink");
    let file = dir.join("subjects.txt");
    std::fs::write(&file, "alice\nbob\n").expect("write");
    let link = dir.join("link.txt");
    std::fs::hard_link(&file, &link).expect("a hard link");
    let (file_arg, link_arg) = (file.display().to_string(), link.display().to_string());
    let result = run(&with_store(
        &url,
        &[
            "revoke",
            "users",
            "--iss",
            ISS,
            "--file",
            &file_arg,
            "--failed-to",
            &link_arg,
        ],
    ));
    assert_eq!(result.code, 2, "{result:?}");
    assert!(result.stderr.contains("--failed-to"), "{result:?}");
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        "alice\nbob\n"
    );
    std::fs::remove_dir_all(dir).expect("clean up");
}

/// `revoke jti --expires-at` in milliseconds (a JavaScript `Date.now()`), or a `--for` longer
/// than any token lives: no token the services accept expires that late, and the record would
/// be kept for millennia (nothing may grow forever). Refused, as the admin API refuses it.
#[test]
fn a_jti_expiry_no_token_can_have_is_refused() {
    let server = RedisServer::start();
    let url = server.url();
    let millis = (support::now() * 1000).to_string();
    let far = i64::MAX.to_string();
    let base = [
        "revoke", "jti", "--iss", ISS, "--sub", "alice", "--jti", "j-1",
    ];
    for extra in [
        ["--expires-at", millis.as_str()],
        ["--expires-at", far.as_str()],
        ["--for", "24h"],
    ] {
        let mut args = base.to_vec();
        args.extend(extra);
        let result = run(&with_store(&url, &args));
        assert_eq!(result.code, 2, "{extra:?} → {result:?}");
        assert!(
            result.stderr.contains("seconds since the epoch"),
            "{result:?}"
        );
    }
    assert!(keys(&server) <= 1, "a record was kept for nothing");
    // The longest a token accepted now can live is still taken.
    let mut args = base.to_vec();
    args.extend(["--for", "15m"]);
    let result = run(&with_store(&url, &args));
    assert_eq!(result.code, 0, "{result:?}");
}

/// The services use their own key prefix; the operator forgets `--key-prefix`. The cut-off is
/// written where no service reads (exit 0 cannot tell): the tool must at least warn that
/// nothing was ever written under the prefix it writes to, and stay quiet once there was.
#[test]
fn a_revocation_under_a_prefix_no_service_ever_wrote_to_is_warned_about() {
    let server = RedisServer::start();
    let url = server.url();
    // The services' own prefix has seen writes.
    let services = run(&with_store(
        &url,
        &[
            "revoke",
            "user",
            "--iss",
            ISS,
            "--sub",
            "bob",
            "--key-prefix",
            "shop:",
        ],
    ));
    assert_eq!(services.code, 0, "{services:?}");
    let forgotten = run(&with_store(
        &url,
        &["revoke", "user", "--iss", ISS, "--sub", "alice", "--json"],
    ));
    assert_eq!(forgotten.code, 0, "{forgotten:?}");
    assert!(
        forgotten.stderr.contains("warning") && forgotten.stderr.contains("jwt-revoke:"),
        "a revocation no service reads, without a word: {forgotten:?}"
    );
    let again = run(&with_store(
        &url,
        &[
            "revoke",
            "user",
            "--iss",
            ISS,
            "--sub",
            "carol",
            "--key-prefix",
            "shop:",
        ],
    ));
    assert_eq!(again.code, 0, "{again:?}");
    assert!(!again.stderr.contains("warning"), "{again:?}");
}
