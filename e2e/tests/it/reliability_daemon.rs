//! `baton run` under hostile input (reliability.md §9 rows 19-21, and Manifest signatures):
//! races in the watched directory, the API's exposure and authentication, 10 000
//! concurrent requests, slowloris, and signed Manifests through the directory and the API.
//! The real binary, its real socket and watched directory.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::fixture::{http, keys, ready, System};
use e2e::need;
use e2e::reliability::Tally;
use serde_json::json;

fn history_len(s: &serde_json::Value) -> usize {
    s["history"].as_array().map_or(0, |h| h.len())
}

/// Waits until `path` exists (10 s at most).
fn until_exists(path: &Path) -> bool {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Every file directly in the watched directory (not `applied/` or `rejected/`).
fn pending_files(sys: &System) -> Vec<String> {
    std::fs::read_dir(sys.watch())
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn the_watched_directory_survives_races_and_tricks() {
    let Some(sys) = System::served(json!({})) else {
        return;
    };
    let d = sys.start();
    let mut tally = Tally::new();

    // A file written slowly in place is read once, whole, after it is closed.
    tally.case(|| {
        let text = sys.release_text("sys-v2", "v2");
        let mut f = std::fs::File::create(sys.watch().join("slow.yaml")).unwrap();
        let (a, b) = text.split_at(text.len() / 2);
        f.write_all(a.as_bytes()).unwrap();
        f.flush().unwrap();
        std::thread::sleep(Duration::from_millis(700));
        assert!(
            !sys.watch().join("rejected/slow.yaml").exists(),
            "half a file was taken"
        );
        f.write_all(b.as_bytes()).unwrap();
        drop(f);
        let s = d.until("v2 deployed", |s| ready(s) && s["observedGeneration"] == 1);
        assert_eq!(history_len(&s), 1);
        assert_eq!(sys.version("a"), "rtos-v2");
    });

    // 1 000 files at once, all the same Manifest: one desired state, one deployment, and
    // every file taken out of the directory.
    tally.case(|| {
        let text = sys.release_text("sys-v3", "v3");
        for i in 0..1000 {
            std::fs::write(sys.watch().join(format!("burst-{i}.yaml")), &text).unwrap();
        }
        let s = d.until("v3 deployed and the burst taken in", |s| {
            ready(s)
                && s["desiredManifest"] == "sys-v3"
                && s["observedGeneration"] == s["generation"]
                && pending_files(&sys).is_empty()
        });
        assert_eq!(
            s["generation"], 2,
            "identical files are one desired state: {s:#}"
        );
        assert_eq!(history_len(&s), 2, "one deployment for the burst");
        assert_eq!(sys.version("b"), "gateway-v3");
    });

    // A symlink to a secret is refused without being read, and its content never echoed.
    tally.case(|| {
        std::fs::write(
            sys.root().join("secret"),
            "root:$6$SECRET-HASH:19000::::::\n",
        )
        .unwrap();
        std::os::unix::fs::symlink(sys.root().join("secret"), sys.watch().join("evil.yaml"))
            .unwrap();
        let error = sys.watch().join("rejected/evil.yaml.error");
        assert!(until_exists(&error), "the symlink was not refused");
        let why = std::fs::read_to_string(&error).unwrap();
        assert!(why.contains("symbolic link"), "{why}");
        assert!(!why.contains("SECRET") && !d.log_text().contains("SECRET"));
        assert_eq!(
            std::fs::read_to_string(sys.root().join("secret")).unwrap(),
            "root:$6$SECRET-HASH:19000::::::\n",
            "the target is untouched"
        );
    });

    // A FIFO and a hard link are refused too (reading either could hang or leak).
    tally.case(|| {
        let fifo = sys.watch().join("fifo.yaml");
        assert!(Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        // A FIFO gets no close-write; its refusal shows at the next look (a restart scan
        // or another event): a real file triggers the next look.
        std::fs::hard_link(sys.root().join("secret"), sys.watch().join("linked.yaml")).unwrap();
        let error = sys.watch().join("rejected/linked.yaml.error");
        if !until_exists(&error) {
            // A hard link made in place emits no close-write either; touch it to be looked at.
            std::fs::OpenOptions::new()
                .append(true)
                .open(sys.watch().join("linked.yaml"))
                .unwrap();
        }
        assert!(until_exists(&error), "the hard link was not refused");
        let why = std::fs::read_to_string(&error).unwrap();
        assert!(why.contains("hard link"), "{why}");
        assert!(!why.contains("SECRET"));
        let _ = std::fs::remove_file(&fifo);
    });
    assert!(
        d.status()["generation"] == 2,
        "nothing refused became desired"
    );
}

/// Overwrites `path` in place, again and again, alternating two contents, until `stop`.
fn rewrite_in_place(
    path: std::path::PathBuf,
    a: Vec<u8>,
    b: Vec<u8>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let mut flip = false;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let bytes = if flip { &a } else { &b };
        flip = !flip;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
        {
            for chunk in bytes.chunks(4096) {
                let _ = f.write_all(chunk);
            }
        }
    }
}

#[test]
fn an_artifact_rewritten_during_the_deployment_never_installs_unverified_bytes() {
    let Some(sys) = System::served(json!({})) else {
        return;
    };
    let art = sys.artifacts_dir().join("rtos-v2.mender");
    let original = std::fs::read(&art).unwrap();
    // Same name, another payload, validly built: each version verifies on its own.
    let other = baton::artifact::testkit::ArtifactBuilder::new("rtos-v2", "mock", "rtos")
        .file("rtos-v2.bin", vec![b'Z'; 300 << 10])
        .build();
    let payload_sha = |bytes: &[u8]| -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.mender");
        std::fs::write(&f, bytes).unwrap();
        let out = e2e::baton()
            .args(["artifact", "inspect", "-o", "json"])
            .arg(&f)
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["payload_files"]
            .as_array()
            .map(|fs| {
                fs.iter()
                    .filter_map(|f| f["sha256"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let allowed: Vec<String> = [payload_sha(&original), payload_sha(&other)].concat();
    assert!(allowed.len() >= 2, "{allowed:?}");
    let mut tally = Tally::new();
    let d = sys.start();
    let mut previous = "rtos-v1".to_string();
    for round in 0..3 {
        tally.case(|| {
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let writer = {
                let (p, a, b, s) = (art.clone(), original.clone(), other.clone(), stop.clone());
                std::thread::spawn(move || rewrite_in_place(p, a, b, s))
            };
            let _ = std::fs::remove_file(sys.state_dir("a").join("streams.log"));
            let name = format!("sys-v2-{round}");
            let before = history_len(&d.status());
            sys.drop_manifest(&format!("{name}.yaml"), &sys.release_text(&name, "v2"));
            // It ends in the history, or (the Artifact unreadable when it was planned) as a
            // refusal counted in `failures`.
            let s = d.until("the deployment ends", |s| {
                history_len(s) > before
                    || (s["desiredManifest"] == name && s["failures"].as_u64() > Some(0))
            });
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            writer.join().unwrap();
            // Whatever happened, the rtos received only bytes of one verified Artifact...
            let log =
                std::fs::read_to_string(sys.state_dir("a").join("streams.log")).unwrap_or_default();
            for line in log.lines() {
                let sha = line.split_whitespace().nth(3).unwrap_or("");
                assert!(
                    allowed.iter().any(|a| a == sha),
                    "round {round}: received {line}: {s:#}"
                );
            }
            // ...and runs the old or the new Artifact, never something in between.
            let v = sys.version("a");
            assert!(v == previous || v == "rtos-v2", "round {round}: {v}");
            // Move on to v3 with the Artifact whole again.
            std::fs::write(&art, &original).unwrap();
            let next = format!("sys-v3-{round}");
            sys.drop_manifest(&format!("{next}.yaml"), &sys.release_text(&next, "v3"));
            d.until("v3", |s| ready(s) && s["desiredManifest"] == next);
            assert_eq!(sys.version("a"), "rtos-v3");
            previous = "rtos-v3".into();
        });
    }
}

/// Processes' TCP sockets in LISTEN state, by inode, from /proc/net/tcp{,6}.
fn listening_inodes() -> Vec<String> {
    let mut v = Vec::new();
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in std::fs::read_to_string(f)
            .unwrap_or_default()
            .lines()
            .skip(1)
        {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.get(3) == Some(&"0A") {
                v.extend(cols.get(9).map(|s| s.to_string()));
            }
        }
    }
    v
}

fn socket_inodes(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            l.to_string_lossy()
                .strip_prefix("socket:[")
                .map(|s| s.trim_end_matches(']').to_string())
        })
        .collect()
}

#[test]
fn the_api_is_local_by_default_and_authenticated_over_tcp() {
    let mut tally = Tally::new();
    // Default: a Unix socket, 0660, and no TCP listener at all.
    tally.case(|| {
        let Some(sys) = System::served(json!({})) else {
            return;
        };
        let d = sys.start();
        let mode = std::fs::metadata(sys.socket())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o660, "socket mode {mode:o}");
        let mine = socket_inodes(d.child.id());
        assert!(!mine.is_empty());
        let listening = listening_inodes();
        assert!(
            !mine.iter().any(|i| listening.contains(i)),
            "baton run listens on TCP by default"
        );
    });
    // TCP on loopback: a token is required, the Host must be local.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let Some(sys) = System::served(json!({})) else {
        return;
    };
    let token = sys.root().join("token");
    std::fs::write(&token, "a-token-long-enough-for-baton-0123\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let conf = sys.config_path();
    let mut c: serde_json::Value = serde_json::from_slice(&std::fs::read(&conf).unwrap()).unwrap();
    c["Api"]["Tcp"] = format!("127.0.0.1:{port}").into();
    c["Api"]["TokenFile"] = token.display().to_string().into();
    std::fs::write(&conf, c.to_string()).unwrap();
    let d = sys.start();
    let ask = |method: &str, host: &str, auth: &str| -> u16 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            s,
            "{method} /v1/manifest HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    };
    let good = "Authorization: Bearer a-token-long-enough-for-baton-0123\r\n";
    for (method, host, auth, want) in [
        ("PUT", "127.0.0.1", "", 401),
        ("PUT", "127.0.0.1", "Authorization: Bearer guess\r\n", 401),
        ("GET", "localhost", "", 401),
        ("PUT", "evil.example", good, 403),
        ("GET", "evil.example:80", good, 403),
        // Authenticated: an empty Manifest is invalid, which proves the request got in.
        ("PUT", "127.0.0.1", good, 422),
    ] {
        tally.case(|| {
            assert_eq!(
                ask(method, host, auth),
                want,
                "{method} Host {host} {auth:?}"
            );
        });
    }
    drop(d);
    // A non-loopback address: baton run refuses to start.
    tally.case(|| {
        c["Api"]["Tcp"] = "0.0.0.0:7399".into();
        std::fs::write(&conf, c.to_string()).unwrap();
        let out = sys.baton().arg("run").output().unwrap();
        assert!(!out.status.success());
        let err = e2e::stderr(&out);
        assert!(err.contains("loopback"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    });
}

/// Peak resident memory of `pid`, KiB.
fn peak_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Raises this process's open-file limit (root may), so it can hold thousands of sockets.
fn raise_nofile(n: u64) {
    let _ = Command::new("prlimit")
        .args([
            "--pid",
            &std::process::id().to_string(),
            &format!("--nofile={n}:{n}"),
        ])
        .status();
}

#[test]
fn ten_thousand_concurrent_requests_and_slowloris_leave_it_responsive() {
    let Some(sys) = System::served(json!({})) else {
        return;
    };
    raise_nofile(20_000);
    let d = sys.start();
    let pid = d.child.id();
    let socket = sys.socket();
    let manifest = sys.release_text("sys-v2", "v2");
    let mut tally = Tally::new();

    // 10 000 at once: half read the status, half PUT the same Manifest.
    let codes = tally.case(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut tasks = Vec::new();
            for i in 0..10_000 {
                let (socket, body) = (socket.clone(), manifest.clone());
                tasks.push(tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let req = if i % 2 == 0 {
                        "GET /v1/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".to_string()
                    } else {
                        format!("PUT /v1/manifest HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
                    };
                    // A full listen backlog refuses a connection: a client retries.
                    let mut stream = None;
                    for _ in 0..500 {
                        match tokio::net::UnixStream::connect(&socket).await {
                            Ok(s) => {
                                stream = Some(s);
                                break;
                            }
                            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                        }
                    }
                    let mut s = stream?;
                    s.write_all(req.as_bytes()).await.ok()?;
                    let mut out = Vec::new();
                    tokio::time::timeout(Duration::from_secs(120), s.read_to_end(&mut out))
                        .await
                        .ok()?
                        .ok()?;
                    let text = String::from_utf8_lossy(&out);
                    text.split_whitespace().nth(1)?.parse::<u16>().ok()
                }));
            }
            let mut codes = std::collections::BTreeMap::<Option<u16>, usize>::new();
            for t in tasks {
                *codes.entry(t.await.unwrap()).or_default() += 1;
            }
            codes
        })
    });
    tally.note(&format!(
        "10 000 concurrent requests answered {}; peak RSS {} MiB",
        codes
            .iter()
            .map(|(c, n)| format!("{n}x {}", c.map_or("none".to_string(), |c| c.to_string())))
            .collect::<Vec<_>>()
            .join(", "),
        peak_kib(pid) / 1024
    ));
    tally.case(|| {
        let unanswered = codes.get(&None).copied().unwrap_or(0);
        assert_eq!(unanswered, 0, "requests without an answer: {codes:?}");
        for code in codes.keys().flatten() {
            assert!(
                [200, 201, 503].contains(code),
                "unexpected status {code}: {codes:?}"
            );
        }
        assert!(
            codes.get(&Some(201)).copied().unwrap_or(0) == 1,
            "one PUT made it desired: {codes:?}"
        );
    });
    tally.case(|| {
        let s = d.until("v2 deployed once", |s| {
            ready(s) && s["observedGeneration"] == 1
        });
        assert_eq!(history_len(&s), 1, "exactly one deployment");
        assert_eq!(s["generation"], 1);
        // Bounded memory: a debug build, 10 000 requests.
        let peak = peak_kib(pid);
        assert!(peak < 200 << 10, "peak RSS {peak} KiB");
    });

    // Slowloris: 200 connections sending half a request line; a normal client still gets
    // its answer, and the stalled ones are cut off within the header timeout.
    tally.case(|| {
        let mut slow: Vec<UnixStream> = (0..200)
            .map(|_| {
                let mut s = UnixStream::connect(&socket).unwrap();
                s.write_all(b"GET /v1/status HTTP/1.1\r\nHost: loc")
                    .unwrap();
                s
            })
            .collect();
        let t = Instant::now();
        let (code, _) =
            http(&socket, "GET", "/readyz", "").expect("an answer while 200 clients stall");
        assert_eq!(code, 200);
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        for s in &mut slow {
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut buf = Vec::new();
            let t = Instant::now();
            let _ = s.read_to_end(&mut buf);
            assert!(
                t.elapsed() < Duration::from_secs(15),
                "a stalled client was kept"
            );
        }
    });
    // A body that never completes: 408.
    tally.case(|| {
        let mut s = UnixStream::connect(&socket).unwrap();
        s.write_all(b"PUT /v1/manifest HTTP/1.1\r\nHost: localhost\r\nContent-Length: 500\r\n\r\napi_version").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    });
    assert!(ready(&d.status()), "still ready after all that");
}

#[test]
fn signed_manifests_are_required_from_the_directory_and_the_api() {
    if !need::have(need::tools(&["openssl", "base64"])) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (key, public) = keys::rsa(tmp.path(), "ours");
    let (theirs, _) = keys::rsa(tmp.path(), "theirs");
    let Some(sys) =
        System::served(json!({"RequireSignedManifests": true, "ArtifactVerifyKey": public}))
    else {
        return;
    };
    // The same key verifies the Artifacts.
    sys.sign_artifacts(&key);
    let d = sys.start();
    let mut tally = Tally::new();
    let stage = |name: &str, version: &str| {
        let f = sys.root().join(format!("{name}.yaml"));
        std::fs::write(&f, sys.release_text(name, version)).unwrap();
        f
    };
    // Unsigned, or signed by another key: rejected from the directory, with the reason.
    for (what, signer) in [("unsigned", None), ("another key", Some(&theirs))] {
        tally.case(|| {
            let f = stage("sys-bad", "v2");
            if let Some(k) = signer {
                std::fs::write(sys.watch().join("bad.yaml.sig"), keys::sign(k, &f)).unwrap();
            }
            sys.drop_manifest("bad.yaml", &std::fs::read_to_string(&f).unwrap());
            let error = sys.watch().join("rejected/bad.yaml.error");
            assert!(until_exists(&error), "{what}: not rejected");
            let why = std::fs::read_to_string(&error).unwrap();
            let want = if signer.is_none() {
                "not signed"
            } else {
                "does not verify"
            };
            assert!(why.contains(want), "{what}: {why}");
            std::fs::remove_file(&error).unwrap();
            let _ = std::fs::remove_file(sys.watch().join("rejected/bad.yaml"));
            let _ = std::fs::remove_file(sys.watch().join("rejected/bad.yaml.sig"));
        });
    }
    // Signed, the signature dropped first: applied and deployed; the .sig moves along.
    tally.case(|| {
        let f = stage("sys-v2", "v2");
        std::fs::write(sys.watch().join("v2.yaml.sig"), keys::sign(&key, &f)).unwrap();
        sys.drop_manifest("v2.yaml", &std::fs::read_to_string(&f).unwrap());
        d.until("v2 deployed", |s| ready(s) && s["observedGeneration"] == 1);
        assert!(sys.watch().join("applied/1-v2.yaml.sig").exists());
        assert!(pending_files(&sys).is_empty());
    });
    // The API: without the signature 400, with it 201; `baton apply` sends `<file>.sig`.
    tally.case(|| {
        let f = stage("sys-v3", "v3");
        let body = std::fs::read_to_string(&f).unwrap();
        let (code, text) = http(&sys.socket(), "PUT", "/v1/manifest", &body).unwrap();
        assert_eq!(code, 422, "{text}");
        assert!(text.contains("not signed"), "{text}");
        let sig = keys::sign(&key, &f);
        let mut s = UnixStream::connect(sys.socket()).unwrap();
        write!(
            s,
            "PUT /v1/manifest HTTP/1.1\r\nHost: localhost\r\nx-baton-signature: {sig}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 201"), "{out}");
        d.until("v3 deployed", |s| ready(s) && s["observedGeneration"] == 2);
    });
    tally.case(|| {
        let f = stage("sys-v2b", "v2");
        let out = sys.baton().args(["apply", "-f"]).arg(&f).output().unwrap();
        assert!(!out.status.success(), "applied without a signature");
        assert!(
            e2e::stderr(&out).contains("not signed"),
            "{}",
            e2e::stderr(&out)
        );
        std::fs::write(
            baton::signed_manifest::signature_path(&f),
            keys::sign(&key, &f),
        )
        .unwrap();
        let out = sys.baton().args(["apply", "-f"]).arg(&f).output().unwrap();
        assert!(out.status.success(), "{}", e2e::stderr(&out));
        d.until("v2b deployed", |s| ready(s) && s["observedGeneration"] == 3);
    });
    // A key file that cannot be read: baton run refuses to start (fail closed).
    tally.case(|| {
        drop(d);
        sys.configure(json!({"ArtifactVerifyKey": sys.root().join("no-such-key.pem")}));
        let out = sys.baton().arg("run").output().unwrap();
        assert!(!out.status.success());
        assert!(
            e2e::stderr(&out).contains("no-such-key.pem"),
            "{}",
            e2e::stderr(&out)
        );
    });
}
