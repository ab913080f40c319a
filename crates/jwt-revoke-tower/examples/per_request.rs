//! Sends N requests through one contender of the `layer` bench, for counting instructions
//! with callgrind, which (unlike a timer) gives the same count on every run, whatever else the
//! machine is doing:
//!
//! ```text
//! cargo build --release -p jwt-revoke-tower --example per_request
//! for c in jwt layer; do for n in 0 10000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/per_request $c $n 2>&1 | grep Collected
//! done; done
//! ```
//!
//! (count at 10,000 − count at 0) / 10,000 is the contender's instructions per request. A
//! third argument sends that many distinct tokens in turn (one by default): with more than
//! the claims memo holds, every request misses it.
//! Contenders: `jwt` (the baseline), `layer` (layer + memory), `layer-no-memo` (the layer
//! with its claims memo off), `layer-two-issuers` (the layer of two issuers, the token's
//! `iss` choosing the keys), `layer-prometheus` (`layer` with the Prometheus recorder installed:
//! what the metrics cost), all HS256. Valgrind runs SHA-256 in software, where the
//! machine may have SHA extensions: this counts work, it does not time it.

use std::convert::Infallible;

use http::{Request, Response, StatusCode};
use jsonwebtoken::Algorithm;
use tower::{Layer, Service, ServiceExt};

#[path = "../benches/contenders/mod.rs"]
mod contenders;
use contenders::*;

fn run<S>(service: S, tokens: &[String], n: usize)
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    for token in tokens.iter().cycle().take(n) {
        let response = runtime
            .block_on(service.clone().oneshot(request(token)))
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: per_request jwt|layer|layer-no-memo|layer-two-issuers|layer-prometheus <requests> [<distinct tokens>]";
    let contender = args.next().expect(usage);
    let n: usize = args.next().and_then(|n| n.parse().ok()).expect(usage);
    let distinct: u64 = args.next().map_or(1, |d| d.parse().expect(usage));
    let keys = keys(Algorithm::HS256);
    let tokens: Vec<String> = (1..=distinct.max(1))
        .map(|n| numbered_token(&keys, n))
        .collect();
    match contender.as_str() {
        "jwt" => run(jwt_only(&keys), &tokens, n),
        "layer" => run(layered(&keys, false).layer(inner()), &tokens, n),
        "layer-no-memo" => run(layered_without_memo(&keys).layer(inner()), &tokens, n),
        "layer-two-issuers" => run(layered_two_issuers(&keys).layer(inner()), &tokens, n),
        "layer-prometheus" => {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .expect("the only recorder");
            run(layered(&keys, false).layer(inner()), &tokens, n)
        }
        _ => panic!("{usage}"),
    }
}
