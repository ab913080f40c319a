//! Adversarial review of cut-offs by any claim, at the engine: payloads an issuer may sign
//! (odd but valid JSON) must never let a token escape a claim cut-off, and a revocation the
//! engine acknowledges must be one a check reads. Each test asserts the safe behaviour.

use std::sync::Arc;
use std::time::Duration;

use jwt_revoke_core::{
    ClaimId, ClaimRevocationError, ManualClock, Policy, PolicyError, RegisteredClaims,
    RevocationReason, Revocations, Timestamp, TokenError, TokenFacts, Verdict,
};

include!("support/reference_store.rs");

const ISS: &str = "https://issuer.test";
const NOW: i64 = 1_700_000_000;

fn engine(claims: &[&str]) -> (Revocations, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Timestamp::from_secs(NOW)));
    let store = Arc::new(ReferenceStore::new(clock.clone()));
    let policy = Policy::new(Duration::from_secs(3600))
        .with_leeway(Duration::ZERO)
        .with_claim_cutoffs(claims.iter().copied())
        .expect("a valid list of claims");
    let revocations = Revocations::new(store, policy).with_clock(clock.clone());
    (revocations, clock)
}

/// The registered part of a payload, `jti` `j`, issued before the clock, with `extra` (raw
/// JSON members, written as the issuer wrote them) appended.
fn payload(jti: &str, extra: &str) -> String {
    let sep = if extra.is_empty() { "" } else { "," };
    format!(
        r#"{{"iss":"{ISS}","sub":"alice","jti":"{jti}","iat":{},"exp":{}{sep}{extra}}}"#,
        NOW - 10,
        NOW + 600
    )
}

/// What the engine makes of a verified payload: its facts, or why it is refused. A payload
/// whose registered claims do not parse is refused by the layer before the engine sees it.
fn inspect(revocations: &Revocations, payload: &str) -> Result<TokenFacts, String> {
    let claims: RegisteredClaims =
        serde_json::from_str(payload).map_err(|err| format!("registered claims: {err}"))?;
    revocations
        .inspect(&claims, payload)
        .map_err(|err| err.to_string())
}

/// Whether the token of `payload` would be let through: inspected and judged valid.
async fn let_through(revocations: &Revocations, payload: &str) -> bool {
    match inspect(revocations, payload) {
        Ok(facts) => revocations.check(&facts).await.expect("the store answers") == Verdict::Valid,
        Err(_) => false,
    }
}

/// A second later (so that a cut-off made now covers the payloads, issued before), revokes the
/// tokens of `claim` = `value`.
async fn revoke_later(revocations: &Revocations, clock: &ManualClock, claim: &str, value: &str) {
    clock.advance(Duration::from_secs(1));
    revocations
        .revoke_claim(&ClaimId::new(ISS, claim, value))
        .await
        .expect("revokes");
}

/// Every spelling of the value 42 that is not an integer is refused, never read as a value
/// the cut-off of "42" misses; the integer and the string are both revoked by it.
#[tokio::test]
async fn no_number_form_escapes_a_cutoff_on_its_value() {
    let (revocations, clock) = engine(&["tenant"]);
    let forms = [
        "42",
        "\"42\"",
        "42.0",
        "4.2e1",
        "4.2E1",
        "420e-1",
        "42e0",
        "0.42e2",
        "-0",
        "-0.0",
        "1e2",
        "1.0",
        "18446744073709551616",
        "-9223372036854775809",
        "1e400",
        "123456789012345678901234567890",
    ];
    let mut accepted_before = Vec::new();
    for (n, form) in forms.iter().enumerate() {
        let text = payload(&format!("t{n}"), &format!(r#""tenant":{form}"#));
        if let_through(&revocations, &text).await {
            accepted_before.push((*form, text));
        }
    }
    let accepted: Vec<&str> = accepted_before.iter().map(|(form, _)| *form).collect();
    // Only the integer and the string are readable values; everything else is refused.
    assert_eq!(accepted, ["42", "\"42\""], "forms accepted");
    revoke_later(&revocations, &clock, "tenant", "42").await;
    for (form, text) in &accepted_before {
        assert!(
            !let_through(&revocations, text).await,
            "tenant {form} escaped the cut-off on \"42\""
        );
    }
}

/// An integer beyond i64 but within u64 is its digits, and so revocable by them.
#[tokio::test]
async fn a_u64_integer_is_revoked_by_its_digits() {
    let (revocations, clock) = engine(&["tenant"]);
    let text = payload("u", r#""tenant":18446744073709551615"#);
    assert!(let_through(&revocations, &text).await);
    revoke_later(&revocations, &clock, "tenant", "18446744073709551615").await;
    assert!(!let_through(&revocations, &text).await);
}

/// Escapes in the claim's name or value are what JSON means by them: `"\u0061zp":"\u0061pp"`
/// is `azp` = `app`, a surrogate pair is the character it encodes, `\/` is `/`.
#[tokio::test]
async fn escaped_names_and_values_are_revoked_by_what_they_mean() {
    let (revocations, clock) = engine(&["azp"]);
    let cases = [
        (r#""\u0061zp":"\u0061pp""#, "app"),
        (r#""azp":"\u0061\u0070\u0070""#, "app"),
        (r#""a\u007Ap":"app""#, "app"),
        (r#""azp":"\ud83d\ude00""#, "\u{1F600}"),
        (r#""azp":"a\/b""#, "a/b"),
        (r#""azp":"tab\there""#, "tab\there"),
        (r#""azp":"nul\u0000byte""#, "nul\0byte"),
    ];
    let texts: Vec<String> = cases
        .iter()
        .enumerate()
        .map(|(n, (member, _))| payload(&format!("e{n}"), member))
        .collect();
    for text in &texts {
        assert!(let_through(&revocations, text).await, "{text}");
    }
    clock.advance(Duration::from_secs(1));
    for (_, value) in &cases {
        revocations
            .revoke_claim(&ClaimId::new(ISS, "azp", *value))
            .await
            .expect("revokes");
    }
    for text in &texts {
        let facts = inspect(&revocations, text).expect("inspects");
        assert!(
            matches!(
                revocations.check(&facts).await.expect("check"),
                Verdict::Revoked(RevocationReason::Claim(_))
            ),
            "escaped the cut-off: {text}"
        );
    }
}

/// A claim named twice, in any spelling and whatever the values (`null` included), is
/// refused: a reader that keeps the first or the last could see another value than the
/// cut-off.
#[tokio::test]
async fn a_claim_written_twice_in_any_spelling_is_refused() {
    let (revocations, _) = engine(&["azp"]);
    for members in [
        r#""azp":"app","azp":"other""#,
        r#""azp":"app","\u0061zp":"other""#,
        r#""\u0061zp":"app","azp":"app""#,
        r#""azp":"app","azp":null"#,
        r#""azp":null,"azp":"app""#,
        r#""azp":null,"azp":null"#,
        r#""azp":"app","azp":[1]"#,
    ] {
        let text = payload("d", members);
        assert!(
            matches!(inspect(&revocations, &text), Err(why) if why.contains("twice")),
            "{members} was not refused as a duplicate"
        );
    }
}

/// A cut-off claim nested in an object is not the claim; the top-level one still counts,
/// and a nested duplicate name is no duplicate.
#[tokio::test]
async fn a_nested_member_of_the_same_name_neither_hides_nor_replaces_the_claim() {
    let (revocations, clock) = engine(&["azp"]);
    let text = payload("n", r#""ext":{"azp":"other","azp":"x"},"azp":"app""#);
    assert!(let_through(&revocations, &text).await);
    revoke_later(&revocations, &clock, "azp", "app").await;
    assert!(!let_through(&revocations, &text).await);
}

/// A very long value (1 MiB) is read whole, and revoked by its whole text only.
#[tokio::test]
async fn a_very_long_value_is_revoked_by_its_whole_text() {
    let (revocations, clock) = engine(&["device"]);
    let long = "d".repeat(1 << 20);
    let text = payload("l", &format!(r#""device":"{long}""#));
    let prefix_text = payload("p", &format!(r#""device":"{}""#, &long[..1000]));
    assert!(let_through(&revocations, &text).await);
    revoke_later(&revocations, &clock, "device", &long).await;
    assert!(!let_through(&revocations, &text).await);
    assert!(let_through(&revocations, &prefix_text).await);
}

/// A lone surrogate in the claim's value is no text a cut-off could name: refused, never
/// read as some replacement character.
#[tokio::test]
async fn a_lone_surrogate_in_a_cutoff_claim_is_refused() {
    let (revocations, _) = engine(&["azp"]);
    for value in [r#""\ud800""#, r#""a\udc00b""#] {
        let text = payload("s", &format!(r#""azp":{value}"#));
        assert!(!let_through(&revocations, &text).await, "{value}");
    }
}

/// A token without `iat` cannot say it was issued after a claim cut-off: every live one
/// covers it.
#[tokio::test]
async fn a_token_without_iat_is_covered_by_any_live_claim_cutoff() {
    let (revocations, clock) = engine(&["azp"]);
    let text = format!(
        r#"{{"iss":"{ISS}","sub":"alice","jti":"no-iat","exp":{},"azp":"app"}}"#,
        NOW + 600
    );
    assert!(let_through(&revocations, &text).await);
    revoke_later(&revocations, &clock, "azp", "app").await;
    assert!(!let_through(&revocations, &text).await);
}

/// `revoke_claim` acknowledges only a claim the policy names, in exactly its spelling: a
/// name differing in case or by a space would be a cut-off no check reads.
#[tokio::test]
async fn a_revocation_of_a_claim_spelt_otherwise_is_refused_not_acknowledged() {
    let (revocations, _) = engine(&["azp"]);
    for name in ["AZP", "Azp", " azp", "azp ", "\u{0061}zp\u{200b}", "tenant"] {
        assert!(
            matches!(
                revocations
                    .revoke_claim(&ClaimId::new(ISS, name, "app"))
                    .await,
                Err(ClaimRevocationError::NotInPolicy(_))
            ),
            "{name:?} acknowledged"
        );
    }
}

/// Each claim value is its own record: the cut-off of one value, one claim or one issuer
/// never reaches another, and a cut-off on either of two claims revokes the token.
#[tokio::test]
async fn cutoffs_are_per_issuer_claim_and_value_and_either_claim_revokes() {
    let (revocations, clock) = engine(&["azp", "tenant"]);
    let text = payload("x", r#""azp":"app","tenant":"acme""#);
    clock.advance(Duration::from_secs(1));
    for claim in [
        ClaimId::new(ISS, "tenant", "app"),
        ClaimId::new(ISS, "azp", "acme"),
        ClaimId::new("https://other.test", "azp", "app"),
        ClaimId::new(ISS, "azp", "App"),
    ] {
        revocations.revoke_claim(&claim).await.expect("revokes");
    }
    assert!(let_through(&revocations, &text).await);
    revocations
        .revoke_claim(&ClaimId::new(ISS, "tenant", "acme"))
        .await
        .expect("revokes");
    assert!(!let_through(&revocations, &text).await);
}

/// The facts of a payload carry a key for each claim it has and only those; the policy's
/// guard rails on the names hold.
#[test]
fn the_policy_refuses_names_it_cannot_serve() {
    let policy = || Policy::new(Duration::from_secs(60));
    for name in ["", "exp", "iat", "nbf", "iss", "sub", "sid", "jti"] {
        assert!(
            matches!(
                policy().with_claim_cutoffs([name]),
                Err(PolicyError::NotACutoffClaim(_))
            ),
            "{name:?}"
        );
    }
    assert!(matches!(
        policy().with_claim_cutoffs(["azp", "azp"]),
        Err(PolicyError::DuplicateClaimCutoff(_))
    ));
    assert!(matches!(
        policy().with_claim_cutoffs(["a", "b", "c", "d", "e"]),
        Err(PolicyError::TooManyClaimCutoffs { .. })
    ));
    let (revocations, _) = engine(&["azp", "tenant", "device"]);
    let facts = inspect(&revocations, &payload("k", r#""tenant":7"#)).expect("inspects");
    assert_eq!(facts.keys().claims.len(), 1);
    assert_eq!(
        facts.keys().claims.as_slice(),
        [ClaimId::new(ISS, "tenant", "7").key()]
    );
}

/// A payload that is not one JSON object, or has trailing data, is refused when the policy
/// reads claims from it.
#[test]
fn a_payload_the_picker_cannot_read_is_refused() {
    let (revocations, _) = engine(&["azp"]);
    let claims: RegisteredClaims =
        serde_json::from_str(&payload("r", r#""azp":"app""#)).expect("claims");
    for bad in [
        "",
        "[]",
        "\u{feff}{}",
        r#"{"azp":"app"} {"azp":"x"}"#,
        r#"{"azp":"app""#,
    ] {
        assert!(
            matches!(
                revocations.inspect(&claims, bad),
                Err(TokenError::UnreadablePayload)
            ),
            "{bad:?}"
        );
    }
}
