//! The change channel's wire format: both sides of it, the Lua expressions the write scripts
//! publish (`scripts.rs` splices them in) and the heartbeat this crate publishes, and the
//! parser of every message.
//!
//! Every write of every store on one server announces what it left behind on the prefix's
//! channel (`<prefix>changes@<db>`), in the same atomic script as the write, so a subscriber
//! receives the writes in the order Redis made them. Each message states a record's whole
//! value, so replaying the messages since a subscription over any copy made after it ends in
//! Redis's state.
//!
//! | message | sent by | meaning |
//! |---|---|---|
//! | `t <pttl> <key>` | `INSERT_TOKEN` | token record `<key>` is present and lives `<pttl>` ms more (-1: no expiry) |
//! | `c <pttl> <cut-off> <key>` | `RAISE_CUTOFF` | cut-off record `<key>` (a user's, a session's, a claim value's) holds `<cut-off>` (µs since the epoch) and lives `<pttl>` ms more |
//! | `d <key>` | `REMOVE_TOKEN` | token record `<key>` was deleted |
//! | `m <marker>` | `DECLARE_LOSS`, `CLEAR_LOSS` | the data-loss marker now holds `<marker>` (a loss noticed, or cleared) |
//! | `h <nonce> <number>` | a replica, every `heartbeat` | heartbeat `<number>` of the replica `<nonce>`: when it comes back, every write before it has arrived |
//!
//! `<key>` is the record's Redis key (see `keys.rs`); it comes last because a prefix may
//! contain spaces. Any other message ends the replica's session: it may have been a
//! revocation, and only a new copy is sure to hold it.

use jwt_revoke_core::{RecordKey, Timestamp};

use crate::keys::{KeyPrefix, Record};

/// The Lua expression `INSERT_TOKEN` publishes: `t <pttl> <key>` of `KEYS[1]`.
macro_rules! lua_token_message {
    () => {
        "'t ' .. redis.call('PTTL', KEYS[1]) .. ' ' .. KEYS[1]"
    };
}
/// The Lua expression `REMOVE_TOKEN` publishes: `d <key>` of `KEYS[1]`.
macro_rules! lua_deletion_message {
    () => {
        "'d ' .. KEYS[1]"
    };
}
/// The Lua expression `RAISE_CUTOFF` publishes: `c <pttl> <cut-off> <key>` of `KEYS[1]`,
/// from its locals `left` (the PTTL) and `value` (the cut-off in force).
macro_rules! lua_cutoff_message {
    () => {
        "'c ' .. left .. ' ' .. value .. ' ' .. KEYS[1]"
    };
}
/// The Lua expression the marker scripts publish: `m <marker>`, from their local `marker`.
macro_rules! lua_marker_message {
    () => {
        "'m ' .. marker"
    };
}
pub(crate) use {lua_cutoff_message, lua_deletion_message, lua_marker_message, lua_token_message};

/// The heartbeat `number` of the replica `nonce`.
pub(crate) fn heartbeat(nonce: u64, number: u64) -> String {
    format!("h {nonce} {number}")
}

/// One message of the change channel.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Token {
        token: RecordKey,
        ttl: i64,
    },
    Cutoff {
        key: RecordKey,
        at: Timestamp,
        ttl: i64,
    },
    Deleted {
        token: RecordKey,
    },
    Heartbeat {
        nonce: u64,
        number: u64,
    },
    /// The data-loss marker's new value (a loss recorded, or cleared).
    Marker(Vec<u8>),
}

/// Reads a message of the change channel.
pub(crate) fn parse_change(prefix: &KeyPrefix, text: &[u8]) -> Option<Change> {
    // The key comes last and may contain spaces: split off only the fields before it.
    fn fields<const N: usize>(text: &[u8]) -> Option<[&[u8]; N]> {
        let mut parts = text.splitn(N, |&b| b == b' ');
        let mut out = [&b""[..]; N];
        for slot in &mut out {
            *slot = parts.next()?;
        }
        Some(out)
    }
    fn number<T: std::str::FromStr>(bytes: &[u8]) -> Option<T> {
        std::str::from_utf8(bytes).ok()?.parse().ok()
    }
    let [kind, rest] = fields::<2>(text)?;
    match kind {
        b"t" => {
            let [ttl, key] = fields::<2>(rest)?;
            match prefix.parse(key)? {
                Record::Token(token) => Some(Change::Token {
                    token,
                    ttl: number(ttl)?,
                }),
                Record::Cutoff(_) => None,
            }
        }
        b"c" => {
            let [ttl, at, key] = fields::<3>(rest)?;
            match prefix.parse(key)? {
                Record::Cutoff(key) => Some(Change::Cutoff {
                    key,
                    at: Timestamp::from_micros(number(at)?),
                    ttl: number(ttl)?,
                }),
                Record::Token(_) => None,
            }
        }
        b"d" => match prefix.parse(rest)? {
            Record::Token(token) => Some(Change::Deleted { token }),
            Record::Cutoff(_) => None,
        },
        b"m" => Some(Change::Marker(rest.to_vec())),
        b"h" => {
            let [nonce, number_text] = fields::<2>(rest)?;
            Some(Change::Heartbeat {
                nonce: number(nonce)?,
                number: number(number_text)?,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jwt_revoke_core::{SessionId, TokenId, TokenKeys, UserId};

    #[test]
    fn change_messages_read_back_what_the_scripts_write() {
        let prefix = KeyPrefix::new("a b:").expect("valid prefix");
        let user = UserId::new("iss", "alice").key();
        let session = SessionId::new("iss", "s").key();
        let token = TokenId::from_jti("iss", "alice", "t").denylist_key();
        let token_key = prefix.token_key(&TokenKeys::new(token, user, None));
        let parse = |text: String| parse_change(&prefix, text.as_bytes());
        assert_eq!(
            parse(format!("t 1500 {token_key}")),
            Some(Change::Token { token, ttl: 1500 })
        );
        assert_eq!(
            parse(format!("t -1 {token_key}")),
            Some(Change::Token { token, ttl: -1 })
        );
        assert_eq!(
            parse(format!("c 60000 -17 {}", prefix.cutoff_key(&session))),
            Some(Change::Cutoff {
                key: session,
                at: Timestamp::from_micros(-17),
                ttl: 60_000
            })
        );
        assert_eq!(
            parse(format!("d {token_key}")),
            Some(Change::Deleted { token })
        );
        assert_eq!(
            parse("m 5 0 lost 17".to_owned()),
            Some(Change::Marker(b"5 0 lost 17".to_vec()))
        );
        assert_eq!(
            parse(heartbeat(42, 7)),
            Some(Change::Heartbeat {
                nonce: 42,
                number: 7
            })
        );
        for bad in [
            String::new(),
            "t".to_owned(),
            format!("t x {token_key}"),
            format!("c 1 {}", prefix.cutoff_key(&user)),
            format!("c 1 2 {token_key}"),
            format!("t 1 {}", prefix.cutoff_key(&user)),
            format!(
                "d {}",
                KeyPrefix::default().token_key(&TokenKeys::new(token, user, None))
            ),
            "h 1".to_owned(),
            "x 1 2".to_owned(),
        ] {
            assert_eq!(parse(bad.clone()), None, "{bad:?}");
        }
    }
}
