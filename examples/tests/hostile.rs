//! The bad-input matrix at the demos' edge (issue 12): hostile requests, each with the status
//! it must get, sent over TCP to the demo binaries — the HTTP demo (axum), the Hyper demo and
//! the gRPC demo — exactly as an attacker's client would send them (raw bytes for HTTP/1.1, so
//! that nothing a well-behaved client library refuses to send is left out).
//!
//! Across the matrix: no panic in any demo (its standard error is read after the run), no 5xx
//! (the store is the in-memory one: nothing here may be store-caused), and no response that
//! hangs past its timeout. The races on one token close the file.

mod support;

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jwt_revoke_examples::demo::ISSUER;
use jwt_revoke_examples::grpc::pb;
use jwt_revoke_tower::jsonwebtoken::{self, Algorithm, EncodingKey};
use serde_json::{Value, json};
use support::{RunningDemo, start_binary_with_stderr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &str = "hostile matrix test secret";
/// How long any one exchange may take before it counts as a hang.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

// ---- tokens ---------------------------------------------------------------------------------

/// A token over exactly these header and payload texts, signed with `alg` and `secret`.
fn raw_token(header: &str, payload: &[u8], alg: Algorithm, secret: &[u8]) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &EncodingKey::from_secret(secret), alg)
            .expect("signs");
    format!("{message}.{signature}")
}

/// An HS256 token of the demo's key over exactly `payload`.
fn signed_payload(payload: &[u8]) -> String {
    raw_token(
        r#"{"alg":"HS256","typ":"JWT"}"#,
        payload,
        Algorithm::HS256,
        SECRET.as_bytes(),
    )
}

/// An HS256 token of the demo's key with this header text.
fn signed_header(header: &str, claims: &Value) -> String {
    raw_token(
        header,
        claims.to_string().as_bytes(),
        Algorithm::HS256,
        SECRET.as_bytes(),
    )
}

/// Valid claims for `sub`, with `jti` `jti`, issued now, living ten minutes.
fn claims(sub: &str, jti: &str) -> Value {
    let now = now();
    json!({ "iss": ISSUER, "sub": sub, "jti": jti, "sid": format!("s-{jti}"), "iat": now, "exp": now + 600 })
}

/// Valid claims with `change` applied.
fn claims_with(jti: &str, change: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut claims = claims("mallory", jti);
    change(claims.as_object_mut().expect("an object"));
    claims
}

fn signed(claims: &Value) -> String {
    signed_payload(claims.to_string().as_bytes())
}

// ---- raw HTTP/1.1 ---------------------------------------------------------------------------

/// What came back for one raw request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// The status of every response on the connection, in order.
    Statuses(Vec<u16>),
    /// Nothing answered within [`EXCHANGE_TIMEOUT`].
    Hang,
}

/// Sends `request` as it is on a fresh connection, reads until the server closes it (or stops
/// sending for a moment), and returns the status lines it answered with.
async fn exchange(addr: &str, request: &[u8]) -> Outcome {
    let work = async {
        let mut stream = TcpStream::connect(addr).await.expect("connects");
        // A server may answer and close before it has read everything (a 431, say); that is
        // an answer, not a failure to send.
        let _ = stream.write_all(request).await;
        let _ = stream.flush().await;
        let mut received = Vec::new();
        let mut buffer = [0_u8; 16 * 1024];
        loop {
            match tokio::time::timeout(Duration::from_millis(1500), stream.read(&mut buffer)).await
            {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
                // Quiet: whatever was going to be answered has been (keep-alive connections).
                Err(_) if !received.is_empty() => break,
                Err(_) => continue,
            }
        }
        received
    };
    match tokio::time::timeout(EXCHANGE_TIMEOUT, work).await {
        Ok(received) => Outcome::Statuses(statuses(&received)),
        Err(_) => Outcome::Hang,
    }
}

/// The status of each response in `received`. The demos' bodies are short JSON or text, none
/// of which holds a status line, so a scan for them at the start of a line is exact here.
fn statuses(received: &[u8]) -> Vec<u16> {
    let text = String::from_utf8_lossy(received);
    let mut found = Vec::new();
    let mut rest: &str = &text;
    while let Some(at) = rest.find("HTTP/1.") {
        let line_start = at == 0 || rest[..at].ends_with('\n');
        let status = rest.get(at + 9..at + 12).and_then(|s| s.parse().ok());
        if let (true, Some(status)) = (line_start, status) {
            found.push(status);
        }
        rest = &rest[at + 7..];
    }
    found
}

/// `GET path` with these extra header lines (each without its CRLF), closing the connection.
fn get(path: &str, headers: &[&str]) -> Vec<u8> {
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: demo.test\r\nConnection: close\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    request.into_bytes()
}

/// `GET /me` with `Authorization: Bearer <token>`.
fn me(token: &str) -> Vec<u8> {
    get("/me", &[&format!("Authorization: Bearer {token}")])
}

/// A `POST path` of a form body.
fn post_form(path: &str, headers: &[&str], body: &str) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: demo.test\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    request.push_str(body);
    request.into_bytes()
}

/// Bytes spliced into a request line by line (for the cases that break HTTP's own framing).
fn bytes(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

// ---- the matrix -----------------------------------------------------------------------------

/// Which demos a case runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Demos {
    /// The HTTP (axum) demo and the Hyper demo: the layer's edge, the same in both.
    Both,
    /// The HTTP demo only: its routes (`/login`, `/oauth/revoke`, the router's matching).
    Axum,
}

struct Case {
    name: &'static str,
    request: Vec<u8>,
    /// The statuses of the responses, in order: one for a single request.
    expect: &'static [u16],
    demos: Demos,
}

fn case(name: &'static str, request: Vec<u8>, expect: &'static [u16]) -> Case {
    Case {
        name,
        request,
        expect,
        demos: Demos::Both,
    }
}

fn axum_case(name: &'static str, request: Vec<u8>, expect: &'static [u16]) -> Case {
    Case {
        name,
        request,
        expect,
        demos: Demos::Axum,
    }
}

/// Every hostile request, with the status it must get. `valid` is a valid, unrevoked token.
#[allow(clippy::too_many_lines)]
fn matrix(valid: &str) -> Vec<Case> {
    let bearer = format!("Authorization: Bearer {valid}");
    // The framing cases post a logout: if one were acted on, it would revoke this token only.
    let spare_bearer = format!(
        "Authorization: Bearer {}",
        signed(&claims("alice", "spare"))
    );
    let parts: Vec<&str> = valid.split('.').collect();
    let (header_b64, payload_b64, signature_b64) = (parts[0], parts[1], parts[2]);
    let deep = format!("{}{}", "[".repeat(2500), "]".repeat(2500));
    let deep_payload = format!(
        r#"{{"iss":"{ISSUER}","sub":"mallory","jti":"deep","iat":{},"exp":{},"x":{deep}}}"#,
        now(),
        now() + 600
    );
    let padded_payload = STANDARD.encode(claims("mallory", "padded").to_string());
    let mut cases = vec![
        // -- finding the token --------------------------------------------------------------
        case("the control: a valid token", me(valid), &[200]),
        case("no token at all", get("/me", &[]), &[401]),
        case("a Bearer scheme without a token", get("/me", &["Authorization: Bearer"]), &[400]),
        case("a Bearer scheme with only spaces", get("/me", &["Authorization: Bearer    "]), &[400]),
        case("another scheme (Basic)", get("/me", &["Authorization: Basic YWxpY2U6c2VjcmV0"]), &[401]),
        case("the scheme in lower case", get("/me", &[&format!("Authorization: bearer {valid}")]), &[200]),
        case(
            "the scheme in upper case, spaces around the token",
            get("/me", &[&format!("Authorization: BEARER    {valid}   ")]),
            &[200],
        ),
        case(
            "two Authorization headers with the same token",
            get("/me", &[&bearer, &bearer]),
            &[400],
        ),
        case(
            "two Authorization headers, the second a forgery",
            get("/me", &[&bearer, "Authorization: Bearer forged.token.here"]),
            &[400],
        ),
        case(
            "a token and a second one in one header",
            get("/me", &[&format!("Authorization: Bearer {valid}, Bearer {valid}")]),
            &[401],
        ),
        case(
            "a tab inside the token",
            get("/me", &[&format!("Authorization: Bearer {header_b64}.\t{payload_b64}.{signature_b64}")]),
            &[401],
        ),
        case(
            "bytes that are not visible ASCII in the header",
            bytes(&[b"GET /me HTTP/1.1\r\nHost: demo.test\r\nConnection: close\r\nAuthorization: Bearer \xff\xfe", valid.as_bytes(), b"\r\n\r\n"]),
            &[400],
        ),
        case(
            "the token only in a cookie (the demos read no cookie)",
            get("/me", &[&format!("Cookie: access_token={valid}")]),
            &[401],
        ),
        case(
            "the token only in a custom header",
            get("/me", &[&format!("X-Access-Token: {valid}")]),
            &[401],
        ),
        case(
            "the token only in the query string (RFC 6750 §2.3 is not read)",
            get(&format!("/me?access_token={valid}"), &[]),
            &[401],
        ),
        // -- the token's shape --------------------------------------------------------------
        case("two segments", me(&format!("{header_b64}.{payload_b64}")), &[401]),
        case("four segments", me(&format!("{valid}.{signature_b64}")), &[401]),
        case("empty segments", me(".."), &[401]),
        case(
            "a character outside base64url in the payload",
            me(&format!("{header_b64}.{payload_b64}*.{signature_b64}")),
            &[401],
        ),
        case(
            "padded standard base64 in the payload",
            me(&format!("{header_b64}.{padded_payload}.{signature_b64}")),
            &[401],
        ),
        case(
            "a token one byte over the layer's 8 KiB limit",
            me(&signed(&claims_with("big", |c| {
                c.insert("pad".into(), json!("x".repeat(6200)));
            }))),
            &[401],
        ),
        case(
            "an Authorization header of 100 KB (over the layer's limit)",
            get("/me", &[&format!("Authorization: Bearer {}", "a".repeat(100_000))]),
            &[401],
        ),
        case(
            "a request head of 1 MB (over the server's limit)",
            get("/me", &[&format!("Authorization: Bearer {}", "a".repeat(1 << 20))]),
            &[431],
        ),
        case(
            "150 header lines",
            get(
                "/me",
                &(0..150).map(|i| format!("X-Filler-{i}: {i}")).collect::<Vec<_>>().iter().map(String::as_str).collect::<Vec<_>>(),
            ),
            &[431],
        ),
        // -- the algorithm and the header ---------------------------------------------------
        case(
            "alg none, no signature",
            me(&format!("{}.{payload_b64}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#))),
            &[401],
        ),
        case(
            "alg none, the valid signature kept",
            me(&format!("{}.{payload_b64}.{signature_b64}", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#))),
            &[401],
        ),
        case(
            "HS512 with the demo's own secret (not in the allowlist)",
            me(&raw_token(r#"{"alg":"HS512"}"#, claims("mallory", "hs512").to_string().as_bytes(), Algorithm::HS512, SECRET.as_bytes())),
            &[401],
        ),
        case(
            "the header says RS256 over an HMAC signature",
            me(&format!("{}.{payload_b64}.{signature_b64}", URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256"}"#))),
            &[401],
        ),
        case(
            "alg spelled in lower case",
            me(&signed_header(r#"{"alg":"hs256"}"#, &claims("mallory", "lower"))),
            &[401],
        ),
        case(
            "a critical header parameter (crit)",
            me(&signed_header(r#"{"alg":"HS256","crit":["urn:x"],"urn:x":1}"#, &claims("mallory", "crit"))),
            &[401],
        ),
        case(
            "a kid that looks like a path (one key: the kid selects nothing)",
            me(&signed_header(r#"{"alg":"HS256","kid":"../../../../etc/passwd"}"#, &claims("mallory", "kid"))),
            &[200],
        ),
        case(
            "a jku pointing elsewhere is never fetched",
            me(&signed_header(r#"{"alg":"HS256","jku":"http://127.0.0.1:9/keys"}"#, &claims("mallory", "jku"))),
            &[200],
        ),
        case(
            "an embedded jwk with the attacker's key, signed with it",
            me(&raw_token(
                r#"{"alg":"HS256","jwk":{"kty":"oct","k":"YXR0YWNrZXI"}}"#,
                claims("mallory", "jwk").to_string().as_bytes(),
                Algorithm::HS256,
                b"attacker",
            )),
            &[401],
        ),
        case(
            "typ logout+jwt (an event token is no access token)",
            me(&signed_header(r#"{"alg":"HS256","typ":"logout+jwt"}"#, &claims("mallory", "typ"))),
            &[401],
        ),
        case(
            "a repeated header parameter",
            me(&signed_header(r#"{"alg":"HS256","alg":"none"}"#, &claims("mallory", "dup-alg"))),
            &[401],
        ),
        case(
            "a header that is not JSON",
            me(&raw_token("alg=HS256", claims("mallory", "h").to_string().as_bytes(), Algorithm::HS256, SECRET.as_bytes())),
            &[401],
        ),
        // -- claims of the wrong type or value ----------------------------------------------
        case("sub a number", me(&signed(&claims_with("t1", |c| { c.insert("sub".into(), json!(42)); }))), &[401]),
        case("sub an object", me(&signed(&claims_with("t2", |c| { c.insert("sub".into(), json!({"id": "alice"})); }))), &[401]),
        case("sub null", me(&signed(&claims_with("t3", |c| { c.insert("sub".into(), Value::Null); }))), &[401]),
        case("sub missing", me(&signed(&claims_with("t4", |c| { c.remove("sub"); }))), &[401]),
        case("exp a string", me(&signed(&claims_with("t5", |c| { c.insert("exp".into(), json!((now() + 600).to_string())); }))), &[401]),
        case("exp missing", me(&signed(&claims_with("t6", |c| { c.remove("exp"); }))), &[401]),
        case("exp in the past", me(&signed(&claims_with("t7", |c| { c.insert("exp".into(), json!(now() - 3600)); }))), &[401]),
        case("exp negative", me(&signed(&claims_with("t8", |c| { c.insert("exp".into(), json!(-1)); }))), &[401]),
        case("exp 1e300", me(&signed(&claims_with("t9", |c| { c.insert("exp".into(), json!(1e300)); }))), &[401]),
        case("exp a fraction of a second in the future", me(&signed(&claims_with("t10", |c| { c.insert("exp".into(), json!(now() as f64 + 600.5)); }))), &[200]),
        case("iat a string", me(&signed(&claims_with("t11", |c| { c.insert("iat".into(), json!(now().to_string())); }))), &[401]),
        case("iat an hour ahead", me(&signed(&claims_with("t12", |c| { c.insert("iat".into(), json!(now() + 3600)); }))), &[401]),
        case("iat ten seconds ahead", me(&signed(&claims_with("t13", |c| { c.insert("iat".into(), json!(now() + 10)); }))), &[401]),
        case("iat a fraction of a second ahead (within the skew)", me(&signed(&claims_with("t14", |c| { c.insert("iat".into(), json!(now() as f64 + 0.5)); }))), &[200]),
        case("iat NaN spelled as a string", me(&signed(&claims_with("t15", |c| { c.insert("iat".into(), json!("NaN")); }))), &[401]),
        case("nbf an hour ahead", me(&signed(&claims_with("t16", |c| { c.insert("nbf".into(), json!(now() + 3600)); }))), &[401]),
        case("jti a number", me(&signed(&claims_with("t17", |c| { c.insert("jti".into(), json!(17)); }))), &[401]),
        case("sid an array", me(&signed(&claims_with("t18", |c| { c.insert("sid".into(), json!(["a", "b"])); }))), &[401]),
        case("another issuer", me(&signed(&claims_with("t19", |c| { c.insert("iss".into(), json!("https://evil.test")); }))), &[401]),
        case("the issuer in an array", me(&signed(&claims_with("t20", |c| { c.insert("iss".into(), json!([ISSUER])); }))), &[401]),
        case("the issuer with a trailing slash", me(&signed(&claims_with("t21", |c| { c.insert("iss".into(), json!(format!("{ISSUER}/"))); }))), &[401]),
        case("an audience the demo does not name", me(&signed(&claims_with("t22", |c| { c.insert("aud".into(), json!("another-api")); }))), &[401]),
        case("an events claim (a security event token)", me(&signed(&claims_with("t23", |c| { c.insert("events".into(), json!({"urn:x": {}})); }))), &[401]),
        case(
            "an events claim spelled with a JSON escape",
            me(&signed_payload(format!(r#"{{"iss":"{ISSUER}","sub":"m","jti":"t24","iat":{},"exp":{},"\u0065vents":{{}}}}"#, now(), now() + 600).as_bytes())),
            &[401],
        ),
        case(
            "sub given twice, differently",
            me(&signed_payload(format!(r#"{{"iss":"{ISSUER}","sub":"alice","sub":"mallory","jti":"t25","iat":{},"exp":{}}}"#, now(), now() + 600).as_bytes())),
            &[401],
        ),
        case("the payload a JSON array", me(&signed_payload(b"[1,2,3]")), &[401]),
        case("the payload not UTF-8", me(&signed_payload(b"{\"sub\":\"\xff\xfe\"}")), &[401]),
        // Signed by the issuer, and read without recursion (only the claims the layer knows are
        // parsed; the rest is skipped by an iterative scan): no stack overflow, and accepted.
        case("a signed payload with a claim nested 2,500 deep", me(&signed_payload(deep_payload.as_bytes())), &[200]),
        // -- HTTP framing (the request itself is malformed) ----------------------------------
        case(
            "a header folded onto a second line (obs-fold)",
            bytes(&[b"GET /me HTTP/1.1\r\nHost: demo.test\r\nConnection: close\r\nAuthorization: Bearer\r\n ", valid.as_bytes(), b"\r\n\r\n"]),
            &[400],
        ),
        case(
            "a space before the header's colon",
            get("/me", &[&format!("Authorization : Bearer {valid}")]),
            &[400],
        ),
        case(
            "a NUL byte in a header value",
            bytes(&[b"GET /me HTTP/1.1\r\nHost: demo.test\r\nConnection: close\r\nAuthorization: Bearer ", valid.as_bytes(), b"\0x\r\n\r\n"]),
            &[400],
        ),
        case(
            "a method with a space inside",
            bytes(&[b"G ET /me HTTP/1.1\r\nHost: demo.test\r\n\r\n"]),
            &[400],
        ),
        case(
            "two different Content-Length headers",
            bytes(&[b"POST /logout HTTP/1.1\r\nHost: demo.test\r\nConnection: close\r\nContent-Length: 0\r\nContent-Length: 5\r\n", spare_bearer.as_bytes(), b"\r\n\r\nhello"]),
            &[400],
        ),
        case(
            // hyper reads the chunked body (RFC 9112 §6.1: Transfer-Encoding wins), answers the
            // logout, and closes the connection: the smuggled request is never read.
            "Content-Length and Transfer-Encoding, smuggling an anonymous /me behind a logout",
            bytes(&[
                b"POST /logout HTTP/1.1\r\nHost: demo.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n",
                spare_bearer.as_bytes(),
                b"\r\n\r\n0\r\n\r\nGET /me HTTP/1.1\r\nHost: demo.test\r\nConnection: close\r\n\r\n",
            ]),
            &[204],
        ),
        case(
            "a URI of 100 KB",
            get(&format!("/me?{}", "q".repeat(100_000)), &[&bearer]),
            &[414],
        ),
        case(
            "an HTTP/1.0 request without Host",
            bytes(&[b"GET /me HTTP/1.0\r\n", bearer.as_bytes(), b"\r\n\r\n"]),
            &[200],
        ),
        case(
            "a method override header is not obeyed",
            get("/me", &[&bearer, "X-HTTP-Method-Override: DELETE"]),
            &[200],
        ),
    ];
    // -- the HTTP demo's router and its RFC 7009 endpoint -----------------------------------
    // Paths no route matches are refused by the layer before routing when they carry no token:
    // a path trick never reaches a handler without one.
    cases.extend([
        axum_case("a path that climbs out of /healthz", get("/healthz/../me", &[]), &[401]),
        axum_case("a doubled slash before a protected path", get("//me", &[]), &[401]),
        axum_case("a protected path in upper case", get("/ME", &[]), &[401]),
        axum_case("a protected path with an encoded slash", get("/me%2F", &[]), &[401]),
        axum_case("OPTIONS on a protected path without a token", bytes(&[b"OPTIONS /me HTTP/1.1\r\nHost: demo.test\r\nConnection: close\r\n\r\n"]), &[401]),
        axum_case("absolute-form request target", bytes(&[b"GET http://other.test/me HTTP/1.1\r\nHost: demo.test\r\nConnection: close\r\n", bearer.as_bytes(), b"\r\n\r\n"]), &[200]),
        axum_case("RFC 7009: no token parameter", post_form("/oauth/revoke", &["Content-Type: application/x-www-form-urlencoded"], "token_type_hint=access_token"), &[400]),
        axum_case("RFC 7009: a JSON body", post_form("/oauth/revoke", &["Content-Type: application/json"], &format!(r#"{{"token":"{valid}"}}"#)), &[400]),
        axum_case("RFC 7009: no content type", post_form("/oauth/revoke", &[], &format!("token={valid}")), &[400]),
        axum_case("RFC 7009: two different tokens", post_form("/oauth/revoke", &["Content-Type: application/x-www-form-urlencoded"], &format!("token={valid}&token=other")), &[400]),
        axum_case("RFC 7009: a broken percent-encoding", post_form("/oauth/revoke", &["Content-Type: application/x-www-form-urlencoded"], "token=%zz%"), &[200]),
        axum_case("RFC 7009: a token that is not one of ours", post_form("/oauth/revoke", &["Content-Type: application/x-www-form-urlencoded"], "token=not-a-token"), &[200]),
        axum_case("RFC 7009: a body of 2 MB", post_form("/oauth/revoke", &["Content-Type: application/x-www-form-urlencoded"], &format!("token={}", "a".repeat(2 << 20))), &[413]),
        axum_case(
            "RFC 7009: a chunked body with a broken chunk size",
            bytes(&[b"POST /oauth/revoke HTTP/1.1\r\nHost: demo.test\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\ntoken=x\r\n0\r\n\r\n"]),
            &[400],
        ),
        axum_case("login: a body that is not JSON", post_form("/login", &["Content-Type: application/json"], "{sub: alice"), &[400]),
        axum_case("login: sub of the wrong type", post_form("/login", &["Content-Type: application/json"], r#"{"sub": 7}"#), &[422]),
        axum_case("login: sub too long", post_form("/login", &["Content-Type: application/json"], &format!(r#"{{"sub":"{}"}}"#, "a".repeat(300))), &[400]),
    ]);
    cases
}

/// A demo binary, its standard error in a file of `dir`.
fn start(
    binary: &str,
    addr_var: &str,
    dir: &Path,
    name: &str,
) -> (RunningDemo, std::path::PathBuf) {
    let log = dir.join(format!("{name}.stderr"));
    let file = std::fs::File::create(&log).expect("a log file");
    let demo = start_binary_with_stderr(
        binary,
        addr_var,
        &[("REVOCATION_STORE", "memory"), ("DEMO_JWT_SECRET", SECRET)],
        file,
    );
    (demo, log)
}

fn assert_no_panic(log: &Path) {
    let text = std::fs::read_to_string(log).expect("the log");
    assert!(!text.contains("panicked"), "the demo panicked:\n{text}");
}

fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("jwt-revoke-hostile-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_request_gets_its_status_from_both_http_demos() {
    let dir = scratch_dir("http");
    let valid = signed(&claims("alice", "valid-1"));
    let mut report = String::new();
    let mut mismatches = 0;
    let mut ran = 0;
    for (name, binary, addr_var, is_axum) in [
        ("demo", env!("CARGO_BIN_EXE_demo"), "DEMO_ADDR", true),
        (
            "demo-hyper",
            env!("CARGO_BIN_EXE_demo-hyper"),
            "DEMO_HYPER_ADDR",
            false,
        ),
    ] {
        let (demo, log) = start(binary, addr_var, &dir, name);
        let addr = demo.url.trim_start_matches("http://").to_owned();
        for case in matrix(&valid) {
            if case.demos == Demos::Axum && !is_axum {
                continue;
            }
            ran += 1;
            let outcome = exchange(&addr, &case.request).await;
            let expected = Outcome::Statuses(case.expect.to_vec());
            if let Outcome::Statuses(statuses) = &outcome {
                assert!(
                    statuses.iter().all(|s| *s < 500),
                    "{name}: {}: a 5xx with the memory store: {statuses:?}",
                    case.name
                );
            }
            if outcome != expected {
                mismatches += 1;
                let _ = writeln!(
                    report,
                    "{name}: {}: got {outcome:?}, expected {expected:?}",
                    case.name
                );
            }
        }
        // The demo still answers after all that, and never panicked.
        let after = exchange(&addr, &me(&valid)).await;
        if after != Outcome::Statuses(vec![200]) {
            mismatches += 1;
            let _ = writeln!(report, "{name}: the valid token afterwards: {after:?}");
        }
        drop(demo);
        assert_no_panic(&log);
    }
    assert_eq!(
        mismatches, 0,
        "{mismatches} of {ran} requests got another status:\n{report}"
    );
    assert!(ran >= 80, "the matrix is smaller than it should be: {ran}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- gRPC -----------------------------------------------------------------------------------

async fn grpc_demo(dir: &Path) -> (RunningDemo, std::path::PathBuf, tonic::transport::Channel) {
    let (demo, log) = start(
        env!("CARGO_BIN_EXE_demo-grpc"),
        "DEMO_GRPC_ADDR",
        dir,
        "demo-grpc",
    );
    let channel = tonic::transport::Channel::from_shared(demo.url.clone())
        .expect("a valid uri")
        .connect()
        .await
        .expect("the gRPC demo accepts connections");
    (demo, log, channel)
}

/// `WhoAmI` with these metadata entries (text values; `-bin` names take base64).
async fn who_am_i(channel: &tonic::transport::Channel, metadata: &[(&str, &str)]) -> tonic::Code {
    let mut request = tonic::Request::new(pb::WhoAmIRequest {});
    for (name, value) in metadata {
        if name.ends_with("-bin") {
            let key = tonic::metadata::MetadataKey::from_bytes(name.as_bytes()).expect("a key");
            request.metadata_mut().append_bin(
                key,
                tonic::metadata::MetadataValue::from_bytes(value.as_bytes()),
            );
        } else {
            let key = tonic::metadata::MetadataKey::from_bytes(name.as_bytes()).expect("a key");
            request
                .metadata_mut()
                .append(key, value.parse().expect("ascii"));
        }
    }
    let mut client = pb::session_client::SessionClient::new(channel.clone());
    match tokio::time::timeout(EXCHANGE_TIMEOUT, client.who_am_i(request)).await {
        Ok(Ok(_)) => tonic::Code::Ok,
        Ok(Err(status)) => status.code(),
        Err(_) => panic!("the gRPC demo hung"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_call_gets_its_status_from_the_grpc_demo() {
    use tonic::Code::{Ok, Unauthenticated};
    let dir = scratch_dir("grpc");
    let (demo, log, channel) = grpc_demo(&dir).await;
    let valid = signed(&claims("alice", "grpc-valid"));
    let bearer = format!("Bearer {valid}");
    let revoked = signed(&claims("alice", "grpc-revoked"));
    let mut revoke = tonic::Request::new(pb::RevokeMeRequest {});
    revoke.metadata_mut().insert(
        "authorization",
        format!("Bearer {revoked}").parse().expect("ascii"),
    );
    pb::session_client::SessionClient::new(channel.clone())
        .revoke_me(revoke)
        .await
        .expect("the token is revoked");
    let revoked_bearer = format!("Bearer {revoked}");
    let big = signed(&claims_with("grpc-big", |c| {
        c.insert("pad".into(), json!("x".repeat(6200)));
    }));
    let none = format!(
        "Bearer {}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
        valid.split('.').nth(1).expect("a payload")
    );
    let crit = format!(
        "Bearer {}",
        signed_header(
            r#"{"alg":"HS256","crit":["urn:x"]}"#,
            &claims("alice", "grpc-crit")
        )
    );
    let events = format!(
        "Bearer {}",
        signed(&claims_with("grpc-events", |c| {
            c.insert("events".into(), json!({}));
        }))
    );
    let wrong_type = format!(
        "Bearer {}",
        signed(&claims_with("grpc-sub", |c| {
            c.insert("sub".into(), json!(["alice"]));
        }))
    );
    let big_bearer = format!("Bearer {big}");
    type Metadata<'a> = Vec<(&'a str, &'a str)>;
    let cases: Vec<(&str, Metadata<'_>, tonic::Code)> = vec![
        (
            "the control: a valid token",
            vec![("authorization", &bearer)],
            Ok,
        ),
        ("no metadata", vec![], Unauthenticated),
        (
            "a revoked token",
            vec![("authorization", &revoked_bearer)],
            Unauthenticated,
        ),
        (
            // A malformed request is 16 in gRPC too (the layer's rejection table).
            "two authorization entries that differ",
            vec![
                ("authorization", &bearer),
                ("authorization", &revoked_bearer),
            ],
            Unauthenticated,
        ),
        (
            "the same authorization entry twice",
            vec![("authorization", &bearer), ("authorization", &bearer)],
            Unauthenticated,
        ),
        (
            "a Bearer scheme without a token",
            vec![("authorization", "Bearer")],
            Unauthenticated,
        ),
        (
            "another scheme",
            vec![("authorization", "Basic YWxpY2U6c2VjcmV0")],
            Unauthenticated,
        ),
        (
            "a binary authorization entry only",
            vec![("authorization-bin", &bearer)],
            Unauthenticated,
        ),
        (
            "the token in another entry",
            vec![("x-access-token", &valid)],
            Unauthenticated,
        ),
        ("alg none", vec![("authorization", &none)], Unauthenticated),
        (
            "a critical header parameter",
            vec![("authorization", &crit)],
            Unauthenticated,
        ),
        (
            "an events claim",
            vec![("authorization", &events)],
            Unauthenticated,
        ),
        (
            "sub an array",
            vec![("authorization", &wrong_type)],
            Unauthenticated,
        ),
        (
            "a token over the 8 KiB limit",
            vec![("authorization", &big_bearer)],
            Unauthenticated,
        ),
        (
            "garbage",
            vec![("authorization", "Bearer ...")],
            Unauthenticated,
        ),
    ];
    let mut report = String::new();
    for (name, metadata, expected) in &cases {
        let code = who_am_i(&channel, metadata).await;
        assert!(
            !matches!(
                code,
                tonic::Code::Internal | tonic::Code::Unknown | tonic::Code::Unavailable
            ),
            "{name}: {code:?} with the memory store"
        );
        if code != *expected {
            let _ = writeln!(report, "{name}: got {code:?}, expected {expected:?}");
        }
    }
    assert!(report.is_empty(), "calls that got another code:\n{report}");
    assert_eq!(who_am_i(&channel, &[("authorization", &bearer)]).await, Ok);
    drop(channel);
    drop(demo);
    assert_no_panic(&log);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- races on one token ---------------------------------------------------------------------

/// `GET /me` with `token` on a fresh connection: its status.
async fn me_status(addr: &str, token: &str) -> u16 {
    match exchange(addr, &me(token)).await {
        Outcome::Statuses(statuses) if statuses.len() == 1 => statuses[0],
        other => panic!("one response expected, got {other:?}"),
    }
}

async fn post_status(addr: &str, path: &str, token: &str) -> u16 {
    let request = post_form(path, &[&format!("Authorization: Bearer {token}")], "");
    match exchange(addr, &request).await {
        Outcome::Statuses(statuses) if statuses.len() == 1 => statuses[0],
        other => panic!("one response expected, got {other:?}"),
    }
}

/// Many requests with one token race its logout: every request sent after the logout was
/// acknowledged is refused, and each of the others gets 200 or 401, never anything else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_racing_a_logout_of_their_token_are_refused_from_its_acknowledgement_on() {
    let dir = scratch_dir("race");
    let (demo, log) = start(env!("CARGO_BIN_EXE_demo"), "DEMO_ADDR", &dir, "demo");
    let addr: Arc<str> = demo.url.trim_start_matches("http://").into();
    for round in 0..5 {
        let token: Arc<str> = signed(&claims("alice", &format!("race-{round}"))).into();
        let acknowledged = Arc::new(tokio::sync::OnceCell::new());
        let mut racers = Vec::new();
        for _ in 0..24 {
            let (addr, token, acknowledged) = (addr.clone(), token.clone(), acknowledged.clone());
            racers.push(tokio::spawn(async move {
                let sent_after_ack = acknowledged.get().is_some();
                (sent_after_ack, me_status(&addr, &token).await)
            }));
        }
        let logout = {
            let (addr, token, acknowledged) = (addr.clone(), token.clone(), acknowledged.clone());
            tokio::spawn(async move {
                let status = post_status(&addr, "/logout", &token).await;
                if status == 204 {
                    acknowledged.set(()).expect("set once");
                }
                status
            })
        };
        // Half the racers again, some of them after the acknowledgement.
        for _ in 0..24 {
            let (addr, token, acknowledged) = (addr.clone(), token.clone(), acknowledged.clone());
            racers.push(tokio::spawn(async move {
                tokio::task::yield_now().await;
                let sent_after_ack = acknowledged.get().is_some();
                (sent_after_ack, me_status(&addr, &token).await)
            }));
        }
        assert_eq!(
            logout.await.expect("joins"),
            204,
            "the logout is acknowledged"
        );
        // And a burst that certainly starts after it.
        for _ in 0..24 {
            let (addr, token) = (addr.clone(), token.clone());
            racers.push(tokio::spawn(async move {
                (true, me_status(&addr, &token).await)
            }));
        }
        for racer in racers {
            let (after, status) = racer.await.expect("joins");
            assert!(status == 200 || status == 401, "round {round}: {status}");
            if after {
                assert_eq!(
                    status, 401,
                    "round {round}: a request after the ack was let in"
                );
            }
        }
        assert_eq!(me_status(&addr, &token).await, 401, "round {round}");
    }
    drop(demo);
    assert_no_panic(&log);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same token revoked at once three ways (logout, log out everywhere, RFC 7009), twice
/// each: every one is acknowledged, none is a 5xx, and the token is refused afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_revocations_of_one_token_are_all_acknowledged() {
    let dir = scratch_dir("revocations");
    let (demo, log) = start(env!("CARGO_BIN_EXE_demo"), "DEMO_ADDR", &dir, "demo");
    let addr: Arc<str> = demo.url.trim_start_matches("http://").into();
    let token: Arc<str> = signed(&claims("bob", "race-all")).into();
    let mut tasks = Vec::new();
    for _ in 0..2 {
        for path in ["/logout", "/logout/all"] {
            let (addr, token) = (addr.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                (path, post_status(&addr, path, &token).await)
            }));
        }
        let (addr, token) = (addr.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let request = post_form(
                "/oauth/revoke",
                &["Content-Type: application/x-www-form-urlencoded"],
                &format!("token={token}"),
            );
            let status = match exchange(&addr, &request).await {
                Outcome::Statuses(statuses) => statuses[0],
                Outcome::Hang => panic!("RFC 7009 hung"),
            };
            ("/oauth/revoke", status)
        }));
    }
    for task in tasks {
        let (path, status) = task.await.expect("joins");
        // A logout that lost the race to another revocation meets an already refused token.
        let allowed: &[u16] = match path {
            "/oauth/revoke" => &[200],
            _ => &[204, 401],
        };
        assert!(allowed.contains(&status), "{path}: {status}");
    }
    assert_eq!(me_status(&addr, &token).await, 401);
    drop(demo);
    assert_no_panic(&log);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Logins of one user race that user's "log out everywhere": a token whose login began after
/// the log-out was acknowledged works at once; none of the answers is a 5xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_after_log_out_everywhere_works_at_once_even_mid_race() {
    let dir = scratch_dir("login-race");
    let (demo, log) = start(env!("CARGO_BIN_EXE_demo"), "DEMO_ADDR", &dir, "demo");
    let addr: Arc<str> = demo.url.trim_start_matches("http://").into();
    let token = signed(&claims("carol", "carol-0"));
    let acknowledged = Arc::new(tokio::sync::OnceCell::new());
    let mut logins = Vec::new();
    for i in 0..16 {
        let (addr, acknowledged) = (addr.clone(), acknowledged.clone());
        logins.push(tokio::spawn(async move {
            if i % 2 == 1 {
                tokio::time::sleep(Duration::from_millis(5 * i)).await;
            }
            let began_after_ack = acknowledged.get().is_some();
            let request = post_form(
                "/login",
                &["Content-Type: application/json"],
                r#"{"sub":"carol"}"#,
            );
            let response = tokio::time::timeout(EXCHANGE_TIMEOUT, async {
                let mut stream = TcpStream::connect(&*addr).await.expect("connects");
                stream.write_all(&request).await.expect("sends");
                let mut body = Vec::new();
                stream.read_to_end(&mut body).await.expect("reads");
                body
            })
            .await
            .expect("login answers");
            let text = String::from_utf8_lossy(&response).into_owned();
            assert!(text.starts_with("HTTP/1.1 200"), "login: {text}");
            let json = &text[text.find("\r\n\r\n").expect("a body") + 4..];
            let json: Value = serde_json::from_str(json).expect("JSON");
            let token = json["access_token"].as_str().expect("a token").to_owned();
            (began_after_ack, token)
        }));
    }
    let status = post_status(&addr, "/logout/all", &token).await;
    assert_eq!(status, 204);
    acknowledged.set(()).expect("once");
    for login in logins {
        let (after, token) = login.await.expect("joins");
        let status = me_status(&addr, &token).await;
        assert!(status == 200 || status == 401, "{status}");
        if after {
            assert_eq!(status, 200, "a login after the log-out was refused");
        }
    }
    drop(demo);
    assert_no_panic(&log);
    let _ = std::fs::remove_dir_all(&dir);
}
