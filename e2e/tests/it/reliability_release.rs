//! The crash hook never ships: a release build has no fault points, even with the
//! `fault-injection` feature on (as `cargo build --release --workspace` turns it on through
//! the e2e crate). The debug binary the suite runs is the control: it has them.
//!
//! The binary inspected is the one `e2e/build-release` makes (e2e/run and e2e/reliability run
//! it before the tests): built with `--features fault-injection`, checked by cargo's own
//! report of the features, and kept under its own name (`target/release/baton-fault-injection`)
//! so that a plain release build (the README's demo, the benchmarks) is never taken for it.

use e2e::fixture::{Component, System};
use e2e::need;
use e2e::reliability::Tally;
use e2e::stderr;

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The texts only the crash hook holds.
const MARKERS: [&str; 3] = [
    "BATON_FAULT",
    "fault-injection: crashing at",
    "fault-point ",
];

#[test]
fn a_release_build_has_no_fault_points() {
    let Some(release) = need::require(need::release_binary()) else {
        return;
    };
    let mut tally = Tally::new();
    let debug = std::fs::read(e2e::baton_bin()).unwrap();
    let rel = std::fs::read(&release).unwrap();
    for m in MARKERS {
        tally.case(|| {
            assert!(
                contains(&debug, m.as_bytes()),
                "control: the debug binary has {m:?}"
            );
            assert!(
                !contains(&rel, m.as_bytes()),
                "the release binary holds {m:?}"
            );
        });
    }
    // And it behaves so: BATON_FAULT asks for a list and a crash, nothing happens.
    let s = System::new(vec![
        Component::new("gw", "gateway", 10),
        Component::new("m1", "mcu", 20),
    ]);
    let m = s.release("v2");
    for fault in ["list", "crash@journal.synced#1"] {
        tally.case(|| {
            let args: Vec<_> = s.baton().get_args().map(|a| a.to_owned()).collect();
            let mut c = std::process::Command::new(&release);
            c.args(args).env("BATON_FAULT", fault);
            let out = c.args(["install", m.to_str().unwrap()]).output().unwrap();
            assert_eq!(out.status.code(), Some(0), "{fault}: {}", stderr(&out));
            assert!(
                !stderr(&out).contains("fault-point"),
                "{fault}: {}",
                stderr(&out)
            );
            // Back to v1 for the next case.
            std::fs::write(s.state_dir("gw").join("version"), "gateway-v1\n").unwrap();
            std::fs::write(s.state_dir("m1").join("version"), "mcu-v1\n").unwrap();
        });
    }
    // The control, run: the debug binary lists its points.
    tally.case(|| {
        let out = s
            .baton()
            .env("BATON_FAULT", "list")
            .args(["install", m.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            stderr(&out).contains("fault-point journal.synced"),
            "{}",
            stderr(&out)
        );
    });
}
