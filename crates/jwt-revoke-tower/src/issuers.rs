//! Who signs the tokens a layer or receiver accepts: [`Keys`] (configured keys, or a key set
//! fetched from an identity provider) and [`TrustedIssuer`] (one issuer's keys, algorithms
//! and audiences, for a layer that accepts the tokens of several).

use jsonwebtoken::Algorithm;

use crate::verify::DecodingKeys;

/// Where a verifier's keys come from: keys you give ([`DecodingKeys`]), or, with the feature
/// `remote-keys`, an identity provider's key set fetched and refreshed in the background
/// ([`RemoteKeys`](crate::RemoteKeys)). Both convert into it, so every constructor that takes
/// `impl Into<Keys>` takes either.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Keys {
    /// Keys fixed at build time.
    Fixed(DecodingKeys),
    /// A key set fetched from a JWKS URL or through OIDC discovery, rotated without a restart.
    #[cfg(feature = "remote-keys")]
    Remote(crate::RemoteKeys),
}

impl From<DecodingKeys> for Keys {
    fn from(keys: DecodingKeys) -> Self {
        Keys::Fixed(keys)
    }
}

#[cfg(feature = "remote-keys")]
impl From<crate::RemoteKeys> for Keys {
    fn from(keys: crate::RemoteKeys) -> Self {
        Keys::Remote(keys)
    }
}

/// One issuer of the tokens a layer accepts: its `iss`, its keys, the algorithms it signs
/// with and (optionally) the audiences its tokens must name, for
/// [`RevocationLayer::verifying_issuers`](crate::RevocationLayer::verifying_issuers).
///
/// A token's `iss` chooses the issuer whose keys verify it. It is read before verification for
/// that only: the verified token must name the same issuer, a token naming none of them is
/// refused, and one issuer's keys never verify another's tokens.
///
/// ```
/// use jwt_revoke_tower::{DecodingKeys, TrustedIssuer};
/// use jwt_revoke_tower::jsonwebtoken::{Algorithm, DecodingKey};
///
/// let ours = TrustedIssuer::new(
///     "https://api.example.com",
///     DecodingKeys::new(DecodingKey::from_secret(b"our own HS256 secret of 32 bytes")),
///     &[Algorithm::HS256],
/// );
/// let partner = TrustedIssuer::new(
///     "https://partner.example",
///     DecodingKeys::new(DecodingKey::from_secret(b"the partner's shared secret.....")),
///     &[Algorithm::HS512],
/// )
/// .audiences(["partner-api"]);
/// # let _ = (ours, partner);
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct TrustedIssuer {
    pub(crate) iss: String,
    pub(crate) keys: Keys,
    pub(crate) algorithms: Vec<Algorithm>,
    /// `None`: the layer's audiences.
    pub(crate) audiences: Option<Vec<String>>,
}

impl TrustedIssuer {
    /// Tokens whose `iss` is exactly `iss`, signed by one of `keys` with one of `algorithms`
    /// (the token's own `alg` is not trusted beyond this list).
    pub fn new(iss: impl Into<String>, keys: impl Into<Keys>, algorithms: &[Algorithm]) -> Self {
        TrustedIssuer {
            iss: iss.into(),
            keys: keys.into(),
            algorithms: algorithms.to_vec(),
            audiences: None,
        }
    }

    /// The audiences this issuer's tokens must name one of (default: the layer's
    /// [`audiences`](crate::RevocationLayerBuilder::audiences)).
    pub fn audiences<I: IntoIterator<Item = T>, T: Into<String>>(mut self, audiences: I) -> Self {
        self.audiences = Some(audiences.into_iter().map(Into::into).collect());
        self
    }

    /// The issuer.
    pub fn iss(&self) -> &str {
        &self.iss
    }
}
