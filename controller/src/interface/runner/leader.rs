//! The leader of an Interface's process group: awaited without being reaped, then reaped
//! exactly once.
//!
//! The process is spawned through `std`, not tokio's `Child`: tokio keeps a pidfd of its own
//! for every child, and the wait here already holds one. Every descriptor open in baton is
//! copied into each fork and closed again at its exec, so with hundreds of calls running in
//! an order group, a second pidfd per call made every spawn dearer (at 1 000 components on
//! tmpfs, the deployment took 1.22x the spawn baseline with it, 1.17x without).

use std::future::Future;
use std::os::fd::OwnedFd;
use std::pin::Pin;

use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, WaitId, WaitIdOptions};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::report::Exit;

/// The group's leader, reaped exactly once: by [`Leader::reap`] once it has exited or, when
/// the call ends without it (dropped, or the leader outlived SIGKILL's settling time), in
/// the background when it dies.
pub(super) struct Leader {
    child: Option<std::process::Child>,
    pid: Pid,
    /// Readable once the leader has exited; `None` where the kernel has no pidfd.
    pidfd: Option<AsyncFd<OwnedFd>>,
}

impl Leader {
    pub(super) fn new(child: std::process::Child, pid: Pid) -> Self {
        // `OwnedFd` keeps its descriptor for as long as it lives, which is all the
        // registration asks; the safe constructor is deprecated only because other types
        // may not.
        #[allow(deprecated)]
        let pidfd = rustix::process::pidfd_open(pid, PidfdFlags::NONBLOCK)
            .map_err(std::io::Error::from)
            .and_then(|fd| AsyncFd::with_interest(fd, Interest::READABLE))
            .ok();
        Self {
            child: Some(child),
            pid,
            pidfd,
        }
    }

    /// Resolves once the leader has exited, leaving it a zombie so that its PID (the group
    /// ID) stays reserved until baton reaps it.
    ///
    /// A pidfd becomes readable when its process exits and reaping is left to its parent,
    /// so the wait costs one descriptor in the runtime's poller. Without pidfds (kernels
    /// before 5.3, or a sandbox refusing the call) a blocking thread waits in
    /// `waitid(WNOWAIT)` instead: a thread per running Interface, and two thread hand-offs
    /// per call.
    pub(super) fn exited(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let pid = self.pid;
        Box::pin(async move {
            if let Some(pidfd) = &self.pidfd {
                if pidfd.readable().await.is_ok() {
                    return;
                }
            }
            let _ = tokio::task::spawn_blocking(move || wait_exited_unreaped(pid)).await;
        })
    }

    /// Reaps the leader, which has exited ([`Leader::exited`] resolved): does not block.
    pub(super) fn reap(&mut self) -> Exit {
        match self.child.take().map(|mut c| c.wait()) {
            Some(Ok(status)) => exit_of(status),
            _ => Exit::Unknown,
        }
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        // Still running: the group guard has just sent SIGKILL. Reap it when it dies, so
        // that no zombie is left behind.
        let pidfd = self.pidfd.take();
        let mut reap = move || {
            let _ = child.wait();
        };
        match (tokio::runtime::Handle::try_current(), pidfd) {
            (Ok(rt), Some(pidfd)) => {
                rt.spawn(async move {
                    let _ = pidfd.readable().await;
                    reap();
                });
            }
            (Ok(rt), None) => {
                rt.spawn_blocking(reap);
            }
            (Err(_), _) => {
                std::thread::spawn(reap);
            }
        }
    }
}

/// Blocks until the leader has exited, leaving it a zombie.
fn wait_exited_unreaped(pid: Pid) {
    loop {
        match rustix::process::waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
        ) {
            Err(Errno::INTR) => continue,
            // Ok: it exited. ECHILD: it was reaped already (the call was dropped).
            _ => return,
        }
    }
}

fn exit_of(status: std::process::ExitStatus) -> Exit {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(sig)) => Exit::Signal(sig),
        (None, None) => Exit::Unknown,
    }
}
