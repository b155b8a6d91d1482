//! Where desired states come from: the [`Source`] seam.
//!
//! A source is a task that turns what arrives (a dropped file, an HTTP request, next: a
//! Kanto MQTT message) into one call: [`SourceContext::offer`], which admits the Manifest
//! through its [`Door`] ([`crate::daemon::admission`]), makes it the desired state and pokes
//! the reconciler. A source never acts on the System, never waits for a deployment and
//! never talks to the engine: the reconciler looks again and decides. A source that reports
//! back to its sender (Kanto's feedback) follows the status [`Events`] stream.
//!
//! [`configured`] builds the list from the configuration and [`start`] runs it; adding a
//! source is a new implementation and a line in [`configured`], never a change to the
//! reconciler's loop. Today's sources: the watched directory ([`watch_dir`]), the local
//! API ([`api`]: `PUT /v1/manifest`, and on the Unix socket the Update Module hand-off,
//! [`handoff`], which hands a Manifest to the engine through the same admission), and, when
//! `Kanto` is configured, Eclipse Kanto's Update Manager API over MQTT ([`kanto`], with the
//! daemon's side of the Kanto room's edges in [`kanto_edges`] and [`kanto_feed`]).

pub mod api;
pub mod handoff;
pub mod kanto;
pub mod kanto_edges;
pub mod kanto_feed;
pub mod watch_dir;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::admission::{Admission, Door, Refused};
use super::commands::Handle;
use super::desired::DesiredError;
use super::status::Events;
use crate::config::Effective;
use crate::engine::api::BoxFuture;
use crate::metrics::Metrics;
use crate::model::Origin;
use crate::wire::Applied;

/// Why a source stopped (or could not start).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Watch(#[from] watch_dir::WatchError),
    #[error("{0}")]
    Failed(String),
}

/// One source of desired states.
pub trait Source: Send {
    /// A short name for logs and errors (`watch-dir`, `api`, `kanto`).
    fn name(&self) -> &'static str;
    /// Runs until `ctx.shutdown`. Calls [`SourceContext::started`] once what was there at
    /// start is taken in (the reconciler's first look, and `/readyz`, wait for it); an error
    /// before that stops `baton run` from starting.
    fn run(self: Box<Self>, ctx: SourceContext) -> BoxFuture<'static, Result<(), SourceError>>;
}

/// What a source gets to work with.
pub struct SourceContext {
    pub admission: Arc<Admission>,
    /// The desired-state store, "look again", the status board and its events, actions.
    pub handle: Handle,
    pub shutdown: CancellationToken,
    started: Option<oneshot::Sender<()>>,
}

/// A Manifest a source offers.
#[derive(Debug)]
pub struct Offer<'a> {
    pub door: Door,
    pub origin: Origin,
    /// Names the Manifest in diagnostics (a path, `api`).
    pub shown_as: &'a str,
    pub bytes: &'a [u8],
    /// Its detached signature, if it came with one.
    pub signature: Option<&'a [u8]>,
    /// Where its relative `artifact_path`s resolve.
    pub base_dir: Option<PathBuf>,
}

/// Why an offered Manifest did not become desired.
#[derive(Debug, thiserror::Error)]
pub enum OfferError {
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error(transparent)]
    Store(#[from] DesiredError),
}

impl SourceContext {
    /// Says that what was there at start has been taken in.
    pub fn started(&mut self) {
        if let Some(tx) = self.started.take() {
            let _ = tx.send(());
        }
    }

    /// Admits `offer` and makes it the desired state (the same Manifest again keeps its
    /// generation). Reads the Topology and writes durably: call it off the async workers.
    pub fn offer(&self, offer: Offer<'_>) -> Result<Applied, OfferError> {
        self::offer(&self.admission, &self.handle, offer)
    }

    /// The status event stream, for a source that reports back to its sender.
    pub fn events(&self) -> &Events {
        self.handle.board.events()
    }
}

/// [`SourceContext::offer`], for callers that hold the parts (the API's handlers).
pub fn offer(admission: &Admission, handle: &Handle, o: Offer<'_>) -> Result<Applied, OfferError> {
    let m = admission.admit(o.door, o.shown_as, o.bytes, o.signature, o.base_dir)?;
    let (name, sha256) = (m.manifest.name.clone(), m.sha256.clone());
    let (generation, changed) = handle.desired.apply(m, o.origin.clone(), None)?;
    if changed {
        tracing::info!(generation, manifest = %name, origin = %o.origin, "new desired state");
        handle.poke();
    }
    Ok(Applied {
        generation,
        name,
        sha256,
        changed,
    })
}

/// Why `baton run` cannot start its sources.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Listen(#[from] super::api::listen::ListenError),
    /// A `Kanto` value that cannot be used (`Kanto.<Key>: ...`).
    #[error(transparent)]
    Kanto(#[from] crate::kanto::KantoConfigError),
    #[error("desired-state source `{name}`: {error}")]
    Source {
        name: &'static str,
        error: SourceError,
    },
}

/// The sources the configuration asks for. Listeners are bound and token files checked
/// here, so a mistake stops the start with an error naming the setting.
pub async fn configured(
    eff: &Effective,
    metrics: Metrics,
) -> Result<Vec<Box<dyn Source>>, StartError> {
    let cfg = &eff.config;
    let mut sources: Vec<Box<dyn Source>> = vec![Box::new(watch_dir::WatchDirSource {
        dir: cfg.watch_dir.clone(),
    })];
    if let Some(k) = &cfg.kanto {
        sources.push(Box::new(kanto::KantoSource::open(
            k,
            &eff.dirs.datastore_dir,
        )?));
    }
    // The API last: see [`start`].
    sources.push(Box::new(
        api::ApiSource::open(cfg, metrics, crate::daemon::identity(eff)).await?,
    ));
    Ok(sources)
}

/// The running sources.
pub struct Running {
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<Result<(), SourceError>>>,
}

impl Running {
    /// Waits for every source to stop (after the shutdown was asked).
    pub async fn stopped(self) {
        self.shutdown.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Spawns the sources one after the other, each once the one before it has taken in what
/// was there at start; if one fails before that, the others are stopped and the error
/// returned. The order is the list's: [`configured`] puts the API last, so a client that
/// finds the socket answering finds every other door open too (the watched directory
/// exists, its files at start are taken in).
pub async fn start(
    sources: Vec<Box<dyn Source>>,
    admission: Arc<Admission>,
    handle: &Handle,
    shutdown: &CancellationToken,
) -> Result<Running, StartError> {
    let shutdown = shutdown.child_token();
    let mut tasks = Vec::new();
    let mut failure = None;
    for source in sources {
        let name = source.name();
        let (tx, rx) = oneshot::channel();
        let ctx = SourceContext {
            admission: admission.clone(),
            handle: handle.clone(),
            shutdown: shutdown.clone(),
            started: Some(tx),
        };
        let run = source.run(ctx);
        let mut task = tokio::spawn(async move {
            let r = run.await;
            if let Err(e) = &r {
                tracing::error!(source = name, error = %e, "a desired-state source stopped");
            }
            r
        });
        if rx.await.is_ok() {
            tasks.push(task);
            continue;
        }
        // It ended before saying it started: cleanly (nothing to do) or with the error
        // that stops the start.
        match (&mut task).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => failure = Some(StartError::Source { name, error }),
            Err(join) => {
                failure = Some(StartError::Source {
                    name,
                    error: SourceError::Failed(join.to_string()),
                })
            }
        }
        if failure.is_some() {
            break;
        }
    }
    let running = Running { shutdown, tasks };
    match failure {
        None => Ok(running),
        Some(e) => {
            running.stopped().await;
            Err(e)
        }
    }
}
