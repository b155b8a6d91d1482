//! Issue 13 with the real binary: while `baton run` serves a System, idle and in the middle
//! of a deployment, `baton show-provides`, `baton show-inventory`, our inventory script
//! (`deploy/mender/mender-inventory-baton`) and Mender's official one (`exec
//! mender-orchestrator show-inventory`, never copied into the repository: its path is
//! `$BATON_OFFICIAL_INVENTORY`, which `.ci/run` sets, see `e2e::need::official_inventory`)
//! all answer, exit 0 and list the components. And two datastores on one
//! machine sharing one socket path: a CLI never acts on the other one's System.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::fixture::{http, System};
use e2e::{need, ok, run, stderr, stdout};

/// The System's mock Interface behind a wrapper that holds ArtifactInstall while the
/// component's state directory holds `hold` (two minutes at most, so a failed test leaves no
/// process behind for long): a deployment caught mid-way for as long as the test needs.
fn held_interfaces(s: &System) {
    s.wrap_mock_with(
        "if [ \"$1\" = ArtifactInstall ]; then n=0; \
         while [ -f \"$4/hold\" ] && [ $n -lt 1200 ]; do sleep 0.1; n=$((n+1)); done; fi",
    );
}

/// Asserts every component of `s` is listed in `text` (Provides or inventory lines).
fn lists_every_component(s: &System, text: &str, what: &str) {
    for c in &s.components {
        let key = format!("{}.{}.", c.component_type, c.id);
        assert!(text.contains(&key), "{what} does not list {key}:\n{text}");
    }
}

/// The four readers; each must exit 0 and list the components.
fn every_reader_answers(s: &System, official: &Path, path: &str, when: &str) -> String {
    let provides = ok(s.baton().arg("show-provides"));
    lists_every_component(s, &stdout(&provides), &format!("show-provides ({when})"));
    let inventory = ok(s.baton().arg("show-inventory"));
    lists_every_component(s, &stdout(&inventory), &format!("show-inventory ({when})"));
    let ours = ok(
        Command::new(e2e::repo_root().join("deploy/mender/mender-inventory-baton")).envs(s.env()),
    );
    lists_every_component(
        s,
        &stdout(&ours),
        &format!("mender-inventory-baton ({when})"),
    );
    let official = ok(Command::new("sh")
        .arg(official)
        .envs(s.env())
        .env("PATH", path));
    lists_every_component(
        s,
        &stdout(&official),
        &format!("the official script ({when})"),
    );
    stderr(&provides)
}

#[test]
fn the_read_verbs_and_both_inventory_scripts_answer_while_the_daemon_runs() {
    let Some(official) = need::require(need::official_inventory()) else {
        return;
    };
    if !need::have(need::tool("mender-artifact")) {
        return;
    }
    let s = System::under_mender("sys-core", &[("gateway", "GW1"), ("rtos", "RT1")]);
    s.configure(s.daemon_settings());
    held_interfaces(&s);
    // The official script runs `mender-orchestrator`: baton answers to that name.
    let bin = s.root().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(e2e::baton_bin(), bin.join("mender-orchestrator")).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let d = s.start();

    let said = every_reader_answers(&s, &official, &path, "idle");
    assert!(
        said.contains("acting through it"),
        "through the daemon: {said}"
    );

    s.mender_artifact("gateway", "gateway-v2", None);
    s.mender_artifact("rtos", "rtos-v2", None);
    let m = s.manifest(
        "sys-v2",
        &[("gateway", "gateway-v2", 1), ("rtos", "rtos-v2", 2)],
    );
    s.set("GW1", "hold", "");
    ok(s.baton().arg("apply").arg("-f").arg(&m));
    d.until("installing", |st| {
        st["deployment"]["state"] == "ArtifactInstall"
    });
    let said = every_reader_answers(&s, &official, &path, "deploying");
    assert!(said.contains("last observation"), "{said}");
    assert!(
        !d.status()["deployment"].is_null(),
        "the reads ran while the deployment was held"
    );
    s.unset("GW1", "hold");
    d.until("deployed", |st| {
        st["deployment"].is_null() && st["observedGeneration"] == 1
    });
    assert_eq!(s.version("RT1"), "rtos-v2");
    assert_eq!(d.terminate(Duration::from_secs(20)).code(), Some(0));
}

#[test]
fn two_datastores_one_socket_a_cli_never_acts_on_the_other_system() {
    if !need::have(need::tools(&["mender-artifact", "flock"])) {
        return;
    }
    let a = System::under_mender("sys-a", &[("gateway", "GA")]);
    let b = System::under_mender("sys-b", &[("gateway", "GB")]);
    // One socket path for both, as two batons with the default runtime directory have.
    let socket = a.socket();
    a.configure(a.daemon_settings());
    b.configure(serde_json::json!({
        "Api": {"Socket": socket},
        "RuntimeDir": socket.parent().unwrap(),
    }));
    let d = a.start();

    let out = ok(b.baton().arg("show-provides"));
    assert!(stdout(&out).contains("gateway.GB."), "{}", stdout(&out));
    assert!(!stdout(&out).contains("gateway.GA."), "{}", stdout(&out));
    let a_store = std::fs::canonicalize(a.datastore()).unwrap();
    assert!(
        stderr(&out).contains(&a_store.display().to_string()),
        "says whose daemon it left alone: {}",
        stderr(&out)
    );

    // A deployment for B happens on B, in-process.
    b.mender_artifact("gateway", "gateway-v1", None);
    let m = b.manifest("b-v1", &[("gateway", "gateway-v1", 1)]);
    ok(b.baton().arg("install").arg(&m));
    assert_eq!(b.version("GB"), "gateway-v1");
    assert_eq!(a.version("GA"), "gateway-v0");
    // The daemon's commands are refused, naming both datastores.
    let out = run(b.baton().arg("apply").arg("-f").arg(&m));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let b_store = std::fs::canonicalize(b.datastore()).unwrap();
    for store in [&a_store, &b_store] {
        assert!(
            stderr(&out).contains(&store.display().to_string()),
            "{}",
            stderr(&out)
        );
    }
    let (_, status) = http(&socket, "GET", "/v1/status", "").unwrap();
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["generation"], 0, "nothing applied to A: {status}");

    // With B's datastore held by another process: acting fails naming both datastores,
    // reading answers from what B's last baton kept there.
    let mut holder = Command::new("flock")
        .arg(b.datastore().join("lock"))
        .args(["sleep", "60"])
        .spawn()
        .unwrap();
    let t = Instant::now();
    while run(Command::new("flock")
        .args(["-n"])
        .arg(b.datastore().join("lock"))
        .arg("true"))
    .status
    .success()
    {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "flock never held the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = run(b.baton().arg("install").arg(&m));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    for store in [&a_store, &b_store] {
        assert!(
            stderr(&out).contains(&store.display().to_string()),
            "{}",
            stderr(&out)
        );
    }
    let out = ok(b.baton().arg("show-provides"));
    assert!(stdout(&out).contains("gateway.GB."), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("last observation"),
        "{}",
        stderr(&out)
    );
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(a.version("GA"), "gateway-v0");
    assert_eq!(d.terminate(Duration::from_secs(20)).code(), Some(0));
}
