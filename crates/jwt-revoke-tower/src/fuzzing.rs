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
