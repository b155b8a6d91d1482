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
//! Dropping the future at any point SIGKILLs the group (`GroupGuard`) and reaps the leader
//! in the background (`Leader`).

use std::time::Duration;

use rustix::io::Errno;
use rustix::process::{Pid, Signal};
use tokio::process::{ChildStderr, ChildStdout, Command};
use tokio_util::sync::CancellationToken;

use super::capture::{Capture, Captured};
use super::group::{self, GroupGuard};
use super::leader::Leader;
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
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    let std_cmd = cmd.as_std_mut();
    std_cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let start = tokio::time::Instant::now();
    let mut child = spawn(std_cmd).await?;
    let out = child.stdout.take().expect("stdout is piped");
    let err = child.stderr.take().expect("stderr is piped");
    let pgid = Pid::from_raw(child.id() as i32)
        .ok_or_else(|| std::io::Error::other("spawned Interface has no PID"))?;
    // Declared before `guard`: dropped after it, so the group is killed before its leader
    // is reaped and its ID let go.
    let mut leader = Leader::new(child, pgid);
    let mut guard = GroupGuard::new(pgid);
    let mut stdout = Capture::spawn(ChildStdout::from_std(out)?, limits.cap, "stdout");
    let mut stderr = Capture::spawn(ChildStderr::from_std(err)?, limits.cap, "stderr");
    let mut exited = leader.exited();

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

    drop(exited);
    let exit = if leader_gone {
        leader.reap()
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
async fn spawn(cmd: &mut std::process::Command) -> std::io::Result<std::process::Child> {
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
