//! The files tree: `files/<name>`, the payload stored by baton for an Interface that did not
//! stream it.

use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use super::parked::{self, Held};
use super::{fsx, TreeError, WHOLE_ARTIFACT_NAME};
use crate::artifact::PayloadSink;

/// Stores each payload file as `<work dir>/files/<name>` (0600, exclusive; durable once the
/// engine syncs the filesystem at the end of the step). A file of the same name waiting
/// empty in a parked `files/` is rewritten in place; the parked files not stored are removed
/// at the end.
#[derive(Debug)]
pub struct FilesTreeSink {
    path: PathBuf,
    dir: OwnedFd,
    whole_artifact: bool,
    stored: usize,
    failure: Option<TreeError>,
    /// Empty files found in a parked `files/`, not yet rewritten.
    parked_files: Vec<String>,
}

impl FilesTreeSink {
    /// Creates `<work_dir>/files/` (taken from `parked`, the component's parking directory,
    /// when it waits there). With `whole_artifact`, exactly one file named
    /// [`WHOLE_ARTIFACT_NAME`] is accepted.
    pub fn create(
        work_dir: &Path,
        whole_artifact: bool,
        parked: Option<&Path>,
    ) -> Result<Self, TreeError> {
        let path = work_dir.join("files");
        let work = fsx::open_dir(work_dir)
            .map_err(TreeError::io("opening the work directory", work_dir))?;
        let (dir, parked_files) =
            parked::take_dir(parked, &work, work_dir, "files", Held::EmptyFiles)
                .map_err(TreeError::io("creating", &path))?;
        Ok(Self {
            path,
            dir,
            whole_artifact,
            stored: 0,
            failure: None,
            parked_files,
        })
    }

    /// Call after the last file: removes the parked files this payload did not have. The tree
    /// becomes durable with the step's filesystem sync.
    pub fn finish(self) -> Result<(), TreeError> {
        for name in &self.parked_files {
            rustix::fs::unlinkat(&self.dir, name.as_str(), rustix::fs::AtFlags::empty())
                .map_err(|e| TreeError::io("removing", &self.path.join(name))(e.into()))?;
        }
        Ok(())
    }

    /// The typed error behind the last `io::Error` this sink returned, if it was the sink's.
    pub fn take_failure(&mut self) -> Option<TreeError> {
        self.failure.take()
    }

    pub(super) fn store(
        &mut self,
        name: &str,
        size: u64,
        content: &mut (dyn Read + Send),
    ) -> Result<(), Delivery> {
        check_payload_name(name, self.whole_artifact, self.stored)?;
        let path = self.path.join(name);
        let parked = self.parked_files.iter().position(|n| n == name);
        let file = match parked {
            Some(i) => {
                self.parked_files.swap_remove(i);
                parked::reuse_file(&self.dir, name)
            }
            None => fsx::create_file(&self.dir, name),
        };
        let mut file = file.map_err(TreeError::io("creating", &path))?;
        pump(name, size, content, |chunk, _| {
            file.write_all(chunk)
                .map_err(TreeError::io("writing", &path))
        })?;
        self.stored += 1;
        Ok(())
    }
}

impl PayloadSink for FilesTreeSink {
    fn file(&mut self, name: &str, size: u64, content: &mut (dyn Read + Send)) -> io::Result<()> {
        self.store(name, size, content)
            .map_err(|e| e.into_io(&mut self.failure))
    }
}

/// Why a payload file was not delivered: the sink's own trouble, or the Artifact reader's
/// (an error reading `content`), which is passed back untouched for the reader to report.
pub(super) enum Delivery {
    Tree(TreeError),
    Source(io::Error),
}

impl From<TreeError> for Delivery {
    fn from(e: TreeError) -> Self {
        Delivery::Tree(e)
    }
}

impl Delivery {
    /// The `io::Error` for the reader, keeping a sink failure's typed form in `slot`.
    pub(super) fn into_io(self, slot: &mut Option<TreeError>) -> io::Error {
        match self {
            Delivery::Tree(e) => {
                let err = io::Error::other(e.to_string());
                *slot = Some(e);
                err
            }
            Delivery::Source(e) => e,
        }
    }
}

const CHUNK: usize = 64 * 1024;

/// Copies `content` through `write` in chunks, holding it to its declared `size`. `write`
/// gets each chunk and the number of bytes delivered before it.
pub(super) fn pump(
    name: &str,
    size: u64,
    content: &mut (dyn Read + Send),
    mut write: impl FnMut(&[u8], u64) -> Result<(), TreeError>,
) -> Result<(), Delivery> {
    let mut buf = vec![0u8; CHUNK];
    let mut sent = 0u64;
    loop {
        let n = match content.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Delivery::Source(e)),
        };
        let got = sent + n as u64;
        if got > size {
            let name = name.to_owned();
            return Err(TreeError::SizeMismatch {
                name,
                declared: size,
                got,
            }
            .into());
        }
        write(&buf[..n], sent)?;
        sent = got;
    }
    if sent != size {
        let name = name.to_owned();
        return Err(TreeError::SizeMismatch {
            name,
            declared: size,
            got: sent,
        }
        .into());
    }
    Ok(())
}

/// A payload file name must be a single path component; a whole-Artifact download carries
/// one file only, under its fixed name. `index` counts the files already received.
pub(super) fn check_payload_name(
    name: &str,
    whole_artifact: bool,
    index: usize,
) -> Result<(), TreeError> {
    fsx::check_plain_name(name).map_err(|_| TreeError::BadName(name.to_owned()))?;
    if whole_artifact && (name != WHOLE_ARTIFACT_NAME || index > 0) {
        return Err(TreeError::NotWholeArtifact(name.to_owned()));
    }
    Ok(())
}
