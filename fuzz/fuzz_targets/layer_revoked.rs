//! The layer after a revocation: a token the layer accepted, then revoked by each way there
//! is, is never accepted again.
//!
//! The first request is checked against the reference as in `layer_differential`. When it
//! reached the inner service, the token is revoked (the handle's `revoke_token`,
//! `revoke_user` or `revoke_session`; the engine's user or session cut-off; or the RFC 7009
//! endpoint with the token in a fuzzed form body, which must answer 200), the clock may move,
//! and the same token is sent again (in the same request, or placed anew). Property: it never
//! reaches the inner service again (DESIGN §4 coverage, §5 "a 200 from the RFC 7009 endpoint
//! means this token will not be accepted again").
#![no_main]

use arbitrary::Arbitrary;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use jwt_revoke_core::{SessionId, UserId};
use jwt_revoke_fuzz::{
    BYPASS, Gap, Harness, LayerConfig, RequestSpec, TokenSpec, block_on, build_request,
    check_against_reference, copy_request,
};
use jwt_revoke_tower::events::RevocationEndpoint;
use libfuzzer_sys::fuzz_target;
use tower::{Service, ServiceExt};

#[derive(Arbitrary, Debug)]
enum FormToken {
    /// `token=<token>`.
    Plain,
    /// Every byte percent-encoded.
    Percent,
    /// `+` for the spaces around it.
    Plus,
}

#[derive(Arbitrary, Debug)]
enum How {
    HandleToken,
    HandleUser,
    HandleSession,
    EngineUser,
    EngineSession,
    Endpoint {
        encoding: FormToken,
        before: Gap,
        after: Gap,
        hint: Option<String>,
        other_fields: Vec<(String, String)>,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    config: LayerConfig,
    token: TokenSpec,
    other: Option<TokenSpec>,
    request: RequestSpec,
    how: How,
    advance_secs: u16,
    again: Option<RequestSpec>,
}

fn form_value(text: &str, encoding: &FormToken) -> String {
    match encoding {
        FormToken::Plain => text.to_owned(),
        FormToken::Percent => text.bytes().map(|b| format!("%{b:02X}")).collect(),
        FormToken::Plus => text.replace(' ', "+"),
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fuzz_target!(|input: Input| {
    let mut harness = Harness::new(input.config);
    let now_secs = harness.now_micros().div_euclid(1_000_000) as i64;
    let main = input.token.sign(now_secs);
    let other = input
        .other
        .as_ref()
        .map_or_else(|| main.token.clone(), |other| other.sign(now_secs).token);
    let request = build_request(&input.request, &main.token, &other);
    let copy = copy_request(&request);
    let now = harness.now_micros();
    let (response, seen) = harness.send(request);
    let Some(accepted) = check_against_reference(&copy, now, &response, &seen) else {
        return;
    };
    let seen = seen.expect("reached");
    let handle = seen.handle.expect("a handle");
    let revocations = harness.revocations.clone();
    let revoked = match &input.how {
        How::HandleToken => block_on(handle.revoke_token()).is_ok(),
        How::HandleUser => block_on(handle.revoke_user()).is_ok(),
        How::HandleSession => match block_on(handle.revoke_session()) {
            Ok(Some(_)) => true,
            Ok(None) => {
                assert!(accepted.sid.is_none(), "a token with a sid has no session");
                return;
            }
            Err(_) => false,
        },
        How::EngineUser => {
            block_on(revocations.revoke_user(&UserId::new(&accepted.iss, &accepted.sub))).is_ok()
        }
        How::EngineSession => {
            let Some(sid) = &accepted.sid else { return };
            block_on(revocations.revoke_session(&SessionId::new(&accepted.iss, sid))).is_ok()
        }
        How::Endpoint {
            encoding,
            before,
            after,
            hint,
            other_fields,
        } => {
            let mut body = String::new();
            for (name, value) in other_fields.iter().take(4) {
                if name == "token" {
                    continue;
                }
                body.push_str(&format!("{}={}&", encode(name), encode(value)));
            }
            let spaced = format!("{}{}{}", gap(*before), accepted.token, gap(*after));
            body.push_str(&format!("token={}", form_value(&spaced, encoding)));
            if let Some(hint) = hint {
                body.push_str(&format!("&token_type_hint={}", encode(hint)));
            }
            let endpoint = RevocationEndpoint::new(&harness.layer).expect("a verifying layer");
            let request = Request::builder()
                .method(Method::POST)
                .uri("/oauth/revoke")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Full::new(Bytes::from(body.clone())))
                .expect("a valid request");
            let response = block_on(async move {
                let mut endpoint = endpoint;
                let endpoint = ServiceExt::<Request<Full<Bytes>>>::ready(&mut endpoint)
                    .await
                    .expect("infallible");
                endpoint.call(request).await.expect("infallible")
            });
            assert_eq!(
                response.status(),
                StatusCode::OK,
                "the endpoint did not revoke a token the layer accepts: {body:?}"
            );
            true
        }
    };
    // The memory store does not fail; a revocation that did not happen proves nothing.
    assert!(revoked, "the memory store failed a revocation");
    harness
        .clock
        .advance(std::time::Duration::from_secs(u64::from(
            input.advance_secs % 1200,
        )));
    let again = match &input.again {
        Some(spec) => build_request(spec, &accepted.token, &accepted.token),
        None => copy,
    };
    if again.uri().path() == BYPASS {
        return;
    }
    let headers = again.headers().clone();
    let (response, seen) = harness.send(again);
    assert!(
        seen.is_none(),
        "a revoked token reached the inner service ({:?}; answered {}): {headers:?}",
        input.how,
        response.status()
    );
});

fn gap(gap: Gap) -> String {
    match gap {
        Gap::None => String::new(),
        Gap::Space => " ".into(),
        Gap::Tab => "\t".into(),
        Gap::Spaces(n) => " ".repeat(usize::from(n % 8)),
    }
}
