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
        Err(err) if err.use_stderr() && std::env::args().any(|arg| arg == "--json") => {
            // A usage error, asked for as JSON: one object with its `error`, as every error.
            let message = err.render().to_string();
            let what: Vec<&str> = message
                .lines()
                .map(str::trim)
                .take_while(|line| !line.starts_with("Usage:"))
                .filter(|line| !line.is_empty())
                .collect();
            let what = what.join(" ");
            print_failure(&Failure::usage(what.trim_start_matches("error: ")), true);
            return ExitCode::from(output::EXIT_USAGE);
        }
        // `--help`, `--version`, and usage errors in clap's own words (exit 2).
        Err(err) => err.exit(),
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
