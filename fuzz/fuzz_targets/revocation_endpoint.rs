//! The RFC 7009 revocation endpoint: its form body (fields in any order and encoding around
//! a token signed from fuzzed claims, or any bytes), content type, method and client check.
//!
//! Properties: no panic; the answer is 200, 400, 401, 405 or 413, always `Cache-Control:
//! no-store`, an error with `error` and `error_description`; 401 exactly when the client
//! check refuses a well-formed POST; after a 200, the form's token is refused by the layer
//! (RFC 7009: a 200 means this token is not accepted again).
#![no_main]

use arbitrary::Arbitrary;
use jwt_revoke_fuzz::{
    ContentType, Harness, LayerConfig, NOW_SECS, TokenSpec, check_answer, form, layer_accepts,
    post, receiver_request,
};
use jwt_revoke_tower::events::RevocationEndpoint;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Body {
    Form {
        token: TokenSpec,
        /// Around the token.
        before: String,
        after: String,
        hint: Option<String>,
        fields: Vec<(String, String)>,
    },
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    config: LayerConfig,
    body: Body,
    content_type: ContentType,
    method: Option<String>,
    authenticate: bool,
    client: bool,
}

fuzz_target!(|input: Input| {
    let mut harness = Harness::new(input.config);
    let mut endpoint = RevocationEndpoint::new(&harness.layer).expect("a verifying layer");
    if input.authenticate {
        endpoint = endpoint.authenticate_client(|head| head.headers.contains_key("x-client"));
    }
    let body = match &input.body {
        Body::Form {
            token,
            before,
            after,
            hint,
            fields,
        } => {
            let token = token.sign(NOW_SECS).token;
            let mut all: Vec<(String, String)> = fields.iter().take(4).cloned().collect();
            all.push(("token".into(), format!("{before}{token}{after}")));
            if let Some(hint) = hint {
                all.push(("token_type_hint".into(), hint.clone()));
            }
            form(&all).into_bytes()
        }
        Body::Raw(raw) => raw.clone(),
    };
    let headers = if input.client {
        vec![("x-client".to_owned(), b"yes".to_vec())]
    } else {
        vec![]
    };
    let request = receiver_request(
        input.method.as_deref(),
        &input.content_type,
        "application/x-www-form-urlencoded",
        &headers,
        body.clone(),
    );
    let post_request = request.method() == http::Method::POST;
    let (status, headers, json) = post(endpoint, request);
    check_answer(status, &headers, &[200, 400, 401, 405, 413]);
    if status.as_u16() == 401 {
        assert!(
            input.authenticate && !input.client,
            "401 for an authenticated client"
        );
    }
    if input.authenticate && !input.client && post_request && body.len() <= 64 * 1024 {
        assert_eq!(status.as_u16(), 401, "an unauthenticated client was served");
    }
    if status.is_client_error() && status.as_u16() != 405 && status.as_u16() != 413 {
        assert!(json["error"].is_string() && json["error_description"].is_string());
    }
    if status != 200 {
        return;
    }
    let tokens: Vec<String> = form_urlencoded::parse(&body)
        .filter(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned())
        .collect();
    let [token] = tokens.as_slice() else {
        panic!("a 200 for a form without exactly one token: {tokens:?}");
    };
    let token = token.trim_matches(|c: char| c.is_ascii_whitespace());
    if token.is_empty() || !token.is_ascii() || token.contains(|c: char| c.is_ascii_control()) {
        return;
    }
    assert!(
        !layer_accepts(&mut harness, token),
        "a token the endpoint answered 200 for is still accepted: {token:?}"
    );
});
