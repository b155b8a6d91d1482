//! The engine verbs through a running controller: when `baton run` answers on the
//! configured socket, `install`, `resume` and `rollback` (and so the Mender Update Module)
//! act through it, so the daemon and the Update Module share one engine and one journal and
//! never race. Without a daemon the caller runs the engine in-process.

use std::path::Path;

use super::GlobalArgs;
use crate::daemon::client::{block_on, Client, ClientError};
use crate::daemon::wire::{InstallRequest, ResumeRequest, RollbackRequest, RunOpts};
use crate::engine::api::RunOptions;
use crate::engine::api::{DeploymentReport, EngineError};

/// What to ask the daemon.
pub enum Verb<'a> {
    Install {
        manifest: &'a Path,
        opts: &'a RunOptions,
    },
    Resume(&'a RunOptions),
    Rollback(&'a RunOptions),
}

/// `None` when no daemon answers; else the engine's answer, as the in-process call gives it.
pub fn through_daemon(
    global: &GlobalArgs,
    verb: Verb<'_>,
) -> Option<Result<DeploymentReport, EngineError>> {
    let eff = super::deploy::effective(global).ok()?;
    block_on(async {
        let client = Client::connect(&eff.config.api.socket).await?;
        tracing::info!(socket = %client.socket().display(), "a baton daemon runs: acting through it");
        let r = match verb {
            Verb::Install { manifest, opts } => {
                let text = match std::fs::read_to_string(manifest) {
                    Ok(t) => t,
                    Err(e) => {
                        return Some(Err(EngineError::Setup(format!(
                            "{}: {e}",
                            manifest.display()
                        ))))
                    }
                };
                let base_dir = std::path::absolute(manifest)
                    .ok()
                    .and_then(|p| p.parent().map(Path::to_path_buf));
                client
                    .install(&InstallRequest {
                        manifest: text,
                        origin: manifest.display().to_string(),
                        base_dir,
                        options: RunOpts::from(opts),
                    })
                    .await
            }
            Verb::Resume(opts) => {
                client
                    .resume(&ResumeRequest {
                        options: RunOpts::from(opts),
                        explicit: true,
                    })
                    .await
            }
            Verb::Rollback(opts) => {
                client
                    .rollback(&RollbackRequest {
                        options: RunOpts::from(opts),
                    })
                    .await
            }
        };
        Some(r.map_err(engine_error))
    })
}

/// The daemon's error answer as the engine error the CLI already maps to exit codes.
fn engine_error(e: ClientError) -> EngineError {
    match e.code() {
        Some("NothingInProgress") => EngineError::NothingInProgress,
        _ => EngineError::Setup(e.to_string()),
    }
}
