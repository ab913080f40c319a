//! The fetcher: when a source's key set is fetched, and what a fetch changes.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use super::fetch::{self, Fetched};
use super::{Shared, Snapshot};
use crate::jwks_document::KeySourceError;

/// The first retry after a failed fetch; it doubles up to the refresh's lower bound.
const FIRST_RETRY: Duration = Duration::from_secs(10);

/// Fetches the key set of `shared` when due or asked, until the source is dropped (the task is
/// aborted then).
pub(super) async fn run(shared: Arc<Shared>, client: reqwest::Client, first_delay: Duration) {
    let mut due = later(first_delay);
    loop {
        let asked = tokio::select! {
            () = tokio::time::sleep_until(due) => false,
            () = shared.wake.notified() => true,
        };
        if asked
            && !shared
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .in_flight
        {
            // A wake-up left from a request that a scheduled fetch has served already.
            continue;
        }
        shared.begin(!asked);
        let jwks_uri = shared
            .state
            .lock()
            .expect("key source state")
            .jwks_uri
            .clone();
        let outcome = fetch::fetch(&shared.settings, &client, jwks_uri).await;
        due = later(shared.finish(outcome));
    }
}

impl Shared {
    /// A fetch begins. `scheduled`: the fetcher's own (a fetch asked for by a request was
    /// marked when it was asked).
    pub(super) fn begin(&self, scheduled: bool) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.in_flight = true;
        if scheduled {
            state.last_attempt = Some(Instant::now());
        }
        state.fetches += 1;
    }

    /// A fetch is over: its keys go into force, or its failure is recorded. Returns when the
    /// next fetch is due.
    pub(super) fn finish(&self, outcome: Result<Fetched, KeySourceError>) -> Duration {
        let settings = &self.settings;
        let location = settings.location.to_string();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let delay = match outcome {
            Ok(fetched) => {
                let before = self.snapshot.load_full();
                let old: BTreeSet<&str> = before
                    .as_ref()
                    .map(|s| s.keys.kids().collect())
                    .unwrap_or_default();
                let new: BTreeSet<&str> = fetched.keys.kids().collect();
                let added: Vec<&str> = new.difference(&old).copied().collect();
                let removed: Vec<&str> = old.difference(&new).copied().collect();
                if before.is_none() {
                    tracing::info!(source = %location, kids = ?added, keys = fetched.keys.len(), "key set fetched");
                } else if !added.is_empty() || !removed.is_empty() {
                    tracing::info!(source = %location, ?added, ?removed, "key set rotated");
                }
                if state.last_error.take().is_some() {
                    tracing::info!(source = %location, "key set fetched again after failures");
                }
                // The same document again keeps its generation: what was readied for it, and
                // what a verified-token cache holds of it, stay good.
                let unchanged = before
                    .as_ref()
                    .is_some_and(|before| before.digest == fetched.digest);
                let generation = match &before {
                    Some(before) if unchanged => before.generation,
                    _ => self.generation.fetch_add(1, Ordering::AcqRel) + 1,
                };
                crate::observe::key_fetch(&location, if unchanged { "unchanged" } else { "ok" });
                crate::observe::key_source_state(&location, false, Duration::ZERO);
                self.snapshot.store(Some(Arc::new(Snapshot {
                    generation,
                    keys: fetched.keys,
                    digest: fetched.digest,
                    fetched_at: Instant::now(),
                })));
                state.last_success = Some((Instant::now(), SystemTime::now()));
                self.failing.store(false, Ordering::Release);
                state.jwks_uri = Some(fetched.jwks_uri);
                state.consecutive_failures = 0;
                let wanted = fetched.max_age.unwrap_or(settings.refresh_min);
                // Never later than half of `max_stale`: a provider that answers must never see
                // its keys go stale, and a failed refresh leaves the other half for retries.
                let delay = wanted
                    .clamp(settings.refresh_min, settings.refresh_max)
                    .min(settings.max_stale / 2);
                jitter(delay)
            }
            Err(err) => {
                state.failures += 1;
                self.failing.store(true, Ordering::Release);
                state.consecutive_failures = state.consecutive_failures.saturating_add(1);
                // Discovery is redone after a failure: the key set may have moved.
                state.jwks_uri = None;
                let kept = match self.snapshot.load().as_ref() {
                    Some(s) => format!(
                        "the key set fetched {}s ago stays in force",
                        s.fetched_at.elapsed().as_secs()
                    ),
                    None => "no key set yet".to_owned(),
                };
                tracing::warn!(source = %location, error = %err, "{kept}: fetching the key set failed");
                crate::observe::key_fetch(&location, "failed");
                if let Some(s) = self.snapshot.load().as_ref() {
                    let age = s.fetched_at.elapsed();
                    crate::observe::key_source_state(&location, age > settings.max_stale, age);
                }
                state.last_error = Some(err.to_string());
                let backoff = FIRST_RETRY
                    .saturating_mul(1 << state.consecutive_failures.saturating_sub(1).min(16))
                    .min(settings.refresh_min);
                jitter(backoff)
            }
        };
        state.in_flight = false;
        // `None` past what the clock can say (a `max-age` of 2^64 s and bounds to match).
        state.next_refresh = SystemTime::now().checked_add(delay);
        drop(state);
        self.completed.send_modify(|count| *count += 1);
        delay
    }
}

/// `delay` from now, or a year from now where the clock cannot count that far.
fn later(delay: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(delay)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 60 * 60))
}

/// `delay`, less up to 10 % at random: a fleet's instances do not fetch in step.
fn jitter(delay: Duration) -> Duration {
    delay.mul_f64(1.0 - fastrand::f64() * 0.1)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    /// The longest delays the fetcher can be given (`max_stale / 2` of `Duration::MAX`, from
    /// a `max-age` of 2^64 s; `Instant + Duration::MAX` panics) are scheduled in the future,
    /// without a panic.
    #[test]
    fn the_longest_delays_are_scheduled_without_overflow() {
        let now = tokio::time::Instant::now();
        for delay in [
            Duration::MAX,
            Duration::MAX / 2,
            super::jitter(Duration::MAX / 2),
        ] {
            assert!(super::later(delay) > now, "{delay:?}");
        }
    }

    #[test]
    fn jitter_only_shortens_and_by_a_tenth_at_most() {
        let delay = std::time::Duration::from_secs(300);
        for _ in 0..1000 {
            let jittered = super::jitter(delay);
            assert!(
                jittered <= delay && jittered >= delay.mul_f64(0.9),
                "{jittered:?}"
            );
        }
    }
}
