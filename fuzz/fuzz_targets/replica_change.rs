//! The local replica's change messages (`t`, `c`, `d`, `m`, `h`, as the scripts publish
//! them), the data-loss marker they may carry, and the key names inside them.
//!
//! The first line of the input is the key prefix (when it is a valid one; else the default),
//! the rest one message. Properties: no panic; a record named by a message is named by
//! exactly one key (a cut-off's name is the one the store writes for it, byte for byte); a
//! token or cut-off message with a live TTL, once applied, is what the replica's records
//! answer (the token listed, the cut-off at least the message's); a deletion applied after it
//! unlists the token.
#![no_main]

use jwt_revoke_core::{RecordKey, TokenKeys, UserId};
use jwt_revoke_memory::MemoryStore;
use jwt_revoke_redis::KeyPrefix;
use jwt_revoke_redis::fuzzing::{
    ChangeMessage, apply_change_message, marker_is_readable, parse_change_message, parse_record_key,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (prefix, message) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (
            std::str::from_utf8(&data[..at])
                .ok()
                .and_then(|text| KeyPrefix::new(text).ok())
                .unwrap_or_default(),
            &data[at + 1..],
        ),
        None => (KeyPrefix::default(), data),
    };
    let _ = marker_is_readable(message);
    let _ = parse_record_key(&prefix, message);
    let Some(change) = parse_change_message(&prefix, message) else {
        return;
    };
    let records = MemoryStore::new();
    let other = UserId::new("fuzz", "someone").key();
    match &change {
        ChangeMessage::Token { token, ttl_millis } => {
            // `t <ttl> <key>`: the key is the third field, spaces and all.
            let key_text = message.splitn(3, |&b| b == b' ').nth(2).expect("parsed");
            assert_eq!(parse_record_key(&prefix, key_text), Some((true, *token)));
            let written = prefix.token_key(&TokenKeys::new(*token, other, None));
            assert_eq!(
                parse_record_key(&prefix, written.as_bytes()),
                Some((true, *token))
            );
            apply_change_message(&records, &change).expect("an empty replica takes a record");
            if *ttl_millis == -1 || *ttl_millis > 60_000 {
                let keys = TokenKeys::new(*token, *token, None);
                assert!(
                    records.lookup(&keys).token_listed,
                    "an applied token is not listed"
                );
                apply_change_message(&records, &ChangeMessage::Deleted { token: *token })
                    .expect("deletions do not fail");
                assert!(
                    !records.lookup(&keys).token_listed,
                    "a deleted token is listed"
                );
            }
        }
        ChangeMessage::Cutoff {
            key,
            at,
            ttl_millis,
        } => {
            let written = prefix.cutoff_key(key);
            assert!(
                message.ends_with(written.as_bytes())
                    && message[..message.len() - written.len()].ends_with(b" "),
                "one cut-off record read from two key names: {:?} and {written:?}",
                String::from_utf8_lossy(message)
            );
            apply_change_message(&records, &change).expect("an empty replica takes a record");
            if *ttl_millis == -1 || *ttl_millis > 60_000 {
                let token = RecordKey::from_bytes([0; 32]);
                let reply = records.lookup(&TokenKeys::new(token, *key, None));
                assert!(
                    reply.user_cutoff.is_some_and(|cutoff| cutoff >= *at),
                    "an applied cut-off is not in force: {reply:?}"
                );
            }
        }
        ChangeMessage::Deleted { token } => {
            apply_change_message(&records, &change).expect("deletions do not fail");
            assert!(
                !records
                    .lookup(&TokenKeys::new(*token, *token, None))
                    .token_listed
            );
        }
        ChangeMessage::Heartbeat { .. } | ChangeMessage::Marker(_) => {
            apply_change_message(&records, &change).expect("nothing to apply");
        }
        _ => {}
    }
});
