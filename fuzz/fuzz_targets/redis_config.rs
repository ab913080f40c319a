//! The Redis settings parser: any bytes as a `RedisStoreConfig` in JSON (durations as
//! numbers or text, key prefixes, replica settings, the data-loss reaction), and the URLs in
//! it as redis-rs reads them (no server is contacted).
//!
//! Properties: no panic; a key prefix accepted holds no hash-tag brace; the `Debug` output of
//! a config never shows the password redis-rs would send.
#![no_main]

use jwt_revoke_redis::redis::IntoConnectionInfo as _;
use jwt_revoke_redis::{KeyPrefix, RedisServers, RedisStoreConfig};
use libfuzzer_sys::fuzz_target;

fn check_url(url: &str) {
    let Ok(info) = url.into_connection_info() else {
        return;
    };
    let Some(password) = info.redis_settings().password() else {
        return;
    };
    // Only a password that is unmistakable in the output, and that is not written anywhere
    // else in the URL (a host named like it is not a leak). Counted in the URL as it is
    // parsed, without the tabs and newlines the URL parser drops: `pass=ZZ\nZZ` is the
    // password `ZZZZ`, which another parameter's `ZZZZZ` may show without leaking it
    // (FUZZING.md F8).
    let parsed_text = url.replace(['\t', '\n', '\r'], "");
    if password.len() < 6 || parsed_text.matches(password).count() != 1 {
        return;
    }
    let shown = format!("{:?}", RedisStoreConfig::from_url(url));
    let defaults = format!("{:?}", RedisStoreConfig::from_url("redis://h"));
    if defaults.contains(password) {
        return;
    }
    assert!(
        !shown.contains(password),
        "the Debug output shows the password of {url:?}: {shown}"
    );
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(prefix) = KeyPrefix::new(text) {
            assert!(
                !prefix.as_str().contains(['{', '}']),
                "a brace in {prefix:?}"
            );
        }
        check_url(text);
    }
    let Ok(config) = serde_json::from_slice::<RedisStoreConfig>(data) else {
        return;
    };
    let _ = format!("{config:?}");
    assert!(!config.key_prefix.as_str().contains(['{', '}']));
    assert!(!config.timeout.is_zero() && !config.connect_timeout.is_zero());
    match &config.servers {
        RedisServers::One(url) => check_url(url),
        RedisServers::Cluster(nodes) => {
            assert!(!nodes.is_empty(), "a cluster of no node was accepted");
            nodes.iter().take(4).for_each(|node| check_url(node));
        }
        _ => {}
    }
});
