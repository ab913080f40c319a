//! The errors of configuration: a layer or receiver that cannot be built, a key set that cannot
//! be used. (A request's refusals are [`RejectionKind`](crate::RejectionKind)s, not errors.)

/// Why a layer could not be built. Every one is a configuration mistake, found at start-up
/// rather than at the first request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The RFC 7009 endpoint was given a layer that reads claims verified upstream
    /// ([`claims_verified_upstream`](crate::RevocationLayer::claims_verified_upstream)): it
    /// verifies the tokens it revokes itself, with the keys of a
    /// [`verifying`](crate::RevocationLayer::verifying) layer.
    #[error(
        "the RFC 7009 endpoint verifies the tokens it revokes: give it a layer built with \
         RevocationLayer::verifying(…), not one that reads claims verified upstream"
    )]
    NotVerifying,
    /// The algorithm allowlist is empty.
    #[error("the algorithm allowlist is empty")]
    NoAlgorithms,
    /// No key was given.
    #[error("no decoding key was given")]
    NoKeys,
    /// Two keys were given for one `kid`: a token naming it could be checked against either.
    #[error("two keys were given for the kid {kid:?}")]
    DuplicateKid {
        /// The repeated `kid`.
        kid: String,
    },
    /// A key can verify none of the allowed algorithms (an HMAC secret with only RS256, say).
    #[error("the {key} key can verify none of the allowed algorithms")]
    KeyAlgorithmMismatch {
        /// `default` or the key's `kid`.
        key: String,
    },
    /// A key is malformed for its family (an Ed25519 key that is not 32 bytes): jsonwebtoken
    /// would fail, or with some backends panic, on every token checked against it.
    #[error("the {key} key is malformed for its algorithm family")]
    MalformedKey {
        /// `default` or the key's `kid`.
        key: String,
    },
    /// jsonwebtoken has no usable crypto backend: with neither or both of its `aws_lc_rs` and
    /// `rust_crypto` features, and no provider installed, it would panic at the first token.
    #[error(
        "jsonwebtoken has no usable crypto backend: enable exactly one of the features \
         `aws_lc_rs` or `rust_crypto` (on jwt-revoke-tower or on jsonwebtoken), or call \
         jsonwebtoken::crypto::CryptoProvider::install_default() before building the layer"
    )]
    NoCryptoBackend,
    /// An issuer is listed twice among a layer's trusted issuers: whose keys verify its
    /// tokens would be ambiguous.
    #[error("the issuer {iss:?} is listed twice")]
    DuplicateIssuer {
        /// The issuer.
        iss: String,
    },
    /// A layer of several trusted issuers was also given an issuer allowlist
    /// ([`RevocationLayerBuilder::issuers`](crate::RevocationLayerBuilder::issuers)): the
    /// trusted issuers are the list.
    #[error(
        "a layer of trusted issuers (RevocationLayer::verifying_issuers) takes no issuers(…) \
         list besides: its trusted issuers are the list"
    )]
    IssuersTwice,
    /// A bypass prefix matches every path (`""` or `"/"`): the layer would check no request.
    #[error("the bypass prefix {prefix:?} matches every path: the layer would check no request")]
    BypassesEverything {
        /// The prefix.
        prefix: String,
    },
}

/// Why a JSON Web Key Set cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    /// Two signature keys of the set have the same `kid`: a token naming it could be checked
    /// against either, and whoever added the second key would choose.
    #[error("the key set has two signature keys with the kid {kid:?}")]
    DuplicateKid {
        /// The repeated `kid`.
        kid: String,
    },
    /// jsonwebtoken cannot read a key of the set.
    #[error("the key {kid:?} of the key set is unusable: {source}")]
    UnreadableKey {
        /// The key's `kid`.
        kid: String,
        /// What jsonwebtoken said.
        #[source]
        source: jsonwebtoken::errors::Error,
    },
}
