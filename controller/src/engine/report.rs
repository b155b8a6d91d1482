//! What the engine tells its callers, as data: what the System runs, what a deployment
//! would do, and how one ended. One report type ([`DeploymentReport`] and its [`End`]) for
//! every caller; the pure machine keeps its own `machine::Outcome`, and the status
//! document's `model::Outcome` is derived from this by the controller.

use serde::{Deserialize, Serialize};

use super::machine::Boundary;
use super::problem::Problem;
use crate::model::{Provides, Reason};

/// A component as status and progress name it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentRef {
    pub component_type: String,
    /// The ID from `Identity`; empty when the component could not be identified.
    pub id: String,
}

/// What one component of the Topology answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentObservation {
    /// Position in the Topology.
    pub index: usize,
    pub component_type: String,
    pub interface: String,
    pub id: Option<String>,
    pub provides: Provides,
    /// Why the component could not be observed.
    pub error: Option<String>,
}

/// Every component of the Topology, as observed at `taken_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    pub system_type: String,
    pub components: Vec<ComponentObservation>,
    /// When the components were asked (seconds since the epoch).
    #[serde(default)]
    pub taken_at: u64,
    /// False when a deployment was changing the System and this is the last observation
    /// taken before (or while planning) it: the components may have moved on since.
    #[serde(default = "live")]
    pub live: bool,
    /// The end state (System version) of the constraints the System was in, when it was in
    /// one (`None` too when no constraints are configured).
    #[serde(default)]
    pub system_version: Option<String>,
}

fn live() -> bool {
    true
}

/// The System's inventory as Mender inventory lines (a repeated key is a list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    pub lines: Vec<(String, String)>,
    /// When the components were asked (seconds since the epoch).
    pub taken_at: u64,
    /// False when answered from the last observation (a deployment was in flight): then the
    /// Interfaces' own `Inventory` answers are left out.
    pub live: bool,
}

/// What a deployment of a Manifest would do now, without doing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Preview {
    /// Every component already runs its Artifact.
    InSync,
    /// These components would change (from their current to the desired Artifact).
    Changes { components: Vec<PlannedChange> },
    /// The Manifest cannot be deployed: every problem, each with its reason.
    Rejected { problems: Vec<Problem> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedChange {
    pub component: ComponentRef,
    pub order: u8,
    pub to_artifact: String,
}

/// How a component fared in a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ComponentResult {
    /// Now runs the new Artifact.
    Updated,
    /// Already ran it; not touched.
    Skipped,
    /// Was changed and brought back.
    RolledBack,
    /// Was changed and could not be brought back.
    Inconsistent,
    /// Nothing was done to it (an earlier failure stopped the deployment first).
    Untouched,
    /// The deployment has not finished.
    InProgress,
}

impl ComponentResult {
    /// The word the history and JSON use (`rolledBack`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ComponentResult::Updated => "updated",
            ComponentResult::Skipped => "skipped",
            ComponentResult::RolledBack => "rolledBack",
            ComponentResult::Inconsistent => "inconsistent",
            ComponentResult::Untouched => "untouched",
            ComponentResult::InProgress => "inProgress",
        }
    }

    /// The words for people (`rolled back`).
    pub const fn describe(self) -> &'static str {
        match self {
            ComponentResult::Updated => "updated",
            ComponentResult::Skipped => "already up to date",
            ComponentResult::RolledBack => "rolled back",
            ComponentResult::Inconsistent => "INCONSISTENT",
            ComponentResult::Untouched => "untouched",
            ComponentResult::InProgress => "in progress",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentOutcome {
    pub component: ComponentRef,
    pub to_artifact: String,
    pub result: ComponentResult,
    /// What went wrong for it, in words (failed states, rollback problems).
    pub notes: Vec<String>,
}

/// How the invocation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "result")]
pub enum End {
    /// Every component runs the Manifest's Artifacts (possibly because all already did).
    Success,
    /// The deployment failed and every touched component was brought back. `reason` comes
    /// from the state that failed (`InstallFailed`...), `failed_at` names it and the
    /// component, `message` says why.
    RolledBack {
        reason: Reason,
        failed_at: String,
        message: String,
    },
    /// The deployment failed and some components could not be brought back.
    Inconsistent {
        reason: Reason,
        failed_at: String,
        message: String,
        components: Vec<ComponentRef>,
    },
    /// The Manifest cannot be deployed (or a gate refused it before the first state);
    /// nothing was touched.
    Rejected { problems: Vec<Problem> },
    /// Waiting at a `--stop-before` boundary; `failing` when a failure already happened;
    /// `lost` names components that could not be brought back so far.
    Paused {
        before: Boundary,
        failing: bool,
        lost: Vec<ComponentRef>,
    },
    /// The caller must reboot the host, then resume (`--exit-on-reboot`).
    AwaitingReboot,
}

impl End {
    /// Whether the deployment is over (a pause or a pending reboot is not).
    pub fn is_final(&self) -> bool {
        !matches!(self, End::Paused { .. } | End::AwaitingReboot)
    }

    /// Why it did not succeed, when it did not (the first problem of a rejection).
    pub fn reason(&self) -> Option<Reason> {
        match self {
            End::Success => None,
            End::RolledBack { reason, .. } => Some(*reason),
            End::Inconsistent { .. } => Some(Reason::Inconsistent),
            End::Rejected { problems } => Some(
                problems
                    .first()
                    .map_or(Reason::InvalidManifest, |p| p.reason),
            ),
            End::Paused { .. } => Some(Reason::Paused),
            End::AwaitingReboot => Some(Reason::RebootFailed),
        }
    }
}

/// The account of one deployment (or of the part of it this invocation ran).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentReport {
    pub deployment: String,
    pub manifest: String,
    /// Seconds since the epoch.
    pub started_at: u64,
    pub ended_at: u64,
    pub end: End,
    /// Whether the deployment was already failing when this invocation picked it up (a
    /// `rollback` or a `resume` into Cleanup): then a clean rollback is this call's success.
    pub was_failing: bool,
    pub components: Vec<ComponentOutcome>,
}

impl DeploymentReport {
    /// Mender Orchestrator's exit code for this report: 0 success, 1 failure, 4 success that
    /// needs a reboot. A clean rollback is a success for a call that found the deployment
    /// already failing (`rollback`, or `resume` into Cleanup).
    pub fn exit_code(&self) -> u8 {
        match &self.end {
            End::Success => 0,
            End::RolledBack { .. } if self.was_failing => 0,
            End::RolledBack { .. } | End::Inconsistent { .. } | End::Rejected { .. } => 1,
            End::Paused { lost, .. } if !lost.is_empty() => 1,
            End::Paused { failing, .. } if *failing && !self.was_failing => 1,
            End::Paused { .. } => 0,
            End::AwaitingReboot => 4,
        }
    }
}

/// A deployment found in the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InFlight {
    pub deployment: String,
    pub manifest: String,
    /// Where it stands, in words (`paused before ArtifactCommit`, ...).
    pub position: String,
    pub paused: Option<Boundary>,
    pub failing: bool,
}

/// The journal as a starting baton reads it (`baton journal show`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalView {
    /// The journal's directory.
    pub journal: String,
    /// The generation of its record.
    pub generation: u64,
    /// Why the newest generation was unusable, when the previous one was used.
    pub fell_back: Option<String>,
    pub deployment: Option<InFlight>,
    /// False when read without the datastore lock while another baton acted on it.
    #[serde(default = "live")]
    pub locked: bool,
}
