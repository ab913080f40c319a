//! Coalescing concurrent checks into one pipeline, so that many checks cost one write to Redis.
//!
//! redis-rs's multiplexed connection writes each command as soon as its driver task sees it.
//! On Tokio that is at once: the task that sends a command wakes the driver into the
//! scheduler's next slot, so under load every check was its own `writev` (measured with
//! `strace` in the load bench: one write per request, reads already batched about 12 to one).
//! A system call per request costs more than the check itself.
//!
//! Here a check queues its keys and waits. The batcher task, woken by the first check that
//! finds the queue empty, yields once, so that every other request ready to run queues its
//! check too, then reads the keys of all queued checks with one `MGET` (one write, one read,
//! one command), the data-loss marker first and once, and hands each check its values and the
//! marker's. One `MGET` is atomic, so every check of a batch sees the marker as it was when
//! its own keys were read, as when each check sent an `MGET` of its own with the marker last.
//! (Before, each check was its own `MGET` in a pipeline: Redis ran, and the client parsed, a
//! command and the marker per check.) A batch of many checks is split into `MGET`s of at most
//! [`MAX_KEYS`] keys, each with the marker, a check's keys always in one of them. Batches are
//! sent concurrently, each as soon as it is formed: a slow answer holds back no later batch.
//!
//! Each check waits until its own deadline at most (its timeout from when it began, so the wait
//! for its batch counts), then answers [`StoreError::Timeout`]; the pipeline needs no timer of
//! its own, as no one listens for its answers after its checks' deadlines. It keeps waiting
//! for Redis, its checks still counted in flight, because redis-rs keeps its
//! entries until Redis answers or the connection breaks: the count is of what is really in
//! flight, so that a hung Redis costs at most `max_in_flight` checks' worth of memory. (Each
//! batch gives its checks back at once: one atomic operation per check, not two.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jwt_revoke_core::StoreError;
use redis::{FromRedisValue as _, RedisError, Value};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::connection::Connection;
use crate::error::is_unavailable;
use crate::in_flight::InFlight;

/// The batcher of one store (shared by its clones); its task stops when the last clone goes.
pub(crate) struct Batcher {
    queue: Arc<Queue>,
    connection: Connection,
    /// The store's count of calls in flight: a check counts from its `mget` until Redis has
    /// answered its batch.
    in_flight: Arc<InFlight>,
    task: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Default)]
struct Queue {
    waiting: Mutex<Vec<Waiting>>,
    wake: Notify,
    /// Whether the task runs: set by the task, cleared when it ends (its runtime gone).
    running: AtomicBool,
}

/// The most keys one `MGET` of a batch reads (the marker's included, unless one check has more):
/// a large batch does not become one long command that holds up the server.
const MAX_KEYS: usize = 512;

/// A check waiting for its batch.
struct Waiting {
    keys: Vec<String>,
    marker: Arc<str>,
    answer: Answering,
}

/// Where a check's answer goes.
type Answering = oneshot::Sender<Result<Answer, StoreError>>;

/// What a batch's `MGET` read for one check: the values of its keys, in their order, and the
/// marker's value (absent: `None`), read by the same `MGET` and shared by the batch's checks.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) values: Vec<Value>,
    pub(crate) marker: Option<Arc<[u8]>>,
}

impl Drop for Batcher {
    fn drop(&mut self) {
        if let Some(task) = self.task.get_mut().unwrap_or_else(PoisonError::into_inner) {
            task.abort();
        }
    }
}

impl Batcher {
    pub(crate) fn new(connection: Connection, in_flight: Arc<InFlight>) -> Self {
        Batcher {
            queue: Arc::default(),
            connection,
            in_flight,
            task: Mutex::new(None),
        }
    }

    /// The values of `keys` and of the `marker` key, read by one `MGET` with the other checks
    /// waiting at the same time, answered by `deadline` (from [`deadline_after`] the store's
    /// `timeout`); fails at once when the store's calls in flight are at their bound.
    pub(crate) async fn mget(
        &self,
        keys: Vec<String>,
        marker: Arc<str>,
        timeout: Duration,
        deadline: Instant,
    ) -> Result<Answer, StoreError> {
        self.in_flight.take()?;
        let (answer, answered) = oneshot::channel();
        let first = {
            let mut waiting = self.queue.lock();
            waiting.push(Waiting {
                keys,
                marker,
                answer,
            });
            waiting.len() == 1
        };
        if first || !self.queue.running.load(Ordering::Acquire) {
            self.ensure_running();
            self.queue.wake.notify_one();
        }
        // The check's own bound, not only its batch's: the batch may be late (formed after
        // a long poll of another task), wait for a check of a longer timeout (a clone with
        // another), or never be sent (its task on a runtime nobody drives any more).
        match tokio::time::timeout_at(deadline, answered).await {
            Ok(answer) => answer.unwrap_or_else(|_| Err(StoreError::backend(BatcherStopped))),
            Err(_) => Err(StoreError::Timeout(timeout)),
        }
    }
}

/// `timeout` from now (see [`later`]).
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    later(Instant::now(), timeout)
}

/// `by` after `start`, at most about 30 years (as Tokio's own timers clamp): any `Duration`
/// may be configured, and none panics.
pub(crate) fn later(start: Instant, by: Duration) -> Instant {
    start + by.min(Duration::from_secs(86_400 * 365 * 30))
}

impl Batcher {
    /// Starts the task on first use, inside the caller's runtime, and again if that runtime
    /// has gone (a store kept across runtimes, as tests do): a check must never wait for a
    /// task that no longer runs.
    fn ensure_running(&self) {
        let mut task = self.task.lock().unwrap_or_else(PoisonError::into_inner);
        if !self.queue.running.load(Ordering::Acquire) {
            // Counted as running from now, so that the checks queued meanwhile do not start
            // tasks of their own.
            self.queue.running.store(true, Ordering::Release);
            *task = Some(tokio::spawn(run(
                Arc::clone(&self.queue),
                self.connection.clone(),
                Arc::clone(&self.in_flight),
            )));
        }
    }
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Waiting>> {
        // Nothing panics while it is held; a `Vec` push or take leaves it whole.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the store's batcher stopped before answering")]
struct BatcherStopped;

/// The batcher task: forms a batch each time it is woken, and sends it on its own task.
async fn run(queue: Arc<Queue>, connection: Connection, in_flight: Arc<InFlight>) {
    /// Clears `running` however the task ends.
    struct Running<'a>(&'a AtomicBool);
    impl Drop for Running<'_> {
        fn drop(&mut self) {
            self.0.store(false, Ordering::Release);
        }
    }
    let _running = Running(&queue.running);
    loop {
        queue.wake.notified().await;
        // Let every other ready task run first: those serving requests queue their checks.
        tokio::task::yield_now().await;
        let batch = std::mem::take(&mut *queue.lock());
        if !batch.is_empty() {
            // Counted out of flight when the task ends, even one dropped before its first
            // poll (its runtime shutting down): an async fn's arguments drop with it.
            let permits = Counted(Arc::clone(&in_flight), batch.len());
            tokio::spawn(send(connection.clone(), batch, permits));
        }
    }
}

/// A batch's checks in flight: counted out when dropped, however its task ends.
struct Counted(Arc<InFlight>, usize);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.release(self.1);
    }
}

/// Sends one batch as a pipeline and answers each of its checks still waiting, once Redis has
/// answered; only then are its checks counted out of flight (redis-rs holds the pipeline's
/// entries until Redis answers or the connection breaks, and so do the permits).
async fn send(connection: Connection, batch: Vec<Waiting>, permits: Counted) {
    let mut pipe = redis::pipe();
    // Each `MGET` of the pipeline with the checks it answers and how many keys each gave.
    let mut commands: Vec<Vec<(Answering, usize)>> = Vec::new();
    let mut open: Option<(redis::Cmd, Arc<str>, usize)> = None;
    for waiting in batch {
        let fits = open.as_ref().is_some_and(|(_, marker, keys)| {
            *marker == waiting.marker && keys + waiting.keys.len() <= MAX_KEYS
        });
        if !fits {
            if let Some((mget, _, _)) = open.take() {
                pipe.add_command(mget);
            }
            let mut mget = redis::cmd("MGET");
            mget.arg(&*waiting.marker);
            open = Some((mget, waiting.marker, 1));
            commands.push(Vec::new());
        }
        let (mget, _, keys) = open.as_mut().expect("an MGET is open");
        mget.arg(&waiting.keys);
        *keys += waiting.keys.len();
        commands
            .last_mut()
            .expect("a command was pushed with its MGET")
            .push((waiting.answer, waiting.keys.len()));
    }
    if let Some((mget, _, _)) = open {
        pipe.add_command(mget);
    }
    let outcome = async {
        let mut handle = connection
            .handle()
            .await
            .map_err(|err| Failure::from_store(&err))?;
        pipe.query_async::<Vec<Value>>(&mut handle)
            .await
            .map_err(|err| {
                connection.report(&err);
                Failure::from(err)
            })
    }
    .await;
    drop(permits);
    let outcome = outcome.and_then(|replies| {
        if replies.len() == commands.len() {
            Ok(replies)
        } else {
            Err(Failure::from(RedisError::from((
                redis::ErrorKind::UnexpectedReturnType,
                "a pipeline answered another number of replies than it had commands",
                format!("{} commands, {} replies", commands.len(), replies.len()),
            ))))
        }
    });
    match outcome {
        Ok(replies) => {
            for (checks, reply) in commands.into_iter().zip(replies) {
                answer_checks(checks, reply);
            }
        }
        Err(failure) => {
            for (answer, _) in commands.into_iter().flatten() {
                let _ = answer.send(Err(failure.error()));
            }
        }
    }
}

/// Hands each check of one `MGET` its values and the marker's; all of them an error when the
/// reply is not an array of the marker's value and every check's values.
fn answer_checks(checks: Vec<(Answering, usize)>, reply: Value) {
    let expected = 1 + checks.iter().map(|(_, keys)| keys).sum::<usize>();
    let values = match reply {
        Value::Array(values) if values.len() == expected => values,
        other => {
            let unexpected = UnexpectedReply(match other {
                Value::Array(values) => {
                    format!("{} values for {expected} keys", values.len())
                }
                other => format!("{other:?}"),
            });
            let failure = Failure {
                unavailable: false,
                cause: Arc::new(unexpected),
            };
            for (answer, _) in checks {
                let _ = answer.send(Err(failure.error()));
            }
            return;
        }
    };
    let mut values = values.into_iter();
    let marker = values
        .next()
        .expect("the reply holds the marker's value first");
    // Read once for the batch, as each check would read it.
    let marker = match Option::<Vec<u8>>::from_redis_value(marker) {
        Ok(marker) => marker.map(Arc::<[u8]>::from),
        Err(err) => {
            let failure = Failure::from(RedisError::from(err));
            for (answer, _) in checks {
                let _ = answer.send(Err(failure.error()));
            }
            return;
        }
    };
    for (answer, keys) in checks {
        let answer_values: Vec<Value> = values.by_ref().take(keys).collect();
        // A check that timed out is not waiting any more: nothing to do.
        let _ = answer.send(Ok(Answer {
            values: answer_values,
            marker: marker.clone(),
        }));
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unexpected reply to MGET: {0}")]
struct UnexpectedReply(String);

/// One failure told to every check of a batch: each gets its own `StoreError` of the same
/// kind, sharing the cause.
struct Failure {
    unavailable: bool,
    cause: Arc<dyn std::error::Error + Send + Sync>,
}

impl From<RedisError> for Failure {
    fn from(err: RedisError) -> Self {
        Failure {
            unavailable: is_unavailable(&err),
            cause: Arc::new(err),
        }
    }
}

impl Failure {
    fn from_store(err: &StoreError) -> Self {
        Failure {
            unavailable: err.is_unavailable(),
            cause: Arc::new(Described(err.to_string())),
        }
    }

    fn error(&self) -> StoreError {
        let cause = Shared(Arc::clone(&self.cause));
        if self.unavailable {
            StoreError::unavailable(cause)
        } else {
            StoreError::backend(cause)
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Described(String);

/// A cause shared by the errors of one batch.
#[derive(Debug)]
struct Shared(Arc<dyn std::error::Error + Send + Sync>);

impl std::fmt::Display for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Shared {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}
