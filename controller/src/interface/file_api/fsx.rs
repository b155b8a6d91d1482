//! Creating files and directories below a directory handle: exclusive, no symlinks followed.
//!
//! Everything is created relative to an open directory descriptor, so a path component
//! swapped for a symlink after the check cannot redirect a write; `O_EXCL` refuses an
//! existing name (a dangling symlink included) and `O_NOFOLLOW` refuses a symlinked
//! directory.
//!
//! Nothing here fsyncs. Durability is the engine's: it syncs the filesystem once per step,
//! after every component's tree is written and before it records the step as done (see
//! [`sync_filesystem`]). One sync per step instead of one per file keeps a 300-component
//! deployment from spending seconds in fsync, with the same guarantee: a step whose trees
//! might be torn is never recorded as done, so recovery treats it as interrupted.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags};

pub(super) const DIR_MODE: u32 = 0o700;
pub(super) const FILE_MODE: u32 = 0o600;

/// Opens an existing directory (symlinks in `path` are followed: it is baton's own path).
pub(super) fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Creates `path` and its missing parents, private (mode 0700; existing ones are left as
/// they are).
pub(super) fn make_dirs(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
}

/// Creates directory `name` in `dir` (it must not exist) and opens it.
pub(super) fn make_dir(dir: impl AsFd, name: &str) -> io::Result<OwnedFd> {
    rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(DIR_MODE))?;
    open_subdir(dir, name)
}

/// Opens directory `name` in `dir`, refusing a symlink.
pub(super) fn open_subdir(dir: impl AsFd, name: &str) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(rustix::fs::openat(dir, name, flags, Mode::empty())?)
}

/// Checks that `fd` is of type `want` and sets `mode` if an Interface changed it.
pub(super) fn own_mode(fd: &OwnedFd, want: FileType, mode: u32) -> io::Result<()> {
    let st = rustix::fs::fstat(fd)?;
    if FileType::from_raw_mode(st.st_mode) != want {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("expected a {want:?}"),
        ));
    }
    if st.st_mode & 0o7777 != mode {
        rustix::fs::fchmod(fd, Mode::from_raw_mode(mode))?;
    }
    Ok(())
}

/// Removes `path` whatever it is (a directory with its content), without following
/// symlinks; absent is fine.
pub(super) fn remove_all(path: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => std::fs::remove_file(path),
        other => other,
    }
}

/// Creates file `name` in `dir`; it must not exist in any form.
pub(super) fn create_file(dir: impl AsFd, name: &str) -> io::Result<File> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(File::from(rustix::fs::openat(
        dir,
        name,
        flags,
        Mode::from_raw_mode(FILE_MODE),
    )?))
}

/// Creates file `name` in `dir` holding `bytes`.
pub(super) fn write_file(dir: impl AsFd, name: &str, bytes: &[u8]) -> io::Result<()> {
    let mut file = create_file(dir, name)?;
    file.write_all(bytes)
}

/// Makes everything written on the filesystem holding `path` durable (`syncfs`).
pub fn sync_filesystem(path: &Path) -> io::Result<()> {
    let dir = open_dir(path)?;
    Ok(rustix::fs::syncfs(dir)?)
}

/// Refuses a name that is not a single path component: a payload file name comes from the
/// Artifact, and must not reach outside the tree it is written into.
pub(super) fn check_plain_name(name: &str) -> io::Result<()> {
    let bad =
        name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0');
    if bad {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("payload file name {name:?} is not a plain file name"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_single_components_are_plain_names() {
        for good in [
            "payload",
            "a.b",
            ".hidden",
            "x..y",
            "rtos-v1.bin",
            "with space",
        ] {
            assert!(check_plain_name(good).is_ok(), "{good:?}");
        }
        for bad in ["", ".", "..", "a/b", "../x", "/etc/passwd", "x\0y", "dir/"] {
            assert!(check_plain_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn existing_names_and_symlinks_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = open_dir(tmp.path()).unwrap();
        write_file(&dir, "f", b"1").unwrap();
        assert_eq!(
            write_file(&dir, "f", b"2").unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        std::os::unix::fs::symlink("/nonexistent-target", tmp.path().join("dangling")).unwrap();
        assert!(write_file(&dir, "dangling", b"x").is_err());
        assert!(!Path::new("/nonexistent-target").exists());
        std::os::unix::fs::symlink(tmp.path(), tmp.path().join("link")).unwrap();
        assert!(open_subdir(&dir, "link").is_err());
        assert_eq!(std::fs::read(tmp.path().join("f")).unwrap(), b"1");
    }
}
