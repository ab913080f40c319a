//! The layer's cost per request, in process (`tower::ServiceExt::oneshot`), against a
//! JWT-verification-only baseline layer built with the same jsonwebtoken settings.
//!
//! ```text
//! cargo bench -p jwt-revoke-tower --bench layer
//! ```
//!
//! Contenders, for HS256 and RS256 (a key pair generated per run):
//! - `jwt only`: `jsonwebtoken::decode` with the layer's settings, then the inner service —
//!   what a service without revocation pays;
//! - `layer + memory`: `RevocationLayer` over a `MemoryStore` holding 10,000 revocations of
//!   other tokens (the token checked is not revoked: the usual case);
//! - `layer + memory + cache` (RS256): the same with the verified-token cache.
//!
//! Divide a contender's time by `jwt only`'s of the same algorithm, from the same run.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use jwt_revoke_core::{
    Clock, Policy, RevocationStore, Revocations, SystemClock, TokenId, TokenKeys, UserId,
};
use jwt_revoke_memory::MemoryStore;
use jwt_revoke_tower::{DecodingKeys, RevocationLayer};
use serde_json::json;
use tower::{Layer, Service, ServiceExt, service_fn};

const ISSUER: &str = "https://bench.test";

type Body = String;

fn inner()
-> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send> + Clone
{
    service_fn(|_: Request<Body>| async { Ok::<_, Infallible>(Response::new(String::new())) })
}

struct Keys {
    alg: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

fn keys(alg: Algorithm) -> Keys {
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

fn token(keys: &Keys) -> String {
    let now = SystemClock.now().as_secs_floor();
    let claims = json!({ "iss": ISSUER, "sub": "alice", "jti": "bench-1", "sid": "s-1", "iat": now, "exp": now + 3600 });
    jsonwebtoken::encode(&Header::new(keys.alg), &claims, &keys.encoding).expect("signs")
}

fn request(token: &str) -> Request<Body> {
    Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(String::new())
        .expect("request")
}

fn revocations() -> Revocations {
    let store = Arc::new(MemoryStore::new());
    let until = SystemClock.now().saturating_add(Duration::from_secs(3600));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for n in 0..10_000 {
            let keys = TokenKeys::new(
                TokenId::from_jti(ISSUER, format!("revoked-{n}")).denylist_key(),
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

/// The baseline: verification only, with the settings the layer gives jsonwebtoken.
fn jwt_only(
    keys: &Keys,
) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send> + Clone
{
    let mut validation = Validation::new(keys.alg);
    validation.set_issuer(&[ISSUER]);
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp"]);
    let key = keys.decoding.clone();
    let inner = inner();
    service_fn(move |request: Request<Body>| {
        let verified = request
            .headers()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(|token| {
                jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation).is_ok()
            })
            .unwrap_or(false);
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

fn layered(keys: &Keys, cache: bool) -> RevocationLayer {
    let mut builder = RevocationLayer::builder(revocations())
        .verify(DecodingKeys::new(keys.decoding.clone()), &[keys.alg])
        .issuers([ISSUER]);
    if cache {
        builder = builder.cache_verified_tokens(10_000);
    }
    builder.build().expect("builds")
}

fn bench<S>(c: &mut Criterion, name: &str, service: S, token: &str)
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    // Make sure the contender accepts the token before timing it.
    let response = runtime
        .block_on(service.clone().oneshot(request(token)))
        .expect("infallible");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{name} refused the token"
    );
    c.bench_function(name, |b| {
        b.iter(|| runtime.block_on(service.clone().oneshot(request(token))));
    });
}

fn layer_overhead(c: &mut Criterion) {
    for alg in [Algorithm::HS256, Algorithm::RS256] {
        let keys = keys(alg);
        let token = token(&keys);
        bench(c, &format!("{alg:?}/jwt only"), jwt_only(&keys), &token);
        bench(
            c,
            &format!("{alg:?}/layer + memory"),
            layered(&keys, false).layer(inner()),
            &token,
        );
        if alg != Algorithm::HS256 {
            bench(
                c,
                &format!("{alg:?}/layer + memory + cache"),
                layered(&keys, true).layer(inner()),
                &token,
            );
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = layer_overhead
}
criterion_main!(benches);
