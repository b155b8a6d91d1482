//! The event stream and the status page's sessions over real sockets, with the fake
//! Deployer behind the whole daemon: what a follower gets, what a reconnect gets, and who
//! may read and act with a session.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use crate::daemon_support::*;
use baton::wire::sse::Message;

async fn next(s: &mut baton::client::EventStream) -> Message {
    tokio::time::timeout(Duration::from_secs(20), s.next())
        .await
        .expect("an event within 20 s")
        .expect("the stream goes on")
        .expect("readable")
}

fn id(m: &Message) -> u64 {
    m.id.as_deref().and_then(|i| i.parse().ok()).unwrap_or(0)
}

fn kind(m: &Message) -> String {
    let v: serde_json::Value = serde_json::from_str(&m.data).unwrap();
    let c = &v["change"];
    match c["kind"].as_str().unwrap_or("") {
        "progress" => format!("progress:{}", c["progress"]["event"].as_str().unwrap()),
        k => k.to_string(),
    }
}

/// Every change event of a stream that ends by itself (`follow=false`).
async fn listing(c: &baton::client::Client, since: u64) -> Vec<Message> {
    let mut s = c.events(Some(since), false).await.unwrap();
    let mut v = Vec::new();
    while let Some(m) = s.next().await {
        v.push(m.unwrap());
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_sees_the_deployment_and_a_reconnect_from_its_last_id_misses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let gate = Arc::new(tokio::sync::Notify::new());
    fake.state().gate = Some(gate.clone());
    let d = Daemon::start(effective(dir.path(), serde_json::json!({})), &fake).await;
    let c = d.client().await;

    let mut live = c.events(None, true).await.unwrap();
    let hello = next(&mut live).await;
    assert_eq!(hello.event, "hello");
    let start = id(&hello);

    c.apply(VALID.as_bytes(), None).await.unwrap();
    // Follow until the install runs (the fake holds it at the gate), then hang up.
    let mut seen = Vec::new();
    loop {
        let m = next(&mut live).await;
        if m.event != "message" {
            continue;
        }
        seen.push((id(&m), kind(&m)));
        if kind(&m) == "progress:stepStarted" {
            break;
        }
    }
    drop(live);
    let last = seen.last().unwrap().0;
    let ids: Vec<u64> = seen.iter().map(|s| s.0).collect();
    assert_eq!(
        ids,
        (start + 1..=last).collect::<Vec<_>>(),
        "no gap while live"
    );

    // What happens while nobody listens...
    gate.notify_one();
    d.until("ready", |s| {
        s.observed_generation == 1 && s.deployment.is_none()
    })
    .await;
    // ...is exactly what a reconnect from the last id gets: the rest, in order, to the end.
    let rest = listing(&c, last).await;
    let rest_ids: Vec<u64> = rest.iter().map(id).collect();
    assert!(!rest.is_empty());
    assert_eq!(
        rest_ids,
        (last + 1..=last + rest.len() as u64).collect::<Vec<_>>()
    );
    let kinds: Vec<String> = rest.iter().map(kind).collect();
    assert!(kinds.contains(&"finished".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"deployment".to_string()), "{kinds:?}");

    // From 0: everything this daemon said, numbered from 1.
    let all = listing(&c, 0).await;
    assert_eq!(id(&all[0]), 1);
    assert_eq!(id(all.last().unwrap()), last + rest.len() as u64);

    // An id this daemon never gave (a reconnect across a restart): told to read again.
    let mut s = c.events(Some(1_000_000), false).await.unwrap();
    assert_eq!(next(&mut s).await.event, "resync");

    // The status says where its events stand (list, then follow from there).
    let (code, head, _) = raw_unix(
        &d.socket,
        "GET /v1/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(code, 200);
    let newest = last + rest.len() as u64;
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("x-baton-event-id: {newest}")),
        "{head}"
    );
    d.stop().await;
}

fn raw(mut s: impl Read + Write, request: &str) -> (u16, String, String) {
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, head.to_string(), body.to_string())
}

fn raw_unix(socket: &std::path::Path, request: &str) -> (u16, String, String) {
    let s = std::os::unix::net::UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    raw(s, request)
}

/// One request over loopback TCP with the given extra header lines.
fn tcp(port: u16, method: &str, path: &str, headers: &[String]) -> (u16, String, String) {
    let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: 0\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    raw(s, &req)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Logs in with a fresh code of `write` scope; the cookie header line and the CSRF token.
async fn login(c: &baton::client::Client, port: u16, write: bool) -> (String, String) {
    let code = c.login_code(write).await.unwrap();
    assert_eq!(
        code.tcp.as_deref(),
        Some(format!("127.0.0.1:{port}").as_str())
    );
    let path = code.path.clone();
    let (status, head, _) = tokio::task::spawn_blocking(move || tcp(port, "GET", &path, &[]))
        .await
        .unwrap();
    assert_eq!(status, 303, "{head}");
    assert_eq!(header(&head, "location"), Some("/ui/"));
    let set = header(&head, "set-cookie").expect("a cookie").to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = format!("Cookie: {}", set.split(';').next().unwrap());
    // The code worked once.
    let again = code.path.clone();
    let (status, head, _) = tokio::task::spawn_blocking(move || tcp(port, "GET", &again, &[]))
        .await
        .unwrap();
    assert_eq!(
        (status, header(&head, "location")),
        (303, Some("/ui/#login-expired"))
    );
    assert!(header(&head, "set-cookie").is_none());
    let ck = cookie.clone();
    let (status, _, body) =
        tokio::task::spawn_blocking(move || tcp(port, "GET", "/ui/session", &[ck]))
            .await
            .unwrap();
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["scope"], if write { "write" } else { "read" });
    (cookie, v["csrf"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_reads_like_its_token_and_acts_only_with_write_scope_and_its_csrf_token() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("read-token");
    std::fs::write(&token, "a-reading-token-5678-abcd\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let port = free_port();
    let fake = Fake::new();
    let eff = effective(
        dir.path(),
        serde_json::json!({"Api": {
            "Socket": dir.path().join("run/baton.sock"),
            "Tcp": format!("127.0.0.1:{port}"),
            "ReadTokenFile": token,
        }}),
    );
    let d = Daemon::start(eff, &fake).await;
    let c = d.client().await;
    c.apply(VALID.as_bytes(), None).await.unwrap();
    d.until("ready", |s| s.observed_generation == 1).await;

    let (read_cookie, _) = login(&c, port, false).await;
    let (write_cookie, csrf) = login(&c, port, true).await;
    let csrf_h = format!("X-Baton-CSRF: {csrf}");
    let origin = format!("Origin: http://127.0.0.1:{port}");
    let codes = tokio::task::spawn_blocking(move || {
        let ask = |m: &str, p: &str, h: &[&String]| {
            let h: Vec<String> = h.iter().map(|s| s.to_string()).collect();
            tcp(port, m, p, &h).0
        };
        vec![
            // Nothing without a session but the page's files (which hold no status).
            ask("GET", "/v1/status", &[]),
            ask("GET", "/ui/", &[]),
            ask("GET", "/ui/session", &[]),
            // A read session reads, follows events, and changes nothing.
            ask("GET", "/v1/status", &[&read_cookie]),
            ask("GET", "/v1/events?follow=false", &[&read_cookie]),
            ask("POST", "/v1/actions/suspend", &[&read_cookie]),
            ask("POST", "/v1/consent", &[&read_cookie]),
            // A write session acts only with its CSRF token, and not from another origin.
            ask("POST", "/v1/actions/suspend", &[&write_cookie]),
            ask(
                "POST",
                "/v1/actions/suspend",
                &[
                    &write_cookie,
                    &csrf_h,
                    &"Origin: http://evil.example".to_string(),
                ],
            ),
            ask(
                "POST",
                "/v1/actions/suspend",
                &[&write_cookie, &csrf_h, &origin],
            ),
            // Login codes are made on the Unix socket only, whatever the session.
            ask("POST", "/v1/ui/login-codes", &[&write_cookie, &csrf_h]),
            // A session ends with logout.
            ask("POST", "/ui/logout", &[&write_cookie]),
            ask("GET", "/v1/status", &[&write_cookie]),
        ]
    })
    .await
    .unwrap();
    assert_eq!(
        codes,
        [401, 200, 401, 200, 200, 403, 403, 403, 403, 200, 403, 200, 401]
    );
    let s = d
        .until("suspended by the write session", |s| s.suspended)
        .await;
    assert!(s.suspended);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_static_and_guarded() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let d = Daemon::start(effective(dir.path(), serde_json::json!({})), &fake).await;
    let c = d.client().await;
    c.apply(VALID.as_bytes(), None).await.unwrap();
    d.until("ready", |s| s.observed_generation == 1).await;
    let (code, head, body) = raw_unix(
        &d.socket,
        "GET /ui/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(code, 200);
    assert!(header(&head, "content-security-policy")
        .unwrap()
        .contains("script-src 'self'"));
    assert_eq!(header(&head, "x-frame-options"), Some("DENY"));
    // Nothing of the System in the page itself: no Manifest name, no component.
    assert!(
        !body.contains("m2") && !body.contains("rtos") && !body.contains("v2"),
        "{body}"
    );
    // The Host check holds for the page too (DNS rebinding).
    let (code, _, _) = raw_unix(
        &d.socket,
        "GET /ui/ HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(code, 403);
    // Login codes need a TCP listener to be useful; the socket still answers which.
    let lc = c.login_code(false).await.unwrap();
    assert_eq!(lc.tcp, None);
    assert!(lc.path.starts_with("/ui/login?code="));
    d.stop().await;
}
