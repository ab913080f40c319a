//! The revoking endpoints: users, sessions, claim values, a pasted token, a `jti`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jwt_revoke_core::{
    ClaimId, ClaimRevocationError, SessionId, TokenError, TokenFacts, TokenRevocation, UserId,
};

use super::Shared;
use super::answer::{self, ClaimRevoked, SessionRevoked, TokenOutcome, TokenRevoked, UserRevoked};
use super::body::read_json;
use super::refusal::{Refusal, StoreCall};
use super::request::{self, RevokeClaim, RevokeJti, RevokeSession, RevokeUser, TokenBody};
use crate::ops::{self, Moment, TokenSummary, UnverifiedToken};

/// `POST /revocations/users`: a cut-off for (`iss`, `sub`).
pub(crate) async fn user(State(api): State<Arc<Shared>>, request: Request) -> Response {
    answer(revoke_user(&api, request).await)
}

async fn revoke_user(api: &Shared, request: Request) -> Result<Response, Refusal> {
    let body: RevokeUser = read_json(request, api.max_body_bytes).await?;
    let iss = api.issuer(&body.iss)?;
    let sub = request::identifier("sub", &body.sub)?;
    let user = UserId::new(iss, sub);
    let revocations = &api.revocations;
    let cutoff = match request::instant(&api.revocations, body.at)? {
        None => api.bounded(revocations.revoke_user(&user)).await,
        Some(at) => api.bounded(revocations.revoke_user_at(&user, at)).await,
    }
    .map_err(|err| api.store_refusal(&err, StoreCall::Revoke))?;
    tracing::info!(iss, sub, cutoff = %Moment(cutoff.at()), "admin API: revoked the tokens of a user");
    Ok(answer::json(
        StatusCode::OK,
        &UserRevoked {
            revoked: "user",
            iss,
            sub,
            cutoff: cutoff.into(),
        },
    ))
}

/// `POST /revocations/sessions`: a cut-off for (`iss`, `sid`).
pub(crate) async fn session(State(api): State<Arc<Shared>>, request: Request) -> Response {
    answer(revoke_session(&api, request).await)
}

async fn revoke_session(api: &Shared, request: Request) -> Result<Response, Refusal> {
    let body: RevokeSession = read_json(request, api.max_body_bytes).await?;
    let iss = api.issuer(&body.iss)?;
    let sid = request::identifier("sid", &body.sid)?;
    let session = SessionId::new(iss, sid);
    let revocations = &api.revocations;
    let cutoff = match request::instant(&api.revocations, body.at)? {
        None => api.bounded(revocations.revoke_session(&session)).await,
        Some(at) => {
            api.bounded(revocations.revoke_session_at(&session, at))
                .await
        }
    }
    .map_err(|err| api.store_refusal(&err, StoreCall::Revoke))?;
    tracing::info!(iss, sid, cutoff = %Moment(cutoff.at()), "admin API: ended a session");
    Ok(answer::json(
        StatusCode::OK,
        &SessionRevoked {
            revoked: "session",
            iss,
            sid,
            cutoff: cutoff.into(),
        },
    ))
}

/// `POST /revocations/claims`: a cut-off for (`iss`, claim, value), for a claim the policy
/// gives cut-offs.
pub(crate) async fn claim(State(api): State<Arc<Shared>>, request: Request) -> Response {
    answer(revoke_claim(&api, request).await)
}

async fn revoke_claim(api: &Shared, request: Request) -> Result<Response, Refusal> {
    let body: RevokeClaim = read_json(request, api.max_body_bytes).await?;
    let iss = api.issuer(&body.iss)?;
    let name = request::identifier("claim", &body.claim)?;
    let value = request::identifier("value", &body.value.0)?;
    let revocations = &api.revocations;
    let named = revocations.policy().claim_cutoffs();
    if !named.iter().any(|claim| claim == name) {
        // Checked before the call, so that it is a 422 whatever the store's state; the engine
        // refuses it too.
        return Err(not_in_policy(named));
    }
    let id = ClaimId::new(iss, name, value);
    let revoked = match request::instant(&api.revocations, body.at)? {
        None => api.bounded(revocations.revoke_claim(&id)).await,
        Some(at) => api.bounded(revocations.revoke_claim_at(&id, at)).await,
    };
    let cutoff = match revoked {
        Ok(cutoff) => cutoff,
        Err(ClaimRevocationError::NotInPolicy(_)) => return Err(not_in_policy(named)),
        Err(ClaimRevocationError::Store(err)) => {
            return Err(api.store_refusal(&err, StoreCall::Revoke));
        }
        // A refusal a later engine adds: nothing was revoked, and it says why.
        Err(err) => return Err(Refusal::unprocessable("claim_refused", err.to_string())),
    };
    tracing::info!(iss, claim = name, value, cutoff = %Moment(cutoff.at()), "admin API: revoked the tokens of a claim value");
    Ok(answer::json(
        StatusCode::OK,
        &ClaimRevoked {
            revoked: "claim",
            iss,
            claim: name,
            value,
            cutoff: cutoff.into(),
        },
    ))
}

fn not_in_policy(named: &[String]) -> Refusal {
    let description = if named.is_empty() {
        "the policy gives no claim cut-offs (Policy::with_claim_cutoffs): nothing was revoked"
            .to_owned()
    } else {
        format!(
            "the policy gives cut-offs only to {}: a cut-off for another claim would never be \
             read, so nothing was revoked",
            named.join(", ")
        )
    };
    Refusal::unprocessable("claim_not_in_policy", description).with_field("claim")
}

/// `POST /revocations/tokens`: a leaked token, pasted as is, read without trusting it.
pub(crate) async fn token(State(api): State<Arc<Shared>>, request: Request) -> Response {
    answer(revoke_pasted(&api, request).await)
}

async fn revoke_pasted(api: &Shared, request: Request) -> Result<Response, Refusal> {
    let body: TokenBody = read_json(request, api.max_body_bytes).await?;
    let token = read_token(&body.token)?;
    if let Some(iss) = token.claims().iss.as_deref() {
        api.issuer(iss)?;
    }
    match token.facts(&api.revocations) {
        Ok(facts) => revoke_facts(api, &facts).await,
        Err(TokenError::Expired) => Ok(already_expired(None)),
        Err(err) => Err(token_refused(&err, StoreCall::Revoke).with_field("token")),
    }
}

/// `POST /revocations/jti`: a token known by (`iss`, `sub`, `jti`).
pub(crate) async fn jti(State(api): State<Arc<Shared>>, request: Request) -> Response {
    answer(revoke_jti(&api, request).await)
}

async fn revoke_jti(api: &Shared, request: Request) -> Result<Response, Refusal> {
    let body: RevokeJti = read_json(request, api.max_body_bytes).await?;
    let iss = api.issuer(&body.iss)?;
    let sub = request::identifier("sub", &body.sub)?;
    let jti = request::identifier("jti", &body.jti)?;
    let revocations = &api.revocations;
    let latest = ops::latest_expiry(revocations);
    let expires_at = match (body.expires_at, body.for_seconds) {
        (Some(_), Some(_)) => {
            return Err(Refusal::invalid_request(
                "give expires_at or for_seconds, not both",
            ));
        }
        (Some(at), None) => at.timestamp(),
        (None, Some(0)) => {
            return Err(Refusal::invalid_field(
                "for_seconds",
                "for_seconds must be at least 1",
            ));
        }
        (None, Some(secs)) => revocations
            .clock()
            .now()
            .saturating_add(Duration::from_secs(secs)),
        (None, None) => latest,
    };
    if expires_at > latest {
        // No token the policy accepts now expires that late; a date that far ahead is more
        // likely milliseconds than seconds, and would keep a record for nothing.
        let field = if body.for_seconds.is_some() {
            "for_seconds"
        } else {
            "expires_at"
        };
        return Err(Refusal::invalid_field(
            field,
            format!(
                "no token this policy accepts now expires after {}: the record would outlive \
                 every token it could name (expires_at is in seconds since the epoch)",
                Moment(latest)
            ),
        ));
    }
    match ops::jti_facts(revocations, iss, sub, jti, expires_at) {
        Ok(facts) => revoke_facts(api, &facts).await,
        Err(TokenError::Expired) => Ok(already_expired(None)),
        Err(err) => Err(token_refused(&err, StoreCall::Revoke)),
    }
}

/// Revokes the token of `facts` and says what was done.
async fn revoke_facts(api: &Shared, facts: &TokenFacts) -> Result<Response, Refusal> {
    let revocations = &api.revocations;
    let done = api
        .bounded(revocations.revoke_token(facts))
        .await
        .map_err(|err| api.store_refusal(&err, StoreCall::Revoke))?;
    let summary = TokenSummary::of(facts);
    tracing::info!(
        iss = %summary.iss,
        sub = %summary.sub,
        jti = summary.jti.as_deref(),
        payload_digest = summary.payload_digest.as_deref(),
        outcome = ?done,
        "admin API: revoked a token"
    );
    let answer = match done {
        TokenRevocation::Recorded { until } => TokenRevoked {
            revoked: "token",
            outcome: TokenOutcome::Recorded,
            description: "the token is refused until it expires",
            token: Some(summary),
            recorded_until: Some(Moment(until)),
            was_registered: None,
        },
        TokenRevocation::Unregistered { was_registered } => TokenRevoked {
            revoked: "token",
            outcome: TokenOutcome::Unregistered,
            description: "the token's registration is gone: it is refused from now on",
            token: Some(summary),
            recorded_until: None,
            was_registered: Some(was_registered),
        },
        // `AlreadyExpired`, and any outcome a later engine adds: nothing needed storing.
        _ => return Ok(already_expired(Some(summary))),
    };
    Ok(answer::json(StatusCode::OK, &answer))
}

/// 200: the token has expired; nothing needed storing (revoking an expired token succeeds and
/// stores nothing).
fn already_expired(token: Option<TokenSummary>) -> Response {
    answer::json(
        StatusCode::OK,
        &TokenRevoked {
            revoked: "token",
            outcome: TokenOutcome::AlreadyExpired,
            description: "the token has expired: no service on this policy accepts it, so \
                          nothing needed storing",
            token,
            recorded_until: None,
            was_registered: None,
        },
    )
}

/// Reads a pasted token; 422 `invalid_token` with what is wrong, never what it holds.
pub(crate) fn read_token(text: &str) -> Result<UnverifiedToken, Refusal> {
    UnverifiedToken::read(text)
        .map_err(|err| Refusal::unprocessable("invalid_token", err.to_string()).with_field("token"))
}

/// 422 `token_refused`: the policy refuses the token's claims (a service on this policy does
/// not accept it), so no record can be made for it.
pub(crate) fn token_refused(err: &TokenError, call: StoreCall) -> Refusal {
    let description = match call {
        StoreCall::Revoke => {
            format!("{err}: a service on this policy refuses it; nothing was recorded")
        }
        StoreCall::Read => format!("{err}: a service on this policy refuses it"),
    };
    Refusal::unprocessable("token_refused", description)
}

/// The answer of a handler, a refusal as its JSON response.
pub(crate) fn answer(result: Result<Response, Refusal>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}
