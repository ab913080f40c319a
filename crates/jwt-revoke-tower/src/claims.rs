//! The verified claims the layer hands to handlers.

use std::sync::Arc;

use jwt_revoke_core::RegisteredClaims;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

/// The claims of a verified, unrevoked token, put into the request's extensions by the layer.
///
/// The registered claims are parsed; the whole payload is kept as JSON text, so your own
/// claims are one [`deserialize`](Self::deserialize) away and cost nothing when unused.
///
/// ```
/// use jwt_revoke_tower::Claims;
///
/// #[derive(serde::Deserialize)]
/// struct Mine { scope: String }
///
/// // In a handler: `let claims = request.extensions().get::<Claims>()`.
/// let claims = Claims::from_verified_json(r#"{"sub":"alice","scope":"read"}"#).unwrap();
/// assert_eq!(claims.registered().sub.as_deref(), Some("alice"));
/// assert_eq!(claims.deserialize::<Mine>().unwrap().scope, "read");
/// ```
#[derive(Clone, Debug)]
pub struct Claims {
    registered: Arc<RegisteredClaims>,
    payload: Arc<RawValue>,
}

impl Claims {
    /// Claims from the JSON payload of a token **whose signature has been verified**.
    ///
    /// This is how an upstream authentication layer hands its result to a layer built with
    /// [`claims_verified_upstream`](crate::RevocationLayer::claims_verified_upstream):
    /// insert the `Claims` into the request's extensions. Never build it from an unverified
    /// token: the revocation layer trusts it.
    pub fn from_verified_json(payload: &str) -> Result<Self, serde_json::Error> {
        Self::from_verified_payload(RawValue::from_string(payload.to_owned())?)
    }

    pub(crate) fn from_verified_payload(payload: Box<RawValue>) -> Result<Self, serde_json::Error> {
        let registered = serde_json::from_str(payload.get())?;
        Ok(Claims {
            registered: Arc::new(registered),
            payload: Arc::from(payload),
        })
    }

    /// The registered claims (`iss`, `sub`, `exp`, `iat`, `jti`, `sid`, ...).
    pub fn registered(&self) -> &RegisteredClaims {
        &self.registered
    }

    /// The payload, shared (the claims memo keys entries by it without a copy).
    pub(crate) fn payload(&self) -> &Arc<RawValue> {
        &self.payload
    }

    /// The whole payload as JSON text.
    pub fn json(&self) -> &str {
        self.payload.get()
    }

    /// The payload as your own claims type.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.payload.get())
    }
}
