//! The Security Event Token receiver (RFC 8417 / RFC 8935; CAEP `session-revoked`,
//! `credential-change`): its body (a SET signed with the trusted key from fuzzed claims and
//! events, with whitespace around it, or any bytes), content type and method.
//!
//! Properties: no panic; the answer is 202, 400, 405 or 413, always `Cache-Control:
//! no-store`, a 400 with `err` and `description`; a 202 only for a SET the reference verifies
//! (signature, issuer, audience, `iat`, a `jti`, an `events` claim); a replay is refused;
//! after a 202 for the usual `session-revoked` event, an access token of that session is
//! refused by the layer.
#![no_main]

use arbitrary::Arbitrary;
use jwt_revoke_fuzz::{
    ContentType, EventsClaim, Gap, Harness, LayerConfig, NOW_SECS, PayloadSpec, TokenSpec,
    access_token, check_answer, event_trust, layer_accepts, post, receiver_request,
    reference_event_claims,
};
use jwt_revoke_tower::events::{SESSION_REVOKED, SecurityEventReceiver};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

#[derive(Arbitrary, Debug)]
enum Body {
    Token {
        token: TokenSpec,
        before: Gap,
        after: Gap,
    },
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    body: Body,
    content_type: ContentType,
    method: Option<String>,
    headers: Vec<(String, Vec<u8>)>,
}

fn gap(gap: Gap) -> String {
    match gap {
        Gap::None => String::new(),
        Gap::Space => " ".into(),
        Gap::Tab => "\t".into(),
        Gap::Spaces(n) => "\n".repeat(usize::from(n % 4)),
    }
}

fuzz_target!(|input: Input| {
    let mut harness = Harness::new(LayerConfig {
        verified_cache: false,
        no_claims_memo: false,
    });
    let receiver = SecurityEventReceiver::builder(harness.revocations.clone(), event_trust())
        .revoke_for_issuer(jwt_revoke_fuzz::ISSUER)
        .build()
        .expect("a valid receiver");
    let usual_events =
        format!(r#"{{"{SESSION_REVOKED}":{{"subject":{{"format":"opaque","id":"s-1"}}}}}}"#);
    let (body, usual) = match &input.body {
        Body::Token {
            token,
            before,
            after,
        } => {
            let usual = matches!(&token.payload, PayloadSpec::Claims(claims)
                if matches!(claims.events, EventsClaim::Usual));
            let token = token.sign_with(NOW_SECS, Some(&usual_events)).token;
            (
                format!("{}{token}{}", gap(*before), gap(*after)).into_bytes(),
                usual,
            )
        }
        Body::Raw(raw) => (raw.clone(), false),
    };
    let make = || {
        receiver_request(
            input.method.as_deref(),
            &input.content_type,
            "application/secevent+jwt",
            &input.headers,
            body.clone(),
        )
    };
    let (status, headers, json) = post(receiver.clone(), make());
    check_answer(status, &headers, &[202, 400, 405, 413]);
    if status == 400 {
        assert!(json["err"].is_string() && json["description"].is_string());
    }
    if status != 202 {
        return;
    }
    let text = std::str::from_utf8(&body).expect("a 202 for a body that is not text");
    let claims = reference_event_claims(text.trim())
        .unwrap_or_else(|| panic!("a 202 for a SET the reference refuses: {text:?}"));
    assert!(
        claims.get("events").is_some_and(|e| !e.is_null()),
        "a 202 without events"
    );
    assert!(
        claims
            .get("jti")
            .and_then(Value::as_str)
            .is_some_and(|j| !j.is_empty()),
        "a 202 without jti"
    );
    let (again, headers, _) = post(receiver, make());
    check_answer(again, &headers, &[400]);
    if usual {
        let token = access_token("anyone", Some("s-1"), NOW_SECS - 10);
        assert!(
            !layer_accepts(&mut harness, &token),
            "a token of a revoked session is accepted"
        );
    }
});
