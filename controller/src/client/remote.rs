//! The engine over the daemon's socket: `install`, `resume`, `rollback` (the Update Module's
//! hand-off), `show-provides`, `show-inventory` and `journal show` through `baton run`, so
//! the CLI writes each verb once against `&dyn Deployer`.
//!
//! The daemon's engine answers; progress is not streamed (the report says how it ended).
//! What the API does not offer (a preview, the controller's own questions about the
//! journal and the Manifest store) answers [`EngineError::NotOffered`].

use std::sync::Arc;

use super::{Client, ClientError};
use crate::engine::api::{
    BoxFuture, Deployer, DeploymentReport, EngineError, Inventory, JournalView, Observation,
    PlanReport, Preview, ProgressSink, RunOptions,
};
use crate::resource::LoadedManifest;
use crate::wire::{InstallRequest, PlanRequest, ResumeRequest, RollbackRequest, RunOpts};

/// A [`Deployer`] whose engine is the daemon's.
#[derive(Debug, Clone)]
pub struct RemoteDeployer {
    client: Client,
}

impl RemoteDeployer {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// The daemon's error answer as the engine error the CLI maps to exit codes.
fn engine_error(e: ClientError) -> EngineError {
    match e.code() {
        Some("NothingInProgress") => EngineError::NothingInProgress,
        _ => EngineError::Remote(e.to_string()),
    }
}

impl Deployer for RemoteDeployer {
    fn observe(&self) -> BoxFuture<'_, Result<Observation, EngineError>> {
        Box::pin(async move { self.client.provides().await.map_err(engine_error) })
    }

    fn inventory(&self) -> BoxFuture<'_, Result<Inventory, EngineError>> {
        Box::pin(async move { self.client.inventory().await.map_err(engine_error) })
    }

    fn journal(&self) -> BoxFuture<'_, Result<JournalView, EngineError>> {
        Box::pin(async move { self.client.journal().await.map_err(engine_error) })
    }

    fn preview(&self, _: LoadedManifest) -> BoxFuture<'_, Result<Preview, EngineError>> {
        Box::pin(async { Err(EngineError::NotOffered("a preview through the daemon")) })
    }

    fn plan(&self, manifest: LoadedManifest) -> BoxFuture<'_, Result<PlanReport, EngineError>> {
        Box::pin(async move {
            let req = PlanRequest {
                manifest: String::from_utf8_lossy(&manifest.bytes).into_owned(),
                origin: manifest.origin,
                base_dir: manifest.base_dir,
            };
            self.client.plan(&req).await.map_err(engine_error)
        })
    }

    fn install(
        &self,
        manifest: LoadedManifest,
        opts: RunOptions,
        _: Arc<dyn ProgressSink>,
    ) -> BoxFuture<'_, Result<DeploymentReport, EngineError>> {
        Box::pin(async move {
            let req = InstallRequest {
                manifest: String::from_utf8_lossy(&manifest.bytes).into_owned(),
                origin: manifest.origin,
                base_dir: manifest.base_dir,
                options: RunOpts::from(&opts),
            };
            self.client.install(&req).await.map_err(engine_error)
        })
    }

    fn resume(
        &self,
        opts: RunOptions,
        explicit: bool,
        _: Arc<dyn ProgressSink>,
    ) -> BoxFuture<'_, Result<DeploymentReport, EngineError>> {
        Box::pin(async move {
            let req = ResumeRequest {
                options: RunOpts::from(&opts),
                explicit,
            };
            self.client.resume(&req).await.map_err(engine_error)
        })
    }

    fn rollback(
        &self,
        opts: RunOptions,
        _: Arc<dyn ProgressSink>,
    ) -> BoxFuture<'_, Result<DeploymentReport, EngineError>> {
        Box::pin(async move {
            let req = RollbackRequest {
                options: RunOpts::from(&opts),
            };
            self.client.rollback(&req).await.map_err(engine_error)
        })
    }
}
