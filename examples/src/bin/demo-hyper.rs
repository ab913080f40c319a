//! The bare Hyper 1 demo: `cargo run -p jwt-revoke-examples --bin demo-hyper`.
//!
//! Environment: `DEMO_HYPER_ADDR` (default `127.0.0.1:3001`), `DEMO_JWT_SECRET` and
//! `REVOCATION_STORE` as for the HTTP demo. Tokens come from the HTTP demo's `/login` (same
//! secret) or any HS256 token with `iss` = `jwt-revoke-demo`.

use std::process::ExitCode;

use jwt_revoke_examples::config::{self, Settings};
use jwt_revoke_examples::hyper_demo;

#[tokio::main]
async fn main() -> ExitCode {
    config::init_tracing();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("demo-hyper: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let settings = Settings::from_env("DEMO_HYPER_ADDR", "127.0.0.1:3001");
    let (listener, config) = settings.start().await?;
    let local = listener.local_addr().map_err(|err| err.to_string())?;
    println!(
        "jwt-revoke Hyper demo listening on http://{local} (store: {})",
        settings.store
    );
    hyper_demo::serve(listener, config, config::ctrl_c())
        .await
        .map_err(|err| err.to_string())
}
