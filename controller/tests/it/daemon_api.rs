//! The local API over a real Unix socket (and loopback TCP), with the fake Deployer behind
//! the whole daemon: resources, actions, hand-off, and the limits that protect the device.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::daemon_support::*;
use baton::engine::api::End;
use baton::model::{ConditionStatus::*, ConditionType::*};
use baton::wire::{InstallRequest, RunOpts};

/// One raw HTTP/1.1 exchange; returns the status code and the whole answer.
fn raw(socket: &std::path::Path, request: &[u8]) -> (u16, String) {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_actions_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let d = Daemon::start(effective(dir.path(), serde_json::json!({})), &fake).await;
    let c = d.client().await;
    // The socket has the configured mode.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&d.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);

    assert_eq!(c.desired_manifest().await.unwrap(), None);
    let a = c.apply(VALID.as_bytes(), None).await.unwrap();
    assert_eq!((a.generation, a.changed, a.name.as_str()), (1, true, "m2"));
    let again = c.apply(VALID.as_bytes(), None).await.unwrap();
    assert_eq!((again.generation, again.changed), (1, false));
    d.until("ready", |s| {
        s.observed_generation == 1
            && s.conditions
                .iter()
                .any(|c| c.type_ == Ready && c.status == True)
    })
    .await;
    let (g, bytes) = c.desired_manifest().await.unwrap().unwrap();
    assert_eq!((g, bytes.as_slice()), (1, VALID.as_bytes()));
    assert_eq!(c.history().await.unwrap().len(), 1);
    let comps = c.components().await.unwrap();
    assert_eq!(comps.len(), 2);
    assert!(comps.iter().all(|x| x.in_sync));

    // An invalid Manifest names its problem, and the desired state is untouched.
    let bad = VALID.replace("order: 1", "order: 101");
    let err = c.apply(bad.as_bytes(), None).await.unwrap_err();
    assert_eq!(err.code(), Some("Invalid"));
    assert!(err.to_string().contains("update_strategy.order"), "{err}");
    let wrong_system = VALID.replace("[sys]", "[other]");
    let err = c.apply(wrong_system.as_bytes(), None).await.unwrap_err();
    assert!(err.to_string().contains("system_types_compatible"), "{err}");
    assert_eq!(c.status().await.unwrap().generation, 1);

    // Actions.
    assert_eq!(c.action("suspend").await.unwrap().generation, 1);
    assert!(c.status().await.unwrap().suspended);
    c.action("resume").await.unwrap();
    assert_eq!(
        c.action("rollback").await.unwrap_err().code(),
        Some("NothingToRollBackTo")
    );
    let unknown = c.action("reboot").await.unwrap_err();
    assert_eq!(unknown.code(), Some("NotFound"));

    // Metrics in Prometheus' text format.
    let m = c.metrics().await.unwrap();
    let value = |series: &str| -> f64 {
        m.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or(-1.0)
    };
    assert!(
        value("controller_runtime_reconcile_total{controller=\"baton\",result=\"success\"}") >= 1.0,
        "{m}"
    );
    assert_eq!(
        value("controller_runtime_reconcile_errors_total{controller=\"baton\"}"),
        0.0,
        "{m}"
    );
    assert!(m.contains("baton_build_info{version="), "{m}");

    // Raw HTTP: probes, wrong method, unknown path, DNS rebinding, missing Host.
    let get = |path: &str, host: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
    };
    assert_eq!(
        raw(&d.socket, get("/healthz", "localhost").as_bytes()).0,
        200
    );
    assert_eq!(
        raw(&d.socket, get("/readyz", "localhost").as_bytes()).0,
        200
    );
    assert_eq!(
        raw(&d.socket, get("/v1/nothing", "localhost").as_bytes()).0,
        404
    );
    assert_eq!(
        raw(
            &d.socket,
            b"DELETE /v1/manifest HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .0,
        405
    );
    let (code, text) = raw(&d.socket, get("/v1/status", "evil.example").as_bytes());
    assert_eq!(code, 403, "{text}");
    assert!(!text.contains("observedGeneration"));
    assert_eq!(raw(&d.socket, b"GET /v1/status HTTP/1.0\r\n\r\n").0, 400);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_and_slow_clients_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let d = Daemon::start(effective(dir.path(), serde_json::json!({})), &fake).await;
    let socket = d.socket.clone();
    // Declared too large: refused before reading.
    let (code, _) = raw(&socket, b"PUT /v1/manifest HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2000000\r\nConnection: close\r\n\r\n");
    assert_eq!(code, 413);
    // Chunked, and larger than the limit once read.
    let big = vec![b'#'; 1024 * 1024 + 10];
    let mut req = b"PUT /v1/manifest HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    req.extend(format!("{:x}\r\n", big.len()).as_bytes());
    req.extend(&big);
    req.extend(b"\r\n0\r\n\r\n");
    let s2 = socket.clone();
    let (code, _) = tokio::task::spawn_blocking(move || raw(&s2, &req))
        .await
        .unwrap();
    assert_eq!(code, 413);

    // A slow body gets 408, partial headers get the connection closed; both in parallel.
    let s3 = socket.clone();
    let slow_body = tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        let r = raw(
            &s3,
            b"PUT /v1/manifest HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nabc",
        );
        (r.0, t.elapsed())
    });
    let s4 = socket.clone();
    let slowloris = tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        let r = raw(&s4, b"GET /v1/status HTTP/1.1\r\nHost: loc");
        (r.0, t.elapsed())
    });
    let (code, took) = slow_body.await.unwrap();
    assert_eq!(code, 408);
    assert!(took < Duration::from_secs(20), "{took:?}");
    let (code, took) = slowloris.await.unwrap();
    assert!(
        code == 0 || code == 408,
        "partial headers answered with {code}"
    );
    assert!(took < Duration::from_secs(15), "{took:?}");
    // And the API still answers.
    assert!(d.client().await.status().await.is_ok());

    // Many clients at once: every one is answered.
    let c = d.client().await;
    let mut tasks = Vec::new();
    for _ in 0..300 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move { c.status().await.is_ok() }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += usize::from(t.await.unwrap());
    }
    assert_eq!(ok, 300);
    d.stop().await;
}

/// One raw request over loopback TCP; returns the status code.
fn tcp(port: u16, method: &str, path: &str, host: &str, token: Option<&str>, body: &str) -> u16 {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_whitespace()
        .nth(1)
        .unwrap_or("0")
        .parse::<u16>()
        .unwrap()
}

/// A token file as it must be: owned by us, mode 0600.
fn token_file(path: &std::path::Path, token: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("{token}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const WRITE: &str = "a-long-enough-token-1234";
const READ: &str = "a-reading-token-5678-abcd";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_needs_loopback_and_a_token_of_the_right_scope() {
    let dir = tempfile::tempdir().unwrap();
    token_file(&dir.path().join("token"), WRITE, 0o600);
    token_file(&dir.path().join("read-token"), READ, 0o600);
    let port = free_port();
    let fake = Fake::new();
    let eff = effective(
        dir.path(),
        serde_json::json!({"Api": {
            "Socket": dir.path().join("run/baton.sock"),
            "Tcp": format!("127.0.0.1:{port}"),
            "TokenFile": dir.path().join("token"),
            "ReadTokenFile": dir.path().join("read-token"),
        }}),
    );
    let d = Daemon::start(eff, &fake).await;
    let host = format!("127.0.0.1:{port}");
    let install = serde_json::to_string(&InstallRequest {
        manifest: VALID.to_string(),
        origin: "/m.yaml".into(),
        base_dir: None,
        options: RunOpts {
            allow_downgrade: true,
            ..RunOpts::default()
        },
    })
    .unwrap();
    let codes = tokio::task::spawn_blocking(move || {
        let h = host.as_str();
        let ask = |m: &str, p: &str, t: Option<&str>, b: &str| tcp(port, m, p, h, t, b);
        vec![
            // What there was before the scopes.
            ask("GET", "/v1/status", None, ""),
            ask("GET", "/v1/status", Some("wrong-token-wrong-token"), ""),
            ask("GET", "/v1/status", Some(WRITE), ""),
            ask("GET", "/healthz", None, ""),
            tcp(
                port,
                "GET",
                "/v1/status",
                &format!("attacker.example:{port}"),
                Some(WRITE),
                "",
            ),
            // The read token reads...
            ask("GET", "/v1/status", Some(READ), ""),
            ask("GET", "/metrics", Some(READ), ""),
            ask("GET", "/v1/history", Some(READ), ""),
            // ...and changes nothing.
            ask("PUT", "/v1/manifest", Some(READ), VALID),
            ask("POST", "/v1/actions/suspend", Some(READ), ""),
            // The hand-off is not served over TCP, whatever the token.
            ask("POST", "/v1/deployments/install", Some(READ), &install),
            ask("POST", "/v1/deployments/install", Some(WRITE), &install),
            ask("POST", "/v1/deployments/rollback", Some(WRITE), "{}"),
            // The write token changes the desired state.
            ask("PUT", "/v1/manifest", Some(WRITE), VALID),
        ]
    })
    .await
    .unwrap();
    assert_eq!(
        codes,
        [401, 401, 200, 200, 403, 200, 200, 200, 403, 403, 403, 403, 403, 201]
    );
    let s = d
        .until("applied over TCP and deployed", |s| {
            s.observed_generation == 1
        })
        .await;
    assert!(!s.suspended, "the read token suspended reconciliation");
    // Only the write token's Manifest was deployed: the hand-off never reached the engine.
    assert_eq!(fake.installs().len(), 1);
    assert_eq!(s.history[0].driver, "controller");
    d.stop().await;

    // A non-loopback address refuses to start.
    let dir = tempfile::tempdir().unwrap();
    token_file(&dir.path().join("token"), WRITE, 0o600);
    let eff = effective(
        dir.path(),
        serde_json::json!({"Api": {"Socket": dir.path().join("run/baton.sock"), "Tcp": "0.0.0.0:7373", "TokenFile": dir.path().join("token")}}),
    );
    let err = run_once(&eff).await.unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");
}

async fn run_once(eff: &baton::config::Effective) -> Result<(), baton::daemon::DaemonError> {
    let deployer: std::sync::Arc<dyn baton::engine::Deployer> = std::sync::Arc::new(Fake::new());
    baton::daemon::run(
        eff,
        deployer,
        Default::default(),
        Duration::from_secs(1),
        None,
        Default::default(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_file_others_can_read_stops_the_start_naming_it() {
    for (key, mode) in [
        ("TokenFile", 0o644),
        ("TokenFile", 0o640),
        ("ReadTokenFile", 0o604),
        ("ReadTokenFile", 0o620),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        token_file(&file, WRITE, mode);
        let eff = effective(
            dir.path(),
            serde_json::json!({"Api": {
                "Socket": dir.path().join("run/baton.sock"),
                "Tcp": format!("127.0.0.1:{}", free_port()),
                key: file,
            }}),
        );
        let err = run_once(&eff).await.unwrap_err().to_string();
        assert!(
            err.contains(&format!("Api.{key}")) && err.contains(&file.display().to_string()),
            "{key} {mode:o}: {err}"
        );
        assert!(err.contains("chmod 600"), "{err}");
        // Nothing was left listening.
        assert!(!dir.path().join("run/baton.sock").exists());
    }
}

/// `curl` as another user against the daemon's socket: the HTTP status.
fn curl_as(uid: u32, gid: u32, socket: &std::path::Path, path: &str) -> u16 {
    use std::os::unix::process::CommandExt;
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--unix-socket",
        ])
        .arg(socket)
        .arg(format!("http://localhost{path}"))
        .uid(uid)
        .gid(gid)
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_socket_only_root_the_owner_and_the_group_may_call() {
    let root = rustix::process::geteuid().is_root();
    let curl = std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_ok();
    if !(root && curl) {
        let why = "needs root (to call as another user) and curl";
        assert!(
            std::env::var_os("BATON_TEST_STRICT").is_none(),
            "cannot run: {why}"
        );
        eprintln!("\n*** SKIPPING: {why} ***\n");
        return;
    }
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::Builder::new().tempdir_in("/tmp").unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(dir.path().join("run")).unwrap();
    std::fs::set_permissions(
        dir.path().join("run"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    // A socket anyone can connect to: the peer check is what stands in the way.
    let fake = Fake::new();
    let eff = effective(
        dir.path(),
        serde_json::json!({"Api": {
            "Socket": dir.path().join("run/baton.sock"),
            "SocketMode": "0666",
        }}),
    );
    let d = Daemon::start(eff, &fake).await;
    let group = std::fs::metadata(&d.socket).unwrap().gid();
    let nobody = 65534;
    assert_ne!(group, nobody);
    let socket = d.socket.clone();
    let codes = tokio::task::spawn_blocking(move || {
        [
            curl_as(0, 0, &socket, "/v1/status"),
            curl_as(nobody, nobody, &socket, "/v1/status"),
            curl_as(nobody, nobody, &socket, "/healthz"),
            curl_as(nobody, group, &socket, "/v1/status"),
        ]
    })
    .await
    .unwrap();
    assert_eq!(codes, [200, 403, 403, 200]);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_update_module_hand_off_goes_through_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let d = Daemon::start(effective(dir.path(), serde_json::json!({})), &fake).await;
    let c = d.client().await;
    let report = c
        .install(&InstallRequest {
            manifest: VALID.to_string(),
            origin: "/data/mender/manifest.yaml".into(),
            base_dir: Some("/data/mender".into()),
            options: RunOpts::default(),
        })
        .await
        .unwrap();
    assert_eq!(report.end, End::Success);
    let s = d
        .until("ready", |s| {
            s.desired_manifest.as_deref() == Some("m2") && s.observed_generation == 1
        })
        .await;
    assert_eq!(s.history[0].driver, "update-module");
    // Nothing to resume: the engine's answer comes back as an error code.
    let err = c.resume(&Default::default()).await.unwrap_err();
    assert_eq!(err.code(), Some("NothingInProgress"), "{err}");
    let err = c.rollback(&Default::default()).await.unwrap_err();
    assert_eq!(err.code(), Some("NothingInProgress"));
    // The hand-off's Manifest passes the same admission as every door: one for another
    // System is refused before the engine sees it.
    let installs = fake.installs().len();
    let err = c
        .install(&InstallRequest {
            manifest: VALID.replace("[sys]", "[other]"),
            origin: "/data/mender/manifest.yaml".into(),
            base_dir: None,
            options: RunOpts::default(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("Invalid"), "{err}");
    assert!(err.to_string().contains("system_types_compatible"), "{err}");
    assert_eq!(fake.installs().len(), installs);
    d.stop().await;
}
