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
//! (count at 10,000 − count at 0) / 10,000 is the contender's instructions per request.
//! Contenders: `jwt` (the baseline), `layer` (layer + memory), `layer-no-memo` (the layer
//! with its claims memo off), all HS256. Valgrind runs SHA-256 in software, where the
//! machine may have SHA extensions: this counts work, it does not time it.

use std::convert::Infallible;

use http::{Request, Response, StatusCode};
use jsonwebtoken::Algorithm;
use tower::{Layer, Service, ServiceExt};

#[path = "../benches/contenders/mod.rs"]
mod contenders;
use contenders::*;

fn run<S>(service: S, token: &str, n: usize)
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    for _ in 0..n {
        let response = runtime
            .block_on(service.clone().oneshot(request(token)))
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: per_request jwt|layer|layer-no-memo <requests>";
    let contender = args.next().expect(usage);
    let n: usize = args.next().and_then(|n| n.parse().ok()).expect(usage);
    let keys = keys(Algorithm::HS256);
    let token = token(&keys);
    match contender.as_str() {
        "jwt" => run(jwt_only(&keys), &token, n),
        "layer" => run(layered(&keys, false).layer(inner()), &token, n),
        "layer-no-memo" => run(layered_without_memo(&keys).layer(inner()), &token, n),
        _ => panic!("{usage}"),
    }
}
