//! The demo service: `cargo run -p jwt-revoke-examples --bin demo`.
//!
//! Environment: `DEMO_ADDR` (default `127.0.0.1:3000`), `DEMO_JWT_SECRET` (a development
//! default when unset), `REVOCATION_STORE` (default `memory`).

use std::process::ExitCode;

use jwt_revoke_examples::demo::{self, DEVELOPMENT_SECRET, DemoConfig};
use jwt_revoke_examples::store::store_from_config;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("demo: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let addr = std::env::var("DEMO_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let secret = match std::env::var("DEMO_JWT_SECRET") {
        Ok(secret) if !secret.is_empty() => secret,
        _ => {
            tracing::warn!("DEMO_JWT_SECRET is not set: using the public development secret");
            DEVELOPMENT_SECRET.to_owned()
        }
    };
    let store_config = std::env::var("REVOCATION_STORE").unwrap_or_else(|_| "memory".to_owned());
    let store = store_from_config(&store_config)
        .await
        .map_err(|err| err.to_string())?;
    let app = demo::router(DemoConfig {
        secret: secret.into_bytes(),
        store,
    })
    .map_err(|err| err.to_string())?;

    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|err| format!("cannot listen on {addr}: {err}"))?;
    let local = listener.local_addr().map_err(|err| err.to_string())?;
    println!("jwt-revoke demo listening on http://{local} (store: {store_config})");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|err| err.to_string())
}
