//! The commands that make one store call or a few: revoke one thing, check a token, status.

use std::fmt::Write as _;

use jwt_revoke::ops::{
    self, CutoffView, Decision, Explanation, Moment, OperatorStore, StoreStatus, UnverifiedToken,
    location_of,
};
use jwt_revoke::{
    ClaimId, ClaimRevocationError, Cutoff, Revocations, SessionId, StoreError, Timestamp,
    TokenError, TokenRevocation, UserId,
};
use serde_json::{Value, json};

use crate::cli::{CheckArgs, ClaimArgs, JtiArgs, Revoke, SessionArgs, TokenArgs, UserArgs};
use crate::output::{EXIT_FAILED, EXIT_OK, EXIT_REFUSED, Failure, Report};
use crate::setup;

/// Runs a store call within the engine's limit.
pub(crate) async fn bounded<T>(
    revocations: &Revocations,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let limit = revocations.store_timeout();
    tokio::time::timeout(limit, call)
        .await
        .unwrap_or(Err(StoreError::Timeout(limit)))
}

fn store_failed(what: &str, err: &StoreError) -> Failure {
    Failure::failed(format!(
        "{what}: NOT revoked (the store failed; nothing may have been written): {err}"
    ))
}

/// `revoke token|jti|user|session|claim`.
pub(crate) async fn revoke_one(
    command: &Revoke,
    token: Option<UnverifiedToken>,
    revocations: &Revocations,
    store: &OperatorStore,
) -> Result<Report, Failure> {
    let location = location_of(store.config());
    match command {
        Revoke::Token(TokenArgs { input }) => {
            let verified = input.verify_with.is_some();
            let token = match token {
                Some(token) => token,
                None => crate::token::read(input)?,
            };
            let facts = match token.facts(revocations) {
                Ok(facts) => facts,
                Err(TokenError::Expired) => {
                    return Ok(Report {
                        json: json!({
                            "command": "revoke token", "store": location,
                            "outcome": "already_expired", "signature_verified": verified,
                        }),
                        human: "already expired: no service accepts it; nothing was recorded"
                            .to_owned(),
                        code: EXIT_OK,
                    });
                }
                Err(err) => return Err(token_refused(&err)),
            };
            revoke_facts(revocations, &facts, "revoke token", &location, verified).await
        }
        Revoke::Jti(args) => revoke_jti(args, revocations, &location).await,
        Revoke::User(UserArgs { iss, sub }) => {
            let user = UserId::new(iss.clone(), sub.clone());
            let cutoff = bounded(revocations, revocations.revoke_user(&user))
                .await
                .map_err(|err| store_failed(&format!("user {sub:?} of {iss:?}"), &err))?;
            Ok(cutoff_report(
                revocations,
                "revoke user",
                &location,
                json!({ "iss": iss, "sub": sub }),
                &format!("user {sub:?} of {iss:?}"),
                cutoff,
            ))
        }
        Revoke::Session(SessionArgs { iss, sid }) => {
            let session = SessionId::new(iss.clone(), sid.clone());
            let cutoff = bounded(revocations, revocations.revoke_session(&session))
                .await
                .map_err(|err| store_failed(&format!("session {sid:?} of {iss:?}"), &err))?;
            Ok(cutoff_report(
                revocations,
                "revoke session",
                &location,
                json!({ "iss": iss, "sid": sid }),
                &format!("session {sid:?} of {iss:?}"),
                cutoff,
            ))
        }
        Revoke::Claim(ClaimArgs { iss, claim, value }) => {
            let id = ClaimId::new(iss.clone(), claim.clone(), value.clone());
            let what = format!("claim {claim}={value:?} of {iss:?}");
            let limit = revocations.store_timeout();
            let cutoff = match tokio::time::timeout(limit, revocations.revoke_claim(&id)).await {
                Ok(Ok(cutoff)) => cutoff,
                Ok(Err(ClaimRevocationError::NotInPolicy(_))) => {
                    return Err(Failure::usage(format!(
                        "{what}: NOT revoked: the policy gives no cut-offs to the {claim} claim, \
                         so the services would never read one. Add it to the services' \
                         policy.claim_cutoffs (and here: --claim-cutoff {claim}, or --config)"
                    )));
                }
                Ok(Err(ClaimRevocationError::Store(err))) => return Err(store_failed(&what, &err)),
                Ok(Err(err)) => return Err(Failure::failed(format!("{what}: NOT revoked: {err}"))),
                Err(_) => return Err(store_failed(&what, &StoreError::Timeout(limit))),
            };
            Ok(cutoff_report(
                revocations,
                "revoke claim",
                &location,
                json!({ "iss": iss, "claim": claim, "value": value }),
                &what,
                cutoff,
            ))
        }
        Revoke::Users(_) => unreachable!("revoke users is run by bulk::revoke_users"),
    }
}

/// Refuses the identifiers of `command` that no token can carry as given: an empty one, or one
/// with whitespace around it (a CSV's `\r`, a pasted newline). Identifiers are compared
/// exactly, so the revocation would be acknowledged and refuse nothing (the admin API refuses
/// them alike).
pub(crate) fn check_identifiers(command: &Revoke) -> Result<(), Failure> {
    let fields: Vec<(&str, &str)> = match command {
        Revoke::Token(_) => Vec::new(),
        Revoke::Jti(JtiArgs { iss, sub, jti, .. }) => {
            vec![("--iss", iss), ("--sub", sub), ("--jti", jti)]
        }
        Revoke::User(UserArgs { iss, sub }) => vec![("--iss", iss), ("--sub", sub)],
        Revoke::Session(SessionArgs { iss, sid }) => vec![("--iss", iss), ("--sid", sid)],
        Revoke::Claim(ClaimArgs { iss, claim, value }) => {
            vec![("--iss", iss), ("--claim", claim), ("--value", value)]
        }
        Revoke::Users(args) => vec![("--iss", &args.iss)],
    };
    for (option, value) in fields {
        if value.is_empty() {
            return Err(Failure::usage(format!(
                "{option} must not be empty: nothing was revoked"
            )));
        }
        if value.trim() != value {
            return Err(Failure::usage(format!(
                "{option} has whitespace around it; identifiers are compared exactly, so it \
                 would match no token: nothing was revoked"
            )));
        }
    }
    Ok(())
}

fn token_refused(err: &TokenError) -> Failure {
    Failure::usage(format!(
        "the token cannot be revoked by this policy: {err} (if the services' policy differs, \
         give it: --config or --max-token-lifetime)"
    ))
}

async fn revoke_jti(
    args: &JtiArgs,
    revocations: &Revocations,
    location: &str,
) -> Result<Report, Failure> {
    let now = revocations.clock().now();
    let latest = ops::latest_expiry(revocations);
    let expires_at = match (&args.expires_at, &args.for_) {
        (Some(exp), _) => Timestamp::from_secs(*exp),
        (None, Some(text)) => now.saturating_add(setup::duration("--for", text, false)?),
        (None, None) => latest,
    };
    if expires_at > latest {
        // No token the policy accepts now expires that late; a date that far ahead is more
        // likely milliseconds than seconds, and would keep a record for nothing (the admin
        // API refuses it alike).
        return Err(Failure::usage(format!(
            "revoke jti: no token this policy accepts now expires after {}: the record would \
             outlive every token it could name (--expires-at is in seconds since the epoch); \
             nothing was revoked",
            Moment(latest)
        )));
    }
    let facts = match ops::jti_facts(revocations, &args.iss, &args.sub, &args.jti, expires_at) {
        Ok(facts) => facts,
        Err(TokenError::Expired) => {
            return Ok(Report {
                json: json!({ "command": "revoke jti", "store": location, "outcome": "already_expired" }),
                human: "already expired: no service accepts it; nothing was recorded".to_owned(),
                code: EXIT_OK,
            });
        }
        Err(err) => return Err(Failure::usage(format!("revoke jti: {err}"))),
    };
    revoke_facts(revocations, &facts, "revoke jti", location, false).await
}

async fn revoke_facts(
    revocations: &Revocations,
    facts: &jwt_revoke::TokenFacts,
    command: &str,
    location: &str,
    verified: bool,
) -> Result<Report, Failure> {
    let summary = ops::TokenSummary::of(facts);
    let what = match &summary.jti {
        Some(jti) => format!("token jti={jti:?} of {:?} ({:?})", summary.sub, summary.iss),
        None => format!(
            "token with payload digest {} of {:?} ({:?})",
            summary.payload_digest.as_deref().unwrap_or("?"),
            summary.sub,
            summary.iss
        ),
    };
    let outcome = bounded(revocations, revocations.revoke_token(facts))
        .await
        .map_err(|err| store_failed(&what, &err))?;
    let mut json = json!({
        "command": command, "store": location, "token": summary, "signature_verified": verified,
    });
    let human = match outcome {
        TokenRevocation::Recorded { until } => {
            json["outcome"] = "recorded".into();
            json["until"] = serde_json::to_value(Moment(until)).unwrap_or(Value::Null);
            format!(
                "revoked: {what}\n  refused until {} (its expiry plus the leeway)",
                Moment(until)
            )
        }
        TokenRevocation::AlreadyExpired => {
            json["outcome"] = "already_expired".into();
            format!("already expired: {what}; nothing was recorded")
        }
        TokenRevocation::Unregistered { was_registered } => {
            json["outcome"] = "unregistered".into();
            json["was_registered"] = was_registered.into();
            format!(
                "revoked (allowlist: registration deleted; it {} registered): {what}",
                if was_registered { "was" } else { "was not" }
            )
        }
        _ => {
            json["outcome"] = "revoked".into();
            format!("revoked: {what}")
        }
    };
    let note = if verified {
        ""
    } else {
        "\n  (signature not checked: give --verify-with to check it)"
    };
    Ok(Report {
        json,
        human: if command == "revoke token" {
            format!("{human}{note}")
        } else {
            human
        },
        code: EXIT_OK,
    })
}

fn cutoff_report(
    revocations: &Revocations,
    command: &str,
    location: &str,
    subject: Value,
    what: &str,
    cutoff: Cutoff,
) -> Report {
    let kept_until = Moment(
        cutoff
            .at()
            .saturating_add(revocations.policy().cutoff_retention()),
    );
    let view = CutoffView::from(cutoff);
    let mut json = json!({
        "command": command, "store": location, "cutoff": view, "kept_until": kept_until,
    });
    if let (Some(json), Value::Object(subject)) = (json.as_object_mut(), subject) {
        json.extend(subject);
    }
    Report {
        json,
        human: format!(
            "revoked: every token of {what} issued up to {}\n  a token issued now needs iat >= {} \
             to be accepted; the cut-off is kept until {kept_until}",
            view.at, view.first_valid_iat
        ),
        code: EXIT_OK,
    }
}

/// `check`.
pub(crate) async fn check(
    args: &CheckArgs,
    token: UnverifiedToken,
    revocations: &Revocations,
) -> Result<Report, Failure> {
    let verified = args.input.verify_with.is_some();
    let facts = match token.facts(revocations) {
        Ok(facts) => facts,
        Err(err) => {
            return Ok(Report {
                json: json!({
                    "command": "check", "refused": true, "refused_by": "claims",
                    "description": err.to_string(), "signature_verified": verified,
                }),
                human: format!("REFUSED by its claims, before any record is read: {err}"),
                code: EXIT_REFUSED,
            });
        }
    };
    let explanation = bounded(revocations, ops::explain(revocations, &facts))
        .await
        .map_err(|err| Failure::failed(format!("the store cannot answer: {err}")))?;
    // The store's records aside, is it accepted now by its times (not valid yet)?
    let now_rule = revocations
        .inspect(token.claims(), token.payload())
        .err()
        .map(|err| err.to_string());
    let mut json = serde_json::to_value(&explanation).unwrap_or(Value::Null);
    json["command"] = "check".into();
    json["signature_verified"] = verified.into();
    json["refused_by"] = if explanation.refused {
        "record".into()
    } else if now_rule.is_some() {
        "claims".into()
    } else {
        Value::Null
    };
    if let Some(rule) = &now_rule {
        json["claims_now"] = rule.clone().into();
    }
    let refused = explanation.refused || now_rule.is_some();
    json["refused"] = refused.into();
    let mut human = describe(&explanation);
    if let Some(rule) = &now_rule {
        let _ = write!(human, "\n  not accepted now by its claims: {rule}");
        if !explanation.refused {
            human = format!("REFUSED now by its claims (no record refuses it)\n{human}");
        }
    }
    if !verified {
        human.push_str("\n  (signature not checked: give --verify-with to check it)");
    }
    Ok(Report {
        json,
        human,
        code: if refused { EXIT_REFUSED } else { EXIT_OK },
    })
}

fn describe(explanation: &Explanation) -> String {
    let token = &explanation.token;
    let mut out = String::new();
    match explanation.decision {
        Some(decision) => {
            let _ = writeln!(out, "REFUSED: {}", explanation.description);
            let by = match decision {
                Decision::TokenRecord => "its own revocation record".to_owned(),
                Decision::NotRegistered => "no registration (allowlist mode)".to_owned(),
                Decision::UserCutoff => "its user's cut-off".to_owned(),
                Decision::SessionCutoff => "its session's cut-off".to_owned(),
                Decision::ClaimCutoff => format!(
                    "the cut-off of its claim value {}",
                    explanation.claim.as_deref().unwrap_or("?")
                ),
                Decision::DataLossCutoff => "the store's data-loss cut-off".to_owned(),
                _ => "a record".to_owned(),
            };
            let _ = write!(out, "  decided by   {by}");
            if let Some(cutoff) = &explanation.cutoff {
                let _ = write!(
                    out,
                    " at {} (tokens with iat >= {} are not covered)",
                    cutoff.at, cutoff.first_valid_iat
                );
            }
            out.push('\n');
            if let Some(until) = &explanation.refused_until {
                let _ = writeln!(out, "  refused until {until} (then it has expired anyway)");
            }
        }
        None => {
            let _ = writeln!(out, "not revoked: no record refuses this token");
        }
    }
    let _ = write!(
        out,
        "  token        iss={:?} sub={:?}",
        token.iss, token.sub
    );
    if let Some(jti) = &token.jti {
        let _ = write!(out, " jti={jti:?}");
    }
    if let Some(digest) = &token.payload_digest {
        let _ = write!(out, " payload-digest={digest}");
    }
    if let Some(sid) = &token.sid {
        let _ = write!(out, " sid={sid:?}");
    }
    let _ = write!(
        out,
        "\n  issued at    {}\n  expires at   {}",
        token
            .issued_at
            .map_or("(no iat)".to_owned(), |at| at.to_string()),
        token.expires_at
    );
    let records = &explanation.records;
    let cutoff =
        |view: &Option<CutoffView>| view.map_or("none".to_owned(), |view| view.at.to_string());
    let _ = write!(
        out,
        "\n  records      token: {}; user cut-off: {}; session cut-off: {}; claim cut-off: {}; data-loss cut-off: {}",
        if records.token_record {
            "present"
        } else {
            "none"
        },
        cutoff(&records.user_cutoff),
        cutoff(&records.session_cutoff),
        cutoff(&records.claim_cutoff),
        records
            .data_loss_cutoff
            .map_or("none".to_owned(), |at| at.to_string()),
    );
    out
}

/// `status`: a store that cannot be opened is reported too (exit 1), unless its settings
/// are wrong (exit 2).
pub(crate) async fn status(config: &jwt_revoke::StoreConfig) -> Result<Report, Failure> {
    let status: StoreStatus = match OperatorStore::open(config).await {
        Ok(store) => store.status().await,
        Err(err) => {
            let failure = setup::store_failure(&err);
            if failure.code != EXIT_FAILED {
                return Err(failure);
            }
            StoreStatus::unreachable(config, &err)
        }
    };
    let healthy = status.reachable && status.error.is_none();
    let mut json = serde_json::to_value(&status).unwrap_or(Value::Null);
    json["command"] = "status".into();
    json["healthy"] = healthy.into();
    Ok(Report {
        json,
        human: describe_status(&status),
        code: if healthy { EXIT_OK } else { EXIT_FAILED },
    })
}

fn describe_status(status: &StoreStatus) -> String {
    let mut out = String::new();
    let kind = match status.kind {
        jwt_revoke::ops::StoreKind::Memory => "memory (this process only: no service sees it)",
        jwt_revoke::ops::StoreKind::Redis => "redis (one server)",
        jwt_revoke::ops::StoreKind::RedisCluster => "redis cluster",
        _ => "other",
    };
    let _ = writeln!(out, "store        {} {}", kind, status.location);
    match (status.reachable, status.round_trip_ms) {
        (true, Some(ms)) => {
            let _ = writeln!(out, "reachable    yes ({ms:.1} ms for a check)");
        }
        (true, None) => {
            let _ = writeln!(out, "reachable    yes");
        }
        (false, _) => {
            let _ = writeln!(out, "reachable    NO");
        }
    }
    if let Some(error) = &status.error {
        let _ = writeln!(out, "error        {error}");
    }
    if let Some(prefix) = &status.key_prefix {
        let _ = writeln!(out, "key prefix   {prefix}");
    }
    if let Some(records) = &status.records {
        let bound = if records.complete { "" } else { "at least " };
        let _ = write!(out, "records      {bound}{}", records.total);
        if let (Some(tokens), Some(cutoffs)) = (records.tokens, records.cutoffs) {
            let _ = write!(out, " ({tokens} token records, {cutoffs} cut-offs)");
        }
        if let Some(capacity) = records.capacity {
            let _ = write!(out, " of at most {capacity}");
        }
        out.push('\n');
    }
    if let Some(loss) = &status.data_loss {
        let marker = match (loss.marker, loss.marker_at) {
            (Some(state), Some(at)) => format!("{state} at {at}"),
            (Some(state), None) => state.to_owned(),
            (None, _) => "(one per slot range: not read here)".to_owned(),
        };
        let _ = writeln!(
            out,
            "data loss    marker {marker}; reaction {}; cut-off {}; failing closed: {}",
            loss.reaction,
            loss.cutoff.map_or("none".to_owned(), |at| at.to_string()),
            if loss.failing_closed { "YES" } else { "no" },
        );
        if let Some(policy) = &loss.evicting_policy {
            let _ = writeln!(
                out,
                "             the server may EVICT keys (maxmemory-policy {policy})"
            );
        }
    }
    if let Some(replication) = &status.replication {
        let _ = write!(
            out,
            "replication  role {}; {} replicas connected; writes acknowledged after {}",
            replication.role.as_deref().unwrap_or("?"),
            replication
                .connected_replicas
                .map_or("?".to_owned(), |n| n.to_string()),
            match (
                replication.acknowledge_after_replicas,
                replication.acknowledge_timeout_ms
            ) {
                (Some(n), Some(ms)) => format!("{n} replicas (within {ms} ms)"),
                _ => "the primary alone".to_owned(),
            }
        );
        match &replication.local_replica {
            Some(local) => {
                let _ = write!(
                    out,
                    "; services' local replica: max staleness {} ms, heartbeat {} ms, {} records",
                    local.max_staleness_ms, local.heartbeat_ms, local.capacity
                );
            }
            None => out.push_str("; no local replica"),
        }
        out.push('\n');
    }
    out
}
