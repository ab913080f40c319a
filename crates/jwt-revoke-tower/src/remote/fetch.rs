//! One fetch of a key set: the URL rules, the HTTP client and its limits, OIDC discovery, the
//! document's size and shape, and what `Cache-Control` asks.

use std::time::Duration;

use headers::HeaderMapExt as _;
use reqwest::Url;
use sha2::Digest as _;

use super::{Location, RemoteKeysBuilder};
use crate::jwks_document::{KeySourceError, allowed_url, key_set, shown};
use crate::verify::DecodingKeys;

/// How many redirects a fetch follows, each to a URL the same rules allow.
const MAX_REDIRECTS: usize = 5;

/// The HTTP client of one source: its timeouts, redirects only to allowed URLs, rustls with the
/// platform's roots.
pub(super) fn client(settings: &RemoteKeysBuilder) -> Result<reqwest::Client, KeySourceError> {
    let allow_http_loopback = settings.allow_http_loopback;
    reqwest::Client::builder()
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.fetch_timeout)
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if let Err(err) = allowed_url(attempt.url().as_str(), allow_http_loopback) {
                attempt.error(err)
            } else {
                attempt.follow()
            }
        }))
        .user_agent(concat!("jwt-revoke/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| KeySourceError::Unreachable {
            url: settings.location.to_string(),
            why: chain(&err.without_url()),
        })
}

/// What one successful fetch brings.
pub(super) struct Fetched {
    pub(super) keys: DecodingKeys,
    /// The SHA-256 of the key set's document: the same document is the same keys.
    pub(super) digest: [u8; 32],
    /// `Cache-Control: max-age` of the key set's response.
    pub(super) max_age: Option<Duration>,
    pub(super) jwks_uri: Url,
}

/// Fetches the key set: from `jwks_uri` when discovery found it before, else from the
/// configured URL or through discovery.
pub(super) async fn fetch(
    settings: &RemoteKeysBuilder,
    client: &reqwest::Client,
    jwks_uri: Option<Url>,
) -> Result<Fetched, KeySourceError> {
    let allow = settings.allow_http_loopback;
    let jwks_uri = match (jwks_uri, &settings.location) {
        (Some(known), _) => known,
        (None, Location::Jwks(url)) => allowed_url(url, allow)?,
        (None, Location::Issuer(issuer)) => discover(settings, client, issuer).await?,
    };
    let (body, headers) = get(settings, client, &jwks_uri).await?;
    let keys = key_set(&body, &jwks_uri)?;
    let max_age = headers
        .typed_get::<headers::CacheControl>()
        .and_then(|cache| cache.max_age());
    Ok(Fetched {
        keys,
        digest: sha2::Sha256::digest(&body).into(),
        max_age,
        jwks_uri,
    })
}

/// The `jwks_uri` of `issuer`'s discovery document, which must name `issuer` exactly.
async fn discover(
    settings: &RemoteKeysBuilder,
    client: &reqwest::Client,
    issuer: &str,
) -> Result<Url, KeySourceError> {
    #[derive(serde::Deserialize)]
    struct Discovery {
        issuer: String,
        jwks_uri: String,
    }
    // OpenID Connect Discovery §4: the issuer without a trailing slash, then the well-known path.
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let url = allowed_url(&url, settings.allow_http_loopback)?;
    let (body, _) = get(settings, client, &url).await?;
    let document: Discovery =
        serde_json::from_slice(&body).map_err(|err| KeySourceError::Document {
            url: shown(&url),
            what: "discovery document",
            why: err.to_string(),
        })?;
    if document.issuer != issuer {
        return Err(KeySourceError::IssuerMismatch {
            expected: issuer.to_owned(),
            found: document.issuer,
        });
    }
    allowed_url(&document.jwks_uri, settings.allow_http_loopback)
}

/// GETs `url`: a 2xx answer's body, at most `max_document_bytes`, and its headers.
async fn get(
    settings: &RemoteKeysBuilder,
    client: &reqwest::Client,
    url: &Url,
) -> Result<(Vec<u8>, http::HeaderMap), KeySourceError> {
    // reqwest's message names the URL, query and all: shown without it.
    let unreachable = |err: reqwest::Error| KeySourceError::Unreachable {
        url: shown(url),
        why: chain(&err.without_url()),
    };
    let limit = settings.max_document_bytes;
    let too_large = || KeySourceError::TooLarge {
        url: shown(url),
        limit,
    };
    let mut response = client
        .get(url.clone())
        .header(http::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(unreachable)?;
    if !response.status().is_success() {
        return Err(KeySourceError::Status {
            url: shown(url),
            status: response.status().as_u16(),
        });
    }
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(too_large());
    }
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, headers))
}

/// An error and its sources, on one line.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
