//! What every demo binary reads from its environment, in one place.

use std::future::Future;
use std::process::ExitCode;

use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use crate::demo::{DEFAULT_IDP_AUDIENCE, DEVELOPMENT_SECRET, DemoConfig, IdpConfig};
use jwt_revoke::{ReplicaConfig, StoreConfig};

/// A demo's settings: where it listens, its HS256 secret, its store.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The address to listen on.
    pub addr: String,
    /// The HS256 secret (the public development secret when `DEMO_JWT_SECRET` is unset).
    secret: String,
    /// The `REVOCATION_STORE` value (default `memory`).
    pub store: String,
    /// The `REVOCATION_LOCAL_REPLICA` value: `on` or `off` (default).
    local_replica: String,
    /// `DEMO_IDP_ISSUER`, `DEMO_IDP_PUBLIC_KEY` (a PEM file) and `DEMO_IDP_AUDIENCE`.
    idp_issuer: Option<String>,
    idp_public_key: Option<String>,
    idp_audience: String,
}

impl Settings {
    /// Reads `addr_var` (default `default_addr`), `DEMO_JWT_SECRET`, `REVOCATION_STORE` and
    /// `REVOCATION_LOCAL_REPLICA`.
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
            store: std::env::var("REVOCATION_STORE")
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| "memory".to_owned()),
            local_replica: std::env::var("REVOCATION_LOCAL_REPLICA").unwrap_or_default(),
            idp_issuer: std::env::var("DEMO_IDP_ISSUER")
                .ok()
                .filter(|v| !v.is_empty()),
            idp_public_key: std::env::var("DEMO_IDP_PUBLIC_KEY")
                .ok()
                .filter(|v| !v.is_empty()),
            idp_audience: std::env::var("DEMO_IDP_AUDIENCE")
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| DEFAULT_IDP_AUDIENCE.to_owned()),
        }
    }

    /// Builds the store and binds the address; the error says which failed and why.
    pub async fn start(&self) -> Result<(TcpListener, DemoConfig), String> {
        let local_replica = match self.local_replica.trim().to_ascii_lowercase().as_str() {
            "" | "off" | "0" | "false" => false,
            "on" | "1" | "true" => true,
            other => {
                return Err(format!(
                    "REVOCATION_LOCAL_REPLICA must be `on` or `off`, not {other:?}"
                ));
            }
        };
        let store = store_config(&self.store, local_replica)?
            .build()
            .await
            .map_err(|err| err.to_string())?;
        let listener = TcpListener::bind(&self.addr)
            .await
            .map_err(|err| format!("cannot listen on {}: {err}", self.addr))?;
        let mut config = DemoConfig::new(self.secret.clone().into_bytes(), store);
        if let Some(idp) = self.idp()? {
            config = config.with_idp(idp);
        }
        Ok((listener, config))
    }
}

/// The store named by `REVOCATION_STORE` (`value`: `memory`, a `redis://` URL, a node list),
/// with a local replica when `REVOCATION_LOCAL_REPLICA` is on; the error names the variable.
pub fn store_config(value: &str, local_replica: bool) -> Result<StoreConfig, String> {
    let config: StoreConfig = value
        .parse()
        .map_err(|err| format!("REVOCATION_STORE: {err}"))?;
    if local_replica {
        config
            .with_local_replica(ReplicaConfig::default())
            .map_err(|err| format!("REVOCATION_LOCAL_REPLICA: {err}"))
    } else {
        Ok(config)
    }
}

impl Settings {
    /// The identity provider, when `DEMO_IDP_ISSUER` and `DEMO_IDP_PUBLIC_KEY` are both set;
    /// one without the other is a mistake worth stopping for.
    fn idp(&self) -> Result<Option<IdpConfig>, String> {
        match (&self.idp_issuer, &self.idp_public_key) {
            (None, None) => Ok(None),
            (Some(issuer), Some(path)) => {
                let public_key_pem = std::fs::read(path)
                    .map_err(|err| format!("cannot read DEMO_IDP_PUBLIC_KEY {path:?}: {err}"))?;
                Ok(Some(IdpConfig {
                    issuer: issuer.clone(),
                    public_key_pem,
                    audience: self.idp_audience.clone(),
                }))
            }
            _ => Err("set both DEMO_IDP_ISSUER and DEMO_IDP_PUBLIC_KEY, or neither".to_owned()),
        }
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

/// The `main` of every demo binary: logs to stderr, runs `serve` with the settings read from
/// `addr_var` (default `default_addr`) and the common variables, and turns a failure into a
/// message on stderr and a failing exit code.
pub async fn run_demo<F, Fut>(name: &str, addr_var: &str, default_addr: &str, serve: F) -> ExitCode
where
    F: FnOnce(Settings, TcpListener, DemoConfig) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    init_tracing();
    let settings = Settings::from_env(addr_var, default_addr);
    let started = settings.start().await;
    let outcome = match started {
        Ok((listener, config)) => serve(settings, listener, config).await,
        Err(message) => Err(message),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{name}: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Prints where a demo listens, the line tests and users read to find it.
pub fn announce(what: &str, listener: &TcpListener, settings: &Settings) -> Result<(), String> {
    let local = listener.local_addr().map_err(|err| err.to_string())?;
    println!(
        "{what} listening on http://{local} (store: {})",
        settings.store
    );
    Ok(())
}
