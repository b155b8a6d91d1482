//! What a test needs from the machine, and what happens when the machine does not have it.
//!
//! Every test that depends on something outside the repository (a tool, root, a private
//! mount namespace, the official Update Module and inventory script, cargo-deb, the release
//! binary) asks through one door before it checks anything: [`require`] (or [`have`]) over
//! a check from this module (`need::tool`, `need::root`, `need::mount_namespace`, ...).
//! When the check holds, the test runs. When it does not:
//!
//! - with `BATON_TEST_STRICT=1` (`.ci/run` sets it) the test FAILS, naming what is missing
//!   and how to install it: a green strict run means every test ran;
//! - otherwise it prints a loud SKIPPED block and records `skip test=<name> <what>` in
//!   `$BATON_TALLY_FILE` (`e2e/run` lists every skip at the end; the reliability report
//!   shows the row as not run, never passed), and the test returns having checked nothing.
//!
//! A check never installs anything: `e2e/run` does, as root, on a fresh Debian 12.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Something a test needs and this machine lacks, and how to get it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// What is missing, e.g. "`mender-artifact` is not installed".
    pub what: String,
    /// How to get it, e.g. "apt-get install mender-artifact".
    pub install: String,
}

impl Missing {
    pub fn new(what: impl Into<String>, install: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            install: install.into(),
        }
    }
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (to fix: {})", self.what, self.install)
    }
}

/// A need, met (with what it found) or not.
pub type Check<T = ()> = Result<T, Missing>;

/// Whether `BATON_TEST_STRICT` asks for every test to run (any value but empty or `0`).
pub fn strict() -> bool {
    std::env::var("BATON_TEST_STRICT").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// What `check` found, if it holds. If not: a failure in strict mode, else a loud, recorded
/// skip and `None` (the test then returns).
pub fn require<T>(check: Check<T>) -> Option<T> {
    match check {
        Ok(v) => Some(v),
        Err(missing) => {
            not_met(&missing);
            None
        }
    }
}

/// [`require`] for a check whose value the test does not use.
pub fn have<T>(check: Check<T>) -> bool {
    require(check).is_some()
}

fn not_met(missing: &Missing) {
    let test = crate::reliability::current_test();
    if strict() {
        panic!(
            "BATON_TEST_STRICT is set and `{test}` cannot run: {}\n  to fix: {}",
            missing.what, missing.install
        );
    }
    let bar = "!".repeat(78);
    // Straight to the process's stderr: libtest captures `eprintln!` of a passing test, and
    // this must be seen in every run.
    let _ = writeln!(
        std::io::stderr(),
        "\n{bar}\n!!! SKIPPED `{test}`: it checked NOTHING\n!!!   {}\n!!!   to fix: {}\n\
         !!!   (with BATON_TEST_STRICT=1, as CI runs, this test fails instead)\n{bar}\n",
        missing.what,
        missing.install
    );
    crate::reliability::record(&format!(
        "skip test={test} {}",
        missing.to_string().replace('\n', " ")
    ));
}

/// Every check must hold; the missing ones are named together.
pub fn all(checks: impl IntoIterator<Item = Check>) -> Check {
    let missing: Vec<Missing> = checks.into_iter().filter_map(Result::err).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let join = |f: fn(&Missing) -> &str| {
        let mut v: Vec<&str> = Vec::new();
        for s in missing.iter().map(f) {
            if !v.contains(&s) {
                v.push(s);
            }
        }
        v.join("; ")
    };
    Err(Missing::new(join(|m| &m.what), join(|m| &m.install)))
}

/// `name` on PATH (or, given as a path, that file): its path.
pub fn tool(name: &str) -> Check<PathBuf> {
    find(name).ok_or_else(|| Missing::new(format!("`{name}` is not installed"), install(name)))
}

/// Every tool of `names` (all missing ones named).
pub fn tools(names: &[&str]) -> Check {
    all(names.iter().map(|n| tool(n).map(drop)))
}

/// Where `name` is: itself if it names a path, else the first match on PATH.
pub fn find(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// How to install a tool the suite uses: the Debian package that has it, or the command.
pub fn install(tool: &str) -> String {
    let package = match tool.rsplit('/').next().unwrap_or(tool) {
        "mender" => "mender-client",
        "prometheus" | "promtool" => "prometheus",
        "systemd-analyze" | "systemd-tmpfiles" => "systemd",
        "dpkg-deb" => "dpkg",
        "xz" => "xz-utils",
        "unshare" | "nsenter" | "prlimit" | "mount" => "util-linux",
        "strip" | "readelf" => "binutils",
        "time" => "time",
        "dbus-daemon" => "dbus",
        "chroot" => "coreutils",
        "cargo-deb" => {
            return "e2e/run installs it (cargo install cargo-deb --locked --version 3.8.0)".into()
        }
        "oelint-adv" => {
            return "e2e/run installs it in a Python virtual environment (see OELINT_ADV \
                    in e2e/run)"
                .into()
        }
        other => other,
    };
    format!("apt-get install {package} (e2e/run installs it as root)")
}

/// The tests run as root (mounts, package installs in a namespace).
pub fn root() -> Check {
    if euid() == Some(0) {
        Ok(())
    } else {
        Err(Missing::new(
            "not root: the test mounts in a private mount namespace",
            "run the suite as root (CI does: e2e/run as root)",
        ))
    }
}

/// The effective uid, from /proc (no libc call: the workspace forbids unsafe code).
fn euid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Root, and `unshare -m --propagation private` works here (a container may refuse it).
pub fn mount_namespace() -> Check {
    root()?;
    tool("unshare")?;
    static PROBE: OnceLock<Check> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            let out = Command::new("unshare")
                .args(["-m", "--propagation", "private", "true"])
                .output();
            match out {
                Ok(o) if o.status.success() => Ok(()),
                Ok(o) => Err(Missing::new(
                    format!(
                        "`unshare -m` fails here: {}",
                        String::from_utf8_lossy(&o.stderr).trim()
                    ),
                    "run as root on a machine (or a privileged container) that allows mount \
                     namespaces",
                )),
                Err(e) => Err(Missing::new(
                    format!("`unshare` cannot run: {e}"),
                    install("unshare"),
                )),
            }
        })
        .clone()
}

/// The official `mender-orchestrator-manifest` Update Module, from `$BATON_OFFICIAL_MODULE`
/// (it is neither packaged in Debian nor vendored here).
pub fn official_module() -> Check<PathBuf> {
    official(
        "BATON_OFFICIAL_MODULE",
        "the official Update Module",
        "modules/mender-orchestrator-manifest/module/v3/mender-orchestrator-manifest",
    )
}

/// Mender Orchestrator's official inventory script, from `$BATON_OFFICIAL_INVENTORY`
/// (neither packaged in Debian nor vendored here).
pub fn official_inventory() -> Check<PathBuf> {
    official(
        "BATON_OFFICIAL_INVENTORY",
        "the official inventory script",
        "inventory/mender-inventory-mender-orchestrator",
    )
}

/// A file of mender-orchestrator-support named by the variable `var`; `.ci/run` sets it
/// from the copy it finds (see its `support_dir`).
fn official(var: &str, what: &str, rel: &str) -> Check<PathBuf> {
    let how = format!(
        "set {var} to mender-orchestrator-support's {rel} (.ci/run sets it when it finds \
         mender-orchestrator-support: $BATON_SUPPORT_DIR, or shared/mender-orchestrator-support \
         beside the repository or one of its parent directories)"
    );
    match std::env::var_os(var).filter(|p| !p.is_empty()) {
        None => Err(Missing::new(format!("{what}: {var} is not set"), how)),
        Some(p) => {
            let p = PathBuf::from(p);
            if p.is_file() {
                Ok(p)
            } else {
                Err(Missing::new(
                    format!("{what}: {var}={} is not a file", p.display()),
                    how,
                ))
            }
        }
    }
}

/// The name e2e/run gives the release binary it builds with the `fault-injection` feature,
/// under `<target>/release/`: never the plain `baton` a README demo or a benchmark builds.
pub const RELEASE_FAULT_BIN: &str = "baton-fault-injection";

/// The release `baton` built with the `fault-injection` feature: `$BATON_RELEASE_BIN`, else
/// `<target>/release/baton-fault-injection` (e2e/run and e2e/reliability build it with
/// `e2e/build-release`).
pub fn release_binary() -> Check<PathBuf> {
    let p = std::env::var_os("BATON_RELEASE_BIN")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::target_dir().join("release").join(RELEASE_FAULT_BIN));
    if p.is_file() {
        Ok(p)
    } else {
        Err(Missing::new(
            format!(
                "no release binary built with the fault-injection feature at {}",
                p.display()
            ),
            "run e2e/build-release (e2e/run and e2e/reliability do)",
        ))
    }
}

/// The Yocto recipe linter: `$OELINT_ADV`, else `oelint-adv` on PATH, else the Python
/// virtual environment e2e/run makes (Debian 12's pip refuses system-wide installs).
pub fn oelint_adv() -> Check<PathBuf> {
    if let Some(p) = std::env::var_os("OELINT_ADV").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if is_executable(&p) {
            Ok(p)
        } else {
            Err(Missing::new(
                format!("OELINT_ADV={} is not an executable", p.display()),
                install("oelint-adv"),
            ))
        };
    }
    find("oelint-adv")
        .or_else(|| {
            let venv = venv_dir().join("bin/oelint-adv");
            is_executable(&venv).then_some(venv)
        })
        .ok_or_else(|| {
            Missing::new(
                format!(
                    "`oelint-adv` is neither on PATH nor in {}",
                    venv_dir().display()
                ),
                install("oelint-adv"),
            )
        })
}

/// The Python virtual environment e2e/run installs the Python tools into: `$BATON_VENV`,
/// else `$XDG_CACHE_HOME/baton/venv` (`~/.cache/baton/venv`). Outside the target directory,
/// so `cargo clean` keeps it; shared by every checkout of the machine.
pub fn venv_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("BATON_VENV").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    cache.join("baton/venv")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_name_every_missing_one_and_how_to_install_it() {
        let err = tools(&["sh", "no-such-tool-a", "no-such-tool-b"]).unwrap_err();
        assert!(err.what.contains("`no-such-tool-a`"), "{err}");
        assert!(err.what.contains("`no-such-tool-b`"), "{err}");
        assert!(!err.what.contains("`sh`"), "{err}");
        assert_eq!(
            err.install,
            "apt-get install no-such-tool-a (e2e/run installs it as root); \
             apt-get install no-such-tool-b (e2e/run installs it as root)"
        );
        assert!(tools(&["sh"]).is_ok());
        assert_eq!(
            install("mender"),
            "apt-get install mender-client (e2e/run installs it as root)"
        );
        assert!(install("/usr/bin/time").starts_with("apt-get install time "));
    }

    #[test]
    fn a_path_is_found_only_if_it_is_an_executable_file() {
        assert!(find("/bin/sh").is_some());
        assert!(find("/etc/hostname-no-such").is_none());
        assert!(find("/etc").is_none(), "a directory is no tool");
    }
}
