//! Hiding what may be a password in text that reaches an error message (and so a log).
//!
//! A store setting holds a URL, and a URL may hold a password (`redis://:secret@host`, or a
//! Unix socket's `?pass=secret`). Where such a value is echoed back (a URL that names no
//! backend, a reader's "invalid type: string …"), its credentials are hidden first.

/// `value` with anything between its scheme and its last `@` hidden (`redis://***@host`),
/// and wholly hidden when it names a `pass` parameter.
pub(crate) fn hide_credentials(value: &str) -> String {
    if value.to_ascii_lowercase().contains("pass") {
        return "<hidden: it may hold a password>".to_owned();
    }
    let Some(at) = value.rfind('@') else {
        return value.to_owned();
    };
    let head = value[..at].find(':').map_or(0, |colon| colon + 1);
    // A scheme's slashes stay, so that the shape of the URL is still seen.
    let slashes = value[head..at].len() - value[head..at].trim_start_matches('/').len();
    format!("{}***{}", &value[..head + slashes], &value[at..])
}

/// A reader's message with every quoted (`"…"`) or backticked literal that may hold a
/// password hidden (see [`hide_credentials`]).
pub(crate) fn hide_quoted_credentials(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(['"', '`']) {
        let quote = rest[start..].chars().next().unwrap_or('"');
        out.push_str(&rest[..=start]);
        let body = &rest[start + 1..];
        // The end of the literal: the next quote not escaped by a backslash.
        let mut end = None;
        let mut escaped = false;
        for (index, c) in body.char_indices() {
            match c {
                '\\' if quote == '"' && !escaped => escaped = true,
                c if c == quote && !escaped => {
                    end = Some(index);
                    break;
                }
                _ => escaped = false,
            }
        }
        let Some(end) = end else {
            // No closing quote: the rest is one literal.
            out.push_str(&hide_literal(body));
            return out;
        };
        out.push_str(&hide_literal(&body[..end]));
        out.push(quote);
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    out
}

fn hide_literal(literal: &str) -> String {
    if literal.contains('@') || literal.to_ascii_lowercase().contains("pass") {
        hide_credentials(literal)
    } else {
        literal.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_hidden_whatever_the_url_looks_like() {
        for (value, shown) in [
            ("redis://:pw@h:6379", "redis://***@h:6379"),
            ("redis//:pw@h:6379", "redis//:***@h:6379"),
            ("redis:\t//user:pw@h", "redis:***@h"),
            ("user:pw@h", "user:***@h"),
            ("pw@h", "***@h"),
            ("redis://h:6379", "redis://h:6379"),
            ("memroy", "memroy"),
            ("unix:///s?pass=pw", "<hidden: it may hold a password>"),
        ] {
            assert_eq!(hide_credentials(value), shown, "{value:?}");
            assert!(!hide_credentials(value).contains("pw"), "{value:?}");
        }
    }

    #[test]
    fn quoted_literals_with_credentials_are_hidden_and_nothing_else() {
        let message = r#"invalid type: string "redis://:hunter2@h:1", expected a sequence"#;
        assert_eq!(
            hide_quoted_credentials(message),
            r#"invalid type: string "redis://***@h:1", expected a sequence"#
        );
        let message = "unknown variant `redis://:hunter2@h`, expected `memory` or `redis`";
        assert_eq!(
            hide_quoted_credentials(message),
            "unknown variant `redis://***@h`, expected `memory` or `redis`"
        );
        let escaped = r#"invalid type: string "a\"b:hunter2@h", expected x"#;
        assert!(!hide_quoted_credentials(escaped).contains("hunter2"));
        let open = r#"string "redis://:hunter2@h"#;
        assert!(!hide_quoted_credentials(open).contains("hunter2"));
        let plain = "unknown field `levay`, expected one of `leeway`";
        assert_eq!(hide_quoted_credentials(plain), plain);
    }
}
