//! Counting attempts against the throttle counters of [`crate::domain::throttle`], in the
//! store. Each attempt is counted before its credential is judged, with a compare-and-swap
//! from the value read, so concurrent guesses on any number of nodes can never judge more
//! than the limit allows. (The one exception, a right answer to a sign-in challenge, claims
//! the counter value it read with the same kind of compare-and-swap in the completing
//! transaction: see [`crate::store::CounterClaim`].)

use serde_json::json;

use super::{Denial, Error, SignIn};
use crate::domain::event::{ClientInfo, EventKind};
use crate::domain::ids::AccountId;
use crate::domain::throttle::{Attempt, Backoff, Counter, Window, SECOND_FACTOR_BACKOFF};
use crate::domain::time::UnixTime;
use crate::store::Store;

/// Retries of the compare-and-swap before a hot counter answers "try again in a second".
const SWAP_ATTEMPTS: usize = 16;

/// The prefix of each account's second-factor failure counter (then the account id).
pub const SECOND_FACTOR_PREFIX: &str = "second-factor:";

/// A rule over one counter key.
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    /// Consecutive failures with growing back-off.
    Backoff(Backoff),
    /// Failures within a fixed window.
    Window(Window),
}

impl Rule {
    fn begin(&self, current: Option<&Counter>, now: UnixTime) -> Attempt {
        match self {
            Rule::Backoff(backoff) => backoff.begin(current, now),
            Rule::Window(window) => window.begin(current, now),
        }
    }
}

/// Counts an attempt under `key` from `current` (the counter as just read, alone or with
/// other data), or refuses it when the rule does. Returns the stored counter, this attempt
/// included (provisionally as a failure).
pub async fn begin_attempt_from(
    store: &dyn Store,
    key: &str,
    rule: Rule,
    now: UnixTime,
    current: Option<Counter>,
) -> Result<Counter, Error> {
    let (_, counted) = count_attempt(store, key, rule, now, current).await?;
    Ok(counted)
}

/// [`begin_attempt_from`] for a counter not read yet: reads it first.
pub async fn begin_attempt(
    store: &dyn Store,
    key: &str,
    rule: Rule,
    now: UnixTime,
) -> Result<Counter, Error> {
    let current = store.throttle_counter(key).await?;
    begin_attempt_from(store, key, rule, now, current).await
}

/// [`begin_attempt_from`], also returning the counter as it was before.
async fn count_attempt(
    store: &dyn Store,
    key: &str,
    rule: Rule,
    now: UnixTime,
    current: Option<Counter>,
) -> Result<(Option<Counter>, Counter), Error> {
    let mut current = current;
    for attempt in 0..SWAP_ATTEMPTS {
        if attempt > 0 {
            current = store.throttle_counter(key).await?;
        }
        match rule.begin(current.as_ref(), now) {
            Attempt::Throttled { retry_after } => {
                return Err(Denial::TooManyAttempts { retry_after }.into())
            }
            Attempt::Allowed(next) => {
                if store.swap_counter(key, current.as_ref(), &next).await? {
                    return Ok((current, next));
                }
            }
        }
    }
    Err(Denial::TooManyAttempts { retry_after: 1 }.into())
}

/// The key of `account`'s second-factor failure counter.
pub fn second_factor_key(account: &AccountId) -> String {
    format!("{SECOND_FACTOR_PREFIX}{account}")
}

/// Refuses while `counter` (as just read) locks the second factor.
pub fn ensure_second_factor_allowed(counter: Option<&Counter>, now: UnixTime) -> Result<(), Error> {
    match SECOND_FACTOR_BACKOFF.begin(counter, now) {
        Attempt::Throttled { retry_after } => Err(Denial::TooManyAttempts { retry_after }.into()),
        Attempt::Allowed(_) => Ok(()),
    }
}

/// A second-factor attempt, counted against the account before the factor is judged.
/// End it with [`SecondFactorAttempt::succeeded`], [`SecondFactorAttempt::settled`] or
/// [`SecondFactorAttempt::failed`].
#[derive(Debug)]
#[must_use = "end the attempt with succeeded(), settled() or failed()"]
pub struct SecondFactorAttempt {
    /// Whose second factor.
    account: AccountId,
    /// The counter before this attempt was counted.
    before: Option<Counter>,
    /// The counter with this attempt counted.
    counter: Counter,
}

impl SecondFactorAttempt {
    /// Counts an attempt on `account`'s second factor from `current` (read with other
    /// data), reading it first when `None` is not known to be current.
    pub async fn begin_from(
        flow: &SignIn,
        account: &AccountId,
        current: Option<Counter>,
        now: UnixTime,
    ) -> Result<Self, Error> {
        let key = second_factor_key(account);
        let rule = Rule::Backoff(SECOND_FACTOR_BACKOFF);
        let (before, counter) = count_attempt(flow.store(), &key, rule, now, current).await?;
        Ok(Self {
            account: account.clone(),
            before,
            counter,
        })
    }

    /// Counts a wrong code judged from a challenge ticket, from "no failures", in line with
    /// the completions ([`crate::store::Store::count_judged_failure`]). `None` when the
    /// counter already held failures: nothing was counted.
    pub async fn count_judged(
        flow: &SignIn,
        account: &AccountId,
        now: UnixTime,
    ) -> Result<Option<Self>, Error> {
        let key = second_factor_key(account);
        let Attempt::Allowed(counter) = SECOND_FACTOR_BACKOFF.begin(None, now) else {
            return Ok(None);
        };
        let counted = flow
            .store()
            .count_judged_failure(account, &key, &counter)
            .await?;
        Ok(counted.then_some(Self {
            account: account.clone(),
            before: None,
            counter,
        }))
    }

    /// Counts an attempt on `account`'s second factor, reading its counter first.
    pub async fn begin(flow: &SignIn, account: &AccountId, now: UnixTime) -> Result<Self, Error> {
        let current = flow
            .store()
            .throttle_counter(&second_factor_key(account))
            .await?;
        Self::begin_from(flow, account, current, now).await
    }

    /// The factor was right and the store already cleared the counter with its change.
    pub fn settled(self) {}

    /// Not a failure after all (a dry-run check that matched a spent step): the counter
    /// goes back to what it was, unless another attempt moved it since, when this one
    /// stays counted.
    pub async fn undone(self, flow: &SignIn, now: UnixTime) -> Result<(), Error> {
        let before = self.before.unwrap_or(Counter {
            failures: 0,
            window_start: now,
            locked_until: UnixTime(0),
        });
        flow.store()
            .swap_counter(
                &second_factor_key(&self.account),
                Some(&self.counter),
                &before,
            )
            .await?;
        Ok(())
    }

    /// The factor was right: the consecutive failures start again from zero.
    pub async fn succeeded(self, flow: &SignIn) -> Result<(), Error> {
        flow.store()
            .clear_failures(&second_factor_key(&self.account))
            .await?;
        Ok(())
    }

    /// The factor was wrong: the failure stays counted, and when it locked the second
    /// factor that is recorded (and the owner told).
    pub async fn failed(
        self,
        flow: &SignIn,
        client: &ClientInfo,
        now: UnixTime,
    ) -> Result<(), Error> {
        if SECOND_FACTOR_BACKOFF.locks(&self.counter) {
            let details = json!({
                "factor": "second_factor",
                "failures": self.counter.failures,
                "until": self.counter.locked_until.to_rfc3339(),
            });
            flow.record(&self.account, EventKind::LockedOut, client, now, details)
                .await?;
        }
        Ok(())
    }
}
