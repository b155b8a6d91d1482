//! The Update Module hand-off: `baton install|resume|rollback` (and so the Mender Update
//! Module) run the engine through the daemon when it runs, over the Unix socket only.
//!
//! An install's Manifest goes through the same admission as every other door
//! ([`Door::Handoff`]: schema, semantics, Topology and system type; its signature is the
//! Mender Artifact's, checked by the Mender client), then to the reconciler's loop as a
//! command, so the daemon and the Update Module never race. When it succeeds the reconciler
//! makes it the desired state ([`crate::model::Origin::UpdateModule`]). The options come
//! from the CLI's flags (`--stop-before`, `--exit-on-reboot`, `--allow-downgrade`): the API
//! serves these requests only to local callers the socket's peer check let in.

use std::sync::Arc;

use crate::daemon::admission::{Admission, Door, Refused};
use crate::daemon::commands::{Handle, Handoff, HandoffError};
use crate::engine::api::DeploymentReport;
use crate::wire::{InstallRequest, ResumeRequest, RollbackRequest};

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error(transparent)]
    Handoff(#[from] HandoffError),
}

/// `baton install` through the daemon.
pub async fn install(
    admission: Arc<Admission>,
    handle: Handle,
    req: InstallRequest,
) -> Result<DeploymentReport, InstallError> {
    let InstallRequest {
        manifest,
        origin,
        base_dir,
        options,
    } = req;
    // Admission reads the Topology: off the async workers.
    let admitted = tokio::task::spawn_blocking(move || {
        admission.admit(Door::Handoff, &origin, manifest.as_bytes(), None, base_dir)
    })
    .await
    .map_err(|_| HandoffError::ShuttingDown)??;
    Ok(handle
        .handoff(Handoff::Install {
            manifest: admitted,
            opts: options.into(),
        })
        .await?)
}

/// `baton resume` through the daemon.
pub async fn resume(handle: &Handle, req: ResumeRequest) -> Result<DeploymentReport, HandoffError> {
    handle
        .handoff(Handoff::Resume {
            opts: req.options.into(),
            explicit: req.explicit,
        })
        .await
}

/// `baton rollback` through the daemon.
pub async fn rollback(
    handle: &Handle,
    req: RollbackRequest,
) -> Result<DeploymentReport, HandoffError> {
    handle
        .handoff(Handoff::Rollback {
            opts: req.options.into(),
        })
        .await
}
