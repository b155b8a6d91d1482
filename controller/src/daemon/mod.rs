//! `baton run`: the long-running controller.
//!
//! Three sources feed one desired-state store: the watched directory ([`watch_dir`]), the
//! local API ([`api`], `PUT /v1/manifest`) and the Update Module hand-off (the engine verbs,
//! sent by the CLI over the API). Sources only write the store and poke the [`reconciler`],
//! which compares desired with observed every time and runs one deployment at a time through
//! the engine's [`Deployer`] seam. Status ([`board`]) and metrics are what users see.
//!
//! This room never runs Interfaces or touches the journal itself: everything that acts on
//! the System goes through the `Deployer`.

pub mod api;
pub mod backoff;
pub mod board;
pub mod clock;
pub mod commands;
pub mod components;
pub mod conditions;
pub mod desired;
pub mod history;
pub mod memory;
pub mod progress;
pub mod reconciler;
pub mod sd_notify;
pub mod signals;
pub mod watch_dir;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::Effective;
use crate::durable::{DatastoreLock, LockError};
use crate::engine::api::Deployer;
use crate::metrics::Metrics;

pub use commands::{Action, Handle};
pub use desired::Admission;

/// The default grace period for a running engine call after SIGTERM.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(90);

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("another `baton run` holds {0}")]
    Lock(#[from] LockError),
    #[error(transparent)]
    Desired(#[from] desired::DesiredError),
    #[error(transparent)]
    Persist(#[from] crate::durable::PersistError),
    #[error(transparent)]
    Listen(#[from] api::listen::ListenError),
    #[error(transparent)]
    Watch(#[from] watch_dir::WatchError),
    #[error("RequireSignedManifests: {0}")]
    Keys(crate::artifact::ArtifactError),
}

/// The Manifest signature policy: the verify keys are loaded only when signatures are
/// required, and a key that cannot be loaded stops the controller (fail closed).
fn manifest_policy(
    cfg: &crate::config::Config,
) -> Result<crate::signed_manifest::ManifestPolicy, DaemonError> {
    let required = cfg.require_signed_manifests;
    let keys = if required {
        crate::artifact::VerifyPolicy::load(&cfg.verify_keys()).map_err(DaemonError::Keys)?
    } else {
        crate::artifact::VerifyPolicy::none()
    };
    Ok(crate::signed_manifest::ManifestPolicy { required, keys })
}

/// Whose System this daemon acts on, for the handshake (`GET /v1/identity`): the datastore
/// as its canonical path, and the Topology.
pub fn identity(eff: &Effective) -> crate::wire::Identity {
    let datastore = &eff.dirs.datastore_dir;
    crate::wire::Identity {
        datastore: std::fs::canonicalize(datastore).unwrap_or_else(|_| datastore.clone()),
        topology_file: eff.dirs.topology_file.clone(),
        system_type: crate::resource::load_topology(
            &eff.dirs.topology_file,
            eff.config.topology_components.as_deref(),
        )
        .ok()
        .map(|t| t.system_type),
        version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// Where the controller keeps its own files.
pub fn controller_dir(eff: &Effective) -> PathBuf {
    eff.dirs.datastore_dir.join("controller")
}

/// Runs the controller until `shutdown` is cancelled.
pub async fn run(
    eff: &Effective,
    deployer: Arc<dyn Deployer>,
    metrics: Metrics,
    grace: Duration,
    notifier: Option<sd_notify::Notifier>,
    shutdown: CancellationToken,
) -> Result<(), DaemonError> {
    let cfg = &eff.config;
    let dir = controller_dir(eff);
    // One controller per datastore: a second one would steal the socket and race the first.
    let _lock = DatastoreLock::acquire(&dir)?;
    let desired = Arc::new(desired::DesiredStore::open(&dir)?);
    let memory = memory::MemoryFile::open(&dir)?;
    let history = history::History::open(&dir)?;
    let settings = reconciler::Settings {
        retry: backoff::RetryPolicy::from_config(&cfg.retry, backoff::process_seed()),
        resync: Duration::from_secs(cfg.resync_interval_seconds.max(1)),
        drift: cfg.drift_policy,
        grace,
    };
    let (reconciler, handle) = reconciler::Reconciler::new(
        deployer,
        desired,
        memory,
        history,
        metrics.clone(),
        settings,
        notifier,
        shutdown.clone(),
    );
    let admission = Admission {
        topology_file: eff.dirs.topology_file.clone(),
        topology_components: cfg.topology_components.clone(),
        signatures: manifest_policy(cfg)?,
    };

    let unix = api::listen::unix(&cfg.api.socket, cfg.socket_mode())?;
    let (tcp, token) = match &cfg.api.tcp {
        Some(addr) => (
            Some(api::listen::tcp(addr).await?),
            Some(api::listen::token(cfg.api.token_file.as_deref())?),
        ),
        None => (None, None),
    };
    let state = api::ApiState::new(
        handle.clone(),
        admission.clone(),
        metrics,
        identity(eff),
        token,
    );
    let server = tokio::spawn(api::serve(state, unix, tcp, shutdown.clone()));
    tracing::info!(socket = %cfg.api.socket.display(), tcp = ?cfg.api.tcp, watch_dir = %cfg.watch_dir.display(), "baton run: listening");

    // Watch first, then scan: a file landing in between is seen by both, and the second
    // look finds it gone (moved aside) and ignores it.
    watch_dir::prepare(&cfg.watch_dir)?;
    let watcher = watch_dir::watch(
        &cfg.watch_dir,
        admission.clone(),
        handle.clone(),
        shutdown.clone(),
    )?;
    {
        let (d, a, h) = (cfg.watch_dir.clone(), admission, handle.clone());
        let scanned = tokio::task::spawn_blocking(move || watch_dir::scan(&d, &a, &h))
            .await
            .expect("the scan does not panic")?;
        for (name, outcome) in scanned {
            tracing::info!(file = %name.to_string_lossy(), ?outcome, "found in the watched directory at start");
        }
    }

    reconciler.run().await;
    shutdown.cancel();
    watcher.stopped().await;
    let _ = server.await;
    Ok(())
}
