//! `baton run`: the long-running controller.
//!
//! Sources ([`sources`]: the watched directory, the local API's `PUT /v1/manifest`, the
//! Update Module hand-off; next: Kanto) admit every Manifest through one [`admission`],
//! write the desired-state store ([`desired`]) and poke the [`reconciler`], which compares
//! desired with observed every time ([`reconciler::decide`]) and runs one deployment at a
//! time through the engine's [`Deployer`] seam. What users see is the [`status`] board and
//! its event stream, served by the [`api`] and mirrored into metrics.
//!
//! This room never runs Interfaces or touches the journal itself: everything that acts on
//! the System goes through the `Deployer`, and the engine's answers are read in one place
//! ([`deployer`]).

pub mod admission;
pub mod api;
pub mod backoff;
pub mod clock;
pub mod commands;
pub mod deployer;
pub mod desired;
pub mod memory;
pub mod reconciler;
pub mod sd_notify;
pub mod signals;
pub mod sources;
pub mod status;

// The paths of before the status room, for callers outside the daemon (metrics) until they
// stop reaching into it.
pub use sources::watch_dir;
pub use status::{board, conditions, history, progress};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::Effective;
use crate::durable::{DatastoreLock, LockError};
use crate::engine::api::Deployer;
use crate::gates::Gates;
use crate::metrics::Metrics;

pub use admission::{Admission, Door};
pub use commands::{Action, Handle};
pub use sources::{Source, SourceContext};

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
    Start(#[from] sources::StartError),
    #[error("RequireSignedManifests: {0}")]
    Keys(crate::artifact::ArtifactError),
    #[error("the configuration's gates are invalid:\n{}", .0.join("\n"))]
    Gates(Vec<String>),
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

/// Runs the controller until `shutdown` is cancelled. `gates` are the ones `deployer` asks
/// (the caller gives the engine the same `Arc`): the controller tells them which generation
/// runs and which is newest, shows their waits, and answers consent and `--force` with them.
pub async fn run(
    eff: &Effective,
    deployer: Arc<dyn Deployer>,
    gates: Arc<Gates>,
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
    let d = desired.clone();
    gates.follow(Arc::new(move || d.generation()));
    let (reconciler, handle) = reconciler::Reconciler::new(
        deployer,
        desired,
        memory,
        history,
        metrics.clone(),
        settings,
        notifier,
        gates,
        shutdown.clone(),
    );
    let admission = Arc::new(Admission {
        topology_file: eff.dirs.topology_file.clone(),
        topology_components: cfg.topology_components.clone(),
        signatures: manifest_policy(cfg)?,
        bundles: Some(admission::Bundles {
            root: crate::engine::api::bundle_staging_root(&eff.dirs.datastore_dir),
            policy: crate::artifact::VerifyPolicy::load(&cfg.verify_keys())
                .map_err(DaemonError::Keys)?,
        }),
    });
    let configured = sources::configured(eff, metrics).await?;
    tracing::info!(watch_dir = %cfg.watch_dir.display(), "baton run: starting the sources of desired state");
    let running = sources::start(configured, admission, &handle, &shutdown).await?;

    reconciler.run().await;
    shutdown.cancel();
    running.stopped().await;
    Ok(())
}
