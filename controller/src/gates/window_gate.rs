//! The maintenance window gate: the IO edge of [`super::windows`] (the clock), and this
//! System's expected deployment duration, learnt from its history.
//!
//! At `BeforeFirstState` a deployment starts only inside a window it fits (the fit rule);
//! at `BeforeDisruptive` (after its downloads, possibly after waiting for a lock) only
//! inside a window: once a deployment installs, it finishes. Waiting answers carry the next
//! window's start as `until`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::clock::{self, Clock};
use super::seam::{BoxFuture, Gate, GateContext, GatePoint, Verdict};
use super::windows::{WindowDecision, Windows};
use crate::model::{HistoryEntry, Outcome, Reason};

/// How many of the newest successful deployments the expected duration is taken from.
pub const EXPECTED_FROM: usize = 5;

/// This System's expected deployment duration (pure): the median of its last
/// [`EXPECTED_FROM`] successful deployments (history entries `Succeeded`, newest first),
/// each without the time it waited at gates. `None` without any: the deployment is assumed
/// to fit any open window.
pub fn expected_duration(history: &[HistoryEntry]) -> Option<Duration> {
    let work: Vec<u64> = history
        .iter()
        .filter(|e| e.outcome == Outcome::Succeeded)
        .take(EXPECTED_FROM)
        .map(|e| e.duration_seconds.saturating_sub(e.waited_seconds))
        .collect();
    crate::planner::describe::expected_seconds(&work).map(Duration::from_secs)
}

pub struct WindowGate {
    windows: Windows,
    clock: Arc<dyn Clock>,
    expected: Mutex<Option<Duration>>,
}

impl WindowGate {
    pub fn new(windows: Windows, clock: Arc<dyn Clock>) -> Self {
        Self {
            windows,
            clock,
            expected: Mutex::new(None),
        }
    }

    /// The history changed: the expected duration follows it.
    pub fn learn(&self, history: &[HistoryEntry]) {
        *self.expected.lock().unwrap_or_else(|p| p.into_inner()) = expected_duration(history);
    }

    pub fn expected(&self) -> Option<Duration> {
        *self.expected.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When the next window opens, while none is open (status' `nextWindowAt`).
    pub fn next_window_at(&self) -> Option<std::time::SystemTime> {
        let now = clock::epoch(self.clock.wall());
        if self.windows.is_empty() || self.windows.open_period(now).is_some() {
            return None;
        }
        self.windows.next_start(now).map(clock::from_epoch)
    }

    fn decide(&self, fit: bool) -> Verdict {
        if self.windows.is_empty() {
            return Verdict::Proceed;
        }
        let now = clock::epoch(self.clock.wall());
        let expected = self.expected().map(|d| d.as_secs() as i64);
        match self.windows.decide(now, expected, fit) {
            WindowDecision::Proceed => Verdict::Proceed,
            WindowDecision::Wait { next, message } => Verdict::Wait {
                reason: Reason::WaitingForMaintenanceWindow,
                until: Some(clock::from_epoch(next)),
                message,
            },
            WindowDecision::Never => Verdict::Wait {
                reason: Reason::WaitingForMaintenanceWindow,
                until: None,
                message: "no maintenance window opens again".into(),
            },
        }
    }
}

impl Gate for WindowGate {
    fn check<'a>(&'a self, ctx: &'a GateContext) -> BoxFuture<'a, Verdict> {
        let v = match ctx.point {
            GatePoint::BeforeFirstState => self.decide(true),
            GatePoint::BeforeDisruptive => self.decide(false),
            _ => Verdict::Proceed,
        };
        Box::pin(std::future::ready(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(outcome: Outcome, duration: u64, waited: u64) -> HistoryEntry {
        HistoryEntry {
            waited_seconds: waited,
            ..HistoryEntry::sample(outcome, duration)
        }
    }

    #[test]
    fn the_expected_duration_is_the_median_of_recent_successes_without_waits() {
        use Outcome::*;
        assert_eq!(expected_duration(&[]), None);
        assert_eq!(
            expected_duration(&[entry(RolledBack, 50, 0), entry(UpToDate, 0, 0)]),
            None
        );
        let h = [
            entry(Succeeded, 100, 0),
            entry(RolledBack, 9999, 0),
            entry(Succeeded, 3700, 3600), // waited an hour for its window: 100 s of work
            entry(Succeeded, 400, 0),
            entry(Succeeded, 120, 0),
            entry(Succeeded, 90, 0),
            entry(Succeeded, 5000, 0), // the sixth success: too old to count
        ];
        // 100, 100, 400, 120, 90 -> 100.
        assert_eq!(expected_duration(&h), Some(Duration::from_secs(100)));
        assert_eq!(expected_duration(&h[..3]), Some(Duration::from_secs(100)));
        assert_eq!(
            expected_duration(&[entry(Succeeded, 10, 0), entry(Succeeded, 21, 0)]),
            Some(Duration::from_secs(15))
        );
    }
}
