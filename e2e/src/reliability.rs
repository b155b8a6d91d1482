//! What the reliability suite checks after every fault, and how it counts.
//!
//! - [`Tally`]: a test that tries many cases (every crash point, every truncation length)
//!   counts them, so `RELIABILITY.md` shows cases, not test functions.
//! - [`check_protocol`]: the Interface call sequence a System saw is a legal one (a
//!   per-component automaton plus the order-group barriers), from the start and end events
//!   a logging Interface wrapper wrote ([`CallLog`]).
//! - [`stray_processes`], [`kill_strays`], [`stray_files`]: what a crash may leave behind.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Counts the cases a test tries. When the test ends (or panics), one line
/// `tally test=<name> tried=<n> passed=<m>` is appended to `$BATON_TALLY_FILE`, if set:
/// the reliability report reads it. The test's name is libtest's thread name.
pub struct Tally {
    test: String,
    tried: usize,
    passed: usize,
}

impl Tally {
    pub fn new() -> Self {
        let test = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_string();
        Self {
            test,
            tried: 0,
            passed: 0,
        }
    }

    /// A case starts; call [`Tally::pass`] when it passed (a panic in between leaves it
    /// counted as tried and not passed).
    pub fn try_one(&mut self) {
        self.tried += 1;
    }

    pub fn pass(&mut self) {
        self.passed += 1;
        assert!(self.passed <= self.tried, "passed a case never tried");
    }

    /// Runs one case: tried, and passed if `f` returns.
    pub fn case<T>(&mut self, f: impl FnOnce() -> T) -> T {
        self.try_one();
        let v = f();
        self.pass();
        v
    }

    pub fn tried(&self) -> usize {
        self.tried
    }

    /// A figure worth showing in the report next to the counts (`note test=<name> <text>`).
    pub fn note(&self, text: &str) {
        eprintln!("{text}");
        append(&format!(
            "note test={} {}\n",
            self.test,
            text.replace('\n', " ")
        ));
    }
}

/// Says loudly that the calling test checks nothing here, and why (a missing tool, not
/// root); the reliability report then shows its row as not run instead of passed.
pub fn skip(why: &str) {
    eprintln!("\n*** SKIPPING: {why} (e2e/run installs what the suite needs) ***\n");
    let test = std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_string();
    append(&format!("skip test={test} {}\n", why.replace('\n', " ")));
}

/// One line, one O_APPEND write, to `$BATON_TALLY_FILE` when set.
fn append(line: &str) {
    let Some(path) = std::env::var_os("BATON_TALLY_FILE") else {
        return;
    };
    if let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = f.write_all(line.as_bytes());
    }
}

impl Default for Tally {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        // One short write with O_APPEND: lines from parallel tests do not interleave.
        append(&format!(
            "tally test={} tried={} passed={}\n",
            self.test, self.tried, self.passed
        ));
    }
}

/// A scratch System of three mock components in three order groups: `gw` (type
/// `gateway`, order 10), `e1` (`ecu`, 20), `m1` (`mcu`, 30), all on `v1`.
pub fn three_groups() -> crate::scratch::Scratch {
    use crate::scratch::{Comp, Scratch};
    Scratch::new(vec![
        Comp::new("gw", "gateway", 10),
        Comp::new("e1", "ecu", 20),
        Comp::new("m1", "mcu", 30),
    ])
}

/// `n` incompressible bytes from `seed` (xorshift): a payload that takes its full size on
/// disk and in a compressed Artifact.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// What a component is, for the protocol automaton.
#[derive(Debug, Clone)]
pub struct CompSpec {
    pub name: String,
    /// The Manifest's `order` of its component type.
    pub order: u8,
    /// `No`, `Yes` or `Automatic`.
    pub reboot: String,
    pub supports_rollback: bool,
}

impl CompSpec {
    fn reboots(&self) -> bool {
        self.reboot == "Yes" || self.reboot == "Automatic"
    }
}

/// One line of the call log: a call of `state` for component `comp` started, or ended with
/// an exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub comp: String,
    pub state: String,
    /// `None`: the call started; `Some(code)`: it ended.
    pub end: Option<i32>,
}

/// The call log a wrapper Interface writes: `start <comp> <State>` and
/// `end <comp> <State> <exit code>` lines, appended by every call in the order they happen.
pub struct CallLog {
    pub path: PathBuf,
}

impl CallLog {
    /// Installs, as Interface `name` in `interfaces_dir`, a wrapper that logs every call to
    /// `log` and runs `real` (which must also be called `name`: Interfaces derive their
    /// Provides key from their file name). The component is named after its state directory
    /// (the mock's first interface argument).
    pub fn install(interfaces_dir: &Path, name: &str, real: &Path, log: &Path) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let wrapper = interfaces_dir.join(name);
        let script = format!(
            "#!/bin/sh\n\
             # Logs the call, runs the real Interface, logs how it ended.\n\
             c=$(basename \"$4\")\n\
             echo \"start $c $1\" >> '{log}'\n\
             '{real}' \"$@\"\n\
             rc=$?\n\
             echo \"end $c $1 $rc\" >> '{log}'\n\
             exit $rc\n",
            log = log.display(),
            real = real.display()
        );
        fs::write(&wrapper, script).unwrap();
        fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
        Self {
            path: log.to_path_buf(),
        }
    }

    pub fn events(&self) -> Vec<Event> {
        parse_events(&fs::read_to_string(&self.path).unwrap_or_default())
    }

    pub fn clear(&self) {
        let _ = fs::remove_file(&self.path);
    }
}

pub fn parse_events(text: &str) -> Vec<Event> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            match f.as_slice() {
                ["start", c, s] => Some(Event {
                    comp: c.to_string(),
                    state: s.to_string(),
                    end: None,
                }),
                ["end", c, s, rc] => Some(Event {
                    comp: c.to_string(),
                    state: s.to_string(),
                    end: Some(rc.parse().unwrap_or(-1)),
                }),
                _ => None,
            }
        })
        .collect()
}

/// The pseudo-component of host reboots: a reboot command that logs `start host Reboot`.
pub const HOST: &str = "host";

/// What one component has been through so far in a deployment.
#[derive(Debug, Default, Clone)]
struct Seen {
    downloads: usize,
    /// The latest Download ended with exit 0.
    downloaded_ok: bool,
    install_started: bool,
    install_ok: bool,
    /// ArtifactReboot succeeded, or (`Automatic`) the host rebooted after the install.
    reboot_ok: bool,
    verify_ok: bool,
    commit_ok: bool,
    rollback_started: bool,
    cleanup_started: bool,
    /// The last protocol event (to check that a touched component ends in Cleanup).
    last: Option<Event>,
}

fn is_protocol(state: &str) -> bool {
    matches!(
        state,
        "Download"
            | "DownloadWithFileSizes"
            | "ArtifactInstall"
            | "NeedsArtifactReboot"
            | "ArtifactReboot"
            | "ArtifactVerifyReboot"
            | "ArtifactCommit"
            | "SupportsRollback"
            | "ArtifactRollback"
            | "ArtifactRollbackReboot"
            | "ArtifactVerifyRollbackReboot"
            | "ArtifactFailure"
            | "Cleanup"
    )
}

/// Whether ArtifactInstall may have started: it did, or baton may have recorded its intent
/// to start it and died before the call (after a successful Download). Baton, like the
/// Mender client, then treats the install as started and rolls back: Interfaces must accept
/// ArtifactRollback for an install that never ran.
fn maybe_installed(s: &Seen) -> bool {
    s.install_started || s.downloaded_ok
}

/// Checks one deployment's calls (possibly across crashes and restarts) against the
/// protocol: per component, no ArtifactInstall before its Download succeeded, nothing but
/// Cleanup after Cleanup, Rollback only after Install started, Commit only after every
/// component's forward states succeeded and never after a Rollback started; across order
/// groups, a group downloads only after every lower group finished its forward states,
/// installs only after its whole group downloaded, rolls back only after every higher group
/// started its rollback; and every component that was touched ends with a successful
/// Cleanup. Returns every violation found.
pub fn check_protocol(comps: &[CompSpec], events: &[Event]) -> Result<(), Vec<String>> {
    let spec: BTreeMap<&str, &CompSpec> = comps.iter().map(|c| (c.name.as_str(), c)).collect();
    let mut seen: BTreeMap<String, Seen> = comps
        .iter()
        .map(|c| (c.name.clone(), Seen::default()))
        .collect();
    let mut bad = Vec::new();
    let mut any_rollback = false;
    let mut any_commit = false;
    let mut any_cleanup = false;
    for (i, e) in events.iter().enumerate() {
        if e.comp == HOST && e.state == "Reboot" {
            // The host rebooted: every installed `Automatic` component rebooted with it.
            for (n, c) in &spec {
                let s = seen.get_mut(*n).unwrap();
                if c.reboot == "Automatic" && s.install_ok {
                    s.reboot_ok = true;
                }
            }
            continue;
        }
        if !is_protocol(&e.state) {
            continue;
        }
        let Some(me) = spec.get(e.comp.as_str()) else {
            bad.push(format!("#{i}: a call for unknown component {}", e.comp));
            continue;
        };
        let mut fail = |why: &str| bad.push(format!("#{i} {} {}: {why}", e.comp, e.state));
        let s = &seen[&e.comp];
        match e.end {
            None => {
                let st = e.state.as_str();
                if s.cleanup_started && st != "Cleanup" {
                    fail("after this component's Cleanup");
                }
                if any_cleanup && st != "Cleanup" {
                    fail("after Cleanup started");
                }
                match st {
                    "Download" | "DownloadWithFileSizes" => {
                        if s.install_started {
                            fail("a second Download after ArtifactInstall");
                        }
                        if any_commit || any_rollback {
                            fail("a Download after Commit or Rollback started");
                        }
                        for (n, c) in &spec {
                            let o = &seen[*n];
                            let done = o.install_ok && (!c.reboots() || o.verify_ok);
                            if c.order < me.order && !done {
                                fail(&format!("lower order group's {n} has not finished"));
                            }
                        }
                    }
                    "ArtifactInstall" => {
                        if !s.downloaded_ok {
                            fail("its Download did not succeed");
                        }
                        for (n, c) in &spec {
                            if c.order == me.order && !seen[*n].downloaded_ok {
                                fail(&format!("{n} in the same group has not downloaded"));
                            }
                        }
                    }
                    "NeedsArtifactReboot" if !s.install_started => {
                        fail("ArtifactInstall never started")
                    }
                    "SupportsRollback" | "ArtifactFailure" => {
                        if !maybe_installed(s) {
                            fail("ArtifactInstall never started");
                        }
                        if st == "ArtifactFailure" && me.supports_rollback && !s.rollback_started {
                            fail("before its ArtifactRollback");
                        }
                    }
                    "ArtifactReboot" if !s.install_ok || me.reboot != "Yes" => {
                        fail("without a successful install that needs it")
                    }
                    "ArtifactVerifyReboot" => {
                        if !s.install_ok || !me.reboots() {
                            fail("without a successful install that rebooted");
                        }
                        if me.reboot == "Yes" && !s.reboot_ok {
                            fail("its ArtifactReboot did not succeed");
                        }
                        if me.reboot == "Automatic" && !s.reboot_ok {
                            fail("the host was not rebooted after its install");
                        }
                    }
                    "ArtifactCommit" => {
                        if any_rollback {
                            fail("after a Rollback started");
                        }
                        for (n, c) in &spec {
                            let o = &seen[*n];
                            if !o.install_ok || (c.reboots() && !o.verify_ok) {
                                fail(&format!("{n} has not finished its forward states"));
                            }
                        }
                    }
                    "ArtifactRollback" => {
                        if !maybe_installed(s) {
                            fail("ArtifactInstall never started");
                        }
                        for (n, c) in &spec {
                            let o = &seen[*n];
                            let owed = c.supports_rollback && o.install_started;
                            if c.order > me.order && owed && !o.rollback_started {
                                fail(&format!("higher order group's {n} not rolled back yet"));
                            }
                        }
                    }
                    "ArtifactRollbackReboot" | "ArtifactVerifyRollbackReboot"
                        if !s.rollback_started || !me.reboots() =>
                    {
                        fail("without an ArtifactRollback that needs a reboot")
                    }
                    _ => {}
                }
                let s = seen.get_mut(&e.comp).unwrap();
                match st {
                    "Download" | "DownloadWithFileSizes" => {
                        s.downloads += 1;
                        s.downloaded_ok = false;
                    }
                    "ArtifactInstall" => s.install_started = true,
                    "ArtifactRollback" => {
                        s.rollback_started = true;
                        any_rollback = true;
                    }
                    "ArtifactCommit" => any_commit = true,
                    "Cleanup" => {
                        s.cleanup_started = true;
                        any_cleanup = true;
                    }
                    _ => {}
                }
            }
            Some(rc) => {
                let ok = rc == 0;
                let s = seen.get_mut(&e.comp).unwrap();
                match e.state.as_str() {
                    "Download" | "DownloadWithFileSizes" => s.downloaded_ok = ok,
                    "ArtifactInstall" => s.install_ok = ok,
                    "ArtifactReboot" => s.reboot_ok = ok,
                    "ArtifactVerifyReboot" => s.verify_ok = ok,
                    "ArtifactCommit" => s.commit_ok |= ok,
                    _ => {}
                }
            }
        }
        seen.get_mut(&e.comp).unwrap().last = Some(e.clone());
    }
    for (n, s) in &seen {
        if s.downloads == 0 {
            continue;
        }
        let ends_clean = s
            .last
            .as_ref()
            .is_some_and(|e| e.state == "Cleanup" && e.end == Some(0));
        if !ends_clean {
            bad.push(format!(
                "{n}: touched but does not end with a successful Cleanup (last: {:?})",
                s.last
            ));
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(bad)
    }
}

/// Processes that belong to a scratch System: their command line or working directory
/// mentions `root`. `(pid, command line)`.
pub fn stray_processes(root: &Path) -> Vec<(u32, String)> {
    let root_text = root.to_string_lossy().into_owned();
    let me = std::process::id();
    let mut found = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return found;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let cmdline = fs::read(e.path().join("cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        let cwd = fs::read_link(e.path().join("cwd")).unwrap_or_default();
        if cmdline.contains(&root_text) || cwd.starts_with(root) {
            found.push((pid, cmdline.trim().to_string()));
        }
    }
    found
}

/// SIGKILLs every process [`stray_processes`] finds, as systemd's `KillMode=control-group`
/// does when the service it supervises dies. Returns what was killed.
pub fn kill_strays(root: &Path) -> Vec<(u32, String)> {
    let strays = stray_processes(root);
    for (pid, _) in &strays {
        // It may have exited since: no message.
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .stderr(std::process::Stdio::null())
            .status();
    }
    strays
}

/// What a settled datastore must not hold: a deployment's work directory (anything under
/// `work/` but the query scratch directories), a journal or Manifest store temporary file,
/// a pending Manifest, a partial download.
pub fn stray_files(datastore: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if let Ok(work) = fs::read_dir(datastore.join("work")) {
        for e in work.flatten() {
            if e.file_name() != "query" {
                found.push(e.path());
            }
        }
    }
    walk(datastore, &mut |p| {
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        let stray = name.ends_with(".tmp")
            || name.ends_with(".part")
            || name.starts_with("pending.")
            || name == "stream-next"
            || name == "streams";
        if stray {
            found.push(p.to_path_buf());
        }
    });
    found.sort();
    found.dedup();
    found
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        f(&p);
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&p, f);
        }
    }
}

/// A private mount namespace held open by a sleeping process, for mounts a test must not
/// leave on the host (a tiny tmpfs, a read-only bind mount). Commands run inside with
/// `nsenter`; files inside are read through `/proc/<pid>/root`. Needs root and util-linux:
/// [`Namespace::new`] says loudly why it cannot, and the caller skips.
pub struct Namespace {
    holder: std::process::Child,
}

impl Namespace {
    pub fn new() -> Option<Self> {
        let skip = |why: &str| {
            skip(&format!(
                "{why}: a private mount namespace needs root and util-linux"
            ));
            None
        };
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        if !root {
            return skip("not root");
        }
        let holder = std::process::Command::new("unshare")
            .args(["-m", "--propagation", "private", "sleep", "100000"])
            .spawn();
        let Ok(holder) = holder else {
            return skip("unshare is missing");
        };
        let ns = Self { holder };
        // Wait until the holder runs in its own namespace.
        for _ in 0..200 {
            let mine = fs::read_link("/proc/self/ns/mnt").ok();
            let its = fs::read_link(format!("/proc/{}/ns/mnt", ns.pid())).ok();
            if its.is_some() && its != mine {
                return Some(ns);
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        skip("unshare -m did not give a new mount namespace")
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

#[cfg(test)]
mod tests {
    use super::*;

    fn comps() -> Vec<CompSpec> {
        let c = |name: &str, order, reboot: &str| CompSpec {
            name: name.into(),
            order,
            reboot: reboot.into(),
            supports_rollback: true,
        };
        vec![c("a", 1, "No"), c("b", 2, "Yes")]
    }

    /// `a:Download:0` is a start and an end with code 0; `a:Download:-` a start only.
    fn ev(spec: &str) -> Vec<Event> {
        spec.split_whitespace()
            .flat_map(|t| {
                let f: Vec<&str> = t.split(':').collect();
                let start = Event {
                    comp: f[0].into(),
                    state: f[1].into(),
                    end: None,
                };
                match f[2] {
                    "-" => vec![start],
                    rc => {
                        let mut end = start.clone();
                        end.end = Some(rc.parse().unwrap());
                        vec![start, end]
                    }
                }
            })
            .collect()
    }

    const SUCCESS: &str = "a:Download:0 a:ArtifactInstall:0 a:NeedsArtifactReboot:0 \
        b:Download:0 b:ArtifactInstall:0 b:NeedsArtifactReboot:0 b:ArtifactReboot:0 \
        b:ArtifactVerifyReboot:0 a:ArtifactCommit:0 b:ArtifactCommit:0 a:Cleanup:0 b:Cleanup:0";

    const ROLLBACK: &str = "a:Download:0 a:ArtifactInstall:0 a:NeedsArtifactReboot:0 \
        b:Download:0 b:ArtifactInstall:1 b:SupportsRollback:0 b:ArtifactRollback:0 \
        b:ArtifactRollbackReboot:0 b:ArtifactVerifyRollbackReboot:0 b:ArtifactFailure:0 \
        a:SupportsRollback:0 a:ArtifactRollback:0 a:ArtifactFailure:0 a:Cleanup:0 b:Cleanup:0";

    #[test]
    fn legal_sequences_pass() {
        check_protocol(&comps(), &ev(SUCCESS)).unwrap();
        check_protocol(&comps(), &ev(ROLLBACK)).unwrap();
        // A crash in Download: Cleanup only.
        check_protocol(&comps(), &ev("a:Download:- a:Cleanup:0")).unwrap();
        // A Commit re-run after a crash, a Cleanup re-run.
        let rerun = SUCCESS.replace(
            "a:ArtifactCommit:0",
            "a:ArtifactCommit:- a:ArtifactCommit:0",
        );
        check_protocol(&comps(), &ev(&rerun)).unwrap();
    }

    #[test]
    fn illegal_sequences_are_named() {
        let cases = [
            (
                "a:ArtifactInstall:0 a:Cleanup:0",
                "its Download did not succeed",
            ),
            (
                "a:Download:1 a:ArtifactInstall:0 a:Cleanup:0",
                "its Download did not succeed",
            ),
            (
                "a:Download:0 b:Download:0 a:ArtifactInstall:0 a:Cleanup:0 b:Cleanup:0",
                "has not finished",
            ),
            (
                "a:Download:1 a:ArtifactRollback:0 a:Cleanup:0",
                "ArtifactInstall never started",
            ),
            (
                "a:Download:0 a:Cleanup:0 a:ArtifactInstall:0",
                "after this component's Cleanup",
            ),
            (
                "a:Download:0 a:ArtifactInstall:0",
                "does not end with a successful Cleanup",
            ),
            (
                "a:Download:0 a:ArtifactInstall:0 a:ArtifactCommit:0 a:Cleanup:0",
                "b has not finished its forward states",
            ),
        ];
        for (seq, why) in cases {
            let err = check_protocol(&comps(), &ev(seq)).unwrap_err().join("\n");
            assert!(err.contains(why), "{seq}: expected `{why}`, got:\n{err}");
        }
        let commit_after_rollback =
            ROLLBACK.replace("a:Cleanup:0", "a:ArtifactCommit:0 a:Cleanup:0");
        let err = check_protocol(&comps(), &ev(&commit_after_rollback)).unwrap_err();
        assert!(
            err.join("\n").contains("after a Rollback started"),
            "{err:?}"
        );
        let wrong_rollback_order = ROLLBACK.replace(
            "b:SupportsRollback:0 b:ArtifactRollback:0",
            "a:ArtifactRollback:0 b:SupportsRollback:0 b:ArtifactRollback:0",
        );
        let err = check_protocol(&comps(), &ev(&wrong_rollback_order)).unwrap_err();
        assert!(err.join("\n").contains("not rolled back yet"), "{err:?}");
    }

    #[test]
    fn an_automatic_reboot_must_happen_before_its_verification() {
        let mut c = comps();
        c[0].reboot = "Automatic".into();
        let seq = "a:Download:0 a:ArtifactInstall:0 a:NeedsArtifactReboot:0 host:Reboot:- \
            a:ArtifactVerifyReboot:0 b:Download:0 b:ArtifactInstall:0 b:NeedsArtifactReboot:0 \
            b:ArtifactReboot:0 b:ArtifactVerifyReboot:0 a:ArtifactCommit:0 b:ArtifactCommit:0 \
            a:Cleanup:0 b:Cleanup:0";
        check_protocol(&c, &ev(seq)).unwrap();
        let err = check_protocol(&c, &ev(&seq.replace("host:Reboot:- ", ""))).unwrap_err();
        assert!(err.join("\n").contains("host was not rebooted"), "{err:?}");
    }

    #[test]
    fn call_logs_parse() {
        let e = parse_events("start gw Download\nend gw Download 0\ngarbage\n");
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].end, Some(0));
    }

    #[test]
    fn stray_files_are_found() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("work/query/mock")).unwrap();
        assert!(stray_files(d.path()).is_empty());
        fs::create_dir_all(d.path().join("work/1234-5/ecu")).unwrap();
        fs::create_dir_all(d.path().join("journal")).unwrap();
        fs::write(d.path().join("journal/current.tmp"), "x").unwrap();
        let found = stray_files(d.path());
        assert_eq!(found.len(), 2, "{found:?}");
    }
}
