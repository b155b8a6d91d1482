//! The Interface's process group: ending it, and knowing when it has ended.
//!
//! Every Interface runs as the leader of a new process group, so one signal reaches its
//! children and grandchildren too. The group ID is the leader's PID, and a PID can be reused
//! once its process is reaped; so baton signals the group only while the leader is unreaped
//! (alive or a zombie), and reaps it last. A zombie still belongs to its group, so "is the
//! group empty?" cannot be asked with `kill(-pgid, 0)`; it is answered from `/proc` instead.

use std::time::Duration;

use rustix::io::Errno;
use rustix::process::{kill_process_group, Pid, Signal};

/// Sends `sig` to every process of the group. A group that is already gone is not an error.
pub(super) fn signal_group(pgid: Pid, sig: Signal) {
    match kill_process_group(pgid, sig) {
        Ok(()) | Err(Errno::SRCH) => {}
        Err(e) => {
            tracing::warn!(pgid = pgid.as_raw_nonzero().get(), error = %e, "could not signal an Interface's process group")
        }
    }
}

/// SIGKILLs the group when dropped, unless disarmed: a cancelled call must not leave its
/// Interface running. Declared after the child handle so it drops first, while the leader is
/// still unreaped and the group ID cannot have been reused.
pub(super) struct GroupGuard(Option<Pid>);

impl GroupGuard {
    pub(super) fn new(pgid: Pid) -> Self {
        Self(Some(pgid))
    }
    pub(super) fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.take() {
            signal_group(pgid, Signal::KILL);
        }
    }
}

/// Which processes a `/proc` scan must read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    All,
    /// Only PIDs above the leader's: see [`Scan::after_exit`].
    NewerThanLeader,
}

impl Scan {
    /// Reading a process's `stat` costs the kernel about 10 us, so a full scan costs most of
    /// a millisecond per call on a small system, more on a busy one. Every other member of
    /// the group was created after its leader, and PIDs grow until they wrap at `pid_max`:
    /// if the counter is still above the leader's PID and the call was too short for a full
    /// cycle of the PID space, only higher PIDs can be members.
    pub(crate) fn after_exit(pgid: Pid, call_lasted: Duration) -> Scan {
        const NO_FULL_WRAP_WITHIN: Duration = Duration::from_secs(1);
        let last = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        match last {
            Some(last)
                if call_lasted < NO_FULL_WRAP_WITHIN && last >= pgid.as_raw_nonzero().get() =>
            {
                Scan::NewerThanLeader
            }
            _ => Scan::All,
        }
    }
}

/// PIDs of the group's members that are still running (zombies excluded), read from `/proc`.
/// `None` when `/proc` cannot be read.
pub(crate) fn live_members(pgid: Pid, scan: Scan) -> Option<Vec<i32>> {
    let pgid = pgid.as_raw_nonzero().get();
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if scan == Scan::NewerThanLeader && pid <= pgid {
            continue;
        }
        // A process may vanish between listing and reading: then it is not a member.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some((state, pgrp)) = parse_stat(&stat) {
            if pgrp == pgid && state != 'Z' && state != 'X' {
                members.push(pid);
            }
        }
    }
    Some(members)
}

/// `(state, pgrp)` from `/proc/<pid>/stat`. The command name is in parentheses and may hold
/// spaces and parentheses itself, so fields are counted from the *last* `)`.
fn parse_stat(stat: &str) -> Option<(char, i32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

/// Whether the group still has running members; `None` when `/proc` cannot tell.
pub(super) fn has_live_members(pgid: Pid, scan: Scan) -> Option<bool> {
    live_members(pgid, scan).map(|m| !m.is_empty())
}

/// How long to wait for SIGKILL to take effect before giving up on a process stuck in the
/// kernel (uninterruptible sleep). Nothing more can be done for it from user space.
pub(super) const KILL_SETTLE: Duration = Duration::from_secs(2);

/// SIGTERM to the group; SIGKILL to whatever is left after `grace`. Returns whether SIGKILL
/// was needed.
pub(super) async fn terminate(pgid: Pid, grace: Duration) -> bool {
    signal_group(pgid, Signal::TERM);
    if wait_empty(pgid, grace).await {
        return false;
    }
    signal_group(pgid, Signal::KILL);
    wait_empty(pgid, KILL_SETTLE).await;
    true
}

/// Polls `/proc` until the group has no running member, or `limit` passes.
async fn wait_empty(pgid: Pid, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    let mut pause = Duration::from_millis(2);
    loop {
        match has_live_members(pgid, Scan::All) {
            Some(false) => return true,
            Some(true) => {}
            // Blind: give the group its whole grace period.
            None => {
                tokio::time::sleep_until(deadline).await;
                return false;
            }
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return false;
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_from_the_last_parenthesis() {
        assert_eq!(parse_stat("42 (sh) S 1 42 42 0 -1"), Some(('S', 42)));
        assert_eq!(parse_stat("43 (a) b) (c) Z 42 42 42 0"), Some(('Z', 42)));
        assert_eq!(parse_stat("44 (my prog) R 1 7 7"), Some(('R', 7)));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("45 (x) S 1"), None);
    }

    #[test]
    fn this_process_is_a_live_member_of_its_own_group() {
        let pgid = rustix::process::getpgrp();
        let me = rustix::process::getpid().as_raw_nonzero().get();
        let members = live_members(pgid, Scan::All).expect("/proc is readable in tests");
        assert!(members.contains(&me), "{members:?} lacks {me}");
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // polls a real process tree, outside any runtime
    fn the_short_scan_finds_a_leaders_descendants() {
        use std::os::unix::process::CommandExt;
        let mut leader = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = Pid::from_raw(leader.id() as i32).unwrap();
        let mut found = Vec::new();
        for _ in 0..200 {
            found = live_members(pgid, Scan::NewerThanLeader).unwrap();
            if !found.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let all = live_members(pgid, Scan::All).unwrap();
        signal_group(pgid, Signal::KILL);
        leader.wait().unwrap();
        assert_eq!(found.len(), 1, "the sleep, not its leader: {found:?}");
        assert!(all.contains(&found[0]) && all.contains(&pgid.as_raw_nonzero().get()));
        assert_eq!(
            Scan::after_exit(pgid, Duration::from_secs(5)),
            Scan::All,
            "a long call reads everything"
        );
    }
}
