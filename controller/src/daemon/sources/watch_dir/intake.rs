//! Taking in one file from the watched directory.
//!
//! A file is opened without following symlinks and only if it is a regular file with one
//! link, read up to the resource limit, and admitted like any other Manifest; a bundle (a
//! Mender Artifact: the file starts as a tar archive) is verified whole and staged instead
//! ([`Admission::admit_bundle`]), its own signature standing for a detached one. Whatever the
//! verdict, the file leaves the watched directory: to `applied/<generation>-<name>` or to
//! `rejected/<name>` next to `rejected/<name>.error`. A refused file's content is never
//! echoed (its diagnostics come from the reader, which quotes only what it parsed).

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::{names, sidecar, APPLIED, REJECTED};
use crate::artifact::bundle::is_artifact_file;
use crate::daemon::admission::{Admission, Door};
use crate::daemon::desired::DesiredStore;
use crate::durable::{sync_dir, write_atomic};
use crate::model::Origin;
use crate::resource::LIMITS;

/// What became of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intake {
    /// A new desired generation; the file was moved to `moved_to`.
    Applied { generation: u64, moved_to: PathBuf },
    /// The file had already been applied (a restart between apply and move): only moved.
    AlreadyApplied { moved_to: PathBuf },
    /// Refused; the file and its `.error` are in `rejected/`.
    Rejected { moved_to: PathBuf, why: String },
    /// Not ours to read (temporary name, directory, vanished).
    Ignored,
}

pub fn take(
    dir: &Path,
    name: &OsStr,
    admission: &Admission,
    store: &DesiredStore,
) -> io::Result<Intake> {
    let shown = name.to_string_lossy().into_owned();
    if !names::is_candidate(&shown) {
        return Ok(Intake::Ignored);
    }
    let path = dir.join(name);
    let meta = match fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Intake::Ignored),
        Err(e) => return Err(e),
    };
    let ft = meta.file_type();
    if ft.is_dir() {
        return Ok(Intake::Ignored);
    }
    if ft.is_symlink() {
        return reject(
            dir,
            name,
            "is a symbolic link: symlinks are refused (the target was not read)",
        );
    }
    if !ft.is_file() {
        return reject(
            dir,
            name,
            "is not a regular file (a FIFO, socket or device): refused",
        );
    }
    let origin = path.display().to_string();
    let file = match open_regular(&path, &meta) {
        Ok(f) => f,
        Err(Refusal(why)) => return reject(dir, name, &why),
    };
    let bundle = is_artifact_file(&file);
    let admitted = if bundle {
        // A bundle: verified whole and staged, read through the descriptor checked above
        // (never through a name that could be swapped meanwhile).
        let fd = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        admission
            .admit_bundle(&origin, &fd)
            .map_err(|r| r.to_string())
    } else {
        let bytes = match read_limited(file) {
            Ok(b) => b,
            Err(Refusal(why)) => return reject(dir, name, &why),
        };
        let signature = match sidecar::read(dir, name) {
            Ok(s) => s,
            Err(why) => return reject(dir, name, &why),
        };
        admission
            .admit(
                Door::WatchDir,
                &origin,
                &bytes,
                signature.as_deref(),
                Some(dir.to_path_buf()),
            )
            .map_err(|r| r.to_string())
    };
    // A staged bundle that does not become desired is of no use.
    let staged = |m: &crate::resource::LoadedManifest| {
        if bundle {
            if let Some(d) = &m.base_dir {
                let _ = fs::remove_dir_all(d);
            }
        }
    };
    match admitted {
        Err(why) => reject(dir, name, &why),
        Ok(manifest) => {
            let source = (shown.clone(), manifest.sha256.clone());
            if let Some(cur) = store.current() {
                if cur.source_file.as_ref() == Some(&source) {
                    staged(&manifest);
                    let moved_to =
                        move_to(dir, name, APPLIED, &format!("{}-{shown}", cur.generation))?;
                    return Ok(Intake::AlreadyApplied { moved_to });
                }
            }
            let kept = manifest.clone();
            let (generation, changed) = store
                .apply(
                    manifest,
                    Origin::WatchDir {
                        file: shown.clone(),
                    },
                    Some(source),
                )
                .map_err(io::Error::other)?;
            if !changed {
                // The desired state keeps the staging it had.
                staged(&kept);
                let moved_to = move_to(dir, name, APPLIED, &format!("{generation}-{shown}"))?;
                return Ok(Intake::AlreadyApplied { moved_to });
            }
            let moved_to = move_to(dir, name, APPLIED, &format!("{generation}-{shown}"))?;
            Ok(Intake::Applied {
                generation,
                moved_to,
            })
        }
    }
}

struct Refusal(String);

/// Opens a file that `lstat` called regular, making sure the opened file is that file.
fn open_regular(path: &Path, seen: &fs::Metadata) -> Result<File, Refusal> {
    let file: File = OpenOptions::new()
        .read(true)
        // NONBLOCK: were it swapped for a FIFO after lstat, open must not hang.
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(path)
        .map_err(|e| Refusal(format!("cannot be opened: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| Refusal(format!("cannot be examined: {e}")))?;
    if meta.ino() != seen.ino() || meta.dev() != seen.dev() || !meta.is_file() {
        return Err(Refusal("was replaced while being read: refused".into()));
    }
    if meta.nlink() > 1 {
        return Err(Refusal(
            "has more than one hard link: refused (copy or move the file into the directory instead)".into(),
        ));
    }
    Ok(file)
}

/// Reads a Manifest up to the resource limit.
fn read_limited(file: File) -> Result<Vec<u8>, Refusal> {
    let limit = LIMITS.max_bytes as u64;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Refusal(format!("cannot be read: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(Refusal(format!("is larger than {limit} bytes: refused")));
    }
    Ok(bytes)
}

fn reject(dir: &Path, name: &OsStr, why: &str) -> io::Result<Intake> {
    let shown = name.to_string_lossy();
    tracing::warn!(file = %shown, reason = why, "rejected a dropped Manifest");
    let rejected = dir.join(REJECTED);
    fs::create_dir_all(&rejected)?;
    let text = format!("{shown}: rejected\n{why}\n");
    write_atomic(&rejected, &format!("{shown}.error"), text.as_bytes())?;
    let moved_to = move_to(dir, name, REJECTED, &shown)?;
    Ok(Intake::Rejected {
        moved_to,
        why: why.to_string(),
    })
}

fn move_to(dir: &Path, name: &OsStr, sub: &str, new_name: &str) -> io::Result<PathBuf> {
    let target_dir = dir.join(sub);
    fs::create_dir_all(&target_dir)?;
    let target = target_dir.join(new_name);
    // rename() moves a symlink itself, never its target.
    fs::rename(dir.join(name), &target)?;
    sidecar::follow(dir, name, &target)?;
    sync_dir(dir)?;
    sync_dir(&target_dir)?;
    Ok(target)
}
