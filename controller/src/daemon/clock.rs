//! Wall-clock time as status shows it: RFC 3339 in UTC, second resolution.
//!
//! Only timestamps for people and tools come from the wall clock; every wait, timeout and
//! backoff uses tokio's monotonic clock, so tests can pause it and a clock jump cannot
//! shorten or stretch a delay.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch, now.
#[allow(clippy::disallowed_methods)] // the wall clock, for timestamps people and tools read
pub fn now_epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `now` as RFC 3339.
pub fn now_rfc3339() -> String {
    rfc3339(now_epoch())
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(epoch: u64) -> String {
    crate::gates::calendar::rfc3339(epoch as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        for (epoch, text) in [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_700_000_000, "2023-11-14T22:13:20Z"),
            (4_102_444_799, "2099-12-31T23:59:59Z"),
            (1_709_251_199, "2024-02-29T23:59:59Z"),
        ] {
            assert_eq!(rfc3339(epoch), text, "{epoch}");
        }
    }

    #[test]
    fn consecutive_days_never_repeat_or_skip_a_date() {
        let mut prev = rfc3339(0);
        for day in 1..(200 * 366) {
            let cur = rfc3339(day * 86_400);
            assert!(cur > prev, "{prev} then {cur}");
            prev = cur;
        }
    }
}
