//! A private mount namespace for mounts a test must not leave on the host.

use std::fs;
use std::path::{Path, PathBuf};

use crate::need::{self, Check, Missing};

/// A private mount namespace held open by a sleeping process, for mounts a test must not
/// leave on the host (a tiny tmpfs, a read-only bind mount). Commands run inside with
/// `nsenter`; files inside are read through `/proc/<pid>/root`. Needs root and util-linux:
/// [`Namespace::new`] is a check for [`crate::need`].
pub struct Namespace {
    holder: std::process::Child,
}

impl Namespace {
    pub fn new() -> Check<Self> {
        need::mount_namespace()?;
        need::tool("nsenter")?;
        let holder = std::process::Command::new("unshare")
            .args(["-m", "--propagation", "private", "sleep", "100000"])
            .spawn()
            .map_err(|e| {
                Missing::new(
                    format!("`unshare` cannot run: {e}"),
                    need::install("unshare"),
                )
            })?;
        let ns = Self { holder };
        // Wait until the holder runs in its own namespace.
        for _ in 0..200 {
            let mine = fs::read_link("/proc/self/ns/mnt").ok();
            let its = fs::read_link(format!("/proc/{}/ns/mnt", ns.pid())).ok();
            if its.is_some() && its != mine {
                return Ok(ns);
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Err(Missing::new(
            "`unshare -m` did not give a new mount namespace within 2 s",
            "run as root on a machine that allows mount namespaces",
        ))
    }

    pub fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// `program args...` inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
        let mut c = std::process::Command::new("nsenter");
        c.arg("-t")
            .arg(self.pid().to_string())
            .arg("-m")
            .arg("--")
            .arg(program);
        c
    }

    /// Runs a shell script inside the namespace; panics if it fails.
    pub fn sh(&self, script: &str) {
        let out = self.command("sh").args(["-ec", script]).output().unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Where `path` (absolute, as seen inside) is, seen from outside.
    pub fn outside(&self, path: &Path) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root{}", self.pid(), path.display()))
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
