//! The files the packages install, each checked by the tool that will read it: the systemd
//! unit by `systemd-analyze security` (its exposure score is printed, and must not rise above
//! the recorded one), the tmpfiles entries by `systemd-tmpfiles` in a scratch root, the shell
//! scripts by `sh -n` (and shellcheck when installed), the configurations by `baton config
//! show`. `systemd-analyze verify` needs the installed binary: package_deb.rs runs it.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use e2e::need;
use e2e::{ok, run};

/// The unit's exposure, ×10, as `systemd-analyze security` computes it for this repository's
/// unit. Raise it only with a reason written in the unit file.
const MAX_EXPOSURE_TENTHS: u32 = 61;

fn deploy(path: &str) -> PathBuf {
    e2e::repo_root().join("deploy").join(path)
}

/// `key=value` settings of one section of a unit file, in order.
fn section(unit: &str, name: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == format!("[{name}]");
        } else if inside && !line.is_empty() && !line.starts_with('#') {
            let (k, v) = line.split_once('=').expect("key=value");
            out.push((k.to_string(), v.to_string()));
        }
    }
    out
}

#[test]
fn the_unit_runs_baton_as_a_notify_service_with_a_watchdog() {
    let unit = fs::read_to_string(deploy("systemd/baton.service")).unwrap();
    let service = section(&unit, "Service");
    let get = |k: &str| {
        service
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("Type"), Some("notify"));
    assert_eq!(get("NotifyAccess"), Some("main"));
    assert_eq!(get("ExecStart"), Some("/usr/bin/baton run"));
    assert_eq!(get("Restart"), Some("on-failure"));
    assert_eq!(get("KillMode"), Some("control-group"));
    let watchdog: u64 = get("WatchdogSec")
        .and_then(|v| v.strip_suffix('s'))
        .and_then(|v| v.parse().ok())
        .expect("WatchdogSec in seconds");
    assert!((10..=300).contains(&watchdog), "WatchdogSec={watchdog}s");
    // baton gives a running Interface call 90 s after SIGTERM; systemd must wait longer.
    let stop: u64 = get("TimeoutStopSec")
        .and_then(|v| v.strip_suffix('s'))
        .and_then(|v| v.parse().ok())
        .expect("TimeoutStopSec in seconds");
    assert!(stop > 90, "TimeoutStopSec={stop}s");
    assert_eq!(
        section(&unit, "Install"),
        vec![("WantedBy".to_string(), "multi-user.target".to_string())]
    );
}

#[test]
fn the_unit_exposure_score_does_not_rise() {
    if !need::have(need::tool("systemd-analyze")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    fs::copy(
        deploy("systemd/baton.service"),
        dir.path().join("baton.service"),
    )
    .unwrap();
    // --offline: no running systemd is needed (this runs in containers).
    let out = run(Command::new("systemd-analyze")
        .current_dir(dir.path())
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(format!("--threshold={MAX_EXPOSURE_TENTHS}"))
        .arg("./baton.service"));
    let text = e2e::stdout(&out);
    let overall = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no score in:\n{text}{}", e2e::stderr(&out)));
    eprintln!("systemd-analyze security: {}", overall.trim());
    assert!(
        out.status.success(),
        "the exposure rose above {}.{}: {overall}",
        MAX_EXPOSURE_TENTHS / 10,
        MAX_EXPOSURE_TENTHS % 10
    );
}

#[test]
fn tmpfiles_make_the_datastore_private() {
    if !need::have(need::tool("systemd-tmpfiles")) {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    ok(Command::new("systemd-tmpfiles")
        .arg("--create")
        .arg(format!("--root={}", root.path().display()))
        .arg(deploy("systemd/baton.tmpfile")));
    let mode = |p: &str| {
        fs::metadata(root.path().join(p))
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("var/lib/mender-orchestrator"), 0o700);
    assert_eq!(mode("run/baton"), 0o751);
    assert_eq!(mode("run/baton/locks"), 0o755);
}

#[test]
fn shell_scripts_parse_as_posix_sh() {
    if !need::have(need::tool("shellcheck")) {
        return;
    }
    let scripts = [
        deploy("mender/mender-orchestrator-manifest"),
        deploy("mender/mender-inventory-baton"),
        e2e::repo_root().join("interfaces/update-module"),
    ];
    for s in &scripts {
        let head = fs::read_to_string(s).unwrap();
        assert!(head.starts_with("#!/bin/sh\n"), "{}", s.display());
        assert!(
            fs::metadata(s).unwrap().permissions().mode() & 0o111 != 0,
            "{} is not executable",
            s.display()
        );
        ok(Command::new("sh").arg("-n").arg(s));
    }
    ok(Command::new("shellcheck").args(["-s", "sh"]).args(scripts));
}

fn config_show(file: &Path) -> std::process::Output {
    let store = tempfile::tempdir().unwrap();
    run(e2e::baton()
        .arg("-c")
        .arg(file)
        .arg("-d")
        .arg(store.path())
        .args(["config", "show"]))
}

#[test]
fn the_default_and_example_configurations_are_valid() {
    let mut files = vec![deploy("config/mender-orchestrator.conf")];
    for e in fs::read_dir(deploy("config/examples")).unwrap() {
        files.push(e.unwrap().path());
    }
    assert!(files.len() >= 3, "{files:?}");
    for f in &files {
        let out = config_show(f);
        assert!(
            out.status.success(),
            "{}: {}",
            f.display(),
            e2e::stderr(&out)
        );
    }
    // The check can fail: a misspelt key is refused.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.conf");
    fs::write(&bad, r#"{"ArtifactVerifyKeyz": "/k.pem"}"#).unwrap();
    let out = config_show(&bad);
    assert_eq!(out.status.code(), Some(1), "{}", e2e::stderr(&out));
    // So is what a schema cannot see, named by its key.
    fs::write(
        &bad,
        r#"{"MaintenanceWindows": [{"Schedule": "0 25 * * *", "DurationSeconds": 600}]}"#,
    )
    .unwrap();
    let out = config_show(&bad);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        e2e::stdout(&out).contains("MaintenanceWindows[0].Schedule: `0 25 * * *`: hour 25"),
        "{}",
        e2e::stdout(&out)
    );
}

#[test]
fn the_default_configuration_sets_nothing() {
    // Any key in /etc/mender-orchestrator/mender-orchestrator.conf shadows the same key in the
    // fallback file on the data partition, where devices keep their own settings.
    let text = fs::read_to_string(deploy("config/mender-orchestrator.conf")).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value, serde_json::json!({}));
}
