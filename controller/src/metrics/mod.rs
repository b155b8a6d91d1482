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
//! (Interface calls), `artifact.rs` (bytes read, the cache, fetch and verification
//! failures) and `gates.rs` (gate waits and refusals, the next maintenance window). The
//! README lists every family; a test keeps the two in agreement.
//!
//! Metrics are called, they do not call: this room imports only `model`. Every label value
//! comes from the type that owns it (`Reason::as_str`, `State::as_str`, `SourceKind::label`,
//! `InterfaceError::result_label`, `Phase::label`...), handed in as `&'static str`; the label
//! sets known before anything happens come in a [`Vocabulary`] from their owners.
//!
//! No global registry: whoever starts the process makes one [`Metrics`] (`baton run` serves
//! it on `/metrics`) and passes clones down to the engine, the Interface runner, the
//! Artifact resolver and cache, and the controller; they record with one-line calls and
//! never define metrics of their own. A part given no registry records into a private one
//! nobody reads ([`Metrics::default`]). Recording never fails and never blocks for long: it
//! is atomics and a short lock.

mod artifact;
mod controller;
mod deployment;
mod gates;
mod interface;
pub mod labels;

use prometheus::core::Collector;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

pub use artifact::CountedRead;
pub use labels::ReconcileResult;

use crate::model::Reason;

/// The `controller` label: baton has one reconciler.
pub const CONTROLLER: &str = "baton";

/// The label values other rooms own and know before anything happens, so their series
/// exist (at 0) from the first scrape. Each list comes from the type that owns the words;
/// `cli` assembles it once per process. An empty vocabulary is valid: series then appear
/// at their first event.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    /// Every protocol word (states, then queries): the `state` label of Interface calls
    /// and of the deployment in flight.
    pub protocol_words: Vec<&'static str>,
    /// How an Interface call usually ends; created at 0 for every Interface of the
    /// Topology (rarer endings are counted when they happen).
    pub interface_results: Vec<&'static str>,
    /// What the controller may be doing (`baton_controller_phase`).
    pub controller_phases: Vec<&'static str>,
    /// Where a deployment may stand (`baton_deployment_phase`), the phase without one first.
    pub deployment_phases: Vec<&'static str>,
    /// Every word the status may show as the deployment's state, with its phase.
    pub deployment_words: Vec<DeploymentWord>,
    /// The kinds of Artifact source (`baton_artifact_read_bytes_total{source}`, and with
    /// [`Vocabulary::fetch_failure_reasons`] `baton_artifact_fetch_failures_total`).
    pub artifact_sources: Vec<&'static str>,
    /// Why an Artifact source may fail to resolve an Artifact (`SourceError::REASONS`).
    pub fetch_failure_reasons: Vec<Reason>,
    /// The commonest reasons an Artifact is refused for.
    pub verification_reasons: Vec<&'static str>,
}

/// A word the status document shows as the deployment's state, and the deployment phase
/// it stands for going forward and rolling back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeploymentWord {
    pub word: &'static str,
    pub forward: &'static str,
    pub rolling_back: &'static str,
}

impl Vocabulary {
    /// The phase label of a deployment in flight whose status shows `state`; the phase
    /// without a deployment when there is none. A word the vocabulary does not know
    /// counts as the empty word's (a deployment before its first state).
    pub fn deployment_phase(&self, state: Option<(&str, bool)>) -> &'static str {
        let Some((state, rolling_back)) = state else {
            return self.deployment_phases.first().copied().unwrap_or("idle");
        };
        let word = |w: &str| self.deployment_words.iter().find(|d| d.word == w);
        match word(state).or_else(|| word("")) {
            Some(d) if rolling_back => d.rolling_back,
            Some(d) => d.forward,
            None => "",
        }
    }

    /// `s` as a bounded `state` label: the protocol word it is, if it is one.
    fn protocol_word(&self, s: &str) -> Option<&'static str> {
        self.protocol_words.iter().copied().find(|w| *w == s)
    }
}

/// The registry and every metric in it. Cheap to clone: clones share the metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    vocabulary: std::sync::Arc<Vocabulary>,
    controller: controller::Families,
    deployment: deployment::Families,
    interface: interface::Families,
    artifact: artifact::Families,
    gates: gates::Families,
}

impl Metrics {
    /// A fresh registry with every family registered and the label sets of `vocabulary`
    /// (and this room's own) at 0.
    pub fn new(vocabulary: Vocabulary) -> Self {
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
            vocabulary: std::sync::Arc::new(vocabulary),
        };
        m.controller.init(&m.vocabulary);
        m.deployment.init(&m.vocabulary);
        m.artifact.init(&m.vocabulary);
        m.gates.init();
        m
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

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    /// A private registry with an empty vocabulary: for parts nobody scrapes (a CLI verb
    /// run in-process, tests).
    fn default() -> Self {
        Self::new(Vocabulary::default())
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

/// Sets a one-hot gauge family: `current` is 1, every other value of `all` (and any value
/// set before) is 0.
fn one_hot(g: &IntGaugeVec, all: &[&str], current: &str) {
    for v in all {
        g.with_label_values(&[*v]).set(i64::from(*v == current));
    }
    if !current.is_empty() && !all.contains(&current) {
        for m in g.collect().iter().flat_map(|f| f.get_metric()) {
            if let Some(l) = m.get_label().first() {
                g.with_label_values(&[l.value()]).set(0);
            }
        }
        g.with_label_values(&[current]).set(1);
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Reading values back from the text format, as a scraper would, and fixtures made of
    //! model values only (this room's tests import nothing else either).

    use super::{DeploymentWord, Vocabulary};
    use crate::model::{Condition, ConditionStatus, ConditionType, DeploymentStatus, Status};

    /// Some controller phases, as the daemon's `Phase::label` gives them.
    pub const PHASES: [&str; 4] = ["recovering", "progressing", "in_sync", "stalled"];

    /// A vocabulary shaped like the one `cli` assembles from the owners, smaller.
    pub fn vocabulary() -> Vocabulary {
        let word = |word, forward, rolling_back| DeploymentWord {
            word,
            forward,
            rolling_back,
        };
        Vocabulary {
            protocol_words: vec![
                "Download",
                "ArtifactInstall",
                "ArtifactCommit",
                "ArtifactRollback",
                "Identity",
                "Provides",
                "SupportsRollback",
            ],
            interface_results: vec!["success", "failed", "timeout"],
            controller_phases: PHASES.to_vec(),
            deployment_phases: vec!["idle", "install", "reboot", "commit", "rollback", "cleanup"],
            deployment_words: vec![
                word("", "install", "rollback"),
                word("Download", "install", "install"),
                word("ArtifactCommit", "commit", "commit"),
                word("ArtifactRollback", "rollback", "rollback"),
                word("Rebooting", "reboot", "reboot"),
            ],
            artifact_sources: vec!["path", "directory", "url", "cache"],
            fetch_failure_reasons: vec![
                crate::model::Reason::ArtifactNotFound,
                crate::model::Reason::DownloadFailed,
            ],
            verification_reasons: vec!["checksum_mismatch", "signature_invalid", "unsigned"],
        }
    }

    /// A status document with nothing in it.
    pub fn status() -> Status {
        Status {
            observed_generation: 0,
            generation: 0,
            desired_manifest: None,
            suspended: false,
            failures: 0,
            next_attempt_at: None,
            system_version: None,
            conditions: vec![],
            deployment: None,
            components: vec![],
            history: vec![],
            next_window_at: None,
            gate: None,
        }
    }

    pub fn condition(type_: ConditionType, status: ConditionStatus) -> Condition {
        Condition {
            type_,
            status,
            reason: crate::model::Reason::Idle,
            message: String::new(),
            last_transition_time: "t".into(),
            observed_generation: 0,
        }
    }

    /// A deployment in flight showing `state`.
    pub fn deploying(state: &str, rolling_back: bool) -> DeploymentStatus {
        DeploymentStatus {
            id: "d".into(),
            manifest: "m".into(),
            manifest_sha256: String::new(),
            generation: 1,
            driver: "controller".into(),
            state: state.into(),
            order_group: None,
            rolling_back,
            started_at: "t".into(),
            components: vec![],
        }
    }

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
