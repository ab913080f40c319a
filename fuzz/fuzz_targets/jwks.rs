//! JWKS documents: any bytes as a JSON Web Key Set, through `DecodingKeys::from_jwks`, a
//! layer built on the keys, and a token verified against each key.
//!
//! Properties: no panic (in parsing, in key import, at build, in verification); a token
//! whose signature is not the key's never reaches the inner service; a key set that names a
//! `kid` twice among its signature keys is refused.
#![no_main]

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use jwt_revoke_core::{Policy, Revocations};
use jwt_revoke_fuzz::{NOW_SECS, block_on};
use jwt_revoke_memory::MemoryStore;
use jwt_revoke_tower::jsonwebtoken::Algorithm;
use jwt_revoke_tower::jsonwebtoken::jwk::{JwkSet, KeyOperations, PublicKeyUse};
use jwt_revoke_tower::{DecodingKeys, JwksError, RevocationLayer};
use libfuzzer_sys::fuzz_target;
use tower::{ServiceExt as _, service_fn};

const ALGORITHMS: &[Algorithm] = &[
    Algorithm::HS256,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

fuzz_target!(|data: &[u8]| {
    let Ok(jwks) = serde_json::from_slice::<JwkSet>(data) else {
        return;
    };
    let keys = match DecodingKeys::from_jwks(&jwks) {
        Ok(keys) => keys,
        Err(JwksError::DuplicateKid { kid }) => {
            let named = jwks
                .keys
                .iter()
                .filter(|jwk| jwk.common.key_id.as_deref() == Some(kid.as_str()))
                .count();
            assert!(named >= 2, "a kid named once was called repeated: {kid:?}");
            return;
        }
        Err(_) => return,
    };
    // Every kid used for signatures once at most (else from_jwks should have refused).
    let mut kids = HashSet::new();
    for jwk in &jwks.keys {
        let common = &jwk.common;
        let for_signatures = matches!(common.public_key_use, None | Some(PublicKeyUse::Signature))
            && common
                .key_operations
                .as_ref()
                .is_none_or(|ops| ops.contains(&KeyOperations::Verify));
        let alg_ok = common
            .key_algorithm
            .is_none_or(|alg| alg.to_string().parse::<Algorithm>().is_ok());
        if let (true, true, Some(kid)) = (for_signatures, alg_ok, &common.key_id) {
            assert!(
                kids.insert(kid.clone()),
                "two signature keys with kid {kid:?} accepted"
            );
        }
    }
    let revocations = Revocations::new(
        Arc::new(MemoryStore::new()),
        Policy::new(Duration::from_secs(900)),
    );
    let Ok(layer) = RevocationLayer::verifying(revocations, keys, ALGORITHMS).build() else {
        return;
    };
    let inner = service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
    });
    let service = tower::Layer::layer(&layer, inner);
    let payload = URL_SAFE_NO_PAD.encode(format!(
        r#"{{"iss":"i","sub":"s","exp":{},"iat":{}}}"#,
        NOW_SECS + 300,
        NOW_SECS
    ));
    for jwk in jwks.keys.iter().take(4) {
        let Some(kid) = &jwk.common.key_id else {
            continue;
        };
        for alg in ALGORITHMS {
            let header = URL_SAFE_NO_PAD
                .encode(serde_json::json!({ "alg": format!("{alg:?}"), "kid": kid }).to_string());
            // A signature of the right size for nothing: never valid.
            let signature = URL_SAFE_NO_PAD.encode([7u8; 64]);
            let request = Request::builder()
                .header(
                    "authorization",
                    format!("Bearer {header}.{payload}.{signature}"),
                )
                .body(Full::new(Bytes::new()))
                .expect("a valid request");
            let response = block_on(service.clone().oneshot(request)).expect("infallible");
            assert!(
                !response.status().is_success(),
                "a token with a made-up signature was accepted with key {kid:?} and {alg:?}"
            );
        }
    }
});
