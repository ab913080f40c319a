//! The contenders of the `layer` bench, shared with the `per_request` example (which counts
//! their instructions): the baseline and the layer, built the same way for both.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use jwt_revoke_core::{
    Clock, Policy, RevocationStore, Revocations, SystemClock, TokenId, TokenKeys, UserId,
};
use jwt_revoke_memory::MemoryStore;
use jwt_revoke_tower::{DecodingKeys, RevocationLayer, TrustedIssuer};
use serde_json::json;
use tower::{Service, ServiceExt, service_fn};

pub const ISSUER: &str = "https://bench.test";

pub type Body = String;

pub fn inner()
-> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send> + Clone
{
    service_fn(|_: Request<Body>| async { Ok::<_, Infallible>(Response::new(String::new())) })
}

pub struct Keys {
    pub alg: Algorithm,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
}

pub fn keys(alg: Algorithm) -> Keys {
    match alg {
        Algorithm::HS256 => Keys {
            alg,
            encoding: EncodingKey::from_secret(b"bench secret"),
            decoding: DecodingKey::from_secret(b"bench secret"),
        },
        _ => {
            let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("a key pair");
            Keys {
                alg,
                encoding: EncodingKey::from_rsa_pem(pair.serialize_pem().as_bytes())
                    .expect("pkcs8"),
                decoding: DecodingKey::from_rsa_pem(pair.public_key_pem().as_bytes())
                    .expect("spki"),
            }
        }
    }
}

pub fn token(keys: &Keys) -> String {
    numbered_token(keys, 1)
}

/// Token `n`: its own `jti` and session, one of a thousand users.
pub fn numbered_token(keys: &Keys, n: u64) -> String {
    let now = SystemClock.now().as_secs_floor();
    let claims = json!({
        "iss": ISSUER, "sub": format!("user-{}", n % 1_000), "jti": format!("bench-{n}"),
        "sid": format!("s-{n}"), "iat": now, "exp": now + 3600,
    });
    jsonwebtoken::encode(&Header::new(keys.alg), &claims, &keys.encoding).expect("signs")
}

pub fn request(token: &str) -> Request<Body> {
    Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(String::new())
        .expect("request")
}

pub fn revocations() -> Revocations {
    let store = Arc::new(MemoryStore::new());
    let until = SystemClock.now().saturating_add(Duration::from_secs(3600));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for n in 0..10_000 {
            let keys = TokenKeys::new(
                TokenId::from_jti(ISSUER, format!("user-{n}"), format!("revoked-{n}"))
                    .denylist_key(),
                UserId::new(ISSUER, format!("user-{n}")).key(),
                None,
            );
            store
                .insert_token(&keys, until)
                .await
                .expect("memory insert");
        }
    });
    Revocations::new(store, Policy::new(Duration::from_secs(3600)))
}

/// What a service without revocation decodes: the registered claims it uses, as a struct.
#[derive(Clone, serde::Deserialize)]
#[allow(dead_code)] // read by handlers in a real service; here only decoded and stored
pub struct BaselineClaims {
    iss: String,
    sub: String,
    exp: u64,
    iat: Option<u64>,
    jti: Option<String>,
    sid: Option<String>,
}

/// The baseline: verification only, with the settings the layer gives jsonwebtoken, the
/// claims decoded into a struct and put into the request's extensions for the handler (as
/// the layer does with its own).
pub fn jwt_only(
    keys: &Keys,
) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send> + Clone
{
    let mut validation = Validation::new(keys.alg);
    validation.set_issuer(&[ISSUER]);
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp"]);
    let key = keys.decoding.clone();
    let inner = inner();
    service_fn(move |mut request: Request<Body>| {
        let claims = request
            .headers()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .and_then(|token| {
                jsonwebtoken::decode::<BaselineClaims>(token, &key, &validation).ok()
            });
        let verified = claims.is_some();
        if let Some(claims) = claims {
            request.extensions_mut().insert(claims.claims);
        }
        let inner = inner.clone();
        async move {
            if verified {
                inner.oneshot(request).await
            } else {
                let mut response = Response::new(String::new());
                *response.status_mut() = StatusCode::UNAUTHORIZED;
                Ok(response)
            }
        }
    })
}

pub fn layered(keys: &Keys, cache: bool) -> RevocationLayer {
    let mut builder = RevocationLayer::verifying(
        revocations(),
        DecodingKeys::new(keys.decoding.clone()),
        &[keys.alg],
    )
    .issuers([ISSUER]);
    if cache {
        builder = builder.cache_verified_tokens(10_000);
    }
    builder.build().expect("builds")
}

pub fn layered_without_memo(keys: &Keys) -> RevocationLayer {
    RevocationLayer::verifying(
        revocations(),
        DecodingKeys::new(keys.decoding.clone()),
        &[keys.alg],
    )
    .issuers([ISSUER])
    .claims_memo(0)
    .build()
    .expect("builds")
}

/// The layer of two issuers (the bench's, and another with its own secret): what choosing the
/// issuer by the token's `iss` before verification costs.
pub fn layered_two_issuers(keys: &Keys) -> RevocationLayer {
    RevocationLayer::verifying_issuers(
        revocations(),
        [
            TrustedIssuer::new(
                "https://other.bench.test",
                DecodingKeys::new(DecodingKey::from_secret(b"the other issuer's secret")),
                &[Algorithm::HS256],
            ),
            TrustedIssuer::new(
                ISSUER,
                DecodingKeys::new(keys.decoding.clone()),
                &[keys.alg],
            ),
        ],
    )
    .build()
    .expect("builds")
}
