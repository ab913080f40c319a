//! The bound on the work a store keeps in flight, so that a Redis that hangs costs bounded
//! memory.
//!
//! A caller that gives up on a call (its timeout) does not end the request: redis-rs's
//! multiplexed connection keeps an entry for every command it has written until the server
//! answers it or the connection breaks (it must, to match replies to requests in order), and
//! before this bound the batcher's pipelines waited without end too. With a server that is
//! stopped but keeps its socket open (SIGSTOP, a stuck disk, a paused VM), that grew with
//! every request. Now every check and write holds a [`Permit`] (a batch, a count of them)
//! until redis-rs is done with it — not merely until its caller stopped waiting — and one that
//! finds every permit taken fails at once as unavailable. The few calls of the store's own
//! upkeep (reading and settling the data-loss markers, the eviction-policy check) take none:
//! each is bounded by the store's timeout, and they run only at the background task's rounds
//! and around a change of a marker (a loss, a first start), not on every request.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use jwt_revoke_core::StoreError;

/// The default bound: checks and writes in flight per store (clones share it).
pub(crate) const DEFAULT_MAX_IN_FLIGHT: usize = 4_096;

/// The count of calls in flight and its bound.
#[derive(Debug)]
pub(crate) struct InFlight {
    count: AtomicUsize,
    max: AtomicUsize,
}

/// One call in flight; dropping it ends the call's share.
#[derive(Debug)]
pub(crate) struct Permit(Arc<InFlight>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::AcqRel);
    }
}

impl InFlight {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(InFlight {
            count: AtomicUsize::new(0),
            max: AtomicUsize::new(max.max(1)),
        })
    }

    /// Changes the bound (for every store sharing it).
    pub(crate) fn set_max(&self, max: usize) {
        self.max.store(max.max(1), Ordering::Release);
    }

    /// A permit, or an unavailable error when `max` calls are in flight already.
    pub(crate) fn acquire(self: &Arc<Self>) -> Result<Permit, StoreError> {
        self.take()?;
        Ok(Permit(Arc::clone(self)))
    }

    /// Counts one call in flight without a [`Permit`] (the batcher gives its checks back
    /// together, with [`release`](Self::release)), or fails when `max` are in flight.
    pub(crate) fn take(&self) -> Result<(), StoreError> {
        let max = self.max();
        if self.count.fetch_add(1, Ordering::AcqRel) >= max {
            self.count.fetch_sub(1, Ordering::AcqRel);
            return Err(StoreError::unavailable(Overloaded { max }));
        }
        Ok(())
    }

    /// Ends `calls` calls counted with [`take`](Self::take).
    pub(crate) fn release(&self, calls: usize) {
        self.count.fetch_sub(calls, Ordering::AcqRel);
    }

    /// Calls in flight now.
    pub(crate) fn current(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// The bound.
    pub(crate) fn max(&self) -> usize {
        self.max.load(Ordering::Acquire)
    }
}

/// Every permit is taken: Redis is not keeping up (or not answering at all).
#[derive(Debug, thiserror::Error)]
#[error("{max} Redis calls are in flight already (the store's max_in_flight); refusing more")]
pub(crate) struct Overloaded {
    max: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_are_bounded_and_returned() {
        let in_flight = InFlight::new(2);
        let first = in_flight.acquire().expect("first");
        let second = in_flight.acquire().expect("second");
        let refused = in_flight.acquire().expect_err("a third is refused");
        assert!(refused.is_unavailable(), "{refused}");
        assert_eq!(in_flight.current(), 2);
        drop(first);
        let third = in_flight.acquire().expect("a returned permit is reused");
        drop((second, third));
        assert_eq!(in_flight.current(), 0);
    }
}
