//! `revoke users`: every subject of a file, many revocations in flight, every failure named.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal as _, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use futures_util::StreamExt as _;
use futures_util::stream;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use jwt_revoke::{Revocations, UserId};
use serde_json::json;

use crate::cli::UsersArgs;
use crate::commands::bounded;
use crate::output::{EXIT_FAILED, EXIT_OK, Failure, Report, scrub};

/// How many failures are listed on stderr (all of them are in the failed file).
const LISTED: usize = 10;

/// The longest line read as a subject (far beyond any `sub`): a longer one is refused whole.
const MAX_LINE_BYTES: u64 = 64 * 1024;

/// One line of the file, once read.
enum Line {
    Subject(String),
    /// No subject can be made of it (its number, and why): not UTF-8, or a control
    /// character in it (the NULs of a UTF-16 file).
    Unreadable(u64, &'static str),
}

/// What became of one subject.
enum Outcome {
    Done,
    Failed(String, String),
    NotAttempted(String),
    Unreadable(u64, &'static str),
}

/// `revoke users --iss … --file …`.
pub(crate) async fn revoke_users(
    args: &UsersArgs,
    revocations: &Revocations,
    location: &str,
    as_json: bool,
) -> Result<Report, Failure> {
    let failed_to = args.failed_to.clone().unwrap_or_else(|| {
        let mut name = args.file.clone().into_os_string();
        name.push(".failed");
        PathBuf::from(name)
    });
    if same_file(&failed_to, &args.file) {
        return Err(Failure::usage(
            "--failed-to names the input file: it would be overwritten while it is read",
        ));
    }
    let open = || {
        File::open(&args.file).map_err(|err| {
            Failure::usage(format!(
                "--file: cannot read {}: {err}",
                args.file.display()
            ))
        })
    };
    let reader = BufReader::with_capacity(1 << 16, open()?);
    let show_progress = !as_json && std::io::stderr().is_terminal();
    let progress = if show_progress {
        let total = count_subjects(BufReader::new(open()?));
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{elapsed_precise} [{wide_bar}] {pos}/{len} subjects ({per_sec}, {eta} left)",
        ) {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    };

    let read_error: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
    let lines = subjects(reader, Arc::clone(&read_error));
    let aborted = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut results = stream::iter(lines)
        .map(|line| {
            let aborted = Arc::clone(&aborted);
            let failures = Arc::clone(&failures);
            let stop_after = args.stop_after_failures.max(1);
            let iss = args.iss.clone();
            async move {
                let subject = match line {
                    Line::Subject(subject) => subject,
                    Line::Unreadable(number, why) => return Outcome::Unreadable(number, why),
                };
                if aborted.load(Ordering::Relaxed) {
                    return Outcome::NotAttempted(subject);
                }
                let user = UserId::new(iss, subject.clone());
                match bounded(revocations, revocations.revoke_user(&user)).await {
                    Ok(_) => Outcome::Done,
                    Err(err) => {
                        if failures.fetch_add(1, Ordering::Relaxed) + 1 >= stop_after {
                            aborted.store(true, Ordering::Relaxed);
                        }
                        Outcome::Failed(subject, err.to_string())
                    }
                }
            }
        })
        .buffer_unordered(usize::from(args.concurrency));

    let (mut done, mut failed, mut not_attempted, mut unreadable) = (0u64, 0u64, 0u64, 0u64);
    let mut listed: Vec<(String, String)> = Vec::new();
    let mut writer: Option<BufWriter<File>> = None;
    let mut write_error: Option<String> = None;
    let mut record = |subject: &str, writer: &mut Option<BufWriter<File>>| {
        if write_error.is_some() {
            return;
        }
        if writer.is_none() {
            match File::create(&failed_to) {
                Ok(file) => *writer = Some(BufWriter::new(file)),
                Err(err) => {
                    write_error = Some(format!("cannot write {}: {err}", failed_to.display()));
                    return;
                }
            }
        }
        if let Some(out) = writer.as_mut()
            && let Err(err) = writeln!(out, "{subject}")
        {
            write_error = Some(format!("cannot write {}: {err}", failed_to.display()));
        }
    };
    while let Some(outcome) = results.next().await {
        progress.inc(1);
        match outcome {
            Outcome::Done => done += 1,
            Outcome::Failed(subject, reason) => {
                failed += 1;
                record(&subject, &mut writer);
                if listed.len() < LISTED {
                    listed.push((subject, reason));
                }
            }
            Outcome::NotAttempted(subject) => {
                not_attempted += 1;
                record(&subject, &mut writer);
            }
            Outcome::Unreadable(number, why) => {
                unreadable += 1;
                if listed.len() < LISTED {
                    listed.push((format!("line {number}"), why.to_owned()));
                }
            }
        }
    }
    drop(results);
    progress.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    if let Some(mut out) = writer.take()
        && let Err(err) = out.flush()
    {
        write_error.get_or_insert(format!("cannot write {}: {err}", failed_to.display()));
    }
    let read_error = read_error
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    let unfinished = failed + not_attempted;
    let complete = unfinished == 0 && unreadable == 0 && read_error.is_none();
    let mut removed_stale = false;
    if unfinished == 0 && read_error.is_none() && failed_to.exists() {
        // A failed list left by an earlier run: every subject is revoked now (unless the
        // file could not be read to its end: those after the error were not even tried).
        removed_stale = std::fs::remove_file(&failed_to).is_ok();
    }
    let rate = if seconds > 0.0 {
        done as f64 / seconds
    } else {
        0.0
    };
    let json = json!({
        "command": "revoke users",
        "store": location,
        "iss": args.iss,
        "file": args.file.display().to_string(),
        "done": done,
        "failed": failed,
        "not_attempted": not_attempted,
        "unreadable_lines": unreadable,
        "read_error": read_error,
        "seconds": seconds,
        "per_second": rate,
        "concurrency": args.concurrency,
        "failed_to": (unfinished > 0).then(|| failed_to.display().to_string()),
        "failed_to_error": write_error,
        "first_failures": listed.iter().map(|(subject, reason)| json!({"subject": subject, "error": reason})).collect::<Vec<_>>(),
        "complete": complete,
    });
    let mut human = format!(
        "revoked {done} subjects of {:?} in {seconds:.2} s ({rate:.0} a second, {} in flight)",
        args.iss, args.concurrency
    );
    if unfinished > 0 || unreadable > 0 {
        human.push_str(&format!(
            "; NOT revoked: {failed} failed, {not_attempted} not attempted, {unreadable} unreadable lines"
        ));
    }
    if removed_stale {
        human.push_str(&format!(
            "\n  removed {} left by an earlier run",
            failed_to.display()
        ));
    }
    if !complete {
        let mut message = String::new();
        if let Some(err) = &read_error {
            message.push_str(&format!(
                "the file could not be read to its end ({err}): the subjects after it were not read\n"
            ));
        }
        if unfinished > 0 {
            match &write_error {
                None => message.push_str(&format!(
                    "{unfinished} subjects NOT revoked, written to {} — rerun with --file {} \
                     (or rerun the whole file: revoking again is harmless)\n",
                    failed_to.display(),
                    failed_to.display()
                )),
                Some(err) => message.push_str(&format!(
                    "{unfinished} subjects NOT revoked, and their list could not be written: {err}\n"
                )),
            }
        }
        for (subject, reason) in &listed {
            message.push_str(&format!("  {subject}: {reason}\n"));
        }
        let more = (failed + unreadable).saturating_sub(listed.len() as u64);
        if more > 0 {
            message.push_str(&format!("  … and {more} more failed\n"));
        }
        if !as_json {
            eprint!("{}", scrub(&message));
        }
    }
    Ok(Report {
        json,
        human,
        code: if complete { EXIT_OK } else { EXIT_FAILED },
    })
}

/// The subjects of the file, read as they are needed: spaces, tabs and line ends trimmed,
/// blank lines and `#` comments skipped. A read error ends the lines and is kept in `error`.
fn subjects(
    mut reader: impl BufRead,
    error: Arc<std::sync::Mutex<Option<String>>>,
) -> impl Iterator<Item = Line> {
    let mut number = 0u64;
    let mut buffer = Vec::new();
    std::iter::from_fn(move || {
        loop {
            buffer.clear();
            number += 1;
            let fail = |err: std::io::Error| {
                *error
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) =
                    Some(format!("line {number}: {err}"));
            };
            // At most a line's worth held: a file without newlines (a binary, a dump) is not
            // read whole into memory.
            match (&mut reader)
                .take(MAX_LINE_BYTES + 1)
                .read_until(b'\n', &mut buffer)
            {
                Ok(0) => return None,
                Ok(_) => {}
                Err(err) => {
                    fail(err);
                    return None;
                }
            }
            if buffer.len() as u64 > MAX_LINE_BYTES && buffer.last() != Some(&b'\n') {
                // The rest of the line, skipped a piece at a time.
                loop {
                    buffer.clear();
                    match (&mut reader)
                        .take(MAX_LINE_BYTES)
                        .read_until(b'\n', &mut buffer)
                    {
                        Ok(0) => break,
                        Ok(_) if buffer.last() == Some(&b'\n') => break,
                        Ok(_) => {}
                        Err(err) => {
                            fail(err);
                            return None;
                        }
                    }
                }
                return Some(Line::Unreadable(number, "longer than 64 KiB: no subject"));
            }
            let Ok(mut text) = std::str::from_utf8(&buffer) else {
                return Some(Line::Unreadable(number, "not UTF-8: no subject"));
            };
            if number == 1 {
                // A byte-order mark (a file saved "with BOM") is no part of the first subject:
                // kept, it would revoke a subject nobody has and count it as done.
                text = text.strip_prefix('\u{feff}').unwrap_or(text);
            }
            // Spaces, tabs and line ends (CRLF's `\r`) are the file's. Any other space at an
            // end is not trimmed (it may be part of the subject, and trimmed it could name
            // another user) nor kept (it may be a paste's): the line is no subject.
            let subject = text.trim_matches([' ', '\t', '\r', '\n']);
            if subject.is_empty() || subject.starts_with('#') {
                continue;
            }
            if subject.trim() != subject {
                return Some(Line::Unreadable(
                    number,
                    "a space other than ' ' or a tab at an end: no subject",
                ));
            }
            if subject.chars().any(char::is_control) {
                // No subject holds one; a UTF-16 file's lines are valid UTF-8 full of NULs.
                return Some(Line::Unreadable(
                    number,
                    "a control character in it (a UTF-16 file?): no subject",
                ));
            }
            return Some(Line::Subject(subject.to_owned()));
        }
    })
}

/// How many subjects the file holds (for the progress bar only).
fn count_subjects(reader: impl BufRead) -> u64 {
    let error = Arc::default();
    subjects(reader, error).count() as u64
}

fn same_file(a: &Path, b: &Path) -> bool {
    // One file under two names (a hard link) is the same file too: writing one truncates the
    // other while it is read.
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        if let (Ok(a), Ok(b)) = (std::fs::metadata(a), std::fs::metadata(b))
            && (a.dev(), a.ino()) == (b.dev(), b.ino())
        {
            return true;
        }
    }
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
