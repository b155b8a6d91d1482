//! Running one Interface process to its end, whatever it does.
//!
//! The sequence, for every call:
//! 1. spawn as the leader of a new process group, stdin null, stdout and stderr piped and
//!    drained concurrently (see `capture`);
//! 2. wait for the leader to exit *without reaping it* (its pidfd becoming readable, or,
//!    where the kernel has no pidfd, `waitid(WNOWAIT)` on a blocking thread), for the
//!    deadline, or for cancellation;
//! 3. on deadline or cancellation: SIGTERM to the group, SIGKILL after the grace period;
//! 4. wait a bounded time for end of file on both pipes: a grandchild may hold them open;
//! 5. if the pipes stayed open, or the leader did not exit by itself, and any process of the
//!    group still runs, terminate the group as in 3 (without `/proc` to tell, SIGKILL the
//!    group at once); a process that detached from the pipes after a normal exit is left;
//! 6. reap the leader, and only then let go of the group ID.
//!
//! Dropping the future at any point SIGKILLs the group (`GroupGuard`).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, Signal, WaitId, WaitIdOptions};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::capture::{Capture, Captured};
use super::group::{self, GroupGuard};
use super::report::Exit;

/// The bounds of one call.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub timeout: Duration,
    pub grace: Duration,
    pub eof_wait: Duration,
    pub cap: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ending {
    Exited,
    TimedOut,
    Cancelled,
}

#[derive(Debug)]
pub(super) struct Finished {
    pub exit: Exit,
    pub ending: Ending,
    pub stdout: Captured,
    pub stderr: Captured,
    pub duration: Duration,
    pub strays_terminated: bool,
}

/// Spawns `cmd` (already holding program, arguments, directory and environment) and runs it
/// to its end. Fails only when the process cannot be started.
pub(super) async fn run(
    mut cmd: Command,
    limits: Limits,
    cancel: Option<&CancellationToken>,
) -> std::io::Result<Finished> {
    use std::process::Stdio;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let start = tokio::time::Instant::now();
    let mut child = spawn(&mut cmd).await?;
    let pgid = child
        .id()
        .and_then(|id| Pid::from_raw(id as i32))
        .ok_or_else(|| std::io::Error::other("spawned Interface has no PID"))?;
    // Declared after `child`: dropped before it, while the leader is unreaped.
    let mut guard = GroupGuard::new(pgid);
    let mut stdout = Capture::spawn(
        child.stdout.take().expect("stdout is piped"),
        limits.cap,
        "stdout",
    );
    let mut stderr = Capture::spawn(
        child.stderr.take().expect("stderr is piped"),
        limits.cap,
        "stderr",
    );
    let mut exited = leader_exit(pgid);

    let cancelled = async {
        match cancel {
            Some(token) => token.cancelled().await,
            None => std::future::pending().await,
        }
    };
    let ending = tokio::select! {
        _ = &mut exited => Ending::Exited,
        _ = tokio::time::sleep(limits.timeout) => Ending::TimedOut,
        _ = cancelled => Ending::Cancelled,
    };
    let mut leader_gone = ending == Ending::Exited;
    if !leader_gone {
        group::terminate(pgid, limits.grace).await;
        leader_gone = tokio::time::timeout(group::KILL_SETTLE, &mut exited)
            .await
            .is_ok();
    }

    let both_eof = async {
        stdout.eof().await;
        stderr.eof().await;
    };
    let eof = tokio::time::timeout(limits.eof_wait, both_eof)
        .await
        .is_ok();
    let mut strays_terminated = false;
    // After a normal exit with both pipes closed, nothing holds the Interface's output: a
    // process it left behind detached itself on purpose (a daemon it started), and is left
    // alone, as the Mender client leaves it. Only then is the `/proc` scan skipped: it costs
    // about a millisecond per call, which adds up over hundreds of components.
    let detached_ok = eof && ending == Ending::Exited;
    match (
        eof,
        if detached_ok {
            Some(false)
        } else {
            group::has_live_members(pgid, group::Scan::after_exit(pgid, start.elapsed()))
        },
    ) {
        (true, Some(false)) => {}
        // No /proc to look in: SIGKILL whatever may be left, without waiting, while the
        // unreaped leader still reserves the group ID.
        (true, None) => group::signal_group(pgid, Signal::KILL),
        _ => {
            if ending == Ending::Exited {
                tracing::warn!(
                    pipes_open = !eof,
                    "Interface left processes running after it exited; terminating its group"
                );
            }
            group::terminate(pgid, limits.grace).await;
            strays_terminated = ending == Ending::Exited;
            // Anything still holding the pipes now escaped the group (setsid): stop listening.
            let _ = tokio::time::timeout(limits.eof_wait, async {
                stdout.eof().await;
                stderr.eof().await;
            })
            .await;
        }
    }

    let exit = if leader_gone {
        match child.wait().await {
            Ok(status) => exit_of(status),
            Err(_) => Exit::Unknown,
        }
    } else {
        Exit::Unknown
    };
    if leader_gone {
        guard.disarm();
    }
    Ok(Finished {
        exit,
        ending,
        stdout: stdout.finish(),
        stderr: stderr.finish(),
        duration: start.elapsed(),
        strays_terminated,
    })
}

/// Spawns, retrying briefly on ETXTBSY: a fork in another thread of this process may hold
/// the Interface file open for writing for an instant (the classic fork/exec race when the
/// file was just written). Nothing has run yet, so a retry is safe.
async fn spawn(cmd: &mut Command) -> std::io::Result<tokio::process::Child> {
    let mut attempts = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(Errno::TXTBSY.raw_os_error()) && attempts < 5 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(10 << attempts)).await;
            }
            other => return other,
        }
    }
}

/// Resolves once the leader has exited, leaving it a zombie so that its PID (the group ID)
/// stays reserved until baton reaps it.
///
/// A pidfd becomes readable when its process exits and reaping is left to its parent, so the
/// wait costs one descriptor in the runtime's poller. Without pidfds (kernels before 5.3, or
/// a sandbox refusing the call) a blocking thread waits in `waitid(WNOWAIT)` instead: a thread
/// per running Interface, and two thread hand-offs per call.
fn leader_exit(pid: Pid) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    // `OwnedFd` keeps its descriptor for as long as it lives, which is all the registration
    // asks; the safe constructor is deprecated only because other types may not.
    #[allow(deprecated)]
    let pidfd = rustix::process::pidfd_open(pid, PidfdFlags::NONBLOCK)
        .map_err(std::io::Error::from)
        .and_then(|fd| AsyncFd::with_interest(fd, Interest::READABLE));
    Box::pin(async move {
        if let Ok(pidfd) = pidfd {
            if pidfd.readable().await.is_ok() {
                return;
            }
        }
        let _ = tokio::task::spawn_blocking(move || wait_exited_unreaped(pid)).await;
    })
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
