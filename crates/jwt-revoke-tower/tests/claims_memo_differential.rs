//! Generated tokens around a payload the claims memo holds: a layer that found the payload in
//! its memo (and so checked only the token's header and signature) must answer exactly as the
//! same layer without a memo, which verifies everything. The tests of `claims_memo.rs` name
//! the attacks one by one; this one tries their combinations.

mod support;

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use jwt_revoke_tower::jsonwebtoken::Algorithm;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use support::*;

/// How a generated token is put together.
#[derive(Debug, Clone)]
struct Shape {
    alg: &'static str,
    /// The algorithm that signs it (not always the one the header names).
    signed_as: Option<Algorithm>,
    secret: &'static [u8],
    typ: Option<&'static str>,
    kid: Option<&'static str>,
    crit: bool,
    /// JSON whitespace or other bytes around the payload's JSON text.
    before: &'static [u8],
    after: &'static [u8],
    /// base64url with padding instead of without.
    padded: bool,
    signature: SignatureShape,
}

#[derive(Debug, Clone, Copy)]
enum SignatureShape {
    Correct,
    Empty,
    Truncated,
    Flipped,
    Padded,
}

/// Each part is as the layer accepts it about three times in four, so that a fair share of
/// the generated tokens pass, and the fast path's acceptances are compared too, not only its
/// refusals.
fn shape() -> impl Strategy<Value = Shape> {
    (
        (
            prop_oneof![
                18 => Just("HS256"),
                1 => Just("HS384"),
                1 => Just("HS512"),
                1 => Just("RS256"),
                1 => Just("none"),
                1 => Just("hs256"),
                1 => Just(""),
            ],
            prop_oneof![
                9 => Just(Some(Algorithm::HS256)),
                1 => Just(Some(Algorithm::HS384)),
                1 => Just(Some(Algorithm::HS512)),
                1 => Just(None),
            ],
            prop_oneof![3 => Just(SECRET), 1 => Just(b"another secret".as_slice())],
            prop_oneof![
                2 => Just(None),
                2 => Just(Some("JWT")),
                2 => Just(Some("at+jwt")),
                1 => Just(Some("logout+jwt")),
                1 => Just(Some("application/secevent+jwt")),
            ],
            prop::sample::select(vec![None, Some("k1")]),
            prop::bool::weighted(0.2),
        ),
        (
            prop_oneof![
                6 => Just(b"".as_slice()),
                1 => Just(b" ".as_slice()),
                2 => Just(b"\r\n\t ".as_slice()),
                1 => Just(b"\x0c".as_slice()),
                1 => Just(b"\xef\xbb\xbf".as_slice()),
                1 => Just(b"\0".as_slice()),
            ],
            prop_oneof![
                6 => Just(b"".as_slice()),
                2 => Just(b" ".as_slice()),
                1 => Just(b"\n".as_slice()),
                1 => Just(b"\x0c".as_slice()),
                1 => Just(b"x".as_slice()),
                1 => Just(b"}".as_slice()),
            ],
            prop::bool::weighted(0.2),
            prop_oneof![
                12 => Just(SignatureShape::Correct),
                1 => Just(SignatureShape::Empty),
                1 => Just(SignatureShape::Truncated),
                1 => Just(SignatureShape::Flipped),
                1 => Just(SignatureShape::Padded),
            ],
        ),
    )
        .prop_map(
            |((alg, signed_as, secret, typ, kid, crit), (before, after, padded, signature))| {
                Shape {
                    alg,
                    signed_as,
                    secret,
                    typ,
                    kid,
                    crit,
                    before,
                    after,
                    padded,
                    signature,
                }
            },
        )
}

/// The claims of the token the layers have seen.
fn seen_claims() -> Value {
    claims("alice", "t1")
}

fn build(shape: &Shape) -> String {
    let mut header = Map::new();
    if !shape.alg.is_empty() {
        header.insert("alg".into(), json!(shape.alg));
    }
    if let Some(typ) = shape.typ {
        header.insert("typ".into(), json!(typ));
    }
    if let Some(kid) = shape.kid {
        header.insert("kid".into(), json!(kid));
    }
    if shape.crit {
        header.insert("crit".into(), json!(["exp"]));
    }
    let payload = [
        shape.before,
        seen_claims().to_string().as_bytes(),
        shape.after,
    ]
    .concat();
    let encode = |bytes: &[u8]| {
        if shape.padded {
            URL_SAFE.encode(bytes)
        } else {
            URL_SAFE_NO_PAD.encode(bytes)
        }
    };
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(Value::Object(header).to_string()),
        encode(&payload)
    );
    let signature = match shape.signed_as {
        Some(alg) => hmac_signed(&message, alg, shape.secret)
            .rsplit_once('.')
            .expect("a signed token")
            .1
            .to_owned(),
        None => String::new(),
    };
    let signature = match shape.signature {
        SignatureShape::Correct => signature,
        SignatureShape::Empty => String::new(),
        SignatureShape::Truncated => signature[..signature.len() / 2].to_owned(),
        SignatureShape::Flipped => {
            let mut bytes = signature.into_bytes();
            if let Some(first) = bytes.first_mut() {
                *first = if *first == b'A' { b'B' } else { b'A' };
            }
            String::from_utf8(bytes).expect("ascii")
        }
        SignatureShape::Padded => format!("{signature}="),
    };
    format!("{message}.{signature}")
}

/// Sends the token `shape` builds to a layer that has seen the payload and to one without a
/// memo; fails unless both answer the same. Returns whether the token was accepted.
async fn same_answer(shape: Shape) -> Result<bool, TestCaseError> {
    let clock = clock();
    let memo_layer = hs256_builder(memory_revocations(&clock))
        .claims_memo(1 << 20)
        .build()
        .expect("builds");
    let memo = app(memo_layer.clone());
    let plain = app(hs256_builder(memory_revocations(&clock))
        .claims_memo(0)
        .build()
        .expect("builds"));
    prop_assert_eq!(
        client_answer(&memo, &sign(&seen_claims())).await.0,
        StatusCode::OK
    );
    let token = build(&shape);
    let with_memo = client_answer(&memo, &token).await;
    let without = client_answer(&plain, &token).await;
    prop_assert_eq!(&with_memo, &without, "token {}", token);
    let accepted = with_memo.0 == StatusCode::OK;
    // Every accepted token carries the seen claims: each must have been a memo hit, or the
    // fast path was not what was compared.
    prop_assert_eq!(
        memo_layer.stats().claims_memo_hits(),
        u64::from(accepted),
        "token {}",
        token
    );
    Ok(accepted)
}

#[test]
fn a_memoized_payload_is_answered_as_without_the_memo() {
    // 256 cases unless PROPTEST_CASES says otherwise; failures are shrunk and printed, not
    // written to a file.
    let config = ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let cases = config.cases;
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let accepted = std::cell::Cell::new(0u32);
    let outcome = runner.run(&shape(), |shape| {
        if runtime.block_on(same_answer(shape))? {
            accepted.set(accepted.get() + 1);
        }
        Ok(())
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
    // About one generated token in ten is valid (28 of 256 when written): both answers were
    // compared.
    assert!(
        accepted.get() >= cases / 50,
        "only {} of {cases} generated tokens were accepted",
        accepted.get()
    );
}
