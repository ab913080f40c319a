//! Finding the token in a request.

use std::borrow::Cow;

use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, HeaderName};

use crate::rejection::RejectionKind;

/// Where the layer looks for a token. Sources are tried in the order they were configured;
/// the first that holds a token wins.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenSource {
    /// `Authorization: Bearer <token>`, scheme matched case-insensitively (RFC 6750 §2.1).
    /// gRPC sends credentials as the `authorization` metadata, which is this header.
    AuthorizationBearer,
    /// A cookie with this name.
    Cookie(String),
    /// A custom header holding the bare token.
    Header(HeaderName),
}

/// The token found, or why the request is refused before verification.
pub(crate) fn find_token<'h>(
    headers: &'h HeaderMap,
    sources: &[TokenSource],
    max_len: usize,
) -> Result<Cow<'h, str>, RejectionKind> {
    for source in sources {
        let found = match source {
            TokenSource::AuthorizationBearer => bearer(headers)?.map(Cow::Borrowed),
            TokenSource::Cookie(name) => cookie(headers, name)?,
            TokenSource::Header(name) => custom_header(headers, name)?.map(Cow::Borrowed),
        };
        if let Some(token) = found {
            if token.len() > max_len {
                return Err(RejectionKind::InvalidToken(Cow::Owned(format!(
                    "the token is larger than {max_len} bytes"
                ))));
            }
            return Ok(token);
        }
    }
    Err(RejectionKind::MissingToken)
}

fn invalid_request(why: &'static str) -> RejectionKind {
    RejectionKind::InvalidRequest(Cow::Borrowed(why))
}

fn bearer(headers: &HeaderMap) -> Result<Option<&str>, RejectionKind> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(invalid_request(
            "more than one Authorization header was sent",
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| invalid_request("the Authorization header is not visible ASCII text"))?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        // Another scheme (Basic, ...): as if no token were sent (RFC 6750 §3.1).
        return Ok(None);
    }
    let token = rest.trim_matches(' ');
    if token.is_empty() {
        return Err(invalid_request("the Bearer authorization has no token"));
    }
    Ok(Some(token))
}

fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<Cow<'h, str>>, RejectionKind> {
    for value in headers.get_all(COOKIE) {
        let Ok(text) = value.to_str() else {
            return Err(invalid_request(
                "the Cookie header is not visible ASCII text",
            ));
        };
        for parsed in cookie::Cookie::split_parse(text).flatten() {
            if parsed.name() == name {
                let token = parsed.value().trim();
                if token.is_empty() {
                    return Err(invalid_request("the token cookie is empty"));
                }
                return Ok(Some(Cow::Owned(token.to_owned())));
            }
        }
    }
    Ok(None)
}

fn custom_header<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'h str>, RejectionKind> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(invalid_request("the token header was sent more than once"));
    }
    let token = value
        .to_str()
        .map_err(|_| invalid_request("the token header is not visible ASCII text"))?
        .trim();
    if token.is_empty() {
        return Err(invalid_request("the token header is empty"));
    }
    Ok(Some(token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_bytes(value).expect("value"),
            );
        }
        map
    }

    const BEARER: &[TokenSource] = &[TokenSource::AuthorizationBearer];

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for value in ["Bearer abc", "bearer abc", "BEARER  abc "] {
            let map = headers(&[("authorization", value.as_bytes())]);
            assert_eq!(
                find_token(&map, BEARER, 100).as_deref(),
                Ok("abc"),
                "{value}"
            );
        }
    }

    #[test]
    fn other_schemes_count_as_no_token() {
        let map = headers(&[("authorization", b"Basic dXNlcjpwYXNz")]);
        assert_eq!(
            find_token(&map, BEARER, 100),
            Err(RejectionKind::MissingToken)
        );
    }

    #[test]
    fn sources_are_tried_in_order() {
        let sources = [
            TokenSource::Header(HeaderName::from_static("x-token")),
            TokenSource::Cookie("at".into()),
            TokenSource::AuthorizationBearer,
        ];
        let map = headers(&[
            ("cookie", b"a=1; at=from-cookie"),
            ("authorization", b"Bearer b"),
        ]);
        assert_eq!(
            find_token(&map, &sources, 100).as_deref(),
            Ok("from-cookie")
        );
        let map = headers(&[("x-token", b"from-header"), ("cookie", b"at=c")]);
        assert_eq!(
            find_token(&map, &sources, 100).as_deref(),
            Ok("from-header")
        );
    }

    #[test]
    fn oversized_tokens_are_refused_before_any_parsing() {
        let map = headers(&[(
            "authorization",
            format!("Bearer {}", "a".repeat(101)).as_bytes(),
        )]);
        assert!(matches!(
            find_token(&map, BEARER, 100),
            Err(RejectionKind::InvalidToken(_))
        ));
    }
}
