//! Whether the Interface calls a System saw form a legal sequence: a per-component
//! automaton plus the order-group barriers, checked from the start and end events a logging
//! Interface wrapper wrote ([`CallLog`]).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

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
    /// Installs at `wrapper` (where baton looks for the Interface, e.g.
    /// [`crate::fixture::System::mock`]) a wrapper that logs every call to `log` and runs
    /// `real` (which must have the wrapper's file name: Interfaces derive their Provides key
    /// from it, see [`crate::fixture::System::wrap_mock`]). The component is named after its
    /// state directory (the mock's first interface argument).
    pub fn install(wrapper: &Path, real: &Path, log: &Path) -> Self {
        use std::os::unix::fs::PermissionsExt;
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
        fs::write(wrapper, script).unwrap();
        fs::set_permissions(wrapper, fs::Permissions::from_mode(0o755)).unwrap();
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
}
