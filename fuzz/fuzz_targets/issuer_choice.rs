//! Several issuers per layer: which issuer's keys verify a token is chosen by its `iss`, read
//! before verification (`unverified_issuer`). A layer of two HS256 issuers A and B (each its
//! own secret and audience, `RevocationLayer::verifying_issuers`), against one single-issuer
//! reference layer per issuer (`RevocationLayer::verifying(..).issuers([iss])`, the same
//! secret and audience).
//!
//! The token is signed with A's or B's secret; its header and payload are JSON text written
//! from the input, in odd forms too: `iss` repeated, its name escaped (`"\u0069ss"`), its
//! value escaped, not a string, the other issuer's, any text; whitespace, a BOM or other
//! bytes around the JSON or between its tokens; any payload verbatim.
//!
//! Properties: no panic; no layer answers 5xx; the two-issuer layer lets a token through only
//! if the reference layer of the secret that signed it does too (and the other one does not),
//! and the token's payload, read by serde_json, names that issuer as its `iss` (as do the
//! claims handed on); a token the signer's reference accepts and whose payload has exactly
//! one `iss` member is accepted by the two-issuer layer too.
#![no_main]

use std::convert::Infallible;
use std::fmt;
use std::sync::{Arc, OnceLock};

use arbitrary::Arbitrary;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use jwt_revoke_core::{ManualClock, Policy, Revocations, Timestamp};
use jwt_revoke_fuzz::{MAX_LIFETIME, NOW_SECS, block_on};
use jwt_revoke_memory::MemoryStore;
use jwt_revoke_tower::jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use jwt_revoke_tower::{Claims, DecodingKeys, RevocationLayer, TrustedIssuer};
use libfuzzer_sys::fuzz_target;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use tower::{ServiceExt as _, service_fn};

/// One of the two issuers.
struct Issuer {
    iss: &'static str,
    audience: &'static str,
    secret: &'static [u8],
}

const ISSUER_A: Issuer = Issuer {
    iss: "https://a.example",
    audience: "api-a",
    secret: b"issuer A's HS256 secret, 32 byte",
};
const ISSUER_B: Issuer = Issuer {
    iss: "https://b.example",
    audience: "api-b",
    secret: b"issuer B's HS256 secret, 32 byte",
};

/// The layers under test, built once: every input sees the same ones. The claims memo is off
/// and no token is cached, so that an outcome depends on its input only.
struct Layers {
    both: RevocationLayer,
    only_a: RevocationLayer,
    only_b: RevocationLayer,
}

fn layers() -> &'static Layers {
    static LAYERS: OnceLock<Layers> = OnceLock::new();
    LAYERS.get_or_init(|| {
        let clock = ManualClock::new(Timestamp::from_secs(NOW_SECS));
        let store = MemoryStore::builder()
            .clock(Arc::new(clock.clone()))
            .build();
        let revocations = Revocations::new(Arc::new(store), Policy::new(MAX_LIFETIME))
            .with_clock(Arc::new(clock));
        let keys = |issuer: &Issuer| DecodingKeys::new(DecodingKey::from_secret(issuer.secret));
        let trusted = |issuer: &Issuer| {
            TrustedIssuer::new(issuer.iss, keys(issuer), &[Algorithm::HS256])
                .audiences([issuer.audience])
        };
        let single = |issuer: &Issuer| {
            RevocationLayer::verifying(revocations.clone(), keys(issuer), &[Algorithm::HS256])
                .issuers([issuer.iss])
                .audiences([issuer.audience])
                .claims_memo(0)
                .build()
                .expect("a valid single-issuer layer")
        };
        Layers {
            both: RevocationLayer::verifying_issuers(
                revocations.clone(),
                [trusted(&ISSUER_A), trusted(&ISSUER_B)],
            )
            .claims_memo(0)
            .build()
            .expect("a valid two-issuer layer"),
            only_a: single(&ISSUER_A),
            only_b: single(&ISSUER_B),
        }
    })
}

/// What a layer did with a request.
struct Outcome {
    status: StatusCode,
    /// The claims the inner service received, when the request reached it.
    claims: Option<Claims>,
}

/// The request reached the inner service.
#[derive(Clone)]
struct Reached(Option<Claims>);

fn send(layer: &RevocationLayer, token: &str) -> Outcome {
    let inner = service_fn(|request: Request<Full<Bytes>>| async move {
        let mut response = Response::new(Full::new(Bytes::new()));
        let claims = request.extensions().get::<Claims>().cloned();
        response.extensions_mut().insert(Reached(claims));
        Ok::<_, Infallible>(response)
    });
    let service = tower::Layer::layer(layer, inner);
    let request = Request::builder()
        .uri("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::new()));
    let Ok(request) = request else {
        // A token that is no header value: no layer sees it.
        return Outcome {
            status: StatusCode::UNAUTHORIZED,
            claims: None,
        };
    };
    let response = block_on(service.oneshot(request)).expect("infallible");
    let claims = response.extensions().get::<Reached>().map(|reached| {
        reached
            .0
            .clone()
            .expect("a request let through carries its claims")
    });
    Outcome {
        status: response.status(),
        claims,
    }
}

// ---------------------------------------------------------------------------------------
// Tokens.

/// Bytes around the JSON text, or between its tokens.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Pad {
    /// Nothing.
    None,
    /// JSON whitespace: each two bits of the byte one of space, tab, LF, CR (1–4 of them).
    Json(u8),
    /// A byte-order mark.
    Bom,
    /// A no-break space (not JSON whitespace).
    NoBreakSpace,
    /// A form feed (not JSON whitespace).
    FormFeed,
    /// A NUL.
    Nul,
}

impl fmt::Display for Pad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Pad::None => Ok(()),
            Pad::Json(bits) => {
                for n in 0..=(bits >> 6) {
                    f.write_str([" ", "\t", "\n", "\r"][usize::from((bits >> (2 * n)) & 3)])?;
                }
                Ok(())
            }
            Pad::Bom => f.write_str("\u{feff}"),
            Pad::NoBreakSpace => f.write_str("\u{a0}"),
            Pad::FormFeed => f.write_str("\u{c}"),
            Pad::Nul => f.write_str("\0"),
        }
    }
}

/// Which issuer a part of the token names.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Who {
    /// The issuer whose secret signs the token.
    Signer,
    /// The other one.
    Other,
}

/// The name of an `iss` member.
#[derive(Arbitrary, Debug, Clone)]
enum IssName {
    /// `"iss"`.
    Plain,
    /// `"iss"` with the letters of these bits (1, 2, 4) written as `\u00XX`.
    Escaped(u8),
    /// Any name.
    Other(String),
}

/// The value of an `iss` member.
#[derive(Arbitrary, Debug, Clone)]
enum IssValue {
    /// An issuer's, as a plain string.
    Issuer(Who),
    /// An issuer's, with the characters of these bits (by position) written as `\u00XX`, and
    /// with every `/` as `\/` when the top bit is set.
    Escaped(Who, u32),
    /// An issuer's, in an array.
    Array(Who),
    /// An issuer's, as an object's member.
    Object(Who),
    /// Any text, as a string.
    Text(String),
    /// Any JSON text.
    Json(String),
    /// `null`.
    Null,
    /// A number.
    Number(i64),
}

/// One `iss` member.
#[derive(Arbitrary, Debug, Clone)]
struct IssMember {
    name: IssName,
    value: IssValue,
}

/// The `aud` claim.
#[derive(Arbitrary, Debug, Clone)]
enum Aud {
    /// The audience of an issuer.
    Of(Who),
    /// Both audiences, in a list.
    Both,
    /// None.
    Missing,
    /// Any text.
    Text(String),
}

/// The payload: claims written member by member (every default an accepted token of the
/// signer), or any text.
#[derive(Arbitrary, Debug, Clone)]
struct Payload {
    first_iss: IssMember,
    /// More `iss` members, after the first.
    more_iss: Vec<IssMember>,
    /// The `iss` members after the other claims instead of before them.
    iss_last: bool,
    aud: Aud,
    /// `sub`, if not `alice`.
    sub: Option<String>,
    /// Seconds added to `exp` (default now + 300 s).
    exp: i8,
    /// Seconds added to `iat` (default now - 10 s).
    iat: i8,
    /// More members, as JSON text.
    extra: Vec<(String, String)>,
    lead: Pad,
    trail: Pad,
    /// Around every `:` and `,`.
    inner: Pad,
    /// The payload, verbatim, instead.
    raw: Option<String>,
}

/// The header: `alg` (default HS256), `typ`, `kid` and more members, or any text.
#[derive(Arbitrary, Debug, Clone)]
enum Header {
    Usual {
        alg: Option<String>,
        typ: Option<String>,
        kid: Option<String>,
        extra: Vec<(String, String)>,
        lead: Pad,
        trail: Pad,
    },
    Raw(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// Signed with B's secret (else A's).
    signed_by_b: bool,
    header: Header,
    payload: Payload,
}

fn json_string(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

/// A JSON object's text from its members' name and value texts.
fn object(members: &[(String, String)], inner: Pad, lead: Pad, trail: Pad) -> String {
    let body = members
        .iter()
        .map(|(name, value)| format!("{name}{inner}:{inner}{value}"))
        .collect::<Vec<_>>()
        .join(&format!("{inner},{inner}"));
    format!("{lead}{{{inner}{body}{inner}}}{trail}")
}

impl IssMember {
    fn text(&self, signer: &Issuer, other: &Issuer) -> (String, String) {
        let who = |who: Who| match who {
            Who::Signer => signer.iss,
            Who::Other => other.iss,
        };
        let name = match &self.name {
            IssName::Plain => "\"iss\"".to_owned(),
            IssName::Escaped(bits) => {
                let mut name = String::from("\"");
                for (index, letter) in "iss".chars().enumerate() {
                    if bits & (1 << index) != 0 {
                        name.push_str(&format!("\\u{:04x}", u32::from(letter)));
                    } else {
                        name.push(letter);
                    }
                }
                name.push('"');
                name
            }
            IssName::Other(name) => json_string(name),
        };
        let value = match &self.value {
            IssValue::Issuer(w) => json_string(who(*w)),
            IssValue::Escaped(w, bits) => {
                let mut value = String::from("\"");
                for (index, c) in who(*w).chars().enumerate() {
                    if index < 31 && bits & (1 << index) != 0 {
                        value.push_str(&format!("\\u{:04x}", u32::from(c)));
                    } else if c == '/' && bits & (1 << 31) != 0 {
                        value.push_str("\\/");
                    } else {
                        value.push(c);
                    }
                }
                value.push('"');
                value
            }
            IssValue::Array(w) => format!("[{}]", json_string(who(*w))),
            IssValue::Object(w) => format!("{{\"iss\":{}}}", json_string(who(*w))),
            IssValue::Text(text) => json_string(text),
            IssValue::Json(json) => json.clone(),
            IssValue::Null => "null".to_owned(),
            IssValue::Number(n) => n.to_string(),
        };
        (name, value)
    }
}

impl Payload {
    fn text(&self, signer: &Issuer, other: &Issuer) -> String {
        if let Some(raw) = &self.raw {
            return raw.clone();
        }
        let iss: Vec<(String, String)> = std::iter::once(&self.first_iss)
            .chain(self.more_iss.iter().take(4))
            .map(|member| member.text(signer, other))
            .collect();
        let aud = match &self.aud {
            Aud::Of(Who::Signer) => Some(json_string(signer.audience)),
            Aud::Of(Who::Other) => Some(json_string(other.audience)),
            Aud::Both => Some(Value::from(vec![signer.audience, other.audience]).to_string()),
            Aud::Missing => None,
            Aud::Text(text) => Some(json_string(text)),
        };
        let mut claims = vec![(
            json_string("sub"),
            json_string(self.sub.as_deref().unwrap_or("alice")),
        )];
        if let Some(aud) = aud {
            claims.push((json_string("aud"), aud));
        }
        claims.push((
            json_string("exp"),
            (NOW_SECS + 300 + i64::from(self.exp)).to_string(),
        ));
        claims.push((
            json_string("iat"),
            (NOW_SECS - 10 + i64::from(self.iat)).to_string(),
        ));
        claims.extend(self.extra.iter().take(4).cloned());
        let members: Vec<(String, String)> = if self.iss_last {
            claims.into_iter().chain(iss).collect()
        } else {
            iss.into_iter().chain(claims).collect()
        };
        object(&members, self.inner, self.lead, self.trail)
    }
}

impl Header {
    fn text(&self) -> String {
        match self {
            Header::Raw(raw) => raw.clone(),
            Header::Usual {
                alg,
                typ,
                kid,
                extra,
                lead,
                trail,
            } => {
                let mut members = vec![(
                    json_string("alg"),
                    json_string(alg.as_deref().unwrap_or("HS256")),
                )];
                if let Some(typ) = typ {
                    members.push((json_string("typ"), json_string(typ)));
                }
                if let Some(kid) = kid {
                    members.push((json_string("kid"), json_string(kid)));
                }
                members.extend(extra.iter().take(4).cloned());
                object(&members, Pad::None, *lead, *trail)
            }
        }
    }
}

/// `header.payload.signature`, HS256 with `secret` whatever the header says.
fn sign(header: &str, payload: &str, secret: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = jwt_revoke_tower::jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &EncodingKey::from_secret(secret),
        Algorithm::HS256,
    )
    .expect("HMAC signing cannot fail");
    format!("{input}.{signature}")
}

// ---------------------------------------------------------------------------------------
// The reference readings of a payload, with serde_json.

/// The `iss` of a payload as serde_json reads it (a repeated member: the last one).
fn parsed_iss(payload: &str) -> Option<String> {
    serde_json::from_str::<Value>(payload)
        .ok()?
        .get("iss")?
        .as_str()
        .map(str::to_owned)
}

/// How many members of the payload's top-level object are named `iss` once unescaped, or
/// `None` when the payload is not one JSON object.
fn iss_members(payload: &str) -> Option<usize> {
    struct Count(usize);
    impl<'de> serde::Deserialize<'de> for Count {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Members;
            impl<'de> Visitor<'de> for Members {
                type Value = Count;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Count, A::Error> {
                    let mut count = 0;
                    while let Some(name) = map.next_key::<String>()? {
                        map.next_value::<IgnoredAny>()?;
                        count += usize::from(name == "iss");
                    }
                    Ok(Count(count))
                }
            }
            deserializer.deserialize_map(Members)
        }
    }
    serde_json::from_str::<Count>(payload)
        .ok()
        .map(|count| count.0)
}

fuzz_target!(|input: Input| {
    let layers = layers();
    let (signer, other, by_signer, by_other) = if input.signed_by_b {
        (&ISSUER_B, &ISSUER_A, &layers.only_b, &layers.only_a)
    } else {
        (&ISSUER_A, &ISSUER_B, &layers.only_a, &layers.only_b)
    };
    let header = input.header.text();
    let payload = input.payload.text(signer, other);
    let token = sign(&header, &payload, signer.secret);
    let both = send(&layers.both, &token);
    let reference = send(by_signer, &token);
    let stranger = send(by_other, &token);
    if jwt_revoke_fuzz::trace() {
        eprintln!(
            "signed by {}: header {header:?} payload {payload:?}: two-issuer {}, signer's {}, \
             other's {}",
            signer.iss, both.status, reference.status, stranger.status
        );
    }
    for (layer, outcome) in [
        ("two-issuer", &both),
        ("signer's", &reference),
        ("other issuer's", &stranger),
    ] {
        assert!(
            !outcome.status.is_server_error(),
            "the {layer} layer answered {} to {token}",
            outcome.status
        );
    }
    assert!(
        stranger.claims.is_none(),
        "a token signed by {} reached the inner service of {}'s layer: {token}",
        signer.iss,
        other.iss
    );
    if let Some(claims) = &both.claims {
        assert!(
            reference.claims.is_some(),
            "the two-issuer layer accepted a token {}'s own layer refuses ({}): {token}\n\
             header {header:?}\npayload {payload:?}",
            signer.iss,
            reference.status
        );
        assert_eq!(
            parsed_iss(&payload).as_deref(),
            Some(signer.iss),
            "the two-issuer layer accepted a token signed by {} whose iss serde_json reads \
             otherwise: payload {payload:?}",
            signer.iss
        );
        assert_eq!(
            parsed_iss(claims.json()).as_deref(),
            Some(signer.iss),
            "the claims handed on name another issuer: {:?}",
            claims.json()
        );
    }
    if reference.claims.is_some() && iss_members(&payload) == Some(1) {
        assert!(
            both.claims.is_some(),
            "{}'s own layer accepts a token with one iss member that the two-issuer layer \
             refuses ({}): header {header:?} payload {payload:?}",
            signer.iss,
            both.status
        );
    }
});
