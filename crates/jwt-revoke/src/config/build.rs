//! [`RevocationConfig::build`]: the files read, every setting checked against the others,
//! the store connected, the layer built.

use std::path::Path;

#[cfg(feature = "redis")]
use jwt_revoke_core::ListMode;
use jwt_revoke_core::{Policy, Revocations};
use jwt_revoke_tower::jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
use jwt_revoke_tower::jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use jwt_revoke_tower::{
    BuildError, DecodingKeys, Keys, RevocationLayer, StoreFailure, TrustedIssuer,
};

use super::fields::{
    NO_TOKEN_SOURCE, check_bypass_path, check_bypass_prefix, check_cookie_name, check_issuers,
    check_public_key_set,
};
use super::{ConfigError, IssuerConfig, KeySource, OnStoreFailure, RevocationConfig};

impl RevocationConfig {
    /// Builds the layer: reads the key files, checks every key against its issuer's
    /// algorithms, builds the store (a Redis store is connected before this returns), and
    /// builds the layer. Call it inside a Tokio runtime. The engine is the layer's
    /// ([`RevocationLayer::revocations`]): give it to handlers and event receivers.
    ///
    /// Every error names its setting ([`ConfigError::path`]); the key files are read before
    /// the store is built, so a wrong path is found without waiting for a server.
    pub async fn build(&self) -> Result<RevocationLayer, ConfigError> {
        self.check()?;
        let mut trusted = Vec::with_capacity(self.issuers.len());
        for (index, issuer) in self.issuers.iter().enumerate() {
            let at = format!("issuers[{index}]");
            let mut one = TrustedIssuer::new(
                issuer.iss.clone(),
                keys_of(issuer, &at).await?,
                &issuer.algorithms,
            );
            if let Some(audiences) = &issuer.audiences {
                one = one.audiences(audiences.iter().cloned());
            }
            trusted.push(one);
        }
        let policy = self.policy()?;
        let store = self.store.build().await.map_err(ConfigError::Store)?;
        let revocations = Revocations::new(store, policy);
        let mut builder = RevocationLayer::verifying_issuers(revocations, trusted)
            .audiences(self.audiences.iter().cloned())
            .token_sources(self.token_sources.iter().cloned());
        if self.accept_any_audience {
            builder = builder.accept_any_audience();
        }
        for path in &self.bypass.paths {
            builder = builder.bypass(path.clone());
        }
        for prefix in &self.bypass.prefixes {
            builder = builder.bypass_prefix(prefix.clone());
        }
        match (self.on_store_failure, self.retry_after) {
            (OnStoreFailure::FailOpen, _) => {
                builder = builder.on_store_failure(StoreFailure::FailOpen);
            }
            (OnStoreFailure::FailClosed, Some(retry_after)) => {
                builder = builder.on_store_failure(StoreFailure::FailClosed { retry_after });
            }
            // The layer's default: fail closed, `Retry-After: 1`.
            (OnStoreFailure::FailClosed, None) => {}
        }
        if let Some(capacity) = self.cache_verified_tokens {
            builder = builder.cache_verified_tokens(capacity.get());
        }
        if let Some(max_bytes) = self.claims_memo {
            builder = builder.claims_memo(max_bytes);
        }
        if let Some(max_bytes) = self.max_token_bytes {
            builder = builder.max_token_bytes(max_bytes.get());
        }
        if let Some(mode) = self.shadow_mode {
            builder = builder.shadow_mode(mode);
        }
        let one_issuer = self.issuers.len() == 1;
        builder.build().map_err(|source| {
            let path = match &source {
                BuildError::NoCryptoBackend => "the configuration",
                _ if one_issuer => "issuers[0].keys",
                _ => "issuers",
            };
            ConfigError::Layer {
                path: path.to_owned(),
                source,
            }
        })
    }

    /// Builds the engine alone: the store and the policy, no keys read, no layer. For tools
    /// that revoke or check by hand with the very settings of the service (the `jwt-revoke`
    /// command-line tool reads the service's file), so that a cut-off lives as long as the
    /// service's policy needs. Call it inside a Tokio runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let config: jwt_revoke::RevocationConfig = toml::from_str(r#"
    ///     [store]
    ///     backend = "memory"
    ///     [policy]
    ///     max_token_lifetime = "15m"
    ///     [[issuers]]
    ///     iss = "https://auth.example.com"
    ///     algorithms = ["HS256"]
    ///     [[issuers.keys]]
    ///     secret_file = "/run/secrets/not-read-by-build-revocations"
    /// "#)?;
    /// let revocations = config.build_revocations().await?;
    /// assert_eq!(revocations.policy().max_token_lifetime(), std::time::Duration::from_secs(900));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn build_revocations(&self) -> Result<Revocations, ConfigError> {
        let policy = self.build_policy()?;
        let store = self.store.build().await.map_err(ConfigError::Store)?;
        Ok(Revocations::new(store, policy))
    }

    /// The policy these settings describe (`[policy]`), checked.
    pub fn build_policy(&self) -> Result<Policy, ConfigError> {
        self.policy()
    }

    /// The policy these settings describe.
    fn policy(&self) -> Result<Policy, ConfigError> {
        let settings = &self.policy;
        let mut policy = Policy::new(settings.max_token_lifetime)
            .with_mode(settings.mode)
            .with_identity(settings.identity);
        if let Some(leeway) = settings.leeway {
            policy = policy.with_leeway(leeway);
        }
        if let Some(skew) = settings.issued_at_skew {
            policy = policy.with_issued_at_skew(skew);
        }
        if let Some(retention) = settings.tokens_without_exp {
            policy = policy.accept_tokens_without_exp(retention);
        }
        // Checked while reading too; the fields are public, so again here.
        policy
            .with_claim_cutoffs(settings.claim_cutoffs.iter().cloned())
            .map_err(|err| ConfigError::invalid("policy.claim_cutoffs", err.to_string()))
    }

    /// The rules reading checks, checked again (the fields are public, so a value may have
    /// changed since), and the settings that contradict each other.
    fn check(&self) -> Result<(), ConfigError> {
        check_issuers(&self.issuers).map_err(|why| ConfigError::invalid("issuers", why))?;
        if self.token_sources.is_empty() {
            return Err(ConfigError::invalid("token_sources", NO_TOKEN_SOURCE));
        }
        for (index, source) in self.token_sources.iter().enumerate() {
            if let jwt_revoke_tower::TokenSource::Cookie(name) = source {
                check_cookie_name(name).map_err(|why| {
                    ConfigError::invalid(format!("token_sources[{index}].cookie"), why)
                })?;
            }
        }
        for (field, paths, check) in [
            (
                "paths",
                &self.bypass.paths,
                check_bypass_path as fn(&str) -> Result<(), String>,
            ),
            ("prefixes", &self.bypass.prefixes, check_bypass_prefix),
        ] {
            for (index, path) in paths.iter().enumerate() {
                check(path)
                    .map_err(|why| ConfigError::invalid(format!("bypass.{field}[{index}]"), why))?;
            }
        }
        #[cfg(feature = "redis")]
        if let (ListMode::Allowlist, crate::StoreConfig::Redis(redis)) =
            (self.policy.mode, &self.store)
            && redis
                .local_replica
                .as_ref()
                .is_some_and(|replica| !replica.confirm_missing_tokens)
        {
            // In allowlist mode "not held" means "refuse": a token registered on another
            // instance a moment ago would be refused here until it reaches this replica.
            return Err(ConfigError::invalid(
                "store.local_replica.confirm_missing_tokens",
                "in allowlist mode (policy.mode) a local replica must ask Redis about the \
                 tokens it does not hold: set it to true",
            ));
        }
        if self.accept_any_audience && !self.audiences.is_empty() {
            return Err(ConfigError::invalid(
                "accept_any_audience",
                "accepting any audience contradicts `audiences`: give one or the other",
            ));
        }
        if self.on_store_failure == OnStoreFailure::FailOpen && self.retry_after.is_some() {
            return Err(ConfigError::invalid(
                "retry_after",
                "`retry_after` is what a fail-closed 503 says: it has no meaning with \
                 on_store_failure = \"fail_open\"",
            ));
        }
        Ok(())
    }
}

/// The issuer's keys: read from their files, or fetched (the first fetch done before this
/// returns, unless `fetch.start_without_keys`).
async fn keys_of(issuer: &IssuerConfig, at: &str) -> Result<Keys, ConfigError> {
    if !issuer.keys.is_empty() {
        return issuer_keys(issuer, at).map(Keys::from);
    }
    remote_keys(issuer, at).await
}

#[cfg(feature = "remote-keys")]
async fn remote_keys(issuer: &IssuerConfig, at: &str) -> Result<Keys, ConfigError> {
    use jwt_revoke_tower::RemoteKeys;
    let (mut builder, field) = match &issuer.jwks_url {
        Some(url) => (RemoteKeys::jwks_url(url.clone()), "jwks_url"),
        None => (RemoteKeys::discover(issuer.iss.clone()), "discovery"),
    };
    let fetch = issuer.fetch.clone().unwrap_or_default();
    if fetch.refresh_min.is_some() || fetch.refresh_max.is_some() {
        builder = builder.refresh_bounds(
            fetch
                .refresh_min
                .unwrap_or(jwt_revoke_tower::remote::DEFAULT_REFRESH_MIN),
            fetch
                .refresh_max
                .unwrap_or(jwt_revoke_tower::remote::DEFAULT_REFRESH_MAX),
        );
    }
    if let Some(interval) = fetch.refetch_interval {
        builder = builder.refetch_interval(interval);
    }
    if let Some(wait) = fetch.unknown_kid_wait {
        builder = builder.unknown_kid_wait(wait);
    }
    if let Some(max_stale) = fetch.max_stale {
        builder = builder.max_stale(max_stale);
    }
    if let Some(timeout) = fetch.connect_timeout {
        builder = builder.connect_timeout(timeout);
    }
    if let Some(timeout) = fetch.timeout {
        builder = builder.fetch_timeout(timeout);
    }
    if let Some(bytes) = fetch.max_document_bytes {
        builder = builder.max_document_bytes(bytes.get());
    }
    if fetch.allow_http_loopback {
        builder = builder.allow_http_loopback();
    }
    if fetch.start_without_keys {
        builder = builder.start_without_keys();
    }
    let keys = builder
        .start()
        .await
        .map_err(|err| ConfigError::invalid(format!("{at}.{field}"), err.to_string()))?;
    Ok(Keys::from(keys))
}

#[cfg(not(feature = "remote-keys"))]
async fn remote_keys(issuer: &IssuerConfig, at: &str) -> Result<Keys, ConfigError> {
    let field = if issuer.jwks_url.is_some() {
        "jwks_url"
    } else {
        "discovery"
    };
    Err(ConfigError::invalid(
        format!("{at}.{field}"),
        "fetched keys need the feature `remote-keys` of jwt-revoke",
    ))
}

/// A key read from its source, with what it can verify.
enum LoadedKey {
    One(DecodingKey),
    Set(JwkSet),
}

/// The issuer's keys as the layer takes them, each checked against the issuer's algorithms.
fn issuer_keys(issuer: &IssuerConfig, at: &str) -> Result<DecodingKeys, ConfigError> {
    if issuer.algorithms.is_empty() {
        return Err(ConfigError::invalid(
            format!("{at}.algorithms"),
            "at least one algorithm is needed",
        ));
    }
    check_key_layout(issuer, at)?;
    let mut loaded = Vec::with_capacity(issuer.keys.len());
    for (index, config) in issuer.keys.iter().enumerate() {
        let at = format!("{at}.keys[{index}]");
        let key = load_key(&config.source, &issuer.algorithms, &at)?;
        loaded.push((config.kid.clone(), key));
    }
    // A key set, when there is one, comes first: its keys are by `kid`, and the configured
    // keys beside it have one too (`check_key_layout`).
    let mut sets = loaded.iter().filter_map(|(_, key)| match key {
        LoadedKey::Set(set) => Some(set),
        LoadedKey::One(_) => None,
    });
    let mut keys = match (sets.next(), sets.next()) {
        (Some(set), None) => DecodingKeys::from_jwks(set).map_err(|err| {
            ConfigError::unusable_key(format!("{at}.keys"), format!("the key set: {err}"))
        })?,
        (Some(_), Some(_)) => {
            return Err(ConfigError::invalid(
                format!("{at}.keys"),
                "one `jwks` per issuer: put every key in one key set",
            ));
        }
        (None, _) => {
            let default = loaded.iter().find_map(|(kid, key)| match (kid, key) {
                (None, LoadedKey::One(key)) => Some(key.clone()),
                _ => None,
            });
            default.map_or_else(DecodingKeys::by_kid_only, DecodingKeys::new)
        }
    };
    for (kid, key) in loaded {
        if let (Some(kid), LoadedKey::One(key)) = (kid, key) {
            keys = keys.with_kid(kid, key);
        }
    }
    // Asked of the keys the layer will hold, with its own rules: a key set's key for
    // encryption, or stating another algorithm, verifies nothing here.
    for algorithm in &issuer.algorithms {
        if !keys.verifies(*algorithm) {
            return Err(ConfigError::invalid(
                format!("{at}.algorithms"),
                format!(
                    "no key of this issuer verifies {algorithm:?}: it needs {} usable for \
                     signatures (in a key set: without `use: enc`, with `verify` among its \
                     `key_ops`, its `alg` unstated or {algorithm:?}); remove it or add such a key",
                    family_key(algorithm.family())
                ),
            ));
        }
    }
    Ok(keys)
}

/// At most one key without `kid`, none beside a key set (whose keys are chosen by `kid`), and
/// no `kid` twice.
fn check_key_layout(issuer: &IssuerConfig, at: &str) -> Result<(), ConfigError> {
    let has_set = issuer
        .keys
        .iter()
        .any(|key| matches!(key.source, KeySource::Jwks(_)));
    let mut without_kid = None;
    for (index, key) in issuer.keys.iter().enumerate() {
        let at = format!("{at}.keys[{index}]");
        if let KeySource::Jwks(set) = &key.source {
            check_public_key_set(set)
                .map_err(|why| ConfigError::invalid(format!("{at}.jwks"), why))?;
            continue;
        }
        match &key.kid {
            None if has_set => {
                return Err(ConfigError::invalid(
                    at,
                    "a key without `kid` cannot sit beside a key set, whose keys are chosen \
                     by `kid`: give this key a `kid`",
                ));
            }
            None if without_kid.is_some() => {
                return Err(ConfigError::invalid(
                    at,
                    "two keys without `kid`: a token without `kid` would match either; give \
                     one a `kid`",
                ));
            }
            None => without_kid = Some(index),
            Some(kid) => {
                let repeated = issuer.keys[..index]
                    .iter()
                    .any(|earlier| earlier.kid.as_deref() == Some(kid));
                if repeated {
                    return Err(ConfigError::invalid(
                        format!("{at}.kid"),
                        format!(
                            "two keys have the kid {kid:?}: a token naming it could be checked against either"
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn load_key(
    source: &KeySource,
    algorithms: &[Algorithm],
    at: &str,
) -> Result<LoadedKey, ConfigError> {
    match source {
        KeySource::PemFile(file) => {
            let at = format!("{at}.pem_file");
            let pem = read(file, &at)?;
            let (key, family) = public_key_from_pem(&pem)
                .ok_or_else(|| ConfigError::unusable_key(&at, pem_problem(&pem, file)))?;
            fits(family, algorithms, &at)?;
            Ok(LoadedKey::One(key))
        }
        KeySource::SecretFile(file) => {
            let at = format!("{at}.secret_file");
            let mut secret = read(file, &at)?;
            trim_trailing_newline(&mut secret);
            if looks_like_a_key(&secret) {
                // The algorithm-confusion mistake, made in the configuration: an HMAC
                // "secret" that is a public key's text lets anyone who has the key sign.
                return Err(ConfigError::unusable_key(
                    &at,
                    format!(
                        "{} holds a key (PEM or JWK), not a shared secret: verifying HMAC with \
                         a public key's text lets anyone who has the key sign tokens; give a \
                         public key with pem_file and an asymmetric algorithm",
                        file.display()
                    ),
                ));
            }
            let strongest = fits(AlgorithmFamily::Hmac, algorithms, &at)?;
            let min_bytes = hmac_min_bytes(strongest);
            if secret.len() < min_bytes {
                return Err(ConfigError::WeakSecret {
                    path: at,
                    file: file.clone(),
                    bytes: secret.len(),
                    min_bytes,
                    algorithm: strongest,
                });
            }
            Ok(LoadedKey::One(DecodingKey::from_secret(&secret)))
        }
        KeySource::Jwks(set) => {
            let at = format!("{at}.jwks");
            let fitting = set
                .keys
                .iter()
                .filter_map(jwk_family)
                .any(|family| algorithms.iter().any(|alg| alg.family() == family));
            if !fitting {
                return Err(ConfigError::unusable_key(
                    at,
                    format!(
                        "no key of the key set verifies any of the issuer's algorithms ({})",
                        list(algorithms)
                    ),
                ));
            }
            Ok(LoadedKey::Set(set.clone()))
        }
    }
}

/// The most a key or secret file may hold: far more than any PEM key, small enough that a
/// path to `/dev/zero` or a log file is an error, not an unbounded read.
const MAX_KEY_FILE_BYTES: u64 = 1 << 20;

fn read(file: &Path, at: &str) -> Result<Vec<u8>, ConfigError> {
    use std::io::Read as _;
    let unreadable = |source| ConfigError::UnreadableFile {
        path: at.to_owned(),
        file: file.to_owned(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|opened| opened.take(MAX_KEY_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(unreadable(std::io::Error::other(format!(
            "it holds more than {MAX_KEY_FILE_BYTES} bytes: not a key"
        ))));
    }
    Ok(bytes)
}

/// Whether a would-be HMAC secret is a key in PEM (`-----BEGIN …`) or JWK (`{"kty": …}`) form.
fn looks_like_a_key(secret: &[u8]) -> bool {
    let contains = |needle: &[u8]| secret.windows(needle.len()).any(|window| window == needle);
    let starts_as_json = secret.trim_ascii_start().first() == Some(&b'{');
    contains(b"-----BEGIN") || (starts_as_json && contains(b"\"kty\""))
}

/// One trailing newline, as an editor or `echo` leaves it.
fn trim_trailing_newline(secret: &mut Vec<u8>) {
    if secret.last() == Some(&b'\n') {
        secret.pop();
        if secret.last() == Some(&b'\r') {
            secret.pop();
        }
    }
}

fn public_key_from_pem(pem: &[u8]) -> Option<(DecodingKey, AlgorithmFamily)> {
    if holds_private_key(pem) {
        return None;
    }
    DecodingKey::from_rsa_pem(pem)
        .map(|key| (key, AlgorithmFamily::Rsa))
        .or_else(|_| DecodingKey::from_ec_pem(pem).map(|key| (key, AlgorithmFamily::Ec)))
        .or_else(|_| DecodingKey::from_ed_pem(pem).map(|key| (key, AlgorithmFamily::Ed)))
        .ok()
}

fn holds_private_key(pem: &[u8]) -> bool {
    String::from_utf8_lossy(pem)
        .lines()
        .any(|line| line.starts_with("-----BEGIN") && line.contains("PRIVATE KEY"))
}

/// What is wrong with a PEM file, without a word of its contents.
fn pem_problem(pem: &[u8], file: &Path) -> String {
    if holds_private_key(pem) {
        format!(
            "{} holds a private key: give the public key (a verifier never needs the \
             private one; `openssl pkey -pubout` derives it)",
            file.display()
        )
    } else {
        format!(
            "{} holds no RSA, EC (P-256, P-384) or Ed25519 public key in PEM \
             (`-----BEGIN PUBLIC KEY-----` or `-----BEGIN RSA PUBLIC KEY-----`)",
            file.display()
        )
    }
}

/// The strongest of `algorithms` a key of `family` verifies, or why it verifies none.
fn fits(
    family: AlgorithmFamily,
    algorithms: &[Algorithm],
    at: &str,
) -> Result<Algorithm, ConfigError> {
    algorithms
        .iter()
        .copied()
        .filter(|alg| alg.family() == family)
        .max_by_key(|alg| hmac_min_bytes(*alg))
        .ok_or_else(|| {
            ConfigError::unusable_key(
                at,
                format!(
                    "{} verifies none of the issuer's algorithms ({}): it verifies {}",
                    family_key(family),
                    list(algorithms),
                    list(family.algorithms())
                ),
            )
        })
}

/// RFC 7518 §3.2: an HMAC key at least as long as the hash (and never shorter than the
/// shortest shared secret jwt-revoke accepts anywhere, its webhook's).
fn hmac_min_bytes(algorithm: Algorithm) -> usize {
    let hash_bytes = match algorithm {
        Algorithm::HS256 => 32,
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => 0,
    };
    hash_bytes.max(jwt_revoke_tower::events::MIN_SECRET_BYTES)
}

fn jwk_family(jwk: &Jwk) -> Option<AlgorithmFamily> {
    match jwk.algorithm {
        AlgorithmParameters::RSA(_) => Some(AlgorithmFamily::Rsa),
        AlgorithmParameters::EllipticCurve(_) => Some(AlgorithmFamily::Ec),
        AlgorithmParameters::OctetKeyPair(_) => Some(AlgorithmFamily::Ed),
        AlgorithmParameters::OctetKey(_) => Some(AlgorithmFamily::Hmac),
        _ => None,
    }
}

fn family_key(family: AlgorithmFamily) -> &'static str {
    match family {
        AlgorithmFamily::Hmac => "an HMAC secret (secret_file)",
        AlgorithmFamily::Rsa => "an RSA public key",
        AlgorithmFamily::Ec => "an EC public key",
        AlgorithmFamily::Ed => "an Ed25519 public key",
    }
}

fn list(algorithms: &[Algorithm]) -> String {
    algorithms
        .iter()
        .map(|alg| format!("{alg:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_trailing_newline_is_trimmed_and_nothing_else() {
        for (raw, trimmed) in [
            (&b"secret\n"[..], &b"secret"[..]),
            (b"secret\r\n", b"secret"),
            (b"secret\n\n", b"secret\n"),
            (b"secret ", b"secret "),
            (b"secret", b"secret"),
            (b"", b""),
        ] {
            let mut secret = raw.to_vec();
            trim_trailing_newline(&mut secret);
            assert_eq!(secret, trimmed, "{raw:?}");
        }
    }

    #[test]
    fn hmac_secrets_are_as_long_as_their_hash() {
        assert_eq!(hmac_min_bytes(Algorithm::HS256), 32);
        assert_eq!(hmac_min_bytes(Algorithm::HS384), 48);
        assert_eq!(hmac_min_bytes(Algorithm::HS512), 64);
    }
}
