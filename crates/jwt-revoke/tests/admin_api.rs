//! The admin API through its real router: every endpoint, every refusal, the store failing
//! (a full memory store, a real Redis crashed and paused), and the OpenAPI document checked
//! against the routes and the answers.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use jwt_revoke::admin::AdminApi;
use jwt_revoke::jsonwebtoken::{EncodingKey, Header, encode};
use jwt_revoke::ops::OperatorStore;
use jwt_revoke::{MemoryStore, Policy, RedisStoreConfig, Revocations, StoreConfig};
use jwt_revoke_redis::test_support::RedisServer;
use serde_json::{Value, json};
use tower::ServiceExt;

const ISSUER: &str = "https://auth.example.com";

// ---------------------------------------------------------------------------------------------
// Helpers

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

/// A policy for 15-minute tokens whose `azp` takes cut-offs.
fn policy() -> Policy {
    Policy::new(Duration::from_secs(900))
        .with_claim_cutoffs(["azp"])
        .expect("azp can take cut-offs")
}

fn memory_engine() -> Revocations {
    Revocations::new(Arc::new(MemoryStore::new()), policy())
}

fn router(revocations: Revocations) -> Router {
    AdminApi::new(revocations).into_router()
}

/// A token with these claims (HS256: the admin API reads it without checking the signature).
fn mint(claims: Value) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(b"a secret the admin API never needs"),
    )
    .expect("encodes")
}

/// A live token of `sub`, issued 10 s ago.
fn live_token(sub: &str, extra: Value) -> String {
    let mut claims = json!({
        "iss": ISSUER, "sub": sub, "jti": format!("jti-of-{sub}"),
        "iat": now() - 10, "exp": now() + 600,
    });
    if let (Some(claims), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
        claims.extend(extra.clone());
    }
    mint(claims)
}

#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
    json: Value,
}

impl Answer {
    fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or("")
    }
}

async fn send(app: &Router, method: Method, path: &str, body: Option<(&str, &str)>) -> Answer {
    let mut request = Request::builder().method(method).uri(path);
    if let Some((content_type, _)) = body {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let body = body.map_or_else(Body::empty, |(_, text)| Body::from(text.to_owned()));
    let response = app
        .clone()
        .oneshot(request.body(body).expect("a request"))
        .await
        .expect("the router never fails");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("a body");
    let text = String::from_utf8(bytes.to_vec()).expect("UTF-8");
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        text,
        json,
    }
}

async fn post(app: &Router, path: &str, body: &Value) -> Answer {
    send(
        app,
        Method::POST,
        path,
        Some(("application/json", &body.to_string())),
    )
    .await
}

async fn get(app: &Router, path: &str) -> Answer {
    send(app, Method::GET, path, None).await
}

/// A refusal as documented: the status, JSON `{"error", "error_description"}` with `code`.
fn assert_refusal(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert_eq!(
        answer
            .headers
            .get(header::CONTENT_TYPE)
            .map(|v| v.as_bytes()),
        Some(&b"application/json"[..]),
        "{answer:?}"
    );
    assert_eq!(answer.error(), code, "{answer:?}");
    assert!(
        answer.json["error_description"]
            .as_str()
            .is_some_and(|text| !text.is_empty()),
        "{answer:?}"
    );
}

/// A 503 from the store: JSON, `Retry-After`, never an acknowledgement.
fn assert_store_refusal(answer: &Answer, code: &str) {
    assert_refusal(answer, StatusCode::SERVICE_UNAVAILABLE, code);
    let retry = answer
        .headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    assert!(retry.is_some_and(|secs| secs >= 1), "{answer:?}");
    assert!(answer.json.get("revoked").is_none(), "{answer:?}");
}

/// The seconds of an RFC 3339 instant as the API writes it (`…T…Z`, UTC).
fn seconds_of(moment: &Value) -> i64 {
    let text = moment.as_str().expect("an instant");
    let (date, time) = text.split_once('T').expect("RFC 3339");
    let mut date = date.split('-').map(|n| n.parse::<i64>().expect("digits"));
    let (y, m, d) = (
        date.next().expect("year"),
        date.next().expect("month"),
        date.next().expect("day"),
    );
    let mut time = time
        .trim_end_matches('Z')
        .split([':', '.'])
        .map(|n| n.parse::<i64>().expect("digits"));
    let (hh, mm, ss) = (
        time.next().expect("h"),
        time.next().expect("m"),
        time.next().expect("s"),
    );
    // Days from civil (H. Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + hh * 3600 + mm * 60 + ss
}

// ---------------------------------------------------------------------------------------------
// The OpenAPI document against the router

/// The document's operations, as (method, path).
fn documented(document: &Value) -> BTreeSet<(String, String)> {
    let paths = document["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("a path item")
                .keys()
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect()
}

fn routed() -> BTreeSet<(String, String)> {
    AdminApi::endpoints()
        .iter()
        .map(|endpoint| (endpoint.method().to_string(), endpoint.path().to_owned()))
        .collect()
}

/// Resolves a local `$ref`.
fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("a local reference");
            document
                .pointer(pointer)
                .unwrap_or_else(|| panic!("{reference} resolves"))
        }
        None => schema,
    }
}

/// The JSON Schema keywords the document may use: the ones `validate` checks, and
/// annotations. A keyword outside this list would go unchecked, so the document may not use it.
const KEYWORDS: &[&str] = &[
    "$ref",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "anyOf",
    "minLength",
    "minimum",
    "description",
    "format",
];

fn check_keywords(schema: &Value, at: &str) {
    let Some(object) = schema.as_object() else {
        return;
    };
    for (keyword, value) in object {
        assert!(
            KEYWORDS.contains(&keyword.as_str()),
            "{at}: the schema keyword {keyword} is not checked by these tests"
        );
        match keyword.as_str() {
            "properties" => {
                for (name, property) in value.as_object().expect("properties") {
                    check_keywords(property, &format!("{at}.{name}"));
                }
            }
            "items" | "additionalProperties" => check_keywords(value, at),
            "anyOf" => {
                for one in value.as_array().expect("anyOf") {
                    check_keywords(one, at);
                }
            }
            _ => {}
        }
    }
}

/// Checks `value` against `schema`, for the keywords of [`KEYWORDS`].
fn validate(document: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(document, schema);
    if let Some(options) = schema.get("anyOf").and_then(Value::as_array)
        && !options
            .iter()
            .any(|option| validate(document, option, value, at).is_ok())
    {
        return Err(format!("{at}: {value} matches none of {options:?}"));
    }
    if let Some(expected) = schema.get("const")
        && expected != value
    {
        return Err(format!("{at}: {value} is not {expected}"));
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => return Err(format!("{at}: a type that is not a name")),
        };
        let matches = |name: &str| match name {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "string" => value.is_string(),
            "number" => value.is_number(),
            "integer" => value.is_i64() || value.is_u64(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => false,
        };
        if !types.iter().any(|name| matches(name)) {
            return Err(format!("{at}: {value} is not of type {types:?}"));
        }
    }
    if let (Some(min), Some(text)) = (
        schema.get("minLength").and_then(Value::as_u64),
        value.as_str(),
    ) && (text.chars().count() as u64) < min
    {
        return Err(format!("{at}: {value} is shorter than {min}"));
    }
    if let (Some(min), Some(n)) = (
        schema.get("minimum").and_then(Value::as_f64),
        value.as_f64(),
    ) && n < min
    {
        return Err(format!("{at}: {value} is below {min}"));
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = name.as_str().expect("a name");
            if !object.contains_key(name) {
                return Err(format!("{at}: {name} is required, in {value}"));
            }
        }
        for (name, member) in object {
            match properties.and_then(|properties| properties.get(name)) {
                Some(property) => validate(document, property, member, &format!("{at}.{name}"))?,
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return Err(format!("{at}: {name} is not documented, in {value}"));
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (n, item) in array.iter().enumerate() {
            validate(document, items, item, &format!("{at}[{n}]"))?;
        }
    }
    Ok(())
}

/// Checks an answer against what the document says `method path` answers with its status.
fn assert_documented(document: &Value, method: &Method, path: &str, answer: &Answer) {
    let operation = &document["paths"][path][method.as_str().to_lowercase()];
    let status = answer.status.as_str();
    let response = resolve(document, &operation["responses"][status]);
    assert!(
        response.is_object(),
        "{method} {path} answered {status}, which the document does not list: {answer:?}"
    );
    let schema = &response["content"]["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "{method} {path} {status}: no JSON schema"
    );
    if let Err(err) = validate(document, schema, &answer.json, "answer") {
        panic!("{method} {path} {status}: {err}");
    }
    if let Some(headers) = response.get("headers").and_then(Value::as_object) {
        for name in headers.keys() {
            assert!(
                answer.headers.contains_key(name.as_str()),
                "{method} {path} {status}: no {name} header"
            );
        }
    }
}

/// The documented example of an operation's body, its `token` replaced by `token` when given.
fn example(document: &Value, method: &Method, path: &str, token: Option<&str>) -> Option<Value> {
    let operation = &document["paths"][path][method.as_str().to_lowercase()];
    let mut example = operation["requestBody"]["content"]["application/json"]["example"].clone();
    if example.is_null() {
        return None;
    }
    if let (Some(token), Some(field)) = (token, example.get_mut("token")) {
        *field = Value::String(token.to_owned());
    }
    Some(example)
}

async fn served_document(app: &Router) -> Value {
    let answer = get(app, "/openapi.json").await;
    assert_eq!(answer.status, StatusCode::OK);
    answer.json
}

#[tokio::test]
async fn the_document_describes_every_route_and_no_other() {
    let app = router(memory_engine());
    let document = served_document(&app).await;
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|version| version.starts_with("3.1.")),
        "an OpenAPI 3.1 document"
    );
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        documented(&document),
        routed(),
        "the documented operations are the routed ones"
    );
    for (name, schema) in document["components"]["schemas"]
        .as_object()
        .expect("schemas")
    {
        check_keywords(schema, name);
    }
    // Every reference resolves.
    let text = document.to_string();
    for reference in text.split("\"$ref\":\"").skip(1) {
        let reference = &reference[..reference.find('"').expect("a closing quote")];
        let pointer = reference.strip_prefix('#').expect("local");
        assert!(document.pointer(pointer).is_some(), "{reference} resolves");
    }
    // A path nobody routes is a 404 JSON refusal; a routed path under another method a 405
    // with Allow naming the routed method.
    assert_refusal(
        &get(&app, "/revocations").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    for endpoint in AdminApi::endpoints() {
        let other = if endpoint.method() == Method::GET {
            Method::DELETE
        } else {
            Method::GET
        };
        let answer = send(&app, other.clone(), endpoint.path(), None).await;
        assert_refusal(
            &answer,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        );
        let allow = answer
            .headers
            .get(header::ALLOW)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            allow.contains(endpoint.method().as_str()),
            "{other} {}: Allow is {allow:?}",
            endpoint.path()
        );
    }
}

#[tokio::test]
async fn every_documented_operation_answers_its_example_as_documented() {
    let app = router(memory_engine());
    let document = served_document(&app).await;
    let fresh = live_token("example-user", json!({ "azp": "leaked-mobile-build" }));
    for (method, path) in documented(&document) {
        let method = Method::from_bytes(method.as_bytes()).expect("a method");
        // The example as written (its token has long expired), then with a live token.
        for token in [None, Some(fresh.as_str())] {
            let answer = match example(&document, &method, &path, token) {
                Some(body) => {
                    send(
                        &app,
                        method.clone(),
                        &path,
                        Some(("application/json", &body.to_string())),
                    )
                    .await
                }
                None => send(&app, method.clone(), &path, None).await,
            };
            assert!(
                answer.status != StatusCode::NOT_FOUND
                    && answer.status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}: {answer:?}"
            );
            assert_documented(&document, &method, &path, &answer);
            if token.is_some() {
                assert_eq!(answer.status, StatusCode::OK, "{method} {path}: {answer:?}");
            }
        }
    }
}

#[tokio::test]
async fn every_documented_body_refuses_a_field_it_does_not_list() {
    let app = router(memory_engine());
    let document = served_document(&app).await;
    let fresh = live_token("strict-user", json!({}));
    let mut bodies = 0;
    for (method, path) in documented(&document) {
        let method = Method::from_bytes(method.as_bytes()).expect("a method");
        let Some(mut body) = example(&document, &method, &path, Some(&fresh)) else {
            continue;
        };
        bodies += 1;
        body["atx"] = json!(1);
        let answer = post(&app, &path, &body).await;
        assert_refusal(&answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
        assert!(
            answer.json["error_description"]
                .as_str()
                .is_some_and(|text| text.contains("atx")),
            "names the unknown field: {answer:?}"
        );
        assert_documented(&document, &method, &path, &answer);
        // And the documented schema says so too.
        let schema = &document["paths"][&path]["post"]["requestBody"]["content"]["application/json"]
            ["schema"];
        assert!(validate(&document, schema, &body, "body").is_err());
    }
    assert_eq!(bodies, 6, "every POST endpoint has an example body");
}

// ---------------------------------------------------------------------------------------------
// What the endpoints do

#[tokio::test]
async fn a_revoked_users_token_checks_as_revoked_by_that_cutoff() {
    let app = router(memory_engine());
    let token = live_token("alice", json!({}));
    let before = post(&app, "/check", &json!({ "token": token })).await;
    assert_eq!(before.status, StatusCode::OK, "{before:?}");
    assert_eq!(before.json["refused"], false);
    assert_eq!(before.json["decision"], Value::Null);

    let revoked = post(
        &app,
        "/revocations/users",
        &json!({ "iss": ISSUER, "sub": "alice" }),
    )
    .await;
    assert_eq!(revoked.status, StatusCode::OK, "{revoked:?}");
    assert_eq!(revoked.json["revoked"], "user");
    assert_eq!(revoked.json["sub"], "alice");
    let cutoff = &revoked.json["cutoff"];
    // Now plus the 2 s iat allowance: covers every token accepted now.
    let at = seconds_of(&cutoff["at"]);
    assert!((now()..=now() + 3).contains(&at), "{cutoff}");
    assert_eq!(cutoff["first_valid_iat"], at + 1);

    let after = post(&app, "/check", &json!({ "token": token })).await;
    assert_eq!(after.status, StatusCode::OK, "{after:?}");
    assert_eq!(after.json["refused"], true);
    assert_eq!(after.json["decision"], "user_cutoff");
    assert_eq!(
        &after.json["cutoff"], cutoff,
        "the cut-off the revocation answered"
    );
    assert_eq!(&after.json["records"]["user_cutoff"], cutoff);
    assert_eq!(after.json["records"]["token_record"], false);

    // A token issued at first_valid_iat is not covered.
    let fresh = mint(json!({
        "iss": ISSUER, "sub": "alice", "jti": "fresh",
        "iat": at + 1, "exp": at + 600,
    }));
    tokio::time::sleep(Duration::from_millis(10)).await;
    let fresh = post(&app, "/check", &json!({ "token": fresh })).await;
    assert_eq!(fresh.status, StatusCode::OK, "{fresh:?}");
    assert_eq!(fresh.json["refused"], false, "{fresh:?}");
}

#[tokio::test]
async fn a_cutoff_never_moves_back_and_never_reaches_ahead() {
    let app = router(memory_engine());
    let later = now() - 5;
    let first = post(
        &app,
        "/revocations/users",
        &json!({ "iss": ISSUER, "sub": "bob", "at": later }),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{first:?}");
    assert_eq!(seconds_of(&first.json["cutoff"]["at"]), later);
    // An earlier instant changes nothing: the answer is the cut-off in force.
    let earlier = post(
        &app,
        "/revocations/users",
        &json!({ "iss": ISSUER, "sub": "bob", "at": later - 60 }),
    )
    .await;
    assert_eq!(earlier.json["cutoff"], first.json["cutoff"], "{earlier:?}");
    // A day ahead is brought back to now plus the allowance: tokens not issued yet survive.
    let ahead = post(
        &app,
        "/revocations/users",
        &json!({ "iss": ISSUER, "sub": "bob", "at": now() + 86_400 }),
    )
    .await;
    assert!(
        seconds_of(&ahead.json["cutoff"]["at"]) <= now() + 2,
        "{ahead:?}"
    );
    // A fractional instant is taken to the microsecond.
    let instant = now() - 30;
    let exact = post(
        &app,
        "/revocations/sessions",
        &json!({ "iss": ISSUER, "sid": "s-1", "at": instant as f64 + 0.25 }),
    )
    .await;
    assert_eq!(exact.status, StatusCode::OK, "{exact:?}");
    let at = exact.json["cutoff"]["at"].as_str().expect("an instant");
    assert!(at.ends_with(".250000Z"), "{exact:?}");
    assert_eq!(seconds_of(&exact.json["cutoff"]["at"]), instant);
    // An instant before which every token has expired revokes nothing: refused, saying so
    // (here: 2023, or milliseconds read as seconds the other way round).
    for at in [json!(1_700_000_000), json!(0), json!(-1.5)] {
        let answer = post(
            &app,
            "/revocations/users",
            &json!({ "iss": ISSUER, "sub": "bob", "at": at }),
        )
        .await;
        assert_refusal(&answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
        assert_eq!(answer.json["field"], "at");
    }
}

#[tokio::test]
async fn sessions_and_claim_values_are_revoked_and_seen_by_checks() {
    let app = router(memory_engine());
    let in_session = live_token("carol", json!({ "sid": "s-42" }));
    let of_app = live_token("dave", json!({ "azp": "leaked-mobile-build" }));

    let ended = post(
        &app,
        "/revocations/sessions",
        &json!({ "iss": ISSUER, "sid": "s-42" }),
    )
    .await;
    assert_eq!(ended.status, StatusCode::OK, "{ended:?}");
    assert_eq!(ended.json["revoked"], "session");
    let check = post(&app, "/check", &json!({ "token": in_session })).await;
    assert_eq!(check.json["decision"], "session_cutoff", "{check:?}");
    assert_eq!(check.json["cutoff"], ended.json["cutoff"]);

    // An integer value is its decimal digits; a string is itself.
    let revoked = post(
        &app,
        "/revocations/claims",
        &json!({ "iss": ISSUER, "claim": "azp", "value": "leaked-mobile-build" }),
    )
    .await;
    assert_eq!(revoked.status, StatusCode::OK, "{revoked:?}");
    assert_eq!(revoked.json["revoked"], "claim");
    let check = post(&app, "/check", &json!({ "token": of_app })).await;
    assert_eq!(check.json["decision"], "claim_cutoff", "{check:?}");
    assert_eq!(check.json["claim"], "azp=leaked-mobile-build");
    let numeric = post(
        &app,
        "/revocations/claims",
        &json!({ "iss": ISSUER, "claim": "azp", "value": 42 }),
    )
    .await;
    assert_eq!(numeric.json["value"], "42", "{numeric:?}");
    let check = post(
        &app,
        "/check",
        &json!({ "token": live_token("erin", json!({ "azp": "42" })) }),
    )
    .await;
    assert_eq!(check.json["decision"], "claim_cutoff", "{check:?}");
}

#[tokio::test]
async fn a_claim_outside_the_policy_is_refused_and_nothing_is_written() {
    let store = Arc::new(MemoryStore::new());
    let app = router(Revocations::new(store.clone(), policy()));
    let answer = post(
        &app,
        "/revocations/claims",
        &json!({ "iss": ISSUER, "claim": "device", "value": "d-1" }),
    )
    .await;
    assert_refusal(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "claim_not_in_policy",
    );
    assert_eq!(answer.json["field"], "claim");
    assert!(
        answer.json["error_description"]
            .as_str()
            .is_some_and(|text| text.contains("azp")),
        "says which claims the policy takes: {answer:?}"
    );
    assert!(store.is_empty(), "nothing was written");
    // A policy without claim cut-offs says so.
    let none = router(Revocations::new(
        Arc::new(MemoryStore::new()),
        Policy::new(Duration::from_secs(900)),
    ));
    let answer = post(
        &none,
        "/revocations/claims",
        &json!({ "iss": ISSUER, "claim": "azp", "value": "x" }),
    )
    .await;
    assert_refusal(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "claim_not_in_policy",
    );
}

#[tokio::test]
async fn a_leaked_token_is_revoked_as_pasted_and_never_echoed() {
    let app = router(memory_engine());
    let token = live_token("frank", json!({}));
    let pasted = format!("Bearer {token}\n");
    let mut answers = Vec::new();

    let revoked = post(&app, "/revocations/tokens", &json!({ "token": pasted })).await;
    assert_eq!(revoked.status, StatusCode::OK, "{revoked:?}");
    assert_eq!(revoked.json["revoked"], "token");
    assert_eq!(revoked.json["outcome"], "recorded");
    assert_eq!(revoked.json["token"]["jti"], "jti-of-frank");
    // Until its expiry plus the policy's 60 s leeway.
    let until = seconds_of(&revoked.json["recorded_until"]);
    let exp = seconds_of(&revoked.json["token"]["expires_at"]);
    assert_eq!(until, exp + 60);
    answers.push(revoked);

    let check = post(&app, "/check", &json!({ "token": token })).await;
    assert_eq!(check.json["decision"], "token_record", "{check:?}");
    assert_eq!(check.json["records"]["token_record"], true);
    assert_eq!(seconds_of(&check.json["refused_until"]), until);
    answers.push(check);

    // A token without jti is identified by its payload's digest.
    let anonymous = mint(json!({
        "iss": ISSUER, "sub": "frank", "iat": now() - 1, "exp": now() + 300,
    }));
    let revoked = post(&app, "/revocations/tokens", &json!({ "token": anonymous })).await;
    assert_eq!(revoked.json["outcome"], "recorded", "{revoked:?}");
    assert!(revoked.json["token"]["payload_digest"].is_string());
    answers.push(revoked);
    let check = post(&app, "/check", &json!({ "token": anonymous })).await;
    assert_eq!(check.json["decision"], "token_record", "{check:?}");
    answers.push(check);

    // Refusals about a token quote none of it either.
    let garbled = format!("{token}.x.y");
    answers.push(post(&app, "/check", &json!({ "token": garbled })).await);
    answers.push(post(&app, "/revocations/tokens", &json!({ "tokn": token })).await);
    answers.push(post(&app, "/revocations/tokens", &json!({ "token": [token] })).await);
    let mut keyed = serde_json::Map::new();
    keyed.insert("token".into(), json!(token));
    keyed.insert(token.clone(), json!(1));
    answers.push(post(&app, "/check", &Value::Object(keyed)).await);
    answers.push(
        post(
            &app,
            "/revocations/users",
            &json!({ "iss": ISSUER, "sub": 7, "at": token }),
        )
        .await,
    );

    let parts: Vec<&str> = token.split('.').collect();
    for answer in &answers {
        let headers = format!("{:?}", answer.headers);
        for secret in [token.as_str(), parts[0], parts[1], parts[2]] {
            assert!(
                !answer.text.contains(secret) && !headers.contains(secret),
                "an answer quotes the token: {answer:?}"
            );
        }
    }
    assert!(
        answers[4..]
            .iter()
            .all(|answer| answer.status.is_client_error())
    );
}

#[tokio::test]
async fn a_jti_is_revoked_by_its_identity_with_a_bounded_record() {
    let app = router(memory_engine());
    let token = live_token("grace", json!({}));
    let revoked = post(
        &app,
        "/revocations/jti",
        &json!({ "iss": ISSUER, "sub": "grace", "jti": "jti-of-grace" }),
    )
    .await;
    assert_eq!(revoked.status, StatusCode::OK, "{revoked:?}");
    assert_eq!(revoked.json["outcome"], "recorded");
    // Without an expiry: as long as a token accepted now can live (now + 2 s + 900 s), plus
    // the leeway.
    let until = seconds_of(&revoked.json["recorded_until"]);
    assert!((now() + 960..=now() + 963).contains(&until), "{revoked:?}");
    let check = post(&app, "/check", &json!({ "token": token })).await;
    assert_eq!(check.json["decision"], "token_record", "{check:?}");

    let for_a_minute = post(
        &app,
        "/revocations/jti",
        &json!({ "iss": ISSUER, "sub": "grace", "jti": "j-2", "for_seconds": 60 }),
    )
    .await;
    let until = seconds_of(&for_a_minute.json["recorded_until"]);
    assert!(
        (now() + 119..=now() + 121).contains(&until),
        "{for_a_minute:?}"
    );

    // Both, a zero, milliseconds where seconds belong, an empty jti: refused, named.
    for (body, field) in [
        (
            json!({ "iss": ISSUER, "sub": "g", "jti": "j", "for_seconds": 60, "expires_at": now() + 60 }),
            None,
        ),
        (
            json!({ "iss": ISSUER, "sub": "g", "jti": "j", "for_seconds": 0 }),
            Some("for_seconds"),
        ),
        (
            json!({ "iss": ISSUER, "sub": "g", "jti": "j", "expires_at": now() * 1000 }),
            Some("expires_at"),
        ),
        (
            json!({ "iss": ISSUER, "sub": "g", "jti": "j", "for_seconds": 86_400 }),
            Some("for_seconds"),
        ),
        (json!({ "iss": ISSUER, "sub": "g", "jti": "" }), Some("jti")),
        (
            json!({ "iss": ISSUER, "sub": "g", "jti": "j", "for_seconds": -5 }),
            Some("for_seconds"),
        ),
    ] {
        let answer = post(&app, "/revocations/jti", &body).await;
        assert_refusal(&answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
        assert_eq!(answer.json["field"].as_str(), field, "{body} → {answer:?}");
    }
    // An expiry that has passed: nothing to store, and it says so.
    let past = post(
        &app,
        "/revocations/jti",
        &json!({ "iss": ISSUER, "sub": "g", "jti": "old", "expires_at": now() - 3600 }),
    )
    .await;
    assert_eq!(past.status, StatusCode::OK, "{past:?}");
    assert_eq!(past.json["outcome"], "already_expired");
}

#[tokio::test]
async fn an_expired_token_gets_a_clear_answer() {
    let store = Arc::new(MemoryStore::new());
    let app = router(Revocations::new(store.clone(), policy()));
    let expired = mint(json!({
        "iss": ISSUER, "sub": "heidi", "jti": "e-1", "iat": now() - 1000, "exp": now() - 500,
    }));
    let revoked = post(&app, "/revocations/tokens", &json!({ "token": expired })).await;
    assert_eq!(revoked.status, StatusCode::OK, "{revoked:?}");
    assert_eq!(revoked.json["outcome"], "already_expired");
    assert!(revoked.json.get("recorded_until").is_none());
    assert!(store.is_empty(), "nothing was stored");
    let check = post(&app, "/check", &json!({ "token": expired })).await;
    assert_refusal(&check, StatusCode::UNPROCESSABLE_ENTITY, "token_expired");

    // Claims the policy never accepts: nothing can be recorded, and the answer says why.
    let no_sub = mint(json!({ "iss": ISSUER, "jti": "x", "exp": now() + 60 }));
    let answer = post(&app, "/revocations/tokens", &json!({ "token": no_sub })).await;
    assert_refusal(&answer, StatusCode::UNPROCESSABLE_ENTITY, "token_refused");
    assert!(answer.text.contains("sub"), "{answer:?}");
    let too_long = mint(json!({
        "iss": ISSUER, "sub": "s", "iat": now(), "exp": now() + 86_400,
    }));
    let answer = post(&app, "/check", &json!({ "token": too_long })).await;
    assert_refusal(&answer, StatusCode::UNPROCESSABLE_ENTITY, "token_refused");
    // An encrypted token, or anything that is not a JWT.
    for text in ["a.b.c.d.e", "not a token", ""] {
        let answer = post(&app, "/revocations/tokens", &json!({ "token": text })).await;
        assert_refusal(&answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid_token");
        assert_eq!(answer.json["field"], "token");
    }
    assert!(store.is_empty());
}

#[tokio::test]
async fn every_bad_input_is_a_4xx_json_refusal_that_quotes_nothing() {
    let app = AdminApi::new(memory_engine())
        .max_body_bytes(1024)
        .into_router();
    let token = live_token("ivan", json!({}));
    let user = json!({ "iss": ISSUER, "sub": "ivan" }).to_string();
    let big = json!({ "iss": ISSUER, "sub": "x".repeat(2048) }).to_string();
    let cases: Vec<(Option<&str>, Vec<u8>, StatusCode, &str)> = vec![
        (
            None,
            Vec::from(user.clone()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            Some("text/plain"),
            Vec::from(user.clone()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            Some("application/x-www-form-urlencoded"),
            Vec::from(format!("token={token}")),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            Some("application/json"),
            Vec::from(String::new()),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            Some("application/json"),
            Vec::from("{"),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            Some("application/json"),
            Vec::from(format!("{user} {user}")),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            Some("application/json"),
            Vec::from(format!("{{\"iss\": \"{token}\", }}")),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            Some("application/json"),
            Vec::from("\u{feff}{}"),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            Some("application/json"),
            Vec::from(big),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
        (
            Some("application/json"),
            Vec::from("[]"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            Some("application/json"),
            Vec::from(json!([ISSUER, "ivan"]).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            Some("application/json"),
            Vec::from("null"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            Some("application/json"),
            Vec::from(format!("\"{token}\"")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            Some("application/json"),
            Vec::from("{}"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            Some("application/json"),
            Vec::from(json!({ "iss": ISSUER }).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            Some("application/json"),
            Vec::from(json!({ "iss": ISSUER, "sub": token.as_bytes() }).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            Some("application/json"),
            Vec::from(json!({ "iss": ISSUER, "sub": "ivan", "at": token }).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            Some("application/json"),
            Vec::from(json!({ "iss": ISSUER, "sub": "ivan", "at": 1e300 }).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            Some("application/json"),
            Vec::from(json!({ "iss": ISSUER, "sub": "ivan", "token": token }).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            Some("application/json"),
            Vec::from(format!(
                "{{\"iss\": \"{ISSUER}\", \"sub\": \"a\", \"sub\": \"{token}\"}}"
            )),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            Some("application/json"),
            Vec::from(json!({ "iss": "", "sub": "ivan" }).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            Some("application/json"),
            Vec::from(json!({ "iss": ISSUER, "sub": "ivan\n" }).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            Some("application/json"),
            Vec::from("{\"iss\": \"a\", \"sub\": \"\\ud800\"}"),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            Some("application/json"),
            b"{\"iss\": \"\xff\"}".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            Some("application/json"),
            Vec::from(format!("{}1{}", "[".repeat(200), "]".repeat(200))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            Some("application/json"),
            Vec::from(format!(
                "{{\"iss\": {}1{}, \"sub\": \"a\"}}",
                "[".repeat(400),
                "]".repeat(400)
            )),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
    ];
    for (content_type, body, status, code) in cases {
        let mut request = Request::post("/revocations/users");
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::from(body.clone())).expect("a request"))
            .await
            .expect("never fails");
        let answer = Answer {
            status: response.status(),
            headers: response.headers().clone(),
            text: String::from_utf8_lossy(
                &axum::body::to_bytes(response.into_body(), 1 << 20)
                    .await
                    .expect("a body"),
            )
            .into_owned(),
            json: Value::Null,
        };
        let answer = Answer {
            json: serde_json::from_str(&answer.text).unwrap_or(Value::Null),
            ..answer
        };
        let shown: String = String::from_utf8_lossy(&body).chars().take(60).collect();
        assert_eq!(answer.status, status, "{shown:?} → {answer:?}");
        assert_refusal(&answer, status, code);
        assert!(!answer.text.contains(&token), "{shown:?} → {answer:?}");
        assert!(!answer.text.contains("eyJ"), "{shown:?} → {answer:?}");
    }
}

#[tokio::test]
async fn truncated_bodies_are_refused_never_a_5xx_and_never_done() {
    let store = Arc::new(MemoryStore::new());
    let app = router(Revocations::new(store.clone(), policy()));
    let document = served_document(&app).await;
    let fresh = live_token("judy", json!({ "azp": "app" }));
    for endpoint in AdminApi::endpoints() {
        let (method, path) = (endpoint.method(), endpoint.path());
        let Some(body) = example(&document, &method, path, Some(&fresh)) else {
            continue;
        };
        let text = body.to_string();
        // Every prefix of the body but the whole (a byte boundary inside a character too).
        for end in 0..text.len() {
            let cut = String::from_utf8_lossy(&text.as_bytes()[..end]).into_owned();
            let answer = send(&app, method.clone(), path, Some(("application/json", &cut))).await;
            assert!(
                answer.status == StatusCode::BAD_REQUEST
                    || answer.status == StatusCode::UNPROCESSABLE_ENTITY,
                "{path} with {end} bytes: {answer:?}"
            );
            assert!(answer.error().starts_with("invalid_"), "{answer:?}");
            assert_documented(&document, &method, path, &answer);
        }
    }
    assert!(store.is_empty(), "no prefix revoked anything");
}

#[tokio::test]
async fn a_full_store_acknowledges_nothing() {
    let store = Arc::new(MemoryStore::builder().capacity(0).build());
    let app = router(Revocations::new(store.clone(), policy()));
    let document = served_document(&app).await;
    let token = live_token("mallory", json!({ "azp": "app" }));
    for endpoint in AdminApi::endpoints().iter().filter(|e| e.revokes()) {
        let body = example(&document, &endpoint.method(), endpoint.path(), Some(&token))
            .expect("an example");
        let answer = post(&app, endpoint.path(), &body).await;
        assert_store_refusal(&answer, "store_full");
        assert_documented(&document, &endpoint.method(), endpoint.path(), &answer);
    }
    assert!(store.is_empty());
    let check = post(&app, "/check", &json!({ "token": token })).await;
    assert_eq!(
        check.json["refused"], false,
        "nothing was revoked: {check:?}"
    );
}

#[tokio::test]
async fn only_the_listed_issuers_are_taken() {
    let store = Arc::new(MemoryStore::new());
    let app = AdminApi::new(Revocations::new(store.clone(), policy()))
        .issuers([ISSUER])
        .into_router();
    let other = format!("{ISSUER}/");
    for (path, body) in [
        ("/revocations/users", json!({ "iss": other, "sub": "a" })),
        ("/revocations/sessions", json!({ "iss": other, "sid": "a" })),
        (
            "/revocations/claims",
            json!({ "iss": other, "claim": "azp", "value": "a" }),
        ),
        (
            "/revocations/jti",
            json!({ "iss": other, "sub": "a", "jti": "b" }),
        ),
        (
            "/revocations/tokens",
            json!({ "token": mint(json!({ "iss": other, "sub": "a", "exp": now() + 60 })) }),
        ),
        (
            "/check",
            json!({ "token": mint(json!({ "iss": other, "sub": "a", "exp": now() + 60 })) }),
        ),
    ] {
        let answer = post(&app, path, &body).await;
        assert_refusal(&answer, StatusCode::UNPROCESSABLE_ENTITY, "unknown_issuer");
        assert_eq!(answer.json["field"], "iss");
    }
    assert!(store.is_empty());
    let answer = post(
        &app,
        "/revocations/users",
        &json!({ "iss": ISSUER, "sub": "a" }),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn mounted_under_a_prefix_behind_a_bearer_check() {
    use axum::extract::Request as AxumRequest;
    use axum::middleware::{self, Next};
    use axum::response::Response;

    async fn operators_only(request: AxumRequest, next: Next) -> Result<Response, StatusCode> {
        match request.headers().get(header::AUTHORIZATION) {
            Some(value) if value == "Bearer operators" => Ok(next.run(request).await),
            _ => Err(StatusCode::UNAUTHORIZED),
        }
    }
    let admin = AdminApi::new(memory_engine())
        .openapi_server_url("/admin")
        .into_router()
        .layer(middleware::from_fn(operators_only));
    let app = Router::new().nest("/admin", admin);
    let call = |path: &str, bearer: Option<&str>| {
        let mut request = Request::get(path);
        if let Some(bearer) = bearer {
            request = request.header(header::AUTHORIZATION, format!("Bearer {bearer}"));
        }
        let app = app.clone();
        let request = request.body(Body::empty()).expect("a request");
        async move { app.oneshot(request).await.expect("never fails") }
    };
    // Without the secret, nothing answers but 401: not even which paths exist.
    for path in [
        "/admin/status",
        "/admin/openapi.json",
        "/admin/nothing-here",
    ] {
        assert_eq!(
            call(path, None).await.status(),
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        assert_eq!(
            call(path, Some("guess")).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let status = call("/admin/status", Some("operators")).await;
    assert_eq!(status.status(), StatusCode::OK);
    let document = call("/admin/openapi.json", Some("operators")).await;
    let document: Value = serde_json::from_slice(
        &axum::body::to_bytes(document.into_body(), 1 << 20)
            .await
            .expect("a body"),
    )
    .expect("JSON");
    assert_eq!(document["servers"][0]["url"], "/admin");
    let missing = call("/admin/nothing-here", Some("operators")).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------------
// A real Redis

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_is_a_503_and_nothing_is_acknowledged() {
    let mut server = RedisServer::start();
    let config = RedisStoreConfig::from_url(server.url()).with_timeout(Duration::from_millis(200));
    let store = config
        .build()
        .await
        .expect("the server accepts connections");
    let revocations = Revocations::new(Arc::new(store), policy());
    let operator = OperatorStore::open(&StoreConfig::Redis(config))
        .await
        .expect("opens");
    let app = AdminApi::new(revocations)
        .with_store_status(operator)
        .into_router();
    let document = served_document(&app).await;
    let token = live_token("oscar", json!({ "azp": "app", "sid": "s-9" }));

    // Healthy: the status is the operator's report too, as documented.
    let status = get(&app, "/status").await;
    assert_eq!(status.status, StatusCode::OK, "{status:?}");
    assert_documented(&document, &Method::GET, "/status", &status);
    assert_eq!(status.json["healthy"], true);
    assert_eq!(status.json["store"]["kind"], "redis");
    assert_eq!(status.json["store"]["reachable"], true);
    assert!(
        status.json["store"]["data_loss"]["marker"].is_string(),
        "{status:?}"
    );
    let revoked = post(
        &app,
        "/revocations/users",
        &json!({ "iss": ISSUER, "sub": "oscar" }),
    )
    .await;
    assert_eq!(revoked.status, StatusCode::OK, "{revoked:?}");
    let check = post(&app, "/check", &json!({ "token": token })).await;
    assert_eq!(check.json["decision"], "user_cutoff", "{check:?}");
    assert_documented(&document, &Method::POST, "/check", &check);

    // Paused: every call fails within the timeout, never a hang, never "revoked".
    server.pause();
    let started = Instant::now();
    let answer = post(
        &app,
        "/revocations/sessions",
        &json!({ "iss": ISSUER, "sid": "s-9" }),
    )
    .await;
    assert_store_refusal(&answer, "store_unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    server.resume();

    // Crashed: every revoking endpoint answers 503 and acknowledges nothing.
    server.crash();
    for endpoint in AdminApi::endpoints().iter().filter(|e| e.revokes()) {
        let body = example(&document, &endpoint.method(), endpoint.path(), Some(&token))
            .expect("an example");
        let answer = post(&app, endpoint.path(), &body).await;
        assert_store_refusal(&answer, "store_unavailable");
        assert_documented(&document, &endpoint.method(), endpoint.path(), &answer);
    }
    let check = post(&app, "/check", &json!({ "token": token })).await;
    assert_store_refusal(&check, "store_unavailable");
    let status = get(&app, "/status").await;
    assert_eq!(status.status, StatusCode::SERVICE_UNAVAILABLE, "{status:?}");
    assert!(status.headers.contains_key(header::RETRY_AFTER));
    assert_eq!(status.json["healthy"], false);
    assert_eq!(status.json["engine"]["reachable"], false);
    assert_documented(&document, &Method::GET, "/status", &status);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_lost_its_data_fails_closed_and_never_acknowledges() {
    use jwt_revoke::redis::DataLossReaction;

    let mut server = RedisServer::start();
    let config = RedisStoreConfig::from_url(server.url())
        .with_timeout(Duration::from_millis(200))
        .with_data_loss_reaction(DataLossReaction::FailClosed);
    let store = config
        .build()
        .await
        .expect("the server accepts connections");
    let app = router(Revocations::new(Arc::new(store), policy()));
    let document = served_document(&app).await;
    let user = json!({ "iss": ISSUER, "sub": "peggy" });
    let revoked = post(&app, "/revocations/users", &user).await;
    assert_eq!(revoked.status, StatusCode::OK, "{revoked:?}");

    // The server comes back empty: every revocation it held is gone.
    server.restart_empty();
    let deadline = Instant::now() + Duration::from_secs(10);
    let noticed = loop {
        let answer = post(&app, "/revocations/users", &user).await;
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{answer:?}");
        if answer.error() == "store_data_loss" {
            break answer;
        }
        assert_store_refusal(&answer, "store_unavailable");
        assert!(Instant::now() < deadline, "the loss is never noticed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_store_refusal(&noticed, "store_data_loss");
    assert_documented(&document, &Method::POST, "/revocations/users", &noticed);
    let check = post(
        &app,
        "/check",
        &json!({ "token": live_token("peggy", json!({})) }),
    )
    .await;
    assert_store_refusal(&check, "store_data_loss");
    let status = get(&app, "/status").await;
    assert_eq!(status.status, StatusCode::SERVICE_UNAVAILABLE, "{status:?}");
    assert_eq!(status.json["healthy"], false);
    assert_eq!(
        status.json["engine"]["reachable"], true,
        "it answers, with an error"
    );
    assert_documented(&document, &Method::GET, "/status", &status);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_may_evict_is_a_store_failure_never_a_revocation() {
    let server = RedisServer::start();
    let store = RedisStoreConfig::from_url(server.url())
        .with_policy_check_interval(Duration::from_millis(50))
        .build()
        .await
        .expect("the server accepts connections");
    let app = router(Revocations::new(Arc::new(store), policy()));
    let document = served_document(&app).await;
    let session = json!({ "iss": ISSUER, "sid": "s-7" });
    assert_eq!(
        post(&app, "/revocations/sessions", &session).await.status,
        StatusCode::OK
    );
    // Someone turns eviction on: a record written now could vanish, a revoked token return.
    server.cli(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        let answer = post(&app, "/revocations/sessions", &session).await;
        if answer.status != StatusCode::OK {
            break answer;
        }
        assert!(Instant::now() < deadline, "the policy is never re-checked");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_store_refusal(&refused, "store_failed");
    assert!(
        refused.json["error_description"]
            .as_str()
            .is_some_and(|text| text.contains("may not have happened")),
        "{refused:?}"
    );
    assert_documented(&document, &Method::POST, "/revocations/sessions", &refused);
}
