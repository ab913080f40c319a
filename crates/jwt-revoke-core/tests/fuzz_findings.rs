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

/// F3, found by `claims_inspect`: a fractional date was read as `floor(v × 10⁶)` µs, and the f64
/// nearest to 257.185101 times 10⁶ is 257185100.99999997: the date read one microsecond early,
/// and a date written back did not read back the same. For today's dates an issuer's
/// microsecond-exact `iat` (`1700000000.123457`) was read a microsecond early about half the
/// time, so a token minted a microsecond after a cut-off could be refused by it.
#[test]
fn a_fractional_date_reads_as_the_microsecond_it_says_and_survives_a_round_trip() {
    use jwt_revoke_core::Timestamp;
    for (text, micros) in [
        ("257.185101", 257_185_101),
        ("1700000000.123457", 1_700_000_000_123_457),
        ("1700000000.000001", 1_700_000_000_000_001),
        ("-1.5", -1_500_000),
        ("8589934591.999999", 8_589_934_591_999_999),
    ] {
        let claims: RegisteredClaims =
            serde_json::from_str(&format!(r#"{{"iat":{text}}}"#)).expect("the payload parses");
        let iat = claims.iat.expect("an iat").timestamp();
        assert_eq!(iat, Timestamp::from_micros(micros), "iat {text}");
        let json = serde_json::to_string(&claims).expect("claims serialize");
        let again: RegisteredClaims = serde_json::from_str(&json).expect("parses back");
        assert_eq!(again, claims, "{text} serialized as {json}");
    }
}

/// F3's fix from the attacker's side: rounding to the microsecond must never move a date that
/// is at or before a cut-off to after it. For cut-offs at microsecond instants around today,
/// a date written a fraction of a microsecond before (or exactly at) the cut-off reads at or
/// before it, and one a whole microsecond after reads after it.
#[test]
fn a_fractional_date_at_or_before_a_cutoff_never_reads_after_it() {
    use jwt_revoke_core::{Cutoff, Timestamp};
    let read = |text: &str| -> Timestamp {
        let claims: RegisteredClaims =
            serde_json::from_str(&format!(r#"{{"iat":{text}}}"#)).expect("parses");
        claims.iat.expect("an iat").timestamp()
    };
    for secs in [
        1_700_000_000_i64,
        1_764_000_000,
        2_147_483_647,
        4_102_444_800,
    ] {
        for micros in [0_u32, 1, 499_999, 500_000, 999_998, 999_999, 123_456] {
            let cutoff = Cutoff::new(Timestamp::from_micros(secs * 1_000_000 + i64::from(micros)));
            let at = format!("{secs}.{micros:06}");
            assert!(cutoff.covers(read(&at)), "{at} read after its own instant");
            for below in ["1", "4", "49", "5", "9"] {
                // 0.1 to 0.9 µs before the cut-off (0.9 µs: the sub-microsecond edge).
                let before = if micros == 0 {
                    format!("{}.999999{below}", secs - 1)
                } else {
                    format!("{secs}.{:06}{below}", micros - 1)
                };
                assert!(cutoff.covers(read(&before)), "{before} read after {at}");
            }
            let after = if micros == 999_999 {
                format!("{}.000000", secs + 1)
            } else {
                format!("{secs}.{:06}", micros + 1)
            };
            assert!(
                !cutoff.covers(read(&after)),
                "{after} read at or before {at}"
            );
        }
    }
}
