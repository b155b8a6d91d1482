//! Helpers for baton's end-to-end tests: locate the real binary, build scratch Systems
//! ([`fixture`]), say what a test needs from the machine ([`need`]).
//!
//! The tests run the `baton` binary that `cargo build --workspace --bins` produced (e2e/run
//! builds it first), so they see what a user sees. They link the library only for tools:
//! the Artifact builder (`artifact::testkit`) for inputs `mender-artifact` cannot write,
//! the clock, and the fuzz tests, which feed the readers directly.

// The end-to-end tests and benchmarks drive real processes and real sockets and measure real
// durations: their waits and timings are the wall clock's, not tokio's (which the lint
// keeps for the controller, so its tests can pause time).
#![allow(clippy::disallowed_methods)]

pub mod bench;
pub mod browser;
pub mod fixture;
pub mod hot_text;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod dashboards;
pub mod dbus;
pub mod kanto;
pub mod logs;
pub mod mender;
pub mod mender_daemon;
pub mod mender_server;
pub mod need;
pub mod package;
pub mod prometheus;
pub mod reliability;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("e2e/ has a parent")
        .to_path_buf()
}

/// Cargo's target directory: `$CARGO_TARGET_DIR`, else `<repo>/target`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// The debug `baton` binary: `$BATON_BIN`, else `<target>/debug/baton`. Panics with the
/// command to run when it is missing.
pub fn baton_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("BATON_BIN") {
        return PathBuf::from(p);
    }
    let bin = target_dir().join("debug").join("baton");
    assert!(
        bin.is_file(),
        "the baton binary is missing at {}: run `cargo build --workspace --bins` first \
         (e2e/run does), or set BATON_BIN",
        bin.display()
    );
    bin
}

/// A `baton` command with a clean Mender environment (no MENDER_ORCHESTRATOR_* inherited).
pub fn baton() -> Command {
    let mut c = Command::new(baton_bin());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("MENDER_ORCHESTRATOR_") {
            c.env_remove(k);
        }
    }
    c
}

/// The resource corpus shared with the library's tests.
pub fn corpus() -> PathBuf {
    repo_root().join("controller/tests/corpus")
}

/// Stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a command and returns its output; panics if it cannot start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs a command that must succeed.
pub fn ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    out
}
