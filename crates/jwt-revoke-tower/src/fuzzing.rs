//! Entry points for the fuzz targets in `fuzz/`, behind the `fuzzing` feature.
//!
//! **Not part of the API**: hidden from the docs, no semver promise, may change or go in any
//! release. Everything else the fuzz targets drive is public already (the layer, the
//! receivers, [`Claims`](crate::Claims), [`DecodingKeys`](crate::DecodingKeys)).

use http::HeaderMap;

use crate::extract::TokenSource;

/// The token the layer would take from `headers` with `sources` and a `max_len`, or the
/// description of the rejection ([`crate::extract::find_token`]).
pub fn find_token(
    headers: &HeaderMap,
    sources: &[TokenSource],
    max_len: usize,
) -> Result<String, String> {
    crate::extract::find_token(headers, sources, max_len)
        .map(|token| token.into_owned())
        .map_err(|kind| format!("{kind:?}"))
}

/// Whether the access-token path treats a header `typ` as an event token's
/// ([`crate::verify::is_event_token_type`]).
pub fn is_event_token_type(typ: &str) -> bool {
    crate::verify::is_event_token_type(typ)
}

/// The keys a fetched key-set document `body` yields, as a [`RemoteKeys`](crate::RemoteKeys)
/// source reads it (`jwks_document::key_set`: `oct` keys, keys not for signatures and keys
/// jsonwebtoken cannot read left out, two signature keys of one `kid` a failure), or the
/// description of the failure. The document is said to come from a fixed HTTPS URL.
pub fn fetched_key_set(body: &[u8]) -> Result<crate::DecodingKeys, String> {
    let url = url::Url::parse("https://idp.example/jwks").expect("a valid URL");
    crate::jwks_document::key_set(body, &url).map_err(|err| err.to_string())
}

/// The URL a key source would fetch for `url` (`jwks_document::allowed_url`), as text, or
/// the refusal's message.
pub fn allowed_url(url: &str, allow_http_loopback: bool) -> Result<String, String> {
    crate::jwks_document::allowed_url(url, allow_http_loopback)
        .map(String::from)
        .map_err(|err| err.to_string())
}
