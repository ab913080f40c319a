//! What every demo binary reads from its environment, in one place.

use std::future::Future;
use std::process::ExitCode;

use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use crate::demo::{
    DEFAULT_IDP_AUDIENCE, DEVELOPMENT_SECRET, DemoConfig, ISSUER, IdpConfig, IdpKeys,
};
use jwt_revoke::config::KeySource;
use jwt_revoke::jsonwebtoken::Algorithm;
use jwt_revoke::{ConfigError, RemoteKeys, ReplicaConfig, RevocationConfig, StoreConfig};

/// A demo's settings: where it listens, its HS256 secret, its store — or, with `DEMO_CONFIG`,
/// a file holding the whole layer's configuration.
///
/// `DEMO_CONFIG` and the variables it replaces (`REVOCATION_STORE`,
/// `REVOCATION_LOCAL_REPLICA`, `DEMO_JWT_SECRET`) are refused together: which one would win
/// is a guess an operator should not have to make. `DEMO_ADDR` (where to listen) and the
/// identity provider's variables apply either way.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The address to listen on.
    pub addr: String,
    /// `DEMO_JWT_SECRET`, when set.
    secret: Option<String>,
    /// `REVOCATION_STORE`, when set (`memory` otherwise).
    store: Option<String>,
    /// The `REVOCATION_LOCAL_REPLICA` value: `on` or `off` (default).
    local_replica: String,
    /// `DEMO_CONFIG`: a TOML file with the whole layer's configuration.
    config_file: Option<String>,
    /// `DEMO_IDP_ISSUER`, `DEMO_IDP_PUBLIC_KEY` (a PEM file), `DEMO_IDP_JWKS_URL`,
    /// `DEMO_IDP_DISCOVERY` and `DEMO_IDP_AUDIENCE`.
    idp_issuer: Option<String>,
    idp_public_key: Option<String>,
    idp_jwks_url: Option<String>,
    idp_discovery: String,
    idp_audience: String,
}

fn variable(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

impl Settings {
    /// Reads `addr_var` (default `default_addr`), `DEMO_CONFIG`, `DEMO_JWT_SECRET`,
    /// `REVOCATION_STORE`, `REVOCATION_LOCAL_REPLICA` and the identity provider's variables.
    pub fn from_env(addr_var: &str, default_addr: &str) -> Self {
        Settings {
            addr: std::env::var(addr_var).unwrap_or_else(|_| default_addr.to_owned()),
            secret: std::env::var("DEMO_JWT_SECRET")
                .ok()
                .filter(|v| !v.is_empty()),
            store: variable("REVOCATION_STORE"),
            local_replica: std::env::var("REVOCATION_LOCAL_REPLICA").unwrap_or_default(),
            config_file: variable("DEMO_CONFIG"),
            idp_issuer: std::env::var("DEMO_IDP_ISSUER")
                .ok()
                .filter(|v| !v.is_empty()),
            idp_public_key: std::env::var("DEMO_IDP_PUBLIC_KEY")
                .ok()
                .filter(|v| !v.is_empty()),
            idp_jwks_url: variable("DEMO_IDP_JWKS_URL"),
            idp_discovery: std::env::var("DEMO_IDP_DISCOVERY").unwrap_or_default(),
            idp_audience: std::env::var("DEMO_IDP_AUDIENCE")
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| DEFAULT_IDP_AUDIENCE.to_owned()),
        }
    }

    /// What the demo runs on, as it announces it: the `REVOCATION_STORE` value, or the
    /// `DEMO_CONFIG` file.
    pub fn store_description(&self) -> String {
        match (&self.config_file, &self.store) {
            (Some(file), _) => format!("as configured in {file}"),
            // Read as the store reads it, and shown by its `Debug`, which hides a URL's
            // password where redis-rs would find it.
            (None, Some(store)) => match store.parse::<StoreConfig>() {
                Ok(StoreConfig::Redis(redis)) => format!("redis {:?}", redis.servers),
                Ok(_) => "memory".to_owned(),
                Err(err) => format!("unusable ({err})"),
            },
            (None, None) => "memory".to_owned(),
        }
    }

    /// Builds the store (or the whole layer, with `DEMO_CONFIG`) and binds the address; the
    /// error says which failed and why.
    pub async fn start(&self) -> Result<(TcpListener, DemoConfig), String> {
        let mut config = match &self.config_file {
            Some(file) => self.demo_of_config_file(file).await?,
            None => self.demo_of_variables().await?,
        };
        if let Some(idp) = self.idp().await? {
            config = config.with_idp(idp);
        }
        let listener = TcpListener::bind(&self.addr)
            .await
            .map_err(|err| format!("cannot listen on {}: {err}", self.addr))?;
        Ok((listener, config))
    }

    /// The demo of `REVOCATION_STORE`, `REVOCATION_LOCAL_REPLICA` and `DEMO_JWT_SECRET`.
    async fn demo_of_variables(&self) -> Result<DemoConfig, String> {
        let local_replica = match self.local_replica.trim().to_ascii_lowercase().as_str() {
            "" | "off" | "0" | "false" => false,
            "on" | "1" | "true" => true,
            other => {
                return Err(format!(
                    "REVOCATION_LOCAL_REPLICA must be `on` or `off`, not {other:?}"
                ));
            }
        };
        let store = store_config(self.store.as_deref().unwrap_or("memory"), local_replica)?
            .build()
            .await
            .map_err(|err| err.to_string())?;
        let secret = match &self.secret {
            Some(secret) => secret.clone(),
            None => {
                tracing::warn!("DEMO_JWT_SECRET is not set: using the public development secret");
                DEVELOPMENT_SECRET.to_owned()
            }
        };
        Ok(DemoConfig::new(secret.into_bytes(), store))
    }

    /// The demo of the `DEMO_CONFIG` file: its layer as the file says, and the demo's tokens
    /// signed with the file's issuer's secret.
    async fn demo_of_config_file(&self, file: &str) -> Result<DemoConfig, String> {
        let conflicting: Vec<&str> = [
            ("REVOCATION_STORE", self.store.is_some()),
            (
                "REVOCATION_LOCAL_REPLICA",
                !self.local_replica.trim().is_empty(),
            ),
            ("DEMO_JWT_SECRET", self.secret.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        if !conflicting.is_empty() {
            return Err(format!(
                "DEMO_CONFIG holds the whole layer's configuration, its store and secret \
                 included: unset {} (or DEMO_CONFIG)",
                conflicting.join(" and ")
            ));
        }
        let in_file = |err: &dyn std::fmt::Display| format!("DEMO_CONFIG {file}: {err}");
        let text = std::fs::read_to_string(file)
            .map_err(|err| format!("cannot read DEMO_CONFIG {file:?}: {err}"))?;
        let config = read_config(&text).map_err(|err| in_file(&err))?;
        let layer = config.build().await.map_err(|err| in_file(&err))?;
        let secret = signing_secret(&config).map_err(|err| in_file(&err))?;
        Ok(DemoConfig::with_layer(secret, layer))
    }
}

/// Reads a layer configuration from TOML text; the error names the setting (or, for text
/// that is not TOML, the line) without quoting the file.
pub fn read_config(text: &str) -> Result<RevocationConfig, ConfigError> {
    let deserializer = toml::Deserializer::parse(text).map_err(|err| {
        let line = err
            .span()
            .and_then(|span| text.get(..span.start))
            .map_or(1, |before| before.lines().count().max(1));
        ConfigError::Invalid {
            path: format!("line {line}"),
            message: err.message().to_owned(),
        }
    })?;
    RevocationConfig::from_deserializer(deserializer)
}

/// The secret the demo signs its tokens with: that of the configured issuer, which must be the
/// demo's (`iss` = `jwt-revoke-demo`), allow HS256 and have a `secret_file` key without `kid`
/// (the demo's tokens name none). Read as the layer reads it: one trailing newline trimmed.
fn signing_secret(config: &RevocationConfig) -> Result<Vec<u8>, String> {
    let Some((index, issuer)) = config
        .issuers
        .iter()
        .enumerate()
        .find(|(_, issuer)| issuer.iss == ISSUER)
    else {
        return Err(format!(
            "issuers: the demo issues tokens as {ISSUER:?}, so the layer must accept that \
             issuer: add an [[issuers]] entry with iss = {ISSUER:?}"
        ));
    };
    if !issuer.algorithms.contains(&Algorithm::HS256) {
        return Err(format!(
            "issuers[{index}].algorithms: the demo signs its tokens HS256: allow it"
        ));
    }
    let file = issuer
        .keys
        .iter()
        .find_map(|key| match (&key.kid, &key.source) {
            (None, KeySource::SecretFile(file)) => Some(file),
            _ => None,
        })
        .ok_or(format!(
            "issuers[{index}].keys: the demo signs its tokens with a secret_file key without \
             kid: add one"
        ))?;
    let mut secret = std::fs::read(file).map_err(|err| {
        format!(
            "issuers[{index}].keys: cannot read {}: {err}",
            file.display()
        )
    })?;
    if secret.last() == Some(&b'\n') {
        secret.pop();
        if secret.last() == Some(&b'\r') {
            secret.pop();
        }
    }
    Ok(secret)
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
    /// The identity provider, when `DEMO_IDP_ISSUER` is set with exactly one of its key
    /// sources: `DEMO_IDP_PUBLIC_KEY`, `DEMO_IDP_JWKS_URL` or `DEMO_IDP_DISCOVERY=on`. One
    /// without the other, or two sources, is a mistake worth stopping for. Fetched keys are
    /// fetched once before the demo listens (a failure stops it); `http://` is accepted to a
    /// loopback address only.
    async fn idp(&self) -> Result<Option<IdpConfig>, String> {
        let discovery = match self.idp_discovery.trim().to_ascii_lowercase().as_str() {
            "" | "off" | "0" | "false" => false,
            "on" | "1" | "true" => true,
            other => {
                return Err(format!(
                    "DEMO_IDP_DISCOVERY must be `on` or `off`, not {other:?}"
                ));
            }
        };
        let sources = [
            self.idp_public_key.is_some(),
            self.idp_jwks_url.is_some(),
            discovery,
        ]
        .into_iter()
        .filter(|set| *set)
        .count();
        let Some(issuer) = &self.idp_issuer else {
            if sources > 0 {
                return Err("set DEMO_IDP_ISSUER with the identity provider's keys".to_owned());
            }
            return Ok(None);
        };
        if sources != 1 {
            return Err(
                "with DEMO_IDP_ISSUER, set exactly one of DEMO_IDP_PUBLIC_KEY, \
                        DEMO_IDP_JWKS_URL and DEMO_IDP_DISCOVERY=on"
                    .to_owned(),
            );
        }
        let keys = if let Some(path) = &self.idp_public_key {
            IdpKeys::PublicKeyPem(
                std::fs::read(path)
                    .map_err(|err| format!("cannot read DEMO_IDP_PUBLIC_KEY {path:?}: {err}"))?,
            )
        } else {
            let (builder, variable) = match &self.idp_jwks_url {
                Some(url) => (RemoteKeys::jwks_url(url.clone()), "DEMO_IDP_JWKS_URL"),
                None => (RemoteKeys::discover(issuer.clone()), "DEMO_IDP_DISCOVERY"),
            };
            let keys = builder
                .allow_http_loopback()
                .start()
                .await
                .map_err(|err| format!("{variable}: {err}"))?;
            IdpKeys::Remote(keys)
        };
        Ok(Some(IdpConfig {
            issuer: issuer.clone(),
            keys,
            audience: self.idp_audience.clone(),
        }))
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
        settings.store_description()
    );
    Ok(())
}
