//! [`MemoryStoreConfig`]: a memory store described by settings (a file, the environment).

use std::time::Duration;

use serde::Deserialize;

use crate::store::MemoryStore;

/// The background sweep's period when none is configured.
const DEFAULT_SWEEP_PERIOD: Duration = Duration::from_secs(30);

/// The settings of a [`MemoryStore`], readable with serde: the most records it holds, its
/// shards, and how often a background task frees expired records.
///
/// Every field may be left out. Durations are milliseconds as a number, or text with a unit
/// (`"250ms"`, `"30s"`). Unknown fields are refused.
///
/// ```
/// use std::time::Duration;
/// use jwt_revoke_memory::MemoryStoreConfig;
///
/// let config: MemoryStoreConfig =
///     serde_json::from_str(r#"{ "capacity": 50000, "sweep_period": "10s" }"#).unwrap();
/// assert_eq!(config.capacity, Some(50_000));
/// assert_eq!(config.sweep_period, Duration::from_secs(10));
///
/// let store = config.build();
/// assert_eq!(store.capacity(), Some(50_000));
///
/// // A capacity and "unbounded" contradict each other.
/// let both = serde_json::from_str::<MemoryStoreConfig>(r#"{ "capacity": 10, "unbounded": true }"#);
/// assert!(both.unwrap_err().to_string().contains("`capacity` and `unbounded`"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Settings")]
#[non_exhaustive]
pub struct MemoryStoreConfig {
    /// The most records held (`None`: unbounded); default
    /// [`MemoryStore::DEFAULT_CAPACITY`]. See [`MemoryStoreBuilder::capacity`].
    ///
    /// [`MemoryStoreBuilder::capacity`]: crate::MemoryStoreBuilder::capacity
    pub capacity: Option<usize>,
    /// Independently locked parts; default [`MemoryStore::DEFAULT_SHARDS`].
    pub shards: usize,
    /// How often a background task frees expired records, when the store is started with
    /// one (default 30 s). Writes free them too, shard by shard, without it.
    pub sweep_period: Duration,
}

/// What is read, before the settings are checked against each other.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    capacity: Option<usize>,
    #[serde(default)]
    unbounded: bool,
    shards: Option<usize>,
    #[serde(default, deserialize_with = "optional_duration")]
    sweep_period: Option<Duration>,
}

fn optional_duration<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    jwt_revoke_core::settings::duration(deserializer).map(Some)
}

impl TryFrom<Settings> for MemoryStoreConfig {
    type Error = String;

    fn try_from(settings: Settings) -> Result<Self, String> {
        let capacity = match (settings.capacity, settings.unbounded) {
            (Some(_), true) => {
                return Err("set `capacity` and `unbounded` not both: a bound, or none".to_owned());
            }
            (Some(records), false) => Some(records),
            (None, true) => None,
            (None, false) => Some(MemoryStore::DEFAULT_CAPACITY),
        };
        let shards = match settings.shards {
            Some(0) => return Err("`shards` must be at least 1".to_owned()),
            Some(shards) => shards,
            None => MemoryStore::DEFAULT_SHARDS,
        };
        Ok(MemoryStoreConfig {
            capacity,
            shards,
            sweep_period: settings.sweep_period.unwrap_or(DEFAULT_SWEEP_PERIOD),
        })
    }
}

impl Default for MemoryStoreConfig {
    fn default() -> Self {
        MemoryStoreConfig {
            capacity: Some(MemoryStore::DEFAULT_CAPACITY),
            shards: MemoryStore::DEFAULT_SHARDS,
            sweep_period: DEFAULT_SWEEP_PERIOD,
        }
    }
}

impl MemoryStoreConfig {
    /// The store these settings describe, on the system clock, without a background sweep
    /// (start one with [`MemoryStore::spawn_sweeper`] and [`sweep_period`](Self::sweep_period)).
    pub fn build(&self) -> MemoryStore {
        let builder = MemoryStore::builder().shards(self.shards);
        match self.capacity {
            Some(records) => builder.capacity(records),
            None => builder.unbounded(),
        }
        .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Result<MemoryStoreConfig, String> {
        serde_json::from_str(json).map_err(|err| err.to_string())
    }

    #[test]
    fn every_setting_has_a_default() {
        assert_eq!(read("{}"), Ok(MemoryStoreConfig::default()));
        let unbounded = read(r#"{"unbounded": true}"#).expect("reads");
        assert_eq!(unbounded.capacity, None);
        assert_eq!(unbounded.build().capacity(), None);
    }

    #[test]
    fn bad_settings_are_refused_with_their_name() {
        for (bad, why) in [
            (
                r#"{"capacity": 1, "unbounded": true}"#,
                "`capacity` and `unbounded`",
            ),
            (r#"{"shards": 0}"#, "`shards` must be at least 1"),
            (r#"{"capacity": -1}"#, "invalid value"),
            (r#"{"sweep_period": "often"}"#, "invalid duration"),
            (r#"{"sweep_period": 0}"#, "zero"),
            (r#"{"capacty": 10}"#, "unknown field `capacty`"),
        ] {
            let err = read(bad).expect_err(bad);
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
