//! Measuring whole processes: wall time from spawn to exit, peak resident memory, and what
//! `/proc` says about a running one.
//!
//! Every timing is of a whole process (spawn to exit), never of a function inside it: that
//! is what a user of the command waits for. Warm-up runs come first and are thrown away
//! (page cache, dentry cache, the dynamic loader), so the figures are of a warm machine.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `once` `warmups` times, throwing the results away, then `runs` times; returns the
/// measured runs. The first failure stops everything: a failed run is not a figure.
pub fn repeat<T>(
    warmups: usize,
    runs: usize,
    mut once: impl FnMut() -> Result<T, String>,
) -> Result<Vec<T>, String> {
    for _ in 0..warmups {
        once()?;
    }
    (0..runs.max(1)).map(|_| once()).collect()
}

/// Seconds of each of `runs` timed runs of the command `make` builds, after `warmups`.
pub fn time_runs(
    warmups: usize,
    runs: usize,
    mut make: impl FnMut() -> Command,
) -> Result<Vec<f64>, String> {
    repeat(warmups, runs, || {
        time_command(&mut make()).map(|d| d.as_secs_f64())
    })
}

/// Makes the command of one timed run, or says why it cannot run at all.
pub type Maker<'a> = Box<dyn FnMut() -> Result<Command, String> + 'a>;

/// Times several commands round-robin, so that a change in the machine's load hits them
/// alike: `warmups` rounds thrown away, then `runs` rounds. For each command, its seconds
/// per run, or its first failure (which stops that command only).
pub fn interleaved(
    warmups: usize,
    runs: usize,
    makers: Vec<Maker<'_>>,
) -> Vec<Result<Vec<f64>, String>> {
    let mut makers = makers;
    let mut out: Vec<Result<Vec<f64>, String>> = makers.iter().map(|_| Ok(Vec::new())).collect();
    for round in 0..warmups + runs.max(1) {
        for (make, col) in makers.iter_mut().zip(out.iter_mut()) {
            let Ok(times) = col else { continue };
            match make().and_then(|mut c| time_command(&mut c)) {
                Ok(d) if round >= warmups => times.push(d.as_secs_f64()),
                Ok(_) => {}
                Err(e) => *col = Err(e),
            }
        }
    }
    out
}

/// Wall time of one run of `cmd`, spawn to exit, stdout discarded. A run that fails (non-zero
/// exit) is an error carrying the end of its stderr.
pub fn time_command(cmd: &mut Command) -> Result<Duration, String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let took = start.elapsed();
    check(cmd, &out)?;
    Ok(took)
}

/// Ok when `out` is a success, else an error naming the command, its status and the end of
/// its stderr.
pub fn check(cmd: &Command, out: &Output) -> Result<(), String> {
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let tail: String = err
        .chars()
        .rev()
        .take(600)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    Err(format!(
        "{:?} failed ({}): {}",
        cmd.get_program(),
        out.status,
        tail.trim()
    ))
}

/// Wall time and peak resident set (MiB) of one run of `cmd`. The peak is GNU time's `%M`:
/// the kernel's `ru_maxrss` for the process, the largest of its own peak and those of the
/// children it waited for (an Interface's `sh` or `cat` is far smaller than baton). The
/// time includes GNU time's own start, about a millisecond.
pub fn max_rss_mib(cmd: &Command) -> Result<(Duration, f64), String> {
    const TIME: &str = "/usr/bin/time";
    if !Path::new(TIME).is_file() {
        return Err("GNU time (/usr/bin/time) is not installed".into());
    }
    let report = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    let mut timed = Command::new(TIME);
    timed
        .args(["-f", "%M", "-o"])
        .arg(report.path())
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        timed.current_dir(dir);
    }
    let took = time_command(&mut timed)?;
    let text = std::fs::read_to_string(report.path()).map_err(|e| e.to_string())?;
    let kib: f64 = text
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| format!("GNU time wrote {text:?}, not a size"))?;
    Ok((took, kib / 1024.0))
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS:`, `VmHWM:`...), if the process exists.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kib(&status, field)
}

fn parse_status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// CPU time (user + system, in clock ticks of 1/100 s) and context switches (every thread,
/// voluntary or not: each one is a wake-up) of a running process.
pub fn cpu_and_wakeups(pid: u32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let switches = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| {
            tasks
                .flatten()
                .map(|t| {
                    let s = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
                    parse_status_kib(&s, "voluntary_ctxt_switches:").unwrap_or(0)
                        + parse_status_kib(&s, "nonvoluntary_ctxt_switches:").unwrap_or(0)
                })
                .sum()
        })
        .unwrap_or(0);
    (parse_stat_ticks(&stat), switches)
}

/// utime + stime from a `/proc/<pid>/stat` line (fields 14 and 15; the command name before
/// them, in parentheses, may hold spaces).
fn parse_stat_ticks(stat: &str) -> u64 {
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // `after` starts at field 3 (state): utime is field 14, so index 11.
    f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)
}

/// The 1-minute load average: other work on the machine skews every figure.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Ok when every tool is on PATH, else what is missing (a benchmark row then says "not
/// measured" and why: figures are never judged by CI, so a missing tool is no failure).
pub fn need(tools: &[&str]) -> Result<(), String> {
    crate::need::tools(tools).map_err(|m| m.what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_ticks_skip_a_command_name_with_spaces() {
        let line = "42 (a b) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 1 2 3";
        assert_eq!(parse_stat_ticks(line), 10);
        assert_eq!(parse_stat_ticks(""), 0);
    }

    #[test]
    fn status_fields_in_kib() {
        let s = "Name:\tbaton\nVmHWM:\t   13960 kB\nVmRSS:\t   12000 kB\n";
        assert_eq!(parse_status_kib(s, "VmHWM:"), Some(13960));
        assert_eq!(parse_status_kib(s, "VmSwap:"), None);
    }

    #[test]
    fn a_failed_run_is_an_error_not_a_figure() {
        let err =
            time_command(Command::new("sh").args(["-c", "echo boom >&2; exit 3"])).unwrap_err();
        assert!(err.contains("boom") && err.contains('3'), "{err}");
        let mut calls = 0;
        let r = repeat(1, 3, || {
            calls += 1;
            if calls == 2 {
                Err("second".to_string())
            } else {
                Ok(calls)
            }
        });
        assert_eq!(r, Err("second".into()));
    }

    #[test]
    fn interleaved_commands_fail_alone() {
        let mut ok_runs = 0;
        let cols = interleaved(
            1,
            2,
            vec![
                Box::new(|| {
                    ok_runs += 1;
                    Ok(Command::new("true"))
                }),
                Box::new(|| Err("no such tool".into())),
                Box::new(|| Ok(Command::new("false"))),
            ],
        );
        assert_eq!(cols[0].as_ref().map(Vec::len), Ok(2));
        assert_eq!(cols[1], Err("no such tool".into()));
        assert!(cols[2].is_err());
        assert_eq!(ok_runs, 3, "one warm-up and two runs");
    }

    #[test]
    fn warmups_are_not_returned() {
        let mut n = 0;
        let r = repeat(2, 3, || {
            n += 1;
            Ok(n)
        });
        assert_eq!(r, Ok(vec![3, 4, 5]));
    }

    #[test]
    fn gnu_time_reports_a_peak_that_grows_with_what_the_process_holds() {
        if !crate::need::have(crate::need::tool("/usr/bin/time")) {
            return;
        }
        // `head -c` through a shell variable: the shell holds 32 MiB at once.
        let mut big = Command::new("sh");
        big.args([
            "-c",
            "x=$(head -c 33554432 /dev/zero | tr '\\0' a); echo ${#x}",
        ]);
        let small = Command::new("true");
        let (b, s) = (max_rss_mib(&big).unwrap().1, max_rss_mib(&small).unwrap().1);
        assert!(b > 32.0 && s < 16.0, "big {b} MiB, small {s} MiB");
    }
}
