//! Parked trees: a component's streams tree (`stream-next`, `streams/`) and its files tree
//! (`files/` and the payload files in it, emptied), kept outside its File API directory
//! between the times the protocol has them there, so that a deployment moves them in and out
//! (renames) and rewrites its payload files in place instead of creating and removing four
//! inodes per component.
//!
//! Why: as for spare trees (see `spare`), creating an inode on ext4 without a journal costs
//! time in proportion to how many were removed in the last minute, and these three were
//! created and removed by every deployment of every component.
//!
//! They are in the tree exactly when the protocol has them there, as before: the streams tree
//! during `Download` only, `files/` from the moment baton stores a payload in it until the
//! tree is retired after `Cleanup`. In between they wait, emptied, in the component's parking
//! directory (`<datastore>/parked/<type>/<id>/`), `files/` holding its payload files cut to
//! zero length. What is taken from there is checked as a fresh one would be made: a FIFO, or
//! a directory holding nothing but empty regular files, with baton's modes, never through a
//! symlink; the files tree rewrites the files it stores and removes the others. Anything else
//! is removed and made afresh, and anything that cannot be parked is removed as it was before
//! parking existed.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use super::fsx;

/// Moves `name` from `parked` into `dir` (at `dir_path`) and checks it is a FIFO nobody
/// holds open for reading, or makes a fresh FIFO there. Call it before the Interface starts:
/// a reader then can only be a process an earlier call left behind, which must not get what
/// is meant for this one.
pub(super) fn take_fifo(
    parked: Option<&Path>,
    dir: impl AsFd,
    dir_path: &Path,
    name: &str,
) -> io::Result<()> {
    if moved_in(parked, dir_path, name) {
        let fifo = rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Fifo);
        let no_reader = || {
            let flags = OFlags::WRONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            matches!(
                rustix::fs::openat(&dir, name, flags, Mode::empty()),
                Err(rustix::io::Errno::NXIO)
            )
        };
        if fifo && no_reader() {
            return Ok(rustix::fs::chmodat(
                &dir,
                name,
                Mode::from_raw_mode(fsx::FILE_MODE),
                AtFlags::empty(),
            )?);
        }
        fsx::remove_all(&dir_path.join(name))?;
    }
    Ok(rustix::fs::mkfifoat(
        &dir,
        name,
        Mode::from_raw_mode(fsx::FILE_MODE),
    )?)
}

/// What a parked directory may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Held {
    Nothing,
    /// Empty regular files, rewritten in place by the files tree.
    EmptyFiles,
}

/// Moves directory `name` from `parked` into `dir` (at `dir_path`) and opens it if it holds
/// only what `held` allows, or makes a fresh one there. Returns it and the names of the empty
/// files it holds.
pub(super) fn take_dir(
    parked: Option<&Path>,
    dir: impl AsFd,
    dir_path: &Path,
    name: &str,
    held: Held,
) -> io::Result<(OwnedFd, Vec<String>)> {
    if moved_in(parked, dir_path, name) {
        if let Ok(fd) = fsx::open_subdir(&dir, name) {
            if let Some(files) = empty_files(&fd, held)? {
                fsx::own_mode(&fd, FileType::Directory, fsx::DIR_MODE)?;
                return Ok((fd, files));
            }
        }
        fsx::remove_all(&dir_path.join(name))?;
    }
    Ok((fsx::make_dir(dir, name)?, Vec::new()))
}

/// Opens file `name` of `dir` (one [`take_dir`] listed) for writing, emptied, refusing
/// anything but a regular file, with baton's mode.
pub(super) fn reuse_file(dir: impl AsFd, name: &str) -> io::Result<File> {
    let flags = OFlags::WRONLY | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, name, flags, Mode::empty())?;
    fsx::own_mode(&fd, FileType::RegularFile, fsx::FILE_MODE)?;
    Ok(File::from(fd))
}

/// Empties `name` of `dir_path` (a directory, keeping the regular files `held` allows cut to
/// zero length; or a FIFO) and moves it to `parked`; removes it when there is no parking or
/// it cannot be moved there. Absent is fine.
pub(super) fn put(
    parked: Option<&Path>,
    dir_path: &Path,
    name: &str,
    held: Held,
) -> io::Result<()> {
    let path = dir_path.join(name);
    let meta = match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        other => other?,
    };
    let emptied = if meta.is_dir() {
        empty_dir(&path, held).is_ok()
    } else {
        meta.file_type().is_fifo()
    };
    if let (true, Some(parked)) = (emptied, parked) {
        if fsx::make_dirs(parked).is_ok() && std::fs::rename(&path, parked.join(name)).is_ok() {
            return Ok(());
        }
    }
    fsx::remove_all(&path)
}

/// Moves `parked/name` to `dir_path/name`; false when there was nothing to move.
fn moved_in(parked: Option<&Path>, dir_path: &Path, name: &str) -> bool {
    parked.is_some_and(|p| std::fs::rename(p.join(name), dir_path.join(name)).is_ok())
}

/// The names in `dir` when it holds only what `held` allows (empty regular files), else
/// `None`.
fn empty_files(dir: &OwnedFd, held: Held) -> io::Result<Option<Vec<String>>> {
    let mut files = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let Ok(name) = std::str::from_utf8(name).map(str::to_owned) else {
            return Ok(None);
        };
        let empty_file = rustix::fs::statat(dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|st| {
                FileType::from_raw_mode(st.st_mode) == FileType::RegularFile && st.st_size == 0
            });
        if held == Held::Nothing || !empty_file {
            return Ok(None);
        }
        files.push(name);
    }
    Ok(Some(files))
}

/// Removes every entry of the directory at `path`, without following symlinks, except the
/// regular files `held` allows, which are cut to zero length.
fn empty_dir(path: &Path, held: Held) -> io::Result<()> {
    let dir = fsx::open_dir(path)?;
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        if let (Held::EmptyFiles, true, Some(name)) = (
            held,
            entry.file_type()?.is_file(),
            entry.file_name().to_str(),
        ) {
            reuse_file(&dir, name)?;
            continue;
        }
        fsx::remove_all(&entry.path())?;
    }
    Ok(())
}
