//! `baton run`: start the controller with the live engine.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::{exit, settings, CliError, GlobalArgs};
use crate::config::ProcessEnv;
use crate::daemon;
use crate::engine::{Deployer, Engine};
use crate::gates::Gates;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Seconds a running Interface call may go on after SIGTERM before baton exits anyway
    #[arg(long = "grace-seconds", value_name = "SECONDS", default_value_t = daemon::DEFAULT_GRACE.as_secs())]
    pub grace_seconds: u64,
}

pub fn run(
    global: &GlobalArgs,
    args: &RunArgs,
    rt: &tokio::runtime::Runtime,
) -> Result<u8, CliError> {
    let eff = settings::effective(global)?;
    rt.block_on(async {
        let shutdown = tokio_util::sync::CancellationToken::new();
        daemon::signals::install(shutdown.clone()).map_err(CliError::Signals)?;
        // The process's one registry: the engine, its Interfaces and Artifact sources, and
        // the controller record into it; the API serves it.
        let metrics = super::metrics::registry();
        // The gates the engine asks between plan and execute; the controller answers consent
        // and `--force` with the same ones.
        let gates = Arc::new(
            Gates::configured(&eff.config, &eff.dirs.datastore_dir)
                .map_err(daemon::DaemonError::Gates)?,
        );
        // The Kanto update agents among the components, on one connection (refused here,
        // before anything starts, when the Topology names one and `Kanto` is not set).
        let externals = super::agents::externals(&eff, shutdown.clone()).await?;
        let engine: Arc<dyn Deployer> = Arc::new(
            Engine::open(eff.clone(), metrics.clone())?
                .with_gate(gates.clone())
                .with_externals(externals),
        );
        let grace = Duration::from_secs(args.grace_seconds);
        let notifier = daemon::sd_notify::Notifier::from_env(&ProcessEnv);
        daemon::run(&eff, engine, gates, metrics, grace, notifier, shutdown).await?;
        Ok(exit::OK)
    })
}
