//! The optional background sweeper: a Tokio task that frees expired records on a period.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::store::MemoryStore;

/// The shortest period a sweeper accepts; shorter ones are raised to it.
const MIN_PERIOD: Duration = Duration::from_millis(1);

/// Controls a background sweeper started by [`MemoryStore::spawn_sweeper`].
///
/// Dropping the handle stops the sweeper, so keep it as long as the store (for instance next
/// to it in your application state), or call [`detach`](Self::detach) to let the sweeper run
/// until the store itself is dropped.
#[derive(Debug)]
#[must_use = "dropping the handle stops the sweeper at once"]
pub struct SweeperHandle {
    task: Option<JoinHandle<()>>,
}

impl SweeperHandle {
    /// Stops the sweeper. It stops between two shards, never in the middle of one.
    pub fn abort(&self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }

    /// Whether the sweeper has stopped: aborted, or because its store was dropped.
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Lets the sweeper run without a handle. It still stops when the store is dropped, since
    /// it holds only a weak reference to it.
    pub fn detach(mut self) {
        // Dropping a Tokio `JoinHandle` detaches its task; `Drop` below then has nothing to abort.
        drop(self.task.take());
    }
}

impl Drop for SweeperHandle {
    fn drop(&mut self) {
        self.abort();
    }
}

impl MemoryStore {
    /// Starts a Tokio task that frees expired records every `period`, on the current runtime.
    ///
    /// Amortised sweeps on writes and [`delete_expired`](jwt_revoke_core::RevocationStore::delete_expired)
    /// already keep the store clean where it is written to; the sweeper also frees memory of
    /// shards nobody writes to any more, and keeps the cost of sweeping off the request path.
    /// It sweeps one shard at a time and yields to the runtime between shards, so checks of
    /// other shards never wait for it. It holds only a [`Weak`] reference: it stops when the
    /// store is dropped, and when the returned handle is dropped or aborted. Periods below one
    /// millisecond are raised to one millisecond.
    ///
    /// # Panics
    /// Outside a Tokio runtime, like [`tokio::spawn`]; [`spawn_sweeper_on`](Self::spawn_sweeper_on)
    /// takes the runtime explicitly.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use jwt_revoke_memory::MemoryStore;
    ///
    /// let store = Arc::new(MemoryStore::new());
    /// let sweeper = store.spawn_sweeper(Duration::from_secs(30));
    /// // ... serve requests; the sweeper stops with `sweeper` or with the store.
    /// drop(sweeper);
    /// # }
    /// ```
    pub fn spawn_sweeper(self: &Arc<Self>, period: Duration) -> SweeperHandle {
        self.spawn_sweeper_on(period, &Handle::current())
    }

    /// [`spawn_sweeper`](Self::spawn_sweeper) on the given runtime: for code that starts the
    /// store outside the runtime's context. Never panics.
    pub fn spawn_sweeper_on(self: &Arc<Self>, period: Duration, runtime: &Handle) -> SweeperHandle {
        let store = Arc::downgrade(self);
        let task = runtime.spawn(sweep_periodically(store, period.max(MIN_PERIOD)));
        SweeperHandle { task: Some(task) }
    }

    /// One sweep of every shard, yielding to the runtime between shards.
    async fn sweep_yielding(&self) -> usize {
        let now = self.now_micros();
        let mut freed = 0;
        for index in 0..self.shard_count() {
            freed += self.sweep_shard(index, now);
            tokio::task::yield_now().await;
        }
        freed
    }
}

async fn sweep_periodically(store: Weak<MemoryStore>, period: Duration) {
    let start = Instant::now()
        .checked_add(period)
        .unwrap_or_else(Instant::now);
    let mut ticks = tokio::time::interval_at(start, period);
    // After a stall, sweep once, not once per missed period.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        // The strong reference lives for one sweep only, so the store can be dropped between.
        let Some(store) = store.upgrade() else {
            return;
        };
        let freed = store.sweep_yielding().await;
        if freed > 0 {
            tracing::debug!(
                freed,
                remaining = store.len(),
                "swept expired revocation records"
            );
        }
    }
}
