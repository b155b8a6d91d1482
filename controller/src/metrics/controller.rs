//! The reconcile loop and what the controller says about the System: controller-runtime's
//! reconcile metrics, the controller's phase, the status conditions, generations, backoff,
//! drift, and every finished deployment.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::{HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec};

use super::labels::{self, ReconcileResult};
use super::{one_hot, Def, Metrics, Vocabulary, CONTROLLER};
use crate::model::{ConditionStatus, ConditionType, HistoryEntry, Outcome, Status, Topology};

/// controller-runtime's buckets stop at 60 s; a reconcile that deploys can take hours.
const RECONCILE_BUCKETS: [f64; 17] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
    3600.0, 14400.0,
];

/// A deployment takes seconds for a sensor and hours for an ECU flashed over a slow bus.
const DEPLOYMENT_BUCKETS: [f64; 13] = [
    1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0,
];

#[derive(Clone)]
pub(super) struct Families {
    reconcile_total: IntCounterVec,
    reconcile_errors_total: IntCounterVec,
    reconcile_time_seconds: HistogramVec,
    build_info: IntGaugeVec,
    system_info: IntGaugeVec,
    /// The system type `system_info` carries now (it changes only with the Topology).
    system_type: Arc<Mutex<Option<String>>>,
    phase: IntGaugeVec,
    condition: IntGaugeVec,
    desired_generation: IntGauge,
    observed_generation: IntGauge,
    failures: IntGauge,
    suspended: IntGauge,
    drift_total: IntCounterVec,
    deployments_total: IntCounterVec,
    deployment_seconds: HistogramVec,
    rollbacks_total: IntCounter,
}

impl Families {
    pub(super) fn new(d: &Def) -> Self {
        Self {
            reconcile_total: d.counters(
                "controller_runtime_reconcile_total",
                "Total number of reconciliations per controller",
                &["controller", "result"],
            ),
            reconcile_errors_total: d.counters(
                "controller_runtime_reconcile_errors_total",
                "Total number of reconciliation errors per controller",
                &["controller"],
            ),
            reconcile_time_seconds: d.histograms(
                "controller_runtime_reconcile_time_seconds",
                "Length of time per reconciliation per controller",
                &["controller"],
                &RECONCILE_BUCKETS,
            ),
            build_info: d.gauges(
                "baton_build_info",
                "Always 1; the labels say which baton is running",
                &["version"],
            ),
            system_info: d.gauges(
                "baton_system_info",
                "Always 1; the Topology's system type, for joins in fleet views",
                &["system_type"],
            ),
            system_type: Arc::new(Mutex::new(None)),
            phase: d.gauges(
                "baton_controller_phase",
                "1 for what the controller is doing about the desired state, 0 for the other phases",
                &["phase"],
            ),
            condition: d.gauges(
                "baton_condition",
                "1 for each status condition's current status, 0 for its other statuses",
                &["type", "status"],
            ),
            desired_generation: d.gauge(
                "baton_desired_generation",
                "The newest desired generation (0: no desired state yet)",
            ),
            observed_generation: d.gauge(
                "baton_observed_generation",
                "The desired generation the System was last brought in sync with",
            ),
            failures: d.gauge(
                "baton_reconcile_failures",
                "Failed attempts at the desired generation since its last success",
            ),
            suspended: d.gauge(
                "baton_suspended",
                "1 while new reconciles are suspended by the operator",
            ),
            drift_total: d.counters(
                "baton_drift_detected_total",
                "Times components were found no longer running their desired Artifacts",
                &["action"],
            ),
            deployments_total: d.counters(
                "baton_deployments_total",
                "Finished deployments by who drove them and how they ended",
                &["driver", "result"],
            ),
            deployment_seconds: d.histograms(
                "baton_deployment_duration_seconds",
                "How long finished deployments took, by how they ended",
                &["result"],
                &DEPLOYMENT_BUCKETS,
            ),
            rollbacks_total: d.counter(
                "baton_rollbacks_total",
                "Deployments that failed and rolled the System back (completely or not)",
            ),
        }
    }

    pub(super) fn init(&self, v: &Vocabulary) {
        for r in ReconcileResult::ALL {
            self.reconcile_total
                .with_label_values(&[CONTROLLER, r.label()]);
        }
        self.reconcile_errors_total.with_label_values(&[CONTROLLER]);
        self.reconcile_time_seconds.with_label_values(&[CONTROLLER]);
        self.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        for p in &v.controller_phases {
            self.phase.with_label_values(&[p]);
        }
        for t in ConditionType::ALL {
            for s in ConditionStatus::ALL {
                self.condition.with_label_values(&[t.as_str(), s.as_str()]);
            }
        }
        for a in labels::DRIFT_ACTIONS {
            self.drift_total.with_label_values(&[a]);
        }
        for d in labels::DRIVERS {
            for r in Outcome::ALL {
                self.deployments_total.with_label_values(&[d, r.label()]);
            }
        }
        for r in Outcome::ALL {
            self.deployment_seconds.with_label_values(&[r.label()]);
        }
    }

    /// The scalar gauges and the conditions, from the status document.
    pub(super) fn mirror(&self, s: &Status) {
        self.desired_generation.set(gauge_value(s.generation));
        self.observed_generation
            .set(gauge_value(s.observed_generation));
        self.failures.set(i64::from(s.failures));
        self.suspended.set(i64::from(s.suspended));
        for c in &s.conditions {
            for st in ConditionStatus::ALL {
                self.condition
                    .with_label_values(&[c.type_.as_str(), st.as_str()])
                    .set(i64::from(st == c.status));
            }
        }
    }

    pub(super) fn system(&self, system_type: &str) {
        let mut current = self.system_type.lock().unwrap_or_else(|p| p.into_inner());
        if current.as_deref() == Some(system_type) {
            return;
        }
        if let Some(old) = current.take() {
            let _ = self.system_info.remove_label_values(&[&old]);
        }
        self.system_info.with_label_values(&[system_type]).set(1);
        *current = Some(system_type.to_string());
    }
}

fn gauge_value(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Metrics {
    /// One reconcile ended.
    pub fn reconciled(&self, result: ReconcileResult, took: Duration) {
        let c = &self.controller;
        c.reconcile_total
            .with_label_values(&[CONTROLLER, result.label()])
            .inc();
        if result == ReconcileResult::Error {
            c.reconcile_errors_total
                .with_label_values(&[CONTROLLER])
                .inc();
        }
        c.reconcile_time_seconds
            .with_label_values(&[CONTROLLER])
            .observe(took.as_secs_f64());
    }

    /// The controller entered the phase labelled `phase` (its `Phase::label`).
    pub fn phase(&self, phase: &'static str) {
        one_hot(
            &self.controller.phase,
            &self.vocabulary.controller_phases,
            phase,
        );
    }

    /// Components were found drifted; `corrected` when the drift policy corrects them.
    pub fn drift_detected(&self, corrected: bool) {
        let action = if corrected { "corrected" } else { "reported" };
        self.controller
            .drift_total
            .with_label_values(&[action])
            .inc();
    }

    /// A deployment finished and went into the history.
    pub fn deployment_finished(&self, e: &HistoryEntry) {
        let c = &self.controller;
        let result = e.outcome.label();
        c.deployments_total
            .with_label_values(&[labels::driver(&e.driver), result])
            .inc();
        c.deployment_seconds
            .with_label_values(&[result])
            .observe(e.duration_seconds as f64);
        if matches!(e.outcome, Outcome::RolledBack | Outcome::Failed) {
            c.rollbacks_total.inc();
        }
    }

    /// The engine loaded the Topology: the System's type, and every Interface's call
    /// counters created at 0 (so the first failure of a call shows in `increase()`).
    pub fn topology_loaded(&self, t: &Topology) {
        self.controller.system(&t.system_type);
        self.interface.init(t, &self.vocabulary);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{condition, status, value, vocabulary, PHASES};
    use super::*;

    #[test]
    fn the_phase_and_the_conditions_are_one_hot() {
        let m = Metrics::new(vocabulary());
        m.phase("recovering");
        let text = m.render();
        assert_eq!(
            value(&text, "baton_controller_phase{phase=\"recovering\"}"),
            Some(1.0)
        );
        assert_eq!(
            value(&text, "baton_condition{status=\"True\",type=\"Stalled\"}"),
            Some(0.0),
            "{text}"
        );
        m.phase("stalled");
        let mut s = status();
        s.conditions = vec![
            condition(ConditionType::Ready, ConditionStatus::False),
            condition(ConditionType::Progressing, ConditionStatus::False),
            condition(ConditionType::Degraded, ConditionStatus::True),
            condition(ConditionType::Stalled, ConditionStatus::True),
        ];
        s.generation = 3;
        s.observed_generation = 2;
        s.failures = 3;
        m.status(&s);
        let text = m.render();
        let phases: Vec<f64> = PHASES
            .iter()
            .map(|p| value(&text, &format!("baton_controller_phase{{phase=\"{p}\"}}")).unwrap())
            .collect();
        assert_eq!(phases.iter().sum::<f64>(), 1.0, "{text}");
        assert_eq!(
            value(&text, "baton_controller_phase{phase=\"stalled\"}"),
            Some(1.0)
        );
        for (t, want) in [
            ("Ready", "False"),
            ("Degraded", "True"),
            ("Stalled", "True"),
            ("Progressing", "False"),
        ] {
            for st in ["True", "False", "Unknown"] {
                let series = format!("baton_condition{{status=\"{st}\",type=\"{t}\"}}");
                assert_eq!(
                    value(&text, &series),
                    Some(if st == want { 1.0 } else { 0.0 }),
                    "{series}"
                );
            }
        }
        assert_eq!(value(&text, "baton_desired_generation"), Some(3.0));
        assert_eq!(value(&text, "baton_observed_generation"), Some(2.0));
        assert_eq!(value(&text, "baton_reconcile_failures"), Some(3.0));
    }

    fn entry(outcome: Outcome, driver: &str, seconds: u64) -> HistoryEntry {
        HistoryEntry {
            id: "d1".into(),
            driver: driver.into(),
            ..HistoryEntry::sample(outcome, seconds)
        }
    }

    #[test]
    fn finished_deployments_count_by_driver_and_result_and_rollbacks_apart() {
        let m = Metrics::default();
        m.deployment_finished(&entry(Outcome::Succeeded, "controller", 12));
        m.deployment_finished(&entry(Outcome::RolledBack, "update-module", 40));
        m.deployment_finished(&entry(Outcome::Failed, "controller", 7));
        m.deployment_finished(&entry(Outcome::Rejected, "controller", 0));
        let text = m.render();
        let get = |s: &str| value(&text, s).unwrap_or(-1.0);
        assert_eq!(
            get("baton_deployments_total{driver=\"controller\",result=\"succeeded\"}"),
            1.0
        );
        assert_eq!(
            get("baton_deployments_total{driver=\"update-module\",result=\"rolled_back\"}"),
            1.0
        );
        assert_eq!(
            get("baton_deployments_total{driver=\"controller\",result=\"rolled_back\"}"),
            0.0
        );
        assert_eq!(get("baton_rollbacks_total"), 2.0, "rolled back and failed");
        assert_eq!(
            get("baton_deployment_duration_seconds_bucket{result=\"succeeded\",le=\"10\"}"),
            0.0
        );
        assert_eq!(
            get("baton_deployment_duration_seconds_bucket{result=\"succeeded\",le=\"30\"}"),
            1.0
        );
        assert_eq!(
            get("baton_deployment_duration_seconds_sum{result=\"rolled_back\"}"),
            40.0
        );
    }

    #[test]
    fn the_system_type_follows_the_topology() {
        let m = Metrics::default();
        let topology = |t: &str| Topology {
            system_type: t.into(),
            components: vec![],
        };
        m.topology_loaded(&topology("car"));
        m.topology_loaded(&topology("car"));
        m.topology_loaded(&topology("drone"));
        let text = m.render();
        assert_eq!(
            value(&text, "baton_system_info{system_type=\"drone\"}"),
            Some(1.0)
        );
        assert_eq!(value(&text, "baton_system_info{system_type=\"car\"}"), None);
    }

    #[test]
    fn an_error_counts_in_both_counters_and_the_histogram() {
        let m = Metrics::default();
        m.reconciled(ReconcileResult::Error, Duration::from_millis(20));
        m.reconciled(ReconcileResult::Success, Duration::from_millis(3));
        m.drift_detected(true);
        let text = m.render();
        let get = |s: &str| value(&text, s).unwrap_or(-1.0);
        assert_eq!(
            get("controller_runtime_reconcile_total{controller=\"baton\",result=\"error\"}"),
            1.0
        );
        assert_eq!(
            get("controller_runtime_reconcile_total{controller=\"baton\",result=\"success\"}"),
            1.0
        );
        assert_eq!(
            get("controller_runtime_reconcile_errors_total{controller=\"baton\"}"),
            1.0
        );
        assert_eq!(
            get("controller_runtime_reconcile_time_seconds_count{controller=\"baton\"}"),
            2.0
        );
        assert_eq!(
            get("controller_runtime_reconcile_time_seconds_bucket{controller=\"baton\",le=\"0.005\"}"),
            1.0
        );
        assert_eq!(get("baton_drift_detected_total{action=\"corrected\"}"), 1.0);
        assert_eq!(get("baton_drift_detected_total{action=\"reported\"}"), 0.0);
    }
}
