//! The status board: the one [`Status`] document the API, the CLI and metrics read.
//!
//! Only the reconciler (and the progress sink it hands the engine) writes it; readers get a
//! snapshot from a `watch` channel and never wait for the reconciler. Every change is
//! mirrored into the metrics' gauges, so a scrape and the status agree.

use std::sync::{Arc, Mutex};

use hyper::body::Bytes;
use tokio::sync::watch;

use super::clock;
use super::conditions::{self, Phase};
use super::progress;
use crate::engine::api::{Progress, ProgressSink};
use crate::metrics::Metrics;
use crate::model::{ComponentStatus, DeploymentStatus, HistoryEntry, Status};

pub struct Board {
    tx: watch::Sender<Status>,
    /// The status as JSON, made at the first read after a change: a burst of readers
    /// shares one serialization.
    json: Mutex<Option<Bytes>>,
    metrics: Metrics,
}

impl Default for Board {
    fn default() -> Self {
        Self::new()
    }
}

impl Board {
    /// A board with metrics of its own (tests).
    pub fn new() -> Self {
        Self::with_metrics(Metrics::default())
    }

    /// A board whose changes show in `metrics`.
    pub fn with_metrics(metrics: Metrics) -> Self {
        let empty = Status {
            observed_generation: 0,
            generation: 0,
            desired_manifest: None,
            suspended: false,
            failures: 0,
            next_attempt_at: None,
            conditions: conditions::merge(&[], &Phase::Recovering, 0, &clock::now_rfc3339()),
            deployment: None,
            components: Vec::new(),
            history: Vec::new(),
        };
        metrics.phase(Phase::Recovering.label());
        metrics.status(&empty);
        Self {
            tx: watch::channel(empty).0,
            json: Mutex::new(None),
            metrics,
        }
    }

    /// A snapshot.
    pub fn get(&self) -> Status {
        self.tx.borrow().clone()
    }

    /// Readers that want to know when the status changes.
    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.tx.subscribe()
    }

    /// The status as JSON (with a final newline).
    pub fn json(&self) -> Bytes {
        let mut cached = self.json.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = &*cached {
            return b.clone();
        }
        let mut v = serde_json::to_vec(&*self.tx.borrow()).expect("status serializes");
        v.push(b'\n');
        let b = Bytes::from(v);
        *cached = Some(b.clone());
        b
    }

    fn changed(&self) {
        *self.json.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.metrics.status(&self.tx.borrow());
    }

    pub fn update(&self, f: impl FnOnce(&mut Status)) {
        self.tx.send_modify(f);
        self.changed();
    }

    /// Enters a phase for `generation`.
    pub fn phase(&self, phase: &Phase, generation: u64) {
        let now = clock::now_rfc3339();
        self.metrics.phase(phase.label());
        self.update(|s| s.conditions = conditions::merge(&s.conditions, phase, generation, &now));
    }

    pub fn deployment(&self, d: Option<DeploymentStatus>) {
        self.update(|s| s.deployment = d);
    }

    pub fn components(&self, c: Vec<ComponentStatus>) {
        self.update(|s| s.components = c);
    }

    pub fn history(&self, h: &[HistoryEntry]) {
        self.update(|s| s.history = h.to_vec());
    }

    pub fn progress(&self, event: &Progress) {
        let modified = self.tx.send_if_modified(|s| match &mut s.deployment {
            Some(d) => {
                progress::apply(d, event);
                true
            }
            None => false,
        });
        if modified {
            self.changed();
        }
    }
}

/// Feeds engine events into the status board: the [`ProgressSink`] the reconciler hands the
/// engine. Never blocks.
pub struct BoardSink(pub Arc<Board>);

impl ProgressSink for BoardSink {
    fn emit(&self, event: Progress) {
        tracing::debug!(?event, "progress");
        self.0.progress(&event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_follows_every_change() {
        let b = Board::new();
        let first = b.json();
        assert_eq!(first, b.json(), "cached between changes");
        b.update(|s| s.generation = 7);
        let v: serde_json::Value = serde_json::from_slice(&b.json()).unwrap();
        assert_eq!(v["generation"], 7);
        b.deployment(Some(progress::starting(7)));
        let _ = b.json();
        b.progress(&Progress::Rebooting);
        let v: serde_json::Value = serde_json::from_slice(&b.json()).unwrap();
        assert_eq!(v["deployment"]["state"], "Rebooting");
    }
}
