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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_needs_loopback_and_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "a-long-enough-token-1234\n").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let fake = Fake::new();
    let eff = effective(
        dir.path(),
        serde_json::json!({"Api": {"Socket": dir.path().join("run/baton.sock"), "Tcp": format!("127.0.0.1:{port}"), "TokenFile": token}}),
    );
    let d = Daemon::start(eff, &fake).await;
    let ask = move |req: String| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.split_whitespace()
            .nth(1)
            .unwrap_or("0")
            .parse::<u16>()
            .unwrap()
    };
    let req = move |path: &str, auth: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Connection: close\r\n\r\n")
    };
    let codes = tokio::task::spawn_blocking(move || {
        vec![
            ask(req("/v1/status", "")),
            ask(req("/v1/status", "Authorization: Bearer wrong-token-wrong-token\r\n")),
            ask(req("/v1/status", "Authorization: Bearer a-long-enough-token-1234\r\n")),
            ask(req("/healthz", "")),
            ask(format!("GET /v1/status HTTP/1.1\r\nHost: attacker.example:{port}\r\nAuthorization: Bearer a-long-enough-token-1234\r\nConnection: close\r\n\r\n")),
        ]
    })
    .await
    .unwrap();
    assert_eq!(codes, [401, 401, 200, 200, 403]);
    d.stop().await;

    // A non-loopback address refuses to start.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "a-long-enough-token-1234\n").unwrap();
    let eff = effective(
        dir.path(),
        serde_json::json!({"Api": {"Socket": dir.path().join("run/baton.sock"), "Tcp": "0.0.0.0:7373", "TokenFile": dir.path().join("token")}}),
    );
    let deployer: std::sync::Arc<dyn baton::engine::Deployer> = std::sync::Arc::new(Fake::new());
    let err = baton::daemon::run(
        &eff,
        deployer,
        Default::default(),
        Duration::from_secs(1),
        None,
        Default::default(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");
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
    d.stop().await;
}
