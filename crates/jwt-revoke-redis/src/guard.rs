//! The store's background task: reads a cluster's data-loss markers every
//! `loss_check_interval`, and re-checks the server's `maxmemory-policy` every
//! `policy_check_interval`.
//!
//! One server needs no task for its marker: every check reads it in the same `MGET` as the
//! records. A cluster's check cannot (its keys share one slot; the markers live on every
//! master), so the task reads them all and keeps what it learnt in process memory, where
//! checks find it without a round trip; a loss on a cluster is noticed within
//! `loss_check_interval` plus twice the store's timeout (a read of the markers, and the script
//! that records the loss).
//!
//! The task holds the store's `Direct`, not the store with this guard, so it does not keep
//! itself alive: it is aborted
//! when the last store holding the guard is dropped, and started again (like the batcher) in
//! the runtime of the next check if the runtime it ran in has gone.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::batch::later;
use crate::direct::Direct;

/// What the task does for one store: its Redis, and how often it reads a cluster's markers
/// (`None`: one server, whose checks read the marker) and re-checks the eviction policy
/// (`None`: an evicting server was allowed).
pub(crate) struct Chores {
    pub(crate) direct: Direct,
    pub(crate) markers: Option<Duration>,
    pub(crate) policy: Option<Duration>,
}

/// The background task of one store (shared by its clones).
pub(crate) struct Guard {
    task: Mutex<Option<JoinHandle<()>>>,
    running: Arc<AtomicBool>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(task) = self.task.get_mut().unwrap_or_else(PoisonError::into_inner) {
            task.abort();
        }
    }
}

impl Guard {
    pub(crate) fn new() -> Self {
        Guard {
            task: Mutex::new(None),
            running: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Starts the task in the caller's runtime unless it runs (`chores`: `None` when there is
    /// nothing to do).
    pub(crate) fn ensure_running(&self, chores: impl FnOnce() -> Option<Chores>) {
        if self.running.load(Ordering::Acquire) {
            return;
        }
        let mut task = self.task.lock().unwrap_or_else(PoisonError::into_inner);
        if self.running.load(Ordering::Acquire) {
            return;
        }
        let Some(chores) = chores() else {
            return;
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        self.running.store(true, Ordering::Release);
        *task = Some(tokio::spawn(run(chores, Arc::clone(&self.running))));
    }
}

/// The task: marker rounds (cluster) and policy checks, each on its own schedule.
async fn run(chores: Chores, running: Arc<AtomicBool>) {
    /// Clears `running` however the task ends.
    struct Running(Arc<AtomicBool>);
    impl Drop for Running {
        fn drop(&mut self) {
            self.0.store(false, Ordering::Release);
        }
    }
    let _running = Running(running);
    let Chores {
        direct,
        markers,
        policy,
    } = chores;
    let now = Instant::now();
    let mut next_markers = now;
    let mut next_policy = later(now, policy.unwrap_or(Duration::ZERO));
    loop {
        let now = Instant::now();
        if let Some(interval) = markers
            && now >= next_markers
        {
            direct.read_cluster_markers().await;
            next_markers = later(Instant::now(), interval);
        }
        if let Some(interval) = policy
            && now >= next_policy
        {
            direct.recheck_policy().await;
            next_policy = later(Instant::now(), interval);
        }
        let next = match (markers, policy) {
            (Some(_), Some(_)) => next_markers.min(next_policy),
            (Some(_), None) => next_markers,
            (None, Some(_)) => next_policy,
            (None, None) => return,
        };
        tokio::time::sleep_until(next).await;
    }
}
