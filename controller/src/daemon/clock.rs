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
    let days = (epoch / 86_400) as i64;
    let secs = epoch % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
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
