//! Finding the token in a request.

use std::borrow::Cow;

use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, HeaderName};

use crate::rejection::RejectionKind;

/// Where the layer looks for a token. Every configured source is read; a request whose sources
/// hold two different tokens is refused as `invalid_request` (see the layer's docs).
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

/// A token as a client may send it, without the whitespace around it.
///
/// Every place that takes a token from outside (each source of the layer, the RFC 7009
/// endpoint) trims it the same way, so that a token revoked with a space after it is the token
/// the layer accepts without one.
pub(crate) fn normalize(token: &str) -> &str {
    token.trim_matches(|c: char| c.is_ascii_whitespace())
}

/// The token of the request, or why the request is refused before verification.
///
/// Every source is read, not only the first that holds a token: two *different* tokens in one
/// request (a Bearer header and a cookie that disagree, two cookies of the token's name) are
/// refused as `invalid_request`. Which one counts would otherwise depend on who reads the
/// request — this layer, an upstream one, the handler — and an attacker could pair a revoked
/// token with another to dodge its revocation. The same token sent twice is no ambiguity.
pub(crate) fn find_token<'h>(
    headers: &'h HeaderMap,
    sources: &[TokenSource],
    max_len: usize,
) -> Result<Cow<'h, str>, RejectionKind> {
    let mut found: Option<Cow<'h, str>> = None;
    let mut consider = |token: Cow<'h, str>| -> Result<(), RejectionKind> {
        match &found {
            Some(first) if *first != token => {
                Err(invalid_request("the request carries two different tokens"))
            }
            Some(_) => Ok(()),
            None => {
                found = Some(token);
                Ok(())
            }
        }
    };
    for source in sources {
        match source {
            TokenSource::AuthorizationBearer => {
                if let Some(token) = bearer(headers)? {
                    consider(Cow::Borrowed(token))?;
                }
            }
            TokenSource::Cookie(name) => {
                for token in cookies(headers, name)? {
                    consider(token)?;
                }
            }
            TokenSource::Header(name) => {
                if let Some(token) = custom_header(headers, name)? {
                    consider(Cow::Borrowed(token))?;
                }
            }
        }
    }
    let token = found.ok_or(RejectionKind::MissingToken)?;
    if token.len() > max_len {
        return Err(RejectionKind::InvalidToken(
            crate::InvalidReason::TooLarge,
            Cow::Owned(format!("the token is larger than {max_len} bytes")),
        ));
    }
    Ok(token)
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
    let value = normalize(value);
    let (scheme, rest) = value
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        // Another scheme (Basic, ...): as if no token were sent (RFC 6750 §3.1).
        return Ok(None);
    }
    let token = normalize(rest);
    if token.is_empty() {
        return Err(invalid_request("the Bearer authorization has no token"));
    }
    Ok(Some(token))
}

/// Every cookie named `name`, in every `Cookie` header.
fn cookies<'h>(headers: &'h HeaderMap, name: &str) -> Result<Vec<Cow<'h, str>>, RejectionKind> {
    let mut found = Vec::new();
    for value in headers.get_all(COOKIE) {
        let Ok(text) = value.to_str() else {
            return Err(invalid_request(
                "the Cookie header is not visible ASCII text",
            ));
        };
        for parsed in cookie::Cookie::split_parse(text).flatten() {
            if parsed.name() != name {
                continue;
            }
            let token = match parsed.value_raw() {
                Some(raw) => Cow::Borrowed(normalize(raw)),
                None => Cow::Owned(normalize(parsed.value()).to_owned()),
            };
            if token.is_empty() {
                return Err(invalid_request("the token cookie is empty"));
            }
            found.push(token);
        }
    }
    Ok(found)
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
    let token = normalize(
        value
            .to_str()
            .map_err(|_| invalid_request("the token header is not visible ASCII text"))?,
    );
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
    fn every_source_is_read_and_two_different_tokens_are_refused() {
        let sources = [
            TokenSource::Header(HeaderName::from_static("x-token")),
            TokenSource::Cookie("at".into()),
            TokenSource::AuthorizationBearer,
        ];
        let map = headers(&[("cookie", b"a=1; at=from-cookie")]);
        assert_eq!(
            find_token(&map, &sources, 100).as_deref(),
            Ok("from-cookie")
        );
        let map = headers(&[("x-token", b"same"), ("authorization", b"Bearer same")]);
        assert_eq!(find_token(&map, &sources, 100).as_deref(), Ok("same"));
        for pairs in [
            &[("x-token", &b"one"[..]), ("cookie", b"at=other")][..],
            &[("cookie", b"at=one"), ("authorization", b"Bearer other")],
            &[("cookie", b"at=one; at=other")],
            &[("cookie", b"at=one"), ("cookie", b"at=other")],
        ] {
            assert!(
                matches!(
                    find_token(&headers(pairs), &sources, 100),
                    Err(RejectionKind::InvalidRequest(_))
                ),
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn whitespace_around_a_token_is_not_part_of_it() {
        for value in [&b"Bearer abc\t"[..], b"Bearer\tabc", b" Bearer  abc  "] {
            let map = headers(&[("authorization", value)]);
            assert_eq!(find_token(&map, BEARER, 100).as_deref(), Ok("abc"));
        }
        let map = headers(&[("cookie", b"at= abc\t")]);
        let sources = [TokenSource::Cookie("at".into())];
        assert_eq!(find_token(&map, &sources, 100).as_deref(), Ok("abc"));
        assert_eq!(normalize("\r\n abc \n"), "abc");
    }

    #[test]
    fn oversized_tokens_are_refused_before_any_parsing() {
        let map = headers(&[(
            "authorization",
            format!("Bearer {}", "a".repeat(101)).as_bytes(),
        )]);
        assert!(matches!(
            find_token(&map, BEARER, 100),
            Err(RejectionKind::InvalidToken(..))
        ));
    }
}
