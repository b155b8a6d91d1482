//! Maintenance windows: when a deployment may start, and whether it fits (pure).
//!
//! A window opens at every minute its cron schedule fires, on its time zone's clock, and
//! stays open `DurationSeconds`. Windows that overlap or touch make one open period. Times
//! are seconds since the epoch (UTC).
//!
//! Time zones: `UTC` and fixed offsets (`+02:00`, `-05:30`, `UTC+01:00`). IANA names
//! (`Europe/Berlin`) are refused with a clear error: honouring them means shipping or
//! reading the tz database (many device images have no `/usr/share/zoneinfo`, and an
//! embedded copy goes stale with the binary), and daylight saving makes windows ambiguous
//! (a 02:30 window does not exist one night a year and happens twice another). Intel's EMF
//! schedules in UTC for the same reasons. A fleet in one zone writes its offset, and moves
//! it twice a year if it must follow summer time.
//!
//! The fit rule: a deployment starts inside a window when its expected duration fits the
//! rest of the open period; when it does not, it waits for the next window whose period is
//! long enough. A deployment longer than every window would never fit: it starts within
//! the first minute of a window instead.

use super::calendar::rfc3339;
use super::cron::Cron;

/// A time zone baton can compute with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone {
    /// Seconds east of UTC.
    pub offset: i32,
}

impl TimeZone {
    pub const UTC: TimeZone = TimeZone { offset: 0 };

    pub fn parse(s: &str) -> Result<TimeZone, String> {
        let t = s.trim();
        if ["UTC", "Etc/UTC", "Z", "GMT", "Etc/GMT"].contains(&t) {
            return Ok(Self::UTC);
        }
        let rest = t.strip_prefix("UTC").unwrap_or(t);
        let bad = || {
            if t.contains('/') {
                format!("`{t}` is an IANA zone name; baton needs UTC or a fixed offset such as +02:00 (see README: Maintenance windows)")
            } else {
                format!("`{t}` is not UTC or a fixed offset such as +02:00 or -05:30")
            }
        };
        let (sign, hm) = match rest.as_bytes().first() {
            Some(b'+') => (1, &rest[1..]),
            Some(b'-') => (-1, &rest[1..]),
            _ => return Err(bad()),
        };
        let (h, m) = hm.split_once(':').unwrap_or((hm, "00"));
        let digits =
            |x: &str| !x.is_empty() && x.len() <= 2 && x.bytes().all(|b| b.is_ascii_digit());
        if !digits(h) || !digits(m) {
            return Err(bad());
        }
        let (h, m): (i32, i32) = match (h.parse(), m.parse()) {
            (Ok(h), Ok(m)) if h <= 14 && m < 60 => (h, m),
            _ => return Err(bad()),
        };
        if h * 60 + m > 14 * 60 {
            return Err(format!("`{t}`: an offset is at most 14 hours"));
        }
        Ok(TimeZone {
            offset: sign * (h * 3600 + m * 60),
        })
    }
}

/// One window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub cron: Cron,
    pub duration: i64,
    pub zone: TimeZone,
}

impl Window {
    /// The first start at or after `t`.
    fn next_start(&self, t: i64) -> Option<i64> {
        let off = i64::from(self.zone.offset);
        self.cron.next_at_or_after(t + off).map(|l| l - off)
    }
}

/// Every configured window. Empty: always open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Windows(pub Vec<Window>);

/// Open periods chained through at most this many windows (a schedule firing every
/// minute with an hour's duration chains forever; its period is "long enough").
const CHAIN_LIMIT: usize = 2000;

/// Starts looked at when searching the next window that fits.
const FIT_SEARCH: usize = 500;

/// What the window gate says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowDecision {
    /// No windows, or open (and the deployment fits).
    Proceed,
    /// Wait until `next` (a window start), for `why`.
    Wait { next: i64, message: String },
    /// No window ever opens again (cannot happen with parsed schedules; kept total).
    Never,
}

impl Windows {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The earliest window start strictly after `t`.
    pub fn next_start(&self, t: i64) -> Option<i64> {
        self.0.iter().filter_map(|w| w.next_start(t + 1)).min()
    }

    /// The open period holding `t`: (its start, its end), windows chained.
    pub fn open_period(&self, t: i64) -> Option<(i64, i64)> {
        let mut start = None;
        let mut end = None;
        for w in &self.0 {
            // Starts in (t - duration, t] hold t.
            let mut s = w.next_start(t - w.duration + 1);
            while let Some(st) = s.filter(|st| *st <= t) {
                start = Some(start.map_or(st, |x: i64| x.min(st)));
                end = Some(end.map_or(st + w.duration, |x: i64| x.max(st + w.duration)));
                s = w.next_start(st + 60);
            }
        }
        let (start, mut end) = (start?, end?);
        // Windows starting before the period ends extend it; each start is looked at once.
        let mut scanned = t;
        for _ in 0..CHAIN_LIMIT {
            let mut grown = end;
            for w in &self.0 {
                let mut s = w.next_start(scanned + 1);
                while let Some(st) = s.filter(|st| *st <= end) {
                    grown = grown.max(st + w.duration);
                    s = w.next_start(st + 60);
                }
            }
            scanned = end;
            if grown == end {
                break;
            }
            end = grown;
        }
        Some((start, end))
    }

    fn longest(&self) -> i64 {
        self.0.iter().map(|w| w.duration).max().unwrap_or(0)
    }

    /// Whether a deployment expected to take `expected` seconds may start at `now`. With
    /// `fit` false only "is a window open" counts (a deployment already under way).
    pub fn decide(&self, now: i64, expected: Option<i64>, fit: bool) -> WindowDecision {
        if self.is_empty() {
            return WindowDecision::Proceed;
        }
        if let Some((start, end)) = self.open_period(now) {
            let left = end - now;
            match expected {
                _ if !fit => return WindowDecision::Proceed,
                None => return WindowDecision::Proceed,
                Some(e) if e <= left => return WindowDecision::Proceed,
                Some(e) if e > self.longest() && now - start < 60 => {
                    return WindowDecision::Proceed
                }
                Some(e) => {
                    return match self.next_fitting_start(now, e) {
                        Some(next) => WindowDecision::Wait {
                            next,
                            message: format!(
                                "the expected duration ({e} s, from this System's history) does not fit the {left} s left of the maintenance window; the next window that fits opens at {}",
                                rfc3339(next)
                            ),
                        },
                        None => WindowDecision::Never,
                    }
                }
            }
        }
        let next = match expected {
            Some(e) => self.next_fitting_start(now, e),
            None => self.next_start(now),
        };
        match next {
            Some(next) => WindowDecision::Wait {
                next,
                message: format!(
                    "outside every maintenance window; the next opens at {}",
                    rfc3339(next)
                ),
            },
            None => WindowDecision::Never,
        }
    }

    /// The next start after `now` whose open period fits `expected` (or, for a deployment
    /// longer than every window, simply the next start).
    fn next_fitting_start(&self, now: i64, expected: i64) -> Option<i64> {
        let first = self.next_start(now)?;
        if expected > self.longest() {
            return Some(first);
        }
        let mut s = first;
        for _ in 0..FIT_SEARCH {
            if self
                .open_period(s)
                .is_some_and(|(_, end)| end - s >= expected)
            {
                return Some(s);
            }
            s = self.next_start(s)?;
        }
        Some(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::calendar::days_from_civil;

    fn at(d: u32, h: i64, m: i64) -> i64 {
        // March 2024; the 15th is a Friday.
        days_from_civil(2024, 3, d) * 86_400 + h * 3600 + m * 60
    }

    fn w(expr: &str, minutes: i64, tz: &str) -> Window {
        Window {
            cron: Cron::parse(expr).unwrap(),
            duration: minutes * 60,
            zone: TimeZone::parse(tz).unwrap(),
        }
    }

    #[test]
    fn time_zones() {
        assert_eq!(TimeZone::parse("UTC").unwrap(), TimeZone::UTC);
        assert_eq!(TimeZone::parse("+02:00").unwrap().offset, 7200);
        assert_eq!(TimeZone::parse("UTC-05:30").unwrap().offset, -19_800);
        assert!(TimeZone::parse("+0100").is_err());
        assert_eq!(TimeZone::parse("+01").unwrap().offset, 3600);
        let e = TimeZone::parse("Europe/Berlin").unwrap_err();
        assert!(e.contains("IANA zone name") && e.contains("+02:00"), "{e}");
        assert!(TimeZone::parse("+15:00").is_err());
        assert!(TimeZone::parse("+02:75").is_err());
    }

    #[test]
    fn the_window_table() {
        // Nightly 02:00-04:00 UTC.
        let nightly = Windows(vec![w("0 2 * * *", 120, "UTC")]);
        let rows: Vec<(&str, i64, Option<i64>, bool, WindowDecision)> = vec![
            (
                "no expectation, inside",
                at(15, 2, 30),
                None,
                true,
                WindowDecision::Proceed,
            ),
            (
                "fits the rest",
                at(15, 2, 30),
                Some(3600),
                true,
                WindowDecision::Proceed,
            ),
            (
                "exactly fits",
                at(15, 3, 0),
                Some(3600),
                true,
                WindowDecision::Proceed,
            ),
            (
                "does not fit the rest: the next window",
                at(15, 3, 30),
                Some(3600),
                true,
                WindowDecision::Wait {
                    next: at(16, 2, 0),
                    message: String::new(),
                },
            ),
            (
                "does not fit but already under way",
                at(15, 3, 30),
                Some(3600),
                false,
                WindowDecision::Proceed,
            ),
            (
                "outside: the next start",
                at(15, 10, 0),
                None,
                true,
                WindowDecision::Wait {
                    next: at(16, 2, 0),
                    message: String::new(),
                },
            ),
            (
                "at the end, the window is closed",
                at(15, 4, 0),
                None,
                true,
                WindowDecision::Wait {
                    next: at(16, 2, 0),
                    message: String::new(),
                },
            ),
            (
                "longer than any window: at its opening",
                at(15, 2, 0),
                Some(5 * 3600),
                true,
                WindowDecision::Proceed,
            ),
            (
                "longer than any window: not later in it",
                at(15, 2, 5),
                Some(5 * 3600),
                true,
                WindowDecision::Wait {
                    next: at(16, 2, 0),
                    message: String::new(),
                },
            ),
        ];
        for (what, now, expected, fit, want) in rows {
            let got = nightly.decide(now, expected, fit);
            let same = match (&got, &want) {
                (WindowDecision::Wait { next: a, .. }, WindowDecision::Wait { next: b, .. }) => {
                    a == b
                }
                (a, b) => a == b,
            };
            assert!(same, "{what}: {got:?}");
        }
        assert_eq!(
            Windows::default().decide(0, Some(1 << 40), true),
            WindowDecision::Proceed
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(100))]
        #[test]
        fn a_wait_ends_at_a_window_and_proceed_means_open(
            minute in 0u32..60, hour in 0u32..24, minutes in 1i64..300,
            offset_h in -12i32..13, now in 1_700_000_000i64..1_800_000_000,
            expected in proptest::option::of(0i64..20_000),
        ) {
            let tz = format!("{}{:02}:00", if offset_h < 0 { '-' } else { '+' }, offset_h.abs());
            let ws = Windows(vec![w(&format!("{minute} {hour} * * *"), minutes, &tz)]);
            match ws.decide(now, expected, true) {
                WindowDecision::Proceed => {
                    let (start, end) = ws.open_period(now).expect("open when it proceeds");
                    proptest::prop_assert!(start <= now && now < end);
                    if let Some(e) = expected {
                        // It fits, or it is longer than any window and the window just opened.
                        proptest::prop_assert!(e <= end - now || (e > minutes * 60 && now - start < 60));
                    }
                }
                WindowDecision::Wait { next, .. } => {
                    proptest::prop_assert!(next > now);
                    proptest::prop_assert_eq!(ws.open_period(next).map(|p| p.0), Some(next));
                    proptest::prop_assert!(next - now <= 86_400, "a daily window comes within a day");
                }
                WindowDecision::Never => proptest::prop_assert!(false, "a daily window never opens"),
            }
        }
    }

    #[test]
    fn offsets_shift_the_windows() {
        // 02:00 at +02:00 is 00:00 UTC.
        let ws = Windows(vec![w("0 2 * * *", 60, "+02:00")]);
        assert_eq!(ws.next_start(at(15, 10, 0)), Some(at(16, 0, 0)));
        assert_eq!(
            ws.open_period(at(16, 0, 30)),
            Some((at(16, 0, 0), at(16, 1, 0)))
        );
    }

    #[test]
    fn touching_windows_make_one_period_and_a_longer_one_is_waited_for() {
        // Weekdays 01:00-02:00, and Saturday 01:00 for five hours; and 02:00-03:00 daily.
        let ws = Windows(vec![
            w("0 1 * * mon-fri", 60, "UTC"),
            w("0 1 * * sat", 300, "UTC"),
            w("0 2 * * *", 60, "UTC"),
        ]);
        // Friday 01:00: 01:00-03:00 is one period (two windows touch).
        assert_eq!(
            ws.open_period(at(15, 1, 0)),
            Some((at(15, 1, 0), at(15, 3, 0)))
        );
        // Three hours do not fit on Friday at 01:00 (two hours): wait for Saturday 01:00.
        match ws.decide(at(15, 1, 0), Some(3 * 3600), true) {
            WindowDecision::Wait { next, message } => {
                assert_eq!(next, at(16, 1, 0));
                assert!(
                    message.contains("does not fit the 7200 s left"),
                    "{message}"
                );
                assert!(message.contains("2024-03-16T01:00:00Z"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        // Two hours fit on Friday.
        assert_eq!(
            ws.decide(at(15, 1, 0), Some(2 * 3600), true),
            WindowDecision::Proceed
        );
    }
}
