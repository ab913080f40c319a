//! [`ConfigError`]: why a [`RevocationConfig`](super::RevocationConfig) cannot be read or built.

use std::path::PathBuf;

use jwt_revoke_tower::BuildError;

use crate::StoreConfigError;

/// Why a configuration cannot be read or built. Each error names the setting it is about, as
/// a path into the file (`policy.leeway`, `issuers[0].keys[1].pem_file`), and says what is
/// accepted. None carries a secret: an error about a secret file names the file, never its
/// contents.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting has a value that is not accepted (found while reading the file, or, for
    /// settings that contradict each other, when the layer is built).
    #[error("{path}: {message}")]
    Invalid {
        /// The setting.
        path: String,
        /// What is wrong, and what is accepted.
        message: String,
    },
    /// A file named by a setting cannot be read.
    #[error("{path}: cannot read {}: {source}", file.display())]
    UnreadableFile {
        /// The setting that names the file.
        path: String,
        /// The file.
        file: PathBuf,
        /// Why it cannot be read.
        #[source]
        source: std::io::Error,
    },
    /// A key cannot be used: a PEM file that holds no public key, a key that verifies none of
    /// its issuer's algorithms.
    #[error("{path}: {message}")]
    UnusableKey {
        /// The setting that names the key.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// An HMAC secret is shorter than its algorithm needs (RFC 7518 §3.2: at least the size of
    /// the hash, 32 bytes for HS256).
    #[error(
        "{path}: the secret in {} is {bytes} bytes; {algorithm:?} needs at least {min_bytes} \
         (RFC 7518 §3.2)", file.display()
    )]
    WeakSecret {
        /// The setting that names the secret file.
        path: String,
        /// The secret file.
        file: PathBuf,
        /// How long the secret is (after its trailing newline is trimmed).
        bytes: usize,
        /// The shortest secret accepted.
        min_bytes: usize,
        /// The strongest HMAC algorithm the issuer allows, which sets the minimum.
        algorithm: jwt_revoke_tower::jsonwebtoken::Algorithm,
    },
    /// The store could not be built (unreachable, refused, a backend this build lacks).
    #[error("store: {0}")]
    Store(#[source] StoreConfigError),
    /// The layer refused what it was given (the path is the issuer whose keys it judged).
    #[error("{path}: {source}")]
    Layer {
        /// The setting the layer's refusal is about.
        path: String,
        /// What the layer said.
        #[source]
        source: BuildError,
    },
}

impl ConfigError {
    /// The setting this error is about (`store` for a store that cannot be built).
    pub fn path(&self) -> &str {
        match self {
            ConfigError::Invalid { path, .. }
            | ConfigError::UnreadableFile { path, .. }
            | ConfigError::UnusableKey { path, .. }
            | ConfigError::WeakSecret { path, .. }
            | ConfigError::Layer { path, .. } => path,
            ConfigError::Store(_) => "store",
        }
    }

    pub(super) fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }

    pub(super) fn unusable_key(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::UnusableKey {
            path: path.into(),
            message: message.into(),
        }
    }
}
