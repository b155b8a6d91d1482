//! SIGKILL at every state of a three-group deployment, and during its rollback: after
//! restarts, the System is all-new or all-old, never mixed, and a following deployment
//! succeeds. The mock Interface kills baton (its parent) from inside the state.

use e2e::fixture::{killed, Component, System};
use e2e::stderr;

fn system() -> System {
    System::new(vec![
        Component::new("gw", "gateway", 10).reboot("Automatic"),
        Component::new("e1", "ecu", 20).reboot("Yes"),
        Component::new("e2", "ecu", 20),
        Component::new("m1", "mcu", 30),
    ])
}

const NEW: [&str; 4] = ["gateway-v2", "ecu-v2", "ecu-v2", "mcu-v2"];
const OLD: [&str; 4] = ["gateway-v1", "ecu-v1", "ecu-v1", "mcu-v1"];

/// Run `install`, then `resume` after every crash or reboot (as a person or a restarted
/// service would), until baton ends by itself. Returns the number of restarts and how the
/// deployment ended (the final report's `end.result`).
fn run_until_settled(s: &System, manifest: &str) -> (usize, String) {
    let mut restarts = 0;
    let mut out = s.run(&["install", "-o", "json", manifest]);
    while killed(out.status) {
        restarts += 1;
        assert!(restarts <= 20, "no progress after {restarts} restarts");
        out = s.run(&["resume", "-o", "json"]);
    }
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "ended with {:?}: {}",
        out.status,
        stderr(&out)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert_eq!(
        s.run(&["resume"]).status.code(),
        Some(2),
        "nothing left in progress"
    );
    (
        restarts,
        report["end"]["result"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

fn check_all_or_nothing(s: &System, what: &str) -> bool {
    let v = s.versions();
    assert!(v == NEW || v == OLD, "{what}: mixed System {v:?}");
    v == NEW
}

/// Kill baton once inside `state` of `who`, then check the invariants.
fn crash_in(who: &str, state: &str, also_fail: Option<(&str, &str)>) -> bool {
    let s = system();
    let m = s.release("v2");
    s.mark(who, &format!("{state}.KILL"));
    if let Some((w, st)) = also_fail {
        s.mark(w, &format!("{st}.FAIL"));
    }
    let (_, end) = run_until_settled(&s, m.to_str().unwrap());
    let what = format!("kill in {state} of {who}");
    let new = check_all_or_nothing(&s, &what);
    assert_eq!(
        end,
        if new { "success" } else { "rolledBack" },
        "{what}: the report agrees with the System"
    );
    let log = std::fs::read_to_string(s.state_dir(who).join("calls.log")).unwrap_or_default();
    assert!(
        log.lines()
            .any(|l| l.starts_with(&format!("{state} ")) && l.ends_with("killed-parent")),
        "{what}: never crashed:\n{log}"
    );
    // A following deployment succeeds.
    s.unmark_all();
    let m3 = s.release("v3");
    let (_, end) = run_until_settled(&s, m3.to_str().unwrap());
    assert_eq!(end, "success", "{what}: next deployment");
    assert_eq!(
        s.versions(),
        vec!["gateway-v3", "ecu-v3", "ecu-v3", "mcu-v3"]
    );
    new
}

#[test]
fn a_kill_in_any_forward_state_of_any_group() {
    for (who, state) in [
        ("gw", "Download"),
        ("gw", "ArtifactInstall"),
        ("gw", "ArtifactVerifyReboot"),
        ("e1", "Download"),
        ("e2", "ArtifactInstall"),
        ("e1", "ArtifactReboot"),
        ("e1", "ArtifactVerifyReboot"),
        ("m1", "Download"),
        ("m1", "ArtifactInstall"),
    ] {
        // A crash before the commit decision rolls back.
        assert!(
            !crash_in(who, state, None),
            "kill in {state} of {who} should roll back"
        );
    }
}

#[test]
fn a_kill_in_a_query_asks_again() {
    // Queries change nothing: a crash while one runs is followed by the same question.
    assert!(crash_in("m1", "NeedsArtifactReboot", None));
}

#[test]
fn a_kill_after_the_commit_decision_rolls_forward() {
    for (who, state) in [
        ("gw", "ArtifactCommit"),
        ("e2", "ArtifactCommit"),
        ("m1", "ArtifactCommit"),
        ("e1", "Cleanup"),
        ("m1", "Cleanup"),
    ] {
        assert!(
            crash_in(who, state, None),
            "kill in {state} of {who} should roll forward"
        );
    }
}

#[test]
fn a_kill_during_rollback() {
    for (who, state) in [
        ("m1", "ArtifactRollback"),
        ("e1", "ArtifactRollback"),
        ("gw", "ArtifactRollback"),
        ("e1", "ArtifactRollbackReboot"),
        ("gw", "ArtifactFailure"),
        ("gw", "Cleanup"),
    ] {
        // m1's commit fails, so the whole System rolls back; baton dies inside the rollback.
        assert!(
            !crash_in(who, state, Some(("m1", "ArtifactCommit"))),
            "kill in {state} of {who} during rollback"
        );
    }
}

#[test]
fn a_component_that_kills_baton_in_every_state_ends_in_a_reported_failure() {
    let s = system();
    let m = s.release("v2");
    for state in [
        "Download",
        "ArtifactInstall",
        "ArtifactCommit",
        "ArtifactRollback",
        "ArtifactFailure",
        "Cleanup",
        "SupportsRollback",
        "NeedsArtifactReboot",
    ] {
        s.mark("e2", &format!("{state}.KILLALWAYS"));
    }
    let (restarts, end) = run_until_settled(&s, m.to_str().unwrap());
    assert!(restarts >= 2, "it crashed and was restarted: {restarts}");
    assert_eq!(end, "rolledBack", "a failure is reported");
    let v = s.versions();
    assert_eq!(v, OLD.to_vec(), "killed in Download, nothing was installed");
}
