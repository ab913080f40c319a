//! What every demo binary reads from its environment, in one place.

use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use crate::demo::{DEVELOPMENT_SECRET, DemoConfig};
use crate::store::store_from_config;

/// A demo's settings: where it listens, its HS256 secret, its store.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The address to listen on.
    pub addr: String,
    /// The HS256 secret (the public development secret when `DEMO_JWT_SECRET` is unset).
    secret: String,
    /// The `REVOCATION_STORE` value (default `memory`).
    pub store: String,
}

impl Settings {
    /// Reads `addr_var` (default `default_addr`), `DEMO_JWT_SECRET` and `REVOCATION_STORE`.
    pub fn from_env(addr_var: &str, default_addr: &str) -> Self {
        let secret = match std::env::var("DEMO_JWT_SECRET") {
            Ok(secret) if !secret.is_empty() => secret,
            _ => {
                tracing::warn!("DEMO_JWT_SECRET is not set: using the public development secret");
                DEVELOPMENT_SECRET.to_owned()
            }
        };
        Settings {
            addr: std::env::var(addr_var).unwrap_or_else(|_| default_addr.to_owned()),
            secret,
            store: std::env::var("REVOCATION_STORE").unwrap_or_else(|_| "memory".to_owned()),
        }
    }

    /// Builds the store and binds the address; the error says which failed and why.
    pub async fn start(&self) -> Result<(TcpListener, DemoConfig), String> {
        let store = store_from_config(&self.store)
            .await
            .map_err(|err| err.to_string())?;
        let listener = TcpListener::bind(&self.addr)
            .await
            .map_err(|err| format!("cannot listen on {}: {err}", self.addr))?;
        let config = DemoConfig {
            secret: self.secret.clone().into_bytes(),
            store,
        };
        Ok((listener, config))
    }
}

/// Logs to stderr at `RUST_LOG` (default `info`).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// Completes at Ctrl-C (or never, where the signal cannot be listened to).
pub async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
