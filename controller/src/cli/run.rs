//! `baton run`: start the controller with the live engine.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::{exit, GlobalArgs};
use crate::config::ProcessEnv;
use crate::daemon;
use crate::engine::{Deployer, Engine};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Seconds a running Interface call may go on after SIGTERM before baton exits anyway
    #[arg(long = "grace-seconds", value_name = "SECONDS", default_value_t = daemon::DEFAULT_GRACE.as_secs())]
    pub grace_seconds: u64,
}

pub fn run(global: &GlobalArgs, args: &RunArgs) -> u8 {
    let eff = match super::deploy::effective(global) {
        Ok(e) => e,
        Err(code) => return code,
    };
    // Two workers: the API answers while the reconciler waits on an Interface.
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(8)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("baton: cannot start the runtime: {e}");
            return exit::INVALID;
        }
    };
    rt.block_on(async {
        let shutdown = tokio_util::sync::CancellationToken::new();
        if let Err(e) = daemon::signals::install(shutdown.clone()) {
            eprintln!("baton: cannot handle signals: {e}");
            return exit::INVALID;
        }
        // The process's one registry: the engine, its Interfaces and Artifact sources, and
        // the controller record into it; the API serves it.
        let metrics = super::metrics::registry();
        let engine: Arc<dyn Deployer> = match Engine::open(eff.clone(), metrics.clone()) {
            Ok(e) => Arc::new(e),
            Err(e) => {
                eprintln!("baton: {e}");
                return exit::INVALID;
            }
        };
        let grace = Duration::from_secs(args.grace_seconds);
        let notifier = daemon::sd_notify::Notifier::from_env(&ProcessEnv);
        match daemon::run(&eff, engine, metrics, grace, notifier, shutdown).await {
            Ok(()) => exit::OK,
            Err(e) => {
                eprintln!("baton: {e}");
                exit::INVALID
            }
        }
    })
}
