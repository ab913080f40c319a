#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unreachable_pub)]

mod batch;
mod config;
mod connection;
mod data_loss;
mod direct;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod guard;
mod in_flight;
mod keys;
pub mod observe;
mod replica;
mod scripts;
mod store;

#[cfg(feature = "test-support")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-support")))]
pub mod test_support;

pub use config::{RedisServers, RedisStoreConfig, ReplicaAcknowledgement};
pub use data_loss::{DataLossReaction, DataLossStatus};
pub use error::BuildError;
pub use keys::{InvalidKeyPrefix, KeyPrefix};
pub use replica::{ReplicaConfig, ReplicaStatus};
pub use store::RedisStore;

/// The redis-rs this crate is built on: use it rather than your own to avoid version clashes.
pub use redis;

/// The deadpool-redis this crate accepts pools from.
pub use deadpool_redis;
