//! Instants and clocks.
//!
//! Revocation is all about time: a cut-off is an instant, every record expires at an instant.
//! Everything in jwt-revoke reads the time through a [`Clock`] so that tests (yours and ours)
//! control it without sleeping.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MICROS_PER_SECOND: i64 = 1_000_000;

/// An instant as microseconds since the Unix epoch (UTC, leap seconds ignored, as JWTs count).
///
/// Microseconds, not seconds: revocations happen at sub-second instants while `iat` has
/// one-second resolution, and the difference matters (see [`Cutoff`](crate::Cutoff)).
///
/// ```
/// use jwt_revoke_core::Timestamp;
/// let t = Timestamp::from_micros(1_700_000_000_250_000);
/// assert_eq!(t.as_secs_floor(), 1_700_000_000);
/// assert_eq!(Timestamp::from_secs(1_700_000_000).as_micros(), 1_700_000_000_000_000);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);
    /// The latest representable instant; adding to it saturates here.
    pub const MAX: Timestamp = Timestamp(i64::MAX);
    /// The earliest representable instant; subtracting from it saturates here.
    pub const MIN: Timestamp = Timestamp(i64::MIN);

    /// An instant from microseconds since the epoch.
    pub const fn from_micros(micros: i64) -> Self {
        Timestamp(micros)
    }

    /// An instant from whole seconds since the epoch (a JWT NumericDate), saturating.
    pub const fn from_secs(secs: i64) -> Self {
        Timestamp(secs.saturating_mul(MICROS_PER_SECOND))
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch, rounded down (towards the past, also before 1970).
    pub const fn as_secs_floor(self) -> i64 {
        self.0.div_euclid(MICROS_PER_SECOND)
    }

    /// Milliseconds since the epoch, rounded up: what a store that counts in milliseconds
    /// should use for an expiry, so that a record never goes before its time.
    pub const fn as_millis_ceil(self) -> i64 {
        let whole = self.0.div_euclid(1_000);
        if self.0.rem_euclid(1_000) == 0 {
            whole
        } else {
            whole.saturating_add(1)
        }
    }

    /// This instant moved `duration` later, saturating at [`Timestamp::MAX`].
    pub fn saturating_add(self, duration: Duration) -> Self {
        let micros = i64::try_from(duration.as_micros()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_add(micros))
    }

    /// This instant moved `duration` earlier, saturating.
    pub fn saturating_sub(self, duration: Duration) -> Self {
        let micros = i64::try_from(duration.as_micros()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_sub(micros))
    }

    /// How long from `earlier` to `self`; zero when `earlier` is not earlier.
    pub fn duration_since(self, earlier: Timestamp) -> Duration {
        let micros = self.0.saturating_sub(earlier.0);
        Duration::from_micros(u64::try_from(micros).unwrap_or(0))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:06}",
            self.as_secs_floor(),
            self.0.rem_euclid(MICROS_PER_SECOND)
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A source of the current time.
///
/// The engine ([`Revocations`](crate::Revocations)) and every store read the time through this
/// trait. Give them the same clock.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

/// The operating system's wall clock. The default everywhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(since) => {
                Timestamp::from_micros(i64::try_from(since.as_micros()).unwrap_or(i64::MAX))
            }
            // A wall clock set before 1970: report the instant as negative, do not panic.
            Err(before) => Timestamp::from_micros(
                -i64::try_from(before.duration().as_micros()).unwrap_or(i64::MAX),
            ),
        }
    }
}

/// A clock that moves only when told to: for tests of expiry and cut-offs without sleeping.
///
/// Clones share the same instant, so one handle can drive a store and the engine together.
///
/// ```
/// use jwt_revoke_core::{Clock, ManualClock, Timestamp};
/// use std::time::Duration;
///
/// let clock = ManualClock::new(Timestamp::from_secs(1_000));
/// clock.advance(Duration::from_millis(1_500));
/// assert_eq!(clock.now(), Timestamp::from_micros(1_001_500_000));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    micros: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock that reads `start` until moved.
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            micros: Arc::new(AtomicI64::new(start.as_micros())),
        }
    }

    /// A clock that starts at the system's current time.
    pub fn starting_now() -> Self {
        Self::new(SystemClock.now())
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.micros
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                Some(now.saturating_add(micros))
            })
            .ok();
    }

    /// Sets the clock to an instant, also an earlier one (to test a clock that steps back).
    pub fn set(&self, to: Timestamp) {
        self.micros.store(to.as_micros(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_micros(self.micros.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_and_ceil_round_towards_safety_before_the_epoch_too() {
        assert_eq!(Timestamp::from_micros(-1).as_secs_floor(), -1);
        assert_eq!(Timestamp::from_micros(1).as_millis_ceil(), 1);
        assert_eq!(Timestamp::from_micros(1_000).as_millis_ceil(), 1);
        assert_eq!(Timestamp::from_micros(-1).as_millis_ceil(), 0);
    }

    #[test]
    fn arithmetic_saturates_instead_of_overflowing() {
        assert_eq!(
            Timestamp::MAX.saturating_add(Duration::from_secs(1)),
            Timestamp::MAX
        );
        assert_eq!(Timestamp::from_secs(i64::MAX), Timestamp::MAX);
        assert_eq!(
            Timestamp::from_secs(10).duration_since(Timestamp::from_secs(20)),
            Duration::ZERO
        );
    }

    #[test]
    fn manual_clock_clones_share_time() {
        let clock = ManualClock::new(Timestamp::from_secs(5));
        let other = clock.clone();
        clock.advance(Duration::from_secs(2));
        assert_eq!(other.now(), Timestamp::from_secs(7));
        other.set(Timestamp::from_secs(1));
        assert_eq!(clock.now(), Timestamp::from_secs(1));
    }
}
