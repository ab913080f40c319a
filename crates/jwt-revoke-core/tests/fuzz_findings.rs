//! What the fuzz targets found (see FUZZING.md), as regular tests: each failed before its fix.

use jwt_revoke_core::RegisteredClaims;

/// F1, found by `claims_inspect`: an integer date too large for microseconds saturates to
/// `Timestamp::MAX` when parsed, and serializes as `9223372036854.775` (seconds), which the parser
/// refuses as out of range. Claims that parsed must serialize to something that parses back.
#[test]
fn a_saturated_date_survives_a_round_trip() {
    let payload =
        r#"{"iss":"https://issuer.example","sub":"alice","iat":72340172838076673,"jti":"t-0"}"#;
    let claims: RegisteredClaims = serde_json::from_str(payload).expect("the payload parses");
    let json = serde_json::to_string(&claims).expect("claims serialize");
    let again = serde_json::from_str::<RegisteredClaims>(&json);
    assert_eq!(again.ok().as_ref(), Some(&claims), "serialized as {json}");
}

/// F1 from the other end: the earliest instant too.
#[test]
fn a_date_saturated_into_the_past_survives_a_round_trip() {
    let payload = r#"{"iss":"i","sub":"s","nbf":-72340172838076673}"#;
    let claims: RegisteredClaims = serde_json::from_str(payload).expect("the payload parses");
    let json = serde_json::to_string(&claims).expect("claims serialize");
    let again = serde_json::from_str::<RegisteredClaims>(&json);
    assert_eq!(again.ok().as_ref(), Some(&claims), "serialized as {json}");
}
