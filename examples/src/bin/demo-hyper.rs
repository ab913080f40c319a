//! The bare Hyper 1 demo: `cargo run -p jwt-revoke-examples --bin demo-hyper`.
//!
//! Environment: `DEMO_HYPER_ADDR` (default `127.0.0.1:3001`), `DEMO_JWT_SECRET` and
//! `REVOCATION_STORE` as for the HTTP demo. Tokens come from the HTTP demo's `/login` (same
//! secret) or any HS256 token with `iss` = `jwt-revoke-demo`.

use std::process::ExitCode;

use jwt_revoke_examples::config::{announce, ctrl_c, run_demo};
use jwt_revoke_examples::hyper_demo;

#[tokio::main]
async fn main() -> ExitCode {
    run_demo(
        "demo-hyper",
        "DEMO_HYPER_ADDR",
        "127.0.0.1:3001",
        |settings, listener, config| async move {
            announce("jwt-revoke Hyper demo", &listener, &settings)?;
            hyper_demo::serve(listener, config, ctrl_c())
                .await
                .map_err(|err| err.to_string())
        },
    )
    .await
}
