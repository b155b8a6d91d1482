//! The status board: the one [`Status`] document the API, the CLI and metrics read, and the
//! [`Events`] stream of its changes.
//!
//! Only the reconciler (and the progress sink it hands the engine) writes it; readers get a
//! snapshot from a `watch` channel and never wait for the reconciler. Every change is
//! mirrored into the metrics' gauges, so a scrape and the status agree, and published as an
//! event (only when something actually changed: a resync that finds nothing new is silent).

use std::sync::{Arc, Mutex};

use hyper::body::Bytes;
use tokio::sync::watch;

use super::conditions::{self, Phase};
use super::events::{Change, Events};
use super::progress;
use crate::daemon::clock;
use crate::engine::api::{Progress, ProgressSink};
use crate::metrics::Metrics;
use crate::model::{ComponentStatus, DeploymentStatus, GateStatus, HistoryEntry, Status};

pub struct Board {
    tx: watch::Sender<Status>,
    /// The status as JSON, made at the first read after a change: a burst of readers
    /// shares one serialization.
    json: Mutex<Option<Bytes>>,
    metrics: Metrics,
    events: Events,
}

impl Default for Board {
    fn default() -> Self {
        Self::new()
    }
}

/// The top-level fields and conditions: what a `Summary` event carries.
fn summary(s: &Status) -> Change {
    Change::Summary {
        generation: s.generation,
        observed_generation: s.observed_generation,
        desired_manifest: s.desired_manifest.clone(),
        suspended: s.suspended,
        failures: s.failures,
        next_attempt_at: s.next_attempt_at.clone(),
        system_version: s.system_version.clone(),
        conditions: s.conditions.clone(),
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
            system_version: None,
            conditions: conditions::merge(&[], &Phase::Recovering, 0, &clock::now_rfc3339()),
            deployment: None,
            components: Vec::new(),
            history: Vec::new(),
            next_window_at: None,
            gate: None,
        };
        metrics.phase(Phase::Recovering.label());
        metrics.status(&empty);
        Self {
            tx: watch::channel(empty).0,
            json: Mutex::new(None),
            metrics,
            events: Events::new(),
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

    /// The numbered stream of changes (status events and deployment progress).
    pub fn events(&self) -> &Events {
        &self.events
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

    /// Changes the status; `event` says what to publish when the change was real.
    fn change(&self, f: impl FnOnce(&mut Status), event: impl FnOnce(&Status) -> Change) {
        let mut published = None;
        let modified = self.tx.send_if_modified(|s| {
            let before = s.clone();
            f(s);
            let modified = *s != before;
            if modified {
                published = Some(event(s));
            }
            modified
        });
        if modified {
            *self.json.lock().unwrap_or_else(|e| e.into_inner()) = None;
            self.metrics.status(&self.tx.borrow());
        }
        if let Some(c) = published {
            self.events.publish(c);
        }
    }

    /// Changes the top-level fields (generation, suspension, failures...).
    pub fn update(&self, f: impl FnOnce(&mut Status)) {
        self.change(f, summary);
    }

    /// Enters a phase for `generation`.
    pub fn phase(&self, phase: &Phase, generation: u64) {
        let now = clock::now_rfc3339();
        self.metrics.phase(phase.label());
        self.change(
            |s| s.conditions = conditions::merge(&s.conditions, phase, generation, &now),
            summary,
        );
    }

    /// A deployment starts (`Some`) or ends (`None`).
    pub fn deployment(&self, d: Option<DeploymentStatus>) {
        self.change(
            |s| s.deployment = d,
            |s| Change::Deployment {
                deployment: s.deployment.clone(),
            },
        );
    }

    pub fn components(&self, c: Vec<ComponentStatus>) {
        self.change(
            |s| s.components = c,
            |s| Change::Components {
                components: s.components.clone(),
            },
        );
    }

    /// What the deployment in flight waits for at a gate, and when the next maintenance
    /// window opens.
    pub fn gate(&self, gate: Option<GateStatus>, next_window_at: Option<String>) {
        self.change(
            |s| {
                s.gate = gate;
                s.next_window_at = next_window_at;
            },
            |s| Change::Gate {
                gate: s.gate.clone(),
                next_window_at: s.next_window_at.clone(),
            },
        );
    }

    /// The history as read at start: no event (nothing happened).
    pub fn history(&self, h: &[HistoryEntry]) {
        self.tx.send_modify(|s| s.history = h.to_vec());
        *self.json.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// A deployment finished: `h` is the history with its entry first.
    pub fn finished(&self, h: &[HistoryEntry]) {
        let Some(newest) = h.first().cloned() else {
            return self.history(h);
        };
        self.change(
            |s| s.history = h.to_vec(),
            |_| Change::Finished { entry: newest },
        );
    }

    /// The controller settled desired generation `generation` (see [`Change::Settled`]).
    pub fn settled(&self, generation: u64, settled: crate::wire::events::Settled) {
        self.events.publish(Change::Settled {
            generation,
            settled,
        });
    }

    /// One progress event of the deployment in flight (ignored when none is in flight).
    pub fn progress(&self, event: &Progress) {
        let modified = self.tx.send_if_modified(|s| match &mut s.deployment {
            Some(d) => {
                progress::apply(d, event);
                true
            }
            None => false,
        });
        if modified {
            *self.json.lock().unwrap_or_else(|e| e.into_inner()) = None;
            self.metrics.status(&self.tx.borrow());
            self.events.publish(Change::Progress {
                progress: event.clone(),
            });
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
    use crate::daemon::status::events::Replay;

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

    fn kinds(b: &Board) -> Vec<String> {
        match b.events().resume(Some(0)).0 {
            Replay::Events(e) => e
                .iter()
                .map(|e| serde_json::to_value(&*e.change).unwrap()["kind"].to_string())
                .collect(),
            Replay::Gap => panic!("gap"),
        }
    }

    #[test]
    fn every_real_change_is_one_event_and_a_repeat_is_none() {
        let b = Board::new();
        b.update(|s| s.generation = 1);
        b.update(|s| s.generation = 1);
        b.phase(&Phase::InSync, 1);
        b.phase(&Phase::InSync, 1);
        // Progress without a deployment in flight changes nothing.
        b.progress(&Progress::Rebooting);
        b.deployment(Some(progress::starting(1)));
        b.progress(&Progress::Rebooting);
        b.deployment(None);
        b.components(vec![]);
        b.history(&[]);
        assert_eq!(
            kinds(&b),
            [
                "\"summary\"",
                "\"summary\"",
                "\"deployment\"",
                "\"progress\"",
                "\"deployment\""
            ]
        );
    }
}
