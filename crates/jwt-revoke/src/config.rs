//! [`RevocationConfig`]: the whole revocation layer by configuration — the store, the policy,
//! the issuers and their keys, and every option of the layer — read with serde from a file (TOML,
//! YAML, JSON) or the environment, and built into a [`RevocationLayer`](crate::RevocationLayer).
//!
//! A complete file, in TOML (every setting but `store`, `policy.max_token_lifetime` and the
//! issuer has a default; the values here are examples, not the defaults):
//!
//! ```
//! # use axum::{Router, body::Body, http::{Request, StatusCode}, routing::get};
//! # use jwt_revoke::{RevocationConfig, jsonwebtoken};
//! # use tower::ServiceExt;
//! const CONFIG: &str = r#"
//! audiences = ["https://api.example.com"]     # the `aud` a token must name
//! token_sources = ["bearer", { cookie = "access_token" }]
//! on_store_failure = "fail_closed"            # or "fail_open"
//! retry_after = "2s"                          # what a 503 says (fail_closed only)
//! max_token_bytes = 8192
//! claims_memo = 16777216                      # bytes; 0 turns the memo off
//! cache_verified_tokens = 10000               # worth it for RS256/ES256, off by default
//!
//! [store]                                     # `memory`, or `redis` (see StoreConfig)
//! backend = "memory"
//! capacity = 1000000
//!
//! [policy]
//! max_token_lifetime = "900s"                 # required: your tokens' longest lifetime
//! leeway = "30s"
//! issued_at_skew = "2s"
//! mode = "denylist"                           # or "allowlist"
//! identity = "jti_or_digest"                  # or "require_jti"
//! # tokens_without_exp = "3600s"              # accept tokens without `exp`, kept this long
//! claim_cutoffs = ["azp"]                     # revoke every token of a client app, too
//!
//! [bypass]
//! paths = ["/healthz"]
//! prefixes = ["/grpc.reflection."]
//!
//! [[issuers]]
//! iss = "https://auth.example.com"
//! algorithms = ["HS256"]
//!
//! [[issuers.keys]]
//! secret_file = "/run/secrets/jwt-hs256"      # the bytes of the file, trailing newline trimmed
//! "#;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = std::env::temp_dir().join(format!("jwt-revoke-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! # let secret_file = dir.join("jwt-hs256");
//! # std::fs::write(&secret_file, "an HS256 secret of 32 bytes or more\n")?;
//! # let text = CONFIG.replace("/run/secrets/jwt-hs256", &secret_file.display().to_string());
//! // Errors name the setting: `policy.leeway: invalid duration "soon": …`.
//! let config = RevocationConfig::from_deserializer(toml::Deserializer::parse(&text)?)?;
//! let layer = config.build().await?;          // reads the keys, connects the store
//! let revocations = layer.revocations().clone(); // for handlers and event receivers
//!
//! let app = Router::new().route("/me", get(|| async { "hello" })).layer(layer);
//! # let now = revocations.clock().now().as_secs_floor();
//! # let claims = serde_json::json!({
//! #     "iss": "https://auth.example.com", "aud": "https://api.example.com",
//! #     "sub": "alice", "jti": "t-1", "iat": now, "exp": now + 600,
//! # });
//! # let token = jsonwebtoken::encode(
//! #     &jsonwebtoken::Header::default(),
//! #     &claims,
//! #     &jsonwebtoken::EncodingKey::from_secret(b"an HS256 secret of 32 bytes or more"),
//! # )?;
//! let me = || Request::get("/me").header("authorization", format!("Bearer {token}")).body(Body::empty());
//! assert_eq!(app.clone().oneshot(me()?).await?.status(), StatusCode::OK);
//! # let mut verified = jwt_revoke::RegisteredClaims::new();
//! # verified.iss = Some("https://auth.example.com".into());
//! # verified.sub = Some("alice".into());
//! # verified.jti = Some("t-1".into());
//! # verified.iat = Some(jwt_revoke::NumericDate::from_secs(now));
//! # verified.exp = Some(jwt_revoke::NumericDate::from_secs(now + 600));
//! # revocations.revoke_token(&revocations.inspect(&verified, &claims.to_string())?).await?;
//! // … once the token is revoked:
//! assert_eq!(app.oneshot(me()?).await?.status(), StatusCode::UNAUTHORIZED);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```
//!
//! Every table refuses a field it does not know, with its name (a misspelt `leeway` is an
//! error, not a default). Durations are milliseconds as a number, or text with a unit:
//! `"250ms"`, `"2s"`, `"1.5s"`, `"15m"`, `"1h"`
//! ([`settings::duration`](crate::settings::duration)).
//!
//! Secrets are read from files only, never written in the configuration (which gets
//! printed, logged and committed): [`Debug`] shows a secret file's path, never its
//! contents, and a Redis URL's password is hidden by the store's settings. An inline key set
//! (`jwks`) holds public keys only; one with a shared secret (`kty = "oct"`) is refused.
//!
//! Timeouts have one owner, the store: a Redis store's `timeout` (in `[store]`) bounds each
//! call, and the layer's limit follows from it
//! ([`Revocations::store_timeout`](crate::Revocations::store_timeout)).

mod build;
mod error;
mod fields;

use std::path::PathBuf;
use std::time::Duration;

use jwt_revoke_core::{IdentityRule, ListMode};
use jwt_revoke_tower::TokenSource;
use jwt_revoke_tower::jsonwebtoken::Algorithm;
use jwt_revoke_tower::jsonwebtoken::jwk::JwkSet;
use serde::{Deserialize, Deserializer};

pub use error::ConfigError;

use crate::StoreConfig;

/// The whole revocation layer by configuration: see the [module docs](self) for a complete
/// file. Read it with serde ([`from_deserializer`](Self::from_deserializer) for errors that
/// name the setting), then [`build`](Self::build) the layer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RevocationConfig {
    /// Where revocations live: [`StoreConfig`]'s settings (`backend = "memory"` or
    /// `"redis"`, and the backend's own fields). Required: a fleet that forgot it would each
    /// keep revocations to itself.
    pub store: StoreConfig,
    /// The rules tokens are judged by, and how long records are kept.
    pub policy: PolicyConfig,
    /// Who signs the tokens, each with its keys, algorithms and (optionally) audiences. A
    /// token's `iss` chooses the issuer whose keys verify it (read before verification only
    /// for that choice); a token of an issuer not listed is refused. At least one; no `iss`
    /// twice.
    #[serde(deserialize_with = "fields::issuers")]
    pub issuers: Vec<IssuerConfig>,
    /// The audiences a token's `aud` must name one of. Empty (the default): a token with an
    /// `aud` claim is refused (RFC 7519 §4.1.3), unless `accept_any_audience`.
    #[serde(default, deserialize_with = "fields::names")]
    pub audiences: Vec<String>,
    /// Accept tokens whatever their `aud` says (default `false`); only without `audiences`.
    #[serde(default)]
    pub accept_any_audience: bool,
    /// Where the token is looked for, every source read: `"bearer"` (the `Authorization`
    /// header), `{cookie = "name"}`, `{header = "name"}` (the bare token). Default
    /// `["bearer"]`.
    #[serde(
        default = "fields::default_token_sources",
        deserialize_with = "fields::token_sources"
    )]
    pub token_sources: Vec<TokenSource>,
    /// Paths that skip the layer (health checks, gRPC reflection).
    #[serde(default)]
    pub bypass: BypassConfig,
    /// What to do when the store cannot answer: `"fail_closed"` (the default: 503) or
    /// `"fail_open"` (let the request through, logged and counted).
    #[serde(default)]
    pub on_store_failure: OnStoreFailure,
    /// What the `Retry-After` of a fail-closed 503 says (default 1 s; whole seconds, at
    /// least 1). Only with `on_store_failure = "fail_closed"`.
    #[serde(default, deserialize_with = "fields::optional_duration")]
    pub retry_after: Option<Duration>,
    /// Remember this many verified tokens, so that one seen before skips its signature check
    /// (off by default; worth it for RS256 and ES256, not for HS256).
    #[serde(default)]
    pub cache_verified_tokens: Option<std::num::NonZeroUsize>,
    /// How many bytes the claims memo may hold (default 16 MiB; 0 turns it off): see
    /// [`RevocationLayerBuilder::claims_memo`](crate::RevocationLayerBuilder::claims_memo).
    #[serde(default)]
    pub claims_memo: Option<usize>,
    /// Tokens longer than this many bytes are refused before any parsing (default 8 KiB).
    #[serde(default)]
    pub max_token_bytes: Option<std::num::NonZeroUsize>,
    /// Report-only rollout ([`ShadowMode`](crate::ShadowMode)): `"revocations"` lets revoked
    /// tokens through, `"revocations_and_invalid_tokens"` also requests refused for their token
    /// (without claims); each counted and logged as "would reject". Unset (the default):
    /// everything is enforced.
    #[serde(default, with = "fields::ShadowModeDef")]
    pub shadow_mode: Option<jwt_revoke_tower::ShadowMode>,
}

/// The policy: [`Policy`](crate::Policy)'s settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PolicyConfig {
    /// The longest token lifetime accepted (`exp - iat`). Required: user and session
    /// cut-offs are kept this long, and longer-lived tokens are refused.
    #[serde(deserialize_with = "jwt_revoke_core::settings::duration")]
    pub max_token_lifetime: Duration,
    /// Clock skew tolerated for `exp` and `nbf` (default 60 s; zero allowed).
    #[serde(default, deserialize_with = "fields::optional_duration_or_zero")]
    pub leeway: Option<Duration>,
    /// How far ahead of the clock an `iat` may be (default 2 s; zero allowed): every user or
    /// session cut-off reaches this far ahead too.
    #[serde(default, deserialize_with = "fields::optional_duration_or_zero")]
    pub issued_at_skew: Option<Duration>,
    /// `"denylist"` (the default: valid unless revoked) or `"allowlist"` (valid only while
    /// registered).
    #[serde(default, with = "fields::ListModeDef")]
    pub mode: ListMode,
    /// `"jti_or_digest"` (the default) or `"require_jti"` (a token without `jti` is refused).
    #[serde(default, with = "fields::IdentityRuleDef")]
    pub identity: IdentityRule,
    /// Accept tokens without `exp` (refused when unset), counting them as expiring this long
    /// after their `iat`, which bounds how long their revocations are kept.
    #[serde(default, deserialize_with = "fields::optional_duration")]
    pub tokens_without_exp: Option<Duration>,
    /// Claims whose values get cut-offs, beside the user's and the session's (default none;
    /// at most four, not a date nor `iss`, `sub`, `sid`, `jti`): `["azp", "tenant"]` lets an
    /// operator revoke every token of a client app or a tenant
    /// ([`Policy::with_claim_cutoffs`](crate::Policy::with_claim_cutoffs)).
    #[serde(default, deserialize_with = "fields::claim_cutoffs")]
    pub claim_cutoffs: Vec<String>,
}

/// One issuer: its name, the algorithms it signs with, its keys (configured ones, or fetched
/// from its JWKS URL or through OIDC discovery), its audiences.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IssuerConfig {
    /// Its `iss`: tokens naming another are refused.
    #[serde(deserialize_with = "fields::name")]
    pub iss: String,
    /// The algorithms accepted, e.g. `["RS256"]` (the token's `alg` is not trusted; `none`
    /// cannot be written). Each needs a key of its family, and each key an algorithm.
    #[serde(deserialize_with = "fields::algorithms")]
    pub algorithms: Vec<Algorithm>,
    /// Its keys: at most one without `kid` (for tokens without one), the others by `kid`.
    /// Exactly one of `keys`, `jwks_url` and `discovery` is given.
    #[serde(default)]
    pub keys: Vec<KeyConfig>,
    /// A JWKS URL its keys are fetched from, and refetched ([`RemoteKeys`](crate::RemoteKeys),
    /// feature `remote-keys`): `https://…` only (see `fetch.allow_http_loopback`).
    #[serde(default, deserialize_with = "optional_name")]
    pub jwks_url: Option<String>,
    /// `true`: its keys are fetched from the `jwks_uri` of its OpenID Connect discovery
    /// document (`{iss}/.well-known/openid-configuration`, whose `issuer` must be `iss`
    /// exactly). Feature `remote-keys`.
    #[serde(default)]
    pub discovery: bool,
    /// The audiences its tokens must name one of (default: the top-level `audiences`).
    #[serde(default, deserialize_with = "optional_names")]
    pub audiences: Option<Vec<String>>,
    /// How fetched keys are fetched (only with `jwks_url` or `discovery`).
    #[serde(default)]
    pub fetch: Option<FetchConfig>,
}

/// How an issuer's keys are fetched: [`RemoteKeysBuilder`](crate::RemoteKeysBuilder)'s
/// settings, each with its default when unset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FetchConfig {
    /// The least time between scheduled fetches, whatever `Cache-Control: max-age` says
    /// (default 5 min; the interval without a `max-age`).
    #[serde(default, deserialize_with = "fields::optional_duration")]
    pub refresh_min: Option<Duration>,
    /// The most time between scheduled fetches (default 24 h).
    #[serde(default, deserialize_with = "fields::optional_duration")]
    pub refresh_max: Option<Duration>,
    /// The least time between two fetches started by unknown `kid`s (default 30 s).
    #[serde(default, deserialize_with = "fields::optional_duration")]
    pub refetch_interval: Option<Duration>,
    /// How long a request with an unknown `kid` waits for the fetch (default 3 s).
    #[serde(default, deserialize_with = "fields::optional_duration")]
    pub unknown_kid_wait: Option<Duration>,
    /// How long the last good keys stay in force while fetches fail (default 24 h); then
    /// the issuer's tokens are refused until a fetch succeeds.
    #[serde(default, deserialize_with = "fields::optional_duration")]
    pub max_stale: Option<Duration>,
    /// The time limit on connecting (default 5 s).
    #[serde(default, deserialize_with = "fields::optional_duration")]
    pub connect_timeout: Option<Duration>,
    /// The time limit on a whole fetch (default 10 s).
    #[serde(default, deserialize_with = "fields::optional_duration")]
    pub timeout: Option<Duration>,
    /// The largest document read (default 262144 bytes).
    #[serde(default)]
    pub max_document_bytes: Option<std::num::NonZeroUsize>,
    /// Accept `http://` URLs to a loopback address (tests and development; default `false`).
    #[serde(default)]
    pub allow_http_loopback: bool,
    /// Start without waiting for the first fetch, answering 503 until keys arrive (default
    /// `false`: the build fails when the first fetch fails).
    #[serde(default)]
    pub start_without_keys: bool,
}

fn optional_names<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<String>>, D::Error> {
    fields::names(deserializer).map(Some)
}

/// One key of an issuer: where it comes from, and the `kid` that selects it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "KeyFields")]
#[non_exhaustive]
pub struct KeyConfig {
    /// The `kid` of the tokens this key verifies; without one, the key verifies tokens that
    /// name no `kid` (and, when it is the issuer's only key, every token). A key set's keys
    /// carry their own.
    pub kid: Option<String>,
    /// Where the key is.
    pub source: KeySource,
}

/// Where a key is: exactly one of `pem_file`, `secret_file` or `jwks` in a file.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum KeySource {
    /// `pem_file`: a PEM file holding an RSA, EC (P-256, P-384) or Ed25519 public key
    /// (`BEGIN PUBLIC KEY`, or `BEGIN RSA PUBLIC KEY`). A private key is refused: a verifier
    /// never needs one.
    PemFile(PathBuf),
    /// `secret_file`: a file holding an HMAC secret (HS256/384/512): its bytes, one trailing
    /// newline (`\n` or `\r\n`) trimmed. At least as long as the hash of the strongest HS
    /// algorithm allowed (32 bytes for HS256, RFC 7518 §3.2). A binary secret whose last
    /// byte is a newline loses it: end such a file with a newline of its own.
    SecretFile(PathBuf),
    /// `jwks`: a JSON Web Key Set document inline (what an identity provider publishes at
    /// its `jwks_uri`), public keys only, each selected by its `kid`.
    Jwks(JwkSet),
}

/// A key as written: the three sources as fields, exactly one of them given.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFields {
    #[serde(default, deserialize_with = "optional_name")]
    kid: Option<String>,
    pem_file: Option<PathBuf>,
    secret_file: Option<PathBuf>,
    #[serde(default, deserialize_with = "fields::public_key_set")]
    jwks: Option<JwkSet>,
}

fn optional_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    fields::name(deserializer).map(Some)
}

impl TryFrom<KeyFields> for KeyConfig {
    type Error = String;

    fn try_from(fields: KeyFields) -> Result<Self, String> {
        let source = match (fields.pem_file, fields.secret_file, fields.jwks) {
            (Some(path), None, None) => KeySource::PemFile(path),
            (None, Some(path), None) => KeySource::SecretFile(path),
            (None, None, Some(set)) => KeySource::Jwks(set),
            (None, None, None) => {
                return Err("a key needs one of `pem_file`, `secret_file` or `jwks`".to_owned());
            }
            _ => {
                return Err(
                    "a key is one of `pem_file`, `secret_file` or `jwks`, not several: write \
                     one [[issuers.keys]] entry for each"
                        .to_owned(),
                );
            }
        };
        if fields.kid.is_some() && matches!(source, KeySource::Jwks(_)) {
            return Err(
                "a key set's keys carry their own `kid`: remove `kid` beside `jwks`".to_owned(),
            );
        }
        Ok(KeyConfig {
            kid: fields.kid,
            source,
        })
    }
}

/// Paths that skip the layer: no token asked, nothing checked.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BypassConfig {
    /// Exact paths (`"/healthz"`).
    #[serde(default, deserialize_with = "fields::bypass_paths")]
    pub paths: Vec<String>,
    /// Path prefixes, matched as plain text (`"/grpc.reflection."`; `"/health"` also matches
    /// `"/healthcheck-admin"`, so end a prefix with `/` or `.` where that matters). `"/"`,
    /// which every path starts with, is refused.
    #[serde(default, deserialize_with = "fields::bypass_prefixes")]
    pub prefixes: Vec<String>,
}

/// What the layer does when the store cannot answer in time (an answer that is an error is
/// never a reason to let a request through).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OnStoreFailure {
    /// Refuse the request: 503 with `Retry-After` (gRPC: status 14). A revoked token must not
    /// pass when the answer is unknown.
    #[default]
    FailClosed,
    /// Let the request through as if the token were not revoked; every pass is logged and
    /// counted.
    FailOpen,
}

impl RevocationConfig {
    /// Reads a configuration from any serde deserializer (a `toml::Deserializer`, a
    /// `serde_json::Deserializer`, …) with errors that name the setting:
    /// [`ConfigError::Invalid`] with the path of the value (`policy.leeway`,
    /// `issuers[0].keys[0]`) and what is accepted. (Plain `Deserialize` works too; its
    /// errors say where in the text, by line, rather than by setting.)
    ///
    /// ```
    /// use jwt_revoke::RevocationConfig;
    ///
    /// let text = r#"{"store": {"backend": "memory"}, "policy": {"max_token_lifetime": "15s", "levay": 0}}"#;
    /// let err = RevocationConfig::from_deserializer(&mut serde_json::Deserializer::from_str(text))
    ///     .unwrap_err();
    /// assert_eq!(err.path(), "policy.levay");
    /// assert!(err.to_string().contains("unknown field `levay`"), "{err}");
    /// ```
    pub fn from_deserializer<'de, D>(deserializer: D) -> Result<Self, ConfigError>
    where
        D: Deserializer<'de>,
        D::Error: std::fmt::Display,
    {
        serde_path_to_error::deserialize(deserializer).map_err(|err| {
            let path = match err.path().to_string() {
                root if root == "." => "the configuration".to_owned(),
                path => path,
            };
            ConfigError::invalid(
                path,
                crate::redact::hide_quoted_credentials(&without_quoted_source(
                    &err.into_inner().to_string(),
                )),
            )
        })
    }
}

/// A reader's message without the lines of the file it quotes (the `toml` crate shows the
/// offending line and a caret under it): the line may hold what must not reach a log, a
/// Redis URL's password or a secret pasted where a key set goes. What is left says where
/// (`TOML parse error at line 13, column 8`) and what is wrong, on one line.
fn without_quoted_source(message: &str) -> String {
    let quoted = |line: &str| {
        let line = line.trim_start();
        line.trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start()
            .starts_with('|')
    };
    message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !quoted(line))
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_quoted_line_of_the_file_is_left_out_of_an_error() {
        let toml = "TOML parse error at line 3, column 7\n  |\n3 | url = \"redis://:pw@r\"\n  |       ^^^^\nunknown field `x`\n";
        assert_eq!(
            super::without_quoted_source(toml),
            "TOML parse error at line 3, column 7: unknown field `x`"
        );
        let json = "unknown field `x`, expected `y` at line 1 column 5";
        assert_eq!(super::without_quoted_source(json), json);
    }
}
