//! A token from the command line or standard input, read without trusting it, and checked
//! against a key first when asked.

use std::io::Read as _;
use std::path::Path;

use jwt_revoke::jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
use jwt_revoke::jsonwebtoken::{self, Algorithm, AlgorithmFamily, DecodingKey, Validation};
use jwt_revoke::ops::{MAX_TOKEN_BYTES, UnverifiedToken};

use crate::cli::TokenInput;
use crate::output::{Failure, never_print};

/// The largest key file read.
const MAX_KEY_BYTES: u64 = 1 << 20;

/// Reads the token (`-`: standard input), checks it with `--verify-with` when given, and
/// reads its claims. The token is never printed: it is registered as a secret at once.
pub(crate) fn read(input: &TokenInput) -> Result<UnverifiedToken, Failure> {
    let text = if input.token == "-" {
        let mut text = String::new();
        std::io::stdin()
            .lock()
            .take(MAX_TOKEN_BYTES as u64 + 1)
            .read_to_string(&mut text)
            .map_err(|err| Failure::usage(format!("cannot read the token from stdin: {err}")))?;
        text
    } else {
        input.token.clone()
    };
    let text = text.trim();
    never_print(text);
    if let Some(signature) = text.rsplit('.').next() {
        never_print(signature);
    }
    if let Some(path) = &input.verify_with {
        verify(text, path, input.algorithm.as_deref())?;
    }
    UnverifiedToken::read(text).map_err(|err| Failure::usage(format!("the token: {err}")))
}

/// Checks the token's signature with the key in `path`.
fn verify(token: &str, path: &Path, algorithm: Option<&str>) -> Result<(), Failure> {
    let shown = path.display();
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_KEY_BYTES).read_to_end(&mut bytes))
        .map_err(|err| Failure::usage(format!("--verify-with: cannot read {shown}: {err}")))?;
    let pinned = algorithm
        .map(|name| {
            name.parse::<Algorithm>().map_err(|_| {
                Failure::usage(format!(
                    "--algorithm: {name:?} is not a signature algorithm (RS256, ES256, EdDSA, \
                     HS256, …; `none` is never accepted)"
                ))
            })
        })
        .transpose()?;
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| Failure::usage("the token: its header cannot be read"))?;
    let (key, family, key_alg) = key_of(&bytes, header.kid.as_deref(), &shown.to_string())?;
    let mut algorithms: Vec<Algorithm> = match key_alg {
        Some(alg) => vec![alg],
        None => family.algorithms().to_vec(),
    };
    if let Some(pinned) = pinned {
        if !algorithms.contains(&pinned) {
            return Err(Failure::usage(format!(
                "--algorithm {pinned:?} is not one the key in {shown} verifies"
            )));
        }
        algorithms = vec![pinned];
    }
    let mut validation = Validation::new(algorithms[0]);
    validation.algorithms = algorithms;
    // The signature only: its times are judged by the policy, its audience is not ours.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
        .map(|_| ())
        .map_err(|err| {
            Failure::usage(format!(
                "the token does not verify with the key in {shown}: {}",
                verify_problem(&err)
            ))
        })
}

/// What went wrong, in words that hold nothing of the token.
fn verify_problem(err: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind;
    match err.kind() {
        ErrorKind::InvalidSignature => "the signature is wrong",
        ErrorKind::InvalidAlgorithm => "its alg is not one this key verifies",
        ErrorKind::InvalidAlgorithmName => "its alg is unknown",
        ErrorKind::InvalidKeyFormat | ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidRsaKey(_) => {
            "the key cannot be used"
        }
        ErrorKind::InvalidToken
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => "it is malformed",
        _ => "it is refused",
    }
}

/// The key in a file: a PEM public key, a JWKS (the key named by the token's `kid`, or its
/// only key), or an HMAC secret; with its family and, for a JWK stating one, its algorithm.
fn key_of(
    bytes: &[u8],
    kid: Option<&str>,
    shown: &str,
) -> Result<(DecodingKey, AlgorithmFamily, Option<Algorithm>), Failure> {
    let text = String::from_utf8_lossy(bytes);
    if text.contains("-----BEGIN") {
        if text
            .lines()
            .any(|line| line.starts_with("-----BEGIN") && line.contains("PRIVATE KEY"))
        {
            return Err(Failure::usage(format!(
                "--verify-with: {shown} holds a private key: give the public key \
                 (`openssl pkey -pubout` derives it)"
            )));
        }
        return DecodingKey::from_rsa_pem(bytes)
            .map(|key| (key, AlgorithmFamily::Rsa, None))
            .or_else(|_| {
                DecodingKey::from_ec_pem(bytes).map(|key| (key, AlgorithmFamily::Ec, None))
            })
            .or_else(|_| {
                DecodingKey::from_ed_pem(bytes).map(|key| (key, AlgorithmFamily::Ed, None))
            })
            .map_err(|_| {
                Failure::usage(format!(
                    "--verify-with: {shown} holds no RSA, EC or Ed25519 public key in PEM"
                ))
            });
    }
    if text.trim_start().starts_with('{') {
        let jwk = jwk_of(&text, kid, shown)?;
        let family = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => AlgorithmFamily::Rsa,
            AlgorithmParameters::EllipticCurve(_) => AlgorithmFamily::Ec,
            AlgorithmParameters::OctetKeyPair(_) => AlgorithmFamily::Ed,
            AlgorithmParameters::OctetKey(_) => AlgorithmFamily::Hmac,
            _ => {
                return Err(Failure::usage(format!(
                    "--verify-with: the key in {shown} is of a type jwt-revoke does not verify with"
                )));
            }
        };
        let alg = jwk
            .common
            .key_algorithm
            .and_then(|alg| alg.to_string().parse::<Algorithm>().ok());
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| {
            Failure::usage(format!("--verify-with: the key in {shown} cannot be used"))
        })?;
        return Ok((key, family, alg));
    }
    // An HMAC secret: the file's bytes, one trailing newline trimmed.
    let mut secret = bytes.to_vec();
    if secret.last() == Some(&b'\n') {
        secret.pop();
        if secret.last() == Some(&b'\r') {
            secret.pop();
        }
    }
    if secret.is_empty() {
        return Err(Failure::usage(format!("--verify-with: {shown} is empty")));
    }
    Ok((
        DecodingKey::from_secret(&secret),
        AlgorithmFamily::Hmac,
        None,
    ))
}

/// The JWK to verify with: from a key set, the one whose `kid` the token names (or the only
/// one); or a lone JWK.
fn jwk_of(text: &str, kid: Option<&str>, shown: &str) -> Result<Jwk, Failure> {
    let unreadable = || {
        Failure::usage(format!(
            "--verify-with: {shown} is neither a JWKS nor a JWK"
        ))
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| unreadable())?;
    if value.get("keys").is_none() {
        return serde_json::from_value(value).map_err(|_| unreadable());
    }
    let set: JwkSet = serde_json::from_value(value).map_err(|_| unreadable())?;
    match kid {
        Some(kid) => set.find(kid).cloned().ok_or_else(|| {
            Failure::usage(format!(
                "--verify-with: no key of {shown} has the token's kid"
            ))
        }),
        None if set.keys.len() == 1 => Ok(set.keys[0].clone()),
        None => Err(Failure::usage(format!(
            "--verify-with: the token names no kid, and {shown} holds {} keys",
            set.keys.len()
        ))),
    }
}
