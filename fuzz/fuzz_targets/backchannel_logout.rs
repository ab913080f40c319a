//! The OpenID Connect back-channel logout receiver: its form body (`logout_token=<JWT>`, the
//! JWT signed with the trusted key from fuzzed claims, or any bytes), content type and
//! method.
//!
//! Properties: no panic; the answer is 200, 400, 405 or 413 (the memory store never fails),
//! always `Cache-Control: no-store`, a 400 with `error` and `error_description`; a 200 only
//! for a logout token the reference verifies (signature, issuer, audience, `iat`, a `jti`,
//! the back-channel member of `events` an object, no `nonce`, a `sub` or a `sid`); the same
//! delivery again is refused (a replay); after a 200, an access token of the session (or of
//! the user, issued before the logout token) is refused by the layer.
#![no_main]

use arbitrary::Arbitrary;
use jwt_revoke_fuzz::{
    ContentType, Harness, LayerConfig, NOW_SECS, TokenSpec, access_token, check_answer,
    event_trust, form, layer_accepts, post, receiver_request, reference_event_claims,
};
use jwt_revoke_tower::events::{BACKCHANNEL_LOGOUT_EVENT, BackchannelLogout};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

#[derive(Arbitrary, Debug)]
enum Body {
    Form {
        token: TokenSpec,
        before: Vec<(String, String)>,
        after: Vec<(String, String)>,
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

fuzz_target!(|input: Input| {
    let mut harness = Harness::new(LayerConfig {
        verified_cache: false,
        no_claims_memo: false,
    });
    let receiver = BackchannelLogout::builder(harness.revocations.clone(), event_trust())
        .build()
        .expect("a valid receiver");
    let usual_events = format!(r#"{{"{BACKCHANNEL_LOGOUT_EVENT}":{{}}}}"#);
    let (body, token) = match &input.body {
        Body::Form {
            token,
            before,
            after,
        } => {
            let token = token.sign_with(NOW_SECS, Some(&usual_events)).token;
            let mut fields: Vec<(String, String)> = before.iter().take(3).cloned().collect();
            fields.push(("logout_token".into(), token.clone()));
            fields.extend(after.iter().take(3).cloned());
            (form(&fields).into_bytes(), Some(token))
        }
        Body::Raw(raw) => (raw.clone(), None),
    };
    let make = || {
        receiver_request(
            input.method.as_deref(),
            &input.content_type,
            "application/x-www-form-urlencoded",
            &input.headers,
            body.clone(),
        )
    };
    let (status, headers, json) = post(receiver.clone(), make());
    check_answer(status, &headers, &[200, 400, 405, 413]);
    if status == 400 {
        assert!(json["error"].is_string() && json["error_description"].is_string());
    }
    if status != 200 {
        return;
    }
    // The token the receiver read: the form's one `logout_token`.
    let mut values = form_urlencoded::parse(&body)
        .filter(|(name, _)| name == "logout_token")
        .map(|(_, value)| value.into_owned());
    let read = values.next().expect("a 200 without logout_token");
    assert!(values.next().is_none(), "a 200 with two logout tokens");
    if let Some(token) = &token {
        // A field before it could be named logout_token too; then the 200 is for that one.
        let _ = token;
    }
    let claims = reference_event_claims(&read)
        .unwrap_or_else(|| panic!("a 200 for a logout token the reference refuses: {read:?}"));
    assert!(
        claims
            .get("events")
            .and_then(|events| events.get(BACKCHANNEL_LOGOUT_EVENT))
            .is_some_and(Value::is_object),
        "a 200 without the back-channel logout event"
    );
    assert!(
        claims.get("nonce").is_none(),
        "a 200 for a token with a nonce"
    );
    assert!(
        claims
            .get("jti")
            .and_then(Value::as_str)
            .is_some_and(|j| !j.is_empty()),
        "a 200 without jti"
    );
    let sid = claims.get("sid").and_then(Value::as_str);
    let sub = claims.get("sub").and_then(Value::as_str);
    assert!(
        sid.is_some() || sub.is_some(),
        "a 200 with neither sub nor sid"
    );

    let (again, headers, _) = post(receiver, make());
    check_answer(again, &headers, &[400]);

    let iat = claims.get("iat").and_then(Value::as_i64);
    match (sid, sub, iat) {
        (Some(sid), _, _) => {
            let token = access_token("anyone", Some(sid), NOW_SECS - 10);
            assert!(
                !layer_accepts(&mut harness, &token),
                "a token of a logged-out session is accepted"
            );
        }
        (None, Some(sub), Some(iat)) if iat > NOW_SECS - 600 => {
            let token = access_token(sub, None, iat.min(NOW_SECS) - 1);
            assert!(
                !layer_accepts(&mut harness, &token),
                "a token of a logged-out user issued before the logout is accepted"
            );
        }
        _ => {}
    }
});
