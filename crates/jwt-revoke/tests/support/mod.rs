//! Helpers shared by the configuration tests: a temporary directory, the two readers, the
//! clock.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use jwt_revoke::{ConfigError, RevocationConfig};

pub const ISSUER: &str = "https://auth.example.test";
pub const SECRET: &[u8] = b"a shared HS256 secret of more than 32 bytes";

/// A directory of its own for each test, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "jwt-revoke-config-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        TempDir(dir)
    }

    /// Writes `contents` to `name` in the directory; its path, in a form TOML and JSON
    /// strings take as is.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("writes");
        path_text(&path)
    }

    pub fn path(&self, name: &str) -> String {
        path_text(&self.0.join(name))
    }
}

pub fn path_text(path: &Path) -> String {
    let text = path.display().to_string();
    assert!(!text.contains(['"', '\\']), "a plain path: {text}");
    text
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A TOML file read as a service reads it; a syntax error is reported without the line of
/// the file the parser quotes.
pub fn toml(text: &str) -> Result<RevocationConfig, ConfigError> {
    let deserializer = toml::Deserializer::parse(text).map_err(|err| ConfigError::Invalid {
        path: "the file".into(),
        message: err.message().to_owned(),
    })?;
    RevocationConfig::from_deserializer(deserializer)
}

pub fn json(text: &str) -> Result<RevocationConfig, ConfigError> {
    RevocationConfig::from_deserializer(&mut serde_json::Deserializer::from_str(text))
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}
