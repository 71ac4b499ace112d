//! Throttling rules for guesses (passwords now, second factors later). The counters live
//! in the database so every node sees the same numbers; this module only decides, from a
//! counter and `now`, whether another attempt is allowed and how long a lock lasts.
//!
//! Two shapes:
//! - [`Backoff`]: consecutive failures on one subject. At the threshold the subject is
//!   locked, and every further failure doubles the lock, up to a cap. A success resets it.
//! - [`Window`]: failures from one client address in a fixed window; at the limit the
//!   address waits for the window to end.
//!
//! Every attempt is counted as a failure *before* the guess is checked (`begin`), and
//! the count is stored with a compare-and-swap; a success then clears or refunds it. So
//! however many guesses arrive at once, no more than the limit are ever checked: the
//! attempt that reaches the threshold sets the lock before it is verified.

use crate::domain::time::UnixTime;

/// A failure counter as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// Failures counted so far (consecutive, or within the window).
    pub failures: u32,
    /// When the current window began (the first failure counted).
    pub window_start: UnixTime,
    /// No attempt is allowed before this time.
    pub locked_until: UnixTime,
}

/// Consecutive-failure lock with growing back-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Failures that trigger the first lock.
    pub threshold: u32,
    /// Length of the first lock, in seconds.
    pub first_lock_seconds: i64,
    /// The longest a lock grows to, in seconds.
    pub max_lock_seconds: i64,
}

/// Password guesses against one account: 10 consecutive failures lock it for a minute,
/// doubling with each further failure up to an hour.
pub const PASSWORD_BACKOFF: Backoff = Backoff {
    threshold: 10,
    first_lock_seconds: 60,
    max_lock_seconds: 3_600,
};

/// Second-factor guesses against one account: 10 consecutive failures lock its second
/// factor for a minute, doubling with each further failure up to an hour.
pub const SECOND_FACTOR_BACKOFF: Backoff = Backoff {
    threshold: 10,
    first_lock_seconds: 60,
    max_lock_seconds: 3_600,
};

/// Failures from one client address within a fixed window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Failures allowed within one window.
    pub limit: u32,
    /// Window length in seconds.
    pub seconds: i64,
}

/// Password failures from one client address: 100 in 15 minutes.
pub const ADDRESS_WINDOW: Window = Window {
    limit: 100,
    seconds: 15 * 60,
};

/// E-mails with a one-time token of one purpose asked for one address (or by one signed-in
/// account): 5 an hour, so nobody fills a mailbox (counted whether or not the address has an
/// account, so the limit tells nothing). Counted per purpose, so that asking for reset links
/// cannot stop an account's sign-in links.
pub const EMAIL_ADDRESS_WINDOW: Window = Window {
    limit: 5,
    seconds: 3600,
};

/// E-mails with a one-time token asked for from one client address: 50 in 15 minutes.
pub const EMAIL_CLIENT_WINDOW: Window = Window {
    limit: 50,
    seconds: 15 * 60,
};

/// Codes typed for one e-mailed message (by address and purpose): after
/// [`MAX_CODE_FAILURES`](crate::domain::email_token::MAX_CODE_FAILURES) wrong ones nothing is
/// judged for 15 minutes, longer than a sign-in code lives, so the message is void; a new
/// message clears the count.
pub const EMAIL_CODE_WINDOW: Window = Window {
    limit: crate::domain::email_token::MAX_CODE_FAILURES,
    seconds: 15 * 60,
};

/// Passkey sign-in options asked for from one client address: 300 in 15 minutes (each keeps
/// a ceremony for 5 minutes, and nobody signs in twenty times a minute).
pub const PASSKEY_OPTIONS_WINDOW: Window = Window {
    limit: 300,
    seconds: 15 * 60,
};

/// Passkey answers refused from one client address: 100 in 15 minutes, as passwords.
pub const PASSKEY_CLIENT_WINDOW: Window = ADDRESS_WINDOW;

/// E-mailed codes typed from one client address, for any address: 50 in 15 minutes.
pub const EMAIL_CODE_CLIENT_WINDOW: Window = Window {
    limit: 50,
    seconds: 15 * 60,
};

/// What a new attempt may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Go ahead; store this counter (the attempt provisionally counted as a failure).
    Allowed(Counter),
    /// Refused; retry after this many seconds.
    Throttled {
        /// Seconds to wait.
        retry_after: u64,
    },
}

impl Backoff {
    /// Decides on a new attempt given the stored counter.
    pub fn begin(&self, current: Option<&Counter>, now: UnixTime) -> Attempt {
        if let Some(retry_after) = self.retry_after(current, now) {
            return Attempt::Throttled { retry_after };
        }
        let failures = current.map_or(0, |c| c.failures).saturating_add(1);
        let window_start = current.map_or(now, |c| c.window_start);
        let locked_until = self
            .lock_after(failures, now)
            .unwrap_or(current.map_or(UnixTime(0), |c| c.locked_until));
        Attempt::Allowed(Counter {
            failures,
            window_start,
            locked_until,
        })
    }

    /// The lock that follows a failure which brought the count to `failures`, if any.
    pub fn lock_after(&self, failures: u32, now: UnixTime) -> Option<UnixTime> {
        if failures < self.threshold {
            return None;
        }
        let doublings = (failures - self.threshold).min(30);
        let seconds = self
            .first_lock_seconds
            .saturating_mul(1_i64 << doublings)
            .min(self.max_lock_seconds);
        Some(now.plus_seconds(seconds))
    }

    /// Whether the failure that left `counter` as it is locked the subject: every failure
    /// from the threshold on sets a (longer) lock.
    pub fn locks(&self, counter: &Counter) -> bool {
        counter.failures >= self.threshold
    }

    /// Seconds to wait before another attempt, or `None` when one is allowed now.
    pub fn retry_after(&self, counter: Option<&Counter>, now: UnixTime) -> Option<u64> {
        let counter = counter?;
        (counter.locked_until > now).then(|| now.seconds_until(counter.locked_until))
    }
}

impl Window {
    /// Decides on a new attempt given the stored counter.
    pub fn begin(&self, current: Option<&Counter>, now: UnixTime) -> Attempt {
        if let Some(retry_after) = self.retry_after(current, now) {
            return Attempt::Throttled { retry_after };
        }
        let fresh = match current {
            Some(counter) => now.0 - counter.window_start.0 >= self.seconds,
            None => true,
        };
        let counter = match current {
            Some(counter) if !fresh => Counter {
                failures: counter.failures.saturating_add(1),
                ..*counter
            },
            _ => Counter {
                failures: 1,
                window_start: now,
                locked_until: UnixTime(0),
            },
        };
        Attempt::Allowed(counter)
    }

    /// Seconds to wait before another attempt, or `None` when one is allowed now.
    pub fn retry_after(&self, counter: Option<&Counter>, now: UnixTime) -> Option<u64> {
        let counter = counter?;
        let window_end = counter.window_start.plus_seconds(self.seconds);
        (counter.failures >= self.limit && window_end > now).then(|| now.seconds_until(window_end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixTime = UnixTime(1_700_000_000);

    fn counter(failures: u32, window_start: i64, locked_until: i64) -> Counter {
        Counter {
            failures,
            window_start: UnixTime(window_start),
            locked_until: UnixTime(locked_until),
        }
    }

    #[test]
    fn nine_failures_lock_nothing_and_the_tenth_locks_for_a_minute() {
        assert_eq!(PASSWORD_BACKOFF.lock_after(9, NOW), None);
        assert_eq!(
            PASSWORD_BACKOFF.lock_after(10, NOW),
            Some(NOW.plus_seconds(60))
        );
    }

    #[test]
    fn each_further_failure_doubles_the_lock_up_to_the_cap() {
        assert_eq!(
            PASSWORD_BACKOFF.lock_after(11, NOW),
            Some(NOW.plus_seconds(120))
        );
        assert_eq!(
            PASSWORD_BACKOFF.lock_after(13, NOW),
            Some(NOW.plus_seconds(480))
        );
        assert_eq!(
            PASSWORD_BACKOFF.lock_after(16, NOW),
            Some(NOW.plus_seconds(3_600))
        );
        assert_eq!(
            PASSWORD_BACKOFF.lock_after(u32::MAX, NOW),
            Some(NOW.plus_seconds(3_600))
        );
    }

    #[test]
    fn backoff_blocks_until_the_lock_ends() {
        let locked = counter(10, NOW.0 - 5, NOW.0 + 60);
        assert_eq!(PASSWORD_BACKOFF.retry_after(Some(&locked), NOW), Some(60));
        assert_eq!(
            PASSWORD_BACKOFF.retry_after(Some(&locked), NOW.plus_seconds(60)),
            None
        );
        assert_eq!(PASSWORD_BACKOFF.retry_after(None, NOW), None);
    }

    #[test]
    fn window_blocks_at_the_limit_until_the_window_ends() {
        let below = counter(99, NOW.0 - 10, 0);
        assert_eq!(ADDRESS_WINDOW.retry_after(Some(&below), NOW), None);
        let full = counter(100, NOW.0 - 100, 0);
        assert_eq!(ADDRESS_WINDOW.retry_after(Some(&full), NOW), Some(800));
        assert_eq!(
            ADDRESS_WINDOW.retry_after(Some(&full), NOW.plus_seconds(800)),
            None
        );
    }

    #[test]
    fn backoff_counts_each_attempt_and_the_tenth_locks_before_it_is_checked() {
        let mut stored: Option<Counter> = None;
        for attempt in 1..=10 {
            match PASSWORD_BACKOFF.begin(stored.as_ref(), NOW) {
                Attempt::Allowed(counter) => {
                    assert_eq!(counter.failures, attempt);
                    stored = Some(counter);
                }
                Attempt::Throttled { .. } => panic!("attempt {attempt} throttled"),
            }
        }
        assert_eq!(stored.map(|c| c.locked_until), Some(NOW.plus_seconds(60)));
        assert_eq!(
            PASSWORD_BACKOFF.begin(stored.as_ref(), NOW.plus_seconds(59)),
            Attempt::Throttled { retry_after: 1 }
        );
        // After the lock one more attempt is allowed, and it locks for twice as long.
        match PASSWORD_BACKOFF.begin(stored.as_ref(), NOW.plus_seconds(60)) {
            Attempt::Allowed(counter) => {
                assert_eq!(counter.failures, 11);
                assert_eq!(counter.locked_until, NOW.plus_seconds(60 + 120));
            }
            Attempt::Throttled { .. } => panic!("throttled after the lock ended"),
        }
    }

    #[test]
    fn window_starts_over_when_it_ends_and_refuses_at_the_limit() {
        let first = ADDRESS_WINDOW.begin(None, NOW);
        assert_eq!(first, Attempt::Allowed(counter(1, NOW.0, 0)));
        let ninety_nine = counter(99, NOW.0 - 60, 0);
        assert_eq!(
            ADDRESS_WINDOW.begin(Some(&ninety_nine), NOW),
            Attempt::Allowed(counter(100, NOW.0 - 60, 0))
        );
        let full = counter(100, NOW.0 - 60, 0);
        assert_eq!(
            ADDRESS_WINDOW.begin(Some(&full), NOW),
            Attempt::Throttled { retry_after: 840 }
        );
        let old = counter(100, NOW.0 - 900, 0);
        assert_eq!(
            ADDRESS_WINDOW.begin(Some(&old), NOW),
            Attempt::Allowed(counter(1, NOW.0, 0))
        );
    }

    #[test]
    fn never_more_than_a_hundred_consecutive_failures_without_a_lock() {
        // Whatever the pace, the backoff's threshold is below 100.
        assert!(PASSWORD_BACKOFF.lock_after(100, NOW).is_some());
        const { assert!(PASSWORD_BACKOFF.threshold <= 100) };
    }
}
