//! The demo service: `cargo run -p jwt-revoke-examples --bin demo`.
//!
//! Environment: `DEMO_ADDR` (default `127.0.0.1:3000`), `DEMO_JWT_SECRET` (a development
//! default when unset), `REVOCATION_STORE` (default `memory`), and optionally
//! `DEMO_IDP_ISSUER`, `DEMO_IDP_PUBLIC_KEY`, `DEMO_IDP_AUDIENCE` for back-channel logout. Or
//! `DEMO_CONFIG=examples/demo.toml`: the whole layer from that file (`RevocationConfig`), in
//! place of `REVOCATION_STORE`, `REVOCATION_LOCAL_REPLICA` and `DEMO_JWT_SECRET`, which are
//! then refused.

use std::process::ExitCode;

use jwt_revoke_examples::config::{announce, ctrl_c, run_demo};
use jwt_revoke_examples::demo;

#[tokio::main]
async fn main() -> ExitCode {
    // The layer's, the store's and the receivers' metrics, at `GET /metrics`.
    let recorder = match demo::install_metrics() {
        Ok(recorder) => recorder,
        Err(message) => {
            eprintln!("demo: {message}");
            return ExitCode::FAILURE;
        }
    };
    run_demo(
        "demo",
        "DEMO_ADDR",
        "127.0.0.1:3000",
        |settings, listener, config| async move {
            let app = demo::router(config.with_metrics(recorder)).map_err(|err| err.to_string())?;
            announce("jwt-revoke demo", &listener, &settings)?;
            axum::serve(listener, app)
                .with_graceful_shutdown(ctrl_c())
                .await
                .map_err(|err| err.to_string())
        },
    )
    .await
}
