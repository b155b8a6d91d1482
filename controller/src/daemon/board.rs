//! The status board: the one [`Status`] document the API, the CLI and metrics read.
//!
//! Only the reconciler (and the progress sink it hands the engine) writes it; readers get a
//! snapshot from a `watch` channel and never wait for the reconciler.

use tokio::sync::watch;

use super::clock;
use super::conditions::{self, Phase};
use super::progress;
use crate::engine::api::Progress;
use crate::model::{ComponentStatus, DeploymentStatus, HistoryEntry, Status};

pub struct Board {
    tx: watch::Sender<Status>,
}

impl Default for Board {
    fn default() -> Self {
        Self::new()
    }
}

impl Board {
    pub fn new() -> Self {
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
        Self {
            tx: watch::channel(empty).0,
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

    pub fn update(&self, f: impl FnOnce(&mut Status)) {
        self.tx.send_modify(f);
    }

    /// Enters a phase for `generation`.
    pub fn phase(&self, phase: &Phase, generation: u64) {
        let now = clock::now_rfc3339();
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
        self.tx.send_if_modified(|s| match &mut s.deployment {
            Some(d) => {
                progress::apply(d, event);
                true
            }
            None => false,
        });
    }
}
