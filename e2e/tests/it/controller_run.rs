//! `baton run` end to end: the real binary, real files and sockets, the mock Interface and
//! Artifacts from the real `mender-artifact`.

use std::time::Duration;

use e2e::fixture::*;
use serde_json::json;

#[test]
fn a_dropped_manifest_converges_an_invalid_one_is_rejected_and_drift_is_corrected() {
    let Some(sys) = System::served(json!({})) else {
        return;
    };
    let d = sys.start();
    sys.drop_manifest("v2.yaml", &sys.release_text("sys-v2", "v2"));
    let s = d.until("ready at generation 1", |s| {
        ready(s) && s["observedGeneration"] == 1
    });
    assert_eq!(
        (sys.version("a"), sys.version("b")),
        ("rtos-v2".into(), "gateway-v2".into())
    );
    assert!(sys.watch().join("applied/1-v2.yaml").exists());
    assert_eq!(s["history"][0]["outcome"], "Succeeded");
    assert_eq!(s["history"][0]["components"].as_array().unwrap().len(), 2);
    assert!(
        s["components"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["inSync"] == true),
        "{s:#}"
    );

    // Invalid: rejected with a reason, nothing changes.
    let calls_before = std::fs::read_to_string(sys.state_dir("a").join("calls.log")).unwrap();
    sys.drop_manifest(
        "bad.yaml",
        &sys.release_text("sys-v9", "v9")
            .replace("[e2e-sys]", "[other-sys]"),
    );
    let error = sys.watch().join("rejected/bad.yaml.error");
    for _ in 0..200 {
        if error.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let why = std::fs::read_to_string(&error).expect("a .error file");
    assert!(why.contains("system_types_compatible"), "{why}");
    assert_eq!(d.status()["generation"], 1);
    let calls_after = std::fs::read_to_string(sys.state_dir("a").join("calls.log")).unwrap();
    assert!(
        !calls_after[calls_before.len()..].contains("ArtifactInstall"),
        "nothing was installed"
    );

    // Behind baton's back: the next resync (2 s here) puts it back.
    std::fs::write(sys.state_dir("b").join("version"), "gateway-v1\n").unwrap();
    d.until("drift corrected", |s| {
        s["history"].as_array().unwrap().len() == 2 && ready(s)
    });
    assert_eq!(sys.version("b"), "gateway-v2");

    // The client verbs.
    let out = sys.baton().args(["status", "-o", "yaml"]).output().unwrap();
    assert!(out.status.success(), "{}", e2e::stderr(&out));
    assert!(
        e2e::stdout(&out).contains("observedGeneration: 1"),
        "{}",
        e2e::stdout(&out)
    );
    let out = sys
        .baton()
        .args(["history", "-o", "json"])
        .output()
        .unwrap();
    let h: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(h.as_array().unwrap().len(), 2);
    let out = sys.baton().args(["get", "components"]).output().unwrap();
    let text = e2e::stdout(&out);
    assert!(
        text.contains("RTOS-A") && text.contains("gateway-v2"),
        "{text}"
    );
    assert_eq!(d.terminate(Duration::from_secs(10)).code(), Some(0));
}

#[test]
fn a_manifest_applied_mid_deployment_runs_next() {
    let Some(sys) = System::served(json!({})) else {
        return;
    };
    let d = sys.start();
    std::fs::write(sys.state_dir("a").join("slow"), "").unwrap();
    let v2 = sys.root().join("v2.yaml");
    std::fs::write(&v2, sys.release_text("sys-v2", "v2")).unwrap();
    let out = sys
        .baton()
        .arg("apply")
        .arg("-f")
        .arg(&v2)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", e2e::stderr(&out));
    assert!(
        e2e::stdout(&out).contains("generation 1"),
        "{}",
        e2e::stdout(&out)
    );
    d.until("deploying v2", |s| s["deployment"]["manifest"] == "sys-v2");
    // v3 arrives while v2 runs; apply --wait follows it to the end.
    let v3 = sys.root().join("v3.yaml");
    std::fs::write(&v3, sys.release_text("sys-v3", "v3")).unwrap();
    let out = sys
        .baton()
        .arg("apply")
        .arg("--wait")
        .arg("-f")
        .arg(&v3)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        e2e::stdout(&out),
        e2e::stderr(&out)
    );
    assert!(e2e::stdout(&out).contains("Ready"), "{}", e2e::stdout(&out));
    // Plain progress lines (not a terminal): the deployment and its components.
    assert!(
        e2e::stderr(&out).contains("deploying 'sys-v3'"),
        "{}",
        e2e::stderr(&out)
    );
    let s = d.status();
    let names: Vec<&str> = s["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["manifest"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sys-v3", "sys-v2"], "v2 finished, then v3 ran");
    assert_eq!(sys.version("a"), "rtos-v3");
}

#[test]
fn a_failing_component_rolls_back_retries_with_backoff_then_stalls_until_retry() {
    let Some(sys) = System::served(json!({})) else {
        return;
    };
    std::fs::write(sys.state_dir("b").join("ArtifactCommit.FAIL"), "").unwrap();
    let d = sys.start();
    sys.drop_manifest("v2.yaml", &sys.release_text("sys-v2", "v2"));
    let s = d.until("stalled", |s| condition(s, "Stalled").0 == "True");
    assert_eq!(s["failures"], 3, "one attempt and two retries (Limit 2)");
    let h = s["history"].as_array().unwrap();
    assert_eq!(h.len(), 3);
    assert!(
        h.iter()
            .all(|e| e["outcome"] == "RolledBack" && e["reason"] == "CommitFailed"),
        "{s:#}"
    );
    // The retries are spaced by a growing backoff (1..2 s, then 2..4 s capped at 2..4 s).
    let starts: Vec<String> = h
        .iter()
        .rev()
        .map(|e| e["startedAt"].as_str().unwrap().to_string())
        .collect();
    assert!(starts.windows(2).all(|w| w[0] < w[1]), "{starts:?}");
    assert_eq!(
        (sys.version("a"), sys.version("b")),
        ("rtos-v1".into(), "gateway-v1".into()),
        "all rolled back"
    );
    // Stalled: no further attempt.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(d.status()["history"].as_array().unwrap().len(), 3);

    std::fs::remove_file(sys.state_dir("b").join("ArtifactCommit.FAIL")).unwrap();
    let (code, body) = http(&d.socket, "POST", "/v1/actions/retry", "").unwrap();
    assert_eq!(code, 200, "{body}");
    d.until("ready after retry", |s| ready(s) && s["failures"] == 0);
    assert_eq!(sys.version("b"), "gateway-v2");
}

#[test]
fn killed_mid_deployment_it_resumes_and_the_history_tells() {
    let Some(sys) = System::served(json!({})) else {
        return;
    };
    // The Interface kills baton (its parent) right after ArtifactInstall, once.
    std::fs::write(sys.state_dir("a").join("ArtifactInstall.KILL"), "").unwrap();
    let d = sys.start();
    sys.drop_manifest("v2.yaml", &sys.release_text("sys-v2", "v2"));
    let status = d.wait_exit(Duration::from_secs(30));
    assert!(!status.success());
    let d = sys.start();
    let s = d.until("ready", |s| ready(s) && s["observedGeneration"] == 1);
    let h = s["history"].as_array().unwrap();
    assert_eq!(h.len(), 2, "{s:#}");
    assert_eq!(
        h[1]["outcome"], "RolledBack",
        "the interrupted deployment was rolled back"
    );
    assert_eq!(
        h[0]["outcome"], "Succeeded",
        "then the desired state was deployed"
    );
    assert_eq!(
        (sys.version("a"), sys.version("b")),
        ("rtos-v2".into(), "gateway-v2".into())
    );
}

#[test]
fn a_simulated_reboot_is_resumed_from_the_journal() {
    let boot_dir = tempfile::tempdir().unwrap();
    let boot = boot_dir.path().join("boot_id");
    std::fs::write(&boot, "boot-1\n").unwrap();
    // The reboot command: a new boot id, and baton dies as the host would.
    let reboot = format!("echo boot-2 > {}; kill -9 $PPID", boot.display());
    let Some(sys) =
        System::served(json!({"BootIdPath": boot, "RebootCommand": ["sh", "-c", reboot]}))
    else {
        return;
    };
    std::fs::write(
        sys.state_dir("b").join("NeedsArtifactReboot"),
        "Automatic\n",
    )
    .unwrap();
    let d = sys.start();
    sys.drop_manifest("v2.yaml", &sys.release_text("sys-v2", "v2"));
    d.wait_exit(Duration::from_secs(30));
    assert_eq!(std::fs::read_to_string(&boot).unwrap().trim(), "boot-2");
    let d = sys.start();
    let s = d.until("ready after the reboot", |s| {
        ready(s) && s["observedGeneration"] == 1
    });
    assert_eq!(s["history"][0]["outcome"], "Succeeded", "{s:#}");
    assert_eq!(s["history"].as_array().unwrap().len(), 1, "{s:#}");
    let calls = std::fs::read_to_string(sys.state_dir("b").join("calls.log")).unwrap();
    assert!(calls.contains("ArtifactVerifyReboot"), "{calls}");
    assert_eq!(sys.version("b"), "gateway-v2");
}

#[test]
fn one_controller_per_datastore_and_sigterm_stops_it_cleanly() {
    let Some(sys) = System::served(json!({})) else {
        return;
    };
    let d = sys.start();
    let second = sys.baton().arg("run").output().unwrap();
    assert!(!second.status.success());
    assert!(
        e2e::stderr(&second).contains("another baton"),
        "{}",
        e2e::stderr(&second)
    );
    assert_eq!(d.terminate(Duration::from_secs(10)).code(), Some(0));
    // The next start works (lock released, stale socket replaced).
    let d = sys.start();
    assert_eq!(d.terminate(Duration::from_secs(10)).code(), Some(0));
}

#[test]
fn the_engine_verbs_act_through_a_running_daemon() {
    let Some(sys) = System::served(json!({})) else {
        return;
    };
    let d = sys.start();
    let v2 = sys.root().join("v2.yaml");
    std::fs::write(&v2, sys.release_text("sys-v2", "v2")).unwrap();
    // As the Update Module does at ArtifactInstall: the daemon holds the engine, the verb
    // goes through its socket instead of failing on the datastore lock.
    let out = sys
        .baton()
        .args([
            "install",
            "--stop-before",
            "ArtifactCommit",
            "--stop-before",
            "Cleanup",
        ])
        .arg(&v2)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", e2e::stderr(&out));
    assert!(
        e2e::stderr(&out).contains("acting through it"),
        "{}",
        e2e::stderr(&out)
    );
    let s = d.until("handed off", |s| {
        condition(s, "Ready").1 == "UpdateModuleInControl"
    });
    assert_eq!(
        s["generation"], 0,
        "a paused Update Module deployment is not desired yet"
    );
    // The controller leaves it alone across resyncs (2 s here).
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        sys.version("a"),
        "rtos-v1",
        "not committed behind the Update Module's back"
    );
    let out = sys
        .baton()
        .args(["resume", "--stop-before", "Cleanup"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", e2e::stderr(&out));
    let out = sys.baton().arg("resume").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", e2e::stderr(&out));
    let s = d.until("the Update Module's Manifest is desired and Ready", |s| {
        ready(s) && s["desiredManifest"] == "sys-v2"
    });
    assert_eq!(s["history"][0]["driver"], "update-module");
    assert_eq!(sys.version("a"), "rtos-v2");
    // Nothing left to resume: Mender's exit code 2, through the daemon too.
    let out = sys.baton().arg("resume").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", e2e::stderr(&out));
}

#[test]
fn sigterm_lets_the_running_deployment_finish_and_a_second_signal_exits_at_once() {
    let Some(sys) = System::served(json!({})) else {
        return;
    };
    std::fs::write(sys.state_dir("a").join("slow"), "2").unwrap();
    let d = sys.start();
    sys.drop_manifest("v2.yaml", &sys.release_text("sys-v2", "v2"));
    d.until("installing", |s| {
        s["deployment"]["state"] == "ArtifactInstall"
    });
    let t = std::time::Instant::now();
    let status = d.terminate(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0));
    assert!(
        t.elapsed() >= Duration::from_secs(1),
        "it waited for the Interface call"
    );
    assert_eq!(
        sys.version("a"),
        "rtos-v2",
        "the deployment finished before the exit"
    );
    let log = std::fs::read_to_string(sys.run_log()).unwrap();
    assert!(
        log.contains("letting the running engine call finish"),
        "{log}"
    );

    // The second signal does not wait.
    std::fs::write(sys.state_dir("a").join("slow"), "5").unwrap();
    let d = sys.start();
    sys.drop_manifest("v3.yaml", &sys.release_text("sys-v3", "v3"));
    d.until("installing v3", |s| {
        s["deployment"]["state"] == "ArtifactInstall"
    });
    let pid = d.child.id().to_string();
    let _ = std::process::Command::new("kill").arg(&pid).status();
    std::thread::sleep(Duration::from_millis(300));
    let t = std::time::Instant::now();
    let _ = std::process::Command::new("kill").arg(&pid).status();
    let status = d.wait_exit(Duration::from_secs(5));
    assert!(t.elapsed() < Duration::from_secs(3));
    assert_eq!(status.code(), Some(143));
}
