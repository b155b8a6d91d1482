//! Every metric baton exports, in one place with one naming scheme.
//!
//! The reconcile metrics reuse controller-runtime's names, so dashboards written for
//! Kubernetes controllers read baton's; baton's own metrics start with `baton_` and follow
//! `baton_<what>[_<unit>][_total]`. Every label set whose values are known is created at
//! start (value 0), so `rate()`, `increase()` and alerts work from the first scrape. Labels
//! are bounded ([`labels`]): no free text, no paths, no unbounded IDs.
//!
//! The families live in five rooms: `controller.rs` (the reconcile loop, the controller's
//! phase and conditions, finished deployments), `deployment.rs` (the deployment in flight
//! and the components' versions, mirrored from the status document), `interface.rs`
//! (Interface calls), `artifact.rs` (bytes read, the cache, verification failures) and
//! `gates.rs` (gate waits and refusals, the next maintenance window). The
//! README lists every family; a test keeps the two in agreement.
//!
//! One registry per process ([`Metrics::global`]): the engine, the Interface runner and the
//! Artifact reader record into it with one-line calls and never define metrics of their own.
//! `baton run` serves it on `/metrics`. Tests make private registries with [`Metrics::new`].
//! Recording never fails and never blocks for long: it is atomics and a short lock.

mod artifact;
mod controller;
mod deployment;
mod gates;
mod interface;
pub mod labels;

use std::sync::OnceLock;

use prometheus::core::Collector;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

pub use artifact::CountedRead;
pub use labels::ReconcileResult;

/// The `controller` label: baton has one reconciler.
pub const CONTROLLER: &str = "baton";

/// The registry and every metric in it. Cheap to clone: clones share the metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    controller: controller::Families,
    deployment: deployment::Families,
    interface: interface::Families,
    artifact: artifact::Families,
    gates: gates::Families,
}

impl Metrics {
    /// A fresh registry with every family registered and its known label sets at 0.
    pub fn new() -> Self {
        let r = Def {
            registry: Registry::new(),
        };
        let m = Self {
            controller: controller::Families::new(&r),
            deployment: deployment::Families::new(&r),
            interface: interface::Families::new(&r),
            artifact: artifact::Families::new(&r),
            gates: gates::Families::new(&r),
            registry: r.registry,
        };
        m.controller.init();
        m.deployment.init();
        m.artifact.init();
        m.gates.init();
        m
    }

    /// The process's registry: what `baton run` serves and the engine records into.
    pub fn global() -> &'static Metrics {
        static GLOBAL: OnceLock<Metrics> = OnceLock::new();
        GLOBAL.get_or_init(Metrics::new)
    }

    /// The Prometheus text exposition format (version 0.0.4).
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

/// Defines and registers metrics: the families' constructors go through it, so a name
/// registered twice fails every test at once.
struct Def {
    registry: Registry,
}

impl Def {
    fn register<C: Collector + Clone + 'static>(&self, c: C) -> C {
        self.registry
            .register(Box::new(c.clone()))
            .expect("unique, valid metric names");
        c
    }

    fn counter(&self, name: &str, help: &str) -> IntCounter {
        self.register(IntCounter::with_opts(Opts::new(name, help)).expect("valid metric"))
    }

    fn counters(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        self.register(IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }

    fn gauge(&self, name: &str, help: &str) -> IntGauge {
        self.register(IntGauge::with_opts(Opts::new(name, help)).expect("valid metric"))
    }

    fn gauges(&self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        self.register(IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }

    fn histograms(&self, name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> HistogramVec {
        let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
        self.register(HistogramVec::new(opts, labels).expect("valid metric"))
    }
}

/// Sets a one-hot gauge family: `current` is 1, every other value of `all` is 0.
fn one_hot(g: &IntGaugeVec, all: &[&str], current: &str) {
    for v in all {
        g.with_label_values(&[*v]).set(i64::from(*v == current));
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Reading values back from the text format, as a scraper would.

    /// The value of one series (`name{labels}` exactly as rendered), if present.
    pub fn value(text: &str, series: &str) -> Option<f64> {
        text.lines().find_map(|l| {
            let rest = l.strip_prefix(series)?;
            rest.strip_prefix(' ')?.trim().parse().ok()
        })
    }

    /// Every metric family's name and type, from the `# TYPE` lines.
    pub fn families(text: &str) -> Vec<(String, String)> {
        text.lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| {
                let (n, t) = l.split_once(' ')?;
                Some((n.to_string(), t.to_string()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
