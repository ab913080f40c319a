//! `POST /check`: would a service on this store and policy refuse a token, why, by which record,
//! until when. The answer is [`ops::explain`](crate::ops::explain)'s, as the command-line tool
//! prints it.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use jwt_revoke_core::TokenError;

use super::Shared;
use super::answer;
use super::body::read_json;
use super::refusal::{Refusal, StoreCall};
use super::request::TokenBody;
use super::revoke::{self, read_token, token_refused};
use crate::ops;

pub(crate) async fn check(State(api): State<Arc<Shared>>, request: Request) -> Response {
    revoke::answer(explain(&api, request).await)
}

async fn explain(api: &Shared, request: Request) -> Result<Response, Refusal> {
    let body: TokenBody = read_json(request, api.max_body_bytes).await?;
    let token = read_token(&body.token)?;
    if let Some(iss) = token.claims().iss.as_deref() {
        api.issuer(iss)?;
    }
    let facts = match token.facts(&api.revocations) {
        Ok(facts) => facts,
        Err(TokenError::Expired) => {
            return Err(Refusal::unprocessable(
                "token_expired",
                "the token has expired: every service on this policy refuses it, whatever the \
                 store holds",
            )
            .with_field("token"));
        }
        Err(err) => return Err(token_refused(&err, StoreCall::Read).with_field("token")),
    };
    // One check, and one more per claim value when several could hold the deciding cut-off.
    let claims = u32::try_from(facts.claims().len()).unwrap_or(u32::MAX);
    let calls = if claims > 1 { 1 + claims } else { 1 };
    let explanation = api
        .bounded_calls(calls, ops::explain(&api.revocations, &facts))
        .await
        .map_err(|err| api.store_refusal(&err, StoreCall::Read))?;
    Ok(answer::json(StatusCode::OK, &explanation))
}
