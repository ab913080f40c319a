//! The freshness lease: the proof that the replica holds every write Redis made up to a
//! known instant, and until when that lets it answer.
//!
//! Every heartbeat is numbered and its send instant noted; when it comes back on the change
//! channel, every write Redis made before it has been applied, so the replica may answer
//! until `send + max_staleness`. A deletion applied early could be undone by an older message,
//! so after one only heartbeats sent from then on may renew the lease.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

pub(crate) struct Lease {
    max_staleness: Duration,
    /// The origin of `fresh_until`.
    origin: Instant,
    /// Nanoseconds after `origin` until which checks are answered locally; 0: not fresh.
    fresh_until: AtomicU64,
    /// Serializes changes of `fresh_until`, and holds the first heartbeat number allowed to
    /// renew it (heartbeats sent before a deletion must not).
    renewal: Mutex<u64>,
    /// The number of the next heartbeat.
    next_heartbeat: AtomicU64,
    /// Nanoseconds after `origin` at which the last heartbeat that renewed the lease was sent;
    /// 0: none yet. For the staleness metric.
    #[cfg(feature = "metrics")]
    confirmed: AtomicU64,
}

impl Lease {
    /// A lease not held yet.
    pub(crate) fn new(max_staleness: Duration) -> Self {
        Lease {
            max_staleness,
            origin: Instant::now(),
            fresh_until: AtomicU64::new(0),
            renewal: Mutex::new(0),
            next_heartbeat: AtomicU64::new(1),
            #[cfg(feature = "metrics")]
            confirmed: AtomicU64::new(0),
        }
    }

    /// Whether checks may be answered locally now.
    pub(crate) fn is_fresh(&self) -> bool {
        let until = self.fresh_until.load(Ordering::Acquire);
        until != 0 && nanos(self.origin.elapsed()) < until
    }

    /// Ends the lease (a disconnect, a copy that overflowed): checks go to Redis until a
    /// heartbeat renews it.
    pub(crate) fn end(&self) {
        let _guard = self.lock();
        self.fresh_until.store(0, Ordering::SeqCst);
    }

    /// After a deletion: the lease ends, and only heartbeats numbered from now on renew it.
    pub(crate) fn end_until_next_heartbeat(&self) {
        let mut first_allowed = self.lock();
        *first_allowed = self.next_heartbeat.load(Ordering::SeqCst);
        self.fresh_until.store(0, Ordering::SeqCst);
    }

    /// The number of a heartbeat about to be sent.
    pub(crate) fn next_heartbeat(&self) -> u64 {
        self.next_heartbeat.fetch_add(1, Ordering::SeqCst)
    }

    /// Heartbeat `number`, sent at `sent`, came back: every write before `sent` is applied,
    /// so the lease runs until `sent + max_staleness`, if `usable` (asked under the lease's
    /// lock, so that a copy found incomplete meanwhile cannot be renewed).
    pub(crate) fn renew(&self, number: u64, sent: Instant, usable: impl FnOnce() -> bool) {
        let first_allowed = self.lock();
        if number >= *first_allowed && usable() {
            let until = nanos(
                sent.duration_since(self.origin)
                    .saturating_add(self.max_staleness),
            );
            self.fresh_until.fetch_max(until.max(1), Ordering::SeqCst);
            #[cfg(feature = "metrics")]
            self.confirmed.fetch_max(
                nanos(sent.duration_since(self.origin)).max(1),
                Ordering::SeqCst,
            );
        }
    }

    /// How long ago the last heartbeat that renewed the lease was sent: the age of the last
    /// confirmed sync (since the lease was made, before any). At least `max_staleness` once
    /// the lease has lapsed for lack of heartbeats.
    #[cfg(feature = "metrics")]
    pub(crate) fn since_confirmed(&self) -> Duration {
        let confirmed = Duration::from_nanos(self.confirmed.load(Ordering::SeqCst));
        self.origin.elapsed().saturating_sub(confirmed)
    }

    fn lock(&self) -> MutexGuard<'_, u64> {
        // Nothing panics while it is held; the number is always whole.
        self.renewal.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}
