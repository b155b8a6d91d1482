//! The local API's protections, against the real `baton run` over loopback TCP: the Update
//! Module hand-off is refused with any token, the read token reads and changes nothing, an
//! unsigned or replayed Manifest is refused whatever the request says, and a token file
//! others could read stops `baton run` from starting.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use e2e::fixture::{keys, ready, System};
use e2e::need;
use e2e::prometheus::free_port;
use serde_json::{json, Value};

const WRITE: &str = "write-token-for-the-e2e-0123456789";
const READ: &str = "read-token-for-the-e2e-0123456789";

/// One request over loopback TCP: (status code, body).
fn tcp(port: u16, method: &str, path: &str, headers: &[&str], body: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut extra = String::new();
    for h in headers {
        extra.push_str(h);
        extra.push_str("\r\n");
    }
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let code = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

fn bearer(t: &str) -> String {
    format!("Authorization: Bearer {t}")
}

fn private_file(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A System whose API also listens on loopback TCP with both tokens; `extra` is merged into
/// its configuration. Returns it and the TCP port.
fn system_on_tcp(extra: Value) -> Option<(System, u16)> {
    let sys = System::served(extra)?;
    let port = free_port();
    private_file(
        &sys.root().join("write.token"),
        &format!("{WRITE}\n"),
        0o600,
    );
    private_file(&sys.root().join("read.token"), &format!("{READ}\n"), 0o600);
    let mut api = sys.config()["Api"].clone();
    api["Tcp"] = format!("127.0.0.1:{port}").into();
    api["TokenFile"] = json!(sys.root().join("write.token"));
    api["ReadTokenFile"] = json!(sys.root().join("read.token"));
    sys.configure(json!({ "Api": api }));
    Some((sys, port))
}

fn history(s: &Value) -> Vec<Value> {
    s["history"].as_array().cloned().unwrap_or_default()
}

#[test]
fn over_tcp_the_hand_off_is_refused_with_any_token_and_the_read_token_changes_nothing() {
    let Some((sys, port)) = system_on_tcp(json!({})) else {
        return;
    };
    let d = sys.start();
    let (read, write) = (bearer(READ), bearer(WRITE));
    let manifest = sys.release_text("sys-v2", "v2");
    let install = json!({
        "manifest": manifest,
        "origin": sys.root().join("m.yaml"),
        "baseDir": sys.root(),
        "options": {"allowDowngrade": true},
    })
    .to_string();

    // The read token reads.
    for path in ["/v1/status", "/v1/history", "/v1/components", "/metrics"] {
        let (code, body) = tcp(port, "GET", path, &[&read], "");
        assert_eq!(code, 200, "GET {path}: {body}");
    }
    assert_eq!(tcp(port, "GET", "/v1/manifest", &[&read], "").0, 404);
    // It changes nothing: no Manifest, no action.
    let (code, body) = tcp(port, "PUT", "/v1/manifest", &[&read], &manifest);
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("ReadOnlyToken"), "{body}");
    for action in ["suspend", "retry", "rollback", "resume"] {
        let path = format!("/v1/actions/{action}");
        assert_eq!(tcp(port, "POST", &path, &[&read], "").0, 403, "{path}");
    }
    // The hand-off: refused without a token, and with either token.
    for verb in ["install", "resume", "rollback"] {
        let path = format!("/v1/deployments/{verb}");
        let body = if verb == "install" { &install } else { "{}" };
        assert_eq!(tcp(port, "POST", &path, &[], body).0, 401, "{path}");
        for token in [&read, &write] {
            let (code, answer) = tcp(port, "POST", &path, &[token], body);
            assert_eq!(code, 403, "{path}: {answer}");
            assert!(answer.contains("UnixSocketOnly"), "{answer}");
        }
    }
    let s = d.status();
    assert_eq!(s["generation"], 0, "{s:#}");
    assert_eq!(s["suspended"], false);
    assert!(history(&s).is_empty(), "{s:#}");
    assert_eq!(sys.version("a"), "rtos-v1");
    assert_eq!(sys.version("b"), "gateway-v1");

    // The write token applies, and the System converges.
    let (code, body) = tcp(port, "PUT", "/v1/manifest", &[&write], &manifest);
    assert_eq!(code, 201, "{body}");
    d.until("v2 deployed", |s| ready(s) && s["observedGeneration"] == 1);
    assert_eq!(sys.version("a"), "rtos-v2");
}

/// The detached signature of `text` with `key`, base64.
fn sign(key: &Path, dir: &Path, text: &str) -> String {
    let f = dir.join("to-sign.yaml");
    std::fs::write(&f, text).unwrap();
    keys::sign(key, &f)
}

/// Every header and query a request might try to turn a protection off with.
const SWITCHES: &[&str] = &[
    "X-Baton-Allow-Downgrade: true",
    "X-Baton-Skip-Signature: true",
    "X-Baton-Require-Signed-Manifests: false",
    "X-Baton-Downgrade-Protection: false",
];
const QUERY: &str = "?allowDowngrade=true&requireSignedManifests=false&downgradeProtection=false";

#[test]
fn over_tcp_an_unsigned_or_replayed_manifest_is_refused_whatever_the_request_says() {
    if !need::have(need::tools(&["openssl", "base64"])) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (key, public) = keys::rsa(tmp.path(), "ours");
    let Some((sys, port)) = system_on_tcp(json!({
        "RequireSignedManifests": true,
        "ArtifactVerifyKey": public,
        "DowngradeProtection": true,
        "Retry": {"BaseSeconds": 1, "CapSeconds": 1, "Limit": 0},
    })) else {
        return;
    };
    sys.sign_artifacts(&key);
    let d = sys.start();
    let write = bearer(WRITE);
    let signed = |text: &str| format!("X-Baton-Signature: {}", sign(&key, tmp.path(), text));
    let put = |text: &str, headers: &[&str], query: &str| {
        let mut all: Vec<&str> = vec![&write];
        all.extend_from_slice(headers);
        tcp(port, "PUT", &format!("/v1/manifest{query}"), &all, text)
    };

    // Two signed releases, deployed in order.
    let v2 = sys.release_text("sys-v2", "v2");
    let v3 = sys.release_text("sys-v3", "v3");
    assert_eq!(put(&v2, &[&signed(&v2)], "").0, 201);
    d.until("v2 deployed", |s| ready(s) && s["observedGeneration"] == 1);
    assert_eq!(put(&v3, &[&signed(&v3)], "").0, 201);
    d.until("v3 deployed", |s| ready(s) && s["observedGeneration"] == 2);

    // Unsigned, or signed over other bytes, or with a field asking to skip checks:
    // refused before it becomes desired, whatever the headers and the query say.
    let unsigned = sys.release_text("sys-v2-unsigned", "v2");
    let mut headers: Vec<&str> = SWITCHES.to_vec();
    let (code, body) = put(&unsigned, &headers, QUERY);
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("not signed"), "{body}");
    let wrong = signed(&v3);
    headers.push(&wrong);
    let (code, body) = put(&unsigned, &headers, QUERY);
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("does not verify"), "{body}");
    let with_field = format!("{unsigned}allow_downgrade: true\n");
    let (code, _) = put(&with_field, &[&signed(&with_field)], QUERY);
    assert_eq!(code, 422, "a Manifest field cannot switch a protection off");
    assert_eq!(d.status()["generation"], 2);

    // Replayed: the old release, signed and all, is desired again but never installed.
    let replay = signed(&v2);
    let mut headers: Vec<&str> = SWITCHES.to_vec();
    headers.push(&replay);
    let (code, body) = put(&v2, &headers, QUERY);
    assert_eq!(code, 201, "{body}");
    let s = d.until("the replay refused", |s| {
        history(s)
            .first()
            .is_some_and(|h| h["generation"] == 3 && h["outcome"] == "Rejected")
    });
    let newest = &history(&s)[0];
    assert!(
        newest["message"]
            .as_str()
            .is_some_and(|m| m.contains("DowngradeProtection")),
        "{s:#}"
    );
    assert_eq!(sys.version("a"), "rtos-v3");
    assert_eq!(sys.version("b"), "gateway-v3");
    assert!(!ready(&s), "{s:#}");
}

#[test]
fn a_token_file_others_could_read_or_another_user_owns_is_refused_at_start() {
    let Some((sys, _)) = system_on_tcp(json!({})) else {
        return;
    };
    let token = sys.root().join("write.token");
    let read = sys.root().join("read.token");
    let mut cases: Vec<(&Path, u32, Option<u32>, &str)> = vec![
        (&token, 0o644, None, "Api.TokenFile"),
        (&token, 0o640, None, "Api.TokenFile"),
        (&read, 0o604, None, "Api.ReadTokenFile"),
    ];
    // Only root can give a file away.
    let root = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) == 0;
    if root {
        cases.push((&token, 0o600, Some(65534), "Api.TokenFile"));
    }
    for (file, mode, owner, key) in cases {
        private_file(file, &format!("{WRITE}-{key}\n"), mode);
        if let Some(uid) = owner {
            std::os::unix::fs::chown(file, Some(uid), None).unwrap();
        }
        let out = sys.baton().arg("run").output().unwrap();
        let err = e2e::stderr(&out);
        assert!(!out.status.success(), "{key} {mode:o}: started\n{err}");
        assert!(
            err.contains(key) && err.contains(&file.display().to_string()),
            "{key} {mode:o}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert!(!sys.socket().exists(), "the socket was bound");
        if owner.is_some() {
            assert!(err.contains("uid 65534"), "{err}");
            std::os::unix::fs::chown(file, Some(0), None).unwrap();
        }
        private_file(file, &format!("{WRITE}-{key}\n"), 0o600);
    }
}
