//! Issue 13 with the real binary: while `baton run` serves a System, idle and in the middle
//! of a deployment, `baton show-provides`, `baton show-inventory`, our inventory script
//! (`deploy/mender/mender-inventory-baton`) and Mender's official one (`exec
//! mender-orchestrator show-inventory`, never copied into the repository: its path is
//! `$BATON_OFFICIAL_INVENTORY`, else the copy in `../shared` next to the repository) all
//! answer, exit 0 and list the components. And two datastores on one
//! machine sharing one socket path: a CLI never acts on the other one's System.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::controller::{http, Daemon};
use e2e::system::{have, ok, run, System};
use e2e::{stderr, stdout};

/// Mender's official inventory script, outside this repository.
fn official_script() -> PathBuf {
    match std::env::var_os("BATON_OFFICIAL_INVENTORY") {
        Some(p) => PathBuf::from(p),
        None => e2e::repo_root().join(
            "../shared/mender-orchestrator-support/inventory/mender-inventory-mender-orchestrator",
        ),
    }
}

/// Whether the test can run: every tool there, else a loud skip, or a failure naming what
/// is missing when `BATON_TEST_STRICT=1`.
fn can_run(tools: &[&str], files: &[&Path]) -> bool {
    let strict = std::env::var("BATON_TEST_STRICT").is_ok_and(|v| v == "1");
    let mut missing: Vec<String> = tools
        .iter()
        .filter(|t| !have(t))
        .map(|t| format!("the `{t}` tool"))
        .collect();
    missing.extend(
        files
            .iter()
            .filter(|f| !f.exists())
            .map(|f| format!("{} (set BATON_OFFICIAL_INVENTORY)", f.display())),
    );
    if missing.is_empty() {
        return true;
    }
    assert!(
        !strict,
        "BATON_TEST_STRICT=1 and missing: {}",
        missing.join(", ")
    );
    eprintln!("\n!!! SKIPPED: missing {} !!!\n", missing.join(", "));
    false
}

/// The System's mock Interface behind a wrapper that sleeps in ArtifactInstall while the
/// component's state directory holds `slow` (seconds): a deployment caught mid-way. The
/// real script keeps the name `mock`, which its Provides key is made of.
fn slow_interfaces(s: &System) {
    let ifaces = s.data_dir().join("interfaces/v1");
    let real = s.root().join("real");
    std::fs::create_dir_all(&real).unwrap();
    std::fs::rename(ifaces.join("mock"), real.join("mock")).unwrap();
    std::fs::write(
        ifaces.join("mock"),
        format!(
            "#!/bin/sh\nif [ \"$1\" = ArtifactInstall ] && [ -f \"$4/slow\" ]; then sleep \"$(cat \"$4/slow\")\"; fi\nexec '{}' \"$@\"\n",
            real.join("mock").display()
        ),
    )
    .unwrap();
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(ifaces.join("mock"), mode).unwrap();
}

/// `baton run` for `s`, its API on `socket`.
fn start(s: &System, socket: &Path) -> Daemon {
    let log = s.root().join("run.log");
    let child = s
        .baton()
        .args(["run", "--grace-seconds", "5"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let d = Daemon {
        child,
        socket: socket.to_path_buf(),
        log,
    };
    d.wait_ready();
    d
}

/// The daemon's settings, kept inside the System's directory.
fn api(s: &System, socket: &Path) -> serde_json::Value {
    serde_json::json!({
        "Api": {"Socket": socket},
        "RuntimeDir": socket.parent().unwrap(),
        "WatchDir": s.root().join("watch"),
    })
}

/// Asserts every component of `s` is listed in `text` (Provides or inventory lines).
fn lists_every_component(s: &System, text: &str, what: &str) {
    for c in &s.components {
        let key = format!("{}.{}.", c.component_type, c.id);
        assert!(text.contains(&key), "{what} does not list {key}:\n{text}");
    }
}

/// The four readers; each must exit 0 and list the components.
fn every_reader_answers(s: &System, path: &str, when: &str) -> String {
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
        .arg(official_script())
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
    if !can_run(&["mender-artifact"], &[&official_script()]) {
        return;
    }
    let s = System::new("sys-core", &[("gateway", "GW1"), ("rtos", "RT1")]);
    let socket = s.root().join("run/baton.sock");
    s.configure(api(&s, &socket));
    slow_interfaces(&s);
    // The official script runs `mender-orchestrator`: baton answers to that name.
    let bin = s.root().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(e2e::baton_bin(), bin.join("mender-orchestrator")).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let d = start(&s, &socket);

    let said = every_reader_answers(&s, &path, "idle");
    assert!(
        said.contains("acting through it"),
        "through the daemon: {said}"
    );

    s.component_artifact("gateway", "gateway-v2", None);
    s.component_artifact("rtos", "rtos-v2", None);
    let m = s.manifest(
        "sys-v2",
        &[("gateway", "gateway-v2", 1), ("rtos", "rtos-v2", 2)],
    );
    s.set("GW1", "slow", "8");
    ok(s.baton().arg("apply").arg("-f").arg(&m));
    d.until("installing", |st| {
        st["deployment"]["state"] == "ArtifactInstall"
    });
    let t = Instant::now();
    let said = every_reader_answers(&s, &path, "deploying");
    assert!(said.contains("last observation"), "{said}");
    assert!(
        !d.status()["deployment"].is_null(),
        "the reads ({:?}) ran while the deployment did",
        t.elapsed()
    );
    s.unset("GW1", "slow");
    d.until("deployed", |st| {
        st["deployment"].is_null() && st["observedGeneration"] == 1
    });
    assert_eq!(s.version("RT1"), "rtos-v2");
    assert_eq!(d.terminate(Duration::from_secs(20)).code(), Some(0));
}

#[test]
fn two_datastores_one_socket_a_cli_never_acts_on_the_other_system() {
    if !can_run(&["mender-artifact", "flock"], &[]) {
        return;
    }
    let a = System::new("sys-a", &[("gateway", "GA")]);
    let b = System::new("sys-b", &[("gateway", "GB")]);
    // One socket path for both, as two batons with the default runtime directory have.
    let socket = a.root().join("run/baton.sock");
    a.configure(api(&a, &socket));
    b.configure(api(&b, &socket));
    let d = start(&a, &socket);

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
    b.component_artifact("gateway", "gateway-v1", None);
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
