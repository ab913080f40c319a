//! The gRPC demo: `cargo run -p jwt-revoke-examples --bin demo-grpc`.
//!
//! Environment: `DEMO_GRPC_ADDR` (default `127.0.0.1:50051`), `DEMO_JWT_SECRET` and
//! `REVOCATION_STORE` as for the HTTP demo.

use std::process::ExitCode;

use jwt_revoke_examples::config::{self, Settings};
use jwt_revoke_examples::grpc;

#[tokio::main]
async fn main() -> ExitCode {
    config::init_tracing();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("demo-grpc: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let settings = Settings::from_env("DEMO_GRPC_ADDR", "127.0.0.1:50051");
    let (listener, config) = settings.start().await?;
    let local = listener.local_addr().map_err(|err| err.to_string())?;
    println!(
        "jwt-revoke gRPC demo listening on http://{local} (store: {})",
        settings.store
    );
    grpc::serve(listener, config, config::ctrl_c())
        .await
        .map_err(|err| err.to_string())
}
