//! Applies the throttling rules of [`crate::domain::throttle`] to counters in the store.
//! Each attempt is counted before it is checked, with a compare-and-swap, so concurrent
//! guesses on any number of nodes can never check more than the limit allows. (The one
//! exception, a right answer to a sign-in challenge, claims the counter value it read with
//! the same kind of compare-and-swap in the sign-in transaction: see
//! [`crate::store::CounterClaim`].)

use crate::domain::throttle::{Attempt, Backoff, Counter, Window};
use crate::domain::time::UnixTime;
use crate::http::error::ApiError;
use crate::store::Store;

/// Retries of the compare-and-swap before a hot counter answers "try again in a second".
const SWAP_ATTEMPTS: usize = 16;

/// A rule over one counter key.
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    /// Consecutive failures with growing back-off.
    Backoff(Backoff),
    /// Failures within a fixed window.
    Window(Window),
}

impl Rule {
    fn begin(&self, current: Option<&crate::domain::throttle::Counter>, now: UnixTime) -> Attempt {
        match self {
            Rule::Backoff(backoff) => backoff.begin(current, now),
            Rule::Window(window) => window.begin(current, now),
        }
    }
}

/// Counts an attempt under `key`, or answers `429 too_many_attempts` when the rule refuses.
/// Returns the stored counter (this attempt included, provisionally as a failure).
pub async fn begin_attempt(
    store: &dyn Store,
    key: &str,
    rule: Rule,
    now: UnixTime,
) -> Result<Counter, ApiError> {
    let current = store.throttle_counter(key).await?;
    begin_attempt_from(store, key, rule, now, current).await
}

/// [`begin_attempt`] when the counter was just read (`current`, e.g. with other data in one
/// query): the first compare-and-swap needs no read of its own.
pub async fn begin_attempt_from(
    store: &dyn Store,
    key: &str,
    rule: Rule,
    now: UnixTime,
    current: Option<Counter>,
) -> Result<Counter, ApiError> {
    let mut current = current;
    for attempt in 0..SWAP_ATTEMPTS {
        if attempt > 0 {
            current = store.throttle_counter(key).await?;
        }
        match rule.begin(current.as_ref(), now) {
            Attempt::Throttled { retry_after } => {
                return Err(ApiError::TooManyAttempts { retry_after })
            }
            Attempt::Allowed(next) => {
                if store.swap_counter(key, current.as_ref(), &next).await? {
                    return Ok(next);
                }
            }
        }
    }
    Err(ApiError::TooManyAttempts { retry_after: 1 })
}
