//! `jwt-revoke`, the operator's tool: revoke a leaked token, a user, a session, every token of
//! a client app, or a list of users; check whether a token is refused and why; report the
//! state of the services' store. See the crate's README (or `jwt-revoke --help`) for the
//! commands and the exit codes.
#![forbid(unsafe_code)]

mod bulk;
mod cli;
mod commands;
mod output;
mod setup;
mod token;

use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::{Cli, Command, Revoke};
use crate::output::{Failure, Report, print_failure, print_report, warn};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(&err),
    };
    let as_json = cli.global.json;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            print_failure(&Failure::failed(format!("cannot start: {err}")), as_json);
            return ExitCode::from(output::EXIT_FAILED);
        }
    };
    let result = runtime.block_on(run(&cli));
    let code = match result {
        Ok(report) => {
            print_report(&report, as_json);
            report.code
        }
        Err(failure) => {
            print_failure(&failure, as_json);
            failure.code
        }
    };
    // The store's background tasks (reconnections, checks) are not waited for.
    runtime.shutdown_background();
    ExitCode::from(code)
}

/// A usage error (or `--help`, `--version`). clap quotes what it could not place, and what
/// the operator typed one place too far may be a token (`revoke <token>`, forgetting `token`)
/// or a store URL with its password: both are hidden from what is printed, in words and in
/// JSON. Arguments that are not UTF-8 are read as they are (never a panic).
fn usage_error(err: &clap::Error) -> ExitCode {
    if !err.use_stderr() {
        // `--help` and `--version`: clap's own text on stdout, exit 0.
        err.exit();
    }
    for arg in std::env::args_os().skip(1) {
        if let Some(arg) = arg.to_str() {
            hide_if_secret(arg);
        }
    }
    let message = err.render().to_string();
    if std::env::args_os().any(|arg| arg == "--json") {
        // Asked for as JSON: one object with its `error`, as every error.
        let what: Vec<&str> = message
            .lines()
            .map(str::trim)
            .take_while(|line| !line.starts_with("Usage:"))
            .filter(|line| !line.is_empty())
            .collect();
        let what = what.join(" ");
        print_failure(&Failure::usage(what.trim_start_matches("error: ")), true);
    } else {
        // clap's own words (its usage lines included), scrubbed.
        output::print_usage(&message);
    }
    ExitCode::from(output::EXIT_USAGE)
}

/// Registers `arg` as never to be printed when it may be a token (three or five base64url
/// parts, a `Bearer ` before them or not), and the password of a URL in it.
fn hide_if_secret(arg: &str) {
    if arg.contains("://") {
        setup::hide_passwords_of(arg);
    }
    let token = arg.trim();
    let token = match token.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("bearer ") => token[7..].trim_start(),
        _ => token,
    };
    let parts = token.split('.').count();
    let shaped = token.len() >= 16
        && matches!(parts, 3 | 5)
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if shaped {
        output::never_print(arg);
        output::never_print(token);
        if let Some(signature) = token.rsplit('.').next() {
            output::never_print(signature);
        }
    }
}

async fn run(cli: &Cli) -> Result<Report, Failure> {
    let global = &cli.global;
    match &cli.command {
        Command::Status => {
            let setup = setup::setup(global, false)?;
            commands::status(&setup.store).await
        }
        Command::Check(args) => {
            let setup = setup::setup(global, true)?;
            let policy = setup.policy.expect("asked for");
            // Bad input is found before the store is asked.
            let token = token::read(&args.input)?;
            if !jwt_revoke::ops::kind_of(&setup.store).is_shared() {
                warn(
                    "the memory store of this command holds no service's records: every \
                     token reads as not revoked",
                    global.json,
                );
            }
            let store = setup::open(&setup.store, false).await?;
            commands::check(args, token, &setup::engine(&store, policy)).await
        }
        Command::Revoke(revoke) => {
            let setup = setup::setup(global, true)?;
            let policy = setup.policy.expect("asked for");
            // Bad input is found before the store is asked (a token that cannot be read, a
            // file that is not there): the store's errors then say only what they are about.
            commands::check_identifiers(revoke)?;
            let token = match revoke {
                Revoke::Token(args) => Some(token::read(&args.input)?),
                _ => None,
            };
            if let Revoke::Users(args) = revoke
                && let Err(err) = std::fs::metadata(&args.file)
            {
                return Err(Failure::usage(format!(
                    "--file: cannot read {}: {err}",
                    args.file.display()
                )));
            }
            let store = setup::open(&setup.store, true).await?;
            if store.never_written().await == Some(true) {
                warn(
                    &format!(
                        "nothing was ever written under the key prefix {:?} of this Redis: if \
                         the services use another prefix or database (--key-prefix, --config), \
                         they will not see this revocation",
                        store
                            .redis()
                            .map_or("", |redis| redis.key_prefix().as_str())
                    ),
                    global.json,
                );
            }
            let revocations = setup::engine(&store, policy);
            match revoke {
                Revoke::Users(args) => {
                    let location = jwt_revoke::ops::location_of(store.config());
                    bulk::revoke_users(args, &revocations, &location, global.json).await
                }
                one => commands::revoke_one(one, token, &revocations, &store).await,
            }
        }
    }
}
