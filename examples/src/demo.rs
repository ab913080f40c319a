//! The demo service: login, a protected resource, and three kinds of logout.
//!
//! | route | what it does |
//! |---|---|
//! | `POST /login` `{"sub": "..."}` | issues an HS256 access token (`iss` = `jwt-revoke-demo`, random `jti` and `sid`) |
//! | `GET /me` | the caller's claims (protected) |
//! | `POST /logout` | revokes the caller's token → 204 |
//! | `POST /logout/all` | revokes every token of the caller issued up to now → 204 |
//! | `POST /logout/session` | revokes the caller's session → 204 |
//! | `GET /healthz` | 200, no token needed |
//! | `POST /oauth/revoke` `token=...` | RFC 7009: revokes that token → 200 |
//! | `POST /backchannel-logout` `logout_token=...` | OIDC back-channel logout from the configured IdP → 200 / 400 |
//!
//! With an identity provider whose keys are fetched (`DEMO_IDP_JWKS_URL`, or discovery), the
//! protected routes also accept its RS256, ES256 and EdDSA access tokens (`iss` =
//! `DEMO_IDP_ISSUER`, `aud` naming `DEMO_IDP_AUDIENCE`), and its back-channel logouts end its
//! own sessions and users.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jwt_revoke_core::{
    Policy, RegisteredClaims, RevocationReason, RevocationStore, Revocations, Timestamp, Verdict,
};
use jwt_revoke_tower::events::{BackchannelLogout, EventTokenTrust, RevocationEndpoint};
use jwt_revoke_tower::jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use jwt_revoke_tower::{
    BuildError, Claims, DecodingKeys, Keys, RevocationHandle, RevocationLayer,
    RevocationLayerBuilder, TrustedIssuer,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The issuer of the demo's tokens.
pub const ISSUER: &str = "jwt-revoke-demo";
/// The development secret used when `DEMO_JWT_SECRET` is not set. Never use it in production.
pub const DEVELOPMENT_SECRET: &str = "jwt-revoke-demo development secret: set DEMO_JWT_SECRET";
/// How long the demo's access tokens live.
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// The longest lifetime the demo accepts from tokens minted elsewhere with its secret.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// Installs the process's metrics recorder, Prometheus's, and returns the handle whose text
/// [`DemoConfig::with_metrics`] serves. Once per process, before the store is built (the
/// memory store reports its capacity when it is built).
pub fn install_metrics() -> Result<PrometheusHandle, String> {
    PrometheusBuilder::new()
        .install_recorder()
        .map_err(|err| format!("the metrics recorder cannot be installed: {err}"))
}

/// What the demo needs to run.
#[derive(Clone)]
pub struct DemoConfig {
    /// The HS256 secret that signs and verifies tokens.
    pub secret: Vec<u8>,
    /// Where revocations live.
    pub store: Arc<dyn RevocationStore>,
    /// The identity provider whose back-channel logouts the demo accepts, if any.
    pub idp: Option<IdpConfig>,
    /// A layer configured elsewhere (`DEMO_CONFIG`), used as it is instead of the demo's own.
    pub layer: Option<RevocationLayer>,
    /// The Prometheus recorder whose text `GET /metrics` serves ([`install_metrics`]), if any.
    pub metrics: Option<PrometheusHandle>,
}

impl DemoConfig {
    /// A demo signing with `secret`, revoking into `store`, with no identity provider.
    pub fn new(secret: impl Into<Vec<u8>>, store: Arc<dyn RevocationStore>) -> Self {
        DemoConfig {
            secret: secret.into(),
            store,
            idp: None,
            layer: None,
            metrics: None,
        }
    }

    /// A demo behind `layer` (built from a [`RevocationConfig`](jwt_revoke::RevocationConfig),
    /// say), signing with `secret`, which must be a key of the layer's: its store and policy
    /// are the layer's.
    pub fn with_layer(secret: impl Into<Vec<u8>>, layer: RevocationLayer) -> Self {
        DemoConfig {
            secret: secret.into(),
            store: Arc::clone(layer.revocations().store()),
            idp: None,
            layer: Some(layer),
            metrics: None,
        }
    }

    /// The layer a demo puts in front of its protected services: the one it was given, as it
    /// is, or the demo's own ([`layer_builder`]) with `adjust` applied (a demo's own bypass).
    pub fn build_layer(
        &self,
        adjust: impl FnOnce(RevocationLayerBuilder) -> RevocationLayerBuilder,
    ) -> Result<RevocationLayer, BuildError> {
        let revocations = revocations(Arc::clone(&self.store));
        match (&self.layer, &self.idp) {
            (Some(layer), _) => Ok(layer.clone()),
            // The IdP's access tokens beside the demo's own, each verified by its issuer's
            // keys only.
            (
                None,
                Some(
                    idp @ IdpConfig {
                        keys: IdpKeys::Remote(keys),
                        ..
                    },
                ),
            ) => adjust(RevocationLayer::verifying_issuers(
                revocations,
                [
                    TrustedIssuer::new(ISSUER, own_keys(&self.secret), &[Algorithm::HS256]),
                    TrustedIssuer::new(idp.issuer.clone(), keys.clone(), IDP_ALGORITHMS)
                        .audiences([idp.audience.clone()]),
                ],
            ))
            .build(),
            (None, _) => adjust(layer_builder(revocations, &self.secret)).build(),
        }
    }

    /// The same demo, serving the metrics of `recorder` at `GET /metrics`, outside the layer.
    pub fn with_metrics(mut self, recorder: PrometheusHandle) -> Self {
        self.metrics = Some(recorder);
        self
    }

    /// The same demo, accepting back-channel logouts from `idp`.
    pub fn with_idp(mut self, idp: IdpConfig) -> Self {
        self.idp = Some(idp);
        self
    }
}

/// An identity provider that sends OpenID Connect back-channel logouts and, when its keys are
/// fetched, whose access tokens the demo accepts.
#[derive(Clone, Debug)]
pub struct IdpConfig {
    /// Its issuer (`DEMO_IDP_ISSUER`).
    pub issuer: String,
    /// Its keys.
    pub keys: IdpKeys,
    /// The audience its tokens name (`DEMO_IDP_AUDIENCE`, default `jwt-revoke-demo`).
    pub audience: String,
}

/// Where an identity provider's keys come from.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum IdpKeys {
    /// Its RS256 public key, PEM (the file named by `DEMO_IDP_PUBLIC_KEY`): its back-channel
    /// logouts end the sessions and users of the demo's own tokens.
    PublicKeyPem(Vec<u8>),
    /// Its key set, fetched from `DEMO_IDP_JWKS_URL` or through discovery: its access tokens
    /// are accepted too, and its back-channel logouts end its own sessions and users.
    Remote(jwt_revoke_tower::RemoteKeys),
}

/// The algorithms of an identity provider's access and logout tokens whose keys are fetched.
pub const IDP_ALGORITHMS: &[Algorithm] = &[Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

/// The audience of logout tokens when `DEMO_IDP_AUDIENCE` is not set.
pub const DEFAULT_IDP_AUDIENCE: &str = "jwt-revoke-demo";

/// Why the demo's router could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// The revocation layer or a receiver refused its configuration.
    #[error(transparent)]
    Layer(#[from] BuildError),
    /// The identity provider's public key is not an RSA public key in PEM.
    #[error("the identity provider's public key (DEMO_IDP_PUBLIC_KEY) is unusable: {0}")]
    IdpKey(#[from] jwt_revoke_tower::jsonwebtoken::errors::Error),
}

#[derive(Clone)]
struct AppState {
    revocations: Revocations,
    encoding_key: EncodingKey,
}

/// The demo's revocation engine over `store`: tokens live at most [`MAX_TOKEN_LIFETIME`].
pub fn revocations(store: Arc<dyn RevocationStore>) -> Revocations {
    Revocations::new(store, Policy::new(MAX_TOKEN_LIFETIME))
}

/// The revocation layer every demo (HTTP, gRPC, Hyper) puts in front of its protected
/// services: HS256 with the demo's secret, tokens of the demo's issuer only.
pub fn layer_builder(revocations: Revocations, secret: &[u8]) -> RevocationLayerBuilder {
    RevocationLayer::verifying(revocations, own_keys(secret), &[Algorithm::HS256]).issuers([ISSUER])
}

/// The demo's own key: the HS256 secret.
fn own_keys(secret: &[u8]) -> DecodingKeys {
    DecodingKeys::new(DecodingKey::from_secret(secret))
}

/// The demo's router, with the revocation layer in front of the protected routes, the RFC 7009
/// endpoint at `POST /oauth/revoke`, and, with an identity provider configured, its
/// back-channel logouts at `POST /backchannel-logout`.
pub fn router(config: DemoConfig) -> Result<Router, DemoError> {
    let layer = config.build_layer(|builder| builder)?;
    let revocations = layer.revocations().clone();
    let revocation_endpoint = RevocationEndpoint::new(&layer)?;
    let backchannel_logout = match config.idp {
        Some(idp) => {
            let receiver = match idp.keys {
                IdpKeys::PublicKeyPem(pem) => {
                    let key = DecodingKey::from_rsa_pem(&pem)?;
                    let trust = EventTokenTrust::new(
                        DecodingKeys::new(key),
                        &[Algorithm::RS256],
                        idp.issuer,
                        idp.audience,
                    );
                    // The IdP's `sid` and `sub` are those of the demo's own access tokens.
                    BackchannelLogout::builder(revocations.clone(), trust)
                        .revoke_for_issuer(ISSUER)
                        .build()?
                }
                // The same key source as the layer's: one fetcher, one set of keys.
                IdpKeys::Remote(keys) => {
                    let trust = EventTokenTrust::new(
                        Keys::from(keys),
                        IDP_ALGORITHMS,
                        idp.issuer,
                        idp.audience,
                    );
                    BackchannelLogout::builder(revocations.clone(), trust).build()?
                }
            };
            Some(receiver)
        }
        None => None,
    };
    let state = AppState {
        revocations,
        encoding_key: EncodingKey::from_secret(&config.secret),
    };

    let protected = Router::new()
        .route("/me", get(me))
        .route("/logout", post(logout))
        .route("/logout/all", post(logout_all))
        .route("/logout/session", post(logout_session))
        .layer(layer);
    let mut app = Router::new()
        .route("/login", post(login))
        .route("/healthz", get(|| async { "ok" }))
        .route_service("/oauth/revoke", revocation_endpoint);
    if let Some(receiver) = backchannel_logout {
        app = app.route_service("/backchannel-logout", receiver);
    }
    if let Some(recorder) = config.metrics {
        // Outside the layer: a scraper holds no token, and its scrapes are not decisions.
        app = app.route("/metrics", get(move || async move { recorder.render() }));
    }
    Ok(app.merge(protected).with_state(state))
}

#[derive(Deserialize)]
struct LoginRequest {
    sub: String,
}

#[derive(Serialize)]
struct LoginResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
}

#[derive(Serialize)]
struct AccessClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
    sid: String,
}

fn error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

fn random_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

async fn login(State(state): State<AppState>, Json(request): Json<LoginRequest>) -> Response {
    let sub = request.sub.trim();
    if sub.is_empty() || sub.len() > 256 {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "sub must be 1 to 256 characters",
        );
    }
    let now = state.revocations.clock().now().as_secs_floor();
    let mut claims = AccessClaims {
        iss: ISSUER,
        sub,
        iat: now,
        exp: 0,
        jti: random_id(),
        sid: random_id(),
    };
    // If the user logged out everywhere a moment ago, a token with iat = now would be covered
    // by that cut-off (it reaches a little ahead of the clock, see jwt_revoke_core::Cutoff):
    // issue it at the cut-off's first valid second instead, and answer once that `iat` is
    // accepted (at most about a second later), so that the token works at once.
    match covering_cutoff(&state, &claims).await {
        Ok(Some(first_valid_iat)) => {
            claims.iat = first_valid_iat;
            wait_until_acceptable(&state.revocations, first_valid_iat).await;
        }
        Ok(None) => {}
        Err(()) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the revocation store is unavailable",
            );
        }
    }
    // `exp` counts from now, not from a bumped `iat`: the token lives exactly as advertised.
    claims.exp = now + ACCESS_TOKEN_LIFETIME.as_secs() as i64;
    let token = match jwt_revoke_tower::jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &state.encoding_key,
    ) {
        Ok(token) => token,
        Err(err) => {
            tracing::error!(%err, "could not sign a token");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "could not sign the token",
            );
        }
    };
    Json(LoginResponse {
        access_token: token,
        token_type: "Bearer",
        expires_in: (claims.exp - now) as u64,
    })
    .into_response()
}

/// Waits until the engine accepts a token issued at `iat` (whole seconds): until its clock is
/// within the policy's allowance for an `iat` ahead.
async fn wait_until_acceptable(revocations: &Revocations, iat: i64) {
    let acceptable_from =
        Timestamp::from_secs(iat).saturating_sub(revocations.policy().issued_at_skew());
    let wait = acceptable_from.duration_since(revocations.clock().now());
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
}

/// The first valid `iat` if a user cut-off (or the store's, after it lost data) covers a token
/// issued with `claims.iat`.
async fn covering_cutoff(state: &AppState, claims: &AccessClaims<'_>) -> Result<Option<i64>, ()> {
    let mut registered = RegisteredClaims::new();
    registered.iss = Some(claims.iss.to_owned());
    registered.sub = Some(claims.sub.to_owned());
    registered.jti = Some(claims.jti.clone());
    registered.iat = Some(Timestamp::from_secs(claims.iat).into());
    registered.exp = Some(
        Timestamp::from_secs(claims.iat)
            .saturating_add(ACCESS_TOKEN_LIFETIME)
            .into(),
    );
    let Ok(facts) = state.revocations.inspect(&registered, "") else {
        return Ok(None);
    };
    match state.revocations.check(&facts).await {
        Ok(Verdict::Revoked(
            RevocationReason::User(cutoff) | RevocationReason::DataLoss(cutoff),
        )) => Ok(Some(cutoff.first_valid_iat())),
        Ok(_) => Ok(None),
        Err(err) => {
            tracing::warn!(%err, "revocation store unavailable at login");
            Err(())
        }
    }
}

async fn me(claims: Claims) -> Response {
    let registered = claims.registered();
    Json(json!({
        "iss": registered.iss,
        "sub": registered.sub,
        "jti": registered.jti,
        "sid": registered.sid,
        "iat": registered.iat,
        "exp": registered.exp,
    }))
    .into_response()
}

fn revocation_failed(err: &jwt_revoke_core::StoreError) -> Response {
    tracing::warn!(%err, "revocation failed");
    let description = if matches!(err, jwt_revoke_core::StoreError::CapacityExceeded { .. }) {
        "the revocation store is full: the revocation was not recorded"
    } else {
        "the revocation could not be recorded; try again"
    };
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        description,
    )
}

async fn logout(handle: RevocationHandle) -> Response {
    match handle.revoke_token().await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => revocation_failed(&err),
    }
}

async fn logout_all(handle: RevocationHandle) -> Response {
    match handle.revoke_user().await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => revocation_failed(&err),
    }
}

async fn logout_session(handle: RevocationHandle) -> Response {
    match handle.revoke_session().await {
        Ok(Some(_)) => StatusCode::NO_CONTENT.into_response(),
        Ok(None) => error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the token has no sid: there is no session to end",
        ),
        Err(err) => revocation_failed(&err),
    }
}
