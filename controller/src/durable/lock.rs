//! One baton at a time on a datastore.
//!
//! An exclusive `flock` on `<datastore>/lock`, held for the life of the process (or of the
//! CLI command). The kernel drops it when the process dies, so a crash never leaves a stale
//! lock behind; the PID written into the file only makes the error message useful.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::fs::{flock, FlockOperation};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another baton (pid {pid}) is acting on the datastore {dir}; wait for it to finish, or stop it")]
    Busy { dir: PathBuf, pid: String },
    #[error("cannot lock the datastore {dir}: {source}")]
    Io { dir: PathBuf, source: io::Error },
}

/// Held while this process may act on the datastore.
#[derive(Debug)]
pub struct DatastoreLock {
    _file: File,
}

impl DatastoreLock {
    pub fn acquire(datastore: &Path) -> Result<Self, LockError> {
        let io = |source| LockError::Io {
            dir: datastore.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(datastore).map_err(io)?;
        let path = datastore.join("lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = pid.trim().to_string();
                return Err(LockError::Busy {
                    dir: datastore.to_path_buf(),
                    pid: if pid.is_empty() {
                        "unknown".into()
                    } else {
                        pid
                    },
                });
            }
            Err(e) => return Err(io(e.into())),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        Ok(Self { _file: file })
    }

    /// [`DatastoreLock::acquire`], trying again for up to `wait` while another baton holds
    /// it: for a short verb that can wait out another short verb, but must not wait for a
    /// deployment (the caller decides what to do with [`LockError::Busy`]).
    pub async fn acquire_within(datastore: &Path, wait: Duration) -> Result<Self, LockError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match Self::acquire(datastore) {
                Err(LockError::Busy { .. }) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(RETRY).await
                }
                other => return other,
            }
        }
    }
}

/// How often a bounded wait tries the lock again.
const RETRY: Duration = Duration::from_millis(50);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_gets_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let first = DatastoreLock::acquire(dir.path()).unwrap();
        let err = DatastoreLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        assert!(err.contains("another baton"), "{err}");
        drop(first);
        DatastoreLock::acquire(dir.path()).unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_bounded_wait_gets_a_lock_released_in_time_and_gives_up_on_one_held_longer() {
        let dir = tempfile::tempdir().unwrap();
        let held = DatastoreLock::acquire(dir.path()).unwrap();
        let busy = DatastoreLock::acquire_within(dir.path(), Duration::from_secs(1)).await;
        assert!(matches!(busy, Err(LockError::Busy { .. })), "{busy:?}");
        let path = dir.path().to_path_buf();
        let waiter = tokio::spawn(async move {
            DatastoreLock::acquire_within(&path, Duration::from_secs(5)).await
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(held);
        waiter.await.unwrap().unwrap();
    }
}
