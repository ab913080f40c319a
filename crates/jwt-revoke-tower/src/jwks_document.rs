//! The parts of a key source that read untrusted text, with no HTTP client: which URLs may be
//! fetched, and what a fetched key-set document yields. Apart from the fetcher so that the
//! fuzz targets (`fuzzing` feature) drive exactly this code without building reqwest.

use std::net::IpAddr;

use jsonwebtoken::jwk::Jwk;
use url::Url;

use crate::verify::DecodingKeys;

/// Why a key source could not start or a fetch failed. Every message names the URL and says
/// what went wrong; none holds a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeySourceError {
    /// The URL (configured, discovered or redirected to) is not one a key source fetches.
    #[error("{url:?} is not a URL keys are fetched from: {why}")]
    Url {
        /// The URL.
        url: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The request failed: no connection, a TLS failure, a timeout.
    #[error("fetching {url} failed: {why}")]
    Unreachable {
        /// The URL.
        url: String,
        /// What the HTTP client said.
        why: String,
    },
    /// The server answered with a status other than 2xx.
    #[error("{url} answered {status}")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The document is larger than the limit.
    #[error("{url} sent a document larger than {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit, [`max_document_bytes`](crate::RemoteKeysBuilder::max_document_bytes).
        limit: usize,
    },
    /// The document is not what was asked for (a key set, a discovery document).
    #[error("{url} sent no usable {what}: {why}")]
    Document {
        /// The URL.
        url: String,
        /// `key set` or `discovery document`.
        what: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// The discovery document names another issuer than the one configured.
    #[error("the discovery document names the issuer {found:?}, not {expected:?}")]
    IssuerMismatch {
        /// The issuer configured.
        expected: String,
        /// The one the document names.
        found: String,
    },
    /// The settings cannot work together.
    #[error("invalid key source settings: {0}")]
    Settings(&'static str),
    /// The source was started outside a Tokio runtime.
    #[error("a remote key source runs on Tokio: start it inside a Tokio runtime")]
    NoRuntime,
}

/// `url` as it is shown in errors, logs, a status and a metric's label: without its query
/// and fragment, which may hold an API key (`?key=…`); `?…` says there was a query.
pub(crate) fn shown(url: &Url) -> String {
    let mut bare = url.clone();
    let had_query = bare.query().is_some();
    bare.set_query(None);
    bare.set_fragment(None);
    let mut text = String::from(bare);
    if had_query {
        text.push_str("?…");
    }
    text
}

/// [`shown`] for a URL as text (a configured location, checked when the source was built);
/// text that is not a URL is shown by its length only, as [`allowed_url`] does.
pub(crate) fn shown_text(url: &str) -> String {
    if !url.contains(['?', '#']) {
        // As configured: parsing would normalise it (a trailing `/` after a bare host).
        return url.to_owned();
    }
    match Url::parse(url) {
        Ok(parsed) => shown(&parsed),
        Err(_) => format!("(text of {} bytes that is not a URL)", url.len()),
    }
}

/// `url` parsed, if a key source may fetch it: HTTPS, or HTTP to a loopback host when allowed;
/// no credentials in it (it gets logged).
pub(crate) fn allowed_url(url: &str, allow_http_loopback: bool) -> Result<Url, KeySourceError> {
    let Ok(parsed) = Url::parse(url) else {
        // Not shown: text that is not a URL may still hold a password where a reader of it
        // (or of the log) would take it for one (`https://user:pw@host:99999/`).
        return Err(KeySourceError::Url {
            url: format!("(text of {} bytes that is not a URL)", url.len()),
            why: "not a URL",
        });
    };
    let refuse = |why| KeySourceError::Url {
        url: shown(&parsed),
        why,
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // Not the URL as given: the refusal gets logged, and must not carry the password.
        let mut shown = parsed;
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        return Err(KeySourceError::Url {
            url: self::shown(&shown),
            why: "credentials in a URL are not supported",
        });
    }
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if allow_http_loopback && is_loopback(&parsed) => Ok(parsed),
        "http" if allow_http_loopback => Err(refuse(
            "plain HTTP is allowed only to a loopback address (127.0.0.1, ::1, localhost)",
        )),
        "http" => Err(refuse(
            "keys are fetched over HTTPS only (allow_http_loopback allows http:// to a \
             loopback address, for tests)",
        )),
        _ => Err(refuse("keys are fetched over HTTPS only")),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The members of a JWK that hold private key values (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037
/// §2).
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The signature keys of a fetched key set. A symmetric (`oct`) key or one with private key
/// values (`d`, ...), published for anyone to read, and a key jsonwebtoken cannot read (another curve, a certificate-only RSA key) are
/// left out and logged; two signature keys of one `kid` fail the document (which one the
/// provider means cannot be known); a set without a usable key too.
pub(crate) fn key_set(body: &[u8], url: &Url) -> Result<DecodingKeys, KeySourceError> {
    #[derive(serde::Deserialize)]
    struct Document {
        keys: Vec<serde_json::Value>,
    }
    let unusable = |why: String| KeySourceError::Document {
        url: shown(url),
        what: "key set",
        why,
    };
    // JSON is UTF-8 (RFC 8259 §8.1), all of it: serde_json skips the members it ignores
    // without checking theirs, and a document that is not JSON is not a key set.
    let text = std::str::from_utf8(body)
        .map_err(|_| unusable("the document is not UTF-8 text".to_owned()))?;
    let document: Document = serde_json::from_str(text).map_err(|err| unusable(err.to_string()))?;
    // Two keys of one kid for signatures fail the document, whether or not either can be
    // read: which one the provider means cannot be known, and the answer must not depend on
    // the keys' order (FUZZING.md F5).
    let mut kids = std::collections::HashSet::new();
    for value in &document.keys {
        let for_signatures = value
            .get("use")
            .is_none_or(|usage| usage.is_null() || usage.as_str() == Some("sig"))
            && value.get("key_ops").is_none_or(|ops| {
                ops.is_null()
                    || ops
                        .as_array()
                        .is_some_and(|ops| ops.iter().any(|op| op.as_str() == Some("verify")))
            });
        if let Some(kid) = value.get("kid").and_then(serde_json::Value::as_str)
            && for_signatures
            && !kids.insert(kid)
        {
            return Err(unusable(format!(
                "the key set has two signature keys with the kid {kid:?}"
            )));
        }
    }
    let mut jwks: Vec<Jwk> = Vec::with_capacity(document.keys.len());
    for value in document.keys {
        let kid = value
            .get("kid")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        // RSA, EC and OKP keys only: a symmetric key in a document anyone can fetch is a
        // secret everyone knows, and would let anyone sign tokens (HS256, ...).
        if value.get("kty").and_then(serde_json::Value::as_str) == Some("oct") {
            tracing::warn!(source = %shown(url), ?kid, "a symmetric (oct) key in a fetched key set is a published secret; left out");
            continue;
        }
        // OpenID Connect Discovery §3: a key set holds no private key values. A private key
        // published is a secret everyone knows, as the symmetric one above.
        if let Some(member) = PRIVATE_MEMBERS
            .iter()
            .find(|member| value.get(**member).is_some())
        {
            tracing::warn!(source = %shown(url), ?kid, member, "a key of the fetched key set holds a private key value; left out");
            continue;
        }
        match serde_json::from_value::<Jwk>(value) {
            // Judged again as jsonwebtoken read it: its reader takes other spellings of `kty`
            // than the string (`{"oct": null}`, FUZZING.md F6).
            Ok(jwk)
                if matches!(
                    jwk.algorithm,
                    jsonwebtoken::jwk::AlgorithmParameters::OctetKey(_)
                ) =>
            {
                tracing::warn!(source = %shown(url), ?kid, "a symmetric (oct) key in a fetched key set is a published secret; left out");
            }
            Ok(jwk) => jwks.push(jwk),
            Err(err) => {
                tracing::debug!(source = %shown(url), ?kid, error = %err, "a key of the key set is not one jsonwebtoken reads; left out");
            }
        }
    }
    let keys = DecodingKeys::from_jwk_list(&jwks, |kid, err| {
        tracing::warn!(source = %shown(url), kid, error = %err, "a key of the key set is unusable; left out");
        Ok(())
    })
    .map_err(|err| unusable(err.to_string()))?;
    if keys.is_empty() {
        return Err(unusable("no key usable for signatures".to_owned()));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::{allowed_url, key_set};

    const EC_KEY: &str = r#"{"kty": "EC", "crv": "P-256", "x": "w7JAoU_gJbZJvV-zCOvU9yFJq0FNC_edCMRM78P8eQQ", "y": "wQg1EytcsEmGrM70Gb53oluoDbVhCZ3Uq3hHMslHVb4", "kid": "k"}"#;

    fn read(document: &str) -> Result<crate::DecodingKeys, super::KeySourceError> {
        key_set(
            document.as_bytes(),
            &url::Url::parse("https://idp.example/jwks").expect("a URL"),
        )
    }

    /// FUZZING.md F5: a repeated kid failed the document only when the unreadable key came
    /// second.
    #[test]
    fn a_repeated_kid_fails_the_document_in_either_order() {
        let unreadable = r#"{"kty": "OKP", "crv": "Ed448", "x": "AA", "kid": "k"}"#;
        for document in [
            format!(r#"{{"keys": [{unreadable}, {EC_KEY}]}}"#),
            format!(r#"{{"keys": [{EC_KEY}, {unreadable}]}}"#),
        ] {
            let err = read(&document).expect_err("two keys of kid k");
            assert!(err.to_string().contains("two signature keys"), "{err}");
        }
        // A key for encryption shares no kid space with the signature keys.
        let enc = r#"{"kty": "OKP", "crv": "Ed448", "x": "AA", "kid": "k", "use": "enc"}"#;
        let keys = read(&format!(r#"{{"keys": [{enc}, {EC_KEY}]}}"#)).expect("one signature key");
        assert_eq!(keys.kids().collect::<Vec<_>>(), ["k"]);
    }

    /// FUZZING.md F7: bytes that are not UTF-8 in a member the parser skips made a document
    /// that is not JSON a key set.
    #[test]
    fn a_document_that_is_not_utf8_is_not_a_key_set() {
        let mut document = format!(r#"{{"keys": [{EC_KEY}], "x5u": "ab"}}"#).into_bytes();
        let at = document.len() - 3;
        document[at] = 0xff;
        let err = key_set(
            &document,
            &url::Url::parse("https://idp.example/jwks").expect("a URL"),
        )
        .expect_err("not UTF-8");
        assert!(err.to_string().contains("not UTF-8"), "{err}");
        document[at] = b'c';
        assert!(
            key_set(
                &document,
                &url::Url::parse("https://idp.example/jwks").expect("a URL")
            )
            .is_ok()
        );
    }

    /// FUZZING.md F6: jsonwebtoken reads `{"kty": {"oct": null}}` as a symmetric key, which the
    /// string comparison let through.
    #[test]
    fn a_symmetric_key_is_left_out_however_its_kty_is_written() {
        for key in [
            r#"{"kty": {"oct": null}, "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA", "kid": "s"}"#,
            r#"{"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA", "kid": "s"}"#,
        ] {
            let document = format!(r#"{{"keys": [{key}, {EC_KEY}]}}"#);
            let keys = read(&document).expect("the EC key is usable");
            assert!(
                !keys.verifies(jsonwebtoken::Algorithm::HS256),
                "{key}: a published secret verifies nothing"
            );
            assert_eq!(keys.kids().collect::<Vec<_>>(), ["k"], "{key}");
        }
    }

    /// A refusal gets logged: it shows neither credentials nor a query (an API key may be
    /// there).
    #[test]
    fn a_refused_url_is_shown_without_credentials_or_query() {
        for url in [
            "https://user:pw@idp.example/jwks?key=s3cret#frag",
            "http://idp.example/jwks?key=s3cret",
        ] {
            let err = allowed_url(url, false).expect_err("refused");
            let text = err.to_string();
            assert!(
                !text.contains("s3cret") && !text.contains("pw") && !text.contains("frag"),
                "{text}"
            );
            assert!(text.contains("idp.example/jwks?…"), "{text}");
        }
    }

    #[test]
    fn only_https_or_allowed_loopback_http_is_fetched() {
        assert!(allowed_url("https://idp.example/jwks", false).is_ok());
        assert!(allowed_url("http://idp.example/jwks", false).is_err());
        assert!(allowed_url("http://idp.example/jwks", true).is_err());
        assert!(allowed_url("http://10.0.0.1/jwks", true).is_err());
        for loopback in [
            "http://127.0.0.1:8080/jwks",
            "http://127.9.9.9/jwks",
            "http://[::1]:1/jwks",
            "http://LOCALHOST/jwks",
        ] {
            assert!(allowed_url(loopback, true).is_ok(), "{loopback}");
            assert!(allowed_url(loopback, false).is_err(), "{loopback}");
        }
        assert!(allowed_url("https://user:pw@idp.example/jwks", false).is_err());
        assert!(allowed_url("file:///etc/jwks.json", true).is_err());
        assert!(allowed_url("not a url", true).is_err());
    }
}
