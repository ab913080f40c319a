//! The handle a handler uses to revoke the caller's token, user or session.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use jwt_revoke_core::{Cutoff, Revocations, StoreError, TokenFacts, TokenRevocation};

/// Revokes the current request's token, its user or its session: logout in one line.
///
/// The layer puts one into the request's extensions next to the [`Claims`](crate::Claims)
/// of every request it lets through. Every call is bounded by the layer's store timeout.
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
/// # let layer = RevocationLayer::builder(revocations)
/// #     .verify(DecodingKeys::new(DecodingKey::from_secret(b"secret")), &[Algorithm::HS256])
/// #     .build().unwrap();
/// let app: Router = Router::new().route("/logout", post(logout)).layer(layer);
/// ```
#[derive(Clone, Debug)]
pub struct RevocationHandle {
    revocations: Revocations,
    token: Arc<TokenFacts>,
    timeout: Duration,
}

impl RevocationHandle {
    pub(crate) fn new(revocations: Revocations, token: Arc<TokenFacts>, timeout: Duration) -> Self {
        RevocationHandle {
            revocations,
            token,
            timeout,
        }
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

    /// Revokes every token of the current user issued up to now ("log out everywhere").
    ///
    /// A token issued after this must have `iat` ≥ [`Cutoff::first_valid_iat`] (see
    /// [`Cutoff`] for the same-second rule).
    ///
    /// The cut-off is at least the current token's own `iat`, so that "log out everywhere"
    /// always covers the token that asked for it, even one issued slightly ahead of this
    /// service's clock.
    pub async fn revoke_user(&self) -> Result<Cutoff, StoreError> {
        let at = self.at_least_issued_at();
        self.bounded(self.revocations.revoke_user_at(self.token.user(), at))
            .await
    }

    /// Revokes every token of the current session issued up to now (and at least the current
    /// token, as for [`revoke_user`](Self::revoke_user)). `Ok(None)` when the token has no
    /// `sid`, so there is no session to end.
    pub async fn revoke_session(&self) -> Result<Option<Cutoff>, StoreError> {
        match self.token.session() {
            Some(session) => self
                .bounded(
                    self.revocations
                        .revoke_session_at(session, self.at_least_issued_at()),
                )
                .await
                .map(Some),
            None => Ok(None),
        }
    }

    /// Now, or the current token's `iat` when that is later (a clock ahead of ours).
    fn at_least_issued_at(&self) -> jwt_revoke_core::Timestamp {
        self.revocations.clock().now().max(self.token.issued_at())
    }

    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or(Err(StoreError::Timeout(self.timeout)))
    }
}
