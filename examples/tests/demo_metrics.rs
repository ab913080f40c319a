//! The demo's `GET /metrics`: a scripted sequence of requests to the demo binary (a process of
//! its own, so the counts are this test's alone), then a scrape, and the exact value of every
//! series the sequence moved.

mod support;

use std::collections::BTreeMap;

use support::{start_binary, token};

const SECRET: &str = "metrics test secret";

/// The scrape's samples: `name{labels}` → value, comments left out.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("`series value`");
            (series.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

#[tokio::test]
async fn the_demo_counts_each_decision_by_outcome_and_reason_and_each_store_call() {
    let demo = start_binary(
        env!("CARGO_BIN_EXE_demo"),
        "DEMO_ADDR",
        &[("REVOCATION_STORE", "memory"), ("DEMO_JWT_SECRET", SECRET)],
    );
    let base = demo.url.clone();
    // Allowed twice (`/me`, `/logout`); then refused: revoked, no token.
    support::login_me_logout_over_http(&base).await;
    let client = reqwest::Client::new();
    let me = |token: String| {
        let client = client.clone();
        let base = base.clone();
        async move {
            client
                .get(format!("{base}/me"))
                .bearer_auth(token)
                .send()
                .await
                .expect("me")
                .status()
        }
    };
    // Refused: malformed (twice), a forged signature; allowed: a token minted with the secret.
    assert_eq!(me("not-a-jwt".to_owned()).await, 401);
    assert_eq!(me("a.b.c".to_owned()).await, 401);
    assert_eq!(
        me(token(b"another secret entirely", "erin", "j-1")).await,
        401
    );
    assert_eq!(me(token(SECRET.as_bytes(), "erin", "j-2")).await, 200);

    let scrape = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(scrape.status(), 200, "no token needed: outside the layer");
    let text = scrape.text().await.expect("text");
    let samples = samples(&text);
    let value = |series: &str| samples.get(series).copied();

    let decisions: BTreeMap<&String, &f64> = samples
        .iter()
        .filter(|(series, _)| series.starts_with("jwt_revoke_decisions_total{"))
        .collect();
    let expected = [
        (
            r#"jwt_revoke_decisions_total{outcome="allowed",reason="valid"}"#,
            3.0,
        ),
        (
            r#"jwt_revoke_decisions_total{outcome="rejected",reason="revoked_token"}"#,
            1.0,
        ),
        (
            r#"jwt_revoke_decisions_total{outcome="rejected",reason="no_token"}"#,
            1.0,
        ),
        (
            r#"jwt_revoke_decisions_total{outcome="rejected",reason="malformed"}"#,
            2.0,
        ),
        (
            r#"jwt_revoke_decisions_total{outcome="rejected",reason="signature"}"#,
            1.0,
        ),
    ];
    assert_eq!(
        decisions.len(),
        expected.len(),
        "no other decision series: {decisions:#?}"
    );
    for (series, count) in expected {
        assert_eq!(value(series), Some(count), "{series} in\n{text}");
    }
    // Five checks reached the store (three allowed, one revoked, and the login's: a token is
    // not issued under a cut-off); the logout wrote one record; no store call failed.
    assert_eq!(
        value(r#"jwt_revoke_store_call_duration_seconds_count{store="memory",op="check"}"#),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        value(r#"jwt_revoke_store_call_duration_seconds_count{store="memory",op="insert_token"}"#),
        Some(1.0),
        "{text}"
    );
    assert!(!text.contains("jwt_revoke_store_errors_total"), "{text}");
    // The claims memo: the first sight of each verified token is a miss (dave's, erin's),
    // dave's two later requests hits.
    assert_eq!(
        value(r#"jwt_revoke_cache_lookups_total{cache="claims_memo",result="miss"}"#),
        Some(2.0)
    );
    assert_eq!(
        value(r#"jwt_revoke_cache_lookups_total{cache="claims_memo",result="hit"}"#),
        Some(2.0)
    );
    // The memory store holds the one revocation (the logout's).
    assert_eq!(value("jwt_revoke_memory_records"), Some(1.0), "{text}");
    assert_eq!(
        value("jwt_revoke_memory_capacity_records"),
        Some(jwt_revoke_memory::MemoryStore::DEFAULT_CAPACITY as f64),
        "{text}"
    );
    // No label carries a token, a subject or a path.
    for secretish in ["dave", "erin", "not-a-jwt", "/me", "eyJ"] {
        assert!(!text.contains(secretish), "{secretish} in\n{text}");
    }
}
