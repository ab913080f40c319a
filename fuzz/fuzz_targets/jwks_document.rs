//! Fetched key-set documents: any bytes as the body a `RemoteKeys` source fetched, through
//! its parser (`jwks_document::key_set`, via the `fuzzing` feature), and any text (the whole
//! input, and every string in it) through the URL rule of a key source (`allowed_url`).
//!
//! Properties: no panic. A document that yields keys yields at least one, none of them a
//! symmetric key (no `oct` key: no HMAC algorithm is verified), no two with one `kid`, each
//! `kid` that of a key of the document that is not `oct` and is for signatures (`use`
//! absent or `sig`, `key_ops` absent or with `verify`; `null` reads as absent), and keys
//! without `kid` only when no yielded key has one. Two keys of one `kid` that each make a
//! usable document alone make the document a failure (a duplicate is an error, never a set),
//! and the outcome does not depend on the order of the keys. A URL is accepted only if it is
//! the input parsed, has no user name or password, and is HTTPS, or HTTP to a loopback host
//! when that is allowed; a refusal shows a URL with credentials without them.
#![no_main]

use std::collections::BTreeSet;
use std::net::IpAddr;

use jwt_revoke_tower::DecodingKeys;
use jwt_revoke_tower::fuzzing::{allowed_url, fetched_key_set};
use jwt_revoke_tower::jsonwebtoken::Algorithm;
use jwt_revoke_tower::jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The most keys of a document checked one by one (each is a parse of its own).
const KEYS_CHECKED_ALONE: usize = 8;
/// The most strings of a document tried as URLs.
const URLS_TRIED: usize = 16;

fuzz_target!(|data: &[u8]| {
    let outcome = fetched_key_set(data);
    let document = serde_json::from_slice::<Value>(data).ok();
    if let Ok(keys) = &outcome {
        check_yielded(keys, document.as_ref());
    }
    if let Some(document) = &document {
        check_duplicates(document, &outcome);
        check_order(document);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        check_url(text);
    }
    if let Some(document) = &document {
        let mut strings = Vec::new();
        collect_strings(document, &mut strings);
        for text in strings.into_iter().take(URLS_TRIED) {
            check_url(text);
        }
    }
});

/// What a document that was accepted yields.
fn check_yielded(keys: &DecodingKeys, document: Option<&Value>) {
    assert!(!keys.is_empty(), "a key set without a key was accepted");
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        assert!(
            !keys.verifies(alg),
            "a fetched key set yielded a symmetric key ({alg:?}): {keys:?}"
        );
    }
    let kids: Vec<&str> = keys.kids().collect();
    let distinct: BTreeSet<&str> = kids.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        kids.len(),
        "two keys with one kid: {kids:?}"
    );
    if keys.len() > kids.len() {
        assert!(
            kids.is_empty(),
            "keys without kid used beside keys with one: {keys:?}"
        );
    }
    // The body parsed as a key set, so it is JSON (serde_json reads a `Value` from anything
    // it reads a struct from).
    let document = document.expect("an accepted key set is JSON");
    let listed = signature_entries(document);
    for kid in kids {
        assert!(
            listed
                .iter()
                .any(|entry| entry.get("kid").and_then(Value::as_str) == Some(kid)),
            "kid {kid:?} yielded, but no signature key that is not oct has it"
        );
    }
}

/// The entries of `keys` that are for signatures by what they say: not symmetric, `use` absent
/// or `sig`, `key_ops` absent or holding `verify` (a member that is `null` reads as absent).
fn signature_entries(document: &Value) -> Vec<&Value> {
    let member = |entry: &'_ Value, name: &str| -> Option<Value> {
        entry.get(name).filter(|value| !value.is_null()).cloned()
    };
    document
        .get("keys")
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter(|entry| !is_symmetric(entry))
                .filter(|entry| member(entry, "use").is_none_or(|u| u == "sig"))
                .filter(|entry| {
                    member(entry, "key_ops").is_none_or(|ops| {
                        ops.as_array()
                            .is_some_and(|ops| ops.iter().any(|op| op == "verify"))
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a key-set entry is a symmetric key: `kty` `oct`, or anything jsonwebtoken reads
/// as an octet key.
fn is_symmetric(entry: &Value) -> bool {
    entry.get("kty").and_then(Value::as_str) == Some("oct")
        || serde_json::from_value::<Jwk>(entry.clone())
            .is_ok_and(|jwk| matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)))
}

/// Two keys of one `kid`, each usable alone (a document of it alone yields that kid): the
/// whole document is refused.
fn check_duplicates(document: &Value, outcome: &Result<DecodingKeys, String>) {
    let Some(keys) = document.get("keys").and_then(Value::as_array) else {
        return;
    };
    let mut usable: Vec<&str> = Vec::new();
    for entry in keys.iter().take(KEYS_CHECKED_ALONE) {
        let Some(kid) = entry.get("kid").and_then(Value::as_str) else {
            continue;
        };
        let alone = serde_json::json!({ "keys": [entry] }).to_string();
        let Ok(yielded) = fetched_key_set(alone.as_bytes()) else {
            continue;
        };
        assert!(
            yielded.kids().eq([kid]),
            "a key of kid {kid:?} alone yielded {yielded:?}"
        );
        if usable.contains(&kid) {
            assert!(
                outcome.is_err(),
                "two usable keys of kid {kid:?} made a key set: {outcome:?}"
            );
        }
        usable.push(kid);
    }
}

/// The same keys in the opposite order: the same outcome (accepted or not), the same kids
/// and as many keys.
fn check_order(document: &Value) {
    let Some(keys) = document.get("keys").and_then(Value::as_array) else {
        return;
    };
    let mut reversed = document.clone();
    reversed["keys"] = Value::Array(keys.iter().rev().cloned().collect());
    let forward = fetched_key_set(document.to_string().as_bytes());
    let backward = fetched_key_set(reversed.to_string().as_bytes());
    let summary = |outcome: &Result<DecodingKeys, String>| {
        outcome.as_ref().ok().map(|keys| {
            (
                keys.kids().map(str::to_owned).collect::<BTreeSet<_>>(),
                keys.len(),
            )
        })
    };
    assert_eq!(
        summary(&forward),
        summary(&backward),
        "the order of the keys changed the outcome: {forward:?} in order, {backward:?} reversed"
    );
}

/// The URL rule of a key source, with and without loopback HTTP.
fn check_url(text: &str) {
    let parsed = url::Url::parse(text).ok();
    for allow_http_loopback in [false, true] {
        match allowed_url(text, allow_http_loopback) {
            Ok(accepted) => {
                let url = url::Url::parse(&accepted).expect("an accepted URL parses again");
                assert_eq!(
                    Some(&url),
                    parsed.as_ref(),
                    "the URL accepted is not the input parsed: {text:?}"
                );
                assert!(
                    url.username().is_empty() && url.password().is_none(),
                    "a URL with credentials accepted: {text:?}"
                );
                let https = url.scheme() == "https";
                let loopback_http =
                    allow_http_loopback && url.scheme() == "http" && is_loopback(&url);
                assert!(
                    https || loopback_http,
                    "{text:?} accepted (loopback HTTP allowed: {allow_http_loopback}) as {accepted:?}"
                );
            }
            Err(message) => {
                // A URL with credentials is shown without them (the message gets logged):
                // the URL it shows is the input's without user name and password, and reads
                // back as a URL without credentials. (Its path may still hold a text such as
                // `user:pw@`, as the input's does.)
                let Some(url) = parsed.as_ref() else {
                    continue;
                };
                if url.username().is_empty() && url.password().is_none() {
                    continue;
                }
                // Nor its query and fragment (an API key may be there): `?…` says there was one.
                let mut shown = url.clone();
                let _ = shown.set_username("");
                let _ = shown.set_password(None);
                shown.set_query(None);
                shown.set_fragment(None);
                let mut text = String::from(shown);
                if url.query().is_some() {
                    text.push_str("?…");
                }
                assert!(
                    message.starts_with(&format!("{text:?} ")),
                    "a URL with credentials is shown otherwise than without them: {message:?}"
                );
                let again = url::Url::parse(&text).expect("a URL parses again");
                assert!(
                    again.username().is_empty() && again.password().is_none(),
                    "the URL shown in a refusal reads with credentials: {message:?}"
                );
            }
        }
    }
}

/// 127.0.0.0/8, ::1 or `localhost` (the URL parser lowercases host names).
fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// The strings of a JSON value (members' values, not names), depth first.
fn collect_strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(text) => out.push(text),
        Value::Array(items) => items.iter().for_each(|item| collect_strings(item, out)),
        Value::Object(members) => members.values().for_each(|item| collect_strings(item, out)),
        _ => {}
    }
}
