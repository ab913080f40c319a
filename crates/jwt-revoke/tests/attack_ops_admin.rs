//! Attacks on `jwt_revoke::ops` and the admin API from the side of what they are given: a
//! pasted token whose claims are of the wrong type must be refused without its values being
//! quoted back (an answer, a log line, a ticket the operator pastes it into).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use jwt_revoke::admin::AdminApi;
use jwt_revoke::ops::{ReadError, UnverifiedToken};
use jwt_revoke::{MemoryStore, Policy, Revocations};
use serde_json::{Value, json};
use tower::ServiceExt;

/// A compact token with this header and payload text (its signature is never checked here).
fn compact(header: &str, payload: &str) -> String {
    use base64::Engine as _;
    let b64 = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
    format!("{}.{}.c2lnbmF0dXJl", b64(header), b64(payload))
}

fn router() -> Router {
    let revocations = Revocations::new(
        Arc::new(MemoryStore::new()),
        Policy::new(Duration::from_secs(900)),
    );
    AdminApi::new(revocations).into_router()
}

async fn post(app: &Router, path: &str, body: &Value) -> (StatusCode, String) {
    let request = Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("a request");
    let response = app.clone().oneshot(request).await.expect("never fails");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("a body");
    (status, String::from_utf8(bytes.to_vec()).expect("UTF-8"))
}

/// Claims of the wrong type whose values are numbers or booleans: a numeric user id (an
/// account number, a national id) in `sub`, a numeric session id, a key id.
const SECRET_NUMBER: &str = "987654321012345";

fn wrong_typed() -> Vec<(String, String)> {
    let now = 1_900_000_000;
    vec![
        (
            r#"{"alg":"HS256"}"#.to_owned(),
            format!(r#"{{"iss":"https://idp.example","sub":{SECRET_NUMBER},"exp":{now}}}"#),
        ),
        (
            r#"{"alg":"HS256"}"#.to_owned(),
            format!(
                r#"{{"iss":"https://idp.example","sub":"a","sid":{SECRET_NUMBER},"exp":{now}}}"#
            ),
        ),
        (
            r#"{"alg":"HS256"}"#.to_owned(),
            format!(r#"{{"iss":"https://idp.example","sub":"a","jti":-{SECRET_NUMBER}.5}}"#),
        ),
        (
            format!(r#"{{"alg":"HS256","kid":{SECRET_NUMBER}}}"#),
            r#"{"iss":"https://idp.example","sub":"a"}"#.to_owned(),
        ),
    ]
}

#[test]
fn a_wrong_typed_claim_is_refused_without_its_value_being_quoted() {
    for (header, payload) in wrong_typed() {
        let err = UnverifiedToken::read(&compact(&header, &payload)).expect_err("refused");
        assert!(matches!(err, ReadError::NotJson { .. }), "{err:?}");
        let shown = format!("{err} / {err:?}");
        assert!(
            !shown.contains(SECRET_NUMBER),
            "a claim's value quoted back: {shown}"
        );
    }
}

#[tokio::test]
async fn the_admin_api_never_quotes_a_pasted_tokens_claim_values() {
    let app = router();
    for (header, payload) in wrong_typed() {
        let token = compact(&header, &payload);
        for path in ["/revocations/tokens", "/check"] {
            let (status, text) = post(&app, path, &json!({ "token": token })).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {text}");
            assert!(text.contains("invalid_token"), "{path}: {text}");
            assert!(
                !text.contains(SECRET_NUMBER),
                "{path} quoted a claim's value: {text}"
            );
        }
    }
}

/// The admin API and the layer must know a pasted token by one identity, whatever its payload
/// looks like: a token without `jti` (its payload's digest) with JSON whitespace around the
/// payload and escaped member names, a fractional `iat`, a `jti` with a session. Revoked
/// through the API, each is refused by the layer on the same engine; before, each is accepted.
#[tokio::test]
async fn a_token_revoked_through_the_api_is_refused_by_the_layer_whatever_its_spelling() {
    use jwt_revoke::jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, crypto};
    use jwt_revoke::{DecodingKeys, RevocationLayer};

    const SECRET: &[u8] = b"the layer's HS256 secret, 32 bytes long";
    let revocations = Revocations::new(
        Arc::new(MemoryStore::new()),
        Policy::new(Duration::from_secs(900)),
    );
    let layer = RevocationLayer::verifying(
        revocations.clone(),
        DecodingKeys::new(DecodingKey::from_secret(SECRET)),
        &[Algorithm::HS256],
    )
    .issuers(["https://idp.example"])
    .audiences(["api"])
    .build()
    .expect("a layer");
    let service = Router::new()
        .route("/me", axum::routing::get(|| async { "ok" }))
        .layer(layer);
    let admin = AdminApi::new(revocations).into_router();

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let payloads = [
        format!(
            " {{\"iss\":\"https://idp.example\",\"aud\":\"api\",\"sub\":\"zoe\",\"iat\":{},\"exp\":{}}}\n",
            now - 5,
            now + 600
        ),
        format!(
            r#"{{"\u0069ss":"https://idp.example","aud":["api"],"\u0073ub":"z\u00e9d","iat":{},"exp":{}}}"#,
            now - 5,
            now + 600
        ),
        format!(
            r#"{{"iss":"https://idp.example","aud":"api","sub":"yan","jti":"j\/1","sid":"s-1","iat":{}.25,"exp":{}}}"#,
            now - 5,
            now + 600
        ),
    ];
    let me = |token: String| {
        let service = service.clone();
        async move {
            let request = Request::get("/me")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .expect("a request");
            service.oneshot(request).await.expect("infallible").status()
        }
    };
    for payload in payloads {
        use base64::Engine as _;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let signing_input = format!("{}.{}", b64(br#"{"alg":"HS256"}"#), b64(payload.as_bytes()));
        let signature = crypto::sign(
            signing_input.as_bytes(),
            &EncodingKey::from_secret(SECRET),
            Algorithm::HS256,
        )
        .expect("signs");
        let token = format!("{signing_input}.{signature}");
        assert_eq!(me(token.clone()).await, StatusCode::OK, "{payload}");
        let (status, text) = post(&admin, "/revocations/tokens", &json!({ "token": token })).await;
        assert_eq!(status, StatusCode::OK, "{payload}: {text}");
        assert!(text.contains(r#""outcome":"recorded""#), "{text}");
        assert_eq!(
            me(token).await,
            StatusCode::UNAUTHORIZED,
            "revoked through the admin API, still accepted by the layer: {payload}"
        );
    }
}
