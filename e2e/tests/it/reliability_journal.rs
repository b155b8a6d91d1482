//! A damaged journal through the real binary: truncated at every length, random bit flips, a
//! future format, both generations broken. baton must use the previous generation or stop
//! with a clear error that names `baton journal reset`; never panic, never act on a
//! component while it cannot trust the journal; and `journal reset` must let it start again.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use e2e::fixture::System;
use e2e::reliability::Tally;
use e2e::{stderr, stdout};

/// A three-group System paused before ArtifactCommit: the journal holds two generations of
/// one deployment (the pause, and the step before it).
fn paused() -> System {
    let s = System::three_groups();
    let m = s.release("v2");
    let out = s.run(&[
        "install",
        "--stop-before",
        "ArtifactCommit",
        m.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    s
}

fn journal(s: &System) -> PathBuf {
    s.datastore().join("journal")
}

fn show(s: &System) -> Output {
    s.run(&["journal", "show", "-o", "json"])
}

/// Never a panic, and either the JSON of a loaded journal (exit 0) or a clear error (exit 1).
fn outcome(o: &Output) -> Result<Result<serde_json::Value, String>, String> {
    let err = stderr(o);
    if err.contains("panicked") || o.status.code() == Some(101) {
        return Err(format!("panic: {err}"));
    }
    match o.status.code() {
        Some(0) => serde_json::from_slice(&o.stdout)
            .map(Ok)
            .map_err(|e| format!("not JSON ({e}): {}", stdout(o))),
        Some(1) if err.contains("unusable") && err.contains("baton journal reset") => Ok(Err(err)),
        other => Err(format!("exit {other:?}: {err}")),
    }
}

/// A small deterministic generator (xorshift64*), so a failing case can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn restore(dir: &Path, current: &[u8], previous: &[u8]) {
    fs::write(dir.join("current"), current).unwrap();
    fs::write(dir.join("previous"), previous).unwrap();
}

#[test]
fn a_truncated_or_flipped_current_record_falls_back_to_the_previous_generation() {
    let s = paused();
    let dir = journal(&s);
    let current = fs::read(dir.join("current")).unwrap();
    let previous = fs::read(dir.join("previous")).unwrap();
    let intact = outcome(&show(&s)).unwrap().unwrap();
    assert!(intact["fellBack"].is_null());
    assert_eq!(
        intact["deployment"]["position"],
        "paused before ArtifactCommit"
    );
    let calls_before = fs::read_to_string(s.state_dir("m1").join("calls.log")).unwrap();

    // What the previous generation says, as baton reads it.
    fs::remove_file(dir.join("current")).unwrap();
    let fallback = outcome(&show(&s)).unwrap().unwrap()["deployment"].clone();
    assert!(fallback["id"] == intact["deployment"]["id"], "{fallback}");

    let mut tally = Tally::new();
    let check = |o: &Output, what: &str| {
        let v = outcome(o)
            .and_then(|r| {
                r.map_err(|e| format!("refused although the previous generation is intact: {e}"))
            })
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let deployment = &v["deployment"];
        if v["fellBack"].is_null() {
            // Undetected: only a flip that leaves the record's body intact may be (one in
            // the header's generation number).
            assert_eq!(
                deployment, &intact["deployment"],
                "{what}: a changed record was accepted"
            );
        } else {
            assert_eq!(deployment, &fallback, "{what}");
        }
    };
    for len in 0..current.len() {
        tally.case(|| {
            restore(&dir, &current[..len], &previous);
            check(&show(&s), &format!("current truncated to {len} bytes"));
        });
    }
    let mut rng = Rng(0x00ba_7011);
    for _ in 0..1000 {
        let (i, bit) = (rng.below(current.len()), rng.below(8));
        tally.case(|| {
            let mut bytes = current.clone();
            bytes[i] ^= 1 << bit;
            restore(&dir, &bytes, &previous);
            check(&show(&s), &format!("bit {bit} of byte {i} flipped"));
        });
    }
    // Loading never acted on a component.
    let calls_after = fs::read_to_string(s.state_dir("m1").join("calls.log")).unwrap();
    assert_eq!(calls_before, calls_after);
    tally.note(&format!(
        "{} damaged copies of a {}-byte record: every one fell back to the previous generation or was intact",
        tally.tried(),
        current.len()
    ));
}

#[test]
fn both_generations_damaged_is_a_clear_error_and_reset_recovers() {
    let s = paused();
    let dir = journal(&s);
    let current = fs::read(dir.join("current")).unwrap();
    let previous = fs::read(dir.join("previous")).unwrap();
    let mut tally = Tally::new();
    let refused = |what: &str| match outcome(&show(&s)) {
        Ok(Err(_)) => {}
        other => panic!("{what}: expected a clear refusal, got {other:?}"),
    };
    // Both truncated, each at every length of the shorter.
    for len in 0..previous.len().min(current.len()) {
        tally.case(|| {
            restore(&dir, &current[..len], &previous[..len.saturating_sub(1)]);
            refused(&format!("both truncated near {len} bytes"));
        });
    }
    // A newer journal format, and garbage.
    let future = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .replacen("baton-journal v1", "baton-journal v2", 1)
            .into_bytes()
    };
    for (what, c, p) in [
        ("a future format", future(&current), future(&previous)),
        ("garbage", b"\x00\xff garbage".to_vec(), Vec::new()),
        ("empty files", Vec::new(), Vec::new()),
    ] {
        tally.case(|| {
            restore(&dir, &c, &p);
            refused(what);
        });
    }

    // resume refuses the same way, and touches no component.
    tally.case(|| {
        restore(&dir, b"garbage", b"garbage");
        s.clear_calls();
        let out = s.run(&["resume"]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("baton journal reset") && !err.contains("panicked"),
            "{err}"
        );
        for c in ["gw", "e1", "m1"] {
            assert!(s.calls(c).is_empty(), "{c} was called: {:?}", s.calls(c));
        }
        // reset moves both aside, and baton starts again with nothing in progress.
        let out = s.run(&["journal", "reset"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(stdout(&out).contains("current.broken"), "{}", stdout(&out));
        assert!(dir.join("current.broken").exists() && dir.join("previous.broken").exists());
        assert_eq!(s.run(&["resume"]).status.code(), Some(2));
        // A following deployment succeeds.
        let m = s.release("v3");
        let out = s.run(&["install", m.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(s.versions(), ["gateway-v3", "ecu-v3", "mcu-v3"]);
    });
}

#[test]
fn a_resume_from_the_previous_generation_settles_the_deployment() {
    let s = paused();
    let dir = journal(&s);
    let current = fs::read(dir.join("current")).unwrap();
    // Torn in the middle of its body: the pause is lost, the step before it is not.
    fs::write(dir.join("current"), &current[..current.len() / 2]).unwrap();
    let out = s.run(&["resume", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(s.versions(), ["gateway-v2", "ecu-v2", "mcu-v2"]);
    assert!(
        stderr(&out).contains("unusable"),
        "the fallback is logged: {}",
        stderr(&out)
    );
    assert_eq!(s.run(&["resume"]).status.code(), Some(2));
}
