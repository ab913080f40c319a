//! The handle a handler uses to revoke the caller's token, user or session.

use std::future::Future;
use std::sync::Arc;

use jwt_revoke_core::{
    ClaimRevocationError, Cutoff, Revocations, StoreError, TokenFacts, TokenRevocation,
};

/// Revokes the current request's token, its user or its session: logout in one line.
///
/// The layer puts one into the request's extensions next to the [`Claims`](crate::Claims)
/// of every request it lets through. Every call is bounded by the engine's
/// [`store_timeout`](jwt_revoke_core::Revocations::store_timeout).
/// An `Err` means the revocation may not have happened: tell the user it failed.
///
/// ```
/// # use std::sync::Arc;
/// # use std::time::Duration;
/// # use jsonwebtoken::{Algorithm, DecodingKey};
/// # use jwt_revoke_core::{Policy, Revocations};
/// # use jwt_revoke_memory::MemoryStore;
/// # use jwt_revoke_tower::{DecodingKeys, RevocationLayer};
/// use axum::{Extension, Router, http::StatusCode, routing::post};
/// use jwt_revoke_tower::RevocationHandle;
///
/// async fn logout(Extension(revoke): Extension<RevocationHandle>) -> StatusCode {
///     match revoke.revoke_token().await {
///         Ok(_) => StatusCode::NO_CONTENT,
///         Err(_) => StatusCode::SERVICE_UNAVAILABLE,
///     }
/// }
///
/// # let revocations = Revocations::new(Arc::new(MemoryStore::new()), Policy::new(Duration::from_secs(900)));
/// # let layer = RevocationLayer::verifying(revocations, DecodingKeys::new(DecodingKey::from_secret(b"secret")), &[Algorithm::HS256])
/// #     .build().unwrap();
/// let app: Router = Router::new().route("/logout", post(logout)).layer(layer);
/// ```
#[derive(Clone, Debug)]
pub struct RevocationHandle {
    revocations: Revocations,
    token: Arc<TokenFacts>,
}

impl RevocationHandle {
    pub(crate) fn new(revocations: Revocations, token: Arc<TokenFacts>) -> Self {
        RevocationHandle { revocations, token }
    }

    /// What is known of the current token: its identity, user, session and lifetime.
    pub fn token(&self) -> &TokenFacts {
        &self.token
    }

    /// The engine, for anything the shortcuts below do not cover.
    pub fn revocations(&self) -> &Revocations {
        &self.revocations
    }

    /// Revokes the current token ("log out").
    pub async fn revoke_token(&self) -> Result<TokenRevocation, StoreError> {
        self.bounded(self.revocations.revoke_token(&self.token))
            .await
    }

    /// Revokes every token of the current user issued up to now ("log out everywhere"):
    /// every token of the user the layer accepted before, the current one included, also those
    /// whose `iat` was a little ahead of this service's clock (see
    /// [`Revocations::revoke_user`]).
    ///
    /// A token issued after this must have `iat` ≥ [`Cutoff::first_valid_iat`] (see
    /// [`Cutoff`] for the same-second rule and the skew allowance).
    pub async fn revoke_user(&self) -> Result<Cutoff, StoreError> {
        self.bounded(self.revocations.revoke_user(self.token.user()))
            .await
    }

    /// Revokes every token of the current session issued up to now, as
    /// [`revoke_user`](Self::revoke_user) does for the user. `Ok(None)` when the token has no
    /// `sid`, so there is no session to end.
    pub async fn revoke_session(&self) -> Result<Option<Cutoff>, StoreError> {
        match self.token.session() {
            Some(session) => self
                .bounded(self.revocations.revoke_session(session))
                .await
                .map(Some),
            None => Ok(None),
        }
    }

    /// Revokes every token that carries the current token's value of the claim `claim`
    /// issued up to now: "log out this device" (`claim` = a device claim), "end every
    /// session of this client app" (`azp`), as [`revoke_user`](Self::revoke_user) does for the
    /// user. The policy must give the claim cut-offs
    /// ([`Policy::with_claim_cutoffs`](jwt_revoke_core::Policy::with_claim_cutoffs)), else
    /// nothing is written and the error says so; `Ok(None)` when the token does not carry the
    /// claim, so there is nothing to revoke by it.
    pub async fn revoke_claim(&self, claim: &str) -> Result<Option<Cutoff>, ClaimRevocationError> {
        if !self
            .revocations
            .policy()
            .claim_cutoffs()
            .iter()
            .any(|name| name == claim)
        {
            return Err(ClaimRevocationError::NotInPolicy(claim.to_owned()));
        }
        let Some(value) = self.token.claim(claim) else {
            return Ok(None);
        };
        let limit = self.revocations.store_timeout();
        match tokio::time::timeout(limit, self.revocations.revoke_claim(value)).await {
            Ok(result) => result.map(Some),
            Err(_) => Err(StoreError::Timeout(limit).into()),
        }
    }

    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let limit = self.revocations.store_timeout();
        tokio::time::timeout(limit, call)
            .await
            .unwrap_or(Err(StoreError::Timeout(limit)))
    }
}
