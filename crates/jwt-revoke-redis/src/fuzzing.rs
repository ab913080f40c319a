//! Entry points for the fuzz targets in `fuzz/`, behind the `fuzzing` feature.
//!
//! **Not part of the API**: hidden from the docs, no semver promise, may change or go in any
//! release. They expose the decoders of what this crate reads from Redis (the local replica's
//! change messages, the data-loss marker, the names of its keys) without a server; the
//! settings parser ([`RedisStoreConfig`](crate::RedisStoreConfig)) is public already.

use jwt_revoke_core::{RecordKey, StoreError, Timestamp};
use jwt_revoke_memory::MemoryStore;

use crate::data_loss::Marker;
use crate::keys::{KeyPrefix, Record};
use crate::replica::{self, Change};

/// One message of the change channel, as the local replica reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChangeMessage {
    /// `t <pttl> <key>`: a token record is present.
    Token {
        /// The token record's key.
        token: RecordKey,
        /// Its remaining life in milliseconds (-1: no expiry).
        ttl_millis: i64,
    },
    /// `c <pttl> <cut-off> <key>`: a cut-off record holds an instant.
    Cutoff {
        /// The user's or session's key.
        key: RecordKey,
        /// The cut-off.
        at: Timestamp,
        /// Its remaining life in milliseconds (-1: no expiry).
        ttl_millis: i64,
    },
    /// `d <key>`: a token record was deleted.
    Deleted {
        /// The token record's key.
        token: RecordKey,
    },
    /// `h <nonce> <number>`: a replica's heartbeat.
    Heartbeat {
        /// The replica that sent it.
        nonce: u64,
        /// Its sequence number.
        number: u64,
    },
    /// `m <marker>`: the data-loss marker's new value.
    Marker(Vec<u8>),
}

/// Reads a change message as the replica does; `None` for one it refuses (which ends the
/// replica's session).
pub fn parse_change_message(prefix: &KeyPrefix, text: &[u8]) -> Option<ChangeMessage> {
    Some(match replica::parse_change(prefix, text)? {
        Change::Token { token, ttl } => ChangeMessage::Token {
            token,
            ttl_millis: ttl,
        },
        Change::Cutoff { key, at, ttl } => ChangeMessage::Cutoff {
            key,
            at,
            ttl_millis: ttl,
        },
        Change::Deleted { token } => ChangeMessage::Deleted { token },
        Change::Heartbeat { nonce, number } => ChangeMessage::Heartbeat { nonce, number },
        Change::Marker(marker) => ChangeMessage::Marker(marker),
    })
}

/// Applies a change to a replica's records as the replica does (heartbeats and markers go to
/// the store's health, not to the records: nothing to apply here).
pub fn apply_change_message(
    records: &MemoryStore,
    change: &ChangeMessage,
) -> Result<(), StoreError> {
    match change {
        ChangeMessage::Token { token, ttl_millis } => {
            replica::apply_token(records, *token, *ttl_millis)
        }
        ChangeMessage::Cutoff {
            key,
            at,
            ttl_millis,
        } => replica::apply_cutoff(records, *key, *at, *ttl_millis),
        ChangeMessage::Deleted { token } => {
            replica::apply_deletion(records, *token);
            Ok(())
        }
        ChangeMessage::Heartbeat { .. } | ChangeMessage::Marker(_) => Ok(()),
    }
}

/// Whether a data-loss marker's value is readable (one the store would not refuse).
pub fn marker_is_readable(value: &[u8]) -> bool {
    Marker::parse(value).is_some()
}

/// What a key of the store names: `Some((true, digest))` for a token record, `Some((false,
/// digest))` for a cut-off, `None` for a key this store did not write.
pub fn parse_record_key(prefix: &KeyPrefix, key: &[u8]) -> Option<(bool, RecordKey)> {
    match prefix.parse(key)? {
        Record::Token(token) => Some((true, token)),
        Record::Cutoff(key) => Some((false, key)),
    }
}
