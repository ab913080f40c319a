//! The layer's cost per request, in process (`tower::ServiceExt::oneshot`), against a
//! JWT-verification-only baseline layer built with the same jsonwebtoken settings.
//!
//! ```text
//! cargo bench -p jwt-revoke-tower --bench layer
//! ```
//!
//! Contenders, for HS256 and RS256 (a key pair generated per run):
//! - `jwt only`: `jsonwebtoken::decode` with the layer's settings into a claims struct, put
//!   into the request's extensions, then the inner service —
//!   what a service without revocation pays;
//! - `layer + memory`: `RevocationLayer` over a `MemoryStore` holding 10,000 revocations of
//!   other tokens (the token checked is not revoked: the usual case);
//! - `layer + memory, claims memo off` (HS256): the same without the claims memo, which is on
//!   by default (it skips parsing and hashing for a payload seen before);
//! - `layer + memory + cache` (RS256): the same with the verified-token cache.
//!
//! Divide a contender's time by `jwt only`'s of the same algorithm, from the same run.

use std::convert::Infallible;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response, StatusCode};
use jsonwebtoken::Algorithm;
use tower::{Layer, Service, ServiceExt};

mod contenders;
use contenders::*;

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
        if alg == Algorithm::HS256 {
            bench(
                c,
                &format!("{alg:?}/layer + memory, claims memo off"),
                layered_without_memo(&keys).layer(inner()),
                &token,
            );
        }
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
