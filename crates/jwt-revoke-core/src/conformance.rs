//! The store conformance suite: checks any [`RevocationStore`] against the trait's contract.
//!
//! Every store of jwt-revoke runs it, and yours should too. It covers the token record, user
//! and session cut-offs and the allowlist through the engine; expiry and cleanup; idempotent
//! writes; a cut-off that never moves backwards, also under 64 concurrent writers; issuer
//! isolation; revoking an already-expired token (nothing is stored); and 100,000 records.
//!
//! A store is handed to the suite in a [`Harness`]: the store, the clock it reads (a
//! [`ManualClock`] that the suite advances, or [`RealTime`] for a store whose records expire
//! by a server's clock, such as Redis), and a way to count the records it holds, so that
//! cleanup can be checked. Each case asks for a new harness, and **each harness must hold a
//! new, empty store** (a fresh instance, or a fresh key prefix on a shared server).
//!
//! # One macro: a test per case
//! ```
//! # use std::sync::Arc;
//! # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/reference_store.rs"));
//! mod conformance {
//!     use std::sync::Arc;
//!     use jwt_revoke_core::conformance::Harness;
//!     use jwt_revoke_core::{ManualClock, Timestamp};
//!     # use super::ReferenceStore;
//!
//!     // `ReferenceStore` stands for your store.
//!     jwt_revoke_core::revocation_store_conformance!(|| async {
//!         let clock = Arc::new(ManualClock::new(Timestamp::from_secs(1_700_000_000)));
//!         let store = Arc::new(ReferenceStore::new(clock.clone()));
//!         let counted = store.clone();
//!         Harness::new(store, clock).count_records_with(move || {
//!             let store = counted.clone();
//!             async move { Ok(store.len() as u64) }
//!         })
//!     });
//! }
//! # fn main() {}
//! ```
//! The macro writes one `#[test]` per case, named after it, each on its own multi-threaded
//! Tokio runtime. Put it in a module of its own.
//!
//! # Or one call
//! [`run`] runs every case in turn from inside your own async test and reports every case
//! that failed, by name.
#![allow(clippy::missing_panics_doc)]

pub mod model;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::claims::RegisteredClaims;
use crate::key::{ClaimId, RecordKey, SessionId, TokenId, UserId};
use crate::policy::{ListMode, Policy};
use crate::revocations::{Revocations, TokenFacts};
use crate::store::{ClaimKeys, RevocationStore, StoreError, TokenKeys};
use crate::time::{Clock, ManualClock, SystemClock, Timestamp};
use crate::verdict::{ClaimRevocationError, RevocationReason, TokenRevocation, Verdict};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type RecordCounter = Arc<dyn Fn() -> BoxFuture<Result<u64, StoreError>> + Send + Sync>;

/// The clock of a store under test, which the suite can move forward.
#[async_trait]
pub trait TestClock: Clock {
    /// Lets `by` pass on this clock: instantly for a manual clock, by sleeping for real time.
    async fn advance(&self, by: Duration);
}

#[async_trait]
impl TestClock for ManualClock {
    async fn advance(&self, by: Duration) {
        ManualClock::advance(self, by);
    }
}

/// The system clock, advanced by sleeping: for stores whose records expire by a server's own
/// clock (Redis TTLs), where time cannot be faked. Cases that wait then take a second or two.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealTime;

impl Clock for RealTime {
    fn now(&self) -> Timestamp {
        SystemClock.now()
    }
}

#[async_trait]
impl TestClock for RealTime {
    async fn advance(&self, by: Duration) {
        tokio::time::sleep(by).await;
    }
}

/// A store under test, with its clock and, ideally, a way to count its records.
#[derive(Clone)]
pub struct Harness {
    store: Arc<dyn RevocationStore>,
    clock: Arc<dyn TestClock>,
    count: Option<RecordCounter>,
}

impl Harness {
    /// A new, empty `store` that reads `clock`.
    pub fn new(store: Arc<dyn RevocationStore>, clock: Arc<dyn TestClock>) -> Self {
        Harness {
            store,
            clock,
            count: None,
        }
    }

    /// How to count the records the store holds (expired ones not yet freed included), so
    /// that the suite can check that expired records are freed and that writes which must
    /// store nothing store nothing. Without it, those cases fail and say so.
    pub fn count_records_with<F, Fut>(mut self, count: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<u64, StoreError>> + Send + 'static,
    {
        self.count = Some(Arc::new(move || Box::pin(count())));
        self
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    async fn records(&self) -> u64 {
        let count = self.count.as_ref().expect(
            "this case needs to count the store's records: give the harness a counter with \
             Harness::count_records_with",
        );
        count().await.expect("counting the records failed")
    }

    fn engine(&self, policy: Policy) -> Revocations {
        let clock: Arc<dyn Clock> = self.clock.clone();
        Revocations::new(Arc::clone(&self.store), policy).with_clock(clock)
    }
}

impl fmt::Debug for Harness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Harness")
            .field("store", &self.store)
            .field("clock", &self.clock)
            .field("counts_records", &self.count.is_some())
            .finish()
    }
}

type Case = fn(Harness) -> BoxFuture<()>;

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        /// The names of every case, in the order [`run`] runs them.
        pub const CASES: &[&str] = &[$(stringify!($name)),*];

        fn case(name: &str) -> Option<Case> {
            match name {
                $(stringify!($name) => Some(|harness| Box::pin($name(harness))),)*
                _ => None,
            }
        }
    };
}

/// The one list of the suite's cases: calls the macro `[$mac]` with `[$args]` followed by every
/// case's name. The suite's [`CASES`] and [`run`] and the tests that
/// [`revocation_store_conformance!`] writes are all made from it, so they cannot disagree.
///
/// [`revocation_store_conformance!`]: crate::revocation_store_conformance
#[doc(hidden)]
#[macro_export]
macro_rules! __with_conformance_cases {
    ([$($mac:tt)*] [$($args:tt)*]) => {
        $($mac)*!(
            $($args)*
            unknown_keys_are_not_listed,
            a_token_record_is_listed_until_removed,
            one_check_answers_token_user_and_session,
            records_read_as_absent_once_expired,
            records_are_never_dropped_before_their_expiry,
            expired_records_are_freed_without_being_read,
            writes_are_idempotent_and_keep_the_later_expiry,
            writing_an_already_expired_record_stores_nothing,
            revoking_an_expired_token_stores_nothing,
            a_cutoff_never_moves_backwards,
            concurrent_cutoff_raises_keep_the_latest,
            an_expired_cutoff_starts_afresh,
            a_cutoff_keeps_the_later_expiry,
            a_raise_that_expires_at_once_still_raises_a_live_cutoff,
            denylist_revokes_one_token,
            user_cutoff_follows_the_same_second_rule,
            session_cutoff_revokes_that_session_only,
            one_check_answers_the_latest_claim_cutoff,
            claim_cutoffs_expire,
            claim_cutoff_revokes_the_tokens_of_that_value_only,
            allowlist_registers_and_destroys,
            issuers_are_isolated,
            a_jti_names_a_token_of_one_user_only,
            a_hundred_thousand_records,
        );
    };
}

__with_conformance_cases!([cases] []);

/// Runs one case by name (one of [`CASES`]) on a new multi-threaded Tokio runtime, with a
/// harness from `new_harness`. This is what [`revocation_store_conformance!`] calls.
///
/// [`revocation_store_conformance!`]: crate::revocation_store_conformance
pub fn run_case<F, Fut>(name: &str, new_harness: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Harness>,
{
    let case = case(name).unwrap_or_else(|| panic!("no conformance case is named {name:?}"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime for the conformance suite");
    runtime.block_on(async move {
        let harness = new_harness().await;
        case(harness).await;
    });
}

/// Runs every case, each with a new harness, on the current (multi-threaded or not) Tokio
/// runtime, and panics naming every case that failed.
pub async fn run<F, Fut>(mut new_harness: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Harness>,
{
    let mut failed = Vec::new();
    for name in CASES {
        let case = case(name).expect("every listed case exists");
        let harness = new_harness().await;
        if tokio::spawn(case(harness)).await.is_err() {
            failed.push(*name);
        }
    }
    assert!(
        failed.is_empty(),
        "the store fails these conformance cases: {failed:?}"
    );
}

/// Writes one `#[test]` per conformance case for a store.
///
/// The argument is a closure that returns a future of a new [`Harness`] holding a new, empty
/// store; see the [module docs](crate::conformance) for an example.
#[macro_export]
macro_rules! revocation_store_conformance {
    ($new_harness:expr $(,)?) => {
        $crate::__with_conformance_cases!([$crate::__conformance_tests] [$new_harness;]);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($new_harness:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::conformance::run_case(stringify!($case), $new_harness);
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------------
// Fixtures

const ISSUER: &str = "https://conformance.jwt-revoke.test";
const OTHER_ISSUER: &str = "https://other-issuer.jwt-revoke.test";
/// How long short-lived records live in the expiry cases, and how far past it the suite waits.
const SHORT: Duration = Duration::from_secs(1);
const PAST_SHORT: Duration = Duration::from_millis(1_300);
const LONG: Duration = Duration::from_secs(600);

fn token_keys(user: &str, jti: &str, sid: Option<&str>) -> TokenKeys {
    TokenKeys::new(
        TokenId::from_jti(ISSUER, user, jti).denylist_key(),
        UserId::new(ISSUER, user).key(),
        sid.map(|sid| SessionId::new(ISSUER, sid).key()),
    )
}

fn user_key(user: &str) -> RecordKey {
    UserId::new(ISSUER, user).key()
}

fn session_key(sid: &str) -> RecordKey {
    SessionId::new(ISSUER, sid).key()
}

/// Cut-off instants far from any clock, so that they are told apart from "now".
fn instant(micros: i64) -> Timestamp {
    Timestamp::from_micros(1_600_000_000_000_000 + micros)
}

async fn listed(harness: &Harness, keys: &TokenKeys) -> bool {
    harness
        .store
        .check(keys)
        .await
        .expect("check succeeds")
        .token_listed
}

async fn user_cutoff(harness: &Harness, user: &str) -> Option<Timestamp> {
    harness
        .store
        .check(&token_keys(user, "probe", None))
        .await
        .expect("check succeeds")
        .user_cutoff
}

async fn insert(harness: &Harness, keys: &TokenKeys, lives: Duration) {
    harness
        .store
        .insert_token(keys, harness.now().saturating_add(lives))
        .await
        .expect("insert succeeds");
}

async fn raise(harness: &Harness, key: RecordKey, at: Timestamp, lives: Duration) -> Timestamp {
    harness
        .store
        .raise_cutoff(key, at, harness.now().saturating_add(lives))
        .await
        .expect("raise succeeds")
}

/// The facts of a token of `ISSUER` issued at `iat` (seconds), living `lives`.
fn facts(
    engine: &Revocations,
    issuer: &str,
    sub: &str,
    jti: &str,
    sid: Option<&str>,
    iat: i64,
    lives: Duration,
) -> TokenFacts {
    let mut claims = RegisteredClaims::new();
    claims.iss = Some(issuer.to_owned());
    claims.sub = Some(sub.to_owned());
    claims.jti = Some(jti.to_owned());
    claims.sid = sid.map(str::to_owned);
    claims.iat = Some(Timestamp::from_secs(iat).into());
    claims.exp = Some(Timestamp::from_secs(iat).saturating_add(lives).into());
    engine
        .inspect(&claims, "")
        .expect("the fixture's claims pass the policy")
}

/// The facts of a token of `ISSUER` issued at the instant `iat` (fractional or not).
fn facts_at(
    engine: &Revocations,
    sub: &str,
    jti: &str,
    iat: Timestamp,
    lives: Duration,
) -> TokenFacts {
    let mut claims = RegisteredClaims::new();
    claims.iss = Some(ISSUER.to_owned());
    claims.sub = Some(sub.to_owned());
    claims.jti = Some(jti.to_owned());
    claims.iat = Some(iat.into());
    claims.exp = Some(iat.saturating_add(lives).into());
    engine
        .inspect(&claims, "")
        .expect("the fixture's claims pass the policy")
}

/// The cut-off key of the value `value` of the claim `claim` at `ISSUER`.
fn claim_key(claim: &str, value: &str) -> RecordKey {
    ClaimId::new(ISSUER, claim, value).key()
}

/// `keys` with the cut-off records of these claim values.
fn with_claims(keys: TokenKeys, claims: &[RecordKey]) -> TokenKeys {
    keys.with_claims(ClaimKeys::new(claims).expect("at most ClaimKeys::MAX"))
}

/// The facts of a token whose verified payload is `payload`, as the engine reads them (the
/// claims a policy gives cut-offs come from the payload).
fn facts_of_payload(engine: &Revocations, payload: &serde_json::Value) -> TokenFacts {
    let text = payload.to_string();
    let claims: RegisteredClaims =
        serde_json::from_str(&text).expect("the fixture's payload has registered claims");
    engine
        .inspect(&claims, &text)
        .expect("the fixture's claims pass the policy")
}

fn policy() -> Policy {
    Policy::new(LONG).with_leeway(Duration::ZERO)
}

async fn verdict(engine: &Revocations, token: &TokenFacts) -> Verdict {
    engine.check(token).await.expect("check succeeds")
}

// ---------------------------------------------------------------------------------------------
// Cases

async fn unknown_keys_are_not_listed(harness: Harness) {
    let reply = harness
        .store
        .check(&token_keys("alice", "t-1", Some("s-1")))
        .await
        .expect("check succeeds");
    assert!(!reply.token_listed, "an unknown token is listed");
    assert_eq!(reply.user_cutoff, None, "an unknown user has a cut-off");
    assert_eq!(
        reply.session_cutoff, None,
        "an unknown session has a cut-off"
    );
}

async fn a_token_record_is_listed_until_removed(harness: Harness) {
    let token = token_keys("alice", "t-1", None);
    let other = token_keys("alice", "t-2", None);
    insert(&harness, &token, LONG).await;
    assert!(
        listed(&harness, &token).await,
        "an inserted record is not listed"
    );
    assert!(!listed(&harness, &other).await, "another token is listed");
    let store = &harness.store;
    assert!(
        store.remove_token(&token).await.expect("remove"),
        "remove found nothing"
    );
    assert!(
        !store.remove_token(&token).await.expect("remove"),
        "removed twice"
    );
    assert!(
        !listed(&harness, &token).await,
        "a removed record is listed"
    );
}

async fn one_check_answers_token_user_and_session(harness: Harness) {
    let token = token_keys("bob", "t-1", Some("s-1"));
    let (user_at, session_at) = (instant(123_456), instant(1_654_321));
    insert(&harness, &token, LONG).await;
    assert_eq!(raise(&harness, token.user, user_at, LONG).await, user_at);
    assert_eq!(
        raise(&harness, session_key("s-1"), session_at, LONG).await,
        session_at
    );

    let reply = harness.store.check(&token).await.expect("check");
    assert!(reply.token_listed);
    assert_eq!(
        reply.user_cutoff,
        Some(user_at),
        "user cut-off, to the microsecond"
    );
    assert_eq!(
        reply.session_cutoff,
        Some(session_at),
        "session cut-off, to the microsecond"
    );

    let without_session = token_keys("bob", "t-1", None);
    let reply = harness.store.check(&without_session).await.expect("check");
    assert_eq!(
        reply.session_cutoff, None,
        "no session key, no session cut-off"
    );
    assert_eq!(reply.user_cutoff, Some(user_at));

    let someone_else = token_keys("carol", "t-9", Some("s-9"));
    let reply = harness.store.check(&someone_else).await.expect("check");
    assert_eq!(
        (reply.token_listed, reply.user_cutoff, reply.session_cutoff),
        (false, None, None)
    );
}

async fn records_read_as_absent_once_expired(harness: Harness) {
    let token = token_keys("alice", "t-1", Some("s-1"));
    insert(&harness, &token, SHORT).await;
    raise(&harness, token.user, instant(1), SHORT).await;
    raise(&harness, session_key("s-1"), instant(2), SHORT).await;
    assert!(listed(&harness, &token).await);

    harness.clock.advance(PAST_SHORT).await;
    let reply = harness.store.check(&token).await.expect("check");
    assert!(!reply.token_listed, "an expired token record is listed");
    assert_eq!(
        reply.user_cutoff, None,
        "an expired user cut-off is reported"
    );
    assert_eq!(
        reply.session_cutoff, None,
        "an expired session cut-off is reported"
    );
}

async fn records_are_never_dropped_before_their_expiry(harness: Harness) {
    let short = token_keys("alice", "short", None);
    let long = token_keys("alice", "long", None);
    insert(&harness, &short, SHORT).await;
    insert(&harness, &long, SHORT * 4).await;
    raise(&harness, user_key("alice"), instant(7), SHORT * 4).await;
    harness.clock.advance(PAST_SHORT).await;
    assert!(!listed(&harness, &short).await, "expired record listed");
    assert!(
        listed(&harness, &long).await,
        "a record went before its expiry"
    );
    assert_eq!(
        user_cutoff(&harness, "alice").await,
        Some(instant(7)),
        "a cut-off went early"
    );
}

async fn expired_records_are_freed_without_being_read(harness: Harness) {
    for n in 0..10 {
        insert(
            &harness,
            &token_keys("alice", &format!("t-{n}"), None),
            SHORT,
        )
        .await;
    }
    raise(&harness, user_key("alice"), instant(1), SHORT).await;
    raise(&harness, session_key("s-1"), instant(1), SHORT).await;
    assert_eq!(harness.records().await, 12, "12 records were written");

    harness.clock.advance(PAST_SHORT).await;
    harness
        .store
        .delete_expired()
        .await
        .expect("delete_expired succeeds");
    // Stores that expire records by themselves may take a moment (Redis's active expiry runs
    // ten times a second): give them a few seconds of real time, never a read of the records.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut remaining = harness.records().await;
    while remaining > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        remaining = harness.records().await;
    }
    assert_eq!(remaining, 0, "expired records were not freed");
}

async fn writes_are_idempotent_and_keep_the_later_expiry(harness: Harness) {
    let token = token_keys("alice", "t-1", None);
    insert(&harness, &token, SHORT * 4).await;
    insert(&harness, &token, SHORT * 4).await;
    // A second write with an earlier expiry must not shorten the record's life.
    insert(&harness, &token, SHORT).await;
    if harness.count.is_some() {
        assert_eq!(
            harness.records().await,
            1,
            "one token written three times is one record"
        );
    }
    harness.clock.advance(PAST_SHORT).await;
    assert!(
        listed(&harness, &token).await,
        "a rewrite shortened the record's life"
    );

    let key = user_key("alice");
    assert_eq!(raise(&harness, key, instant(5), LONG).await, instant(5));
    assert_eq!(
        raise(&harness, key, instant(5), LONG).await,
        instant(5),
        "same raise twice"
    );
}

async fn writing_an_already_expired_record_stores_nothing(harness: Harness) {
    let token = token_keys("alice", "t-1", None);
    let past = harness.now().saturating_sub(Duration::from_secs(1));
    harness
        .store
        .insert_token(&token, past)
        .await
        .expect("writing an expired record succeeds");
    assert!(
        !listed(&harness, &token).await,
        "an expired record is listed"
    );
    assert_eq!(harness.records().await, 0, "an expired record was stored");
}

async fn revoking_an_expired_token_stores_nothing(harness: Harness) {
    let engine = harness.engine(policy());
    let now = harness.now().as_secs_floor();
    let token = facts(&engine, ISSUER, "alice", "t-1", Some("s-1"), now, SHORT);
    harness.clock.advance(PAST_SHORT * 2).await;
    let outcome = engine
        .revoke_token(&token)
        .await
        .expect("revoking succeeds");
    assert_eq!(outcome, TokenRevocation::AlreadyExpired);
    // A cut-off older than the longest token lifetime covers no live token either.
    let long_ago = harness.now().saturating_sub(LONG * 2);
    engine
        .revoke_user_at(token.user(), long_ago)
        .await
        .expect("revoking succeeds");
    assert_eq!(
        harness.records().await,
        0,
        "revoking an expired token stored a record"
    );
}

async fn a_cutoff_never_moves_backwards(harness: Harness) {
    let key = user_key("alice");
    assert_eq!(
        raise(&harness, key, instant(2_000), LONG).await,
        instant(2_000)
    );
    assert_eq!(
        raise(&harness, key, instant(1_000), LONG).await,
        instant(2_000),
        "an earlier cut-off replaced a later one"
    );
    assert_eq!(user_cutoff(&harness, "alice").await, Some(instant(2_000)));
    assert_eq!(
        raise(&harness, key, instant(3_000), LONG).await,
        instant(3_000)
    );
    assert_eq!(user_cutoff(&harness, "alice").await, Some(instant(3_000)));
    // Instants before the epoch and far ahead order the same way.
    let other = user_key("bob");
    raise(&harness, other, Timestamp::from_micros(-5), LONG).await;
    assert_eq!(
        raise(&harness, other, Timestamp::from_micros(-7), LONG).await,
        Timestamp::from_micros(-5)
    );
}

async fn concurrent_cutoff_raises_keep_the_latest(harness: Harness) {
    const WRITERS: i64 = 64;
    const ROUNDS: i64 = 8;
    let key = user_key("alice");
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let harness = harness.clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..ROUNDS {
                // A scrambled order, so that later instants often arrive before earlier ones.
                let n = (writer * 37 + round * 11) % (WRITERS * ROUNDS);
                let at = instant(n * 1_000 + 1);
                let in_force = raise(&harness, key, at, LONG).await;
                assert!(
                    in_force >= at,
                    "a raise answered an earlier cut-off than its own"
                );
            }
        }));
    }
    for task in tasks {
        task.await.expect("a writer failed");
    }
    let latest = (0..WRITERS)
        .flat_map(|writer| {
            (0..ROUNDS).map(move |round| (writer * 37 + round * 11) % (WRITERS * ROUNDS))
        })
        .max()
        .map(|n| instant(n * 1_000 + 1));
    assert_eq!(
        user_cutoff(&harness, "alice").await,
        latest,
        "concurrent writers lost the latest cut-off"
    );
}

async fn an_expired_cutoff_starts_afresh(harness: Harness) {
    let key = user_key("alice");
    raise(&harness, key, instant(9_000), SHORT).await;
    harness.clock.advance(PAST_SHORT).await;
    assert_eq!(
        raise(&harness, key, instant(1_000), LONG).await,
        instant(1_000),
        "an expired cut-off still held its instant"
    );
}

async fn a_cutoff_keeps_the_later_expiry(harness: Harness) {
    let key = user_key("alice");
    raise(&harness, key, instant(1_000), SHORT * 4).await;
    // A later instant with a shorter life keeps the longer life.
    raise(&harness, key, instant(2_000), SHORT).await;
    // An earlier instant with a longer life extends it.
    let session = session_key("s-1");
    raise(&harness, session, instant(1_000), SHORT).await;
    raise(&harness, session, instant(500), SHORT * 4).await;
    harness.clock.advance(PAST_SHORT).await;
    assert_eq!(user_cutoff(&harness, "alice").await, Some(instant(2_000)));
    let reply = harness
        .store
        .check(&token_keys("alice", "probe", Some("s-1")))
        .await
        .expect("check");
    assert_eq!(
        reply.session_cutoff,
        Some(instant(1_000)),
        "a cut-off's life was shortened"
    );
}

async fn a_raise_that_expires_at_once_still_raises_a_live_cutoff(harness: Harness) {
    let key = user_key("alice");
    raise(&harness, key, instant(1_000), LONG).await;
    let past = harness.now().saturating_sub(Duration::from_secs(1));
    let in_force = harness
        .store
        .raise_cutoff(key, instant(2_000), past)
        .await
        .expect("raise succeeds");
    assert_eq!(
        in_force,
        instant(2_000),
        "the answer is not the cut-off in force"
    );
    assert_eq!(
        user_cutoff(&harness, "alice").await,
        Some(instant(2_000)),
        "a live cut-off was not raised"
    );
    // With nothing live, a record that would expire at once is not written.
    let other = user_key("bob");
    harness
        .store
        .raise_cutoff(other, instant(2_000), past)
        .await
        .expect("raise succeeds");
    assert_eq!(
        user_cutoff(&harness, "bob").await,
        None,
        "an expired cut-off was stored"
    );
}

async fn denylist_revokes_one_token(harness: Harness) {
    let engine = harness.engine(policy());
    let now = harness.now().as_secs_floor();
    let token = facts(&engine, ISSUER, "alice", "t-1", None, now, LONG);
    let sibling = facts(&engine, ISSUER, "alice", "t-2", None, now, LONG);
    assert_eq!(verdict(&engine, &token).await, Verdict::Valid);
    let outcome = engine.revoke_token(&token).await.expect("revoke");
    assert!(
        matches!(outcome, TokenRevocation::Recorded { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        verdict(&engine, &token).await,
        Verdict::Revoked(RevocationReason::Token)
    );
    assert_eq!(
        verdict(&engine, &sibling).await,
        Verdict::Valid,
        "another token was revoked"
    );
}

async fn user_cutoff_follows_the_same_second_rule(harness: Harness) {
    let engine = harness.engine(policy());
    let now = harness.now().as_secs_floor();
    let before = facts(&engine, ISSUER, "alice", "t-1", Some("s-1"), now, LONG);
    let bob = facts(&engine, ISSUER, "bob", "t-9", None, now, LONG);
    let cutoff = engine
        .revoke_user(before.user())
        .await
        .expect("revoke user");
    assert_eq!(
        verdict(&engine, &before).await,
        Verdict::Revoked(RevocationReason::User(cutoff)),
        "a token issued before the cut-off passed"
    );
    // Issued later in the cut-off's own second: refused (an integer iat is ambiguous).
    let same_second = facts(
        &engine,
        ISSUER,
        "alice",
        "t-2",
        None,
        cutoff.at().as_secs_floor(),
        LONG,
    );
    assert!(matches!(
        verdict(&engine, &same_second).await,
        Verdict::Revoked(RevocationReason::User(_))
    ));
    // The documented ways to issue after a cut-off, accepted as soon as the clock is within
    // the skew allowance of their `iat`: a fractional `iat` just after the cut-off instant (a
    // moment later), or `iat = first_valid_iat` (at most a second later).
    harness.clock.advance(Duration::from_millis(2)).await;
    let fractional = facts_at(
        &engine,
        "alice",
        "t-3",
        cutoff.at().saturating_add(Duration::from_millis(1)),
        LONG,
    );
    assert_eq!(
        verdict(&engine, &fractional).await,
        Verdict::Valid,
        "a fractional iat after the cut-off is refused"
    );
    let first_valid = Timestamp::from_secs(cutoff.first_valid_iat());
    let acceptable_from = first_valid.saturating_sub(engine.policy().issued_at_skew());
    harness
        .clock
        .advance(acceptable_from.duration_since(harness.now()))
        .await;
    let fresh = facts_at(&engine, "alice", "t-4", first_valid, LONG);
    assert_eq!(
        verdict(&engine, &fresh).await,
        Verdict::Valid,
        "first_valid_iat is refused"
    );
    assert_eq!(
        verdict(&engine, &bob).await,
        Verdict::Valid,
        "another user was revoked"
    );
}

async fn session_cutoff_revokes_that_session_only(harness: Harness) {
    let engine = harness.engine(policy());
    let now = harness.now().as_secs_floor();
    let in_session = facts(&engine, ISSUER, "alice", "t-1", Some("s-1"), now, LONG);
    let other_session = facts(&engine, ISSUER, "alice", "t-2", Some("s-2"), now, LONG);
    let no_session = facts(&engine, ISSUER, "alice", "t-3", None, now, LONG);
    let session = in_session.session().expect("a sid").clone();
    let cutoff = engine
        .revoke_session(&session)
        .await
        .expect("revoke session");
    assert_eq!(
        verdict(&engine, &in_session).await,
        Verdict::Revoked(RevocationReason::Session(cutoff))
    );
    assert_eq!(verdict(&engine, &other_session).await, Verdict::Valid);
    assert_eq!(verdict(&engine, &no_session).await, Verdict::Valid);
}

async fn one_check_answers_the_latest_claim_cutoff(harness: Harness) {
    let (app, tenant, device) = (
        claim_key("azp", "app-1"),
        claim_key("tenant", "t-1"),
        claim_key("device", "d-1"),
    );
    let token = with_claims(
        token_keys("bob", "t-1", Some("s-1")),
        &[app, tenant, device],
    );
    let (app_at, tenant_at, user_at) = (instant(2_000_001), instant(1_000_001), instant(7));
    // The later cut-off written first: the answer is the latest, whatever the order.
    assert_eq!(raise(&harness, tenant, tenant_at, LONG).await, tenant_at);
    assert_eq!(raise(&harness, app, app_at, LONG).await, app_at);
    assert_eq!(raise(&harness, token.user, user_at, LONG).await, user_at);
    insert(&harness, &token, LONG).await;

    let reply = harness.store.check(&token).await.expect("check");
    assert!(reply.token_listed, "the token record, read with the claims");
    assert_eq!(
        reply.user_cutoff,
        Some(user_at),
        "the user's, read with them"
    );
    assert_eq!(reply.session_cutoff, None);
    assert_eq!(
        reply.claim_cutoff,
        Some(app_at),
        "the latest of the claim cut-offs, to the microsecond"
    );
    let only = |claims: &[RecordKey]| with_claims(token_keys("bob", "t-1", None), claims);
    let answer = |keys: TokenKeys| {
        let store = harness.store.clone();
        async move { store.check(&keys).await.expect("check").claim_cutoff }
    };
    assert_eq!(answer(only(&[tenant])).await, Some(tenant_at));
    assert_eq!(answer(only(&[device, tenant])).await, Some(tenant_at));
    assert_eq!(answer(only(&[device])).await, None, "no cut-off, no answer");
    assert_eq!(
        answer(only(&[])).await,
        None,
        "no claim keys, no claim cut-off"
    );
    // A claim value's cut-off is not a user's or a session's, nor another issuer's.
    let reply = harness
        .store
        .check(&token_keys("bob", "t-2", Some("s-1")))
        .await
        .expect("check");
    assert_eq!(reply.claim_cutoff, None);
    let elsewhere = ClaimId::new(OTHER_ISSUER, "azp", "app-1").key();
    assert_eq!(answer(only(&[elsewhere])).await, None);
}

async fn claim_cutoffs_expire(harness: Harness) {
    let (short, long) = (claim_key("azp", "short"), claim_key("azp", "long"));
    let keys = with_claims(token_keys("alice", "t-1", None), &[short, long]);
    let (short_at, long_at) = (instant(20), instant(10));
    raise(&harness, short, short_at, SHORT).await;
    raise(&harness, long, long_at, LONG).await;
    let reply = harness.store.check(&keys).await.expect("check");
    assert_eq!(reply.claim_cutoff, Some(short_at));
    harness.clock.advance(PAST_SHORT).await;
    let reply = harness.store.check(&keys).await.expect("check");
    assert_eq!(
        reply.claim_cutoff,
        Some(long_at),
        "an expired claim cut-off still answered, or the live one lost with it"
    );
}

async fn claim_cutoff_revokes_the_tokens_of_that_value_only(harness: Harness) {
    let engine = harness.engine(
        policy()
            .with_claim_cutoffs(["azp", "tenant"])
            .expect("two claims"),
    );
    let now = harness.now().as_secs_floor();
    let token = |jti: &str, iss: &str, claims: serde_json::Value| {
        let mut payload = serde_json::json!({
            "iss": iss, "sub": "alice", "jti": jti, "iat": now, "exp": now + 600,
        });
        if let (Some(payload), serde_json::Value::Object(claims)) =
            (payload.as_object_mut(), claims)
        {
            payload.extend(claims);
        }
        facts_of_payload(&engine, &payload)
    };
    let app_1 = token(
        "a",
        ISSUER,
        serde_json::json!({"azp": "app-1", "tenant": "t-1"}),
    );
    let app_1_no_tenant = token("b", ISSUER, serde_json::json!({"azp": "app-1"}));
    let app_2 = token(
        "c",
        ISSUER,
        serde_json::json!({"azp": "app-2", "tenant": "t-1"}),
    );
    let no_claims = token("d", ISSUER, serde_json::json!({}));
    let elsewhere = token("e", OTHER_ISSUER, serde_json::json!({"azp": "app-1"}));
    let ignored_claim = token("f", ISSUER, serde_json::json!({"device": "app-1"}));

    let app = app_1.claim("azp").expect("the azp claim is read").clone();
    assert_eq!(app, ClaimId::new(ISSUER, "azp", "app-1"));
    let cutoff = engine.revoke_claim(&app).await.expect("revoke the app");
    let revoked = Verdict::Revoked(RevocationReason::Claim(cutoff));
    assert_eq!(verdict(&engine, &app_1).await, revoked);
    assert_eq!(verdict(&engine, &app_1_no_tenant).await, revoked);
    for other in [&app_2, &no_claims, &elsewhere, &ignored_claim] {
        assert_eq!(verdict(&engine, other).await, Verdict::Valid, "{other:?}");
    }

    // A second claim's cut-off covers the tokens of its value.
    let tenant = ClaimId::new(ISSUER, "tenant", "t-1");
    let tenant_cutoff = engine.revoke_claim(&tenant).await.expect("revoke");
    assert_eq!(
        verdict(&engine, &app_2).await,
        Verdict::Revoked(RevocationReason::Claim(tenant_cutoff))
    );

    // A claim the policy does not read is refused, and nothing is written.
    let device = ClaimId::new(ISSUER, "device", "app-1");
    assert!(matches!(
        engine.revoke_claim(&device).await,
        Err(ClaimRevocationError::NotInPolicy(claim)) if claim == "device"
    ));
    let reply = harness
        .store
        .check(&with_claims(
            token_keys("alice", "x", None),
            &[device.key()],
        ))
        .await
        .expect("check");
    assert_eq!(
        reply.claim_cutoff, None,
        "a refused claim cut-off was written"
    );

    // A token of the app issued after the cut-off (a fractional `iat` just after it) lives.
    harness.clock.advance(Duration::from_millis(5)).await;
    let after = cutoff.at().saturating_add(Duration::from_micros(1));
    let later = facts_of_payload(
        &engine,
        &serde_json::json!({
            "iss": ISSUER, "sub": "alice", "jti": "g", "azp": "app-1", "tenant": "t-2",
            "iat": after.as_micros() as f64 / 1e6, "exp": now + 600,
        }),
    );
    assert_eq!(verdict(&engine, &later).await, Verdict::Valid);
}

async fn allowlist_registers_and_destroys(harness: Harness) {
    let engine = harness.engine(policy().with_mode(ListMode::Allowlist));
    let now = harness.now().as_secs_floor();
    let token = facts(&engine, ISSUER, "alice", "t-1", None, now, LONG);
    let short = facts(&engine, ISSUER, "alice", "t-2", None, now, SHORT * 2);
    assert_eq!(
        verdict(&engine, &token).await,
        Verdict::Revoked(RevocationReason::NotRegistered),
        "an unregistered token passed in allowlist mode"
    );
    engine.register_token(&token).await.expect("register");
    engine.register_token(&short).await.expect("register");
    assert_eq!(verdict(&engine, &token).await, Verdict::Valid);
    let outcome = engine.revoke_token(&token).await.expect("revoke");
    assert_eq!(
        outcome,
        TokenRevocation::Unregistered {
            was_registered: true
        }
    );
    assert_eq!(
        verdict(&engine, &token).await,
        Verdict::Revoked(RevocationReason::NotRegistered)
    );
    let again = engine.revoke_token(&token).await.expect("revoke again");
    assert_eq!(
        again,
        TokenRevocation::Unregistered {
            was_registered: false
        }
    );
    // A registration lives as long as its token, then goes.
    harness
        .clock
        .advance(SHORT * 2 + Duration::from_millis(300))
        .await;
    assert!(
        !listed(&harness, short.keys()).await,
        "a registration outlived its token"
    );
}

async fn issuers_are_isolated(harness: Harness) {
    let engine = harness.engine(policy());
    let now = harness.now().as_secs_floor();
    let ours = facts(&engine, ISSUER, "alice", "t-1", Some("s-1"), now, LONG);
    let theirs = facts(
        &engine,
        OTHER_ISSUER,
        "alice",
        "t-1",
        Some("s-1"),
        now,
        LONG,
    );
    engine.revoke_token(&ours).await.expect("revoke token");
    engine.revoke_user(ours.user()).await.expect("revoke user");
    engine
        .revoke_session(ours.session().expect("a sid"))
        .await
        .expect("revoke session");
    assert!(matches!(verdict(&engine, &ours).await, Verdict::Revoked(_)));
    assert_eq!(
        verdict(&engine, &theirs).await,
        Verdict::Valid,
        "the same jti, sub and sid of another issuer were revoked"
    );
}

async fn a_jti_names_a_token_of_one_user_only(harness: Harness) {
    // An issuer that reuses a `jti` across users: a token is (iss, sub, jti) in every store.
    let engine = harness.engine(policy());
    let now = harness.now().as_secs_floor();
    let alices = facts(&engine, ISSUER, "alice", "shared-jti", None, now, LONG);
    let bobs = facts(&engine, ISSUER, "bob", "shared-jti", None, now, LONG);
    engine.revoke_token(&alices).await.expect("revoke");
    assert_eq!(
        verdict(&engine, &alices).await,
        Verdict::Revoked(RevocationReason::Token)
    );
    assert_eq!(
        verdict(&engine, &bobs).await,
        Verdict::Valid,
        "another user's token with the same jti was revoked"
    );
    let allowlist = harness.engine(policy().with_mode(ListMode::Allowlist));
    let alices = facts(&allowlist, ISSUER, "alice", "shared-jti", None, now, LONG);
    let bobs = facts(&allowlist, ISSUER, "bob", "shared-jti", None, now, LONG);
    allowlist.register_token(&alices).await.expect("register");
    assert_eq!(verdict(&allowlist, &alices).await, Verdict::Valid);
    assert_eq!(
        verdict(&allowlist, &bobs).await,
        Verdict::Revoked(RevocationReason::NotRegistered),
        "another user's token with the same jti was registered"
    );
}

async fn a_hundred_thousand_records(harness: Harness) {
    const TOKENS: usize = 100_000;
    const CUTOFFS: usize = 1_000;
    const TASKS: usize = 50;
    let mut writers = Vec::new();
    for task in 0..TASKS {
        let harness = harness.clone();
        writers.push(tokio::spawn(async move {
            for n in (task..TOKENS).step_by(TASKS) {
                insert(&harness, &token_keys("bulk", &format!("t-{n}"), None), LONG).await;
            }
            for n in (task..CUTOFFS).step_by(TASKS) {
                raise(
                    &harness,
                    user_key(&format!("user-{n}")),
                    instant(n as i64),
                    LONG,
                )
                .await;
            }
        }));
    }
    for writer in writers {
        writer.await.expect("a writer failed");
    }
    let mut readers = Vec::new();
    for task in 0..TASKS {
        let harness = harness.clone();
        readers.push(tokio::spawn(async move {
            for n in (task..TOKENS).step_by(TASKS) {
                let keys = token_keys("bulk", &format!("t-{n}"), None);
                assert!(
                    listed(&harness, &keys).await,
                    "record {n} of 100k is missing"
                );
                let unknown = token_keys("bulk", &format!("unknown-{n}"), None);
                if n % 100 == 0 {
                    assert!(
                        !listed(&harness, &unknown).await,
                        "an unknown token is listed"
                    );
                }
            }
            for n in (task..CUTOFFS).step_by(TASKS) {
                let cutoff = user_cutoff(&harness, &format!("user-{n}")).await;
                assert_eq!(cutoff, Some(instant(n as i64)), "cut-off {n} is wrong");
            }
        }));
    }
    for reader in readers {
        reader.await.expect("a reader failed");
    }
    if harness.count.is_some() {
        assert_eq!(harness.records().await, (TOKENS + CUTOFFS) as u64);
    }
}
