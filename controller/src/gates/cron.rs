//! Five-field cron expressions, as Vixie cron and its descendants read them (pure).
//!
//! `minute hour day-of-month month day-of-week`, each a `,` list of `*`, `N`, `A-B`, with an
//! optional `/STEP` (`*/15`, `1-30/5`, and `5/10` for `5-<max>/10`); months and days of the
//! week also by their three-letter English names (`jan`, `mon`, any case); 0 and 7 are both
//! Sunday. As in cron, when both day fields are restricted (neither starts with `*`) a day
//! matches when *either* does: `0 2 1 * mon` is 02:00 on the first of the month and on every
//! Monday. `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight` and
//! `@hourly` are accepted; `@reboot` is not (a window needs a time).
//!
//! Times are seconds since the epoch on a local clock (the caller adds the time zone's
//! offset); a schedule that never fires (`0 0 30 2 *`) is refused when parsed.

use std::fmt;

use super::calendar::{civil_from_days, days_from_civil, weekday};

/// A parsed schedule.
#[derive(Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    /// Bits 1..=31.
    days: u32,
    /// Bits 1..=12.
    months: u16,
    /// Bits 0..=6, Sunday = 0.
    weekdays: u8,
    days_star: bool,
    weekdays_star: bool,
    text: String,
}

impl fmt::Debug for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cron({:?})", self.text)
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// What is wrong with an expression, in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}`: {problem}")]
pub struct CronError {
    pub text: String,
    pub problem: String,
}

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Field = Field {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY: Field = Field {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
const WEEKDAY: Field = Field {
    name: "day of week",
    min: 0,
    max: 7,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

/// How far ahead a schedule is searched: leap days on a given weekday recur within 28
/// years, but no window worth waiting for is that far; 8 years covers every Feb 29.
const HORIZON_DAYS: i64 = 366 * 8;

impl Field {
    fn value(&self, s: &str) -> Result<u32, String> {
        let lower = s.to_ascii_lowercase();
        if let Some(i) = self.names.iter().position(|n| *n == lower) {
            return Ok(self.min + i as u32);
        }
        let v: u32 = s.parse().map_err(|_| {
            let names = if self.names.is_empty() {
                String::new()
            } else {
                format!(" or a name ({})", self.names.join(", "))
            };
            format!(
                "{} `{s}` is not a number from {} to {}{names}",
                self.name, self.min, self.max
            )
        })?;
        if v < self.min || v > self.max {
            return Err(format!(
                "{} {v} is out of range {}-{}",
                self.name, self.min, self.max
            ));
        }
        Ok(v)
    }

    /// The set of values, as bits.
    fn parse(&self, text: &str) -> Result<u64, String> {
        let mut bits = 0u64;
        for item in text.split(',') {
            let (range, step) = match item.split_once('/') {
                Some((r, s)) => {
                    let step: u32 = s.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                        format!("{} step `{s}` is not a positive number", self.name)
                    })?;
                    (r, step)
                }
                None => (item, 1),
            };
            let (lo, hi) = if range == "*" {
                (self.min, self.max)
            } else if let Some((a, b)) = range.split_once('-') {
                let (a, b) = (self.value(a)?, self.value(b)?);
                if a > b {
                    return Err(format!(
                        "{} range `{range}` runs backwards (write it as two ranges)",
                        self.name
                    ));
                }
                (a, b)
            } else if range.is_empty() {
                return Err(format!("{} has an empty item in `{text}`", self.name));
            } else {
                let a = self.value(range)?;
                // `5/10` means `5-<max>/10`, as cronie reads it.
                (a, if item.contains('/') { self.max } else { a })
            };
            let mut v = lo;
            while v <= hi {
                bits |= 1 << v;
                v += step;
            }
        }
        Ok(bits)
    }
}

impl Cron {
    pub fn parse(text: &str) -> Result<Cron, CronError> {
        let err = |problem: String| CronError {
            text: text.to_string(),
            problem,
        };
        let trimmed = text.trim();
        let expanded = match trimmed.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            s if s.starts_with('@') => {
                return Err(err(format!(
                    "unknown macro `{trimmed}` (expected @yearly, @monthly, @weekly, @daily or @hourly)"
                )))
            }
            _ => trimmed,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(err(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), found {}",
                fields.len()
            )));
        }
        let weekdays = WEEKDAY.parse(fields[4]).map_err(&err)?;
        // 7 is Sunday too.
        let weekdays = ((weekdays | (weekdays >> 7)) & 0x7f) as u8;
        let cron = Cron {
            minutes: MINUTE.parse(fields[0]).map_err(&err)?,
            hours: HOUR.parse(fields[1]).map_err(&err)? as u32,
            days: DAY.parse(fields[2]).map_err(&err)? as u32,
            months: MONTH.parse(fields[3]).map_err(&err)? as u16,
            weekdays,
            days_star: fields[2].starts_with('*'),
            weekdays_star: fields[4].starts_with('*'),
            text: trimmed.to_string(),
        };
        // From a leap year's first day, every date and weekday comes within the horizon.
        if cron
            .next_at_or_after(days_from_civil(2024, 1, 1) * 86_400)
            .is_none()
        {
            return Err(err(
                "never matches a date (day of month and month never meet)".into(),
            ));
        }
        Ok(cron)
    }

    /// Whether the schedule fires on this day.
    fn day_matches(&self, days: i64) -> bool {
        let (_, m, d) = civil_from_days(days);
        if self.months & (1 << m) == 0 {
            return false;
        }
        let dom = self.days & (1 << d) != 0;
        let dow = self.weekdays & (1 << weekday(days)) != 0;
        match (self.days_star, self.weekdays_star) {
            (true, true) => true,
            (true, false) => dow,
            (false, true) => dom,
            (false, false) => dom || dow,
        }
    }

    /// Whether the schedule fires at the minute holding `t` (local seconds).
    pub fn matches(&self, t: i64) -> bool {
        let days = t.div_euclid(86_400);
        let secs = t.rem_euclid(86_400);
        self.day_matches(days)
            && self.hours & (1 << (secs / 3600)) != 0
            && self.minutes & (1 << (secs / 60 % 60)) != 0
    }

    /// The first minute at or after `t` (local seconds) at which the schedule fires, as the
    /// start of that minute; `None` beyond the search horizon.
    pub fn next_at_or_after(&self, t: i64) -> Option<i64> {
        // Round up to a whole minute.
        let mut t = t.div_euclid(60) * 60 + if t.rem_euclid(60) > 0 { 60 } else { 0 };
        for _ in 0..HORIZON_DAYS {
            let days = t.div_euclid(86_400);
            if self.day_matches(days) {
                let secs = t - days * 86_400;
                let (h0, m0) = (secs / 3600, secs / 60 % 60);
                for h in h0..24 {
                    if self.hours & (1 << h) == 0 {
                        continue;
                    }
                    let from = if h == h0 { m0 } else { 0 };
                    if let Some(m) = (from..60).find(|m| self.minutes & (1 << m) != 0) {
                        return Some(days * 86_400 + h * 3600 + m * 60);
                    }
                }
            }
            t = (days + 1) * 86_400;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(y: i64, mo: u32, d: u32, h: i64, mi: i64) -> i64 {
        days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60
    }

    #[test]
    fn next_times_by_table() {
        // 2024-03-15 is a Friday.
        let fri_1000 = at(2024, 3, 15, 10, 0);
        for (expr, from, want) in [
            ("* * * * *", fri_1000 + 1, at(2024, 3, 15, 10, 1)),
            ("* * * * *", fri_1000, fri_1000),
            ("*/15 * * * *", fri_1000 + 60, at(2024, 3, 15, 10, 15)),
            ("0 2 * * *", fri_1000, at(2024, 3, 16, 2, 0)),
            ("30 1 * * mon-fri", fri_1000, at(2024, 3, 18, 1, 30)),
            ("0 0 1 * *", fri_1000, at(2024, 4, 1, 0, 0)),
            ("0 0 29 2 *", fri_1000, at(2028, 2, 29, 0, 0)),
            // Either day field: the 20th (a Wednesday) or any Sunday (the 17th).
            ("0 3 20 * sun", fri_1000, at(2024, 3, 17, 3, 0)),
            // A star-led day of week leaves only the day of month (Vixie's rule).
            ("0 3 20 * */2", fri_1000, at(2024, 3, 20, 3, 0)),
            ("0 22 * * 7", fri_1000, at(2024, 3, 17, 22, 0)),
            ("5/20 9-11 * * *", fri_1000, at(2024, 3, 15, 10, 5)),
            ("0 0 * DEC *", fri_1000, at(2024, 12, 1, 0, 0)),
            ("@weekly", fri_1000, at(2024, 3, 17, 0, 0)),
            ("@hourly", fri_1000 + 1, at(2024, 3, 15, 11, 0)),
            ("0,30 23 31 * *", fri_1000, at(2024, 3, 31, 23, 0)),
        ] {
            let c = Cron::parse(expr).unwrap();
            assert_eq!(c.next_at_or_after(from), Some(want), "{expr}");
            assert!(c.matches(want), "{expr}");
        }
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        for (expr, says) in [
            ("* * * *", "expected 5 fields"),
            ("61 * * * *", "minute 61 is out of range 0-59"),
            ("* 24 * * *", "hour 24 is out of range 0-23"),
            ("* * 0 * *", "day of month 0 is out of range 1-31"),
            ("* * * 13 *", "month 13 is out of range 1-12"),
            ("* * * * 8", "day of week 8 is out of range 0-7"),
            ("*/0 * * * *", "step `0` is not a positive number"),
            ("5-1 * * * *", "runs backwards"),
            ("x * * * *", "minute `x` is not a number"),
            ("* * * foo *", "or a name (jan,"),
            ("1,,2 * * * *", "empty item"),
            ("0 0 30 2 *", "never matches"),
            ("@reboot", "unknown macro"),
        ] {
            let e = Cron::parse(expr).unwrap_err().to_string();
            assert!(e.contains(says), "{expr}: {e}");
            assert!(e.starts_with(&format!("`{expr}`")), "{e}");
        }
    }

    /// The oracle: the first matching minute, one minute at a time.
    fn brute(c: &Cron, from: i64, limit: i64) -> Option<i64> {
        let mut t = (from + 59).div_euclid(60) * 60;
        while t < from + limit {
            if c.matches(t) {
                return Some(t);
            }
            t += 60;
        }
        None
    }

    fn field(max: u32, min: u32) -> impl Strategy<Value = String> {
        prop_oneof![
            Just("*".to_string()),
            (min..=max).prop_map(|v| v.to_string()),
            (min..=max, min..=max).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
            (1u32..6).prop_map(|s| format!("*/{s}")),
            (min..=max, min..=max).prop_map(|(a, b)| format!("{a},{b}")),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn next_is_the_first_matching_minute(
            m in field(59, 0), h in field(23, 0), d in prop_oneof![Just("*".to_string()), field(28, 1)],
            wd in field(7, 0), from in 1_700_000_000i64..1_800_000_000,
        ) {
            let expr = format!("{m} {h} {d} * {wd}");
            let c = Cron::parse(&expr).unwrap();
            // Every such schedule fires at least once a month.
            let want = brute(&c, from, 40 * 86_400);
            prop_assert!(want.is_some(), "{}", expr);
            prop_assert_eq!(c.next_at_or_after(from), want, "{}", expr);
        }
    }
}
