//! Helpers shared by the `interface_*` tests: real processes, real files, real `/proc`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use baton::interface::{Invocation, Runner, RunnerConfig};
use baton::model::{ComponentId, ComponentType, InterfaceName};

/// The reference Interfaces shipped in `interfaces/`.
pub fn reference_interface(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("interfaces")
        .join(name)
}

/// Writes an executable `sh` script and returns its path.
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A runner with short bounds, so that timeout tests take a moment, not hours.
pub fn quick_runner(timeout: Duration) -> Runner {
    Runner::with_parent_env(
        RunnerConfig {
            state_timeout: timeout,
            query_timeout: timeout,
            kill_grace: Duration::from_millis(300),
            eof_wait: Duration::from_millis(300),
            ..RunnerConfig::default()
        },
        std::env::vars_os(),
    )
}

/// An invocation of `program` for a component of type `rtos`.
pub fn invocation(program: &Path, work_dir: &Path, args: &[&str]) -> Invocation {
    let interface = program.file_name().unwrap().to_str().unwrap();
    Invocation {
        interface: InterfaceName::new(interface).unwrap(),
        program: program.to_owned(),
        work_dir: work_dir.to_owned(),
        component_type: ComponentType::new("rtos").unwrap(),
        component: Some(ComponentId::new("R1").unwrap()),
        args: args.iter().map(|a| a.to_string()).collect(),
    }
}

/// An invocation of the `mock` reference Interface for the component in `state`.
pub fn mock_invocation(work_dir: &Path, state: &Path) -> Invocation {
    invocation(
        &reference_interface("mock"),
        work_dir,
        &[state.to_str().unwrap()],
    )
}

/// A mock component: its state directory with `id=<id>` and a version.
pub fn mock_component(root: &Path, id: &str, version: &str) -> PathBuf {
    let dir = root.join(format!("state-{id}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Identity"), format!("id={id}\n")).unwrap();
    std::fs::write(dir.join("version"), format!("{version}\n")).unwrap();
    dir
}

/// Running (non-zombie) processes whose process group is `pgid`, read from
/// `/proc/<pid>/status` (`NSpgid`): an oracle independent of the runner's own `/proc/*/stat`
/// reading.
pub fn running_in_group(pgid: i32) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_owned())
        };
        let zombie = field("State:").is_some_and(|s| s.starts_with('Z') || s.starts_with('X'));
        let in_group = field("NSpgid:")
            .and_then(|v| v.split_whitespace().last().map(str::to_owned))
            .is_some_and(|v| v == pgid.to_string());
        if in_group && !zombie {
            found.push(pid);
        }
    }
    found
}

/// Whether `pid` is still running (a zombie is not).
pub fn is_running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/status")) {
        Ok(status) => status
            .lines()
            .find_map(|l| l.strip_prefix("State:"))
            .is_some_and(|s| !matches!(s.trim_start().chars().next(), Some('Z' | 'X'))),
        Err(_) => false,
    }
}

/// Reads a PID written by a test Interface, waiting for it to appear.
pub async fn wait_pid(path: &Path) -> i32 {
    for _ in 0..500 {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(pid) = text.trim().parse() {
                return pid;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no PID in {}", path.display());
}

/// Polls `cond` for up to two seconds: signals are delivered asynchronously.
pub async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..200 {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cond()
}
