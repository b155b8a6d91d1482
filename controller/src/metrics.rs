//! Every metric baton exports, in one place with one naming scheme.
//!
//! The reconcile metrics reuse controller-runtime's names, so dashboards written for
//! Kubernetes controllers read baton's; baton's own metrics start with `baton_`. Every label
//! set is created at start (value 0) so a series exists before its first event. Other rooms
//! record through the methods here and never define metrics of their own.

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The `controller` label: baton has one reconciler.
pub const CONTROLLER: &str = "baton";

/// How one reconcile ended, as controller-runtime counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconcileResult {
    Success,
    Error,
    Requeue,
    RequeueAfter,
}

impl ReconcileResult {
    pub const ALL: [ReconcileResult; 4] = [
        ReconcileResult::Success,
        ReconcileResult::Error,
        ReconcileResult::Requeue,
        ReconcileResult::RequeueAfter,
    ];
    pub fn label(self) -> &'static str {
        match self {
            ReconcileResult::Success => "success",
            ReconcileResult::Error => "error",
            ReconcileResult::Requeue => "requeue",
            ReconcileResult::RequeueAfter => "requeue_after",
        }
    }
}

/// The registry and every metric in it.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    reconcile_total: IntCounterVec,
    reconcile_errors_total: IntCounterVec,
    reconcile_time_seconds: HistogramVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let reconcile_total = IntCounterVec::new(
            Opts::new(
                "controller_runtime_reconcile_total",
                "Total number of reconciliations per controller",
            ),
            &["controller", "result"],
        )
        .expect("valid metric");
        let reconcile_errors_total = IntCounterVec::new(
            Opts::new(
                "controller_runtime_reconcile_errors_total",
                "Total number of reconciliation errors per controller",
            ),
            &["controller"],
        )
        .expect("valid metric");
        // controller-runtime's buckets stop at 60 s; a deployment can take hours.
        let reconcile_time_seconds = HistogramVec::new(
            HistogramOpts::new(
                "controller_runtime_reconcile_time_seconds",
                "Length of time per reconciliation per controller",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
                900.0, 3600.0, 14400.0,
            ]),
            &["controller"],
        )
        .expect("valid metric");
        let build_info = IntGaugeVec::new(
            Opts::new(
                "baton_build_info",
                "Always 1; the labels say which baton is running",
            ),
            &["version"],
        )
        .expect("valid metric");
        for c in [
            Box::new(reconcile_total.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(reconcile_errors_total.clone()),
            Box::new(reconcile_time_seconds.clone()),
            Box::new(build_info.clone()),
        ] {
            registry.register(c).expect("unique metric names");
        }
        for r in ReconcileResult::ALL {
            reconcile_total.with_label_values(&[CONTROLLER, r.label()]);
        }
        reconcile_errors_total.with_label_values(&[CONTROLLER]);
        reconcile_time_seconds.with_label_values(&[CONTROLLER]);
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        Self {
            registry,
            reconcile_total,
            reconcile_errors_total,
            reconcile_time_seconds,
        }
    }

    /// One reconcile ended.
    pub fn reconciled(&self, result: ReconcileResult, took: Duration) {
        self.reconcile_total
            .with_label_values(&[CONTROLLER, result.label()])
            .inc();
        if result == ReconcileResult::Error {
            self.reconcile_errors_total
                .with_label_values(&[CONTROLLER])
                .inc();
        }
        self.reconcile_time_seconds
            .with_label_values(&[CONTROLLER])
            .observe(took.as_secs_f64());
    }

    /// The Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding into memory cannot fail");
        String::from_utf8(buf).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
    }

    #[test]
    fn every_label_set_exists_before_its_first_event() {
        let m = Metrics::new();
        let text = m.render();
        for r in ReconcileResult::ALL {
            let s = format!(
                "controller_runtime_reconcile_total{{controller=\"baton\",result=\"{}\"}}",
                r.label()
            );
            assert_eq!(value(&text, &s), Some(0.0), "{s} in\n{text}");
        }
        assert_eq!(
            value(
                &text,
                "controller_runtime_reconcile_errors_total{controller=\"baton\"}"
            ),
            Some(0.0)
        );
        let info = format!(
            "baton_build_info{{version=\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(value(&text, &info), Some(1.0), "{text}");
    }

    #[test]
    fn an_error_counts_in_both_counters_and_the_histogram() {
        let m = Metrics::new();
        m.reconciled(ReconcileResult::Error, Duration::from_millis(20));
        m.reconciled(ReconcileResult::Success, Duration::from_millis(3));
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
    }
}
