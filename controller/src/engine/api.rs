//! What the engine offers the rest of baton: the [`Deployer`] seam.
//!
//! The controller (`baton run`), the CLI verbs and the Update Module hand-off all act on the
//! System through this trait, so there is one engine and one journal whichever way a
//! Manifest arrives. Tests of the controller use an in-memory implementation.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::driver::RunOptions;
use super::machine::Boundary;
use crate::model::Provides;
use crate::resource::LoadedManifest;

/// A boxed future, so the trait can be used as `Arc<dyn Deployer>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

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

/// Every component of the Topology, observed now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    pub system_type: String,
    pub components: Vec<ComponentObservation>,
}

/// What a deployment of a Manifest would do now, without doing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Preview {
    /// Every component already runs its Artifact.
    InSync,
    /// These components would change (from their current to the desired Artifact).
    Changes { components: Vec<PlannedChange> },
    /// The Manifest cannot be deployed: every problem, in words.
    Rejected { problems: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedChange {
    pub component: ComponentRef,
    pub order: u8,
    pub to_artifact: String,
}

/// Live progress of a deployment, for status, the CLI's progress view and metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "event")]
pub enum Progress {
    Started {
        deployment: String,
        manifest: String,
        components: Vec<PlannedChange>,
    },
    /// A state or query starts for these components of an order group.
    StepStarted {
        order: u8,
        state: String,
        components: Vec<ComponentRef>,
    },
    StepFinished {
        order: u8,
        state: String,
        failed: Vec<(ComponentRef, String)>,
        seconds: f64,
    },
    /// Payload bytes handed to a component's Interface so far.
    Bytes {
        component: ComponentRef,
        bytes: u64,
        total: Option<u64>,
    },
    /// The host is about to be rebooted (or the caller must reboot it).
    Rebooting,
}

/// Receives progress events. Must not block.
pub trait ProgressSink: Send + Sync {
    fn emit(&self, event: Progress);
}

/// Drops every event.
pub struct NoProgress;
impl ProgressSink for NoProgress {
    fn emit(&self, _: Progress) {}
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
    /// The deployment failed and every touched component was brought back.
    RolledBack { failed_at: String, reason: String },
    /// The deployment failed and some components could not be brought back.
    Inconsistent {
        failed_at: String,
        reason: String,
        components: Vec<ComponentRef>,
    },
    /// The Manifest cannot be deployed; nothing was touched.
    Rejected { problems: Vec<String> },
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

/// Why the engine could not act. Each variant names what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Setup(String),
    #[error("the Topology is invalid:\n{0}")]
    Topology(crate::resource::Diagnostics),
    #[error(
        "a deployment of '{manifest}' is in progress ({position}): resume it or roll it back first"
    )]
    InProgress { manifest: String, position: String },
    #[error("there is no deployment to resume or roll back")]
    NothingInProgress,
    #[error(transparent)]
    NotAllowed(#[from] super::machine::NotAllowed),
    #[error(transparent)]
    Journal(#[from] super::journal::JournalError),
    #[error(transparent)]
    Store(#[from] super::store::StoreError),
    #[error(transparent)]
    Lock(#[from] crate::durable::LockError),
}

impl From<super::driver::DriveError> for EngineError {
    fn from(e: super::driver::DriveError) -> Self {
        match e {
            super::driver::DriveError::Journal(j) => EngineError::Journal(j),
        }
    }
}

/// The engine as the rest of baton uses it.
pub trait Deployer: Send + Sync {
    /// Ask every component of the Topology its Identity and Provides.
    fn observe(&self) -> BoxFuture<'_, Result<Observation, EngineError>>;
    /// What deploying `manifest` would do now (observes, resolves Artifacts, plans).
    fn preview(&self, manifest: LoadedManifest) -> BoxFuture<'_, Result<Preview, EngineError>>;
    /// Deploy `manifest` until it finishes, pauses or needs a reboot.
    fn install(
        &self,
        manifest: LoadedManifest,
        opts: RunOptions,
        progress: Arc<dyn ProgressSink>,
    ) -> BoxFuture<'_, Result<DeploymentReport, EngineError>>;
    /// Continue the deployment in the journal. `explicit`: a person or the Update Module
    /// asked (after `--exit-on-reboot` the caller vouches for the reboot); false when baton
    /// restarted by itself.
    fn resume(
        &self,
        opts: RunOptions,
        explicit: bool,
        progress: Arc<dyn ProgressSink>,
    ) -> BoxFuture<'_, Result<DeploymentReport, EngineError>>;
    /// Roll back the deployment in the journal.
    fn rollback(
        &self,
        opts: RunOptions,
        progress: Arc<dyn ProgressSink>,
    ) -> BoxFuture<'_, Result<DeploymentReport, EngineError>>;
    /// The deployment in the journal, if any.
    fn in_flight(&self) -> Result<Option<InFlight>, EngineError>;
    /// The last successfully deployed Manifest (what a rollback action returns to) and the
    /// one before it.
    fn deployed_manifests(
        &self,
    ) -> Result<(Option<LoadedManifest>, Option<LoadedManifest>), EngineError>;
}
