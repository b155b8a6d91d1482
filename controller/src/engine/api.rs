//! The engine's one door: what the rest of baton may name. Everything else in `engine/` is
//! private to it.
//!
//! The controller (`baton run`), the CLI verbs and the Update Module hand-off all act on the
//! System through the [`Deployer`] trait, so there is one engine and one journal whichever
//! way a Manifest arrives: [`Engine`](super::Engine) in the process that holds the
//! datastore, `client::RemoteDeployer` over the daemon's socket. Tests of the controller use
//! an in-memory implementation.

use std::sync::Arc;

pub use super::bundle::staging_root as bundle_staging_root;
pub use super::driver::{RunOptions, RECHECK};
pub use super::error::EngineError;
pub use super::gate::{BoxFuture, Gate, GateContext, GatePhase, GatePoint, Open, Verdict};
pub use super::kept::{journal_reset, journal_show, kept_inventory, kept_observation, BUSY_WAIT};
pub use super::machine::{failure_reason, Boundary};
pub use super::problem::Problem;
pub use super::progress::{
    rolls_back, status_words, DeploymentPhase, NoProgress, Progress, ProgressSink, WAITING,
};
pub use super::report::{
    ComponentObservation, ComponentOutcome, ComponentRef, ComponentResult, DeploymentReport, End,
    InFlight, Inventory, JournalView, Observation, PlannedChange, Preview,
};
pub use super::review::{stale as plan_changed_since, PlanReport, KEEP as KEPT_PLANS};
pub use super::states::{Call, Query, State};
pub use crate::planner::{
    PlanComponent, PlanDescription, PlanGroup, Verdict as ConstraintsVerdict,
};
use crate::resource::LoadedManifest;

/// The ordering transcribed straight from the documentation: the property tests' and the
/// end-to-end ordering tests' oracle (with the `testkit` feature).
#[cfg(any(test, feature = "testkit"))]
#[path = "oracle.rs"]
pub mod oracle;

/// The engine as the rest of baton uses it.
pub trait Deployer: Send + Sync {
    /// Every component's Identity and Provides. Never waits for a deployment: while one
    /// runs, the last observation (`live: false`).
    fn observe(&self) -> BoxFuture<'_, Result<Observation, EngineError>>;
    /// The System's inventory (Mender inventory lines), by the same rule as `observe`.
    fn inventory(&self) -> BoxFuture<'_, Result<Inventory, EngineError>>;
    /// The journal as this engine holds it.
    fn journal(&self) -> BoxFuture<'_, Result<JournalView, EngineError>>;
    /// What deploying `manifest` would do now (observes, resolves Artifacts, plans).
    fn preview(&self, manifest: LoadedManifest) -> BoxFuture<'_, Result<Preview, EngineError>>;
    /// What deploying `manifest` would do now, and its `planHash` (`baton plan`): queries
    /// only, never waiting for a deployment.
    fn plan(&self, _manifest: LoadedManifest) -> BoxFuture<'_, Result<PlanReport, EngineError>> {
        Box::pin(async { Err(EngineError::NotOffered("a plan")) })
    }
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
    /// The deployment in the journal, if any (the controller's question; an engine that
    /// does not hold the datastore does not offer it).
    fn in_flight(&self) -> Result<Option<InFlight>, EngineError> {
        Err(EngineError::NotOffered(
            "the journal's deployment (ask `journal()`)",
        ))
    }
    /// The last successfully deployed Manifest (what a rollback action returns to) and the
    /// one before it (the controller's question too).
    fn deployed_manifests(
        &self,
    ) -> Result<(Option<LoadedManifest>, Option<LoadedManifest>), EngineError> {
        Err(EngineError::NotOffered("the Manifest store"))
    }
}
