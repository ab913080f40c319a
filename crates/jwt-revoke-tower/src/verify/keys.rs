//! [`DecodingKeys`], the keys of one issuer as given, and [`CompiledKeys`], the same keys
//! readied for one verifier's algorithms and rules (each with its jsonwebtoken `Validation`).

use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::error::{BuildError, JwksError};

/// The keys that may have signed a token: an optional default key and keys by `kid`.
///
/// When keys are named by `kid`, a token whose header names a `kid` is checked with that key
/// only (a `kid` that names none of them is refused), and a token without `kid` with the
/// default key only. When no key is named (one default key), a token's `kid` selects nothing
/// and is not judged: identity providers stamp a `kid` on every token, and the one key you
/// configured still has to verify its signature. Each key accepts only the layer's algorithms of its own family
/// (an HMAC secret never verifies an `RS256` token: no algorithm confusion), and a key from a
/// JWKS that states its `alg` only that one. Two keys with one `kid` are refused when the
/// layer is built ([`BuildError::DuplicateKid`]).
///
/// ```
/// use jsonwebtoken::DecodingKey;
/// use jwt_revoke_tower::DecodingKeys;
///
/// let keys = DecodingKeys::new(DecodingKey::from_secret(b"current secret"))
///     .with_kid("2026-11", DecodingKey::from_secret(b"rotated-in secret"));
/// # let _ = keys;
/// ```
#[derive(Clone)]
pub struct DecodingKeys {
    pub(super) default: Option<KeyEntry>,
    pub(super) by_kid: Vec<(String, KeyEntry)>,
    /// The keys of a key set none of whose keys has a `kid`: each tried in turn.
    pub(super) anonymous: Vec<KeyEntry>,
}

/// One key and what it may be used for.
#[derive(Clone)]
pub(super) struct KeyEntry {
    key: DecodingKey,
    /// The one algorithm the key may verify, when its JWK states it.
    algorithm: Option<Algorithm>,
    /// From a key set: a key that fits none of the layer's algorithms is left out rather than
    /// refused (an identity provider publishes keys for other clients too).
    from_key_set: bool,
}

impl KeyEntry {
    fn configured(key: DecodingKey) -> Self {
        KeyEntry {
            key,
            algorithm: None,
            from_key_set: false,
        }
    }
}

impl DecodingKeys {
    /// Keys with one default key, for tokens without `kid`.
    pub fn new(default: DecodingKey) -> Self {
        DecodingKeys {
            default: Some(KeyEntry::configured(default)),
            by_kid: Vec::new(),
            anonymous: Vec::new(),
        }
    }

    /// Keys selected by `kid` only: a token without `kid` is refused.
    pub fn by_kid_only() -> Self {
        DecodingKeys {
            default: None,
            by_kid: Vec::new(),
            anonymous: Vec::new(),
        }
    }

    /// The signature keys of a JSON Web Key Set (RFC 7517): what an identity provider
    /// publishes at its `jwks_uri`.
    ///
    /// - A key is used only for signatures: one whose `use` is present and not `sig`, or whose
    ///   `key_ops` do not include `verify`, is left out.
    /// - A key that states its `alg` verifies that algorithm only (when the layer allows it);
    ///   one whose `alg` is not a signature algorithm is left out.
    /// - Keys are selected by `kid`; a key without `kid` is left out, unless no key of the set
    ///   has one: then each key is tried in turn (for the algorithm the token names).
    /// - Two signature keys with one `kid` are an error, as is a key jsonwebtoken cannot read.
    ///
    /// ```
    /// use jwt_revoke_tower::DecodingKeys;
    /// use jwt_revoke_tower::jsonwebtoken::jwk::JwkSet;
    ///
    /// let jwks: JwkSet = serde_json::from_str(r#"{"keys": [{
    ///     "kty": "oct", "kid": "2026-11", "alg": "HS256", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ"
    /// }]}"#).unwrap();
    /// let keys = DecodingKeys::from_jwks(&jwks).unwrap();
    /// assert!(format!("{keys:?}").contains("2026-11"));
    /// ```
    pub fn from_jwks(jwks: &jsonwebtoken::jwk::JwkSet) -> Result<Self, JwksError> {
        Self::from_jwk_list(&jwks.keys, |_, err| Err(err))
    }

    /// [`from_jwks`](Self::from_jwks) of a list of keys, with `unreadable` deciding what a key
    /// jsonwebtoken cannot read does: fail the set, or (for a fetched set) be left out.
    pub(crate) fn from_jwk_list(
        jwks: &[jsonwebtoken::jwk::Jwk],
        unreadable: impl Fn(&str, JwksError) -> Result<(), JwksError>,
    ) -> Result<Self, JwksError> {
        use jsonwebtoken::jwk::{KeyOperations, PublicKeyUse};
        let signing: Vec<_> = jwks
            .iter()
            .filter(|jwk| {
                let common = &jwk.common;
                matches!(common.public_key_use, None | Some(PublicKeyUse::Signature))
                    && common
                        .key_operations
                        .as_ref()
                        .is_none_or(|ops| ops.contains(&KeyOperations::Verify))
            })
            .collect();
        // Two signature keys of one kid refuse the set, whichever of them could be read or
        // used: which one the publisher means cannot be known, and the answer must not depend
        // on their order (FUZZING.md F5).
        for (index, jwk) in signing.iter().enumerate() {
            if let Some(kid) = &jwk.common.key_id
                && signing[..index]
                    .iter()
                    .any(|earlier| earlier.common.key_id.as_ref() == Some(kid))
            {
                return Err(JwksError::DuplicateKid { kid: kid.clone() });
            }
        }
        let anonymous = signing.iter().all(|jwk| jwk.common.key_id.is_none());
        let mut keys = DecodingKeys::by_kid_only();
        for jwk in signing {
            let kid = jwk.common.key_id.as_ref();
            if kid.is_none() && !anonymous {
                continue;
            }
            let algorithm = match &jwk.common.key_algorithm {
                None => None,
                Some(stated) => match stated.to_string().parse::<Algorithm>() {
                    Ok(algorithm) => Some(algorithm),
                    // An encryption algorithm (RSA-OAEP, ...) or one jsonwebtoken cannot verify.
                    Err(_) => continue,
                },
            };
            let name = kid.map_or("(without kid)", String::as_str);
            let key =
                match DecodingKey::from_jwk(jwk).and_then(|key| well_formed(&key).map(|()| key)) {
                    Ok(key) => key,
                    Err(source) => {
                        unreadable(
                            name,
                            JwksError::UnreadableKey {
                                kid: name.to_owned(),
                                source,
                            },
                        )?;
                        continue;
                    }
                };
            let entry = KeyEntry {
                key,
                algorithm,
                from_key_set: true,
            };
            match kid {
                Some(kid) => keys.by_kid.push((kid.clone(), entry)),
                None => keys.anonymous.push(entry),
            }
        }
        Ok(keys)
    }

    /// Whether some key here can verify `algorithm`: one of its family, and, for a key from a
    /// key set that states its `alg`, exactly that one. A key set's keys for encryption, or
    /// stating an algorithm jsonwebtoken cannot verify, were left out by
    /// [`from_jwks`](Self::from_jwks) and verify nothing. For checking a configuration: an
    /// allowed algorithm no key verifies refuses every token that uses it.
    ///
    /// ```
    /// use jsonwebtoken::{Algorithm, DecodingKey};
    /// use jwt_revoke_tower::DecodingKeys;
    /// let keys = DecodingKeys::new(DecodingKey::from_secret(b"a secret of 32 bytes or more....."));
    /// assert!(keys.verifies(Algorithm::HS256));
    /// assert!(!keys.verifies(Algorithm::RS256));
    /// ```
    pub fn verifies(&self, algorithm: Algorithm) -> bool {
        self.entries().any(|entry| {
            entry.key.family() == algorithm.family()
                && entry.algorithm.is_none_or(|stated| stated == algorithm)
        })
    }

    /// The `kid`s of the keys selected by one, in order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.by_kid.iter().map(|(kid, _)| kid.as_str())
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.entries().count()
    }

    /// Whether there is no key at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a key for tokens whose header says `kid`.
    pub fn with_kid(mut self, kid: impl Into<String>, key: DecodingKey) -> Self {
        self.by_kid.push((kid.into(), KeyEntry::configured(key)));
        self
    }

    fn entries(&self) -> impl Iterator<Item = &KeyEntry> {
        self.default
            .iter()
            .chain(self.by_kid.iter().map(|(_, entry)| entry))
            .chain(self.anonymous.iter())
    }
}

impl std::fmt::Debug for DecodingKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        let mut f = f.debug_struct("DecodingKeys");
        f.field(
            "default",
            &self.default.as_ref().map(|entry| entry.key.family()),
        )
        .field(
            "kids",
            &self.by_kid.iter().map(|(kid, _)| kid).collect::<Vec<_>>(),
        );
        if !self.anonymous.is_empty() {
            f.field("without_kid", &self.anonymous.len());
        }
        f.finish()
    }
}

/// Refuses a key jsonwebtoken would choke on at every token: an Ed25519 public key is 32 bytes,
/// and jsonwebtoken neither checks that when it reads one (`from_jwk`, `from_ed_der`,
/// `from_ed_components`) nor, with its `rust_crypto` backend, before slicing it to 32 bytes
/// (a panic per request; found by the `jwks` fuzz target, FUZZING.md F2).
pub(super) fn well_formed(key: &DecodingKey) -> jsonwebtoken::errors::Result<()> {
    use jsonwebtoken::errors::ErrorKind;
    if key.family() == jsonwebtoken::AlgorithmFamily::Ed && key.try_get_as_bytes()?.len() != 32 {
        return Err(ErrorKind::InvalidEddsaKey.into());
    }
    Ok(())
}

/// A key readied for verification: the key and the validation of the algorithms it may verify.
pub(super) struct VerifyingKey {
    pub(super) key: DecodingKey,
    pub(super) validation: Validation,
}

/// The keys of one issuer, readied for one verifier: each with its `Validation`.
pub(super) struct CompiledKeys {
    /// Which version of a fetched key set these are (0 for configured keys).
    #[cfg_attr(not(feature = "remote-keys"), allow(dead_code))]
    pub(super) generation: u64,
    default: Option<VerifyingKey>,
    by_kid: Vec<(String, VerifyingKey)>,
    anonymous: Vec<VerifyingKey>,
}

/// The keys a token's header selects.
pub(super) enum Selected<'a> {
    /// Exactly this key.
    One(&'a VerifyingKey),
    /// Each of these, in turn (a key set without `kid`s).
    Each(&'a [VerifyingKey]),
    /// The header names a `kid` no key has.
    UnknownKid,
    /// The header names no `kid`, and every key is selected by one.
    NoKid,
}

impl CompiledKeys {
    /// `keys` for tokens of `algorithms`, each key's `Validation` made by `validation`.
    /// `must_fit`: a key that verifies none of the algorithms is an error (configured keys),
    /// or left out (a fetched key set, whose other keys serve other clients).
    pub(super) fn new(
        keys: DecodingKeys,
        algorithms: &[Algorithm],
        generation: u64,
        validation: impl Fn(Vec<Algorithm>) -> Validation,
    ) -> Result<Self, BuildError> {
        for (index, (kid, _)) in keys.by_kid.iter().enumerate() {
            if keys.by_kid[..index]
                .iter()
                .any(|(earlier, _)| earlier == kid)
            {
                return Err(BuildError::DuplicateKid { kid: kid.clone() });
            }
        }
        // The key for `name`, or `None` for a key-set key that fits none of the algorithms.
        let make = |entry: KeyEntry, name: &str| -> Result<Option<VerifyingKey>, BuildError> {
            if well_formed(&entry.key).is_err() {
                return Err(BuildError::MalformedKey {
                    key: name.to_owned(),
                });
            }
            let family = entry.key.family();
            let fitting: Vec<Algorithm> = algorithms
                .iter()
                .copied()
                .filter(|alg| alg.family() == family)
                .filter(|alg| entry.algorithm.is_none_or(|only| only == *alg))
                .collect();
            if fitting.is_empty() {
                if entry.from_key_set {
                    tracing::debug!(
                        kid = name,
                        "a key of the key set fits none of the allowed algorithms; left out"
                    );
                    return Ok(None);
                }
                return Err(BuildError::KeyAlgorithmMismatch {
                    key: name.to_owned(),
                });
            }
            Ok(Some(VerifyingKey {
                key: entry.key,
                validation: validation(fitting),
            }))
        };
        let default = match keys.default {
            Some(entry) => make(entry, "default")?,
            None => None,
        };
        let mut by_kid = Vec::with_capacity(keys.by_kid.len());
        for (kid, entry) in keys.by_kid {
            if let Some(verifying) = make(entry, &kid)? {
                by_kid.push((kid, verifying));
            }
        }
        let mut anonymous = Vec::with_capacity(keys.anonymous.len());
        for entry in keys.anonymous {
            anonymous.extend(make(entry, "(without kid)")?);
        }
        Ok(CompiledKeys {
            generation,
            default,
            by_kid,
            anonymous,
        })
    }

    pub(super) fn is_empty(&self) -> bool {
        self.default.is_none() && self.by_kid.is_empty() && self.anonymous.is_empty()
    }

    /// The keys for a token whose header says `kid`: `header_kid` reads it, only when the
    /// keys are selected by `kid` at all.
    pub(super) fn select<E>(
        &self,
        header_kid: impl FnOnce() -> Result<Option<String>, E>,
    ) -> Result<Selected<'_>, E> {
        if self.by_kid.is_empty() {
            return Ok(match &self.default {
                Some(key) => Selected::One(key),
                None if !self.anonymous.is_empty() => Selected::Each(&self.anonymous),
                // No key fits (only a fetched set can be so): a token naming a kid names one
                // the set may bring, and is an unknown kid, refetched for.
                None => match header_kid()? {
                    Some(_) => Selected::UnknownKid,
                    None => Selected::NoKid,
                },
            });
        }
        Ok(match header_kid()? {
            Some(kid) => self
                .by_kid
                .iter()
                .find(|(k, _)| *k == kid)
                .map_or(Selected::UnknownKid, |(_, key)| Selected::One(key)),
            None => self.default.as_ref().map_or(Selected::NoKid, Selected::One),
        })
    }
}
