//! Time as the server sees it. Every handler reads the clock once, at the top, and passes
//! `now` down; domain code never reads a clock. This is the only module allowed to call
//! `SystemTime::now` (CI greps for it), so tests can move time with [`ManualClock`].

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::domain::time::UnixTime;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current time in whole seconds since the Unix epoch.
    fn now(&self) -> UnixTime;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs())
            .unwrap_or(0);
        UnixTime(i64::try_from(seconds).unwrap_or(i64::MAX))
    }
}

/// A clock that only moves when told to; shared by clones, for tests.
#[derive(Debug, Clone)]
pub struct ManualClock {
    seconds: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: UnixTime) -> Self {
        Self {
            seconds: Arc::new(AtomicI64::new(start.0)),
        }
    }

    /// Moves the clock forward by `seconds` (backward when negative).
    pub fn advance(&self, seconds: i64) {
        self.seconds.fetch_add(seconds, Ordering::SeqCst);
    }

    /// Puts the clock at `at`.
    pub fn set(&self, at: UnixTime) {
        self.seconds.store(at.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixTime {
        UnixTime(self.seconds.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told_and_clones_share_it() {
        let clock = ManualClock::new(UnixTime(1_000));
        let other = clock.clone();
        assert_eq!(clock.now(), UnixTime(1_000));
        other.advance(30);
        assert_eq!(clock.now(), UnixTime(1_030));
        clock.set(UnixTime(5));
        assert_eq!(other.now(), UnixTime(5));
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now().0 > 1_577_836_800);
    }
}
