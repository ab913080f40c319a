//! Token extraction from headers and cookies (`jwt_revoke_tower::fuzzing::find_token`).
//!
//! Any headers (any names among the token sources and others, any bytes), any choice and
//! order of sources, any size limit. Properties: no panic; a token found is not empty, has no
//! whitespace around it, fits the limit and is text of one of the request's header values;
//! with every source configured, a token found is the one the reference (the rules the layer
//! documents, written again) finds.
#![no_main]

use arbitrary::Arbitrary;
use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue};
use jwt_revoke_fuzz::{COOKIE_NAME, TOKEN_HEADER, reference_token};
use jwt_revoke_tower::TokenSource;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Name {
    Authorization,
    Cookie,
    Token,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Source {
    Bearer,
    OurCookie,
    OurHeader,
    Cookie(String),
    Header(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    max_len: u16,
    sources: Option<Vec<Source>>,
    headers: Vec<(Name, Vec<u8>)>,
}

fuzz_target!(|input: Input| {
    let mut headers = HeaderMap::new();
    for (name, value) in input.headers.iter().take(16) {
        let name = match name {
            Name::Authorization => AUTHORIZATION,
            Name::Cookie => COOKIE,
            Name::Token => HeaderName::from_static(TOKEN_HEADER),
            Name::Other(other) => match HeaderName::from_bytes(other.as_bytes()) {
                Ok(name) => name,
                Err(_) => continue,
            },
        };
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(name, value);
        }
    }
    let all = [
        TokenSource::AuthorizationBearer,
        TokenSource::Cookie(COOKIE_NAME.into()),
        TokenSource::Header(HeaderName::from_static(TOKEN_HEADER)),
    ];
    let (sources, compare) = match &input.sources {
        None => (all.to_vec(), true),
        Some(list) => (
            list.iter()
                .take(6)
                .filter_map(|source| match source {
                    Source::Bearer => Some(TokenSource::AuthorizationBearer),
                    Source::OurCookie => Some(TokenSource::Cookie(COOKIE_NAME.into())),
                    Source::OurHeader => {
                        Some(TokenSource::Header(HeaderName::from_static(TOKEN_HEADER)))
                    }
                    Source::Cookie(name) => Some(TokenSource::Cookie(name.clone())),
                    Source::Header(name) => HeaderName::from_bytes(name.as_bytes())
                        .ok()
                        .map(TokenSource::Header),
                })
                .collect(),
            false,
        ),
    };
    let max_len = usize::from(input.max_len);
    let Ok(token) = jwt_revoke_tower::fuzzing::find_token(&headers, &sources, max_len) else {
        return;
    };
    assert!(!token.is_empty(), "an empty token was found");
    assert_eq!(
        token.trim_matches(|c: char| c.is_ascii_whitespace()),
        token,
        "whitespace around the token is part of it"
    );
    assert!(token.len() <= max_len, "a token over the limit was found");
    assert!(
        headers.values().any(|value| value
            .as_bytes()
            .windows(token.len())
            .any(|window| window == token.as_bytes())),
        "the token found is in no header: {token:?}"
    );
    if compare && max_len >= 8192 {
        assert_eq!(
            reference_token(&headers).as_deref(),
            Ok(token.as_str()),
            "the layer takes a token the documented rules do not: {headers:?}"
        );
    }
});
