//! Reading the System without waiting for a deployment: the last observation (kept in
//! memory and in `<datastore>/observation.json`), the inventory, the journal.
//!
//! The rule (README, "Read-only verbs"): a read never waits for a deployment. When the
//! engine is idle it asks the components now; while a deployment runs it answers at once
//! from the last observation, marked `live: false`, taken while planning that deployment
//! or before (and so after a short engine call, an observation or a preview, that does not
//! end within [`BUSY_WAIT`]). Another process that
//! cannot take the datastore lock answers from the observation kept in the datastore.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ending::{in_flight_of, now};
use super::error::EngineError;
use super::journal::Journal;
use super::live::Engine;
use super::record::DeploymentRecord;
use super::report::{Inventory, JournalView, Observation};
use super::store::Slot;
use crate::durable::{self, DatastoreLock};
use crate::interface::runner::{query_work_dir, Invocation};

/// How long a read waits for a short engine call (an observation, a preview) before it
/// answers from the last observation instead.
pub const BUSY_WAIT: Duration = Duration::from_secs(2);

const KEPT: &str = "observation.json";

/// The last observation and the Manifest the System ran then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Kept {
    pub observation: Observation,
    pub manifest: Option<String>,
}

impl Kept {
    /// What the inventory says without asking the Interfaces' `Inventory`.
    fn inventory(&self) -> Inventory {
        let o = &self.observation;
        let mut lines = vec![("system_type".to_string(), o.system_type.clone())];
        if let Some(m) = &self.manifest {
            lines.push(("orchestrator_manifest".into(), m.clone()));
        }
        for c in &o.components {
            let Some(id) = &c.id else { continue };
            let prefix = format!("{}.{id}", c.component_type);
            lines.push(("component".into(), prefix.clone()));
            for (k, v) in c.provides.iter() {
                lines.push((format!("{prefix}.{k}"), v.to_string()));
            }
        }
        Inventory {
            lines,
            taken_at: o.taken_at,
            live: false,
        }
    }

    fn stale(mut self) -> Self {
        self.observation.live = false;
        self
    }
}

/// The observation kept in `datastore` by the last baton that observed the System, marked
/// not live.
pub fn kept_observation(datastore: &Path) -> Result<Observation, EngineError> {
    load_kept(datastore).map(|k| k.stale().observation)
}

/// The inventory from the observation kept in `datastore` (no Interface `Inventory`).
pub fn kept_inventory(datastore: &Path) -> Result<Inventory, EngineError> {
    load_kept(datastore).map(|k| k.inventory())
}

fn load_kept(datastore: &Path) -> Result<Kept, EngineError> {
    let path = datastore.join(KEPT);
    let bytes = std::fs::read(&path)
        .map_err(|e| EngineError::NoObservation(format!(" ({}: {e})", path.display())))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| EngineError::NoObservation(format!(" ({} is unusable: {e})", path.display())))
}

/// A write of the kept observation that a crash interrupted is no observation at all.
pub(super) fn forget_torn(datastore: &Path) {
    let _ = std::fs::remove_file(datastore.join(format!(".{KEPT}.tmp")));
}

/// The journal in `datastore`, read as a starting baton reads it. With the lock (waiting
/// up to `wait` for it) a stale temporary record is removed as a start would; when another
/// baton holds it, the journal is only looked at (`locked: false`).
pub async fn journal_show(datastore: &Path, wait: Duration) -> Result<JournalView, EngineError> {
    let dir = datastore.join("journal");
    let (generation, loaded, locked) = match DatastoreLock::acquire_within(datastore, wait).await {
        Ok(_lock) => {
            let (j, loaded) = Journal::open::<DeploymentRecord>(&dir)?;
            (j.generation(), loaded, true)
        }
        Err(durable::LockError::Busy { .. }) => {
            let (generation, loaded) = Journal::peek::<DeploymentRecord>(&dir)?;
            (generation, loaded, false)
        }
        Err(e) => return Err(e.into()),
    };
    Ok(JournalView {
        journal: dir.display().to_string(),
        generation,
        fell_back: loaded.fell_back,
        deployment: loaded.record.as_ref().map(in_flight_of),
        locked,
    })
}

/// `baton journal reset`: moves an unusable journal aside (with the datastore lock).
pub fn journal_reset(datastore: &Path) -> Result<Vec<PathBuf>, EngineError> {
    let _lock = DatastoreLock::acquire(datastore)?;
    Ok(Journal::reset(&datastore.join("journal"))?)
}

impl Engine {
    /// The books for a read: `None` while a deployment holds them, or when a short call
    /// does not release them within the busy wait.
    async fn books_for_a_read(&self) -> Option<tokio::sync::MutexGuard<'_, super::live::Books>> {
        if self.deploying.load(std::sync::atomic::Ordering::Acquire) {
            return None;
        }
        tokio::time::timeout(self.busy_wait, self.books.lock())
            .await
            .ok()
    }

    /// Remembers `o` as the last observation, with the Manifest the System runs now. A
    /// failure to keep it on disk costs nothing but a staler answer elsewhere.
    pub(super) fn keep(&self, o: &Observation) {
        let manifest = self
            .store
            .get(Slot::Current)
            .ok()
            .flatten()
            .map(|c| c.meta.name);
        let kept = Kept {
            observation: o.clone(),
            manifest,
        };
        let bytes = serde_json::to_vec(&kept).expect("observations serialize");
        if let Err(e) = durable::replace_cache(&self.eff.dirs.datastore_dir, KEPT, &bytes) {
            tracing::debug!(error = %e, "cannot keep the observation in the datastore");
        }
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(kept);
    }

    /// The last observation, in memory or else in the datastore.
    pub(super) fn last(&self) -> Result<Kept, EngineError> {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match last {
            Some(k) => Ok(k.stale()),
            None => load_kept(&self.eff.dirs.datastore_dir)
                .map(Kept::stale)
                .map_err(|e| {
                    EngineError::NoObservation(format!(
                        "{e}; a deployment runs: try again when it ends"
                    ))
                }),
        }
    }

    /// The System's inventory as Mender inventory lines: the system type, the deployed
    /// Manifest, and each component's Provides and Inventory, keyed
    /// `<component_type>.<id>.<key>`. While a deployment runs, from the last observation.
    pub(super) async fn inventory_now(&self) -> Result<Inventory, EngineError> {
        let topology = self.topology()?;
        let Some(_books) = self.books_for_a_read().await else {
            return self.last().map(|k| k.inventory());
        };
        let mut lines = vec![("system_type".to_string(), topology.system_type.clone())];
        if let Some(current) = self.store.get(Slot::Current)? {
            lines.push(("orchestrator_manifest".into(), current.meta.name));
        }
        let observed = self.observe_topology(&topology).await;
        let datastore = &self.eff.dirs.datastore_dir;
        for (spec, o) in topology.components.iter().zip(observed) {
            let Ok(o) = o else { continue };
            let prefix = format!("{}.{}", spec.component_type, o.id);
            lines.push(("component".into(), prefix.clone()));
            for (k, v) in o.provides.iter() {
                lines.push((format!("{prefix}.{k}"), v.to_string()));
            }
            let inv = Invocation::new(
                &self.settings.interfaces_dir,
                spec,
                query_work_dir(datastore, &spec.interface),
            )
            .with_component(o.id.clone());
            match self.runner.inventory(&inv).await {
                Ok(inventory) => {
                    for (k, vs) in inventory.0 {
                        for v in vs {
                            lines.push((format!("{prefix}.{k}"), v));
                        }
                    }
                }
                Err(e) => tracing::warn!(component = %prefix, error = %e, "Inventory query failed"),
            }
        }
        Ok(Inventory {
            lines,
            taken_at: now(),
            live: true,
        })
    }

    /// Every component's Identity and Provides: now when the engine is idle, else the last
    /// observation.
    pub(super) async fn observe_now(&self) -> Result<Observation, EngineError> {
        let topology = self.topology()?;
        let Some(_books) = self.books_for_a_read().await else {
            return self.last().map(|k| k.observation);
        };
        let observed = self.observe_topology(&topology).await;
        Ok(super::prepare::observation_of(&topology, observed))
    }

    /// The journal as this engine holds it (the last known state while a deployment runs).
    pub(super) async fn journal_now(&self) -> JournalView {
        let dir = self.eff.dirs.datastore_dir.join("journal");
        let (generation, record) = match self.books_for_a_read().await {
            Some(books) => (
                books.journal.generation(),
                books.record.as_ref().map(in_flight_of),
            ),
            None => self.snapshot.get(),
        };
        JournalView {
            journal: dir.display().to_string(),
            generation,
            fell_back: self.fell_back.clone(),
            deployment: record,
            locked: true,
        }
    }
}
