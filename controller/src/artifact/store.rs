//! The files tree: payload files stored into a directory by baton itself, for Interfaces
//! that did not read the streams during Download.
//!
//! Files are created relative to an open directory handle with `O_EXCL|O_NOFOLLOW`, so a
//! name can neither replace an existing file nor follow a planted symlink, and names are
//! plain file names (the reader already refuses others; this checks again). Each file is
//! synced, then the directory, so the tree is whole after a power cut or not trusted at all.
//! Like every sink, what it stored is unverified until the reader returns `Verified`.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use super::payload::PayloadSink;

/// Stores each payload file as `<dir>/<name>`, mode 0600.
pub struct DirectorySink {
    dir: File,
    path: PathBuf,
    stored: Vec<String>,
}

impl DirectorySink {
    /// Opens `dir`, which must exist and be a directory (not a symlink to one).
    pub fn new(dir: &Path) -> io::Result<Self> {
        let fd = rustix::fs::open(
            dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self {
            dir: File::from(fd),
            path: dir.to_owned(),
            stored: Vec::new(),
        })
    }

    /// Syncs the directory so the new names survive a power cut; returns the stored names.
    pub fn finish(self) -> io::Result<Vec<String>> {
        self.dir.sync_all()?;
        Ok(self.stored)
    }
}

impl PayloadSink for DirectorySink {
    fn file(&mut self, name: &str, _size: u64, content: &mut (dyn Read + Send)) -> io::Result<()> {
        if name.is_empty()
            || name.contains('/')
            || name == "."
            || name == ".."
            || name.contains('\0')
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name:?} is not a plain file name"),
            ));
        }
        let fd = rustix::fs::openat(
            &self.dir,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| {
            io::Error::new(
                io::Error::from(e).kind(),
                format!("{}/{name}: {e}", self.path.display()),
            )
        })?;
        let mut file = File::from(fd);
        io::copy(content, &mut file)?;
        file.sync_data()?;
        self.stored.push(name.to_owned());
        Ok(())
    }
}
