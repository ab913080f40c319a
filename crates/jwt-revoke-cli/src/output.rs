//! What the tool prints: a report on stdout (human text, or one JSON object), an error on
//! stderr, the exit code; every line scrubbed of the secrets this run has seen.

use std::io::Write as _;
use std::sync::{Mutex, PoisonError};

use serde_json::{Value, json};

/// Done (for `check`: not refused).
pub(crate) const EXIT_OK: u8 = 0;
/// An operation failed, or the store is unreachable.
pub(crate) const EXIT_FAILED: u8 = 1;
/// Bad usage or bad input (clap's own code for usage errors).
pub(crate) const EXIT_USAGE: u8 = 2;
/// `check`: the token is refused.
pub(crate) const EXIT_REFUSED: u8 = 3;

/// Why a command stopped: the code to exit with and what to say.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl Failure {
    /// Bad usage or input: exit 2.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }

    /// The operation failed: exit 1.
    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_FAILED,
            message: message.into(),
        }
    }
}

/// What a command reports: its JSON object, its human text, its exit code.
pub(crate) struct Report {
    pub(crate) json: Value,
    pub(crate) human: String,
    pub(crate) code: u8,
}

/// Text that must never be printed: the passwords of the store URLs, the token read.
static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Adds a secret: from now on, every occurrence of it in what is printed is `***`.
pub(crate) fn never_print(secret: &str) {
    // Short texts (`a`, `pw`) would hide half of every message; they are still hidden in
    // URLs, where the store's own redaction replaces the whole user part.
    if secret.len() >= 3 {
        SECRETS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(secret.to_owned());
    }
}

/// `text` with every secret replaced.
pub(crate) fn scrub(text: &str) -> String {
    let secrets = SECRETS.lock().unwrap_or_else(PoisonError::into_inner);
    let mut out = text.to_owned();
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), "***");
        }
    }
    out
}

/// Prints a report on stdout.
pub(crate) fn print_report(report: &Report, as_json: bool) {
    let text = if as_json {
        serde_json::to_string(&report.json).unwrap_or_else(|_| "{}".to_owned())
    } else {
        report.human.trim_end().to_owned()
    };
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is no reason to panic.
    let _ = writeln!(stdout, "{}", scrub(&text));
}

/// Prints an error on stderr.
pub(crate) fn print_failure(failure: &Failure, as_json: bool) {
    let message = scrub(&failure.message);
    let mut stderr = std::io::stderr().lock();
    if as_json {
        let _ = writeln!(
            stderr,
            "{}",
            json!({ "error": message, "exit_code": failure.code })
        );
    } else {
        let _ = writeln!(stderr, "jwt-revoke: {message}");
    }
}

/// A usage error in clap's words on stderr, scrubbed.
pub(crate) fn print_usage(message: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "{}", scrub(message));
}

/// A warning on stderr (human text, or a JSON object with a `warning` member).
pub(crate) fn warn(message: &str, as_json: bool) {
    let message = scrub(message);
    let mut stderr = std::io::stderr().lock();
    if as_json {
        let _ = writeln!(stderr, "{}", json!({ "warning": message }));
    } else {
        let _ = writeln!(stderr, "jwt-revoke: warning: {message}");
    }
}
