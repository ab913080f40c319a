//! The demo service: `cargo run -p jwt-revoke-examples --bin demo`.
//!
//! Environment: `DEMO_ADDR` (default `127.0.0.1:3000`), `DEMO_JWT_SECRET` (a development
//! default when unset), `REVOCATION_STORE` (default `memory`).

use std::process::ExitCode;

use jwt_revoke_examples::config::{self, Settings};
use jwt_revoke_examples::demo;

#[tokio::main]
async fn main() -> ExitCode {
    config::init_tracing();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("demo: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let settings = Settings::from_env("DEMO_ADDR", "127.0.0.1:3000");
    let (listener, config) = settings.start().await?;
    let app = demo::router(config).map_err(|err| err.to_string())?;
    let local = listener.local_addr().map_err(|err| err.to_string())?;
    println!(
        "jwt-revoke demo listening on http://{local} (store: {})",
        settings.store
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(config::ctrl_c())
        .await
        .map_err(|err| err.to_string())
}
