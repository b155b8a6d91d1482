//! Slow and endless downloads (reliability.md §9 row 22, Uptane's slow retrieval and endless
//! data): a local server that trickles, sends more or less than it announces, never ends,
//! redirects in a loop. Every download ends within its bounds with a typed error and leaves
//! no partial file; through the binary, a deployment from such a server is refused before
//! any state and leaves no download behind, and a good one leaves none either.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use baton::artifact::source::rate::MinRate;
use baton::artifact::source::{ArtifactLocator, HttpOptions, Resolver, SourceSpec};
use baton::artifact::testkit::ArtifactBuilder;
use baton::artifact::{Compression, Limits, VerifyPolicy};
use e2e::fixture::{Component, System};
use e2e::reliability::Tally;
use e2e::stderr;

/// Serves every connection with `answer(path, stream)` on its own thread.
fn serve(answer: impl Fn(&str, &mut TcpStream) + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut line = String::new();
                let mut r = BufReader::new(stream.try_clone().unwrap());
                if r.read_line(&mut line).is_err() {
                    return;
                }
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                answer(&path, &mut stream);
            });
        }
    });
    addr
}

fn artifact(name: &str, t: &str) -> Vec<u8> {
    ArtifactBuilder::new(name, "mock", t)
        .file("payload.bin", vec![7u8; 200 << 10])
        .compression(Compression::None)
        .build()
}

fn head(s: &mut TcpStream, len: Option<usize>) {
    let _ = match len {
        Some(n) => write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n"
        ),
        None => write!(s, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"),
    };
}

/// The server's behaviours, by path prefix.
fn behaviours(body: Vec<u8>) -> String {
    serve(move |path, s| match path.split('/').nth(1).unwrap_or("") {
        "ok" => {
            head(s, Some(body.len()));
            let _ = s.write_all(&body);
        }
        // One byte every 20 ms: never silent for the stall timeout, far below the minimum.
        "trickle" => {
            head(s, Some(body.len()));
            for b in &body {
                if s.write_all(&[*b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // More bytes than announced: the announcement is what counts.
        "more" => {
            head(s, Some(body.len() / 2));
            let _ = s.write_all(&body);
        }
        // Fewer bytes than announced, then the connection closes (every time).
        "less" => {
            head(s, Some(body.len()));
            let _ = s.write_all(&body[..body.len() / 2]);
        }
        // No length, no end.
        "endless" => {
            head(s, None);
            let zeros = [0u8; 1 << 16];
            while s.write_all(&zeros).is_ok() {}
        }
        "loop" => {
            let _ = write!(
                s,
                "HTTP/1.1 302 Found\r\nLocation: {path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
        _ => {
            let _ = write!(s, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        }
    })
}

fn opts() -> HttpOptions {
    HttpOptions {
        stall_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(2),
        min_rate: MinRate {
            bytes: 32 << 10,
            window: Duration::from_secs(1),
        },
        max_bytes: 4 << 20,
        retries: 1,
        backoff_base: Duration::from_millis(10),
        backoff_cap: Duration::from_millis(20),
        ..HttpOptions::default()
    }
}

/// Resolves `mcu-v2` from `http://addr/<kind>/`, downloading into `staging`.
fn fetch(
    addr: &str,
    kind: &str,
    staging: &Path,
) -> Result<Vec<baton::artifact::source::Resolved>, baton::artifact::source::SourceError> {
    let r = Resolver::new(
        vec![SourceSpec::Url {
            template: format!("http://{addr}/{kind}/{{artifact_name}}.mender"),
        }],
        VerifyPolicy::none(),
        Limits::default(),
        opts(),
        staging,
        None,
        baton::metrics::Metrics::default(),
    )
    .unwrap();
    r.resolve(&ArtifactLocator {
        artifact_name: Some("mcu-v2"),
        ..Default::default()
    })
}

fn no_partial_files(staging: &Path, what: &str) {
    let left: Vec<_> = std::fs::read_dir(staging)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "part"))
        .collect();
    assert!(left.is_empty(), "{what}: {left:?}");
}

#[test]
fn slow_short_long_and_endless_downloads_end_within_bounds() {
    let body = artifact("mcu-v2", "mcu");
    let addr = behaviours(body.clone());
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging");
    let mut tally = Tally::new();
    // (path kind, expected reason, upper bound on the whole resolve)
    let cases = [
        ("trickle", "http", Duration::from_secs(10)),
        ("less", "http", Duration::from_secs(10)),
        ("endless", "size_limit", Duration::from_secs(10)),
        ("loop", "http", Duration::from_secs(10)),
    ];
    for (kind, reason, bound) in cases {
        tally.case(|| {
            let t = Instant::now();
            let err = fetch(&addr, kind, &staging).unwrap_err();
            let took = t.elapsed();
            assert_eq!(err.reason(), reason, "{kind}: {err}");
            assert!(took < bound, "{kind}: took {took:?}");
            if kind == "trickle" {
                assert!(err.to_string().contains("too slow"), "{kind}: {err}");
            }
            no_partial_files(&staging, kind);
        });
    }
    // More than announced: the download stops at the announced length, and the Artifact cut
    // there does not verify.
    tally.case(|| {
        match fetch(&addr, "more", &staging) {
            Err(_) => {}
            Ok(found) => {
                let got = std::fs::read(&found[0].path).unwrap();
                assert_eq!(got.len(), body.len() / 2, "stopped at the announced length");
                assert!(
                    baton::artifact::verify_file(
                        &found[0].path,
                        &VerifyPolicy::none(),
                        &Limits::default()
                    )
                    .is_err(),
                    "a cut Artifact never verifies"
                );
            }
        }
        no_partial_files(&staging, "more");
    });
}

/// A System whose mcu Artifact comes only from `http://addr/<kind>/` (the gateway's from the
/// directory source); returns it and its `v2` Manifest.
fn url_system(addr: &str, kind: &str) -> (System, std::path::PathBuf) {
    let s = System::new(vec![
        Component::new("gw", "gateway", 10),
        Component::new("m1", "mcu", 20),
    ]);
    let m = s.release("v2");
    std::fs::remove_file(s.artifacts_dir().join("mcu-v2.mender")).unwrap();
    s.configure(serde_json::json!({"ArtifactSources": [
        {"Type": "directory", "Path": s.artifacts_dir()},
        {"Type": "url", "Template": format!("http://{addr}/{kind}/{{artifact_name}}.mender")},
    ]}));
    (s, m)
}

#[test]
fn a_deployment_from_a_bad_server_is_refused_and_leaves_no_download() {
    let good = artifact("mcu-v2", "mcu");
    let addr = behaviours(good);
    let mut tally = Tally::new();
    // (A server that breaks off is retried with backoff for minutes by default: that case is
    // checked above with short timings.)
    for (kind, ok) in [("ok", true), ("more", false)] {
        tally.case(|| {
            let (s, m) = url_system(&addr, kind);
            let out = s.run(&["install", "-o", "json", m.to_str().unwrap()]);
            let report: serde_json::Value =
                serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
            if ok {
                assert_eq!(out.status.code(), Some(0), "{kind}: {}", stderr(&out));
                assert_eq!(s.versions(), ["gateway-v2", "mcu-v2"]);
            } else {
                assert_eq!(out.status.code(), Some(1), "{kind}: {}", stderr(&out));
                assert_eq!(report["end"]["result"], "rejected", "{kind}: {report}");
                for c in ["gw", "m1"] {
                    assert!(s.protocol_calls(c).is_empty(), "{kind}: {c} was called");
                }
                assert_eq!(s.versions(), ["gateway-v1", "mcu-v1"]);
            }
            // What was downloaded for the deployment is gone once it is over.
            let downloads = s.datastore().join("downloads");
            let left: Vec<_> = std::fs::read_dir(&downloads)
                .map(|d| d.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            assert!(left.is_empty(), "{kind}: {left:?}");
        });
    }
}

/// The `debug` lines where the reconciler decided to preview the desired Manifest.
fn previews(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("reconcile") && l.contains("decision=Preview"))
        .count()
}

#[test]
fn a_converged_daemon_does_not_download_its_artifacts_again_at_every_resync() {
    let Some(sys) = System::served(serde_json::json!({"LogLevel": "debug"})) else {
        return;
    };
    // rtos-v2 only from a counting URL source; the gateway's from the directory.
    let rtos = sys.artifacts_dir().join("rtos-v2.mender");
    let body = std::fs::read(&rtos).unwrap();
    std::fs::remove_file(&rtos).unwrap();
    let gets = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = gets.clone();
    let addr = serve(move |_, s| {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        head(s, Some(body.len()));
        let _ = s.write_all(&body);
    });
    sys.configure(serde_json::json!({"ArtifactSources": [
        {"Type": "directory", "Path": sys.artifacts_dir()},
        {"Type": "url", "Template": format!("http://{addr}/{{artifact_name}}.mender")},
    ]}));
    let d = sys.start();
    sys.drop_manifest("v2.yaml", &sys.release_text("sys-v2", "v2"));
    d.until("v2 deployed and ready", |s| {
        s["desiredManifest"] == "sys-v2" && e2e::fixture::ready(s)
    });
    assert_eq!(sys.versions(), ["rtos-v2", "gateway-v2"]);
    // Resyncs every 2 s: wait for a few previews of the converged System, then a few more.
    let wait_previews = |more: usize| {
        let target = previews(&d.log_text()) + more;
        let t = Instant::now();
        while previews(&d.log_text()) < target {
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "no resync previews; log:\n{}",
                d.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_previews(2);
    let settled = gets.load(std::sync::atomic::Ordering::SeqCst);
    // The deployment's download, and a preview's before and after the System changed.
    assert!((1..=3).contains(&settled), "{settled} downloads");
    wait_previews(3);
    assert_eq!(
        gets.load(std::sync::atomic::Ordering::SeqCst),
        settled,
        "a preview of a converged System downloaded rtos-v2 again; log:\n{}",
        d.log_text()
    );
}
