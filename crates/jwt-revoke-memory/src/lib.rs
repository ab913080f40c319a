#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod config;
pub mod observe;
mod shard;
mod store;
mod sweeper;

pub use builder::MemoryStoreBuilder;
pub use config::MemoryStoreConfig;
pub use store::MemoryStore;
pub use sweeper::SweeperHandle;
