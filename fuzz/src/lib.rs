//! What the fuzz targets share: tokens built from fuzzed specs and signed with the targets'
//! keys, requests built around them, the layer and receivers under test over a memory store
//! with a fixed clock, and a reference verifier written from the layer's documented rules.
//!
//! Most inputs are structured (`arbitrary`), so that the fuzzer controls the *claims* of a
//! token that is still correctly signed: a mutated byte of a signed token only ever tests the
//! signature check. Every default of a spec (the all-zero input) is an accepted request, so
//! the fuzzer starts from accepted requests and mutates them.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arbitrary::Arbitrary;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response};
use http_body_util::Full;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use jwt_revoke_core::{ManualClock, Policy, Revocations, Timestamp, TokenId, UserId};
use jwt_revoke_memory::MemoryStore;
use jwt_revoke_tower::{Claims, DecodingKeys, RevocationHandle, RevocationLayer, TokenSource};
use serde_json::Value;
use tower::{Service, ServiceExt as _};

/// The clock of every target: a fixed instant, moved only by the input.
pub const NOW_SECS: i64 = 1_800_000_000;
/// The layer's issuer and audience.
pub const ISSUER: &str = "https://issuer.example";
/// The layer's audience.
pub const AUDIENCE: &str = "api";
/// The default key (tokens without `kid`).
pub const KEY_DEFAULT: &[u8] = b"fuzz default key, 32 bytes long!";
/// The key of `kid` `k1`.
pub const KEY_K1: &[u8] = b"fuzz key of kid k1, 32 bytes ok!";
/// A key the layer does not know.
pub const KEY_WRONG: &[u8] = b"a key nobody trusts, 32 bytes...";
/// The cookie and header the layer also reads.
pub const COOKIE_NAME: &str = "at";
/// The custom token header.
pub const TOKEN_HEADER: &str = "x-token";
/// The layer's size limit of a token.
pub const MAX_TOKEN_BYTES: usize = 4096;
/// The policy's longest lifetime.
pub const MAX_LIFETIME: Duration = Duration::from_secs(900);
/// The policy's leeway (its default).
pub const LEEWAY: Duration = Duration::from_secs(60);
/// The policy's skew allowance for `iat` (its default).
pub const SKEW: Duration = Duration::from_secs(2);
/// The one path that bypasses the layer.
pub const BYPASS: &str = "/healthz";

/// A current-thread Tokio runtime with the timer (the layer bounds store calls with it).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime");
    }
    RUNTIME.with(|runtime| runtime.block_on(future))
}

// ---------------------------------------------------------------------------------------
// Tokens.

/// The `alg` a token's header names.
#[derive(Arbitrary, Debug, Clone)]
pub enum AlgChoice {
    /// HS256 (allowed).
    Hs256,
    /// HS384 (allowed).
    Hs384,
    /// HS512 (not in the allowlist).
    Hs512,
    /// Any text (`none`, `RS256`, ...), signed with HS256.
    Named(String),
}

/// The `typ` of a token's header.
#[derive(Arbitrary, Debug, Clone)]
pub enum TypChoice {
    /// No `typ`.
    Absent,
    /// `JWT`.
    Jwt,
    /// `at+jwt`.
    AtJwt,
    /// `logout+jwt` (an event token).
    LogoutJwt,
    /// `application/secevent+jwt` (an event token).
    SeceventJwt,
    /// Any text.
    Other(String),
}

/// The `kid` of a token's header.
#[derive(Arbitrary, Debug, Clone)]
pub enum KidChoice {
    /// No `kid`: the default key.
    Absent,
    /// `k1`.
    K1,
    /// Any text.
    Other(String),
}

/// The key a token is signed with.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum KeyChoice {
    /// The key the layer uses for the token's `kid`.
    Matching,
    /// The default key.
    Default,
    /// `k1`'s key.
    K1,
    /// A key the layer does not know.
    Wrong,
}

/// How a NumericDate is written.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum DateRepr {
    /// An integer.
    Int,
    /// With a fractional part of this many microseconds.
    Fraction(u32),
    /// An integer written as a float (`1.8e9`).
    Exponent,
    /// A string.
    Text,
    /// `null`.
    Null,
}

/// A NumericDate claim, as an offset in seconds from a default.
#[derive(Arbitrary, Debug, Clone)]
pub struct DateSpec {
    /// Leave the claim out.
    pub omit: bool,
    /// Seconds added to the default.
    pub offset: i16,
    /// How it is written.
    pub repr: DateRepr,
    /// Replaced by any integer.
    pub absolute: Option<i64>,
}

/// A string claim.
#[derive(Arbitrary, Debug, Clone)]
pub enum StringClaim {
    /// The usual value.
    Usual,
    /// Left out.
    Missing,
    /// Any text.
    Text(String),
    /// A JSON value that is not a string (any JSON text; invalid text makes the payload
    /// invalid).
    Json(String),
}

/// The `aud` claim.
#[derive(Arbitrary, Debug, Clone)]
pub enum AudienceClaim {
    /// The layer's audience.
    Ours,
    /// A list that holds the layer's audience among others.
    ListWithOurs(Vec<String>),
    /// A list of these.
    List(Vec<String>),
    /// Another audience.
    Other(String),
    /// Left out.
    Missing,
}

/// The claims of a token, or its payload as any text.
#[derive(Arbitrary, Debug, Clone)]
pub enum PayloadSpec {
    /// Claims written member by member.
    Claims(Box<ClaimsSpec>),
    /// The payload, verbatim.
    Raw(String),
}

/// The `events` claim.
#[derive(Arbitrary, Debug, Clone)]
pub enum EventsClaim {
    /// What the token's kind usually has (see [`TokenSpec::sign_with`]).
    Usual,
    /// None.
    Absent,
    /// `{}`.
    Empty,
    /// Any JSON text.
    Json(String),
}

/// Claims written member by member; every default makes a valid access token.
#[derive(Arbitrary, Debug, Clone)]
pub struct ClaimsSpec {
    /// `iss` (usual: [`ISSUER`]).
    pub iss: StringClaim,
    /// `sub` (usual: `alice`).
    pub sub: StringClaim,
    /// `aud`.
    pub aud: AudienceClaim,
    /// `exp` (default: now + 300 s).
    pub exp: DateSpec,
    /// `iat` (default: now - 10 s).
    pub iat: DateSpec,
    /// `nbf` (default: absent; else now + offset).
    pub nbf: Option<DateSpec>,
    /// `jti` (usual: `t-<n>`).
    pub jti: StringClaim,
    /// A number that makes the usual `jti` unique.
    pub jti_number: u16,
    /// `sid` (usual: absent).
    pub sid: Option<String>,
    /// The `events` claim (usual: none for an access token, the receiver's event for an
    /// event token).
    pub events: EventsClaim,
    /// More members, as JSON text (a repeated member, an escaped name, ...).
    pub extra: Vec<(String, String)>,
    /// Whitespace around the payload's JSON.
    pub padded: bool,
}

/// A token to build: header, claims, key, and an optional damaged byte.
#[derive(Arbitrary, Debug, Clone)]
pub struct TokenSpec {
    /// `alg`.
    pub alg: AlgChoice,
    /// `typ`.
    pub typ: TypChoice,
    /// `kid`.
    pub kid: KidChoice,
    /// The key that signs.
    pub key: KeyChoice,
    /// The payload.
    pub payload: PayloadSpec,
    /// Overwrites the byte at this position (modulo the length) of the compact token.
    pub tamper: Option<(u16, u8)>,
}

/// A signed token and the payload text its signature covers.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The compact JWS.
    pub token: String,
    /// The payload, as signed.
    pub payload: String,
}

fn json_string(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

fn date(spec: &DateSpec, default_secs: i64) -> Option<String> {
    if spec.omit {
        return None;
    }
    let secs = spec
        .absolute
        .unwrap_or(default_secs.saturating_add(i64::from(spec.offset)));
    Some(match spec.repr {
        DateRepr::Int => secs.to_string(),
        DateRepr::Fraction(micros) => format!("{secs}.{:06}", micros % 1_000_000),
        DateRepr::Exponent => format!("{:e}", secs as f64),
        DateRepr::Text => json_string(&secs.to_string()),
        DateRepr::Null => "null".to_owned(),
    })
}

fn string_claim(claim: &StringClaim, usual: &str) -> Option<String> {
    match claim {
        StringClaim::Usual => Some(json_string(usual)),
        StringClaim::Missing => None,
        StringClaim::Text(text) => Some(json_string(text)),
        StringClaim::Json(json) => Some(json.clone()),
    }
}

impl ClaimsSpec {
    /// The payload's JSON text, at the clock instant `now_secs`.
    pub fn json(&self, now_secs: i64) -> String {
        self.json_with(now_secs, None)
    }

    /// The payload's JSON text, with `usual_events` as the usual `events` claim.
    pub fn json_with(&self, now_secs: i64, usual_events: Option<&str>) -> String {
        let mut members: Vec<(String, String)> = Vec::new();
        let mut add = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                members.push((json_string(name), value));
            }
        };
        add("iss", string_claim(&self.iss, ISSUER));
        add("sub", string_claim(&self.sub, "alice"));
        add(
            "aud",
            match &self.aud {
                AudienceClaim::Ours => Some(json_string(AUDIENCE)),
                AudienceClaim::ListWithOurs(others) => {
                    let mut all: Vec<&str> = others.iter().map(String::as_str).collect();
                    all.push(AUDIENCE);
                    Some(Value::from(all).to_string())
                }
                AudienceClaim::List(all) => Some(Value::from(all.clone()).to_string()),
                AudienceClaim::Other(other) => Some(json_string(other)),
                AudienceClaim::Missing => None,
            },
        );
        add("exp", date(&self.exp, now_secs + 300));
        add("iat", date(&self.iat, now_secs - 10));
        add("nbf", self.nbf.as_ref().and_then(|nbf| date(nbf, now_secs)));
        add(
            "jti",
            string_claim(&self.jti, &format!("t-{}", self.jti_number)),
        );
        add("sid", self.sid.as_deref().map(json_string));
        add(
            "events",
            match &self.events {
                EventsClaim::Usual => usual_events.map(str::to_owned),
                EventsClaim::Absent => None,
                EventsClaim::Empty => Some("{}".to_owned()),
                EventsClaim::Json(json) => Some(json.clone()),
            },
        );
        let mut text = String::from("{");
        for (index, (name, value)) in members
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .chain(self.extra.iter().map(|(n, v)| (n.as_str(), v.as_str())))
            .enumerate()
        {
            if index > 0 {
                text.push(',');
            }
            text.push_str(name);
            text.push(':');
            text.push_str(value);
        }
        text.push('}');
        if self.padded {
            format!(" \n{text}\t ")
        } else {
            text
        }
    }
}

impl TokenSpec {
    /// Builds and signs the token at the clock instant `now_secs`.
    pub fn sign(&self, now_secs: i64) -> Signed {
        self.sign_with(now_secs, None)
    }

    /// Builds and signs the token, with `usual_events` as its usual `events` claim (an event
    /// token's).
    pub fn sign_with(&self, now_secs: i64, usual_events: Option<&str>) -> Signed {
        let (alg_name, alg) = match &self.alg {
            AlgChoice::Hs256 => ("HS256".to_owned(), Algorithm::HS256),
            AlgChoice::Hs384 => ("HS384".to_owned(), Algorithm::HS384),
            AlgChoice::Hs512 => ("HS512".to_owned(), Algorithm::HS512),
            AlgChoice::Named(name) => (name.clone(), Algorithm::HS256),
        };
        let mut header = serde_json::Map::new();
        header.insert("alg".into(), Value::String(alg_name));
        let typ = match &self.typ {
            TypChoice::Absent => None,
            TypChoice::Jwt => Some("JWT".to_owned()),
            TypChoice::AtJwt => Some("at+jwt".to_owned()),
            TypChoice::LogoutJwt => Some("logout+jwt".to_owned()),
            TypChoice::SeceventJwt => Some("application/secevent+jwt".to_owned()),
            TypChoice::Other(other) => Some(other.clone()),
        };
        if let Some(typ) = typ {
            header.insert("typ".into(), Value::String(typ));
        }
        let kid = match &self.kid {
            KidChoice::Absent => None,
            KidChoice::K1 => Some("k1".to_owned()),
            KidChoice::Other(other) => Some(other.clone()),
        };
        let secret = match (self.key, kid.as_deref()) {
            (KeyChoice::Matching, Some("k1")) | (KeyChoice::K1, _) => KEY_K1,
            (KeyChoice::Matching, _) | (KeyChoice::Default, _) => KEY_DEFAULT,
            (KeyChoice::Wrong, _) => KEY_WRONG,
        };
        if let Some(kid) = kid {
            header.insert("kid".into(), Value::String(kid));
        }
        let payload = match &self.payload {
            PayloadSpec::Claims(claims) => claims.json_with(now_secs, usual_events),
            PayloadSpec::Raw(raw) => raw.clone(),
        };
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(Value::Object(header).to_string()),
            URL_SAFE_NO_PAD.encode(&payload)
        );
        let signature = jsonwebtoken::crypto::sign(
            signing_input.as_bytes(),
            &EncodingKey::from_secret(secret),
            alg,
        )
        .expect("HMAC signing cannot fail");
        let mut token = format!("{signing_input}.{signature}").into_bytes();
        if let Some((position, byte)) = self.tamper {
            let len = token.len();
            token[usize::from(position) % len] = byte;
        }
        Signed {
            token: String::from_utf8_lossy(&token).into_owned(),
            payload,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Requests.

/// Whitespace around or between parts of a header value.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Gap {
    /// Nothing.
    None,
    /// One space.
    Space,
    /// A tab.
    Tab,
    /// Several spaces.
    Spaces(u8),
}

impl Gap {
    fn text(self) -> String {
        match self {
            Gap::None => String::new(),
            Gap::Space => " ".into(),
            Gap::Tab => "\t".into(),
            Gap::Spaces(n) => " ".repeat(usize::from(n % 8)),
        }
    }
}

/// Which token a placement carries.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Which {
    /// The input's main token.
    Main,
    /// The input's other token.
    Other,
}

/// Where a token (or anything) goes in a request.
#[derive(Arbitrary, Debug, Clone)]
pub enum Placement {
    /// `Authorization: <scheme><gap><token><gap>`.
    Bearer {
        /// The scheme (usual: `Bearer`).
        scheme: StringClaim,
        /// Before the scheme.
        lead: Gap,
        /// Between the scheme and the token (a missing gap is always at least a space).
        gap: Gap,
        /// After the token.
        trail: Gap,
        /// Which token.
        which: Which,
    },
    /// `Cookie: <before><name>=<gap><token><gap><after>`.
    Cookie {
        /// Whether the cookie is the layer's (else `other`).
        ours: bool,
        /// Another name.
        other: String,
        /// Text before (other cookies).
        before: String,
        /// Text after.
        after: String,
        /// Around the value.
        gap: Gap,
        /// Which token.
        which: Which,
    },
    /// `x-token: <gap><token><gap>`.
    Header {
        /// Around the value.
        gap: Gap,
        /// Which token.
        which: Which,
    },
    /// Any header, any value, optionally around a token.
    Raw {
        /// The header.
        name: RawName,
        /// Before the token (or the whole value).
        before: Vec<u8>,
        /// After the token.
        after: Vec<u8>,
        /// The token between them.
        token: Option<Which>,
    },
}

/// A header name for [`Placement::Raw`].
#[derive(Arbitrary, Debug, Clone)]
pub enum RawName {
    /// `authorization`.
    Authorization,
    /// `cookie`.
    Cookie,
    /// `x-token`.
    Token,
    /// `content-type`.
    ContentType,
    /// Any name.
    Other(String),
}

/// A request to the layer.
#[derive(Arbitrary, Debug, Clone)]
pub struct RequestSpec {
    /// Where the tokens go (default: one Bearer header with the main token).
    pub placements: Vec<Placement>,
    /// `GET` (default) or another method.
    pub method: Option<String>,
    /// `/me` (default), the bypassed path, or any path.
    pub path: PathChoice,
    /// `content-type: application/grpc` over HTTP/2.
    pub grpc: bool,
}

/// A request path.
#[derive(Arbitrary, Debug, Clone)]
pub enum PathChoice {
    /// `/me`.
    Me,
    /// The bypassed path.
    Bypass,
    /// Any text (used when it makes a valid URI).
    Other(String),
}

/// Builds the request; the tokens are `main` and `other`.
pub fn build_request(spec: &RequestSpec, main: &str, other: &str) -> Request<Full<Bytes>> {
    let token = |which: Which| match which {
        Which::Main => main,
        Which::Other => other,
    };
    let mut headers: Vec<(HeaderName, Vec<u8>)> = Vec::new();
    let placements: &[Placement] = if spec.placements.is_empty() {
        &[Placement::Bearer {
            scheme: StringClaim::Usual,
            lead: Gap::None,
            gap: Gap::Space,
            trail: Gap::None,
            which: Which::Main,
        }]
    } else {
        &spec.placements
    };
    for placement in placements.iter().take(6) {
        match placement {
            Placement::Bearer {
                scheme,
                lead,
                gap,
                trail,
                which,
            } => {
                let scheme = match scheme {
                    StringClaim::Usual | StringClaim::Missing => "Bearer".to_owned(),
                    StringClaim::Text(text) | StringClaim::Json(text) => text.clone(),
                };
                let gap = match gap {
                    Gap::None => " ".to_owned(),
                    other => other.text(),
                };
                let value = format!(
                    "{}{scheme}{gap}{}{}",
                    lead.text(),
                    token(*which),
                    trail.text()
                );
                headers.push((AUTHORIZATION, value.into_bytes()));
            }
            Placement::Cookie {
                ours,
                other,
                before,
                after,
                gap,
                which,
            } => {
                let name = if *ours { COOKIE_NAME } else { other.as_str() };
                let value = format!(
                    "{before}{name}={}{}{}{after}",
                    gap.text(),
                    token(*which),
                    gap.text()
                );
                headers.push((COOKIE, value.into_bytes()));
            }
            Placement::Header { gap, which } => {
                let value = format!("{}{}{}", gap.text(), token(*which), gap.text());
                headers.push((HeaderName::from_static(TOKEN_HEADER), value.into_bytes()));
            }
            Placement::Raw {
                name,
                before,
                after,
                token: which,
            } => {
                let name = match name {
                    RawName::Authorization => AUTHORIZATION,
                    RawName::Cookie => COOKIE,
                    RawName::Token => HeaderName::from_static(TOKEN_HEADER),
                    RawName::ContentType => CONTENT_TYPE,
                    RawName::Other(other) => match HeaderName::from_bytes(other.as_bytes()) {
                        Ok(name) => name,
                        Err(_) => continue,
                    },
                };
                let mut value = before.clone();
                if let Some(which) = which {
                    value.extend_from_slice(token(*which).as_bytes());
                }
                value.extend_from_slice(after);
                headers.push((name, value));
            }
        }
    }
    let method = spec
        .method
        .as_deref()
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .unwrap_or(Method::GET);
    let path = match &spec.path {
        PathChoice::Me => "/me",
        PathChoice::Bypass => BYPASS,
        PathChoice::Other(other) => other.as_str(),
    };
    let uri = http::Uri::try_from(path).unwrap_or_else(|_| http::Uri::from_static("/me"));
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Full::new(Bytes::new()))
        .expect("a valid request");
    if spec.grpc {
        *request.version_mut() = http::Version::HTTP_2;
    }
    let map = request.headers_mut();
    if spec.grpc {
        map.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    }
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_bytes(&value) {
            map.append(name, value);
        }
    }
    request
}

// ---------------------------------------------------------------------------------------
// The reference: the layer's documented rules, written again without its code.

/// Why the reference refuses.
pub type Refused = &'static str;

fn visible_ascii(value: &HeaderValue) -> Option<&str> {
    let bytes = value.as_bytes();
    bytes
        .iter()
        .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
        .then(|| std::str::from_utf8(bytes).expect("ASCII"))
}

fn trim(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_ascii_whitespace())
}

/// The token of a request by the rules the layer documents (RFC 6750 §2.1 and the layer's
/// sources): every source is read; one `Authorization` header at most, scheme `Bearer` in any
/// case, other schemes as no token; every `at` cookie of every `Cookie` header; one `x-token`
/// header at most; whitespace around a token is not part of it; an empty token, a value that
/// is not visible ASCII, or two different tokens refuse the request.
pub fn reference_token(headers: &HeaderMap) -> Result<String, Refused> {
    let mut found: Vec<String> = Vec::new();
    let auth: Vec<&HeaderValue> = headers.get_all(AUTHORIZATION).iter().collect();
    match auth.as_slice() {
        [] => {}
        [value] => {
            let text = trim(visible_ascii(value).ok_or("authorization not visible ASCII")?);
            let (scheme, rest) = match text.find(|c: char| c.is_ascii_whitespace()) {
                Some(at) => (&text[..at], &text[at..]),
                None => (text, ""),
            };
            if scheme.eq_ignore_ascii_case("bearer") {
                let token = trim(rest);
                if token.is_empty() {
                    return Err("empty bearer");
                }
                found.push(token.to_owned());
            }
        }
        _ => return Err("two authorization headers"),
    }
    for value in headers.get_all(COOKIE) {
        let text = visible_ascii(value).ok_or("cookie not visible ASCII")?;
        for pair in text.split(';') {
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            if trim(name) == COOKIE_NAME {
                let token = trim(value);
                if token.is_empty() {
                    return Err("empty cookie");
                }
                found.push(token.to_owned());
            }
        }
    }
    let custom: Vec<&HeaderValue> = headers.get_all(TOKEN_HEADER).iter().collect();
    match custom.as_slice() {
        [] => {}
        [value] => {
            let token = trim(visible_ascii(value).ok_or("x-token not visible ASCII")?);
            if token.is_empty() {
                return Err("empty x-token");
            }
            found.push(token.to_owned());
        }
        _ => return Err("two x-token headers"),
    }
    let first = found.first().ok_or("no token")?.clone();
    if found.iter().any(|token| *token != first) {
        return Err("two different tokens");
    }
    Ok(first)
}

/// A NumericDate in microseconds, as RFC 7519 defines it (seconds, maybe fractional), or
/// `None` when it is not one (`Err` for a value that is no date at all).
fn micros(value: Option<&Value>) -> Result<Option<i128>, Refused> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => {
            if let Some(secs) = number.as_i64() {
                Ok(Some(i128::from(secs) * 1_000_000))
            } else if number.is_u64() {
                Err("date beyond i64 seconds")
            } else {
                let secs = number.as_f64().ok_or("not a number")?;
                let us = (secs * 1e6).floor();
                if us.is_finite() && us.abs() <= 9_007_199_254_740_992.0 {
                    Ok(Some(us as i128))
                } else {
                    Err("date out of range")
                }
            }
        }
        Some(_) => Err("date is not a number"),
    }
}

/// What the reference accepted: the token and its claims.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The token.
    pub token: String,
    /// The payload's JSON text, without the whitespace around it.
    pub payload: String,
    /// `iss`.
    pub iss: String,
    /// `sub`.
    pub sub: String,
    /// `jti`, when present and not empty.
    pub jti: Option<String>,
    /// `sid`.
    pub sid: Option<String>,
}

impl Accepted {
    /// The identity the layer must give this token (DESIGN §2): by `jti`, else by the digest
    /// of the verified payload.
    pub fn expected_identity(&self) -> TokenId {
        match &self.jti {
            Some(jti) => TokenId::from_jti(&self.iss, &self.sub, jti),
            None => TokenId::from_payload(&self.iss, &self.sub, &self.payload),
        }
    }
}

/// Whether a verified access token is acceptable at `now_micros`: signature by the key of its
/// `kid` (default key without one) under HS256/HS384, issuer [`ISSUER`], audience
/// [`AUDIENCE`], `exp`, `iss`, `sub` present, not an event token (`typ` or an `events` claim),
/// not expired (`exp` + leeway), not before `nbf` (- leeway), `iat` at most [`SKEW`] ahead,
/// a lifetime of at most [`MAX_LIFETIME`] (from `iat`, or from now + skew without `iat`).
pub fn reference_verify(token: &str, now_micros: i128) -> Result<Accepted, Refused> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err("too long");
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| "bad header")?;
    let secret = match header.kid.as_deref() {
        None => KEY_DEFAULT,
        Some("k1") => KEY_K1,
        Some(_) => return Err("unknown kid"),
    };
    let mut validation = Validation::new(Algorithm::HS256);
    validation.algorithms = vec![Algorithm::HS256, Algorithm::HS384];
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    let data = jsonwebtoken::decode::<Value>(token, &DecodingKey::from_secret(secret), &validation)
        .map_err(|_| "jsonwebtoken refuses")?;
    if let Some(typ) = &data.header.typ {
        let typ = typ.trim().to_ascii_lowercase();
        let bare = typ.strip_prefix("application/").unwrap_or(&typ);
        if bare == "logout+jwt" || bare == "secevent+jwt" {
            return Err("event token type");
        }
    }
    let claims = data.claims.as_object().ok_or("claims not an object")?;
    if claims.get("events").is_some_and(|e| !e.is_null()) {
        return Err("events claim");
    }
    let iss = claims.get("iss").and_then(Value::as_str).ok_or("iss")?;
    if iss != ISSUER {
        return Err("issuer");
    }
    let sub = claims.get("sub").and_then(Value::as_str).ok_or("sub")?;
    match claims.get("aud") {
        Some(Value::String(aud)) if aud == AUDIENCE => {}
        Some(Value::Array(all))
            if all.iter().all(Value::is_string)
                && all.iter().any(|a| a.as_str() == Some(AUDIENCE)) => {}
        _ => return Err("audience"),
    }
    let optional_string = |name: &str| -> Result<Option<String>, Refused> {
        match claims.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err("not a string"),
        }
    };
    let jti = optional_string("jti")?.filter(|jti| !jti.is_empty());
    let sid = optional_string("sid")?;
    let exp = micros(claims.get("exp"))?.ok_or("exp")?;
    let nbf = micros(claims.get("nbf"))?;
    let iat = micros(claims.get("iat"))?;
    let leeway = LEEWAY.as_micros() as i128;
    let skew = SKEW.as_micros() as i128;
    let longest = MAX_LIFETIME.as_micros() as i128;
    if exp + leeway <= now_micros {
        return Err("expired");
    }
    if nbf.is_some_and(|nbf| nbf > now_micros + leeway) {
        return Err("not yet valid");
    }
    match iat {
        Some(iat) => {
            if iat > now_micros + skew {
                return Err("issued in the future");
            }
            if exp < iat || exp - iat > longest {
                return Err("lifetime");
            }
        }
        None => {
            if exp > now_micros + skew + longest {
                return Err("lifetime without iat");
            }
        }
    }
    let payload_b64 = token.split('.').nth(1).ok_or("segments")?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| "payload base64")?;
    let payload = String::from_utf8(payload).map_err(|_| "payload utf-8")?;
    Ok(Accepted {
        token: token.to_owned(),
        payload: payload.trim_matches([' ', '\t', '\n', '\r']).to_owned(),
        iss: iss.to_owned(),
        sub: sub.to_owned(),
        jti,
        sid,
    })
}

/// The reference's verdict on a whole request: `Ok(None)` for a bypassed path.
pub fn reference_request(
    request: &Request<Full<Bytes>>,
    now_micros: i128,
) -> Result<Option<Accepted>, Refused> {
    if request.uri().path() == BYPASS {
        return Ok(None);
    }
    let token = reference_token(request.headers())?;
    reference_verify(&token, now_micros).map(Some)
}

// ---------------------------------------------------------------------------------------
// The layer under test.

/// What the inner service saw of the last request that reached it.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// The claims the layer put into the request.
    pub claims: Option<Claims>,
    /// The handle the layer put into the request.
    pub handle: Option<RevocationHandle>,
}

/// The inner service type.
pub type Inner =
    tower::util::BoxCloneSyncService<Request<Full<Bytes>>, Response<Full<Bytes>>, Infallible>;

/// How the layer is configured.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct LayerConfig {
    /// Cache verified tokens.
    pub verified_cache: bool,
    /// Turn the claims memo off (on by default).
    pub no_claims_memo: bool,
}

/// A layer over a memory store with a manual clock, and an inner service that records what
/// reaches it.
pub struct Harness {
    /// The clock of the engine and the store.
    pub clock: ManualClock,
    /// The engine.
    pub revocations: Revocations,
    /// The layer.
    pub layer: RevocationLayer,
    /// The layer around the recording service.
    pub service: jwt_revoke_tower::RevocationService<Inner, jwt_revoke_tower::DefaultRejection>,
    /// What reached the inner service.
    pub seen: Arc<Mutex<Option<Seen>>>,
}

impl Harness {
    /// A fresh layer, store and clock (at [`NOW_SECS`]).
    pub fn new(config: LayerConfig) -> Self {
        let clock = ManualClock::new(Timestamp::from_secs(NOW_SECS));
        let store = MemoryStore::builder()
            .clock(Arc::new(clock.clone()))
            .build();
        let revocations = Revocations::new(Arc::new(store), Policy::new(MAX_LIFETIME))
            .with_clock(Arc::new(clock.clone()));
        let keys = DecodingKeys::new(DecodingKey::from_secret(KEY_DEFAULT))
            .with_kid("k1", DecodingKey::from_secret(KEY_K1));
        let mut builder = RevocationLayer::verifying(
            revocations.clone(),
            keys,
            &[Algorithm::HS256, Algorithm::HS384],
        )
        .issuers([ISSUER])
        .audiences([AUDIENCE])
        .token_sources([
            TokenSource::AuthorizationBearer,
            TokenSource::Cookie(COOKIE_NAME.into()),
            TokenSource::Header(HeaderName::from_static(TOKEN_HEADER)),
        ])
        .max_token_bytes(MAX_TOKEN_BYTES)
        .bypass(BYPASS);
        if config.verified_cache {
            builder = builder.cache_verified_tokens(64);
        }
        if config.no_claims_memo {
            builder = builder.claims_memo(0);
        }
        let layer = builder.build().expect("a valid layer");
        let seen: Arc<Mutex<Option<Seen>>> = Arc::default();
        let recorder = Arc::clone(&seen);
        let inner: Inner = tower::util::BoxCloneSyncService::new(tower::service_fn(
            move |request: Request<Full<Bytes>>| {
                let recorder = Arc::clone(&recorder);
                async move {
                    *recorder.lock().expect("not poisoned") = Some(Seen {
                        claims: request.extensions().get::<Claims>().cloned(),
                        handle: request.extensions().get::<RevocationHandle>().cloned(),
                    });
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"inner"))))
                }
            },
        ));
        let service = tower::Layer::layer(&layer, inner);
        Harness {
            clock,
            revocations,
            layer,
            service,
            seen,
        }
    }

    /// The clock's instant in microseconds.
    pub fn now_micros(&self) -> i128 {
        i128::from(self.clock.now_micros())
    }

    /// Sends a request through the layer: its response, and what reached the inner service
    /// (`None`: nothing did).
    pub fn send(&mut self, request: Request<Full<Bytes>>) -> (Response<Full<Bytes>>, Option<Seen>) {
        *self.seen.lock().expect("not poisoned") = None;
        let response = block_on(async {
            let service = self.service.ready().await.expect("infallible");
            service.call(request).await.expect("infallible")
        });
        let seen = self.seen.lock().expect("not poisoned").take();
        (response, seen)
    }
}

/// The instant of a manual clock in microseconds.
pub trait NowMicros {
    /// Microseconds since the epoch.
    fn now_micros(&self) -> i64;
}

impl NowMicros for ManualClock {
    fn now_micros(&self) -> i64 {
        jwt_revoke_core::Clock::now(self).as_micros()
    }
}

/// Checks what the layer did with a request against the reference; panics on a violation.
///
/// The property: the request reaches the inner service only if the reference accepts it
/// (or its path is the bypassed one); and when it does, the claims and identity the layer
/// hands on are those of the token the reference found.
pub fn check_against_reference(
    request_copy: &Request<Full<Bytes>>,
    now_micros: i128,
    response: &Response<Full<Bytes>>,
    seen: &Option<Seen>,
) -> Option<Accepted> {
    let reference = reference_request(request_copy, now_micros);
    if trace() {
        eprintln!(
            "reached: {} status: {} reference: {:?}",
            seen.is_some(),
            response.status(),
            reference.as_ref().map(|a| a.as_ref().map(|a| &a.payload))
        );
    }
    let Some(seen) = seen else {
        // Refused: never with a 2xx over HTTP/1.x (DESIGN §5).
        if request_copy.version() != http::Version::HTTP_2 {
            assert!(
                !response.status().is_success(),
                "a refusal answered {} over HTTP/1.x",
                response.status()
            );
        }
        return None;
    };
    let accepted = match reference {
        Ok(accepted) => accepted,
        Err(why) => panic!(
            "the layer let through a request the reference refuses ({why}): {:?}",
            request_copy.headers()
        ),
    };
    let accepted = accepted?;
    let claims = seen.claims.as_ref().expect("claims in the extensions");
    assert_eq!(
        claims.json(),
        accepted.payload,
        "the claims handed on are not the payload of the request's token"
    );
    let handle = seen.handle.as_ref().expect("a handle in the extensions");
    assert_eq!(
        handle.token().token(),
        &accepted.expected_identity(),
        "the layer identifies the token as another"
    );
    assert_eq!(
        handle.token().user(),
        &UserId::new(&accepted.iss, &accepted.sub)
    );
    assert_eq!(
        handle.token().session().map(|s| s.sid().to_owned()),
        accepted.sid
    );
    Some(accepted)
}

/// Whether `JWT_REVOKE_FUZZ_TRACE` is set: then the targets say what they saw, to check that
/// the seeds are accepted requests.
pub fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("JWT_REVOKE_FUZZ_TRACE").is_some())
}

/// A copy of a request's head (the body is empty in these targets).
pub fn copy_request(request: &Request<Full<Bytes>>) -> Request<Full<Bytes>> {
    let mut copy = Request::builder()
        .method(request.method().clone())
        .uri(request.uri().clone())
        .version(request.version())
        .body(Full::new(Bytes::new()))
        .expect("a copy of a valid request");
    *copy.headers_mut() = request.headers().clone();
    copy
}

// ---------------------------------------------------------------------------------------
// Event receivers.

/// Sends a request to an event receiver (any `Service` of theirs) and reads the answer.
pub fn post<S>(receiver: S, request: Request<Full<Bytes>>) -> (http::StatusCode, HeaderMap, Value)
where
    S: Service<
            Request<Full<Bytes>>,
            Response = Response<jwt_revoke_tower::events::EventBody>,
            Error = Infallible,
        >,
{
    use http_body_util::BodyExt as _;
    block_on(async move {
        let response = receiver.oneshot(request).await.expect("infallible");
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("a full body").to_bytes();
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("receivers answer JSON or nothing")
        };
        if trace() {
            eprintln!("receiver answered {}: {json}", parts.status);
        }
        (parts.status, parts.headers, json)
    })
}

/// An access token of the layer in [`Harness`]: `sub`, `sid`, issued at `iat_secs`, living
/// five minutes.
pub fn access_token(sub: &str, sid: Option<&str>, iat_secs: i64) -> String {
    let mut claims = serde_json::json!({
        "iss": ISSUER, "sub": sub, "aud": AUDIENCE, "jti": "access",
        "iat": iat_secs, "exp": iat_secs + 300,
    });
    if let Some(sid) = sid {
        claims["sid"] = Value::String(sid.to_owned());
    }
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(KEY_DEFAULT),
    )
    .expect("HMAC signing cannot fail")
}

/// Whether the layer of `harness` lets `token` through now (as a Bearer token).
pub fn layer_accepts(harness: &mut Harness, token: &str) -> bool {
    let request = Request::builder()
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .uri("/me")
        .body(Full::new(Bytes::new()))
        .expect("a valid request");
    harness.send(request).1.is_some()
}

/// The verified claims of an event token by the trust of the receivers' targets (the keys of
/// the layer, HS256/HS384, issuer [`ISSUER`], audience [`AUDIENCE`]), or `None`.
pub fn reference_event_claims(token: &str) -> Option<serde_json::Map<String, Value>> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    let secret = match header.kid.as_deref() {
        None => KEY_DEFAULT,
        Some("k1") => KEY_K1,
        Some(_) => return None,
    };
    let mut validation = Validation::new(Algorithm::HS256);
    validation.algorithms = vec![Algorithm::HS256, Algorithm::HS384];
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_required_spec_claims(&["iss", "aud", "iat"]);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    let data = jsonwebtoken::decode::<Value>(token, &DecodingKey::from_secret(secret), &validation)
        .ok()?;
    match data.claims {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// The trust of the receivers' targets.
pub fn event_trust() -> jwt_revoke_tower::events::EventTokenTrust {
    jwt_revoke_tower::events::EventTokenTrust::new(
        DecodingKeys::new(DecodingKey::from_secret(KEY_DEFAULT))
            .with_kid("k1", DecodingKey::from_secret(KEY_K1)),
        &[Algorithm::HS256, Algorithm::HS384],
        ISSUER,
        AUDIENCE,
    )
}

/// A form body: `fields` percent-encoded, in order.
pub fn form(fields: &[(String, String)]) -> String {
    let mut body = form_urlencoded_serializer();
    for (name, value) in fields {
        body.append_pair(name, value);
    }
    body.finish()
}

fn form_urlencoded_serializer() -> form_urlencoded::Serializer<'static, String> {
    form_urlencoded::Serializer::new(String::new())
}

/// A content type for a receiver's request.
#[derive(Arbitrary, Debug, Clone)]
pub enum ContentType {
    /// The receiver's own.
    Usual,
    /// The receiver's own with a parameter and in capitals.
    WithParameter,
    /// None.
    Absent,
    /// Any value.
    Other(Vec<u8>),
}

/// A POST request to a receiver.
pub fn receiver_request(
    method: Option<&str>,
    content_type: &ContentType,
    usual_type: &str,
    extra_headers: &[(String, Vec<u8>)],
    body: Vec<u8>,
) -> Request<Full<Bytes>> {
    let method = method
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .unwrap_or(Method::POST);
    let mut request = Request::builder()
        .method(method)
        .uri("/events")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid request");
    let value = match content_type {
        ContentType::Usual => Some(usual_type.as_bytes().to_vec()),
        ContentType::WithParameter => {
            Some(format!("{}; charset=UTF-8", usual_type.to_ascii_uppercase()).into_bytes())
        }
        ContentType::Absent => None,
        ContentType::Other(other) => Some(other.clone()),
    };
    if let Some(value) = value.and_then(|v| HeaderValue::from_bytes(&v).ok()) {
        request.headers_mut().insert(CONTENT_TYPE, value);
    }
    for (name, value) in extra_headers.iter().take(4) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) {
            request.headers_mut().append(name, value);
        }
    }
    request
}

/// Asserts what every receiver's answer has: `Cache-Control: no-store`, and a status among
/// `allowed`.
pub fn check_answer(status: http::StatusCode, headers: &HeaderMap, allowed: &[u16]) {
    assert!(
        allowed.contains(&status.as_u16()),
        "unexpected status {status}"
    );
    assert_eq!(
        headers
            .get(http::header::CACHE_CONTROL)
            .map(HeaderValue::as_bytes),
        Some(&b"no-store"[..]),
        "an answer without Cache-Control: no-store"
    );
}
