//! Spare trees: a component's File API directory, kept after its deployment and reused by
//! its next one, so that a deployment rewrites a dozen small files in place instead of
//! creating and removing a dozen inodes per component.
//!
//! Why: on ext4 without a journal the inode allocator skips every inode freed in the last
//! minute (`recently_deleted()` in `fs/ext4/ialloc.c`, checked only without a journal), one
//! inode table lookup per candidate, so creating files where hundreds were just removed
//! costs time in proportion to how many were. Deployments of hundreds of components back to
//! back spent most of their time there. Elsewhere reuse is merely cheaper: fewer metadata
//! changes to journal and write back.
//!
//! A retired tree is pruned to the protocol's own names (`version`, `current_*`, `header/*`,
//! an empty `tmp/`), its `version` emptied, and moved to the spare place. A tree with an
//! empty `version` is incomplete ([`super::FileApiDir::open`] refuses it), so a spare is
//! never taken for a finished tree, whatever a power cut kept of it. Reuse rewrites every
//! file, fixes every mode and writes `version` last, exactly as a fresh tree is made; the
//! engine makes it durable with the same filesystem sync before the step is recorded done.
//! Anything unexpected (a symlink, a file where a directory belongs) makes baton remove the
//! tree and make a fresh one instead.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use super::{fsx, parked};

/// The names a tree keeps between deployments, top level.
const KEPT: [&str; 6] = [
    "version",
    "current_artifact_group",
    "current_artifact_name",
    "current_device_type",
    "header",
    "tmp",
];
/// And in `header/`.
const KEPT_IN_HEADER: [&str; 6] = [
    "artifact_group",
    "artifact_name",
    "payload_type",
    "header-info",
    "type-info",
    "meta-data",
];

/// Prunes the tree at `tree` and moves it to `spare` (replacing an older spare there), its
/// `files/` emptied to `parked` (see `parked`). On any failure the tree is removed instead,
/// as it was before spares, and the error returned.
pub fn retire(tree: &Path, spare: &Path, parked: Option<&Path>) -> io::Result<()> {
    if std::fs::symlink_metadata(tree).is_err() {
        return Ok(());
    }
    let kept = parked::put(parked, tree, "files", parked::Held::EmptyFiles)
        .and_then(|()| prune(tree))
        .and_then(|()| {
            if let Some(parent) = spare.parent() {
                fsx::make_dirs(parent)?;
            }
            fsx::remove_all(spare)?;
            std::fs::rename(tree, spare)
        });
    if kept.is_err() {
        fsx::remove_all(tree)?;
    }
    kept
}

/// Moves the spare at `spare` to `dest` (which must not exist). False when there is none or
/// it cannot be moved (another filesystem): the caller makes a fresh tree.
pub(super) fn take(spare: &Path, dest: &Path) -> bool {
    match std::fs::symlink_metadata(spare) {
        Ok(m) if m.is_dir() => std::fs::rename(spare, dest).is_ok(),
        Ok(_) => {
            let _ = std::fs::remove_file(spare);
            false
        }
        Err(_) => false,
    }
}

/// Writes `bytes` into file `name` of `dir`, creating it if absent, reusing its inode (and,
/// for a small file, its block) if present; refuses anything but a regular file.
pub(super) fn rewrite_file(dir: impl AsFd, name: &str, bytes: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(fsx::FILE_MODE))?;
    fsx::own_mode(&fd, FileType::RegularFile, fsx::FILE_MODE)?;
    let file = std::fs::File::from(fd);
    file.write_all_at(bytes, 0)?;
    file.set_len(bytes.len() as u64)
}

/// Opens directory `name` of `dir`, making it if absent; refuses anything but a directory,
/// and gives it the tree's mode.
pub(super) fn reuse_dir(dir: impl AsFd, name: &str) -> io::Result<OwnedFd> {
    let fd = match fsx::open_subdir(&dir, name) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return fsx::make_dir(dir, name),
        other => other?,
    };
    fsx::own_mode(&fd, FileType::Directory, fsx::DIR_MODE)?;
    Ok(fd)
}

/// Empties `version` first (the tree is incomplete from then on), then removes every name
/// the protocol does not keep, and everything in `tmp/`.
fn prune(tree: &Path) -> io::Result<()> {
    let dir = fsx::open_dir(tree)?;
    match rustix::fs::openat(
        &dir,
        "version",
        OFlags::WRONLY | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(_) => {}
        Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(e.into()),
    }
    keep_only(&dir, tree, &KEPT)?;
    let header = reuse_dir(&dir, "header")?;
    keep_only(&header, &tree.join("header"), &KEPT_IN_HEADER)?;
    let tmp = reuse_dir(&dir, "tmp")?;
    keep_only(&tmp, &tree.join("tmp"), &[])
}

/// Removes every entry of `dir` (at `path`) not named in `keep`, without following symlinks.
fn keep_only(dir: &OwnedFd, path: &Path, keep: &[&str]) -> io::Result<()> {
    let mut stale = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != "." && name != ".." && !keep.contains(&name.as_str()) {
            stale.push(name);
        }
    }
    for name in stale {
        match rustix::fs::unlinkat(dir, name.as_str(), AtFlags::empty()) {
            Ok(()) => {}
            Err(rustix::io::Errno::ISDIR) | Err(rustix::io::Errno::PERM) => {
                // A directory (Linux answers EISDIR): std's remove_dir_all does not follow
                // symlinks out of it.
                std::fs::remove_dir_all(path.join(&name))?
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
