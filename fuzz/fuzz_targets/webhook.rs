//! The FusionAuth webhook receiver: its JSON body (a `jwt.refresh-token.revoke` event with
//! fuzzed fields, or any bytes), the secret header, content type and method.
//!
//! Properties: no panic; the answer is 200, 400, 401, 405 or 413, always `Cache-Control:
//! no-store`; without the exact secret, never a 200; after a 200 for a revoke event with a
//! `userId` and no `createInstant` before now, an access token of that user issued before
//! it is refused by the layer.
#![no_main]

use arbitrary::Arbitrary;
use http::HeaderName;
use jwt_revoke_fuzz::{
    ContentType, Harness, ISSUER, LayerConfig, NOW_SECS, access_token, check_answer, layer_accepts,
    post, receiver_request,
};
use jwt_revoke_tower::events::{FusionAuthWebhook, REFRESH_TOKEN_REVOKE};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

const SECRET: &str = "a webhook secret of some length";

#[derive(Arbitrary, Debug)]
enum Kind {
    Revoke,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Body {
    Event {
        kind: Kind,
        user_id: Option<String>,
        ttls: Vec<(String, u64)>,
        create_instant: Option<i64>,
        extra: Vec<(String, String)>,
    },
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Secret {
    Right,
    Absent,
    Twice,
    Other(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    body: Body,
    secret: Secret,
    content_type: ContentType,
    method: Option<String>,
}

fuzz_target!(|input: Input| {
    let mut harness = Harness::new(LayerConfig {
        verified_cache: false,
        no_claims_memo: false,
    });
    let header = HeaderName::from_static("x-webhook-secret");
    let webhook =
        FusionAuthWebhook::builder(harness.revocations.clone(), ISSUER, header.clone(), SECRET)
            .build()
            .expect("a valid webhook");
    let (body, revoke) = match &input.body {
        Body::Event {
            kind,
            user_id,
            ttls,
            create_instant,
            extra,
        } => {
            let mut event = json!({
                "type": match kind { Kind::Revoke => REFRESH_TOKEN_REVOKE, Kind::Other(o) => o },
                "applicationTimeToLiveInSeconds":
                    ttls.iter().take(4).map(|(k, v)| (k.clone(), Value::from(*v))).collect::<serde_json::Map<String, Value>>(),
            });
            let user = user_id.clone().unwrap_or_else(|| "u-1".to_owned());
            event["userId"] = Value::String(user.clone());
            if let Some(at) = create_instant {
                event["createInstant"] = json!(at);
            }
            for (name, value) in extra.iter().take(3) {
                event[name] = Value::String(value.clone());
            }
            let revoke = matches!(kind, Kind::Revoke)
                && extra.iter().take(3).all(|(name, _)| {
                    ![
                        "type",
                        "userId",
                        "createInstant",
                        "applicationTimeToLiveInSeconds",
                    ]
                    .contains(&name.as_str())
                })
                && create_instant.is_none_or(|ms| ms >= NOW_SECS * 1000)
                && !user.is_empty();
            (
                json!({ "event": event }).to_string().into_bytes(),
                revoke.then_some(user),
            )
        }
        Body::Raw(raw) => (raw.clone(), None),
    };
    let secret_ok = matches!(input.secret, Secret::Right)
        || matches!(&input.secret, Secret::Other(other) if other == SECRET.as_bytes());
    let headers: Vec<(String, Vec<u8>)> = match &input.secret {
        Secret::Right => vec![(header.to_string(), SECRET.into())],
        Secret::Absent => vec![],
        Secret::Twice => vec![
            (header.to_string(), SECRET.into()),
            (header.to_string(), SECRET.into()),
        ],
        Secret::Other(other) => vec![(header.to_string(), other.clone())],
    };
    let request = receiver_request(
        input.method.as_deref(),
        &input.content_type,
        "application/json",
        &headers,
        body,
    );
    let (status, headers, _) = post(webhook, request);
    check_answer(status, &headers, &[200, 400, 401, 405, 413]);
    if status != 200 {
        return;
    }
    assert!(secret_ok, "a 200 without the secret");
    if let Some(user) = revoke {
        let token = access_token(&user, None, NOW_SECS - 10);
        assert!(
            !layer_accepts(&mut harness, &token),
            "a token of a user whose tokens were revoked is accepted"
        );
    }
});
