//! Issue 17 through `baton run`: the real binary, the mock Interface, Artifacts from the real
//! `mender-artifact`, real `flock`, a real tmpfs in a private mount namespace.
//!
//! The daemon alone decides the update policy (`latest`, `pinned`), the next maintenance
//! window in status, and checks the gate settings at start; the engine stops at its gates
//! (`engine::api::Gate`, answered by `gates::Gates`) for windows, locks, consent, the health
//! soak, the disk check and supersede. The same decisions, against an engine-like fake in
//! paused time, are in `controller/tests/it/daemon_gates.rs`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use e2e::fixture::*;
use e2e::need;
use serde_json::{json, Value};

fn condition(s: &Value, t: &str) -> (String, String, String) {
    let c = s["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == t)
        .unwrap();
    (
        c["status"].as_str().unwrap().into(),
        c["reason"].as_str().unwrap().into(),
        c["message"].as_str().unwrap().into(),
    )
}

fn ready(s: &Value) -> bool {
    condition(s, "Ready").0 == "True"
}

fn calls(sys: &System, state: &str) -> String {
    std::fs::read_to_string(sys.state_dir(state).join("calls.log")).unwrap_or_default()
}

fn apply(sys: &System, file: &str, name: &str, version: &str) -> std::process::Output {
    apply_with(sys, &[], file, name, version)
}

/// `baton apply <flags> -f <file>`, the file a Manifest putting everything on `version`.
fn apply_with(
    sys: &System,
    flags: &[&str],
    file: &str,
    name: &str,
    version: &str,
) -> std::process::Output {
    let path = sys.root().join(file);
    std::fs::write(&path, sys.release_text(name, version)).unwrap();
    sys.baton()
        .arg("apply")
        .args(flags)
        .arg("-f")
        .arg(&path)
        .output()
        .unwrap()
}

#[test]
fn latest_an_older_manifest_changes_nothing_and_says_not_newer() {
    let Some(sys) = System::served(json!({"UpdatePolicy": {"Mode": "latest"}})) else {
        return;
    };
    let d = sys.start();
    assert!(apply(&sys, "v3.yaml", "sys-v3", "v3").status.success());
    d.until("v3 deployed", |s| ready(s) && s["observedGeneration"] == 1);
    let before = (calls(&sys, "a"), calls(&sys, "b"));
    let out = apply(&sys, "v2.yaml", "sys-v2", "v2");
    assert!(out.status.success(), "{}", e2e::stderr(&out));
    let s = d.until("not newer", |s| {
        s["observedGeneration"] == 2 && condition(s, "Ready").1 == "NotNewer"
    });
    assert!(ready(&s), "up to date: {s:#}");
    let h = &s["history"][0];
    assert_eq!(
        (h["outcome"].as_str(), h["reason"].as_str()),
        (Some("UpToDate"), Some("NotNewer"))
    );
    assert_eq!(h["policy"], "latest");
    assert!(
        h["message"]
            .as_str()
            .unwrap()
            .contains("(version 2) is not newer than the deployed 'sys-v3' (version 3)"),
        "{h:#}"
    );
    assert_eq!(
        s["history"][1]["policy"], "latest",
        "the deployment records the policy too"
    );
    // Nothing ran: not a state, not even a query, over a few resyncs (every 2 s here).
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!((calls(&sys, "a"), calls(&sys, "b")), before);
    assert_eq!(
        (sys.version("a"), sys.version("b")),
        ("rtos-v3".into(), "gateway-v3".into())
    );
    assert_eq!(
        d.status()["history"].as_array().unwrap().len(),
        2,
        "told once"
    );
}

#[test]
fn pinned_other_manifests_say_not_pinned_and_the_pinned_one_converges() {
    let Some(sys) = System::served(json!({"UpdatePolicy": {"Mode": "pinned", "Pinned": "sys-v2"}}))
    else {
        return;
    };
    let d = sys.start();
    let out = apply(&sys, "v3.yaml", "sys-v3", "v3");
    assert!(out.status.success(), "{}", e2e::stderr(&out));
    let s = d.until("not pinned", |s| condition(s, "Stalled").1 == "NotPinned");
    assert_eq!(condition(&s, "Stalled").0, "True");
    assert!(condition(&s, "Stalled")
        .2
        .contains("is not the pinned Manifest 'sys-v2'"));
    assert_eq!(s["history"][0]["outcome"], "Rejected");
    assert_eq!(s["history"][0]["policy"], "pinned: sys-v2");
    assert!(!calls(&sys, "a").contains("Download"), "nothing installed");
    // apply --wait ends as a failure on it.
    let path = sys.root().join("v3b.yaml");
    std::fs::write(&path, sys.release_text("sys-v3b", "v3")).unwrap();
    let out = sys
        .baton()
        .args(["apply", "--wait", "-f"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", e2e::stdout(&out));
    assert!(
        e2e::stdout(&out).contains("NotPinned"),
        "{}",
        e2e::stdout(&out)
    );
    let out = apply(&sys, "v2.yaml", "sys-v2", "v2");
    assert!(out.status.success());
    d.until("pinned deployed", |s| {
        ready(s) && s["observedGeneration"] == 3
    });
    assert_eq!(sys.version("a"), "rtos-v2");
}

#[test]
fn the_next_window_shows_in_status_and_metrics_and_bad_gate_settings_stop_the_start() {
    // New Year's Day, midnight UTC, an hour.
    let Some(sys) = System::served(json!({
        "MaintenanceWindows": [{"Schedule": "0 0 1 1 *", "DurationSeconds": 3600}]
    })) else {
        return;
    };
    let d = sys.start();
    let s = d.status();
    let next = s["nextWindowAt"].as_str().expect("nextWindowAt");
    assert!(next.ends_with("-01-01T00:00:00Z"), "{next}");
    let (code, metrics) = http(&d.socket, "GET", "/metrics", "").unwrap();
    assert_eq!(code, 200);
    let at = metrics
        .lines()
        .find_map(|l| l.strip_prefix("baton_maintenance_window_next_start_timestamp_seconds "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .expect("the next window's metric");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(at > now && at < now + 367.0 * 86_400.0, "{at}");
    assert!(metrics.contains("baton_gate_waiting{reason=\"WaitingForMaintenanceWindow\"} 0"));
    drop(d);

    // Every bad gate key is named, and baton run does not start.
    sys.configure(json!({
        "MaintenanceWindows": [{"Schedule": "61 * * * *", "DurationSeconds": 3600, "TimeZone": "Europe/Berlin"}],
        "UpdatePolicy": {"Mode": "latest", "VersionPattern": "(a)(b)"},
    }));
    let out = sys.baton().arg("run").output().unwrap();
    assert!(!out.status.success());
    let err = e2e::stderr(&out);
    for says in [
        "MaintenanceWindows[0].Schedule: `61 * * * *`: minute 61 is out of range 0-59",
        "MaintenanceWindows[0].TimeZone: `Europe/Berlin` is an IANA zone name",
        "UpdatePolicy.VersionPattern: `(a)(b)` has 2 capture groups",
    ] {
        assert!(err.contains(says), "{says}\n{err}");
    }
}

#[test]
fn the_consent_and_force_verbs_answer_through_the_daemon() {
    let Some(sys) = System::served(json!({})) else {
        return;
    };
    let d = sys.start();
    let out = sys.baton().args(["consent", "approve"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        e2e::stderr(&out).contains("no question is open"),
        "{}",
        e2e::stderr(&out)
    );
    let out = sys
        .baton()
        .args(["consent", "deny", "--for", "5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "--for goes with defer only");
    let out = apply_with(&sys, &["--force", "--wait"], "v2.yaml", "sys-v2", "v2");
    assert!(out.status.success(), "{}", e2e::stderr(&out));
    assert!(
        e2e::stderr(&out).contains("the next update lock check passes"),
        "{}",
        e2e::stderr(&out)
    );
    d.until("ready", |s| ready(s) && s["observedGeneration"] == 1);
}

// ---- The engine at its gates ----

/// A cron schedule firing at the minute `ahead` minutes from now (UTC; negative: ago), and
/// when.
fn minute_from_now(ahead: i64) -> (String, u64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let at = ((now / 60) as i64 + ahead) as u64 * 60;
    (format!("{} {} * * *", at / 60 % 60, at / 3600 % 24), at)
}

/// The first whole minute at least 20 s away: long enough to see the deployment wait, short
/// enough for a test.
fn next_minute() -> (String, u64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    minute_from_now(if 60 - now % 60 >= 20 { 1 } else { 2 })
}

#[test]
fn outside_a_window_nothing_is_installed_and_at_the_window_it_converges() {
    let (schedule, opens) = next_minute();
    let Some(sys) = System::served(json!({
        "MaintenanceWindows": [{"Schedule": schedule, "DurationSeconds": 600}]
    })) else {
        return;
    };
    let d = sys.start();
    assert!(apply(&sys, "v2.yaml", "sys-v2", "v2").status.success());
    let applied = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let s = d.until("waiting", |s| {
        s["gate"]["reason"] == "WaitingForMaintenanceWindow"
    });
    assert_eq!(
        condition(&s, "Progressing"),
        (
            "False".into(),
            "WaitingForMaintenanceWindow".into(),
            s["gate"]["message"].as_str().unwrap().into()
        )
    );
    assert_eq!(
        s["gate"]["until"],
        baton::gates::calendar::rfc3339(opens as i64)
    );
    assert!(
        !calls(&sys, "a").contains("Download"),
        "no Interface state outside a window"
    );
    let s = until_long(&d, "converged at the window", 240, |s| {
        ready(s) && s["observedGeneration"] == 1
    });
    assert!(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            >= opens
    );
    // Held back from about when it was applied until the window opened.
    let waited = s["history"][0]["waitedSeconds"].as_u64().unwrap();
    assert!(
        waited + 5 >= opens - applied,
        "{waited} s of {} s",
        opens - applied
    );
}

#[test]
fn a_deployment_that_cannot_fit_the_window_waits() {
    // A two-hour window that opened 70 minutes ago: 50 minutes left, open now.
    let (schedule, _) = minute_from_now(-70);
    let Some(sys) = System::served(json!({
        "MaintenanceWindows": [{"Schedule": schedule, "DurationSeconds": 7200}]
    })) else {
        return;
    };
    // This System's deployments take an hour.
    let history = json!([{"id": "past", "manifest": "sys-v1", "manifestSha256": "", "generation": 1,
        "driver": "controller", "startedAt": "", "finishedAt": "", "durationSeconds": 3600,
        "outcome": "Succeeded", "components": []}]);
    std::fs::create_dir_all(sys.datastore().join("controller")).unwrap();
    std::fs::write(
        sys.datastore().join("controller/history.json"),
        history.to_string(),
    )
    .unwrap();
    let d = sys.start();
    assert!(apply(&sys, "v2.yaml", "sys-v2", "v2").status.success());
    let s = d.until("waiting", |s| {
        s["gate"]["reason"] == "WaitingForMaintenanceWindow"
    });
    let m = s["gate"]["message"].as_str().unwrap();
    assert!(m.contains("does not fit the"), "{m}");
    // It waits before its first state: nothing ran; the next window that fits is tomorrow's.
    assert!(!calls(&sys, "a").contains("Download"));
    let (since, until) = (s["gate"]["since"].as_str(), s["gate"]["until"].as_str());
    assert!(until > since, "{since:?} {until:?}");
    drop(d);
}

/// `flock -x <file> sleep 600` in its own process group, or `None` (loudly).
fn hold(file: &Path) -> Option<Child> {
    use std::os::unix::process::CommandExt;
    if !need::have(need::tool("flock")) {
        return None;
    }
    Command::new("flock")
        .arg("-x")
        .arg(file)
        .args(["sleep", "600"])
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .ok()
}

fn release(mut c: Child) {
    // `--` before the group: some `kill` builds read `-KILL -<pgid>` as `kill(-1)`, every
    // process on the machine.
    let _ = Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{}", c.id())])
        .status();
    let _ = c.wait();
}

#[test]
fn a_held_lock_holds_the_deployment_releasing_it_converges_and_force_passes() {
    let Some(sys) = System::served(json!({})) else {
        return;
    };
    let locks = sys.root().join("run/locks");
    std::fs::create_dir_all(&locks).unwrap();
    let file = locks.join("driving.lock");
    std::fs::write(&file, "").unwrap();
    let Some(holder) = hold(&file) else { return };
    let d = sys.start();
    assert!(apply(&sys, "v2.yaml", "sys-v2", "v2").status.success());
    let s = d.until("locked", |s| s["gate"]["reason"] == "UpdateLocked");
    assert_eq!(s["gate"]["locks"][0]["file"], file.display().to_string());
    assert_eq!(s["gate"]["locks"][0]["pid"], holder.id());
    assert!(calls(&sys, "a").contains("Download"), "downloads go on");
    assert!(!calls(&sys, "a").contains("ArtifactInstall"));
    release(holder);
    d.until("converged", |s| ready(s) && s["observedGeneration"] == 1);
    let Some(holder) = hold(&file) else { return };
    let out = apply_with(&sys, &["--force", "--wait"], "v3.yaml", "sys-v3", "v3");
    assert!(out.status.success(), "{}", e2e::stderr(&out));
    assert_eq!(sys.version("a"), "rtos-v3");
    release(holder);
}

#[test]
fn consent_deny_installs_nothing_approve_converges_and_a_timeout_follows_on_timeout() {
    let Some(sys) = System::served(json!({
        "OwnerConsent": {"Before": ["Install"], "TimeoutSeconds": 10, "OnTimeout": "deny"},
        "Retry": {"BaseSeconds": 1, "CapSeconds": 1, "Limit": 5}
    })) else {
        return;
    };
    let d = sys.start();
    assert!(apply(&sys, "v2.yaml", "sys-v2", "v2").status.success());
    let s = d.until("asked", |s| s["gate"]["reason"] == "AwaitingConsent");
    assert_eq!(s["gate"]["consent"]["phase"], "Install");
    let out = sys.baton().args(["consent", "deny"]).output().unwrap();
    assert!(out.status.success(), "{}", e2e::stderr(&out));
    let s = d.until("denied", |s| s["history"][0]["reason"] == "ConsentDenied");
    assert!(!calls(&sys, "a").contains("ArtifactInstall"), "{s:#}");
    d.until("asked again", |s| s["gate"]["reason"] == "AwaitingConsent");
    let out = sys.baton().args(["consent", "approve"]).output().unwrap();
    assert!(out.status.success());
    d.until("converged", |s| ready(s) && s["observedGeneration"] == 1);
    // Nobody answers: OnTimeout deny after 10 s.
    assert!(apply(&sys, "v3.yaml", "sys-v3", "v3").status.success());
    d.until("timed out", |s| {
        s["history"][0]["reason"] == "ConsentDenied" && s["history"][0]["manifest"] == "sys-v3"
    });
    assert_eq!(sys.version("a"), "rtos-v2");
}

#[test]
fn a_failing_health_check_rolls_back_before_any_commit_and_passing_checks_commit() {
    let Some(sys) = System::served(json!({})) else {
        return;
    };
    let log = sys.root().join("checks.log");
    let check = format!(
        "date +%s%N >> {0}; if [ -f {0}.fail ]; then echo 'gateway: web UI down' >&2; exit 3; fi",
        log.display()
    );
    sys.configure(json!({
        "HealthGate": {"SoakSeconds": 2, "IntervalSeconds": 1, "Checks": [["/bin/sh", "-c", check]]}
    }));
    let d = sys.start();
    std::fs::write(format!("{}.fail", log.display()), "").unwrap();
    assert!(apply(&sys, "v2.yaml", "sys-v2", "v2").status.success());
    let s = d.until("rolled back", |s| {
        s["history"][0]["reason"] == "HealthCheckFailed"
    });
    assert!(s["history"][0]["message"]
        .as_str()
        .unwrap()
        .contains("web UI down"));
    assert!(
        !calls(&sys, "a").contains("ArtifactCommit")
            && !calls(&sys, "b").contains("ArtifactCommit")
    );
    assert_eq!(
        (sys.version("a"), sys.version("b")),
        ("rtos-v1".into(), "gateway-v1".into())
    );
    std::fs::remove_file(format!("{}.fail", log.display())).unwrap();
    let (code, _) = http(&d.socket, "POST", "/v1/actions/retry", "").unwrap();
    assert_eq!(code, 200);
    d.until("committed", |s| {
        ready(s) && s["history"][0]["outcome"] == "Succeeded"
    });
    // Every run of the checks came before the first ArtifactCommit.
    let last_check: u128 = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .parse()
        .unwrap();
    let commit_at = first_start_of(&sys, "b", "ArtifactCommit");
    assert!(last_check < commit_at);
}

/// When `state` first started for a component (ns since the epoch), from the wrapper's
/// `starts.log` and the mock's `calls.log`, which list calls in the same order.
fn first_start_of(sys: &System, comp: &str, state: &str) -> u128 {
    let calls = calls(sys, comp);
    let starts = std::fs::read_to_string(sys.state_dir(comp).join("starts.log")).unwrap();
    let i = calls
        .lines()
        .position(|l| l.starts_with(state))
        .expect("the state ran");
    starts.lines().nth(i).unwrap().parse().unwrap()
}

#[test]
fn a_datastore_on_a_small_tmpfs_refuses_a_big_download_touching_nothing() {
    let Some(ns) = need::require(e2e::reliability::Namespace::new()) else {
        return;
    };
    let Some(sys) = System::served(json!({"MinFreeBytes": 0})) else {
        return;
    };
    // A 4 MiB uncompressed payload; the datastore (where the files tree would go) on a
    // 1 MiB tmpfs that only baton's mount namespace sees.
    let payload = sys.root().join("big.bin");
    std::fs::write(&payload, vec![7u8; 4 << 20]).unwrap();
    // Uncompressed, so the Artifact is as big as the files tree it makes.
    e2e::ok(
        Command::new("mender-artifact")
            .args([
                "write",
                "module-image",
                "-T",
                "mock",
                "-t",
                "rtos",
                "-n",
                "rtos-big",
            ])
            .args(["--compression", "none", "-f"])
            .arg(&payload)
            .arg("-o")
            .arg(sys.artifacts_dir().join("rtos-big.mender")),
    );
    let small = sys.root().join("small");
    std::fs::create_dir_all(&small).unwrap();
    ns.sh(&format!(
        "mount -t tmpfs -o size=1m tmpfs '{}'",
        small.display()
    ));
    let child = ns
        .command(e2e::baton_bin())
        .arg("-c")
        .arg(sys.config_path())
        .arg("-d")
        .arg(&small)
        .arg("--topology-dir")
        .arg(sys.datastore())
        .arg("--data-dir")
        .arg(sys.data_dir())
        .arg("run")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed when dropped, whatever happens here.
    let d = Daemon {
        child,
        socket: sys.socket(),
        log: sys.run_log(),
    };
    d.wait_ready();
    let file = sys.root().join("big.yaml");
    std::fs::write(
        &file,
        sys.release_text("sys-big", "v2")
            .replace("rtos-v2", "rtos-big"),
    )
    .unwrap();
    // The daemon's datastore is the small one: the CLI talks to it with the same flags.
    let out = e2e::baton()
        .arg("-c")
        .arg(sys.config_path())
        .arg("-d")
        .arg(&small)
        .arg("--topology-dir")
        .arg(sys.datastore())
        .args(["apply", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", e2e::stderr(&out));
    let last = d.until("refused", |s| {
        s["history"][0]["reason"] == "InsufficientSpace"
    });
    drop(d);
    let h = &last["history"][0];
    assert_eq!(
        (h["outcome"].as_str(), h["reason"].as_str()),
        (Some("Rejected"), Some("InsufficientSpace")),
        "{last:#}"
    );
    assert!(h["message"].as_str().unwrap().contains("free"), "{h:#}");
    assert!(!calls(&sys, "a").contains("Download"), "nothing touched");
}

#[test]
fn a_newer_manifest_during_download_supersedes_and_during_install_waits() {
    let Some(sys) = System::served(json!({})) else {
        return;
    };
    std::fs::write(sys.state_dir("a").join("slow.Download"), "3").unwrap();
    let d = sys.start();
    assert!(apply(&sys, "v2.yaml", "sys-v2", "v2").status.success());
    d.until("downloading", |s| s["deployment"]["state"] == "Download");
    assert!(apply(&sys, "v3.yaml", "sys-v3", "v3").status.success());
    let s = d.until("v3 converged", |s| ready(s) && s["observedGeneration"] == 2);
    let h = s["history"].as_array().unwrap();
    assert_eq!(
        (h[1]["manifest"].as_str(), h[1]["reason"].as_str()),
        (Some("sys-v2"), Some("Superseded"))
    );
    assert!(
        !calls(&sys, "a").contains("ArtifactInstall rtos rtos-v2"),
        "v2 never installed"
    );
    // During ArtifactInstall, the running deployment finishes first.
    std::fs::remove_file(sys.state_dir("a").join("slow.Download")).unwrap();
    std::fs::write(sys.state_dir("a").join("slow"), "3").unwrap();
    assert!(apply(&sys, "v2b.yaml", "sys-v2b", "v2").status.success());
    d.until("installing", |s| {
        s["deployment"]["state"] == "ArtifactInstall"
    });
    assert!(apply(&sys, "v3b.yaml", "sys-v3b", "v3").status.success());
    let s = d.until("both ran", |s| {
        s["history"].as_array().unwrap().len() == 4 && ready(s)
    });
    assert_eq!(s["history"][1]["manifest"], "sys-v2b");
    assert_eq!(s["history"][1]["outcome"], "Succeeded");
}

/// [`Daemon::until`] with a longer limit (a window opening minutes away).
fn until_long(d: &Daemon, what: &str, seconds: u64, pred: impl Fn(&Value) -> bool) -> Value {
    let t = Instant::now();
    loop {
        if let Some((200, body)) = http(&d.socket, "GET", "/v1/status", "") {
            let s: Value = serde_json::from_str(&body).unwrap();
            if pred(&s) {
                return s;
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(seconds),
            "never: {what}\n{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
