//! The engine: judging tokens against a store and writing revocations, by a [`Policy`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::claims::{ClaimValueError, NumericDate, RegisteredClaims, claim_values};
use crate::key::{ClaimId, RecordKey, SessionId, TokenId, UserId};
use crate::observe;
use crate::policy::{IdentityRule, ListMode, Policy};
use crate::store::{CheckReply, ClaimKeys, RevocationStore, StoreError, TokenKeys};
use crate::time::{Clock, SystemClock, Timestamp};
use crate::verdict::{
    ClaimRevocationError, Cutoff, RevocationReason, TokenError, TokenRevocation, Verdict,
};

/// What revocation needs to know about one token, taken from its verified claims.
#[derive(Clone, Debug)]
pub struct TokenFacts {
    token: TokenId,
    user: UserId,
    session: Option<SessionId>,
    /// The token's values of the claims the policy gives cut-offs (those it carries).
    claims: Vec<ClaimId>,
    keys: TokenKeys,
    /// `iat`; `None` for a token without one.
    issued_at: Option<Timestamp>,
    expires_at: Timestamp,
    /// The token's own `nbf`, for [`Revocations::revalidate`].
    not_before: Option<Timestamp>,
}

impl TokenFacts {
    /// The token's identity.
    pub fn token(&self) -> &TokenId {
        &self.token
    }

    /// The token's user.
    pub fn user(&self) -> &UserId {
        &self.user
    }

    /// The token's session, when it has a `sid`.
    pub fn session(&self) -> Option<&SessionId> {
        self.session.as_ref()
    }

    /// The token's values of the claims the policy gives cut-offs
    /// ([`Policy::with_claim_cutoffs`]), in the policy's order; a claim the token does not
    /// carry is not there.
    pub fn claims(&self) -> &[ClaimId] {
        &self.claims
    }

    /// The token's value of the claim `name`, when the policy gives it cut-offs and the token
    /// carries it.
    pub fn claim(&self, name: &str) -> Option<&ClaimId> {
        self.claims.iter().find(|claim| claim.claim() == name)
    }

    /// The store keys of this token under the engine's list mode.
    pub fn keys(&self) -> &TokenKeys {
        &self.keys
    }

    /// `iat`, or `None` for a token without one: such a token cannot tell when it was
    /// issued, so every live cut-off of its user or session covers it.
    pub fn issued_at(&self) -> Option<Timestamp> {
        self.issued_at
    }

    /// `exp`, or `iat` plus the retention for tokens without `exp`.
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }
}

/// Which time rules [`Revocations::inspect_with`] applies.
#[derive(Clone, Copy)]
enum TimeRules {
    /// Every one: the token is to be accepted now.
    Accept,
    /// Expiry only: the token is to be revoked, also if it is not valid yet.
    Revoke,
}

/// The revocation engine: a store, a policy and a clock.
///
/// This is the one object an application keeps: the Tower layer checks every request with it,
/// handlers and event receivers revoke through it. Cloning is cheap and clones share everything.
///
/// ```
/// # use std::sync::Arc;
/// # use std::time::Duration;
/// # use async_trait::async_trait;
/// # use jwt_revoke_core::*;
/// # #[derive(Debug, Default)]
/// # struct Toy(std::sync::Mutex<std::collections::HashMap<RecordKey, (Timestamp, Timestamp)>>);
/// # #[async_trait]
/// # impl RevocationStore for Toy {
/// #     async fn check(&self, k: &TokenKeys) -> Result<CheckReply, StoreError> {
/// #         let m = self.0.lock().unwrap();
/// #         Ok(CheckReply::new(m.contains_key(&k.token), m.get(&k.user).map(|v| v.0), None))
/// #     }
/// #     async fn insert_token(&self, k: &TokenKeys, e: Timestamp) -> Result<(), StoreError> {
/// #         self.0.lock().unwrap().insert(k.token, (e, e)); Ok(())
/// #     }
/// #     async fn remove_token(&self, k: &TokenKeys) -> Result<bool, StoreError> {
/// #         Ok(self.0.lock().unwrap().remove(&k.token).is_some())
/// #     }
/// #     async fn raise_cutoff(&self, k: RecordKey, at: Timestamp, e: Timestamp) -> Result<Timestamp, StoreError> {
/// #         let mut m = self.0.lock().unwrap();
/// #         let v = m.entry(k).or_insert((at, e)); v.0 = v.0.max(at); Ok(v.0)
/// #     }
/// # }
/// # let store = Arc::new(Toy::default());
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let clock = ManualClock::new(Timestamp::from_secs(1_700_000_000));
/// let revocations = Revocations::new(store, Policy::new(Duration::from_secs(900)))
///     .with_clock(Arc::new(clock.clone()));
///
/// let claims: RegisteredClaims = serde_json::from_value(serde_json::json!({
///     "iss": "https://idp.example", "sub": "alice", "jti": "t-1",
///     "iat": 1_700_000_000, "exp": 1_700_000_600,
/// })).unwrap();
/// let token = revocations.inspect(&claims, "<the verified payload>").unwrap();
/// assert_eq!(revocations.check(&token).await.unwrap(), Verdict::Valid);
///
/// revocations.revoke_token(&token).await.unwrap();
/// assert_eq!(revocations.check(&token).await.unwrap(), Verdict::Revoked(RevocationReason::Token));
/// # });
/// ```
#[derive(Clone)]
pub struct Revocations {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn RevocationStore>,
    policy: Policy,
    clock: Arc<dyn Clock>,
    store_timeout: Duration,
}

/// The limit on store calls for a store that does not bound its own.
const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_millis(500);

/// The limit for a store whose calls take at most `bound`: a little longer, so that the
/// store's own error (a timeout that says which server) comes first.
fn backstop(bound: Duration) -> Duration {
    // Saturating: any bound may be configured, up to `Duration::MAX`.
    bound.saturating_add((bound / 10).max(Duration::from_millis(20)))
}

impl fmt::Debug for Revocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Revocations")
            .field("store", &self.inner.store)
            .field("policy", &self.inner.policy)
            .field("clock", &self.inner.clock)
            .field("store_timeout", &self.inner.store_timeout)
            .finish()
    }
}

impl Revocations {
    /// An engine over `store` with `policy`, reading the system clock.
    pub fn new(store: Arc<dyn RevocationStore>, policy: Policy) -> Self {
        let store_timeout = store.call_timeout().map_or(DEFAULT_STORE_TIMEOUT, backstop);
        Revocations {
            inner: Arc::new(Inner {
                store,
                policy,
                clock: Arc::new(SystemClock),
                store_timeout,
            }),
        }
    }

    /// The same engine reading `clock` (give the store the same clock).
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        Revocations {
            inner: Arc::new(Inner {
                store: Arc::clone(&self.inner.store),
                policy: self.inner.policy.clone(),
                clock,
                store_timeout: self.inner.store_timeout,
            }),
        }
    }

    /// The same engine with another limit on store calls (see
    /// [`store_timeout`](Self::store_timeout)). For a store that does not bound its own calls;
    /// a store that does (Redis) is better given its own timeout, from which this one follows.
    pub fn with_store_timeout(self, timeout: Duration) -> Self {
        Revocations {
            inner: Arc::new(Inner {
                store: Arc::clone(&self.inner.store),
                policy: self.inner.policy.clone(),
                clock: Arc::clone(&self.inner.clock),
                store_timeout: timeout,
            }),
        }
    }

    /// The one limit on every store call made for this engine: the layer's check of each
    /// request, the revocation handle's calls, the event receivers' writes. A call that takes
    /// longer fails as [`StoreError::Timeout`] (a 503 at the layer, never a 401 or a hang).
    ///
    /// Its owner is the store: for a store that bounds its calls
    /// ([`RevocationStore::call_timeout`], the Redis store's `timeout`) it is that bound plus a
    /// tenth (at least 20 ms), so the store's own error comes first; for one that does not (the
    /// memory store answers at once), 500 ms, or what
    /// [`with_store_timeout`](Self::with_store_timeout) says. The engine only holds the value:
    /// the callers, which run on a runtime, apply it.
    pub fn store_timeout(&self) -> Duration {
        self.inner.store_timeout
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn RevocationStore> {
        &self.inner.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Takes what revocation needs from a token's **verified** claims and applies the policy's
    /// rules: `iss` and `sub` present; `exp` present unless accepted otherwise; not expired,
    /// not before `nbf`, not issued in the future, not living longer than the policy's
    /// maximum; `jti` present if required. A token without `iat` is accepted (every live
    /// cut-off of its user or session covers it), if its `exp` is no further ahead than the
    /// longest lifetime allows.
    ///
    /// `payload` is the verified payload, the exact JSON text the token's signature covers:
    /// a token without `jti` is identified by its SHA-256 digest (see
    /// [`TokenId::from_payload`]). It is only hashed, never kept.
    pub fn inspect(
        &self,
        claims: &RegisteredClaims,
        payload: &str,
    ) -> Result<TokenFacts, TokenError> {
        self.inspect_with(claims, payload, TimeRules::Accept)
    }

    /// [`inspect`](Self::inspect) for a token about to be revoked: the same rules, except
    /// that a token that is not valid *yet* passes too: `nbf` or `iat` ahead of the clock, or,
    /// without `iat`, an `exp` further ahead than the longest lifetime from now.
    ///
    /// Such a token will be accepted later, so a revocation endpoint that answers "revoked"
    /// must record it now; one that judged it by [`inspect`](Self::inspect) would record
    /// nothing and the token would work once its time came.
    pub fn inspect_for_revocation(
        &self,
        claims: &RegisteredClaims,
        payload: &str,
    ) -> Result<TokenFacts, TokenError> {
        self.inspect_with(claims, payload, TimeRules::Revoke)
    }

    fn inspect_with(
        &self,
        claims: &RegisteredClaims,
        payload: &str,
        rules: TimeRules,
    ) -> Result<TokenFacts, TokenError> {
        let policy = &self.inner.policy;
        let now = self.inner.clock.now();

        let issuer = claims
            .iss
            .as_deref()
            .ok_or(TokenError::MissingClaim("iss"))?;
        let subject = claims
            .sub
            .as_deref()
            .ok_or(TokenError::MissingClaim("sub"))?;
        let iat = claims.iat.map(NumericDate::timestamp);
        let expires_at = match (claims.exp, iat, policy.tokens_without_exp()) {
            (Some(exp), _, _) => exp.timestamp(),
            (None, Some(iat), Some(retention)) => iat.saturating_add(retention),
            (None, None, Some(_)) => return Err(TokenError::MissingClaim("exp (or iat)")),
            (None, _, None) => return Err(TokenError::MissingClaim("exp")),
        };

        let not_before = claims.nbf.map(NumericDate::timestamp);
        match rules {
            TimeRules::Accept => self.check_times(now, expires_at, not_before, iat)?,
            TimeRules::Revoke => self.check_expiry(now, expires_at)?,
        }
        let longest = self.longest();
        // Without `iat`, the lifetime rule depends on the time: see `check_times`.
        if let Some(iat) = iat {
            if expires_at < iat {
                return Err(TokenError::ExpiresBeforeIssued);
            }
            if expires_at.duration_since(iat) > longest {
                return Err(TokenError::LifetimeTooLong);
            }
        }

        // An empty `jti` identifies nothing: every such token would share one identity.
        let jti = claims.jti.as_deref().filter(|jti| !jti.is_empty());
        let token = match (jti, policy.identity()) {
            (Some(jti), _) => TokenId::from_jti(issuer, subject, jti),
            (None, IdentityRule::JtiOrDigest) => TokenId::from_payload(issuer, subject, payload),
            (None, IdentityRule::RequireJti) => return Err(TokenError::MissingJti),
        };
        let user = UserId::new(issuer, subject);
        let session = claims.sid.as_deref().map(|sid| SessionId::new(issuer, sid));
        let token_key = match policy.mode() {
            ListMode::Denylist => token.denylist_key(),
            ListMode::Allowlist => token.allowlist_key(),
        };
        let claims = self.claim_ids(issuer, payload)?;
        let claim_keys = ClaimKeys::new(&claims.iter().map(ClaimId::key).collect::<Vec<_>>())
            .expect("a policy names at most ClaimKeys::MAX claims");
        let keys = TokenKeys::new(token_key, user.key(), session.as_ref().map(SessionId::key))
            .with_claims(claim_keys);
        Ok(TokenFacts {
            token,
            user,
            session,
            claims,
            keys,
            issued_at: iat,
            expires_at,
            not_before,
        })
    }

    /// The token's values of the claims the policy gives cut-offs.
    fn claim_ids(&self, issuer: &str, payload: &str) -> Result<Vec<ClaimId>, TokenError> {
        let names = self.inner.policy.claim_cutoffs();
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let values = claim_values(payload, names).map_err(|err| match err {
            ClaimValueError::Unreadable => TokenError::UnreadablePayload,
            ClaimValueError::Unusable(n) => TokenError::UnusableClaim(names[n].clone()),
            ClaimValueError::Duplicate(n) => TokenError::DuplicateClaim(names[n].clone()),
        })?;
        Ok(names
            .iter()
            .zip(values)
            .filter_map(|(name, value)| value.map(|value| ClaimId::new(issuer, name, value)))
            .collect())
    }

    /// Runs again, at the clock's current time, the time checks of [`inspect`](Self::inspect)
    /// on facts it returned earlier: not expired, not before `nbf`, not issued in the future,
    /// and, without `iat`, not expiring further ahead than the longest lifetime allows.
    ///
    /// For callers that keep facts to skip parsing and hashing a token they have seen (the
    /// tower layer does): everything else `inspect` judged depends on the claims alone.
    pub fn revalidate(&self, token: &TokenFacts) -> Result<(), TokenError> {
        self.check_times(
            self.inner.clock.now(),
            token.expires_at,
            token.not_before,
            token.issued_at,
        )
    }

    /// The checks of `inspect` that depend on the time.
    fn check_times(
        &self,
        now: Timestamp,
        expires_at: Timestamp,
        not_before: Option<Timestamp>,
        iat: Option<Timestamp>,
    ) -> Result<(), TokenError> {
        self.check_expiry(now, expires_at)?;
        let leeway = self.inner.policy.leeway();
        if not_before.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
            return Err(TokenError::NotYetValid);
        }
        match iat {
            Some(iat) if iat > self.latest_acceptable_iat(now) => Err(TokenError::IssuedInFuture),
            Some(_) => Ok(()),
            // Without `iat`, a token must expire no further ahead than the longest lifetime
            // (and the skew allowance) from now: it stays valid until `exp` + leeway, and a
            // cut-off made from now on lives until at least now + skew + longest + leeway, so
            // it covers the token to its end. One that expires further ahead could outlive the
            // cut-offs that cover it. This depends on the time, so it is judged again with the
            // other time checks (a kept token, a clock that stepped back), and a token refused
            // for it now may be accepted later: it is revocable.
            None => {
                let latest_exp = self
                    .latest_acceptable_iat(now)
                    .saturating_add(self.longest());
                if expires_at > latest_exp {
                    Err(TokenError::LifetimeTooLong)
                } else {
                    Ok(())
                }
            }
        }
    }

    /// The longest lifetime of a token the policy accepts.
    fn longest(&self) -> Duration {
        let policy = &self.inner.policy;
        policy
            .max_token_lifetime()
            .max(policy.tokens_without_exp().unwrap_or(Duration::ZERO))
    }

    fn check_expiry(&self, now: Timestamp, expires_at: Timestamp) -> Result<(), TokenError> {
        let leeway = self.inner.policy.leeway();
        if expires_at.saturating_add(leeway) <= now {
            return Err(TokenError::Expired);
        }
        Ok(())
    }

    /// Asks the store about a token (one call) and judges the answer.
    pub async fn check(&self, token: &TokenFacts) -> Result<Verdict, StoreError> {
        let store = &self.inner.store;
        let reply = observe::store_call(store.kind(), "check", store.check(&token.keys)).await?;
        Ok(self.judge(token, &reply))
    }

    /// Judges a store's reply for a token: the rules of [`check`](Self::check) without the call.
    pub fn judge(&self, token: &TokenFacts, reply: &CheckReply) -> Verdict {
        match (self.inner.policy.mode(), reply.token_listed) {
            (ListMode::Denylist, true) => return Verdict::Revoked(RevocationReason::Token),
            (ListMode::Allowlist, false) => {
                return Verdict::Revoked(RevocationReason::NotRegistered);
            }
            _ => {}
        }
        // A token without `iat` cannot say it was issued after a cut-off: any live one covers it.
        let covers = |cutoff: Cutoff| token.issued_at.is_none_or(|iat| cutoff.covers(iat));
        if let Some(cutoff) = reply.user_cutoff.map(Cutoff::new)
            && covers(cutoff)
        {
            return Verdict::Revoked(RevocationReason::User(cutoff));
        }
        if let (Some(cutoff), Some(_)) = (reply.session_cutoff.map(Cutoff::new), &token.session)
            && covers(cutoff)
        {
            return Verdict::Revoked(RevocationReason::Session(cutoff));
        }
        if let Some(cutoff) = reply.claim_cutoff.map(Cutoff::new)
            && !token.keys.claims.is_empty()
            && covers(cutoff)
        {
            return Verdict::Revoked(RevocationReason::Claim(cutoff));
        }
        if let Some(noticed_at) = reply.store_cutoff {
            // As for a cut-off made at that instant: it covers the tokens whose `iat` was
            // ahead of the clock by the allowance. The store keeps it longer than any policy
            // needs; it is live for this policy for as long as a user cut-off would be.
            let cutoff = Cutoff::new(self.latest_acceptable_iat(noticed_at));
            let live = || {
                self.inner.clock.now()
                    < cutoff
                        .at()
                        .saturating_add(self.inner.policy.cutoff_retention())
            };
            if covers(cutoff) && (token.issued_at.is_some() || live()) {
                return Verdict::Revoked(RevocationReason::DataLoss(cutoff));
            }
        }
        Verdict::Valid
    }

    /// Revokes one token: in denylist mode, records it until its expiry plus leeway (nothing
    /// when it has expired already); in allowlist mode, deletes its registration.
    ///
    /// An `Err` means the revocation may not have happened: report failure, never success.
    pub async fn revoke_token(&self, token: &TokenFacts) -> Result<TokenRevocation, StoreError> {
        match self.inner.policy.mode() {
            ListMode::Denylist => {
                let until = self.record_expiry(token);
                if until <= self.inner.clock.now() {
                    return Ok(TokenRevocation::AlreadyExpired);
                }
                let store = &self.inner.store;
                let insert = store.insert_token(&token.keys, until);
                observe::store_call(store.kind(), "insert_token", insert).await?;
                Ok(TokenRevocation::Recorded { until })
            }
            ListMode::Allowlist => {
                let store = &self.inner.store;
                let remove = store.remove_token(&token.keys);
                let was_registered =
                    observe::store_call(store.kind(), "remove_token", remove).await?;
                Ok(TokenRevocation::Unregistered { was_registered })
            }
        }
    }

    /// Allowlist mode: registers a token you have just issued, until its expiry plus leeway.
    ///
    /// In denylist mode every unrevoked token is valid already, so this does nothing; code
    /// written for the allowlist keeps working when the policy changes.
    pub async fn register_token(&self, token: &TokenFacts) -> Result<(), StoreError> {
        if self.inner.policy.mode() == ListMode::Denylist {
            return Ok(());
        }
        let until = self.record_expiry(token);
        if until <= self.inner.clock.now() {
            return Ok(());
        }
        let store = &self.inner.store;
        let insert = store.insert_token(&token.keys, until);
        observe::store_call(store.kind(), "insert_token", insert).await
    }

    /// Revokes every token of `user` issued up to now ("log out everywhere"): every token
    /// this engine would accept now, so the cut-off is at now plus
    /// [`Policy::issued_at_skew`] (see [`Cutoff`]). Returns the cut-off in force, which
    /// may be later if a concurrent revocation won.
    pub async fn revoke_user(&self, user: &UserId) -> Result<Cutoff, StoreError> {
        self.raise_cutoff(
            user.key(),
            self.latest_acceptable_iat(self.inner.clock.now()),
        )
        .await
    }

    /// Revokes every token of `user` issued up to `at` (for events that carry their own
    /// instant, such as a CAEP credential change). A cut-off never moves backwards: an earlier
    /// `at` than the stored one changes nothing. An `at` ahead of the clock is brought back to
    /// the latest `iat` the engine accepts now (the clock plus
    /// [`Policy::issued_at_skew`]), so no cut-off can kill tokens that are not issued yet.
    pub async fn revoke_user_at(&self, user: &UserId, at: Timestamp) -> Result<Cutoff, StoreError> {
        self.raise_cutoff(user.key(), at).await
    }

    /// Revokes every token of the session issued up to now (a logout, an identity provider's
    /// back-channel logout): like [`revoke_user`](Self::revoke_user), at now plus the skew
    /// allowance.
    pub async fn revoke_session(&self, session: &SessionId) -> Result<Cutoff, StoreError> {
        self.raise_cutoff(
            session.key(),
            self.latest_acceptable_iat(self.inner.clock.now()),
        )
        .await
    }

    /// Revokes every token of the session issued up to `at`.
    pub async fn revoke_session_at(
        &self,
        session: &SessionId,
        at: Timestamp,
    ) -> Result<Cutoff, StoreError> {
        self.raise_cutoff(session.key(), at).await
    }

    /// Revokes every token of the claim value issued up to now: every token of a client app
    /// (`azp`), a tenant, a device the engine would accept now, at now plus
    /// [`Policy::issued_at_skew`] as for a user (see [`Cutoff`]). The policy must give the
    /// claim cut-offs ([`Policy::with_claim_cutoffs`]); otherwise nothing is written and the
    /// answer says so, rather than acknowledging a revocation no check would read.
    ///
    /// ```
    /// # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/reference_store.rs"));
    /// use std::{sync::Arc, time::Duration};
    /// use jwt_revoke_core::*;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let clock = Arc::new(ManualClock::new(Timestamp::from_secs(1_700_000_000)));
    /// let store = Arc::new(ReferenceStore::new(clock.clone())); // your store
    /// let policy = Policy::new(Duration::from_secs(900)).with_claim_cutoffs(["azp"])?;
    /// let revocations = Revocations::new(store, policy).with_clock(clock.clone());
    ///
    /// let payload = r#"{"iss":"https://idp.example","sub":"alice","jti":"t-1",
    ///     "azp":"leaked-mobile-build","iat":1699999990,"exp":1700000600}"#;
    /// let token = revocations.inspect(&serde_json::from_str(payload)?, payload)?;
    /// assert_eq!(revocations.check(&token).await?, Verdict::Valid);
    ///
    /// let app = ClaimId::new("https://idp.example", "azp", "leaked-mobile-build");
    /// let cutoff = revocations.revoke_claim(&app).await?;
    /// assert_eq!(revocations.check(&token).await?, Verdict::Revoked(RevocationReason::Claim(cutoff)));
    ///
    /// // A claim the policy does not read is refused, never acknowledged.
    /// let device = ClaimId::new("https://idp.example", "device", "d-1");
    /// assert!(matches!(revocations.revoke_claim(&device).await, Err(ClaimRevocationError::NotInPolicy(_))));
    /// # Ok(()) })
    /// # }
    /// ```
    pub async fn revoke_claim(&self, claim: &ClaimId) -> Result<Cutoff, ClaimRevocationError> {
        let at = self.latest_acceptable_iat(self.inner.clock.now());
        self.revoke_claim_at(claim, at).await
    }

    /// Revokes every token of the claim value issued up to `at`, as
    /// [`revoke_user_at`](Self::revoke_user_at) does for a user.
    pub async fn revoke_claim_at(
        &self,
        claim: &ClaimId,
        at: Timestamp,
    ) -> Result<Cutoff, ClaimRevocationError> {
        if !self
            .inner
            .policy
            .claim_cutoffs()
            .iter()
            .any(|name| name == claim.claim())
        {
            return Err(ClaimRevocationError::NotInPolicy(claim.claim().to_owned()));
        }
        Ok(self.raise_cutoff(claim.key(), at).await?)
    }

    async fn raise_cutoff(&self, key: RecordKey, at: Timestamp) -> Result<Cutoff, StoreError> {
        // A cut-off ahead of the clock would kill tokens not issued yet (a `Timestamp::MAX`
        // would lock a user out for good): no later than the latest `iat` accepted now.
        let now = self.inner.clock.now();
        let at = at.min(self.latest_acceptable_iat(now));
        let expires_at = at.saturating_add(self.inner.policy.cutoff_retention());
        if expires_at <= now {
            // Every token this could cover has expired: nothing to keep.
            return Ok(Cutoff::new(at));
        }
        let store = &self.inner.store;
        let raise = store.raise_cutoff(key, at, expires_at);
        let in_force = observe::store_call(store.kind(), "raise_cutoff", raise).await?;
        Ok(Cutoff::new(in_force))
    }

    /// The latest `iat` that [`inspect`](Self::inspect) accepts at `now`.
    fn latest_acceptable_iat(&self, now: Timestamp) -> Timestamp {
        now.saturating_add(self.inner.policy.issued_at_skew())
    }

    fn record_expiry(&self, token: &TokenFacts) -> Timestamp {
        token.expires_at.saturating_add(self.inner.policy.leeway())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CheckReply;
    use std::sync::Mutex;

    /// Remembers the last cut-off written.
    /// A store that remembers the last cut-off raised and says it bounds its calls to
    /// `bound`.
    #[derive(Debug, Default)]
    struct LastCutoff {
        last: Mutex<Option<Timestamp>>,
        bound: Option<Duration>,
    }

    #[async_trait::async_trait]
    impl RevocationStore for LastCutoff {
        async fn check(&self, _: &TokenKeys) -> Result<CheckReply, StoreError> {
            Ok(CheckReply::default())
        }
        async fn insert_token(&self, _: &TokenKeys, _: Timestamp) -> Result<(), StoreError> {
            Ok(())
        }
        async fn remove_token(&self, _: &TokenKeys) -> Result<bool, StoreError> {
            Ok(false)
        }
        async fn raise_cutoff(
            &self,
            _: RecordKey,
            at: Timestamp,
            _: Timestamp,
        ) -> Result<Timestamp, StoreError> {
            *self.last.lock().expect("not poisoned") = Some(at);
            Ok(at)
        }
        fn call_timeout(&self) -> Option<Duration> {
            self.bound
        }
    }

    fn bounded(bound: Option<Duration>) -> Arc<LastCutoff> {
        Arc::new(LastCutoff {
            bound,
            ..LastCutoff::default()
        })
    }

    #[test]
    fn the_store_timeout_follows_the_stores_own_bound_and_outlasts_it() {
        let policy = || Policy::new(Duration::from_secs(600));
        let of = |bound| Revocations::new(bounded(bound), policy()).store_timeout();
        // A store without a bound of its own: 500 ms.
        assert_eq!(of(None), Duration::from_millis(500));
        // A store that bounds its calls: a tenth longer, at least 20 ms, so its error is first.
        assert_eq!(
            of(Some(Duration::from_millis(500))),
            Duration::from_millis(550)
        );
        assert_eq!(
            of(Some(Duration::from_millis(100))),
            Duration::from_millis(120)
        );
        assert_eq!(
            of(Some(Duration::from_secs(2))),
            Duration::from_millis(2_200)
        );
        // Any bound may be configured: the longest saturates instead of panicking.
        assert_eq!(of(Some(Duration::MAX)), Duration::MAX);
        // Said explicitly, for a store without a bound; kept by with_clock.
        let engine = Revocations::new(bounded(None), policy())
            .with_store_timeout(Duration::from_millis(50))
            .with_clock(Arc::new(crate::time::SystemClock));
        assert_eq!(engine.store_timeout(), Duration::from_millis(50));
    }

    fn engine(store: Arc<LastCutoff>) -> Revocations {
        let clock = crate::time::ManualClock::new(Timestamp::from_secs(1_700_000_000));
        Revocations::new(
            store,
            Policy::new(Duration::from_secs(600)).with_leeway(Duration::from_secs(5)),
        )
        .with_clock(Arc::new(clock))
    }

    #[test]
    fn a_cutoff_ahead_of_the_clock_is_brought_back_to_the_latest_acceptable_iat() {
        let store = Arc::new(LastCutoff::default());
        let revocations = engine(Arc::clone(&store));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let cutoff = runtime
            .block_on(revocations.revoke_user_at(&UserId::new("i", "s"), Timestamp::MAX))
            .expect("revokes");
        // now + the default 2 s allowance for an iat ahead (not the 5 s `exp` leeway)
        assert_eq!(cutoff.at(), Timestamp::from_secs(1_700_000_002));
        assert_eq!(*store.last.lock().expect("not poisoned"), Some(cutoff.at()));
    }

    #[test]
    fn an_empty_jti_is_no_identity() {
        let revocations = engine(Arc::new(LastCutoff::default()));
        let claims = |jti: &str| -> RegisteredClaims {
            serde_json::from_value(serde_json::json!({
                "iss": "i", "sub": "s", "jti": jti, "iat": 1_700_000_000, "exp": 1_700_000_060,
            }))
            .expect("claims")
        };
        let a = revocations
            .inspect(&claims(""), "token a")
            .expect("accepted");
        let b = revocations
            .inspect(&claims(""), "token b")
            .expect("accepted");
        assert_ne!(
            a.token(),
            b.token(),
            "two tokens with an empty jti are told apart by digest"
        );
        let strict = Revocations::new(
            Arc::new(LastCutoff::default()),
            Policy::new(Duration::from_secs(600)).with_identity(IdentityRule::RequireJti),
        )
        .with_clock(Arc::new(crate::time::ManualClock::new(
            Timestamp::from_secs(1_700_000_000),
        )));
        assert_eq!(
            strict.inspect(&claims(""), "t").err(),
            Some(TokenError::MissingJti)
        );
    }

    #[test]
    fn revalidate_judges_kept_facts_by_the_time_now() {
        let clock = Arc::new(crate::time::ManualClock::new(Timestamp::from_secs(
            1_700_000_000,
        )));
        let revocations = Revocations::new(
            Arc::new(LastCutoff::default()),
            Policy::new(Duration::from_secs(600)).with_leeway(Duration::from_secs(5)),
        )
        .with_clock(clock.clone());
        let claims: RegisteredClaims = serde_json::from_value(serde_json::json!({
            "iss": "i", "sub": "s", "jti": "j",
            "iat": 1_700_000_000, "nbf": 1_700_000_000, "exp": 1_700_000_060,
        }))
        .expect("claims");
        let facts = revocations.inspect(&claims, "").expect("accepted");
        assert_eq!(revocations.revalidate(&facts), Ok(()));

        // Expiry, with the leeway: still good 4 s after `exp`, expired at 5 s.
        clock.set(Timestamp::from_secs(1_700_000_064));
        assert_eq!(revocations.revalidate(&facts), Ok(()));
        clock.set(Timestamp::from_secs(1_700_000_065));
        assert_eq!(revocations.revalidate(&facts), Err(TokenError::Expired));

        // A clock that steps back: before `nbf` (beyond the leeway) the token is not valid yet,
        // as `inspect` would say of the same claims.
        clock.set(Timestamp::from_secs(1_699_999_990));
        assert_eq!(revocations.revalidate(&facts), Err(TokenError::NotYetValid));
        assert_eq!(
            revocations.inspect(&claims, "").err(),
            Some(TokenError::NotYetValid)
        );

        // Without `nbf`, the same step back finds the token issued in the future.
        let no_nbf: RegisteredClaims = serde_json::from_value(serde_json::json!({
            "iss": "i", "sub": "s", "jti": "j", "iat": 1_700_000_000, "exp": 1_700_000_060,
        }))
        .expect("claims");
        clock.set(Timestamp::from_secs(1_700_000_000));
        let facts = revocations.inspect(&no_nbf, "").expect("accepted");
        clock.set(Timestamp::from_secs(1_699_999_990));
        assert_eq!(
            revocations.revalidate(&facts),
            Err(TokenError::IssuedInFuture)
        );
    }

    fn claims_of(value: serde_json::Value) -> RegisteredClaims {
        serde_json::from_value(value).expect("claims")
    }

    #[test]
    fn a_cutoff_made_now_covers_every_token_accepted_now() {
        let store = Arc::new(LastCutoff::default());
        let revocations = engine(Arc::clone(&store));
        let now = 1_700_000_000;
        // The latest iat accepted now, and a token without iat that expires as late as allowed.
        let ahead = revocations
            .inspect(
                &claims_of(serde_json::json!({
                    "iss": "i", "sub": "s", "jti": "a", "iat": now + 2, "exp": now + 60,
                })),
                "",
            )
            .expect("an iat within the skew allowance is accepted");
        let no_iat = revocations
            .inspect(
                &claims_of(serde_json::json!({
                    "iss": "i", "sub": "s", "jti": "b", "exp": now + 600 + 2,
                })),
                "",
            )
            .expect("accepted");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        for cutoff in [
            runtime.block_on(revocations.revoke_user(&UserId::new("i", "s"))),
            runtime.block_on(revocations.revoke_session(&SessionId::new("i", "x"))),
        ] {
            let cutoff = cutoff.expect("revokes").at();
            let reply = CheckReply::new(false, Some(cutoff), None);
            for token in [&ahead, &no_iat] {
                assert!(
                    matches!(revocations.judge(token, &reply), Verdict::Revoked(_)),
                    "{token:?} escapes a cut-off at {cutoff:?}"
                );
            }
        }
        // One past the allowance is refused outright: it was never accepted.
        let too_far = revocations.inspect(
            &claims_of(serde_json::json!({
                "iss": "i", "sub": "s", "jti": "c", "iat": now + 3, "exp": now + 60,
            })),
            "",
        );
        assert_eq!(too_far.err(), Some(TokenError::IssuedInFuture));
    }

    #[test]
    fn a_token_not_valid_yet_can_be_inspected_for_revocation() {
        let revocations = engine(Arc::new(LastCutoff::default()));
        let now = 1_700_000_000;
        for early in [
            serde_json::json!({"iss": "i", "sub": "s", "nbf": now + 600, "exp": now + 900}),
            serde_json::json!({"iss": "i", "sub": "s", "iat": now + 120, "exp": now + 700}),
        ] {
            let claims = claims_of(early);
            assert!(revocations.inspect(&claims, "{}").is_err());
            let facts = revocations
                .inspect_for_revocation(&claims, "{}")
                .expect("a token valid later is revocable now");
            assert_eq!(
                facts.token(),
                &TokenId::from_payload("i", "s", "{}"),
                "identified by its payload"
            );
        }
        let expired = claims_of(serde_json::json!({"iss": "i", "sub": "s", "exp": now - 60}));
        assert_eq!(
            revocations.inspect_for_revocation(&expired, "{}").err(),
            Some(TokenError::Expired)
        );
    }

    #[test]
    fn a_store_cutoff_refuses_what_was_issued_before_the_loss_was_noticed() {
        let clock = Arc::new(crate::time::ManualClock::new(Timestamp::from_secs(
            1_700_000_000,
        )));
        let revocations = Revocations::new(
            Arc::new(LastCutoff::default()),
            Policy::new(Duration::from_secs(600)).with_leeway(Duration::from_secs(5)),
        )
        .with_clock(clock.clone());
        let token = |value: serde_json::Value| {
            revocations
                .inspect(&claims_of(value), "{}")
                .expect("accepted")
        };
        let noticed = Timestamp::from_secs(1_700_000_000);
        let reply = CheckReply::default().with_store_cutoff(Some(noticed));
        let before = token(serde_json::json!({
            "iss": "i", "sub": "s", "jti": "1", "iat": 1_700_000_000, "exp": 1_700_000_300,
        }));
        let ahead = token(serde_json::json!({
            "iss": "i", "sub": "s", "jti": "2", "iat": 1_700_000_002, "exp": 1_700_000_300,
        }));
        let no_iat = token(serde_json::json!({
            "iss": "i", "sub": "s", "jti": "3", "exp": 1_700_000_300,
        }));
        for token in [&before, &ahead, &no_iat] {
            assert!(matches!(
                revocations.judge(token, &reply),
                Verdict::Revoked(RevocationReason::DataLoss(_))
            ));
        }
        // Issued after the loss was noticed: valid.
        clock.advance(Duration::from_secs(10));
        let after = token(serde_json::json!({
            "iss": "i", "sub": "s", "jti": "4", "iat": 1_700_000_010, "exp": 1_700_000_300,
        }));
        assert_eq!(revocations.judge(&after, &reply), Verdict::Valid);
        // Once every token it could cover has expired, a token without iat is not covered.
        clock.advance(Duration::from_secs(700));
        let late = token(serde_json::json!({
            "iss": "i", "sub": "s", "jti": "5", "exp": 1_700_001_000,
        }));
        assert_eq!(revocations.judge(&late, &reply), Verdict::Valid);
    }
}
