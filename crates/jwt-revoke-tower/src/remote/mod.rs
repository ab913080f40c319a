//! [`RemoteKeys`]: an identity provider's key set, fetched from its `jwks_uri` (given, or found
//! by OIDC discovery), refreshed in the background and on an unknown `kid`, kept through the
//! provider's outages for a bounded time.
//!
//! The rules, in one place:
//! - **Refresh**: after each fetch, the next one is due after the response's
//!   `Cache-Control: max-age`, bounded by [`refresh_bounds`](RemoteKeysBuilder::refresh_bounds)
//!   (default 5 minutes to 24 hours; the lower bound without a `max-age`), less up to 10 %
//!   of jitter so that a fleet does not fetch in step.
//! - **Unknown `kid`**: a token naming a `kid` the set does not have starts one fetch, unless
//!   one is under way (then it waits for that one) or one began less than
//!   [`refetch_interval`](RemoteKeysBuilder::refetch_interval) ago (default 30 s; then it is
//!   refused at once). However many requests carry unknown kids, the provider sees at most
//!   one fetch per interval. A request waits for the fetch at most
//!   [`unknown_kid_wait`](RemoteKeysBuilder::unknown_kid_wait) (default 3 s), then is verified
//!   again, and refused (401) if the `kid` is still unknown.
//! - **Failures** (unreachable, a timeout, a non-2xx status, a document that is not a key
//!   set, too large, with two keys of one `kid`, without a usable signature key): the last
//!   good set stays in force, the failure is logged and counted, and the fetch is retried
//!   after 10 s, doubling up to the refresh's lower bound. Once the last good set is older
//!   than [`max_stale`](RemoteKeysBuilder::max_stale) (default 24 h) and the last fetch
//!   failed (or the fetcher stopped with its runtime), the source is stale and
//!   its issuer's tokens are refused (401, "the issuer's keys are stale") until a fetch
//!   succeeds: never accepted with keys the provider may have withdrawn long ago, never a 500.
//!   A scheduled refresh never waits longer than half of `max_stale`, so keys of a provider
//!   that answers never go stale, and one failed refresh leaves the other half to recover.
//! - **Start**: [`start`](RemoteKeysBuilder::start) fetches once and fails if that fails;
//!   with [`start_without_keys`](RemoteKeysBuilder::start_without_keys) it returns at once
//!   and the layer answers 503 with `Retry-After` until keys arrive (each such request asks
//!   for a fetch, within the refetch interval's limit).
//! - **Cached tokens**: a verified-token cache serves a token of a fetched set only while that
//!   version of the set is in force and not stale; a rotation makes them verify again.
//! - **Limits**: HTTPS only (HTTP only to a loopback address, and only with
//!   [`allow_http_loopback`](RemoteKeysBuilder::allow_http_loopback)), redirects only to URLs
//!   the same rule allows, a connect timeout (5 s) and one for the whole fetch (10 s), at
//!   most 256 KiB a document.
//! - **Keys**: RSA, EC (P-256, P-384) and OKP (Ed25519) keys with `use` absent or `sig`; a key
//!   that states its `alg` verifies that algorithm only; two keys with one `kid` make the
//!   document a failure; keys without `kid` are used (each tried in turn) only when no key of
//!   the set has one; a key jsonwebtoken cannot read is left out, and logged.

mod fetch;
mod refresh;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwapOption;
use tokio::sync::{Notify, watch};

pub use crate::jwks_document::KeySourceError;
use crate::verify::DecodingKeys;

/// The default lower bound of the refresh interval (and the interval without `max-age`).
pub const DEFAULT_REFRESH_MIN: Duration = Duration::from_secs(5 * 60);
/// The default upper bound of the refresh interval.
pub const DEFAULT_REFRESH_MAX: Duration = Duration::from_secs(24 * 60 * 60);

/// An identity provider's key set, fetched and kept fresh in the background. Give it to a
/// layer ([`RevocationLayer::verifying`](crate::RevocationLayer::verifying),
/// [`TrustedIssuer::new`](crate::TrustedIssuer::new)) or a receiver
/// ([`EventTokenTrust::new`](crate::events::EventTokenTrust::new)) where keys go; clones share
/// one set and one fetcher, which stops when the last clone is dropped. The rules are in the
/// [module docs](self).
///
/// ```no_run
/// # async fn run() -> Result<(), jwt_revoke_tower::KeySourceError> {
/// use jwt_revoke_tower::RemoteKeys;
///
/// // The issuer's discovery document names its jwks_uri (and must name this issuer exactly).
/// let keys = RemoteKeys::discover("https://login.example.com/realms/main").start().await?;
/// // Or the JWKS URL itself.
/// let keys = RemoteKeys::jwks_url("https://login.example.com/.well-known/jwks.json").start().await?;
/// println!("{:?}", keys.status());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RemoteKeys {
    shared: Arc<Shared>,
    _fetcher: Arc<AbortOnDrop>,
}

/// The settings of a [`RemoteKeys`] source, from [`RemoteKeys::jwks_url`] or
/// [`RemoteKeys::discover`].
#[derive(Clone, Debug)]
#[must_use]
pub struct RemoteKeysBuilder {
    pub(crate) location: Location,
    pub(crate) refresh_min: Duration,
    pub(crate) refresh_max: Duration,
    pub(crate) refetch_interval: Duration,
    pub(crate) unknown_kid_wait: Duration,
    pub(crate) max_stale: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) fetch_timeout: Duration,
    pub(crate) max_document_bytes: usize,
    pub(crate) allow_http_loopback: bool,
    pub(crate) start_without_keys: bool,
}

/// Where the keys are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Location {
    /// The JWKS URL.
    Jwks(String),
    /// The issuer, whose discovery document names the JWKS URL.
    Issuer(String),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // Without a query (an API key may be in it): see `jwks_document::shown`.
            Location::Jwks(url) => f.write_str(&crate::jwks_document::shown_text(url)),
            Location::Issuer(issuer) => write!(
                f,
                "{} (discovery)",
                crate::jwks_document::shown_text(issuer)
            ),
        }
    }
}

impl RemoteKeys {
    /// A key set at this JWKS URL.
    pub fn jwks_url(url: impl Into<String>) -> RemoteKeysBuilder {
        RemoteKeysBuilder::new(Location::Jwks(url.into()))
    }

    /// The key set of the OpenID Connect issuer `issuer`, whose
    /// `/.well-known/openid-configuration` names its `jwks_uri`. The document's `issuer` must
    /// equal `issuer` exactly (OpenID Connect Discovery §4.3), or the fetch fails.
    pub fn discover(issuer: impl Into<String>) -> RemoteKeysBuilder {
        RemoteKeysBuilder::new(Location::Issuer(issuer.into()))
    }

    /// What the source holds and when it fetches next.
    pub fn status(&self) -> KeySourceStatus {
        let state = self
            .shared
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let snapshot = self.shared.snapshot.load_full();
        KeySourceStatus {
            location: self.shared.settings.location.to_string(),
            jwks_uri: state.jwks_uri.as_ref().map(ToString::to_string),
            kids: snapshot
                .as_ref()
                .map(|s| s.keys.kids().map(str::to_owned).collect())
                .unwrap_or_default(),
            keys: snapshot.as_ref().map_or(0, |s| s.keys.len()),
            freshness: self.freshness(snapshot.as_deref()),
            last_success: state.last_success.map(|(_, at)| at),
            last_error: state.last_error.clone(),
            next_refresh: state.next_refresh,
            fetches: state.fetches,
            failures: state.failures,
            fetcher_running: self.fetcher_running(),
        }
    }

    /// Where the keys come from, for logs.
    pub(crate) fn location(&self) -> &Location {
        &self.shared.settings.location
    }

    /// The key set in force, or why there is none. Without one yet, a fetch is asked for (as
    /// for an unknown `kid`, at most one per refetch interval): a source that could not start
    /// recovers as soon as its provider answers, not at its next scheduled retry.
    pub(crate) fn current(&self) -> Result<Arc<Snapshot>, Unavailable> {
        let Some(snapshot) = self.shared.snapshot.load_full() else {
            drop(self.request_refetch(0));
            return Err(Unavailable::NotYet);
        };
        match self.freshness(Some(&snapshot)) {
            Freshness::Stale => Err(Unavailable::Stale),
            _ => Ok(snapshot),
        }
    }

    /// Stale: older than `max_stale` while fetches fail (or the fetcher has stopped). Keys a
    /// provider keeps serving never go stale, however slowly it answers and whatever
    /// `max-age` it sends.
    fn freshness(&self, snapshot: Option<&Snapshot>) -> Freshness {
        match snapshot {
            None => Freshness::NoKeysYet,
            Some(s)
                if s.fetched_at.elapsed() > self.shared.settings.max_stale
                    && (self.shared.failing.load(Ordering::Acquire) || !self.fetcher_running()) =>
            {
                Freshness::Stale
            }
            Some(_) => Freshness::Fresh,
        }
    }

    /// Whether the background fetcher still runs (it stops with its runtime).
    fn fetcher_running(&self) -> bool {
        !self._fetcher.0.is_finished()
    }

    /// For a token whose `kid` the set of generation `seen` does not have: starts a fetch
    /// unless one is under way or one began less than the refetch interval ago. A wait for the
    /// fetch (over at once when a newer set is in force already: verify with it), or `None`
    /// when none is coming (the token is refused at once).
    pub(crate) fn request_refetch(&self, seen: u64) -> Option<KeyWait> {
        let shared = &self.shared;
        let mut state = shared
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if shared.generation.load(Ordering::Acquire) != seen {
            return Some(KeyWait {
                receiver: None,
                within: Duration::ZERO,
            });
        }
        if !self.fetcher_running() {
            // Its runtime is gone: nothing will fetch, and nothing is worth waiting for.
            return None;
        }
        let mut receiver = shared.completed.subscribe();
        receiver.mark_unchanged();
        if !state.in_flight {
            let recent = state
                .last_attempt
                .is_some_and(|at| at.elapsed() < shared.settings.refetch_interval);
            if recent {
                return None;
            }
            state.in_flight = true;
            state.last_attempt = Some(Instant::now());
            shared.wake.notify_one();
        }
        Some(KeyWait {
            receiver: Some(receiver),
            within: shared.settings.unknown_kid_wait,
        })
    }
}

impl std::fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteKeys")
            .field("location", &self.shared.settings.location.to_string())
            .field(
                "generation",
                &self.shared.generation.load(Ordering::Relaxed),
            )
            .finish_non_exhaustive()
    }
}

/// A request's wait for a fetch of its issuer's key set (an unknown `kid`).
#[derive(Debug)]
pub(crate) struct KeyWait {
    /// Counts finished fetches; `None`: nothing to wait for.
    receiver: Option<watch::Receiver<u64>>,
    within: Duration,
}

impl KeyWait {
    /// Until the fetch is over, or the wait's bound.
    pub(crate) async fn wait(self) {
        if let Some(mut receiver) = self.receiver {
            let _ = tokio::time::timeout(self.within, receiver.changed()).await;
        }
    }
}

/// Why a source has no key set to offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unavailable {
    /// No fetch has succeeded yet (a source started without keys).
    NotYet,
    /// The last good set is older than `max_stale`.
    Stale,
}

impl From<Unavailable> for crate::verify::VerifyError {
    fn from(why: Unavailable) -> Self {
        use crate::verify::{FailureClass, VerifyError};
        match why {
            Unavailable::NotYet => VerifyError {
                class: FailureClass::Unavailable,
                reason: crate::InvalidReason::KeysUnavailable,
                description: "the keys of the token's issuer are not available yet".into(),
                wait: None,
                keys_may_change: true,
            },
            Unavailable::Stale => VerifyError {
                class: FailureClass::Key,
                reason: crate::InvalidReason::KeysStale,
                description: "the keys of the token's issuer are stale: they could not be \
                              fetched for longer than this service accepts"
                    .into(),
                wait: None,
                keys_may_change: true,
            },
        }
    }
}

/// How current a source's keys are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Freshness {
    /// No fetch has succeeded yet: tokens are answered 503.
    NoKeysYet,
    /// The set in force was fetched within `max_stale`.
    Fresh,
    /// Fetches have failed for longer than `max_stale`: tokens are refused until one succeeds.
    Stale,
}

/// What a [`RemoteKeys`] source holds and does, from [`RemoteKeys::status`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeySourceStatus {
    /// The JWKS URL or the issuer it was configured with.
    pub location: String,
    /// The JWKS URL fetched (after discovery), once known.
    pub jwks_uri: Option<String>,
    /// The `kid`s of the set in force.
    pub kids: Vec<String>,
    /// How many keys the set in force holds.
    pub keys: usize,
    /// Whether the set may be used.
    pub freshness: Freshness,
    /// When a fetch last succeeded.
    pub last_success: Option<SystemTime>,
    /// What the last failed fetch said, until one succeeds.
    pub last_error: Option<String>,
    /// When the next scheduled fetch is due.
    pub next_refresh: Option<SystemTime>,
    /// Fetches begun so far (discovery and key set count as one).
    pub fetches: u64,
    /// Fetches that failed so far.
    pub failures: u64,
    /// Whether the background fetcher runs (it stops with the runtime it was started on).
    pub fetcher_running: bool,
}

/// One version of the key set.
pub(crate) struct Snapshot {
    /// Counts up with every fetch that brings a different document (a fetch of the same
    /// document only renews `fetched_at`).
    pub(crate) generation: u64,
    pub(crate) keys: DecodingKeys,
    /// The SHA-256 of the document.
    digest: [u8; 32],
    fetched_at: Instant,
}

/// What the source's handles and its fetcher share.
struct Shared {
    settings: RemoteKeysBuilder,
    snapshot: ArcSwapOption<Snapshot>,
    generation: AtomicU64,
    /// The last fetch failed (read on every request past `max_stale`).
    failing: std::sync::atomic::AtomicBool,
    state: std::sync::Mutex<State>,
    /// Wakes the fetcher for an unknown `kid`.
    wake: Notify,
    /// Counts finished fetches, for the requests waiting on one.
    completed: watch::Sender<u64>,
}

/// The fetcher's bookkeeping.
#[derive(Default)]
struct State {
    /// A fetch is under way (or has been asked for and is about to begin).
    in_flight: bool,
    last_attempt: Option<Instant>,
    last_success: Option<(Instant, SystemTime)>,
    last_error: Option<String>,
    next_refresh: Option<SystemTime>,
    jwks_uri: Option<reqwest::Url>,
    fetches: u64,
    failures: u64,
    /// Failures since the last success, for the retry's backoff.
    consecutive_failures: u32,
}

/// Stops the fetcher when the last handle goes.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl RemoteKeysBuilder {
    fn new(location: Location) -> Self {
        RemoteKeysBuilder {
            location,
            refresh_min: DEFAULT_REFRESH_MIN,
            refresh_max: DEFAULT_REFRESH_MAX,
            refetch_interval: Duration::from_secs(30),
            unknown_kid_wait: Duration::from_secs(3),
            max_stale: Duration::from_secs(24 * 60 * 60),
            connect_timeout: Duration::from_secs(5),
            fetch_timeout: Duration::from_secs(10),
            max_document_bytes: 256 * 1024,
            allow_http_loopback: false,
            start_without_keys: false,
        }
    }

    /// The bounds of the refresh interval the response's `Cache-Control: max-age` sets
    /// (default 5 minutes to 24 hours; without a `max-age`, the lower bound).
    pub fn refresh_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.refresh_min = min;
        self.refresh_max = max;
        self
    }

    /// The least time between two fetches started for unknown kids (default 30 s).
    pub fn refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// How long a request with an unknown `kid` waits for the fetch it started or found
    /// under way (default 3 s).
    pub fn unknown_kid_wait(mut self, wait: Duration) -> Self {
        self.unknown_kid_wait = wait;
        self
    }

    /// How long the last good key set stays in force while fetches fail (default 24 h).
    pub fn max_stale(mut self, max_stale: Duration) -> Self {
        self.max_stale = max_stale;
        self
    }

    /// The time limit on connecting (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The time limit on one whole fetch, each of discovery and key set (default 10 s).
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// The largest document read (default 256 KiB); a larger one is a failed fetch.
    pub fn max_document_bytes(mut self, bytes: usize) -> Self {
        self.max_document_bytes = bytes;
        self
    }

    /// Accepts `http://` URLs whose host is a loopback address (`127.0.0.0/8`, `::1`,
    /// `localhost`), for tests and development. Any other `http://` URL is refused.
    pub fn allow_http_loopback(mut self) -> Self {
        self.allow_http_loopback = true;
        self
    }

    /// Returns from [`start`](Self::start) at once, without waiting for the first fetch:
    /// until one succeeds, tokens of this issuer are answered 503 (`Retry-After: 1`), and
    /// the fetch is retried in the background.
    pub fn start_without_keys(mut self) -> Self {
        self.start_without_keys = true;
        self
    }

    /// Checks the settings, fetches the key set once (unless
    /// [`start_without_keys`](Self::start_without_keys)), and starts the background fetcher
    /// on the current Tokio runtime.
    pub async fn start(self) -> Result<RemoteKeys, KeySourceError> {
        self.check()?;
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| KeySourceError::NoRuntime)?;
        let client = fetch::client(&self)?;
        let shared = Arc::new(Shared {
            settings: self,
            snapshot: ArcSwapOption::empty(),
            generation: AtomicU64::new(0),
            failing: std::sync::atomic::AtomicBool::new(false),
            state: std::sync::Mutex::new(State::default()),
            wake: Notify::new(),
            completed: watch::Sender::new(0),
        });
        let first_delay = if shared.settings.start_without_keys {
            Duration::ZERO
        } else {
            shared.begin(true);
            let outcome = fetch::fetch(&shared.settings, &client, None).await;
            if let Err(err) = &outcome {
                return Err(err.clone());
            }
            shared.finish(outcome)
        };
        let task = runtime.spawn(refresh::run(Arc::clone(&shared), client, first_delay));
        Ok(RemoteKeys {
            shared,
            _fetcher: Arc::new(AbortOnDrop(task.abort_handle())),
        })
    }

    fn check(&self) -> Result<(), KeySourceError> {
        let (Location::Jwks(url) | Location::Issuer(url)) = &self.location;
        crate::jwks_document::allowed_url(url, self.allow_http_loopback)?;
        if self.refresh_min.is_zero() || self.refresh_min > self.refresh_max {
            return Err(KeySourceError::Settings(
                "refresh_bounds: the lower bound must be above zero and at most the upper one",
            ));
        }
        if self.refetch_interval.is_zero() {
            return Err(KeySourceError::Settings(
                "refetch_interval must be above zero: it is the rate limit on fetches for \
                 unknown kids",
            ));
        }
        if self.max_document_bytes == 0 {
            return Err(KeySourceError::Settings(
                "max_document_bytes must be above zero",
            ));
        }
        if self.max_stale < self.refresh_min {
            return Err(KeySourceError::Settings(
                "max_stale must be at least the refresh's lower bound, or the keys go stale \
                 between two fetches",
            ));
        }
        Ok(())
    }
}
