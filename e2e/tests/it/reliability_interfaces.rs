//! Interfaces that misbehave, through the real binary: they hang, ignore SIGTERM, leave a
//! grandchild holding their pipes, print 10 MiB or garbage, answer in two lines, die of a
//! signal, are missing or not executable. Each deployment must end (no hang), roll the
//! System back when a state or answer cannot be trusted, say which component and why, and
//! leave no process behind.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Output;
use std::time::{Duration, Instant};

use e2e::fixture::System;
use e2e::reliability::{stray_processes, Tally};
use e2e::stderr;

const OLD: [&str; 3] = ["gateway-v1", "ecu-v1", "mcu-v1"];
const NEW: [&str; 3] = ["gateway-v2", "ecu-v2", "mcu-v2"];

/// A System whose states time out after 2 s (queries after 2 s too).
fn system() -> System {
    let s = System::three_groups();
    s.configure(serde_json::json!({"InterfaceTimeoutSeconds": 2, "QueryTimeoutSeconds": 2}));
    // A marker the mock does not know: `<State>.SIGKILL` makes the Interface kill itself.
    s.wrap_mock_with("[ -e \"$4/$1.SIGKILL\" ] && kill -9 $$");
    s
}

struct Ended {
    out: Output,
    report: serde_json::Value,
    took: Duration,
}

fn install(s: &System) -> Ended {
    let m = s.release("v2");
    let t = Instant::now();
    let out = s.run(&["install", "-o", "json", m.to_str().unwrap()]);
    let took = t.elapsed();
    assert!(
        !stderr(&out).contains("panicked"),
        "panic: {}",
        stderr(&out)
    );
    let report = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    Ended { out, report, took }
}

fn no_strays(s: &System, what: &str) {
    // A process killed a moment ago may still be a zombie being reaped: give it a second.
    for _ in 0..20 {
        if stray_processes(s.root()).is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what}: processes left: {:?}", stray_processes(s.root()));
}

/// The deployment rolled back because `state` of e1 failed for a reason containing `why`.
fn rolled_back(s: &System, e: &Ended, state: &str, why: &str, what: &str) {
    assert_eq!(e.out.status.code(), Some(1), "{what}: {}", stderr(&e.out));
    assert_eq!(
        e.report["end"]["result"], "rolledBack",
        "{what}: {}",
        e.report
    );
    let at = e.report["end"]["failed_at"].as_str().unwrap_or_default();
    assert_eq!(at, format!("{state} ecu e1"), "{what}: {}", e.report);
    let reason = e.report["end"]["message"].as_str().unwrap_or_default();
    assert!(
        reason.contains(why),
        "{what}: reason {reason:?} lacks {why:?}"
    );
    assert_eq!(s.versions(), OLD, "{what}");
    no_strays(s, what);
}

#[test]
fn a_hanging_interface_times_out_and_its_whole_group_is_killed() {
    let mut tally = Tally::new();
    for (marker, bound) in [
        ("ArtifactInstall.HANG", Duration::from_secs(20)),
        // SIGTERM ignored: SIGKILL after the 10 s grace.
        ("ArtifactInstall.IGNORETERM", Duration::from_secs(40)),
        ("NeedsArtifactReboot.HANG", Duration::from_secs(20)),
    ] {
        tally.case(|| {
            let s = system();
            s.mark("e1", marker);
            let e = install(&s);
            let state = marker.split('.').next().unwrap();
            rolled_back(&s, &e, state, "timed out after 2s", marker);
            assert!(e.took < bound, "{marker}: took {:?}", e.took);
        });
    }
}

#[test]
fn a_grandchild_holding_the_pipes_does_not_hold_up_the_deployment() {
    let mut tally = Tally::new();
    for marker in ["ArtifactInstall.GRANDCHILD", "Cleanup.GRANDCHILD"] {
        tally.case(|| {
            let s = system();
            s.mark("e1", marker);
            let e = install(&s);
            assert_eq!(e.out.status.code(), Some(0), "{marker}: {}", stderr(&e.out));
            assert_eq!(s.versions(), NEW, "{marker}");
            no_strays(&s, marker);
        });
    }
}

#[test]
fn floods_and_garbage_are_capped_and_bad_answers_refused() {
    let mut tally = Tally::new();
    // 10 MiB on stdout and stderr of a state: captured up to the cap, the state still counts.
    tally.case(|| {
        let s = system();
        s.mark("e1", "ArtifactInstall.FLOOD");
        let e = install(&s);
        assert_eq!(e.out.status.code(), Some(0), "{}", stderr(&e.out));
        assert_eq!(s.versions(), NEW);
        no_strays(&s, "flood in a state");
    });
    // The same flood as a query's answer: incomplete, so refused.
    tally.case(|| {
        let s = system();
        s.mark("e1", "NeedsArtifactReboot.FLOOD");
        let e = install(&s);
        rolled_back(
            &s,
            &e,
            "NeedsArtifactReboot",
            "capture limit",
            "flood in a query",
        );
    });
    // Answers that are not one line of a known value.
    for (what, answer) in [
        ("non-UTF-8", &b"Ye\xffs\n"[..]),
        ("two lines", b"Yes\nNo\n"),
        ("an unknown value", b"Maybe\n"),
        ("binary garbage", b"\x00\x01\x02\x7f\x80\n"),
    ] {
        tally.case(|| {
            let s = system();
            fs::write(s.state_dir("e1").join("NeedsArtifactReboot"), answer).unwrap();
            let e = install(&s);
            rolled_back(
                &s,
                &e,
                "NeedsArtifactReboot",
                "answered NeedsArtifactReboot badly",
                what,
            );
        });
    }
}

#[test]
fn an_interface_that_dies_of_a_signal_fails_its_state() {
    let mut tally = Tally::new();
    tally.case(|| {
        let s = system();
        s.mark("e1", "ArtifactInstall.SIGKILL");
        let e = install(&s);
        rolled_back(&s, &e, "ArtifactInstall", "killed by signal", "SIGKILL");
    });
}

#[test]
fn a_missing_or_non_executable_interface_is_refused_before_any_download() {
    let mut tally = Tally::new();
    let check = |s: &System, why: &str, what: &str| {
        let e = install(s);
        assert_eq!(e.out.status.code(), Some(1), "{what}: {}", stderr(&e.out));
        assert_eq!(
            e.report["end"]["result"], "rejected",
            "{what}: {}",
            e.report
        );
        let problems = e.report["end"]["problems"].to_string();
        assert!(problems.contains(why), "{what}: {problems}");
        for c in ["gw", "e1", "m1"] {
            assert!(
                !s.protocol_calls(c)
                    .iter()
                    .any(|st| st.starts_with("Download")),
                "{what}: {c} downloaded"
            );
        }
        assert_eq!(s.versions(), OLD, "{what}");
    };
    tally.case(|| {
        let s = system();
        let topology = s.datastore().join("topology.yaml");
        let text = fs::read_to_string(&topology).unwrap();
        // The last component's Interface does not exist.
        let at = text.rfind("interface: mock").unwrap();
        let text = format!("{}interface: ghost{}", &text[..at], &text[at + 15..]);
        fs::write(&topology, text).unwrap();
        check(&s, "no Interface at", "missing");
    });
    tally.case(|| {
        let s = system();
        let mock = s.mock();
        fs::set_permissions(&mock, fs::Permissions::from_mode(0o644)).unwrap();
        check(&s, "is not an executable file", "not executable");
    });
}
