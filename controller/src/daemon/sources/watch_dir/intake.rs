//! Taking in one file from the watched directory.
//!
//! A file is opened without following symlinks and only if it is a regular file with one
//! link, read up to the resource limit, and admitted like any other Manifest. Whatever the
//! verdict, the file leaves the watched directory: to `applied/<generation>-<name>` or to
//! `rejected/<name>` next to `rejected/<name>.error`. A refused file's content is never
//! echoed (its diagnostics come from the reader, which quotes only what it parsed).

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::{names, sidecar, APPLIED, REJECTED};
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
    let bytes = match read_regular(&path, &meta) {
        Ok(b) => b,
        Err(Refusal(why)) => return reject(dir, name, &why),
    };
    let signature = match sidecar::read(dir, name) {
        Ok(s) => s,
        Err(why) => return reject(dir, name, &why),
    };
    let origin = path.display().to_string();
    match admission.admit(
        Door::WatchDir,
        &origin,
        &bytes,
        signature.as_deref(),
        Some(dir.to_path_buf()),
    ) {
        Err(diags) => reject(dir, name, &diags.to_string()),
        Ok(manifest) => {
            let source = (shown.clone(), manifest.sha256.clone());
            if let Some(cur) = store.current() {
                if cur.source_file.as_ref() == Some(&source) {
                    let moved_to =
                        move_to(dir, name, APPLIED, &format!("{}-{shown}", cur.generation))?;
                    return Ok(Intake::AlreadyApplied { moved_to });
                }
            }
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

/// Reads a file that `lstat` called regular, making sure the opened file is that file.
fn read_regular(path: &Path, seen: &fs::Metadata) -> Result<Vec<u8>, Refusal> {
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
