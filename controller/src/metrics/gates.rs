//! The gates between plan and execute: what a deployment waits for, why gates ended or
//! held back deployments, and when the next maintenance window opens.
//!
//! `baton_gate_waiting` mirrors the status document's `gate` (the board calls
//! [`Metrics::status`]); the others are recorded by the controller with one-line calls.

use prometheus::{IntCounterVec, IntGauge, IntGaugeVec};

use super::{one_hot, Def, Metrics};
use crate::model::{Reason, Status};

/// The reasons a deployment waits at a gate.
pub const WAIT_REASONS: [Reason; 4] = [
    Reason::WaitingForMaintenanceWindow,
    Reason::UpdateLocked,
    Reason::AwaitingConsent,
    Reason::HealthSoak,
];

/// The reasons a gate or the update policy ends (or holds back) a deployment.
pub const REFUSAL_REASONS: [Reason; 7] = [
    Reason::Superseded,
    Reason::InsufficientSpace,
    Reason::UpdateLocked,
    Reason::ConsentDenied,
    Reason::HealthCheckFailed,
    Reason::NotNewer,
    Reason::NotPinned,
];

#[derive(Clone)]
pub(super) struct Families {
    waiting: IntGaugeVec,
    refusals: IntCounterVec,
    next_window: IntGauge,
}

impl Families {
    pub(super) fn new(d: &Def) -> Self {
        Self {
            waiting: d.gauges(
                "baton_gate_waiting",
                "1 for the reason the deployment in flight waits at a gate, 0 for the others",
                &["reason"],
            ),
            refusals: d.counters(
                "baton_gate_refusals_total",
                "Deployments a gate ended or the update policy held back, by reason",
                &["reason"],
            ),
            next_window: d.gauge(
                "baton_maintenance_window_next_start_timestamp_seconds",
                "When the next maintenance window opens, seconds since the epoch (0: none configured, or one is open)",
            ),
        }
    }

    pub(super) fn init(&self) {
        one_hot(&self.waiting, &WAIT_REASONS.map(Reason::as_str), "");
        for r in REFUSAL_REASONS {
            self.refusals.with_label_values(&[r.as_str()]).inc_by(0);
        }
    }

    pub(super) fn mirror(&self, s: &Status) {
        let now = s.gate.as_ref().map_or("", |g| g.reason.as_str());
        one_hot(&self.waiting, &WAIT_REASONS.map(Reason::as_str), now);
    }
}

impl Metrics {
    /// A gate ended a deployment, or the update policy held one back.
    pub fn gate_refused(&self, reason: Reason) {
        if REFUSAL_REASONS.contains(&reason) {
            self.gates
                .refusals
                .with_label_values(&[reason.as_str()])
                .inc();
        }
    }

    /// When the next maintenance window opens (seconds since the epoch), if one is due.
    pub fn next_window(&self, at: Option<i64>) {
        self.gates.next_window.set(at.unwrap_or(0));
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::value;
    use super::*;

    #[test]
    fn waits_mirror_status_and_refusals_count_known_reasons() {
        let m = Metrics::default();
        let t = m.render();
        assert_eq!(
            value(&t, "baton_gate_waiting{reason=\"UpdateLocked\"}"),
            Some(0.0)
        );
        assert_eq!(
            value(&t, "baton_gate_refusals_total{reason=\"Superseded\"}"),
            Some(0.0)
        );
        m.gate_refused(Reason::ConsentDenied);
        m.gate_refused(Reason::InstallFailed); // not a gate's: not counted
        m.next_window(Some(1_700_000_000));
        let t = m.render();
        assert_eq!(
            value(&t, "baton_gate_refusals_total{reason=\"ConsentDenied\"}"),
            Some(1.0)
        );
        assert!(!t.contains("baton_gate_refusals_total{reason=\"InstallFailed\"}"));
        assert_eq!(
            value(&t, "baton_maintenance_window_next_start_timestamp_seconds"),
            Some(1.7e9)
        );
    }
}
