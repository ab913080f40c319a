//! Helpers for settings read with serde (a file, the environment): one spelling of a duration
//! for every crate of jwt-revoke.

use std::fmt;
use std::time::Duration;

use serde::Deserializer;
use serde::de::{self, Visitor};

/// Reads a positive duration: milliseconds as a number, or text with a unit (`"250ms"`,
/// `"2s"`, `"1.5s"`, `"15m"` or `"15min"`, `"1h"`). Zero and negative durations are refused. For
/// `#[serde(deserialize_with = "jwt_revoke_core::settings::duration")]`.
///
/// ```
/// use std::time::Duration;
/// #[derive(serde::Deserialize)]
/// struct Settings {
///     #[serde(deserialize_with = "jwt_revoke_core::settings::duration")]
///     timeout: Duration,
/// }
/// let read = |json| serde_json::from_str::<Settings>(json).map(|s| s.timeout);
/// assert_eq!(read(r#"{"timeout": 150}"#).unwrap(), Duration::from_millis(150));
/// assert_eq!(read(r#"{"timeout": "1.5s"}"#).unwrap(), Duration::from_millis(1_500));
/// assert_eq!(read(r#"{"timeout": "15m"}"#).unwrap(), Duration::from_secs(900));
/// assert!(read(r#"{"timeout": "soon"}"#).unwrap_err().to_string().contains("\"2s\""));
/// ```
pub fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    struct DurationVisitor;
    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a positive duration: milliseconds, or text such as \"250ms\" or \"2s\"")
        }
        fn visit_u64<E: de::Error>(self, millis: u64) -> Result<Duration, E> {
            positive(Duration::from_millis(millis))
        }
        fn visit_i64<E: de::Error>(self, millis: i64) -> Result<Duration, E> {
            u64::try_from(millis)
                .map_err(|_| E::custom("a duration cannot be negative"))
                .and_then(|millis| self.visit_u64(millis))
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
            parse_duration(text).map_err(E::custom).and_then(positive)
        }
    }
    deserializer.deserialize_any(DurationVisitor)
}

fn positive<E: de::Error>(duration: Duration) -> Result<Duration, E> {
    if duration.is_zero() {
        Err(E::custom("a duration of zero is not accepted here"))
    } else {
        Ok(duration)
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let invalid = || format!("invalid duration {text:?}: write e.g. \"250ms\" or \"2s\"");
    if let Some(millis) = text.strip_suffix("ms") {
        return millis
            .trim()
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| invalid());
    }
    let (number, unit) = [("min", 60.0), ("m", 60.0), ("h", 3_600.0), ("s", 1.0)]
        .into_iter()
        .find_map(|(unit, secs)| text.strip_suffix(unit).map(|number| (number, secs)))
        .ok_or_else(invalid)?;
    let number: f64 = number.trim().parse().map_err(|_| invalid())?;
    Duration::try_from_secs_f64(number * unit).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Settings {
        #[serde(deserialize_with = "duration")]
        #[allow(dead_code)]
        value: Duration,
    }

    fn read(value: &str) -> Result<Duration, String> {
        serde_json::from_str::<Settings>(&format!(r#"{{"value":{value}}}"#))
            .map(|settings| settings.value)
            .map_err(|err| err.to_string())
    }

    #[test]
    fn durations_take_milliseconds_or_a_unit() {
        for (text, millis) in [
            ("150", 150),
            (r#""150ms""#, 150),
            (r#""2s""#, 2_000),
            (r#"" 1.5 s""#, 1_500),
            (r#""15m""#, 900_000),
            (r#""15min""#, 900_000),
            (r#""1.5h""#, 5_400_000),
        ] {
            assert_eq!(read(text), Ok(Duration::from_millis(millis)), "{text}");
        }
    }

    #[test]
    fn zero_negative_and_unitless_durations_are_refused_with_a_reason() {
        for (bad, why) in [
            ("0", "zero"),
            ("-5", "negative"),
            (r#""5""#, "write e.g."),
            (r#""-1s""#, "write e.g."),
            (r#""soon""#, "write e.g."),
            (r#""-1m""#, "write e.g."),
            (r#""1d""#, "write e.g."),
            (r#""1e400s""#, "write e.g."),
            ("true", "a positive duration"),
        ] {
            let err = read(bad).expect_err(bad);
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
