//! A reference model of revocation, and model-based tests that hold any store to it.
//!
//! The model is the semantics of DESIGN §2–§4 written as plainly as possible: a clock, a map
//! of token records, a map of cut-offs, the instant the store lost its data. Generated
//! sequences of operations (issue a token, check it, revoke it, revoke its user, session or
//! client app (a claim cut-off on `azp`),
//! register it, let time pass, restart or disconnect the store) run against the model and
//! against the real engine over a store, and every answer is compared. On a mismatch proptest
//! shrinks the sequence to a minimal one and prints it, operation by operation.
//!
//! Besides agreeing with the model, every run checks two promises on its own:
//! - a token that was accepted and then refused as revoked is never accepted again while the
//!   store keeps its data (and after a loss the store-wide cut-off refuses it too);
//! - a cut-off in force never moves backwards.
//!
//! A store with a [`ManualClock`] of its own (the memory store) is compared exactly, and its
//! records must all be freed once every retention has passed. A store that expires records by
//! its own clock (Redis: TTLs in real time while the test's clock jumps) may keep a record
//! longer than the model's clock says; for such a store ([`ModelSubject::keeps_records_longer`])
//! an answer that only such a record explains is accepted too.
//!
//! ```
//! use std::sync::Arc;
//! use jwt_revoke_core::conformance::model::{ModelRun, ModelSubject};
//! # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/reference_store.rs"));
//!
//! // In a `#[test]` (not an async one: each sequence gets a runtime of its own).
//! # fn main() {
//! ModelRun::new(32).check(|clock| async move {
//!     // `ReferenceStore` stands for your store, reading the clock it is given.
//!     let store = Arc::new(ReferenceStore::new(Arc::new(clock)));
//!     let counted = store.clone();
//!     ModelSubject::new(store).count_records_with(move || {
//!         let store = counted.clone();
//!         async move { Ok(store.len() as u64) }
//!     })
//! });
//! # }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::claims::RegisteredClaims;
use crate::key::{ClaimId, SessionId, UserId};
use crate::policy::{ListMode, Policy};
use crate::revocations::Revocations;
use crate::store::{RevocationStore, StoreError};
use crate::time::{Clock, ManualClock, Timestamp};
use crate::verdict::{ClaimRevocationError, TokenRevocation, Verdict};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type RecordCounter = Arc<dyn Fn() -> BoxFuture<Result<u64, StoreError>> + Send + Sync>;

const ISSUER: &str = "https://model.jwt-revoke.test";
const START: i64 = 1_700_000_000;
/// The policy of every run: tokens live at most 10 minutes, 5 s leeway, 2 s `iat` skew.
const LONGEST: Duration = Duration::from_secs(600);
const LEEWAY: Duration = Duration::from_secs(5);
const SKEW: Duration = Duration::from_secs(2);

fn policy(allowlist: bool) -> Policy {
    let policy = Policy::new(LONGEST)
        .with_leeway(LEEWAY)
        .with_issued_at_skew(SKEW)
        .with_claim_cutoffs(["azp"])
        .expect("one claim");
    if allowlist {
        policy.with_mode(ListMode::Allowlist)
    } else {
        policy
    }
}

// ---------------------------------------------------------------------------------------------
// The model

/// A token as the model knows it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ModelToken {
    sub: &'static str,
    jti: Option<String>,
    sid: Option<&'static str>,
    /// The client app (`azp`), whose cut-offs the policy reads.
    azp: Option<&'static str>,
    iat: Option<Timestamp>,
    exp: Timestamp,
    /// The payload text: the identity of a token without `jti`.
    payload: String,
}

impl ModelToken {
    fn identity(&self) -> (&'static str, String) {
        match &self.jti {
            Some(jti) => (self.sub, format!("jti {jti}")),
            None => (self.sub, format!("payload {}", self.payload)),
        }
    }
}

/// What a check answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    /// The policy refuses the token (expired, not yet valid, issued in the future, ...).
    Invalid,
    /// The store's records refuse it.
    Revoked,
    Valid,
}

/// The semantics, in a few maps and a clock.
#[derive(Debug, Default)]
struct Model {
    now: Timestamp,
    allowlist: bool,
    /// Token records (denied or registered) and when they may go.
    tokens: BTreeMap<(&'static str, String), Timestamp>,
    /// User and session cut-offs: (kind, name) → (instant, when it may go).
    cutoffs: BTreeMap<(&'static str, &'static str), (Timestamp, Timestamp)>,
    /// When the store noticed it had lost its data, if it did.
    lost_at: Option<Timestamp>,
}

impl Model {
    /// Whether a record that may go at `until` still counts; `longer`: also one the store may
    /// keep past it.
    fn live(&self, until: Timestamp, longer: bool) -> bool {
        longer || until > self.now
    }

    fn check(&self, token: &ModelToken, longer: bool) -> Answer {
        let now = self.now;
        // The policy: expiry with leeway, iat at most the skew ahead, lifetimes.
        if token.exp.saturating_add(LEEWAY) <= now {
            return Answer::Invalid;
        }
        match token.iat {
            Some(iat) if iat > now.saturating_add(SKEW) => return Answer::Invalid,
            Some(iat) if token.exp < iat || token.exp.duration_since(iat) > LONGEST => {
                return Answer::Invalid;
            }
            Some(_) => {}
            None if token.exp > now.saturating_add(SKEW).saturating_add(LONGEST) => {
                return Answer::Invalid;
            }
            None => {}
        }
        // The records.
        let record = self
            .tokens
            .get(&token.identity())
            .is_some_and(|until| self.live(*until, longer));
        if record != self.allowlist {
            return Answer::Revoked;
        }
        let covered_by = |at: Timestamp| token.iat.is_none_or(|iat| iat <= at);
        let mut cutoffs = vec![("user", token.sub)];
        cutoffs.extend(token.sid.map(|sid| ("session", sid)));
        cutoffs.extend(token.azp.map(|azp| ("azp", azp)));
        for key in cutoffs {
            if let Some((at, until)) = self.cutoffs.get(&key)
                && self.live(*until, longer)
                && covered_by(*at)
            {
                return Answer::Revoked;
            }
        }
        if let Some(lost) = self.lost_at {
            let at = lost.saturating_add(SKEW);
            let live = now < at.saturating_add(LONGEST).saturating_add(LEEWAY);
            if covered_by(at) && (token.iat.is_some() || live) {
                return Answer::Revoked;
            }
        }
        Answer::Valid
    }

    /// Revokes (denylist) or unregisters (allowlist) a token; whether a live registration was
    /// there (allowlist), or the instant its record lives until (denylist, `None`: expired).
    fn revoke_token(&mut self, token: &ModelToken, longer: bool) -> RevokeAnswer {
        let until = token.exp.saturating_add(LEEWAY);
        if until <= self.now {
            // An expired token needs nothing: no record, no unregistering.
            return RevokeAnswer::AlreadyExpired;
        }
        if self.allowlist {
            let was = self
                .tokens
                .remove(&token.identity())
                .is_some_and(|until| self.live(until, longer));
            return RevokeAnswer::Unregistered(was);
        }
        let record = self.tokens.entry(token.identity()).or_insert(until);
        *record = (*record).max(until);
        RevokeAnswer::Recorded(until)
    }

    fn register(&mut self, token: &ModelToken) {
        let until = token.exp.saturating_add(LEEWAY);
        if self.allowlist && until > self.now {
            let record = self.tokens.entry(token.identity()).or_insert(until);
            *record = (*record).max(until);
        }
    }

    /// A cut-off of everything issued up to now (and the skew ahead); the one in force.
    fn cut(&mut self, key: (&'static str, &'static str), longer: bool) -> Timestamp {
        let at = self.now.saturating_add(SKEW);
        let until = at.saturating_add(LONGEST).saturating_add(LEEWAY);
        let now = self.now;
        let record = self.cutoffs.entry(key).or_insert((at, until));
        if longer || record.1 > now {
            *record = (record.0.max(at), record.1.max(until));
        } else {
            *record = (at, until);
        }
        record.0
    }

    /// The store lost every record; it notices at once (at the next call).
    fn lose_data(&mut self) {
        self.tokens.clear();
        self.cutoffs.clear();
        self.lost_at = Some(self.lost_at.map_or(self.now, |lost| lost.max(self.now)));
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RevokeAnswer {
    Recorded(Timestamp),
    AlreadyExpired,
    Unregistered(bool),
}

// ---------------------------------------------------------------------------------------------
// Operations

/// How a token's `iat` is written, relative to the clock when it is issued.
#[derive(Clone, Copy, Debug)]
pub enum IssuedAt {
    /// No `iat` claim.
    Absent,
    /// The current second (an integer, rounded down).
    ThisSecond,
    /// The current instant, fractional.
    Now,
    /// This many milliseconds ahead of the clock (within the 2 s skew, or just past it).
    AheadMillis(u16),
    /// This many seconds behind the clock.
    BehindSecs(u16),
}

/// One step of a generated sequence.
#[derive(Clone, Debug)]
pub enum Op {
    /// Issue a token of `user`, with a `jti` (`None`: identified by its payload), in
    /// session `sid`, living `lives_secs` from its `iat` (or from now without one).
    Issue {
        /// `alice` or `bob`.
        user: u8,
        /// A small number: equal numbers are equal `jti`s.
        jti: Option<u8>,
        /// `s1` or `s2`, or none.
        sid: Option<u8>,
        /// The client app (`azp`): `app1` or `app2`, or none.
        app: Option<u8>,
        /// How `iat` is written.
        iat: IssuedAt,
        /// The lifetime.
        lives_secs: u16,
    },
    /// Check the `n`-th most recent token (0: the last issued; modulo their number).
    Check(usize),
    /// Revoke the `n`-th most recent token (denylist) or unregister it (allowlist).
    RevokeToken(usize),
    /// Register the `n`-th most recent token (allowlist; nothing in denylist mode).
    Register(usize),
    /// Revoke every token of `alice` or `bob` issued up to now.
    RevokeUser(u8),
    /// End session `s1` or `s2`.
    RevokeSession(u8),
    /// Revoke every token of client app `app1` or `app2` issued up to now (a claim cut-off).
    RevokeApp(u8),
    /// Let time pass.
    AdvanceMillis(u32),
    /// Restart the store's server, keeping its data or losing it.
    Restart {
        /// Whether the server keeps what it acknowledged.
        persistent: bool,
    },
    /// Cut a local replica off from its server.
    DisconnectReplica,
}

const USERS: [&str; 2] = ["alice", "bob"];
const SESSIONS: [&str; 2] = ["s1", "s2"];
const APPS: [&str; 2] = ["app1", "app2"];

fn op(faults: bool) -> BoxedStrategy<Op> {
    let issue = (
        0u8..2,
        prop::option::weighted(0.6, 0u8..4),
        prop::option::weighted(0.6, 0u8..2),
        prop::option::weighted(0.5, 0u8..2),
        prop_oneof![
            Just(IssuedAt::Absent),
            Just(IssuedAt::ThisSecond),
            Just(IssuedAt::Now),
            (0u16..2_500).prop_map(IssuedAt::AheadMillis),
            // The edges of the skew allowance and of the same second.
            prop::sample::select(vec![1u16, 999, 1_000, 1_999, 2_000, 2_001])
                .prop_map(IssuedAt::AheadMillis),
            (0u16..900).prop_map(IssuedAt::BehindSecs),
        ],
        prop::sample::select(vec![1u16, 3, 60, 300, 600]),
    )
        .prop_map(|(user, jti, sid, app, iat, lives_secs)| Op::Issue {
            user,
            jti,
            sid,
            app,
            iat,
            lives_secs,
        });
    let advance = prop_oneof![
        1u32..1_000,
        (1u32..10).prop_map(|secs| secs * 1_000),
        (55u32..70).prop_map(|secs| secs * 1_000),
        (590u32..620).prop_map(|secs| secs * 1_000),
    ]
    .prop_map(Op::AdvanceMillis);
    let common = prop_oneof![
        3 => issue,
        4 => (0usize..4).prop_map(Op::Check),
        2 => (0usize..4).prop_map(Op::RevokeToken),
        1 => (0usize..4).prop_map(Op::Register),
        1 => (0u8..2).prop_map(Op::RevokeUser),
        1 => (0u8..2).prop_map(Op::RevokeSession),
        1 => (0u8..2).prop_map(Op::RevokeApp),
        2 => advance,
    ];
    if faults {
        prop_oneof![
            12 => common,
            1 => any::<bool>().prop_map(|persistent| Op::Restart { persistent }),
            1 => Just(Op::DisconnectReplica),
        ]
        .boxed()
    } else {
        common.boxed()
    }
}

// ---------------------------------------------------------------------------------------------
// The store under test

/// Faults a store's test harness can inject (a Redis server restarted, a replica cut off).
#[async_trait]
pub trait Faults: Send + Sync {
    /// Restarts the store's server; `persistent`: it comes back with what it acknowledged,
    /// otherwise empty. Returns once the store has noticed the loss of an empty restart (the
    /// model says it notices at its next call, at the clock's current instant).
    async fn restart(&self, persistent: bool);
    /// Cuts the store's local replica off from its server (it resynchronises by itself).
    async fn disconnect_replica(&self);
}

/// A store for one generated sequence: a new, empty store reading the clock it was given.
pub struct ModelSubject {
    store: Arc<dyn RevocationStore>,
    count: Option<RecordCounter>,
    faults: Option<Arc<dyn Faults>>,
    keeps_records_longer: bool,
}

impl ModelSubject {
    /// A new, empty `store` that reads the clock it was given (so that its records expire by
    /// the model's time).
    pub fn new(store: Arc<dyn RevocationStore>) -> Self {
        ModelSubject {
            store,
            count: None,
            faults: None,
            keeps_records_longer: false,
        }
    }

    /// How to count the store's records: once every retention has passed and
    /// [`delete_expired`](RevocationStore::delete_expired) ran, they must be none.
    pub fn count_records_with<F, Fut>(mut self, count: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<u64, StoreError>> + Send + 'static,
    {
        self.count = Some(Arc::new(move || Box::pin(count())));
        self
    }

    /// The faults the sequences may inject (restarts, replica disconnects).
    pub fn with_faults(mut self, faults: Arc<dyn Faults>) -> Self {
        self.faults = Some(faults);
        self
    }

    /// The store expires records by a clock of its own (Redis TTLs in real time), so it may
    /// report a record past the instant the test's clock says it expired.
    pub fn keeps_records_longer(mut self) -> Self {
        self.keeps_records_longer = true;
        self
    }
}

impl fmt::Debug for ModelSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelSubject")
            .field("store", &self.store)
            .field("faults", &self.faults.is_some())
            .field("keeps_records_longer", &self.keeps_records_longer)
            .finish_non_exhaustive()
    }
}

/// Runs generated sequences against the model and a store.
#[derive(Debug, Clone)]
pub struct ModelRun {
    cases: u32,
    max_ops: usize,
    faults: bool,
}

impl ModelRun {
    /// `cases` sequences (the environment's `MODEL_CASES` overrides it), each of up to 40
    /// operations.
    pub fn new(cases: u32) -> Self {
        let cases = std::env::var("MODEL_CASES")
            .ok()
            .and_then(|cases| cases.parse().ok())
            .unwrap_or(cases);
        ModelRun {
            cases,
            max_ops: 40,
            faults: false,
        }
    }

    /// Also generate faults (restarts, replica disconnects): every subject must then come
    /// with [`ModelSubject::with_faults`].
    pub fn with_faults(mut self) -> Self {
        self.faults = true;
        self
    }

    /// Checks `cases` sequences, each against a new store from `new_subject`, which is
    /// handed the clock the store must read and called on the runtime the sequence runs on.
    /// Panics with the shrunk, minimal failing sequence.
    pub fn check<F, Fut>(&self, new_subject: F)
    where
        F: Fn(ManualClock) -> Fut,
        Fut: Future<Output = ModelSubject>,
    {
        let mut runner = TestRunner::new(Config {
            cases: self.cases,
            failure_persistence: None,
            ..Config::default()
        });
        // A third of the sequences run in allowlist mode.
        let strategy = (
            prop::bool::weighted(0.3),
            prop::collection::vec(op(self.faults), 1..=self.max_ops),
        );
        let outcome = runner.run(&strategy, |(allowlist, ops)| {
            self.run_one(&new_subject, allowlist, &ops)
        });
        if let Err(failure) = outcome {
            panic!("the store disagrees with the reference model: {failure}");
        }
    }

    /// Runs one given sequence (a minimal one a failure printed, kept as a regular test)
    /// against a new store from `new_subject`; panics where the store and the model disagree.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use jwt_revoke_core::conformance::model::{IssuedAt, ModelRun, ModelSubject, Op};
    /// # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/reference_store.rs"));
    /// # fn main() {
    /// let token = Op::Issue { user: 0, jti: Some(1), sid: None, app: None, iat: IssuedAt::Now, lives_secs: 60 };
    /// let ops = [token, Op::Check(0), Op::RevokeToken(0), Op::Check(0)];
    /// ModelRun::new(1).replay(false, &ops, |clock| async move {
    ///     ModelSubject::new(Arc::new(ReferenceStore::new(Arc::new(clock))))
    /// });
    /// # }
    /// ```
    pub fn replay<F, Fut>(&self, allowlist: bool, ops: &[Op], new_subject: F)
    where
        F: Fn(ManualClock) -> Fut,
        Fut: Future<Output = ModelSubject>,
    {
        if let Err(failure) = self.run_one(&new_subject, allowlist, ops) {
            panic!("the store disagrees with the reference model: {failure}");
        }
    }

    fn run_one<F, Fut>(
        &self,
        new_subject: &F,
        allowlist: bool,
        ops: &[Op],
    ) -> Result<(), TestCaseError>
    where
        F: Fn(ManualClock) -> Fut,
        Fut: Future<Output = ModelSubject>,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a Tokio runtime");
        runtime.block_on(async {
            let clock = ManualClock::new(Timestamp::from_secs(START));
            let subject = new_subject(clock.clone()).await;
            if self.faults && subject.faults.is_none() {
                return Err(TestCaseError::fail(
                    "ModelRun::with_faults needs a subject with faults",
                ));
            }
            run_sequence(subject, clock, allowlist, ops).await
        })
    }
}

/// One token issued by a sequence: the model's view and the claims the engine is given.
struct Issued {
    model: ModelToken,
    claims: RegisteredClaims,
}

async fn run_sequence(
    subject: ModelSubject,
    clock: ManualClock,
    allowlist: bool,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let engine = Revocations::new(Arc::clone(&subject.store), policy(allowlist))
        .with_clock(Arc::new(clock.clone()));
    let longer = subject.keeps_records_longer;
    let mut model = Model {
        now: clock.now(),
        allowlist,
        ..Model::default()
    };
    let mut issued: Vec<Issued> = Vec::new();
    // Tokens accepted and then refused as revoked: never accepted again.
    let mut revoked_after_accepted: Vec<usize> = Vec::new();
    let mut accepted: Vec<bool> = Vec::new();
    let mut in_force: BTreeMap<(&'static str, &'static str), Timestamp> = BTreeMap::new();
    let mut jti_counter = 0u32;

    for (step, op) in ops.iter().enumerate() {
        let at = |what: &str| format!("step {step} ({op:?}): {what}");
        match op {
            Op::Issue {
                user,
                jti,
                sid,
                app,
                iat,
                lives_secs,
            } => {
                let now = clock.now();
                let iat = match iat {
                    IssuedAt::Absent => None,
                    IssuedAt::ThisSecond => Some(Timestamp::from_secs(now.as_secs_floor())),
                    IssuedAt::Now => Some(now),
                    IssuedAt::AheadMillis(ms) => {
                        Some(now.saturating_add(Duration::from_millis(u64::from(*ms))))
                    }
                    IssuedAt::BehindSecs(secs) => {
                        Some(now.saturating_sub(Duration::from_secs(u64::from(*secs))))
                    }
                };
                let lives = Duration::from_secs(u64::from(*lives_secs));
                let exp = iat.unwrap_or(now).saturating_add(lives);
                jti_counter += 1;
                let token = ModelToken {
                    sub: USERS[usize::from(*user) % 2],
                    jti: jti.map(|jti| format!("j{jti}")),
                    sid: sid.map(|sid| SESSIONS[usize::from(sid) % 2]),
                    azp: app.map(|app| APPS[usize::from(app) % 2]),
                    iat,
                    exp,
                    payload: String::new(),
                };
                let mut claims = RegisteredClaims::new();
                claims.iss = Some(ISSUER.to_owned());
                claims.sub = Some(token.sub.to_owned());
                claims.jti = token.jti.clone();
                claims.sid = token.sid.map(str::to_owned);
                claims.iat = token.iat.map(Into::into);
                claims.exp = Some(token.exp.into());
                // Tokens without jti differ by their payload: a nonce keeps two issued at
                // once distinct, as real payloads usually are. The payload is JSON the engine
                // reads the client app (`azp`) from.
                let mut payload = serde_json::to_value(&claims).expect("claims serialize");
                if let Some(fields) = payload.as_object_mut() {
                    fields.insert("nonce".to_owned(), jti_counter.into());
                    if let Some(azp) = token.azp {
                        fields.insert("azp".to_owned(), azp.into());
                    }
                }
                let payload = payload.to_string();
                issued.push(Issued {
                    model: ModelToken { payload, ..token },
                    claims,
                });
                accepted.push(false);
            }
            Op::Check(_) | Op::RevokeToken(_) | Op::Register(_) if issued.is_empty() => {}
            Op::Check(n) => {
                let index = recent(issued.len(), *n);
                let token = &issued[index];
                let got = check(&engine, token).await;
                let strict = model.check(&token.model, false);
                let lenient = model.check(&token.model, longer);
                prop_assert!(
                    got == strict || got == lenient,
                    "{}",
                    at(&format!(
                        "the store answered {got:?}, the model {strict:?} (now {:?}, token {:?})",
                        clock.now(),
                        token.model
                    ))
                );
                if got == Answer::Valid {
                    prop_assert!(
                        !revoked_after_accepted.contains(&index),
                        "{}",
                        at("a token accepted, then refused as revoked, was accepted again")
                    );
                    accepted[index] = true;
                }
                // Refused for good, unless the record may be a sibling's: a token of the same
                // identity (`iss`, `sub`, `jti`) with an earlier `exp`, revoked, leaves a record
                // that lives to that `exp` only (DESIGN §3), after which this one is valid again,
                // as the model says too. Two tokens of one `jti` are the issuer breaking
                // RFC 7519 §4.1.7; the never-again rule holds for each token's own revocation.
                let identity = token.model.identity();
                let reissued = issued.iter().any(|other| {
                    other.model.identity() == identity && other.claims.exp < token.claims.exp
                });
                if got == Answer::Revoked && accepted[index] && !reissued {
                    revoked_after_accepted.push(index);
                }
            }
            Op::RevokeToken(n) => {
                let token = &issued[recent(issued.len(), *n)];
                let got = revoke_token(&engine, token).await;
                let strict = model.revoke_token(&token.model.clone(), false);
                let ok = got == Some(strict)
                    || (longer
                        && matches!(
                            (got, strict),
                            (
                                Some(RevokeAnswer::Unregistered(_)),
                                RevokeAnswer::Unregistered(_)
                            )
                        ));
                // The engine refuses to revoke (nothing to record) exactly what the model
                // says needs no record.
                let nothing = got.is_none() && strict == RevokeAnswer::AlreadyExpired;
                prop_assert!(
                    ok || nothing,
                    "{}",
                    at(&format!("the store answered {got:?}, the model {strict:?}"))
                );
            }
            Op::Register(n) => {
                let index = recent(issued.len(), *n);
                let token = &issued[index];
                register(&engine, token).await;
                model.register(&token.model);
                // A registered token is valid again in allowlist mode: that is the point (and
                // so is every token with its identity).
                let identity = issued[index].model.identity();
                revoked_after_accepted
                    .retain(|revoked| issued[*revoked].model.identity() != identity);
            }
            Op::RevokeUser(_) | Op::RevokeSession(_) | Op::RevokeApp(_) => {
                let (key, got) = match op {
                    Op::RevokeUser(user) => {
                        let user = USERS[usize::from(*user) % 2];
                        let id = UserId::new(ISSUER, user);
                        (("user", user), retry(|| engine.revoke_user(&id)).await)
                    }
                    Op::RevokeSession(sid) => {
                        let sid = SESSIONS[usize::from(*sid) % 2];
                        let id = SessionId::new(ISSUER, sid);
                        (("session", sid), retry(|| engine.revoke_session(&id)).await)
                    }
                    Op::RevokeApp(app) => {
                        let app = APPS[usize::from(*app) % 2];
                        let id = ClaimId::new(ISSUER, "azp", app);
                        let cut = retry(|| async {
                            engine.revoke_claim(&id).await.map_err(|err| match err {
                                ClaimRevocationError::Store(err) => err,
                                other => panic!("the policy names azp: {other}"),
                            })
                        });
                        (("azp", app), cut.await)
                    }
                    _ => unreachable!("the arm matches these three operations only"),
                };
                let want = model.cut(key, longer);
                prop_assert_eq!(got.at(), want, "{}", at("the cut-off in force"));
                let previous = in_force.insert(key, got.at());
                prop_assert!(
                    previous.is_none_or(|previous| previous <= got.at()),
                    "{}",
                    at("a cut-off moved backwards")
                );
            }
            Op::AdvanceMillis(millis) => {
                clock.advance(Duration::from_millis(u64::from(*millis)));
                model.now = clock.now();
                // A cut-off that expired may start afresh below its old instant.
                in_force.retain(|key, _| {
                    model
                        .cutoffs
                        .get(key)
                        .is_some_and(|(_, until)| longer || *until > model.now)
                });
            }
            Op::Restart { persistent } => {
                let Some(faults) = &subject.faults else {
                    continue;
                };
                faults.restart(*persistent).await;
                if !persistent {
                    // The store notices at its next call, at the clock's current instant:
                    // make that call now, as any request would.
                    model.lose_data();
                    in_force.clear();
                    revoked_after_accepted.clear();
                    let probe = UserId::new(ISSUER, "probe");
                    let keys = crate::store::TokenKeys::new(probe.key(), probe.key(), None);
                    retry(|| subject.store.check(&keys)).await;
                }
            }
            Op::DisconnectReplica => {
                if let Some(faults) = &subject.faults {
                    faults.disconnect_replica().await;
                }
            }
        }
    }

    // Nothing outlives its retention: past every expiry, the records go.
    if let Some(count) = &subject.count {
        clock.advance(LONGEST * 2 + LEEWAY + SKEW + Duration::from_secs(1));
        subject
            .store
            .delete_expired()
            .await
            .map_err(|err| TestCaseError::fail(format!("delete_expired failed: {err}")))?;
        let left = count()
            .await
            .map_err(|err| TestCaseError::fail(format!("counting records failed: {err}")))?;
        prop_assert_eq!(left, 0, "records outlived their retention");
    }
    Ok(())
}

/// The index of the `n`-th most recent of `len` tokens.
fn recent(len: usize, n: usize) -> usize {
    len - 1 - n % len
}

/// Retries a store call until the store answers (a restarting server is unavailable for a
/// moment); only unavailability is retried, for at most ten seconds.
async fn retry<T, F, Fut>(mut call: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match call().await {
            Ok(value) => return value,
            Err(err) if err.is_unavailable() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(err) => panic!("the store failed: {err}"),
        }
    }
}

async fn check(engine: &Revocations, token: &Issued) -> Answer {
    let Ok(facts) = engine.inspect(&token.claims, &token.model.payload) else {
        return Answer::Invalid;
    };
    match retry(|| engine.check(&facts)).await {
        Verdict::Valid => Answer::Valid,
        Verdict::Revoked(_) => Answer::Revoked,
    }
}

/// `None` when the engine finds nothing to record (an expired token).
async fn revoke_token(engine: &Revocations, token: &Issued) -> Option<RevokeAnswer> {
    let facts = engine
        .inspect_for_revocation(&token.claims, &token.model.payload)
        .ok()?;
    Some(match retry(|| engine.revoke_token(&facts)).await {
        TokenRevocation::Recorded { until } => RevokeAnswer::Recorded(until),
        TokenRevocation::AlreadyExpired => RevokeAnswer::AlreadyExpired,
        TokenRevocation::Unregistered { was_registered } => {
            RevokeAnswer::Unregistered(was_registered)
        }
    })
}

async fn register(engine: &Revocations, token: &Issued) {
    if let Ok(facts) = engine.inspect_for_revocation(&token.claims, &token.model.payload) {
        retry(|| engine.register_token(&facts)).await;
    }
}
