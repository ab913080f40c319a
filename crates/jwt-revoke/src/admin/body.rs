//! Reading a request's JSON body: the media type, a size limit, one JSON value of the shape the
//! endpoint takes, and errors that say what is wrong without quoting what was sent.

use axum::extract::Request;
use axum::http::header;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Deserialize;
use serde::de::{self, DeserializeOwned};

use super::refusal::Refusal;

/// Reads the body of `request` as a `T`: 415 unless it is `application/json`, 413 beyond
/// `limit` bytes, 400 unless it is one JSON value, 422 unless it has `T`'s shape.
pub(crate) async fn read_json<T: DeserializeOwned>(
    request: Request,
    limit: usize,
) -> Result<T, Refusal> {
    if !is_json(&request) {
        return Err(Refusal::not_json());
    }
    let body = match Limited::new(request.into_body(), limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) if err.is::<LengthLimitError>() => return Err(Refusal::body_too_large(limit)),
        Err(_) => return Err(Refusal::unreadable_body()),
    };
    parse(&body)
}

/// Whether the media type (before any parameter) is `application/json`, in any case.
fn is_json(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// Parses one JSON value of `T`'s shape from `body`.
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Refusal::invalid_json(
            "the body is empty: send a JSON object",
        ));
    }
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        // serde would take a struct from an array too, by position: only an object is a
        // body here. What is not even JSON is still a 400.
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        let read = de::IgnoredAny::deserialize(&mut deserializer).and_then(|_| deserializer.end());
        return Err(match read {
            Err(err) if err.classify() != serde_json::error::Category::Data => {
                refusal(String::new(), &err)
            }
            _ => Refusal::invalid_request("the body must be a JSON object"),
        });
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|err| refusal(err.path().to_string(), err.inner()))?;
    deserializer
        .end()
        .map_err(|err| refusal(String::new(), &err))?;
    Ok(value)
}

/// The refusal for a JSON error at `path`.
fn refusal(path: String, err: &serde_json::Error) -> Refusal {
    use serde_json::error::Category;
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => Refusal::invalid_json(format!(
            "the body is not one JSON value (line {}, column {})",
            err.line(),
            err.column()
        )),
        Category::Data => {
            // A missing field's path is its parent's: name the field itself.
            let message = err.to_string();
            let missing = message
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split_once('`'))
                .and_then(|(name, _)| own_name(name));
            let field = missing.or(own_name(&path)).map(str::to_owned);
            let description = describe(err, field.as_deref());
            match field {
                Some(field) => Refusal::invalid_request(description).with_field(field),
                None => Refusal::invalid_request(description),
            }
        }
    }
}

/// What is wrong with the data, from serde's message, keeping only the parts that are ours
/// (field names, what was expected) and never the value sent: a wrong-typed field or an
/// unknown one may be a pasted token.
fn describe(err: &serde_json::Error, field: Option<&str>) -> String {
    // serde_json appends " at line L column C"; the message is serde's own before it.
    let message = err.to_string();
    let message = message
        .rsplit_once(" at line ")
        .map_or(message.as_str(), |(message, _)| message);
    let at = |text: String| match field {
        Some(field) => format!("{field}: {text}"),
        None => text,
    };
    if let Some(rest) = message.strip_prefix("missing field `") {
        if let Some(name) = rest.strip_suffix('`').and_then(own_name) {
            return format!("the field {name} is required");
        }
        return at("a required field is missing".to_owned());
    }
    if let Some(rest) = message.strip_prefix("unknown field `") {
        // "unknown field `x`, expected one of `a`, `b`" (or "there are no fields"): the list
        // is ours; the name is the sender's, shown only when it cannot be a token.
        let (name, expected) = rest.split_once("`, ").unwrap_or((rest, ""));
        let name = own_name(name).map_or_else(
            || "a field this endpoint does not take".to_owned(),
            |name| format!("the field {name} is not one this endpoint takes"),
        );
        let expected = expected
            .strip_prefix("expected ")
            .map(|list| format!(" (it takes {list})"))
            .unwrap_or_default();
        // The path is the unknown field itself: no "field: " before it.
        return format!("{name}{expected}");
    }
    if let Some(rest) = message.strip_prefix("duplicate field `")
        && let Some(name) = rest.strip_suffix('`').and_then(own_name)
    {
        // Which of the two values counts would depend on the reader: neither does.
        return format!("the field {name} is given twice");
    }
    // "invalid type: string \"…\", expected X", "invalid value: …, expected X", "invalid
    // length …, expected X": X is ours, and the last ", expected " is serde's (what the sender
    // wrote comes before it).
    if ["invalid type", "invalid value", "invalid length"]
        .iter()
        .any(|prefix| message.starts_with(prefix))
        && let Some((_, expected)) = message.rsplit_once(", expected ")
    {
        return at(format!("expected {expected}"));
    }
    at("a value this endpoint cannot take".to_owned())
}

/// `name` when it can be one of our field names (lowercase ASCII and `_`, short), which no
/// token is; `None` otherwise.
fn own_name(name: &str) -> Option<&str> {
    let ours = !name.is_empty()
        && name.len() <= 32
        && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    ours.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Shape {
        iss: String,
        count: Option<u32>,
    }

    fn refused(body: &str) -> (u16, &'static str, String) {
        let refusal = parse::<Shape>(body.as_bytes()).expect_err("refused");
        (
            refusal.status().as_u16(),
            refusal.code(),
            format!("{refusal:?}"),
        )
    }

    #[test]
    fn syntax_is_400_and_shape_is_422() {
        assert_eq!(refused("").1, "invalid_json");
        assert_eq!(refused("{").0, 400);
        assert_eq!(refused(r#"{"iss":"a"} x"#).0, 400);
        assert_eq!(refused(r#"{"iss":"a"}{"iss":"b"}"#).0, 400);
        assert_eq!(refused("[[[").0, 400);
        // Never a struct by position.
        assert_eq!(
            refused(r#"["a", 1]"#),
            (422, "invalid_request", refused("null").2)
        );
        let (status, code, text) = refused("{}");
        assert_eq!((status, code), (422, "invalid_request"));
        assert!(
            text.contains(r#"description: "the field iss is required", field: Some("iss")"#),
            "{text}"
        );
        let (_, _, text) = refused(r#"{"iss":"a","cuont":1}"#);
        assert!(
            text.contains(
                "description: \"the field cuont is not one this endpoint takes (it takes `iss` or \
                 `count`)\", field: Some(\"cuont\")"
            ),
            "{text}"
        );
    }

    #[test]
    fn what_was_sent_is_never_quoted() {
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";
        for body in [
            format!(r#"{{"iss":"a","{token}":1}}"#),
            format!(r#"{{"iss":"a","count":"{token}"}}"#),
            format!(r#"{{"iss":["{token}"]}}"#),
            format!(r#"{{"iss":"a","count":"x, expected {token}"}}"#),
            format!(r#"{{"iss":"a","count":1,"count":"{token}"}}"#),
            format!(r#"{{"iss":"a"}} "{token}""#),
            format!(r#""{token}""#),
        ] {
            let (_, _, text) = refused(&body);
            assert!(!text.contains("eyJ"), "{body} → {text}");
        }
    }
}
