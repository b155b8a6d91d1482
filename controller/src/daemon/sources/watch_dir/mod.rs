//! The watched directory: drop a Manifest file in, and it becomes the desired state.
//!
//! Files present at start are taken in once by [`scan`] before the first reconcile; after
//! that an inotify watch (notify) reports files as they are completely written (close after
//! write) or renamed into the directory. Events are debounced briefly so a burst of files is
//! taken in as one batch in arrival order; the newest valid one is then the desired state.
//! This room only feeds the desired-state store and pokes the reconciler; it never acts on
//! the System. [`WatchDirSource`] is its [`Source`].

mod intake;
mod names;
mod sidecar;

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind, RenameMode};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use intake::{take, Intake};
pub use names::is_candidate;

use super::{Source, SourceContext, SourceError};
use crate::daemon::admission::Admission;
use crate::daemon::commands::Handle;
use crate::engine::api::BoxFuture;

/// Where applied files go, inside the watched directory.
pub const APPLIED: &str = "applied";
/// Where refused files go, each next to `<name>.error`.
pub const REJECTED: &str = "rejected";
/// How long to wait for more events after one arrives.
pub const DEBOUNCE: Duration = Duration::from_millis(20);

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("watched directory {dir}: {source}")]
    Io {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("watched directory {dir}: {source}")]
    Notify { dir: PathBuf, source: notify::Error },
}

/// The watched directory as a desired-state source: watch first, then scan (a file landing
/// in between is seen by both, and the second look finds it gone and ignores it), then say
/// started.
pub struct WatchDirSource {
    pub dir: PathBuf,
}

impl Source for WatchDirSource {
    fn name(&self) -> &'static str {
        "watch-dir"
    }

    fn run(self: Box<Self>, mut ctx: SourceContext) -> BoxFuture<'static, Result<(), SourceError>> {
        Box::pin(async move {
            prepare(&self.dir)?;
            let watcher = watch(
                &self.dir,
                ctx.admission.clone(),
                ctx.handle.clone(),
                ctx.shutdown.clone(),
            )?;
            let (d, a, h) = (self.dir.clone(), ctx.admission.clone(), ctx.handle.clone());
            let scanned = tokio::task::spawn_blocking(move || scan(&d, &a, &h))
                .await
                .map_err(|e| SourceError::Failed(e.to_string()))??;
            for (name, outcome) in scanned {
                tracing::info!(file = %name.to_string_lossy(), ?outcome, "found in the watched directory at start");
            }
            ctx.started();
            watcher.stopped().await;
            Ok(())
        })
    }
}

/// Creates the directory layout.
pub fn prepare(dir: &Path) -> Result<(), WatchError> {
    for d in [dir.to_path_buf(), dir.join(APPLIED), dir.join(REJECTED)] {
        std::fs::create_dir_all(&d).map_err(|source| WatchError::Io {
            dir: dir.to_path_buf(),
            source,
        })?;
    }
    Ok(())
}

/// Takes in every file present now, oldest first. Returns what became of each.
pub fn scan(
    dir: &Path,
    admission: &Admission,
    handle: &Handle,
) -> Result<Vec<(OsString, Intake)>, WatchError> {
    let io = |source| WatchError::Io {
        dir: dir.to_path_buf(),
        source,
    };
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io)? {
        let e = e.map_err(io)?;
        let mtime = e.metadata().and_then(|m| m.modified()).ok();
        found.push((mtime, e.file_name()));
    }
    found.sort();
    Ok(take_all(
        dir,
        found.into_iter().map(|(_, n)| n),
        admission,
        handle,
    ))
}

fn take_all(
    dir: &Path,
    names: impl Iterator<Item = OsString>,
    admission: &Admission,
    handle: &Handle,
) -> Vec<(OsString, Intake)> {
    // The start-up scan and the watch may both see a file that lands at start: one intake
    // at a time, and the second finds it gone.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = Vec::new();
    let mut applied = false;
    for name in names {
        match take(dir, &name, admission, &handle.desired) {
            Ok(i) => {
                if let Intake::Applied {
                    generation,
                    moved_to,
                } = &i
                {
                    tracing::info!(file = %name.to_string_lossy(), generation, moved_to = %moved_to.display(), "new desired state from the watched directory");
                    applied = true;
                }
                out.push((name, i));
            }
            Err(e) => {
                tracing::error!(file = %name.to_string_lossy(), error = %e, "cannot take in a dropped file");
            }
        }
    }
    if applied {
        handle.poke();
    }
    out
}

/// A running watch; dropping it stops the inotify watch.
pub struct DirWatch {
    _watcher: RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl DirWatch {
    pub async fn stopped(self) {
        let _ = self.task.await;
    }
}

/// Starts watching `dir`. `scan` should run first (after the watch is set up, files that
/// arrive are reported; the scan catches those that were there before).
pub fn watch(
    dir: &Path,
    admission: Arc<Admission>,
    handle: Handle,
    shutdown: CancellationToken,
) -> Result<DirWatch, WatchError> {
    let (tx, mut rx) = mpsc::unbounded_channel::<OsString>();
    let root = dir.to_path_buf();
    let filter_root = root.clone();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Ok(ev) = res else { return };
        let path = match ev.kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write))
            | EventKind::Modify(ModifyKind::Name(RenameMode::To)) => ev.paths.first(),
            // A symlink never gets a close-write: look at it when it appears, to refuse it.
            EventKind::Create(CreateKind::File | CreateKind::Any | CreateKind::Other) => {
                ev.paths.first().filter(|p| {
                    p.symlink_metadata()
                        .is_ok_and(|m| m.file_type().is_symlink())
                })
            }
            _ => None,
        };
        if let Some(p) = path.filter(|p| p.parent() == Some(filter_root.as_path())) {
            if let Some(name) = p.file_name() {
                let _ = tx.send(name.to_os_string());
            }
        }
    })
    .map_err(|source| WatchError::Notify {
        dir: root.clone(),
        source,
    })?;
    watcher
        .watch(&root, RecursiveMode::NonRecursive)
        .map_err(|source| WatchError::Notify {
            dir: root.clone(),
            source,
        })?;
    let task = tokio::spawn(async move {
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => break,
                n = rx.recv() => match n { Some(n) => n, None => break },
            };
            let mut batch: VecDeque<OsString> = VecDeque::from([first]);
            // Debounce: collect what arrives shortly after, in order, each name once.
            let deadline = tokio::time::Instant::now() + DEBOUNCE;
            while let Ok(Some(n)) = tokio::time::timeout_at(deadline, rx.recv()).await {
                if !batch.contains(&n) {
                    batch.push_back(n);
                }
            }
            let dir = root.clone();
            let adm = admission.clone();
            let h = handle.clone();
            // File IO (fsync) off the async workers.
            let _ =
                tokio::task::spawn_blocking(move || take_all(&dir, batch.into_iter(), &adm, &h))
                    .await;
        }
    });
    Ok(DirWatch {
        _watcher: watcher,
        task,
    })
}
