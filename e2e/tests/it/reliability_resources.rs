//! Storage faults through the real binary, in a private mount namespace: the disk fills up
//! during a download and during a journal write, the datastore is read-only. baton must
//! fail the deployment (or the command) with a clear error, keep its journal usable, leave
//! nothing partial behind, and succeed once space or write access is back.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use e2e::fixture::System;
use e2e::need;
use e2e::reliability::{noise, stray_files, stray_processes, Namespace, Tally};
use e2e::{stderr, stdout};

use baton::artifact::testkit::ArtifactBuilder;

const OLD: [&str; 3] = ["gateway-v1", "ecu-v1", "mcu-v1"];
const NEW: [&str; 3] = ["gateway-v2", "ecu-v2", "mcu-v2"];

/// `baton args...` for `s`, run inside `ns`.
fn baton(ns: &Namespace, s: &System, args: &[&str]) -> Output {
    let inner = s.baton();
    let mut c = ns.command(inner.get_program());
    c.args(inner.get_args()).args(args);
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.output().unwrap()
}

fn no_panic(o: &Output) {
    let err = stderr(o);
    assert!(
        !err.contains("panicked") && o.status.code() != Some(101),
        "panic: {err}"
    );
}

fn report(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}): {}{}", stdout(o), stderr(o)))
}

fn store(s: &System) -> PathBuf {
    s.datastore()
}

/// Nothing partial: no work directory, temporary file or pending Manifest in the datastore
/// (seen from inside the namespace), no process left running.
fn clean(ns: &Namespace, s: &System) {
    let files = stray_files(&ns.outside(&store(s)));
    assert!(files.is_empty(), "stray files: {files:?}");
    let procs = stray_processes(s.root());
    assert!(procs.is_empty(), "stray processes: {procs:?}");
}

#[test]
fn the_disk_fills_up_during_a_download() {
    let Some(ns) = need::require(Namespace::new()) else {
        return;
    };
    let mut tally = Tally::new();
    tally.case(|| {
        let s = System::three_groups();
        // e1's Interface leaves the payload to baton (the files tree, in the datastore), and
        // its payload is larger than the 1 MiB the datastore's work area has left.
        fs::write(s.state_dir("e1").join("download-mode"), "files").unwrap();
        let big = ArtifactBuilder::new("ecu-v2", "mock", "ecu")
            .file("payload.bin", noise(3 << 20, 1))
            .build();
        fs::write(s.artifacts_dir().join("ecu-v2.mender"), big).unwrap();
        let m = s.release("v2");
        let work = store(&s).join("work");
        fs::create_dir_all(&work).unwrap();
        ns.sh(&format!(
            "mount -t tmpfs -o size=1m tmpfs '{}'",
            work.display()
        ));

        let out = baton(&ns, &s, &["install", "-o", "json", m.to_str().unwrap()]);
        no_panic(&out);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let r = report(&out);
        assert_eq!(r["end"]["result"], "rolledBack", "{r}");
        assert_eq!(r["end"]["reason"], "DownloadFailed", "{r}");
        let reason = r["end"]["message"].as_str().unwrap_or_default();
        assert!(
            reason.contains("No space left"),
            "the reason says why: {reason}"
        );
        assert!(
            r["end"]["failed_at"]
                .as_str()
                .unwrap_or_default()
                .contains("e1"),
            "{r}"
        );
        assert_eq!(s.versions(), OLD);
        clean(&ns, &s);
        // The journal is intact and empty.
        let shown = baton(&ns, &s, &["journal", "show"]);
        assert!(
            stdout(&shown).contains("no deployment in progress"),
            "{}",
            stderr(&shown)
        );

        // A deployment that fits succeeds on the same small disk.
        let small = ArtifactBuilder::new("ecu-v3", "mock", "ecu")
            .file("payload.bin", noise(100 << 10, 2))
            .build();
        fs::write(s.artifacts_dir().join("ecu-v3.mender"), small).unwrap();
        let m = s.release("v3");
        let out = baton(&ns, &s, &["install", m.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(s.versions(), ["gateway-v3", "ecu-v3", "mcu-v3"]);
        clean(&ns, &s);
    });
}

#[test]
fn the_disk_fills_up_during_a_journal_write() {
    let Some(ns) = need::require(Namespace::new()) else {
        return;
    };
    let mut tally = Tally::new();
    tally.case(|| {
        let s = System::three_groups();
        let m = s.release("v2");
        let journal = store(&s).join("journal");
        fs::create_dir_all(&journal).unwrap();
        // Two pages: the first two records fit, the third (a temporary file next to the
        // current and the previous record) does not.
        ns.sh(&format!(
            "mount -t tmpfs -o size=8k tmpfs '{}'",
            journal.display()
        ));
        let out = baton(&ns, &s, &["install", m.to_str().unwrap()]);
        no_panic(&out);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("journal") && err.contains("No space left"),
            "a clear error: {err}"
        );
        // What is on disk is the last record that was written whole.
        let shown = baton(&ns, &s, &["journal", "show", "-o", "json"]);
        assert_eq!(shown.status.code(), Some(0), "{}", stderr(&shown));
        let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
        assert!(shown["fellBack"].is_null(), "{shown}");
        assert!(!shown["deployment"].is_null(), "{shown}");
        assert!(!ns.outside(&journal.join("current.tmp")).exists());

        // Space is back: the deployment settles, the next one succeeds.
        ns.sh(&format!("mount -o remount,size=1m '{}'", journal.display()));
        let out = baton(&ns, &s, &["resume", "-o", "json"]);
        no_panic(&out);
        let r = report(&out);
        let v = s.versions();
        match r["end"]["result"].as_str() {
            Some("rolledBack") => assert_eq!(v, OLD),
            Some("success") => assert_eq!(v, NEW),
            other => panic!("settled as {other:?}: {r}"),
        }
        clean(&ns, &s);
        let m = s.release("v3");
        let out = baton(&ns, &s, &["install", m.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        clean(&ns, &s);
    });
}

/// Bind-mounts `dir` read-only over itself inside `ns`.
fn read_only(ns: &Namespace, dir: &Path, ro: bool) {
    let d = dir.display();
    if ro {
        ns.sh(&format!(
            "mount --bind '{d}' '{d}' && mount -o remount,bind,ro '{d}'"
        ));
    } else {
        ns.sh(&format!("umount '{d}'"));
    }
}

#[test]
fn a_read_only_datastore_is_a_clear_error_and_nothing_is_touched() {
    let Some(ns) = need::require(Namespace::new()) else {
        return;
    };
    let mut tally = Tally::new();
    let s = System::three_groups();
    // Paused before the commit, so there is a deployment to resume.
    let m = s.release("v2");
    let out = baton(
        &ns,
        &s,
        &[
            "install",
            "--stop-before",
            "ArtifactCommit",
            m.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    read_only(&ns, &store(&s), true);
    s.clear_calls();
    for args in [
        vec!["resume"],
        vec!["rollback"],
        vec!["install", m.to_str().unwrap()],
        vec!["journal", "reset"],
    ] {
        tally.case(|| {
            let out = baton(&ns, &s, &args);
            no_panic(&out);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
            let err = stderr(&out);
            assert!(
                err.contains("Read-only file system")
                    && err.contains(&store(&s).display().to_string()),
                "{args:?}: the error names the datastore and the cause: {err}"
            );
            for c in ["gw", "e1", "m1"] {
                assert!(s.calls(c).is_empty(), "{args:?}: {c} was called");
            }
        });
    }
    // Writable again: the deployment resumes where it paused.
    tally.case(|| {
        read_only(&ns, &store(&s), false);
        let out = baton(&ns, &s, &["resume"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(s.versions(), NEW);
        clean(&ns, &s);
    });
}
