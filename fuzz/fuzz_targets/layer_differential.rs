//! The layer end to end, against a reference verifier.
//!
//! A few requests, each around tokens signed with the layer's keys from fuzzed claims and
//! headers, placed in the request's token sources in fuzzed ways, with the clock moved
//! between them and the verified-token cache and claims memo on or off. Property: a request
//! reaches the inner service only if the reference (jsonwebtoken with the same key and
//! algorithms, strict issuer and audience, and the documented time, type and extraction
//! rules at the same clock) accepts it; the claims and identity it hands on are those of that
//! token (so a memo or cache entry never answers for another payload); a refusal is never a
//! 2xx over HTTP/1.x; nothing panics. A step may send the previous step's token again, or its
//! payload under this step's header, key and damage: the claims memo then finds the payload
//! before verification and checks only the new header and signature, which must refuse what
//! the reference refuses.
#![no_main]

use arbitrary::Arbitrary;
use jwt_revoke_fuzz::{
    Harness, LayerConfig, PayloadSpec, RequestSpec, Signed, TokenSpec, build_request,
    check_against_reference, copy_request,
};
use libfuzzer_sys::fuzz_target;

/// What a step takes from the previous step's main token.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Reuse {
    /// Nothing: a new token.
    Nothing,
    /// The whole token, sent again.
    Token,
    /// Its payload, verbatim, under this step's header, key and damage.
    Payload,
}

#[derive(Arbitrary, Debug)]
struct Step {
    /// Seconds the clock moves before this request.
    advance_secs: u16,
    reuse: Reuse,
    token: TokenSpec,
    other: Option<TokenSpec>,
    request: RequestSpec,
}

#[derive(Arbitrary, Debug)]
struct Input {
    config: LayerConfig,
    first: Step,
    more: Vec<Step>,
}

fuzz_target!(|input: Input| {
    let mut harness = Harness::new(input.config);
    let mut previous: Option<Signed> = None;
    for step in std::iter::once(&input.first).chain(input.more.iter().take(4)) {
        harness
            .clock
            .advance(std::time::Duration::from_secs(u64::from(
                step.advance_secs % 1200,
            )));
        let now_secs = harness.now_micros().div_euclid(1_000_000) as i64;
        let main = match (&previous, step.reuse) {
            (Some(previous), Reuse::Token) => previous.clone(),
            (Some(previous), Reuse::Payload) => TokenSpec {
                payload: PayloadSpec::Raw(previous.payload.clone()),
                ..step.token.clone()
            }
            .sign(now_secs),
            _ => step.token.sign(now_secs),
        };
        let other = step
            .other
            .as_ref()
            .map_or_else(|| main.token.clone(), |other| other.sign(now_secs).token);
        let request = build_request(&step.request, &main.token, &other);
        let copy = copy_request(&request);
        let now = harness.now_micros();
        let (response, seen) = harness.send(request);
        check_against_reference(&copy, now, &response, &seen);
        previous = Some(main);
    }
});
