//! Claims parsing and `inspect`: a verified payload, any JSON text, under a fuzzed policy and
//! clock.
//!
//! Properties: no panic; `Claims::from_verified_json` holds the payload without the
//! whitespace around it and the registered claims serde reads from it; those claims survive
//! a serialize/parse round trip; when `inspect` accepts, `inspect_for_revocation` accepts too
//! with the same identity and store keys, the token is not expired at the clock, its
//! identity is by `jti` exactly when it has a non-empty one, and `revalidate` agrees at the
//! same instant; with claim cut-offs, the claim values read are exactly the strings and
//! integers a JSON reader sees under those names (a token with any other value is refused).
#![no_main]

use std::sync::Arc;
use std::time::Duration;

use arbitrary::Arbitrary;
use jwt_revoke_core::{
    IdentifiedBy, IdentityRule, ListMode, ManualClock, Policy, RegisteredClaims, Revocations,
    Timestamp, TokenId,
};
use jwt_revoke_fuzz::{ClaimsSpec, NOW_SECS};
use jwt_revoke_memory::MemoryStore;
use jwt_revoke_tower::Claims;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Payload {
    Claims(Box<ClaimsSpec>),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    clock_offset_micros: i32,
    max_lifetime_secs: u16,
    leeway_secs: u8,
    skew_secs: u8,
    require_jti: bool,
    allowlist: bool,
    without_exp_secs: Option<u16>,
    claim_cutoffs: bool,
    payload: Payload,
}

fuzz_target!(|input: Input| {
    let payload = match &input.payload {
        Payload::Claims(spec) => spec.json(NOW_SECS),
        Payload::Raw(raw) => raw.clone(),
    };
    if jwt_revoke_fuzz::trace() {
        eprintln!("payload: {payload:?}");
    }
    let Ok(claims) = Claims::from_verified_json(&payload) else {
        return;
    };
    let trimmed = payload.trim_matches([' ', '\t', '\n', '\r']);
    assert_eq!(claims.json(), trimmed, "the claims do not hold the payload");
    let parsed: RegisteredClaims =
        serde_json::from_str(&payload).expect("the claims parsed this payload");
    assert_eq!(claims.registered(), &parsed);
    let json = serde_json::to_string(&parsed).expect("claims serialize");
    let again: RegisteredClaims = serde_json::from_str(&json)
        .unwrap_or_else(|err| panic!("serialized claims do not parse ({err}): {json}"));
    assert_eq!(again, parsed, "claims change in a round trip: {json}");

    let clock = ManualClock::new(Timestamp::from_micros(
        NOW_SECS * 1_000_000 + i64::from(input.clock_offset_micros),
    ));
    let mut policy = Policy::new(Duration::from_secs(
        900 + u64::from(input.max_lifetime_secs),
    ))
    .with_leeway(Duration::from_secs(u64::from(input.leeway_secs)))
    .with_issued_at_skew(Duration::from_secs(u64::from(input.skew_secs)));
    if input.require_jti {
        policy = policy.with_identity(IdentityRule::RequireJti);
    }
    if input.allowlist {
        policy = policy.with_mode(ListMode::Allowlist);
    }
    if let Some(secs) = input.without_exp_secs {
        policy = policy.accept_tokens_without_exp(Duration::from_secs(u64::from(secs)));
    }
    if input.claim_cutoffs {
        policy = policy.with_claim_cutoffs(CLAIMS).expect("three claims fit");
    }
    let leeway = policy.leeway();
    let revocations =
        Revocations::new(Arc::new(MemoryStore::new()), policy).with_clock(Arc::new(clock.clone()));
    let registered = claims.registered();
    let for_revocation = revocations.inspect_for_revocation(registered, claims.json());
    let Ok(facts) = revocations.inspect(registered, claims.json()) else {
        return;
    };
    let revoking = for_revocation.expect("inspect accepts what inspect_for_revocation refuses");
    assert_eq!(facts.token(), revoking.token());
    assert_eq!(facts.keys(), revoking.keys());
    assert_eq!(facts.user(), revoking.user());
    assert_eq!(facts.session(), revoking.session());
    let now = jwt_revoke_core::Clock::now(&clock);
    assert!(
        facts.expires_at().saturating_add(leeway) > now,
        "an expired token was accepted"
    );
    let jti = registered.jti.as_deref().filter(|jti| !jti.is_empty());
    match (jti, facts.token().identified_by()) {
        (Some(jti), IdentifiedBy::Jti(id)) => assert_eq!(jti, id),
        (None, IdentifiedBy::PayloadDigest(_)) => {
            let iss = registered.iss.as_deref().expect("accepted without iss");
            let sub = registered.sub.as_deref().expect("accepted without sub");
            assert_eq!(facts.token(), &TokenId::from_payload(iss, sub, &payload));
        }
        (jti, identifier) => panic!("identified as {identifier:?} with jti {jti:?}"),
    }
    revocations
        .revalidate(&facts)
        .expect("revalidate refuses what inspect accepted at the same instant");
    assert_eq!(facts.keys().claims.len(), facts.claims().len());
    if input.claim_cutoffs {
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&payload).expect("an accepted payload is an object");
        for name in CLAIMS {
            let read = facts.claim(name).map(|claim| claim.value().to_owned());
            let expected = match object.get(name) {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(text)) => Some(text.clone()),
                Some(serde_json::Value::Number(n)) if n.is_i64() || n.is_u64() => {
                    Some(n.to_string())
                }
                Some(other) => panic!("a token whose {name} is {other} was accepted"),
            };
            assert_eq!(read, expected, "the {name} claim of {payload}");
        }
    } else {
        assert!(facts.claims().is_empty());
    }
});

const CLAIMS: [&str; 3] = ["azp", "tenant", "device"];
