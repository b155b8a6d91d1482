//! What a datastore keeps for readers that do not hold it, and the reads that need no
//! engine: the last observation (`<datastore>/observation.json`, written by the engine that
//! holds the datastore whenever it observes), and the journal looked at or shown.
//!
//! The rule they serve (README, "Reading while it runs"): a read never waits for a
//! deployment. When the engine is idle it asks the components now; while a deployment runs
//! it answers at once from the last observation, marked `live: false`, taken while planning
//! that deployment or before (and so after a short engine call, an observation or a
//! preview, that does not end within [`BUSY_WAIT`]). Another process that cannot take the
//! datastore lock answers from the observation kept in the datastore.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ending::in_flight_of;
use super::error::EngineError;
use super::journal::Journal;
use super::record::DeploymentRecord;
use super::report::{Inventory, JournalView, Observation};
use crate::durable::{self, DatastoreLock};

/// How long a read waits for a short engine call (an observation, a preview) before it
/// answers from the last observation instead.
pub const BUSY_WAIT: Duration = Duration::from_secs(2);

/// The kept observation's file name in the datastore.
pub(super) const KEPT: &str = "observation.json";

/// The last observation and the Manifest the System ran then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Kept {
    pub observation: Observation,
    pub manifest: Option<String>,
}

impl Kept {
    /// What the inventory says without asking the Interfaces' `Inventory`.
    pub(super) fn inventory(&self) -> Inventory {
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

    pub(super) fn stale(mut self) -> Self {
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

pub(super) fn load_kept(datastore: &Path) -> Result<Kept, EngineError> {
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
