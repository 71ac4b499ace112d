//! Throttle counter rows, including the counter of a `LEFT JOIN` that may find none.

use crate::domain::throttle::Counter;
use crate::domain::time::UnixTime;

#[derive(sqlx::FromRow)]
pub(in crate::store) struct CounterRow {
    pub failures: i64,
    pub window_start: i64,
    pub locked_until: i64,
}

impl CounterRow {
    /// The counter of a `LEFT JOIN`: none when the join found no row.
    pub fn joined(
        failures: Option<i64>,
        window_start: Option<i64>,
        locked_until: Option<i64>,
    ) -> Option<Counter> {
        match (failures, window_start, locked_until) {
            (Some(failures), Some(window_start), Some(locked_until)) => Some(
                CounterRow {
                    failures,
                    window_start,
                    locked_until,
                }
                .into(),
            ),
            _ => None,
        }
    }
}

impl From<CounterRow> for Counter {
    fn from(row: CounterRow) -> Self {
        Counter {
            failures: u32::try_from(row.failures).unwrap_or(u32::MAX),
            window_start: UnixTime(row.window_start),
            locked_until: UnixTime(row.locked_until),
        }
    }
}
