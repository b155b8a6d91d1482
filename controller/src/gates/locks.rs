//! Update locks: an application holds a file in `UpdateLocks.Dir` with `flock(2)`, and no
//! deployment goes past its downloads (`BeforeDisruptive`) while it does.
//!
//! "Held" is the kernel's answer: baton opens each regular file in the directory and asks
//! for an exclusive lock without waiting; when the kernel refuses, another process holds
//! it, and the lock is let go at once (an application that asks in that instant and waits,
//! as `flock(2)` without `LOCK_NB` does, waits microseconds). A POSIX lock (`lockf`,
//! `fcntl`) on the file counts too, as `/proc/locks` shows it. `/proc/locks` also names the
//! holder's pid (the process that took the lock), with its command from `/proc/<pid>/comm`.
//! Symbolic links and other non-regular files are skipped; a file baton cannot open is
//! counted as held (fail safe: `--force` passes).
//!
//! `baton apply --force` (`POST /v1/actions/force`) passes the check once: the next lock
//! check (of the deployment waiting, or of the next one) proceeds whatever is held.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::seam::{deployment_of, BoxFuture, Gate, GateContext, GatePoint, Verdict};
use crate::model::{LockHolder, Reason};

/// Lock files looked at, at most: a directory filled by mistake cannot stall the check.
pub const MAX_FILES: usize = 1024;

/// One line of `/proc/locks` (waiters, the `->` lines, are left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockEntry {
    /// `FLOCK`, `POSIX`, `OFDLCK`, `LEASE`...
    pub kind: String,
    /// `None` for OFD locks (`-1`).
    pub pid: Option<u32>,
    pub major: u32,
    pub minor: u32,
    pub inode: u64,
}

/// Parses `/proc/locks` (pure): `1: FLOCK  ADVISORY  WRITE 1234 fe:00:1042 0 EOF`, the
/// device's major and minor in hex.
pub fn parse_proc_locks(text: &str) -> Vec<LockEntry> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            f.next()?; // "1:"
            let kind = f.next()?;
            if kind == "->" {
                return None;
            }
            let _advisory = f.next()?;
            let _mode = f.next()?;
            let pid = f.next()?.parse::<i64>().ok()?;
            let mut dev = f.next()?.split(':');
            let major = u32::from_str_radix(dev.next()?, 16).ok()?;
            let minor = u32::from_str_radix(dev.next()?, 16).ok()?;
            let inode = dev.next()?.parse().ok()?;
            Some(LockEntry {
                kind: kind.to_string(),
                pid: u32::try_from(pid).ok().filter(|p| *p > 0),
                major,
                minor,
                inode,
            })
        })
        .collect()
}

/// The lock files in `dir` other processes hold. A missing directory holds none.
pub fn held(dir: &Path) -> Result<Vec<LockHolder>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => {
            return Err(format!(
                "cannot read the update locks directory {}: {e}",
                dir.display()
            ))
        }
    };
    let mut names: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .take(MAX_FILES)
        .collect();
    names.sort();
    // Every file probed first, `/proc/locks` read after: a lock the probe found is in the
    // table by then, so its holder is named.
    let mut probed = Vec::new();
    for path in names {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue; // gone meanwhile
        };
        if !meta.file_type().is_file() {
            continue;
        }
        let flocked = match try_flock(&path) {
            Ok(free) => !free,
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot open an update lock file to check it; counting it as held");
                true
            }
        };
        probed.push((path, meta, flocked));
    }
    let table = std::fs::read_to_string("/proc/locks")
        .map(|t| parse_proc_locks(&t))
        .unwrap_or_default();
    let mut out = Vec::new();
    for (path, meta, flocked) in probed {
        let dev = meta.dev();
        let on_file: Vec<&LockEntry> = table
            .iter()
            .filter(|e| {
                e.inode == meta.ino()
                    && e.major == rustix::fs::major(dev)
                    && e.minor == rustix::fs::minor(dev)
            })
            .collect();
        let posix = on_file
            .iter()
            .any(|e| e.kind == "POSIX" || e.kind == "OFDLCK");
        if flocked || posix {
            let pid = on_file
                .iter()
                .find(|e| {
                    if flocked {
                        e.kind == "FLOCK"
                    } else {
                        e.kind != "FLOCK"
                    }
                })
                .and_then(|e| e.pid);
            let command = pid.and_then(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm"))
                    .ok()
                    .map(|c| c.trim_end().to_string())
            });
            out.push(LockHolder {
                file: path.display().to_string(),
                pid,
                command,
            });
        }
    }
    Ok(out)
}

/// Whether nobody holds a `flock` on `path` (the probe's own lock is let go at once).
fn try_flock(path: &Path) -> rustix::io::Result<bool> {
    use rustix::fs::{flock, open, FlockOperation, Mode, OFlags};
    let fd = open(
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY,
        Mode::empty(),
    )?;
    match flock(&fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true), // closing the descriptor releases it
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The holders in words: `/run/baton/locks/nav.lock (pid 42, navd)`.
pub fn describe(holders: &[LockHolder]) -> String {
    holders
        .iter()
        .map(|h| match (&h.pid, &h.command) {
            (Some(p), Some(c)) => format!("{} (pid {p}, {c})", h.file),
            (Some(p), None) => format!("{} (pid {p})", h.file),
            _ => h.file.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The update locks gate (`BeforeDisruptive`).
pub struct LockGate {
    dir: PathBuf,
    timeout: Option<Duration>,
    force: AtomicBool,
    /// The deployment waiting, and since when.
    waiting: Mutex<Option<(String, Instant)>>,
    /// What the last check found held.
    last: Mutex<Vec<LockHolder>>,
}

impl LockGate {
    pub fn new(dir: PathBuf, timeout_seconds: u64) -> Self {
        Self {
            dir,
            timeout: (timeout_seconds > 0).then(|| Duration::from_secs(timeout_seconds)),
            force: AtomicBool::new(false),
            waiting: Mutex::new(None),
            last: Mutex::new(vec![]),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `--force`: the next lock check proceeds whatever is held.
    pub fn force_once(&self) {
        self.force.store(true, Ordering::SeqCst);
    }

    pub fn forced(&self) -> bool {
        self.force.load(Ordering::SeqCst)
    }

    /// What the last check found held.
    pub fn holders(&self) -> Vec<LockHolder> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A deployment ended: forget its wait and an unused `--force`.
    pub fn finished(&self, deployment: &str) {
        let mut w = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        if w.as_ref().is_some_and(|(d, _)| d == deployment) {
            *w = None;
        }
        self.force.store(false, Ordering::SeqCst);
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    async fn decide(&self, ctx: &GateContext) -> Verdict {
        if self.force.swap(false, Ordering::SeqCst) {
            tracing::warn!(deployment = deployment_of(ctx), dir = %self.dir.display(), "update locks passed by --force");
            *self.waiting.lock().unwrap_or_else(|p| p.into_inner()) = None;
            return Verdict::Proceed;
        }
        let dir = self.dir.clone();
        let found = tokio::task::spawn_blocking(move || held(&dir))
            .await
            .unwrap_or_else(|e| Err(format!("checking the update locks failed: {e}")));
        let (holders, what) = match found {
            Ok(h) if h.is_empty() => {
                *self.waiting.lock().unwrap_or_else(|p| p.into_inner()) = None;
                self.last.lock().unwrap_or_else(|p| p.into_inner()).clear();
                return Verdict::Proceed;
            }
            Ok(h) => {
                let what = format!("update lock held: {}", describe(&h));
                (h, what)
            }
            Err(e) => (vec![], e),
        };
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = holders;
        let since = {
            let mut w = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
            match &*w {
                Some((d, at)) if d == deployment_of(ctx) => *at,
                _ => {
                    let now = Instant::now();
                    *w = Some((deployment_of(ctx).to_string(), now));
                    now
                }
            }
        };
        if let Some(t) = self.timeout.filter(|t| since.elapsed() >= *t) {
            return Verdict::Refuse {
                reason: Reason::UpdateLocked,
                message: format!(
                    "{what} for more than {} s (UpdateLocks.TimeoutSeconds): nothing installed",
                    t.as_secs()
                ),
            };
        }
        Verdict::Wait {
            reason: Reason::UpdateLocked,
            until: None,
            message: format!(
                "{what}; the deployment goes on when it is released (or `baton apply --force`)"
            ),
        }
    }
}

impl Gate for LockGate {
    fn check<'a>(&'a self, ctx: &'a GateContext) -> BoxFuture<'a, Verdict> {
        Box::pin(async move {
            match ctx.point {
                GatePoint::BeforeDisruptive => self.decide(ctx).await,
                _ => Verdict::Proceed,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_locks_lines() {
        let text = "1: FLOCK  ADVISORY  WRITE 12845 fe:00:10010632 0 EOF\n\
                    1: -> FLOCK  ADVISORY  WRITE 999 fe:00:10010632 0 EOF\n\
                    2: POSIX  ADVISORY  READ 42 08:11:77 0 EOF\n\
                    3: OFDLCK ADVISORY  WRITE -1 00:2a:5 0 EOF\n\
                    garbage\n";
        let e = parse_proc_locks(text);
        assert_eq!(e.len(), 3, "{e:?}");
        assert_eq!(
            e[0],
            LockEntry {
                kind: "FLOCK".into(),
                pid: Some(12845),
                major: 0xfe,
                minor: 0,
                inode: 10_010_632
            }
        );
        assert_eq!(
            (e[1].kind.as_str(), e[1].major, e[1].minor),
            ("POSIX", 8, 0x11)
        );
        assert_eq!(e[2].pid, None);
    }

    #[test]
    fn holders_in_words() {
        let h = |file: &str, pid, command: Option<&str>| LockHolder {
            file: file.into(),
            pid,
            command: command.map(str::to_string),
        };
        assert_eq!(
            describe(&[h("/l/a", Some(4), Some("nav")), h("/l/b", None, None)]),
            "/l/a (pid 4, nav), /l/b"
        );
    }
}
