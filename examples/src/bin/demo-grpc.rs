//! The gRPC demo: `cargo run -p jwt-revoke-examples --bin demo-grpc`.
//!
//! Environment: `DEMO_GRPC_ADDR` (default `127.0.0.1:50051`), `DEMO_JWT_SECRET` and
//! `REVOCATION_STORE` as for the HTTP demo.

use std::process::ExitCode;

use jwt_revoke_examples::config::{announce, ctrl_c, run_demo};
use jwt_revoke_examples::grpc;

#[tokio::main]
async fn main() -> ExitCode {
    run_demo(
        "demo-grpc",
        "DEMO_GRPC_ADDR",
        "127.0.0.1:50051",
        |settings, listener, config| async move {
            announce("jwt-revoke gRPC demo", &listener, &settings)?;
            grpc::serve(listener, config, ctrl_c())
                .await
                .map_err(|err| err.to_string())
        },
    )
    .await
}
