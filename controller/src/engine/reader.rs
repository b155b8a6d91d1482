//! A [`Deployer`] for a datastore another baton holds: it answers the read-only verbs from
//! what that baton keeps there ([`super::kept`]: the last observation, the journal) and acts
//! on nothing.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::api::Deployer;
use super::error::EngineError;
use super::gate::BoxFuture;
use super::kept::{journal_show, kept_inventory, kept_observation};
use super::report::{DeploymentReport, Inventory, JournalView, Observation, Preview};
use super::{driver::RunOptions, progress::ProgressSink};
use crate::resource::LoadedManifest;

/// Reads a datastore without holding it (see [`super::kept`] for the rule).
#[derive(Debug, Clone)]
pub struct DatastoreReader {
    datastore: PathBuf,
    /// How long `journal` waits for the lock before it only looks.
    wait: Duration,
}

impl DatastoreReader {
    pub fn new(datastore: PathBuf, wait: Duration) -> Self {
        Self { datastore, wait }
    }
}

const ACTING: &str = "acting on the System without the datastore lock";

impl Deployer for DatastoreReader {
    fn observe(&self) -> BoxFuture<'_, Result<Observation, EngineError>> {
        Box::pin(async move { kept_observation(&self.datastore) })
    }

    fn inventory(&self) -> BoxFuture<'_, Result<Inventory, EngineError>> {
        Box::pin(async move { kept_inventory(&self.datastore) })
    }

    fn journal(&self) -> BoxFuture<'_, Result<JournalView, EngineError>> {
        Box::pin(journal_show(&self.datastore, self.wait))
    }

    fn preview(&self, _: LoadedManifest) -> BoxFuture<'_, Result<Preview, EngineError>> {
        Box::pin(async { Err(EngineError::NotOffered(ACTING)) })
    }

    fn install(
        &self,
        _: LoadedManifest,
        _: RunOptions,
        _: Arc<dyn ProgressSink>,
    ) -> BoxFuture<'_, Result<DeploymentReport, EngineError>> {
        Box::pin(async { Err(EngineError::NotOffered(ACTING)) })
    }

    fn resume(
        &self,
        _: RunOptions,
        _: bool,
        _: Arc<dyn ProgressSink>,
    ) -> BoxFuture<'_, Result<DeploymentReport, EngineError>> {
        Box::pin(async { Err(EngineError::NotOffered(ACTING)) })
    }

    fn rollback(
        &self,
        _: RunOptions,
        _: Arc<dyn ProgressSink>,
    ) -> BoxFuture<'_, Result<DeploymentReport, EngineError>> {
        Box::pin(async { Err(EngineError::NotOffered(ACTING)) })
    }
}
