//! From the options to a store and an engine: the settings file, `--store`, the policy.

use std::time::Duration;

use jwt_revoke::ops::{OperatorStore, StoreKind, kind_of};
use jwt_revoke::redis::{BuildError, KeyPrefix, RedisServers};
use jwt_revoke::{
    IdentityRule, ListMode, Policy, RevocationConfig, Revocations, StoreConfig, StoreConfigError,
};

use crate::cli::{Global, Mode};
use crate::output::{Failure, never_print};

/// The largest settings file read.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The store's settings and, when the command needs one, the policy.
pub(crate) struct Setup {
    pub(crate) store: StoreConfig,
    pub(crate) policy: Option<Policy>,
}

/// Reads the options: the settings file, `--store`, `--key-prefix`, the policy options.
/// `needs_policy`: the command judges or writes records (everything but `status`).
pub(crate) fn setup(global: &Global, needs_policy: bool) -> Result<Setup, Failure> {
    let file = match &global.config {
        Some(path) => {
            if global.policy.any() {
                return Err(Failure::usage(
                    "the policy options (--max-token-lifetime, --leeway, …) contradict --config, \
                     whose [policy] is the services' own: give one or the other",
                ));
            }
            Some(read_config(path)?)
        }
        None => None,
    };
    let mut store = match (&global.store, &file) {
        (Some(url), file) => {
            hide_passwords_of(url);
            let given = url
                .parse::<StoreConfig>()
                .map_err(|err| Failure::usage(format!("--store: {err}")))?;
            match (given, file.as_ref().map(|config| &config.store)) {
                // Another way to the same Redis (a tunnel, a port-forward): the file's other
                // settings stay, its key prefix above all, or the records would go elsewhere.
                (StoreConfig::Redis(given), Some(StoreConfig::Redis(settings))) => {
                    let mut settings = settings.clone();
                    settings.servers = given.servers;
                    StoreConfig::Redis(settings)
                }
                (given, _) => given,
            }
        }
        (None, Some(config)) => config.store.clone(),
        (None, None) => {
            return Err(Failure::usage(
                "no store: give --store redis://… (or REVOCATION_STORE), or the services' \
                 settings file with --config",
            ));
        }
    };
    if let StoreConfig::Redis(redis) = &store {
        match &redis.servers {
            RedisServers::One(url) => hide_passwords_of(url),
            RedisServers::Cluster(nodes) => nodes.iter().for_each(|node| hide_passwords_of(node)),
            _ => {}
        }
    }
    if let Some(prefix) = &global.key_prefix {
        let StoreConfig::Redis(redis) = &mut store else {
            return Err(Failure::usage("--key-prefix is for a Redis store"));
        };
        redis.key_prefix = KeyPrefix::new(prefix.clone())
            .map_err(|err| Failure::usage(format!("--key-prefix: {err}")))?;
    }
    let policy = match (&file, needs_policy) {
        (_, false) => None,
        (Some(config), true) => Some(
            config
                .build_policy()
                .map_err(|err| Failure::usage(format!("--config: {err}")))?,
        ),
        (None, true) => Some(policy_from_options(global)?),
    };
    Ok(Setup { store, policy })
}

fn read_config(path: &std::path::Path) -> Result<RevocationConfig, Failure> {
    use std::io::Read as _;
    let shown = path.display();
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_CONFIG_BYTES).read_to_string(&mut text))
        .map_err(|err| Failure::usage(format!("--config: cannot read {shown}: {err}")))?;
    let is_json = path
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("json"));
    let read = if is_json {
        RevocationConfig::from_deserializer(&mut serde_json::Deserializer::from_str(&text))
    } else {
        let deserializer = toml::Deserializer::parse(&text).map_err(|err| {
            // The reader quotes the offending line, which may hold a password: only where.
            let first = err
                .to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned();
            Failure::usage(format!("--config: {shown} is not TOML: {first}"))
        })?;
        RevocationConfig::from_deserializer(deserializer)
    };
    read.map_err(|err| Failure::usage(format!("--config: {shown}: {err}")))
}

/// Remembers the password (and the whole user part) of a Redis URL as never to be printed.
pub(crate) fn hide_passwords_of(url: &str) {
    let Some((_, rest)) = url.split_once("://") else {
        return;
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    if let Some((user_part, _)) = authority.rsplit_once('@') {
        never_print(user_part);
        if let Some((_, password)) = user_part.split_once(':') {
            never_print(password);
        }
    }
    if let Some((_, query)) = rest.split_once('?') {
        for pair in query.split('&') {
            if let Some((_, value)) = pair.split_once('=') {
                never_print(value);
            }
        }
    }
}

fn policy_from_options(global: &Global) -> Result<Policy, Failure> {
    let options = &global.policy;
    let Some(lifetime) = &options.max_token_lifetime else {
        return Err(Failure::usage(
            "give the services' longest token lifetime (--max-token-lifetime 15m, or \
             REVOCATION_MAX_TOKEN_LIFETIME), or their settings file (--config): a cut-off kept \
             for less than the services' lifetime would let revoked tokens work again",
        ));
    };
    let mut policy = Policy::new(duration("--max-token-lifetime", lifetime, false)?);
    if let Some(leeway) = &options.leeway {
        policy = policy.with_leeway(duration("--leeway", leeway, true)?);
    }
    if let Some(skew) = &options.issued_at_skew {
        policy = policy.with_issued_at_skew(duration("--issued-at-skew", skew, true)?);
    }
    if let Some(mode) = options.mode {
        policy = policy.with_mode(match mode {
            Mode::Denylist => ListMode::Denylist,
            Mode::Allowlist => ListMode::Allowlist,
        });
    }
    if options.require_jti {
        policy = policy.with_identity(IdentityRule::RequireJti);
    }
    if let Some(retention) = &options.tokens_without_exp {
        policy =
            policy.accept_tokens_without_exp(duration("--tokens-without-exp", retention, false)?);
    }
    policy
        .with_claim_cutoffs(options.claim_cutoffs.iter().cloned())
        .map_err(|err| Failure::usage(format!("--claim-cutoff: {err}")))
}

/// A duration as the settings file writes it (`250ms`, `2s`, `15m`, `24h`); `0` too when
/// `zero_allowed`.
pub(crate) fn duration(option: &str, text: &str, zero_allowed: bool) -> Result<Duration, Failure> {
    if zero_allowed && text.trim().trim_end_matches(['s', 'm']).trim() == "0" {
        return Ok(Duration::ZERO);
    }
    jwt_revoke::settings::duration(serde_json::Value::String(text.to_owned()))
        .map_err(|err| Failure::usage(format!("{option}: {err}")))
}

/// Opens the store; for a command that writes (`writes`), refuses the memory store, whose
/// records no service would ever see.
pub(crate) async fn open(store: &StoreConfig, writes: bool) -> Result<OperatorStore, Failure> {
    if writes && kind_of(store) == StoreKind::Memory {
        return Err(Failure::usage(
            "the memory store lives inside each service's process: a revocation written here \
             would be gone when this command exits, and no service would see it. Give the \
             services' Redis (--store redis://…), or use the service's admin API",
        ));
    }
    OperatorStore::open(store)
        .await
        .map_err(|err| store_failure(&err))
}

/// A store that could not be opened: bad settings are usage errors, the rest failures.
pub(crate) fn store_failure(err: &StoreConfigError) -> Failure {
    if let StoreConfigError::Redis(BuildError::TlsNotEnabled) = err {
        return Failure::usage(
            "a rediss:// store needs TLS, which this build of jwt-revoke lacks: install it with \
             `cargo install --path crates/jwt-revoke-cli --features tls`",
        );
    }
    let message = format!("the store cannot be opened: {err}");
    let usage = match err {
        StoreConfigError::Unsupported(_)
        | StoreConfigError::NotEnabled { .. }
        | StoreConfigError::ReplicaNotAvailable(_) => true,
        StoreConfigError::Redis(build) => match build {
            BuildError::InvalidConfig(_)
            | BuildError::InvalidKeyPrefix(_)
            | BuildError::TlsNotEnabled => true,
            BuildError::Redis(redis) => {
                redis.kind() == jwt_revoke::redis::redis::ErrorKind::InvalidClientConfig
            }
            _ => false,
        },
        _ => false,
    };
    if usage {
        Failure::usage(message)
    } else {
        Failure::failed(message)
    }
}

/// The engine over an opened store.
pub(crate) fn engine(store: &OperatorStore, policy: Policy) -> Revocations {
    Revocations::new(store.store(), policy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::scrub;

    #[test]
    fn a_urls_password_is_never_printed_wherever_it_appears() {
        hide_passwords_of("redis://operator:Hunter2pw@redis.internal:6379/0?pass=Other5ecret");
        hide_passwords_of("redis://:Lone9pw@[::1]:6379");
        let text = "AUTH operator Hunter2pw failed; operator:Hunter2pw; Other5ecret; Lone9pw";
        let shown = scrub(text);
        for secret in ["Hunter2pw", "Other5ecret", "Lone9pw"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.starts_with("AUTH operator *** failed"), "{shown}");
    }

    #[test]
    fn durations_are_written_as_in_the_settings_file() {
        assert_eq!(
            duration("x", "15m", false).ok(),
            Some(Duration::from_secs(900))
        );
        assert_eq!(
            duration("x", "24h", false).ok(),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(duration("x", "0", true).ok(), Some(Duration::ZERO));
        assert_eq!(duration("x", "0s", true).ok(), Some(Duration::ZERO));
        let refused = duration("--max-token-lifetime", "0", false).expect_err("zero");
        assert!(
            refused.message.starts_with("--max-token-lifetime:"),
            "{}",
            refused.message
        );
        assert!(duration("x", "soon", true).is_err());
    }
}
