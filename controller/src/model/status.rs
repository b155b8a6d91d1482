//! baton's status document: what was observed and what is in flight.
//!
//! Its JSON form is `crds/status.schema.json`; a test keeps the two in agreement. The shape
//! follows Kubernetes conventions (observedGeneration, conditions with a summary `Ready`), so
//! tools that read controller status read ours. First version: the controller fills it in.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Status {
    pub observed_generation: u64,
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub deployment: Option<DeploymentStatus>,
    pub components: Vec<ComponentStatus>,
    pub history: Vec<HistoryEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: ConditionType,
    pub status: ConditionStatus,
    /// CamelCase, machine-readable.
    pub reason: String,
    pub message: String,
    /// RFC 3339, UTC.
    pub last_transition_time: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConditionType {
    Ready,
    Progressing,
    Degraded,
    Stalled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentStatus {
    pub id: String,
    /// The Manifest's name.
    pub manifest: String,
    pub manifest_sha256: String,
    pub generation: u64,
    /// The Interface state running now, e.g. `ArtifactInstall`.
    pub state: String,
    #[serde(default)]
    pub order_group: Option<u8>,
    #[serde(default)]
    pub rolling_back: bool,
    pub started_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ComponentStatus {
    pub component_type: String,
    /// From the Interface's `Identity` answer; None before it answered.
    #[serde(default)]
    pub id: Option<String>,
    pub interface: String,
    #[serde(default)]
    pub interface_args: Vec<String>,
    /// The Interface's `Provides` answer as last observed.
    #[serde(default)]
    pub provides: BTreeMap<String, String>,
    /// The Artifact name the Component reports running, if it reports one.
    #[serde(default)]
    pub observed_artifact: Option<String>,
    #[serde(default)]
    pub desired_artifact: Option<String>,
    pub in_sync: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HistoryEntry {
    pub id: String,
    pub manifest: String,
    pub manifest_sha256: String,
    pub generation: u64,
    pub started_at: String,
    pub finished_at: String,
    pub outcome: Outcome,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Succeeded,
    /// Every Component already provided its Artifact: nothing was installed.
    UpToDate,
    RolledBack,
    Failed,
}
