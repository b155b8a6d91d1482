//! baton's status document: what was observed and what is in flight.
//!
//! Its JSON form is `crds/status.schema.json`; a test keeps the two in agreement. The shape
//! follows Kubernetes conventions (observedGeneration, conditions with a summary `Ready`), so
//! tools that read controller status read ours. The controller (`daemon::status`) fills it in;
//! this file is pure data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Reason;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Status {
    /// The desired generation this status was last reconciled against.
    pub observed_generation: u64,
    /// The newest desired generation (0: no desired state yet).
    pub generation: u64,
    /// The desired Manifest's name.
    #[serde(default)]
    pub desired_manifest: Option<String>,
    /// New reconciles are suspended (a running deployment still finishes).
    pub suspended: bool,
    /// Failed attempts at the desired generation since the last success or new generation.
    pub failures: u32,
    /// When the next attempt after a failure is due (RFC 3339, UTC).
    #[serde(default)]
    pub next_attempt_at: Option<String>,
    /// The end state of the constraints (System version) the System was last observed in;
    /// `None` when it is in none of them, or no constraints are configured.
    #[serde(default)]
    pub system_version: Option<String>,
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub deployment: Option<DeploymentStatus>,
    pub components: Vec<ComponentStatus>,
    pub history: Vec<HistoryEntry>,
    /// When the next maintenance window opens (RFC 3339, UTC); none without windows, or
    /// while one is open.
    #[serde(default)]
    pub next_window_at: Option<String>,
    /// What the deployment in flight waits for at a gate, if anything.
    #[serde(default)]
    pub gate: Option<GateStatus>,
}

/// A deployment held at a gate: why, until when, and what would let it go on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GateStatus {
    /// `WaitingForMaintenanceWindow`, `UpdateLocked`, `AwaitingConsent` or `HealthSoak`.
    pub reason: Reason,
    pub message: String,
    /// The deployment waiting.
    pub deployment: String,
    /// RFC 3339, UTC: since when it waits here.
    pub since: String,
    /// RFC 3339, UTC: the earliest the wait can end (a window opens, a deferral or the soak
    /// ends, a question times out).
    #[serde(default)]
    pub until: Option<String>,
    /// The owner's open question (`AwaitingConsent`).
    #[serde(default)]
    pub consent: Option<ConsentQuestion>,
    /// The update locks held (`UpdateLocked`).
    #[serde(default)]
    pub locks: Vec<LockHolder>,
}

/// A question to the owner: may the deployment go on to `phase`?
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConsentQuestion {
    /// Answer with this id (`POST /v1/consent`, `baton consent`).
    pub id: u64,
    pub deployment: String,
    pub manifest: String,
    /// `Download`, `Install` or `Activate`.
    pub phase: String,
    pub asked_at: String,
    /// When no answer counts as the `OnTimeout` answer; none: asked until answered.
    #[serde(default)]
    pub deadline: Option<String>,
}

/// An update lock file held by another process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LockHolder {
    pub file: String,
    /// The holder's process, where the kernel tells (`/proc/locks`).
    #[serde(default)]
    pub pid: Option<u32>,
    /// Its command name (`/proc/<pid>/comm`).
    #[serde(default)]
    pub command: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: ConditionType,
    pub status: ConditionStatus,
    /// Machine-readable, one of the closed set (`crds/status.schema.json` lists it).
    pub reason: Reason,
    pub message: String,
    /// RFC 3339, UTC: when `status` last changed.
    pub last_transition_time: String,
    /// The desired generation the condition was computed for.
    pub observed_generation: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
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
    /// Who drives it: `controller` (baton run) or `update-module` (the Mender hand-off).
    pub driver: String,
    /// The Interface state running now, e.g. `ArtifactInstall`.
    pub state: String,
    #[serde(default)]
    pub order_group: Option<u8>,
    #[serde(default)]
    pub rolling_back: bool,
    pub started_at: String,
    /// The components the deployment changes, with their progress.
    #[serde(default)]
    pub components: Vec<DeploymentComponent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentComponent {
    pub component_type: String,
    pub id: String,
    pub order_group: u8,
    pub to_artifact: String,
    /// The state it is in or last finished; empty before its first state.
    pub state: String,
    /// Payload bytes handed to its Interface so far.
    pub bytes: u64,
    #[serde(default)]
    pub total_bytes: Option<u64>,
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
    /// Why the Component could not be observed.
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HistoryEntry {
    pub id: String,
    pub manifest: String,
    pub manifest_sha256: String,
    pub generation: u64,
    /// Who drove it: `controller` or `update-module`.
    pub driver: String,
    pub started_at: String,
    pub finished_at: String,
    pub duration_seconds: u64,
    pub outcome: Outcome,
    /// Why it did not succeed (`InstallFailed`, `Inconsistent`, ...); none on success.
    #[serde(default)]
    pub reason: Option<Reason>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub components: Vec<HistoryComponent>,
    /// The UpdatePolicy in force (`any`, `latest`, `pinned: <name>`).
    #[serde(default)]
    pub policy: Option<String>,
    /// Seconds the deployment waited at gates (windows, locks, consent), part of
    /// `durationSeconds`.
    #[serde(default)]
    pub waited_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HistoryComponent {
    pub component_type: String,
    pub id: String,
    pub to_artifact: String,
    /// `updated`, `skipped`, `rolledBack`, `inconsistent`, `untouched`, `inProgress`.
    pub result: String,
    #[serde(default)]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Succeeded,
    /// Every Component already provided its Artifact: nothing was installed.
    UpToDate,
    RolledBack,
    /// Some Components could not be brought back.
    Failed,
    /// The Manifest could not be deployed; nothing was touched.
    Rejected,
}

impl ConditionType {
    pub const ALL: [ConditionType; 4] = [
        ConditionType::Ready,
        ConditionType::Progressing,
        ConditionType::Degraded,
        ConditionType::Stalled,
    ];

    /// The word itself (the JSON form and the metric label).
    pub const fn as_str(self) -> &'static str {
        match self {
            ConditionType::Ready => "Ready",
            ConditionType::Progressing => "Progressing",
            ConditionType::Degraded => "Degraded",
            ConditionType::Stalled => "Stalled",
        }
    }
}

impl ConditionStatus {
    pub const ALL: [ConditionStatus; 3] = [
        ConditionStatus::True,
        ConditionStatus::False,
        ConditionStatus::Unknown,
    ];

    /// The word itself (the JSON form and the metric label).
    pub const fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Succeeded,
        Outcome::UpToDate,
        Outcome::RolledBack,
        Outcome::Failed,
        Outcome::Rejected,
    ];

    /// The metric label (`baton_deployments_total{result}`).
    pub const fn label(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::UpToDate => "up_to_date",
            Outcome::RolledBack => "rolled_back",
            Outcome::Failed => "failed",
            Outcome::Rejected => "rejected",
        }
    }
}

/// A finished deployment with only its outcome and duration set: the tests' one builder
/// (set other fields with struct update syntax).
#[cfg(test)]
impl HistoryEntry {
    pub(crate) fn sample(outcome: Outcome, duration_seconds: u64) -> Self {
        HistoryEntry {
            id: "d".into(),
            manifest: "m".into(),
            manifest_sha256: String::new(),
            generation: 1,
            driver: "controller".into(),
            started_at: String::new(),
            finished_at: String::new(),
            duration_seconds,
            outcome,
            reason: None,
            message: None,
            components: vec![],
            policy: None,
            waited_seconds: 0,
        }
    }
}

#[cfg(test)]
mod word_tests {
    use super::*;

    #[test]
    fn condition_words_are_their_json_form() {
        for t in ConditionType::ALL {
            assert_eq!(
                serde_json::to_string(&t).unwrap(),
                format!("\"{}\"", t.as_str())
            );
        }
        for s in ConditionStatus::ALL {
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        let labels: std::collections::BTreeSet<_> =
            Outcome::ALL.iter().map(|o| o.label()).collect();
        assert_eq!(labels.len(), Outcome::ALL.len());
    }
}
