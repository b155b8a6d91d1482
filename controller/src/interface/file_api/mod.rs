//! The File API: the directory an Interface works in, one per component per deployment.
//!
//! ```text
//! <root>/<component_id>/
//!   version                 "1"
//!   current_artifact_group  bare values, see CurrentArtifact
//!   current_artifact_name
//!   current_device_type
//!   header/{artifact_group, artifact_name, payload_type, header-info, type-info, meta-data}
//!   tmp/                    empty
//!   stream-next, streams/   the streams tree, during Download only (StreamsTreeSink)
//!   files/                  the files tree, when the Interface did not stream (FilesTreeSink)
//! ```
//!
//! Directories are 0700 and files 0600, created exclusively without following symlinks; the
//! engine makes them durable with one filesystem sync per step ([`sync_filesystem`]). `version` is written last: a directory without it is an incomplete tree left by a
//! crash, which [`FileApiDir::open`] refuses so the engine can recreate it. The tree is removed
//! at the end of the deployment ([`FileApiDir::remove`]).
//!
//! This room writes what it is given; it never parses Artifact headers (the Artifact reader
//! does) and never decides when a tree is created or removed (the engine does).

mod current;
mod files_tree;
mod fsx;
mod parked;
mod spare;
mod streams_tree;

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

pub use current::CurrentArtifact;
pub use files_tree::FilesTreeSink;
pub use fsx::sync_filesystem;
pub use spare::retire as retire_tree;
pub(crate) use streams_tree::park_streams_tree;
pub use streams_tree::{InterfaceState, StreamsTreeSink};

use crate::model::ComponentId;

/// The content of `version`: the Interface protocol's version.
pub const PROTOCOL_VERSION: &str = "1";
/// The single file of a whole-Artifact download (`NeedsUnpackedArtifact: No`).
pub const WHOLE_ARTIFACT_NAME: &str = "artifact.mender";

/// Which tree holds the payload after `Download`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadTree {
    /// The Interface read the streams itself.
    Streams,
    /// The Interface did not stream; the payload is in `files/`.
    Files,
}

/// The `header/` files of the Artifact being installed, as the Artifact reader hands them on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderFiles {
    pub artifact_group: String,
    pub artifact_name: String,
    pub payload_type: String,
    pub header_info: Vec<u8>,
    pub type_info: Vec<u8>,
    /// `null` when the Artifact has none, as Mender writes it.
    pub meta_data: Vec<u8>,
}

/// Why a File API tree or a payload tree could not be made or fed.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("File API directory {} already exists", path.display())]
    Exists { path: PathBuf },
    #[error("File API directory {} is incomplete (no `version`): recreate it", path.display())]
    Incomplete { path: PathBuf },
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("payload file name {0:?} is not a plain file name")]
    BadName(String),
    #[error("payload file {name}: declared {declared} bytes, got {got}")]
    SizeMismatch {
        name: String,
        declared: u64,
        got: u64,
    },
    #[error(
        "a whole-Artifact download carries exactly one file, {WHOLE_ARTIFACT_NAME}; got {0:?}"
    )]
    NotWholeArtifact(String),
    /// Mender's words for an Interface that opened `stream-next` and then stopped.
    #[error("Interface started downloading, but did not finish: {0}")]
    StreamsIncomplete(String),
    #[error("the Interface's Download call ended before the payload was delivered")]
    InterfaceEnded,
}

impl TreeError {
    /// A bounded label for metrics and status conditions.
    pub const fn reason(&self) -> &'static str {
        match self {
            TreeError::Exists { .. } => "FileApiExists",
            TreeError::Incomplete { .. } => "FileApiIncomplete",
            TreeError::Io { .. } => "FileApiIo",
            TreeError::BadName(_) => "PayloadBadName",
            TreeError::SizeMismatch { .. } => "PayloadSizeMismatch",
            TreeError::NotWholeArtifact(_) => "PayloadNotWholeArtifact",
            TreeError::StreamsIncomplete(_) => "DownloadIncomplete",
            TreeError::InterfaceEnded => "DownloadInterfaceEnded",
        }
    }

    pub(crate) fn io(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> TreeError {
        let path = path.to_owned();
        move |source| TreeError::Io { what, path, source }
    }
}

/// A component's File API directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileApiDir {
    path: PathBuf,
}

impl FileApiDir {
    /// Creates `<root>/<id>/` and everything in it but the payload trees. `root` is created
    /// if absent; `<root>/<id>` must not exist (remove a stale one first).
    pub fn create(
        root: &Path,
        id: &ComponentId,
        current: &CurrentArtifact,
        header: &HeaderFiles,
    ) -> Result<Self, TreeError> {
        Self::create_in(&Self::open_root(root)?, root, id, current, header)
    }

    /// [`FileApiDir::create`] in the opened `root`.
    fn create_in(
        root_fd: &OwnedFd,
        root: &Path,
        id: &ComponentId,
        current: &CurrentArtifact,
        header: &HeaderFiles,
    ) -> Result<Self, TreeError> {
        let path = root.join(id.as_str());
        let io = |what| TreeError::io(what, &path);
        let dir = match fsx::make_dir(root_fd, id.as_str()) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(TreeError::Exists { path })
            }
            other => other.map_err(io("creating"))?,
        };
        fill(&dir, Making::Fresh, current, header).map_err(io("writing"))?;
        Ok(Self { path })
    }

    /// As [`FileApiDir::create`], but from the spare tree at `spare` when there is one (see
    /// [`retire_tree`]): the same files with the same content and modes, most of them
    /// rewritten in place. A spare that cannot be reused is removed and a fresh tree made.
    pub fn create_reusing(
        root: &Path,
        id: &ComponentId,
        current: &CurrentArtifact,
        header: &HeaderFiles,
        spare: &Path,
    ) -> Result<Self, TreeError> {
        let path = root.join(id.as_str());
        let root_fd = Self::open_root(root)?;
        if std::fs::symlink_metadata(&path).is_ok() {
            return Err(TreeError::Exists { path });
        }
        if spare::take(spare, &path) {
            let reused =
                fsx::open_dir(&path).and_then(|dir| fill(&dir, Making::Reused, current, header));
            match reused {
                Ok(()) => return Ok(Self { path }),
                Err(e) => {
                    tracing::debug!(path = %path.display(), error = %e, "a spare File API tree cannot be reused; making a fresh one");
                    remove_tree(&path)?;
                }
            }
        }
        Self::create_in(&root_fd, root, id, current, header)
    }

    /// Creates `root` if absent and opens it.
    fn open_root(root: &Path) -> Result<OwnedFd, TreeError> {
        fsx::make_dirs(root).map_err(TreeError::io("creating the File API root", root))?;
        fsx::open_dir(root).map_err(TreeError::io("opening the File API root", root))
    }

    /// The existing, complete tree of `id` under `root` (after a restart).
    pub fn open(root: &Path, id: &ComponentId) -> Result<Self, TreeError> {
        let path = root.join(id.as_str());
        let meta = std::fs::symlink_metadata(&path).map_err(TreeError::io("opening", &path))?;
        if !meta.is_dir() {
            let e = io::Error::new(io::ErrorKind::InvalidData, "not a directory");
            return Err(TreeError::Io {
                what: "opening",
                path,
                source: e,
            });
        }
        // Written last, so present and not empty only in a finished tree (a retired one's
        // is emptied first: `spare`).
        let complete = std::fs::symlink_metadata(path.join("version"))
            .is_ok_and(|m| m.is_file() && m.len() > 0);
        if !complete {
            return Err(TreeError::Incomplete { path });
        }
        Ok(Self { path })
    }

    /// The absolute path passed to the Interface (when `root` was absolute).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the whole tree, payload included, and syncs its parent.
    pub fn remove(self) -> Result<(), TreeError> {
        remove_tree(&self.path)
    }
}

/// How [`fill`] makes each file and directory: anew, or over a spare tree's.
#[derive(Debug, Clone, Copy)]
enum Making {
    /// Exclusive creation: nothing may exist yet.
    Fresh,
    /// Over a spare tree: the same inodes, rewritten.
    Reused,
}

impl Making {
    fn file(self, dir: &OwnedFd, name: &str, bytes: &[u8]) -> io::Result<()> {
        match self {
            Making::Fresh => fsx::write_file(dir, name, bytes),
            Making::Reused => spare::rewrite_file(dir, name, bytes),
        }
    }

    fn dir(self, dir: &OwnedFd, name: &str) -> io::Result<OwnedFd> {
        match self {
            Making::Fresh => fsx::make_dir(dir, name),
            Making::Reused => spare::reuse_dir(dir, name),
        }
    }
}

/// Everything in a tree but the payload trees, `version` last.
fn fill(
    dir: &OwnedFd,
    make: Making,
    current: &CurrentArtifact,
    header: &HeaderFiles,
) -> io::Result<()> {
    let value = |v: &Option<String>| v.as_ref().map(|v| format!("{v}\n")).unwrap_or_default();
    let current_files = [
        ("current_artifact_group", value(&current.artifact_group)),
        ("current_artifact_name", value(&current.artifact_name)),
        ("current_device_type", format!("{}\n", current.device_type)),
    ];
    for (name, text) in &current_files {
        make.file(dir, name, text.as_bytes())?;
    }
    let header_dir = make.dir(dir, "header")?;
    let header_files: [(&str, &[u8]); 6] = [
        ("artifact_group", header.artifact_group.as_bytes()),
        ("artifact_name", header.artifact_name.as_bytes()),
        ("payload_type", header.payload_type.as_bytes()),
        ("header-info", &header.header_info),
        ("type-info", &header.type_info),
        ("meta-data", &header.meta_data),
    ];
    for (name, bytes) in header_files {
        make.file(&header_dir, name, bytes)?;
    }
    make.dir(dir, "tmp")?;
    // Last: its presence (not empty) says the tree is complete.
    make.file(dir, "version", format!("{PROTOCOL_VERSION}\n").as_bytes())
}

/// Removes `<root>/<id>` if present (a stale tree from an earlier, interrupted deployment).
pub fn remove_component_dir(root: &Path, id: &ComponentId) -> Result<(), TreeError> {
    remove_tree(&root.join(id.as_str()))
}

fn remove_tree(path: &Path) -> Result<(), TreeError> {
    // std's remove_dir_all does not follow symlinks out of the tree.
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(TreeError::Io {
                what: "removing",
                path: path.to_owned(),
                source: e,
            })
        }
        _ => {}
    }
    // Not synced: a tree that reappears after a power cut is removed before its component's
    // next deployment creates one.
    Ok(())
}
