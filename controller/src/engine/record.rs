//! The deployment in progress as the journal holds it: everything needed to pick it up
//! again after a crash or a reboot.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::machine::{Boundary, Deployment};
use super::plan::Plan;
use super::store::StoredMeta;
use crate::model::ComponentType;

/// Everything the journal holds about the deployment in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    /// Unique per deployment (seconds since the epoch and a counter).
    pub id: String,
    pub manifest: StoredMeta,
    pub plan: Plan,
    /// The local file each component type's Artifact was resolved to at planning time.
    pub artifacts: Vec<(ComponentType, PathBuf)>,
    pub machine: Deployment,
    /// The host's boot id when the last host reboot started.
    pub boot_id_at_reboot: Option<String>,
    /// The last host reboot was left to the caller (`--exit-on-reboot`), who vouches for it
    /// by resuming. Only then does an explicit `resume` count as proof of a reboot.
    #[serde(default)]
    pub reboot_delegated: bool,
    /// Set while the deployment waits at a `--stop-before` boundary.
    pub paused: Option<Boundary>,
    /// Seconds since the epoch.
    pub started_at: u64,
}

impl DeploymentRecord {
    pub fn artifact_path(&self, t: &ComponentType) -> Option<&PathBuf> {
        self.artifacts
            .iter()
            .find(|(ct, _)| ct == t)
            .map(|(_, p)| p)
    }
}
