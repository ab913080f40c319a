//! What logout tokens and security event tokens share: who is trusted to send them, and the
//! checks every event token passes before it is acted on.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use jwt_revoke_core::{
    NumericDate, Revocations, StoreError, Timestamp, TokenId, TokenKeys, UserId,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::BuildError;
use crate::issuers::Keys;
use crate::verify::{FailureClass, JwtVerifier, VerifierSettings, VerifyError};

/// Who may send event tokens: the identity provider's keys (its JWKS, see
/// [`DecodingKeys::from_jwks`](crate::DecodingKeys::from_jwks), or, with the feature
/// `remote-keys`, fetched from its `jwks_uri` by a `RemoteKeys` source shared with the layer),
/// the algorithms it signs with, its issuer, and the audience it must name (your client id at
/// the provider).
///
/// ```
/// use jwt_revoke_tower::DecodingKeys;
/// use jwt_revoke_tower::events::EventTokenTrust;
/// use jwt_revoke_tower::jsonwebtoken::{Algorithm, DecodingKey};
///
/// let trust = EventTokenTrust::new(
///     DecodingKeys::new(DecodingKey::from_secret(b"shared with the IdP")),
///     &[Algorithm::HS256],
///     "https://idp.example",
///     "my-client-id",
/// );
/// # let _ = trust;
/// ```
#[derive(Clone, Debug)]
pub struct EventTokenTrust {
    keys: Keys,
    algorithms: Vec<Algorithm>,
    issuer: String,
    audiences: Vec<String>,
}

impl EventTokenTrust {
    /// Tokens signed by one of `keys` with one of `algorithms`, issued by `issuer`, for
    /// `audience`.
    pub fn new(
        keys: impl Into<Keys>,
        algorithms: &[Algorithm],
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Self {
        EventTokenTrust {
            keys: keys.into(),
            algorithms: algorithms.to_vec(),
            issuer: issuer.into(),
            audiences: vec![audience.into()],
        }
    }

    /// Also accepts tokens for this audience.
    pub fn also_for_audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// The trusted issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
}

/// The claims of an event token that receivers read.
#[derive(Deserialize)]
pub(crate) struct EventClaims {
    pub(crate) iss: String,
    pub(crate) sub: Option<String>,
    pub(crate) sid: Option<String>,
    pub(crate) iat: Option<NumericDate>,
    pub(crate) exp: Option<NumericDate>,
    pub(crate) jti: Option<String>,
    pub(crate) nonce: Option<Value>,
    pub(crate) events: Option<Map<String, Value>>,
    /// The subject of a SET in the Shared Signals Framework (top level, not in the event).
    pub(crate) sub_id: Option<Value>,
}

/// Why an event token is refused.
pub(crate) struct Refusal {
    pub(crate) class: FailureClass,
    pub(crate) description: Cow<'static, str>,
    /// The sender's fetched keys may verify the token later (see
    /// `VerifyError::keys_may_change`): answer 503, to be retried, not a final refusal.
    pub(crate) retry_later: bool,
}

impl Refusal {
    pub(crate) fn new(description: impl Into<Cow<'static, str>>) -> Self {
        Refusal {
            class: FailureClass::Other,
            description: description.into(),
            retry_later: false,
        }
    }
}

/// Verifies event tokens of one kind (`logout+jwt`, `secevent+jwt`) from one sender.
pub(crate) struct EventTokenVerifier {
    verifier: JwtVerifier,
    /// The bare media type of this kind of token, e.g. `logout+jwt`.
    typ: &'static str,
    /// Words for "this kind of token" in refusals.
    kind: &'static str,
    leeway: Duration,
    max_age: Duration,
    /// The issuer of the tokens whose users and sessions these events end.
    pub(crate) token_issuer: String,
}

/// The settings of an [`EventTokenVerifier`] besides who is trusted.
pub(crate) struct EventRules {
    pub(crate) typ: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) required: Vec<&'static str>,
    pub(crate) max_age: Duration,
    pub(crate) token_issuer: Option<String>,
}

impl EventTokenVerifier {
    pub(crate) fn new(
        trust: EventTokenTrust,
        revocations: &Revocations,
        rules: EventRules,
    ) -> Result<Self, BuildError> {
        let leeway = revocations.policy().leeway();
        let settings = VerifierSettings {
            algorithms: trust.algorithms,
            issuers: vec![trust.issuer.clone()],
            audiences: trust.audiences,
            leeway,
            required: rules.required,
        };
        Ok(EventTokenVerifier {
            verifier: JwtVerifier::new(trust.keys, settings)?,
            typ: rules.typ,
            kind: rules.kind,
            leeway,
            max_age: rules.max_age,
            token_issuer: rules.token_issuer.unwrap_or(trust.issuer),
        })
    }

    /// Signature, algorithm, issuer, audience, required claims, type, `iat`, `exp` and
    /// `jti`: everything but what is particular to one kind of event. A token whose `kid` the
    /// sender's fetched key set lacks waits for the set's refetch, once.
    pub(crate) async fn verify(&self, token: &str, now: Timestamp) -> Result<EventClaims, Refusal> {
        let (typ, payload) = self
            .verifier
            .waiting(|verifier| verifier.verify_signature(token))
            .await
            .map_err(|err: VerifyError| Refusal {
                class: err.class,
                description: err.description,
                retry_later: err.keys_may_change,
            })?;
        if !self.accepts_type(typ.as_deref()) {
            return Err(Refusal::new(format!(
                "this type of token (typ) is not a {}",
                self.kind
            )));
        }
        let claims: EventClaims = serde_json::from_str(payload.get())
            .map_err(|_| Refusal::new("the token's claims are malformed"))?;
        let Some(iat) = claims.iat.map(NumericDate::timestamp) else {
            return Err(Refusal::new("the token has no iat claim"));
        };
        if iat
            > now
                .saturating_add(self.leeway)
                .saturating_add(Duration::from_secs(1))
        {
            return Err(Refusal::new("the token was issued in the future"));
        }
        if iat.saturating_add(self.max_age).saturating_add(self.leeway) < now {
            return Err(Refusal::new("the token was issued too long ago"));
        }
        if let Some(exp) = claims.exp
            && exp.timestamp().saturating_add(self.leeway) <= now
        {
            return Err(Refusal::new("the token has expired"));
        }
        if claims.jti.as_deref().is_none_or(str::is_empty) {
            return Err(Refusal::new("the token has no jti claim"));
        }
        if claims.events.is_none() {
            return Err(Refusal::new(format!(
                "the token has no events claim: it is not a {}",
                self.kind
            )));
        }
        Ok(claims)
    }

    /// `typ` absent, `JWT`, or this kind's own (with or without `application/`); never an
    /// access token's (`at+jwt`) or another event token's.
    fn accepts_type(&self, typ: Option<&str>) -> bool {
        let Some(typ) = typ.map(str::trim) else {
            return true;
        };
        let bare = typ
            .get(..12)
            .filter(|prefix| prefix.eq_ignore_ascii_case("application/"))
            .map_or(typ, |_| &typ[12..]);
        bare.eq_ignore_ascii_case("JWT") || bare.eq_ignore_ascii_case(self.typ)
    }

    /// The instant an event happened, for its cut-off: its `iat`, never later than `now`.
    pub(crate) fn event_instant(&self, claims: &EventClaims, now: Timestamp) -> Timestamp {
        claims.iat.map_or(now, |iat| iat.timestamp().min(now))
    }

    /// The record that the event (`iss`, `jti`) has been acted on.
    fn ledger_keys(claims: &EventClaims) -> TokenKeys {
        let jti = claims.jti.as_deref().unwrap_or_default();
        let id = TokenId::from_jti(claims.iss.as_str(), "", jti);
        TokenKeys::new(
            id.processed_event_key(),
            UserId::new(claims.iss.as_str(), "").key(),
            None,
        )
    }

    /// Whether this event has been acted on already (a replay).
    pub(crate) async fn seen(
        &self,
        revocations: &Revocations,
        claims: &EventClaims,
    ) -> Result<bool, StoreError> {
        let keys = Self::ledger_keys(claims);
        let reply = super::bounded(revocations, revocations.store().check(&keys)).await?;
        Ok(reply.token_listed)
    }

    /// Records that this event has been acted on, for as long as it could be replayed.
    pub(crate) async fn record(
        &self,
        revocations: &Revocations,
        claims: &EventClaims,
    ) -> Result<(), StoreError> {
        // As long as the token is accepted at all: until `exp`, and no longer than `max_age`
        // after `iat` (a far-future `exp` must not keep the record forever).
        let accepted_until = claims
            .iat
            .map(|iat| iat.timestamp().saturating_add(self.max_age))
            .unwrap_or_else(|| revocations.clock().now().saturating_add(self.max_age));
        let lives_until = claims
            .exp
            .map_or(accepted_until, |exp| exp.timestamp().min(accepted_until))
            .saturating_add(self.leeway)
            .saturating_add(Duration::from_secs(1));
        let keys = Self::ledger_keys(claims);
        super::bounded(
            revocations,
            revocations.store().insert_token(&keys, lives_until),
        )
        .await
    }
}

/// A receiver of one kind of event token: its engine and its verifier. Shared by the
/// back-channel logout and SET receivers, whose builders gather the same settings.
pub(crate) struct TokenReceiver {
    pub(crate) revocations: Revocations,
    pub(crate) verifier: EventTokenVerifier,
}

impl TokenReceiver {
    /// Builds the verifier of `rules` for tokens `trust` describes.
    pub(crate) fn new(
        revocations: Revocations,
        trust: EventTokenTrust,
        rules: EventRules,
    ) -> Result<Self, BuildError> {
        let verifier = EventTokenVerifier::new(trust, &revocations, rules)?;
        Ok(TokenReceiver {
            revocations,
            verifier,
        })
    }

    /// `Debug` for a receiver named `name`: the issuer it revokes for, never keys.
    pub(crate) fn describe(&self, name: &str, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(name)
            .field("token_issuer", &self.verifier.token_issuer)
            .finish_non_exhaustive()
    }
}

/// What sets one kind of event-token receiver apart: the rules its tokens follow and how it is
/// made from a `TokenReceiver`. Sealed: implemented by [`BackchannelLogout`] and
/// [`SecurityEventReceiver`] only.
///
/// [`BackchannelLogout`]: super::BackchannelLogout
/// [`SecurityEventReceiver`]: super::SecurityEventReceiver
pub trait EventTokenKind: sealed::Sealed {}

pub(crate) mod sealed {
    use std::sync::Arc;
    use std::time::Duration;

    /// The rules of one kind of event token ([`super::EventTokenKind`]).
    pub trait Sealed: Sized {
        /// The `typ` its tokens carry (`JWT` is accepted too).
        const TYP: &'static str;
        /// Its name in refusals.
        const KIND: &'static str;
        /// The claims its tokens must have.
        const REQUIRED: &'static [&'static str];
        /// The default of [`max_age`](super::EventReceiverBuilder::max_age).
        const DEFAULT_MAX_AGE: Duration;
        /// The receiver around `built`.
        fn from_receiver(built: Built) -> Self;
    }

    /// A built receiver, not yet of its kind (nameable nowhere outside this crate).
    pub struct Built(pub(crate) Arc<super::TokenReceiver>);
}

/// Configures an event-token receiver: a [`BackchannelLogout`] (as
/// [`BackchannelLogoutBuilder`]) or a [`SecurityEventReceiver`] (as
/// [`SecurityEventReceiverBuilder`]).
///
/// [`BackchannelLogout`]: super::BackchannelLogout
/// [`BackchannelLogoutBuilder`]: super::BackchannelLogoutBuilder
/// [`SecurityEventReceiver`]: super::SecurityEventReceiver
/// [`SecurityEventReceiverBuilder`]: super::SecurityEventReceiverBuilder
#[must_use]
pub struct EventReceiverBuilder<R> {
    revocations: Revocations,
    trust: EventTokenTrust,
    token_issuer: Option<String>,
    max_age: Duration,
    receiver: PhantomData<fn() -> R>,
}

impl<R: EventTokenKind> std::fmt::Debug for EventReceiverBuilder<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventReceiverBuilder")
            .field("kind", &R::KIND)
            .field("revocations", &self.revocations)
            .field("trust", &self.trust)
            .field("token_issuer", &self.token_issuer)
            .field("max_age", &self.max_age)
            .finish()
    }
}

impl<R: EventTokenKind> EventReceiverBuilder<R> {
    pub(crate) fn new(revocations: Revocations, trust: EventTokenTrust) -> Self {
        EventReceiverBuilder {
            revocations,
            trust,
            token_issuer: None,
            max_age: R::DEFAULT_MAX_AGE,
            receiver: PhantomData,
        }
    }

    /// The issuer of the access tokens whose sessions and users these events end, for events
    /// that do not name one (default: the sender's issuer, for when it issues the access
    /// tokens too).
    pub fn revoke_for_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.token_issuer = Some(issuer.into());
        self
    }

    /// How old an event token's `iat` may be (default: 10 minutes for logout tokens, one hour
    /// for SETs, whose pushes are retried).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Builds the receiver, checking the keys and algorithms.
    pub fn build(self) -> Result<R, BuildError> {
        let rules = EventRules {
            typ: R::TYP,
            kind: R::KIND,
            required: R::REQUIRED.to_vec(),
            max_age: self.max_age,
            token_issuer: self.token_issuer,
        };
        let inner = TokenReceiver::new(self.revocations, self.trust, rules)?;
        Ok(R::from_receiver(sealed::Built(Arc::new(inner))))
    }
}
