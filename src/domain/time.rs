//! Points in time as whole Unix seconds: the portable encoding stored in both databases
//! (`i64`), rendered as RFC 3339 UTC in the API.

use serde::{Serialize, Serializer};
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Seconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(pub i64);

impl UnixTime {
    /// This time plus a duration (saturating).
    pub fn plus(self, duration: Duration) -> Self {
        let seconds = i64::try_from(duration.as_secs()).unwrap_or(i64::MAX);
        UnixTime(self.0.saturating_add(seconds))
    }

    /// This time plus a number of seconds (saturating).
    pub fn plus_seconds(self, seconds: i64) -> Self {
        UnixTime(self.0.saturating_add(seconds))
    }

    /// Whole seconds from `self` until `later` (zero when `later` is not later).
    pub fn seconds_until(self, later: UnixTime) -> u64 {
        u64::try_from(later.0.saturating_sub(self.0)).unwrap_or(0)
    }

    /// RFC 3339 in UTC, e.g. `2026-11-23T01:00:00Z`.
    pub fn to_rfc3339(self) -> String {
        OffsetDateTime::from_unix_timestamp(self.0)
            .ok()
            .and_then(|at| at.format(&Rfc3339).ok())
            .unwrap_or_else(|| self.0.to_string())
    }
}

impl Serialize for UnixTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_rfc3339_utc() {
        assert_eq!(UnixTime(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(UnixTime(1_111_111_109).to_rfc3339(), "2005-03-18T01:58:29Z");
    }

    #[test]
    fn arithmetic_saturates_and_never_goes_negative() {
        assert_eq!(UnixTime(10).plus(Duration::from_secs(5)), UnixTime(15));
        assert_eq!(UnixTime(i64::MAX).plus_seconds(1), UnixTime(i64::MAX));
        assert_eq!(UnixTime(10).seconds_until(UnixTime(25)), 15);
        assert_eq!(UnixTime(30).seconds_until(UnixTime(25)), 0);
    }

    #[test]
    fn serializes_as_a_string() {
        let json = serde_json::to_string(&UnixTime(86_400)).unwrap_or_default();
        assert_eq!(json, "\"1970-01-02T00:00:00Z\"");
    }
}
