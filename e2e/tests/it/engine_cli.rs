//! The deployment engine through the real binary: Mender Orchestrator's verbs and exit
//! codes, the documented ordering as the Interfaces saw it, rollback, reboots.

use e2e::fixture::{Component, System};
use e2e::{stderr, stdout};

fn three_groups() -> System {
    System::new(vec![
        Component::new("gw", "gateway", 10),
        Component::new("e1", "ecu", 20),
        Component::new("e2", "ecu", 20),
        Component::new("m1", "mcu", 30),
    ])
}

fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn the_demo_runs_from_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let out = e2e::baton()
        .args(["demo", "--dir"])
        .arg(dir.path().join("demo"))
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("stayed on v2 as a whole"));
}

#[test]
fn install_updates_every_component_in_order_groups() {
    let s = three_groups();
    let m = s.release("v2");
    let out = s.run(&["install", m.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        s.versions(),
        vec!["gateway-v2", "ecu-v2", "ecu-v2", "mcu-v2"]
    );
    assert_eq!(
        s.protocol_calls("e1"),
        vec![
            "Download",
            "ArtifactInstall",
            "NeedsArtifactReboot",
            "ArtifactCommit",
            "Cleanup"
        ]
    );
    // show-provides agrees with the Manifest.
    let out = s.run(&["show-provides"]);
    let text = stdout(&out);
    for line in [
        "gateway.gw.rootfs-image.mock.version=gateway-v2",
        "ecu.e1.rootfs-image.mock.version=ecu-v2",
        "mcu.m1.rootfs-image.mock.version=mcu-v2",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from:\n{text}"
        );
    }
    // A second install of the same Manifest touches nothing.
    s.clear_calls();
    let out = s.run(&["install", m.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        s.protocol_calls("e1").is_empty(),
        "{:?}",
        s.protocol_calls("e1")
    );
}

#[test]
fn a_failure_in_any_forward_state_rolls_the_whole_system_back() {
    for (who, state) in [
        ("gw", "Download"),
        ("e2", "ArtifactInstall"),
        ("m1", "ArtifactVerifyReboot"),
        ("m1", "ArtifactCommit"),
    ] {
        let s = three_groups();
        if state == "ArtifactVerifyReboot" {
            std::fs::write(s.state_dir("m1").join("NeedsArtifactReboot"), "Yes\n").unwrap();
        }
        s.mark(who, &format!("{state}.FAIL"));
        let m = s.release("v2");
        let out = s.run(&["install", m.to_str().unwrap()]);
        assert_eq!(code(&out), 1, "{state}: {}{}", stdout(&out), stderr(&out));
        assert_eq!(
            s.versions(),
            vec!["gateway-v1", "ecu-v1", "ecu-v1", "mcu-v1"],
            "{state}"
        );
        assert!(
            stdout(&out).contains(state),
            "the report names the failed state: {}",
            stdout(&out)
        );
        // Nothing is left in progress; a later deployment works.
        s.unmark_all();
        let out = s.run(&["install", m.to_str().unwrap()]);
        assert_eq!(code(&out), 0, "{state}: {}", stderr(&out));
        assert_eq!(
            s.versions(),
            vec!["gateway-v2", "ecu-v2", "ecu-v2", "mcu-v2"]
        );
    }
}

#[test]
fn the_update_module_sequence_of_calls_and_exit_codes() {
    let s = three_groups();
    let m = s.release("v2");
    let m = m.to_str().unwrap();
    let stops = [
        "--stop-before",
        "ArtifactCommit",
        "--stop-before",
        "ArtifactRollback",
        "--stop-before",
        "Cleanup",
    ];
    let mut args = vec!["install"];
    args.extend_from_slice(&stops);
    args.push(m);
    assert_eq!(code(&s.run(&args)), 0);
    assert_eq!(
        s.versions(),
        vec!["gateway-v1", "ecu-v1", "ecu-v1", "mcu-v1"],
        "nothing committed yet"
    );
    // A second install is refused while one is in progress.
    let out = s.run(&["install", m]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("in progress"), "{}", stderr(&out));
    assert_eq!(
        code(&s.run(&[
            "resume",
            "--stop-before",
            "ArtifactRollback",
            "--stop-before",
            "Cleanup"
        ])),
        0
    );
    assert_eq!(
        s.versions(),
        vec!["gateway-v2", "ecu-v2", "ecu-v2", "mcu-v2"]
    );
    assert!(!s.protocol_calls("gw").contains(&"Cleanup".to_string()));
    assert_eq!(code(&s.run(&["resume"])), 0);
    assert_eq!(
        s.protocol_calls("gw").last().map(String::as_str),
        Some("Cleanup")
    );
    // Nothing to resume or roll back now: Mender's code 2.
    assert_eq!(code(&s.run(&["resume"])), 2);
    assert_eq!(code(&s.run(&["rollback"])), 2);
}

#[test]
fn a_commit_failure_pauses_before_rollback_then_rollback_restores_everything() {
    let s = three_groups();
    s.mark("m1", "ArtifactCommit.FAIL");
    let m = s.release("v2");
    let m = m.to_str().unwrap();
    let install = [
        "install",
        "--stop-before",
        "ArtifactCommit",
        "--stop-before",
        "ArtifactRollback",
        "--stop-before",
        "Cleanup",
        m,
    ];
    assert_eq!(code(&s.run(&install)), 0);
    // Commit: gw and the ECUs commit, m1 fails; baton stops before the rollback: failure.
    assert_eq!(
        code(&s.run(&[
            "resume",
            "--stop-before",
            "ArtifactRollback",
            "--stop-before",
            "Cleanup"
        ])),
        1
    );
    assert_eq!(
        s.versions()[0],
        "gateway-v2",
        "gateway committed before m1 failed"
    );
    // The Update Module's ArtifactRollback: the whole System goes back; a clean rollback is 0.
    assert_eq!(
        code(&s.run(&["rollback", "--stop-before", "Cleanup", "--exit-on-reboot"])),
        0
    );
    assert_eq!(
        s.versions(),
        vec!["gateway-v1", "ecu-v1", "ecu-v1", "mcu-v1"]
    );
    assert_eq!(
        code(&s.run(&["resume"])),
        0,
        "Cleanup after a clean rollback"
    );
    assert_eq!(code(&s.run(&["resume"])), 2);
}

#[test]
fn exit_on_reboot_exits_4_and_resume_verifies_the_reboot() {
    let s = System::new(vec![
        Component::new("a", "gateway", 10).reboot("Automatic"),
        Component::new("b", "ecu", 20),
    ]);
    let m = s.release("v2");
    let out = s.run(&["install", "--exit-on-reboot", m.to_str().unwrap()]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        !s.protocol_calls("b").contains(&"Download".to_string()),
        "group 2 waits for the reboot"
    );
    let out = s.run(&["resume"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let a = s.protocol_calls("a");
    assert!(a.contains(&"ArtifactVerifyReboot".to_string()), "{a:?}");
    assert!(
        !a.contains(&"ArtifactReboot".to_string()),
        "Automatic: the host reboots, not the Interface"
    );
    assert_eq!(s.versions(), vec!["gateway-v2", "ecu-v2"]);
}

#[test]
fn the_reboot_command_reboots_and_resume_continues_after_boot() {
    let s = System::new(vec![
        Component::new("a", "gateway", 10).reboot("Automatic"),
        Component::new("b", "ecu", 20),
    ]);
    let m = s.release("v2");
    let out = s.run(&["install", m.to_str().unwrap()]);
    assert!(
        e2e::fixture::killed(out.status),
        "the reboot command takes baton down: {:?}",
        out.status
    );
    assert_eq!(
        std::fs::read_to_string(s.reboot_log())
            .unwrap()
            .lines()
            .count(),
        1
    );
    let out = s.run(&["resume"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(s.versions(), vec!["gateway-v2", "ecu-v2"]);
}

#[test]
fn an_invalid_or_incompatible_manifest_touches_nothing() {
    let s = three_groups();
    let m = s.release("v2");
    // An Artifact whose compatible type does not match its component type.
    let wrong = baton::artifact::testkit::ArtifactBuilder::new("ecu-v9", "mock", "not-an-ecu")
        .file("p", "x")
        .build();
    std::fs::write(s.artifacts_dir().join("ecu-v9.mender"), wrong).unwrap();
    let text = std::fs::read_to_string(&m)
        .unwrap()
        .replace("ecu-v2", "ecu-v9");
    std::fs::write(&m, text).unwrap();
    let out = s.run(&["install", m.to_str().unwrap()]);
    assert_eq!(code(&out), 1);
    assert!(stdout(&out).contains("not-an-ecu"), "{}", stdout(&out));
    for c in ["gw", "e1", "e2", "m1"] {
        assert!(
            s.protocol_calls(c).is_empty(),
            "{c} was called: {:?}",
            s.protocol_calls(c)
        );
    }
}
