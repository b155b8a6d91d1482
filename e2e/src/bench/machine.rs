//! The machine a benchmark ran on, and the tools it compared baton with: figures are only
//! comparable on the same machine, so the page names it.

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// What BENCHMARKS.md says about the machine.
#[derive(Debug, Clone)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub os: String,
    /// `(directory, filesystem type)` of each place a System was built in.
    pub filesystems: Vec<(String, String)>,
    /// `(tool, version)`: baton and its peers.
    pub tools: Vec<(String, String)>,
}

impl Machine {
    pub fn describe(dirs: &[&Path], baton: &Path) -> Machine {
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|v| v.split_once(':'))
            .map_or_else(|| "unknown".to_string(), |(_, m)| m.trim().to_string());
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let memory_gib = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
        let os = read("/etc/os-release")
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map_or_else(|| "unknown".into(), |v| v.trim_matches('"').to_string());
        let tools = [
            (baton.to_string_lossy().into_owned(), vec!["--version"]),
            ("mender".into(), vec!["--version"]),
            ("mender-artifact".into(), vec!["--version"]),
            ("openssl".into(), vec!["version"]),
            ("gzip".into(), vec!["--version"]),
            ("rustc".into(), vec!["--version"]),
        ]
        .into_iter()
        .map(|(tool, args)| {
            let name = Path::new(&tool)
                .file_name()
                .map_or(tool.clone(), |n| n.to_string_lossy().into_owned());
            (name, first_line(&tool, &args))
        })
        .collect();
        Machine {
            cpu,
            cores,
            memory_gib,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            os,
            filesystems: dirs
                .iter()
                .map(|d| (d.display().to_string(), fs_type(d)))
                .collect(),
            tools,
        }
    }

    pub fn markdown(&self) -> String {
        let mut out = String::from("| | |\n|---|---|\n");
        out.push_str(&format!("| CPU | {} |\n", self.cpu));
        out.push_str(&format!("| cores | {} |\n", self.cores));
        out.push_str(&format!("| memory | {:.1} GiB |\n", self.memory_gib));
        out.push_str(&format!("| kernel | Linux {} |\n", self.kernel));
        out.push_str(&format!("| distribution | {} |\n", self.os));
        for (dir, fs) in &self.filesystems {
            out.push_str(&format!("| filesystem of `{dir}` | {fs} |\n"));
        }
        for (tool, version) in &self.tools {
            out.push_str(&format!("| `{tool}` | {version} |\n"));
        }
        out
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The first line a tool prints for its version (stdout, else stderr), or why there is none.
fn first_line(tool: &str, args: &[&str]) -> String {
    match Command::new(tool).args(args).output() {
        Ok(o) => {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .replace('\t', " ")
                .trim()
                .to_string()
        }
        Err(_) => "not installed".into(),
    }
}

/// The filesystem type holding `dir`, from /proc/mounts (the longest matching mount point);
/// an ext4 filesystem without a journal says so, because it allocates inodes differently
/// (see `bench::engine`).
pub fn fs_type(dir: &Path) -> String {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let Some((device, fs)) = mount_of(&read("/proc/mounts"), &dir) else {
        return "unknown".into();
    };
    if fs == "ext4" && !has_journal(&device) {
        return "ext4 (no journal)".into();
    }
    fs
}

/// `(device, type)` of the mount holding `dir`.
fn mount_of(mounts: &str, dir: &Path) -> Option<(String, String)> {
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.len() > 2 && dir.starts_with(f[1]))
                .then(|| (f[1].len(), f[0].to_string(), f[2].to_string()))
        })
        .max()
        .map(|(_, dev, fs)| (dev, fs))
}

/// Whether jbd2 runs a journal for `device` (`/proc/fs/jbd2/<name>-8`).
fn has_journal(device: &str) -> bool {
    let name = Path::new(device)
        .file_name()
        .map_or(String::new(), |n| n.to_string_lossy().into_owned());
    std::fs::read_dir("/proc/fs/jbd2").is_ok_and(|entries| {
        entries.flatten().any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{name}-"))
        })
    })
}

/// The current date and time in UTC, `YYYY-MM-DD HH:MM UTC`.
pub fn now_utc() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc(secs)
}

/// `YYYY-MM-DD HH:MM UTC` from the daemon's own RFC 3339 formatter (`...THH:MM:SSZ`).
fn utc(secs: u64) -> String {
    let iso = baton::daemon::clock::rfc3339(secs);
    format!("{} {} UTC", &iso[..10], &iso[11..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc(1_767_225_599), "2025-12-31 23:59 UTC");
        assert_eq!(utc(1_772_323_200 + 3_600 + 60), "2026-03-01 01:01 UTC");
    }

    #[test]
    fn the_longest_mount_point_wins() {
        let mounts =
            "/dev/vda / ext4 rw 0 0\ntmpfs /dev/shm tmpfs rw 0 0\ntmpfs /dev tmpfs rw 0 0\n";
        let fs = |d: &str| mount_of(mounts, Path::new(d)).map(|(_, t)| t);
        assert_eq!(fs("/dev/shm/x").as_deref(), Some("tmpfs"));
        assert_eq!(fs("/var/tmp").as_deref(), Some("ext4"));
        assert_eq!(mount_of("", Path::new("/x")), None);
        assert_eq!(
            mount_of(mounts, Path::new("/var"))
                .map(|(d, _)| d)
                .as_deref(),
            Some("/dev/vda")
        );
    }
}
