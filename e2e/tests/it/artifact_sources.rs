//! Artifact sources and the cache against real files and a real local HTTP(S) server:
//! artifact_path, directories indexed by header name, URL templates with resume, stall
//! timeout, size cap, retries, name checks, and one fetch shared through the cache.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use baton::artifact::cache::{ArtifactsCache, CacheConfig};
use baton::artifact::source::{ArtifactLocator, HttpOptions, Origin, Resolver, SourceSpec};
use baton::artifact::testkit::ArtifactBuilder;
use baton::artifact::{Limits, VerifyPolicy};

fn artifact(name: &str, size: usize) -> Vec<u8> {
    ArtifactBuilder::new(name, "t", "d")
        .file(
            "f",
            (0..size).map(|i| (i * 31 % 251) as u8).collect::<Vec<u8>>(),
        )
        .compression(baton::artifact::Compression::None)
        .build()
}

fn fast() -> HttpOptions {
    HttpOptions {
        stall_timeout: Duration::from_millis(300),
        connect_timeout: Duration::from_secs(2),
        retries: 3,
        backoff_base: Duration::from_millis(10),
        backoff_cap: Duration::from_millis(50),
        ..HttpOptions::default()
    }
}

fn resolver(
    sources: Vec<SourceSpec>,
    staging: &Path,
    http: HttpOptions,
    cache: Option<ArtifactsCache>,
) -> Resolver {
    Resolver::new(
        sources,
        VerifyPolicy::none(),
        Limits::default(),
        http,
        staging,
        cache,
        baton::metrics::Metrics::default(),
    )
    .unwrap()
}

fn by_name(name: &str) -> ArtifactLocator<'_> {
    ArtifactLocator {
        artifact_name: Some(name),
        ..Default::default()
    }
}

/// What the test server does for a path.
#[derive(Clone)]
enum Behaviour {
    Serve(Vec<u8>),
    /// First request: announce everything, send `cut` bytes, hang up; then honour Range.
    BreakOnce(Vec<u8>, usize),
    /// Send a few bytes, then go silent.
    Stall(Vec<u8>),
    /// Status 500 `n` times, then serve.
    FailTimes(Vec<u8>, usize),
    /// No Content-Length, close-delimited, `n` bytes of zeros.
    Endless(usize),
}

/// Requests seen: (path, first byte of a Range request).
type Log = Arc<Mutex<Vec<(String, Option<String>)>>>;

struct Server {
    addr: String,
    requests: Log,
}

fn serve(routes: HashMap<String, Behaviour>, tls: Option<Arc<rustls::ServerConfig>>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    let counts = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
    std::thread::spawn(move || {
        for stream in listener.incoming().take(200) {
            let Ok(stream) = stream else { continue };
            let (routes, seen, counts, tls) =
                (routes.clone(), seen.clone(), counts.clone(), tls.clone());
            std::thread::spawn(move || match tls {
                Some(cfg) => {
                    let conn = rustls::ServerConnection::new(cfg).unwrap();
                    handle(
                        rustls::StreamOwned::new(conn, stream),
                        &routes,
                        &seen,
                        &counts,
                    );
                }
                None => handle(stream, &routes, &seen, &counts),
            });
        }
    });
    Server { addr, requests }
}

fn handle<S: Read + Write>(
    stream: S,
    routes: &HashMap<String, Behaviour>,
    seen: &Mutex<Vec<(String, Option<String>)>>,
    counts: &Mutex<HashMap<String, usize>>,
) {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    if r.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut range = None;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("range: bytes=") {
            range = Some(v.trim().trim_end_matches('-').to_owned());
        }
    }
    seen.lock().unwrap().push((path.clone(), range.clone()));
    let n = {
        let mut c = counts.lock().unwrap();
        let e = c.entry(path.clone()).or_default();
        *e += 1;
        *e
    };
    let mut s = r.into_inner();
    let full = |s: &mut S, body: &[u8], range: Option<String>| {
        let from: usize = range.and_then(|r| r.parse().ok()).unwrap_or(0);
        if from > 0 {
            let _ = write!(s, "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {from}-{}/{}\r\nConnection: close\r\n\r\n", body.len() - from, body.len() - 1, body.len());
        } else {
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
        }
        let _ = s.write_all(&body[from..]);
        let _ = s.flush();
    };
    match routes.get(&path) {
        None => {
            let _ = write!(
                s,
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
        Some(Behaviour::Serve(b)) => full(&mut s, b, range),
        Some(Behaviour::BreakOnce(b, cut)) if n == 1 => {
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                b.len()
            );
            let _ = s.write_all(&b[..*cut]);
            let _ = s.flush();
        }
        Some(Behaviour::BreakOnce(b, _)) => full(&mut s, b, range),
        Some(Behaviour::Stall(b)) => {
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                b.len()
            );
            let _ = s.write_all(&b[..100]);
            let _ = s.flush();
            std::thread::sleep(Duration::from_secs(3));
        }
        Some(Behaviour::FailTimes(_, k)) if n <= *k => {
            let _ = write!(
                s,
                "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
        Some(Behaviour::FailTimes(b, _)) => full(&mut s, b, range),
        Some(Behaviour::Endless(n)) => {
            let _ = write!(s, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
            for _ in 0..n / 4096 {
                if s.write_all(&[0u8; 4096]).is_err() {
                    break;
                }
            }
        }
    }
}

#[test]
fn artifact_path_wins_and_falls_back_to_the_name() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    std::fs::write(dir.path().join("local.mender"), artifact("local-v1", 10)).unwrap();
    std::fs::write(repo.join("x.mender"), artifact("named-v1", 10)).unwrap();
    let r = resolver(
        vec![SourceSpec::Directory { path: repo.clone() }],
        &dir.path().join("staging"),
        fast(),
        None,
    );
    let base = dir.path();
    let rel = Path::new("local.mender");
    let found = r
        .resolve(&ArtifactLocator {
            artifact_path: Some(rel),
            artifact_name: Some("named-v1"),
            base_dir: Some(base),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        (found[0].header.name.as_str(), &found[0].origin),
        ("local-v1", &Origin::Path)
    );
    let missing = Path::new("missing.mender");
    let found = r
        .resolve(&ArtifactLocator {
            artifact_path: Some(missing),
            artifact_name: Some("named-v1"),
            base_dir: Some(base),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(found[0].header.name, "named-v1");
    let err = r
        .resolve(&ArtifactLocator {
            artifact_path: Some(missing),
            artifact_name: None,
            base_dir: Some(base),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(err.reason(), "not_found");
    assert_eq!(
        r.resolve(&ArtifactLocator::default()).unwrap_err().reason(),
        "no_locator"
    );
}

#[test]
fn a_directory_is_indexed_by_header_name() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    std::fs::write(repo.join("big.mender"), artifact("rtos-v2", 50_000)).unwrap();
    std::fs::write(repo.join("small.bin"), artifact("rtos-v2", 100)).unwrap();
    std::fs::write(repo.join("other.mender"), artifact("rtos-v1", 10)).unwrap();
    std::fs::write(repo.join("junk.mender"), b"not an artifact").unwrap();
    std::fs::create_dir(repo.join("subdir")).unwrap();
    let r = resolver(
        vec![SourceSpec::Directory { path: repo.clone() }],
        &dir.path().join("s"),
        fast(),
        None,
    );
    let found = r.resolve(&by_name("rtos-v2")).unwrap();
    let files: Vec<_> = found
        .iter()
        .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["small.bin", "big.mender"]);
    // Rewriting a file is noticed (the index is keyed by mtime and size).
    std::fs::write(repo.join("other.mender"), artifact("rtos-v2", 10)).unwrap();
    assert_eq!(r.resolve(&by_name("rtos-v2")).unwrap().len(), 3);
    assert_eq!(
        r.resolve(&by_name("absent")).unwrap_err().reason(),
        "not_found"
    );
}

#[test]
fn urls_download_resume_retry_and_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let body = artifact("web-v1", 300_000);
    let mut routes = HashMap::new();
    routes.insert(
        "/ok/web-v1.mender".to_string(),
        Behaviour::Serve(body.clone()),
    );
    routes.insert(
        "/break/web-v1.mender".to_string(),
        Behaviour::BreakOnce(body.clone(), 100_000),
    );
    routes.insert(
        "/flaky/web-v1.mender".to_string(),
        Behaviour::FailTimes(body.clone(), 2),
    );
    routes.insert(
        "/down/web-v1.mender".to_string(),
        Behaviour::FailTimes(body.clone(), 5),
    );
    routes.insert(
        "/stall/web-v1.mender".to_string(),
        Behaviour::Stall(body.clone()),
    );
    routes.insert(
        "/endless/web-v1.mender".to_string(),
        Behaviour::Endless(8 << 20),
    );
    routes.insert(
        "/wrong/web-v1.mender".to_string(),
        Behaviour::Serve(artifact("other", 10)),
    );
    routes.insert(
        "/ok/a%20b%2Fc.mender".to_string(),
        Behaviour::Serve(artifact("a b/c", 10)),
    );
    let server = serve(routes, None);
    let url = |kind: &str| SourceSpec::Url {
        template: format!("http://{}/{kind}/{{artifact_name}}.mender", server.addr),
    };
    let staging = dir.path().join("staging");
    let resolve = |kind: &str, http: HttpOptions| {
        resolver(vec![url(kind)], &staging, http, None).resolve(&by_name("web-v1"))
    };

    let got = resolve("ok", fast()).unwrap();
    assert_eq!(std::fs::read(&got[0].path).unwrap(), body);
    assert!(matches!(got[0].origin, Origin::Url(_)));
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&got[0].path).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        std::fs::metadata(&staging).unwrap().permissions().mode() & 0o777,
        0o700
    );

    let got = resolve("break", fast()).unwrap();
    assert_eq!(std::fs::read(&got[0].path).unwrap(), body);
    let reqs = server.requests.lock().unwrap().clone();
    assert!(
        reqs.contains(&("/break/web-v1.mender".into(), Some("100000".into()))),
        "no Range resume: {reqs:?}"
    );

    assert!(resolve("flaky", fast()).is_ok());
    let no_retries = HttpOptions {
        retries: 1,
        ..fast()
    };
    server.requests.lock().unwrap().clear();
    assert_eq!(
        resolve("down", no_retries.clone()).unwrap_err().reason(),
        "http"
    );
    let downs = server
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p.starts_with("/down/"))
        .count();
    assert_eq!(downs, 2, "one attempt and one retry");

    let t = Instant::now();
    let err = resolve("stall", no_retries.clone()).unwrap_err();
    assert_eq!(err.reason(), "http", "{err}");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "stall not detected: {:?}",
        t.elapsed()
    );

    let small = HttpOptions {
        max_bytes: 1 << 20,
        ..fast()
    };
    assert_eq!(
        resolve(
            "ok",
            HttpOptions {
                max_bytes: 1000,
                ..fast()
            }
        )
        .unwrap_err()
        .reason(),
        "size_limit"
    );
    assert_eq!(
        resolve("endless", small).unwrap_err().reason(),
        "size_limit"
    );
    assert_eq!(
        resolve("wrong", fast()).unwrap_err().reason(),
        "name_mismatch"
    );
    assert_eq!(
        resolve("missing", fast()).unwrap_err().reason(),
        "not_found"
    );
    // The name is URL-encoded into the template.
    let r = resolver(vec![url("ok")], &staging, fast(), None);
    assert_eq!(
        r.resolve(&by_name("a b/c")).unwrap()[0].header.name,
        "a b/c"
    );
    // Nothing partial is left behind.
    let leftovers: Vec<PathBuf> = std::fs::read_dir(&staging)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "part"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

use std::os::unix::fs::PermissionsExt;

#[test]
fn components_sharing_an_artifact_fetch_it_once_through_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = dir.path().join("cache");
    std::fs::create_dir(&cache_dir).unwrap();
    let mut routes = HashMap::new();
    routes.insert(
        "/a/shared-v1.mender".to_string(),
        Behaviour::Serve(artifact("shared-v1", 2_000_000)),
    );
    routes.insert(
        "/a/other-v1.mender".to_string(),
        Behaviour::Serve(artifact("other-v1", 10)),
    );
    let server = serve(routes, None);
    let cfg = CacheConfig {
        enabled: true,
        path: Some(cache_dir.clone()),
        max_size_bytes: 0,
    };
    let cache = ArtifactsCache::open(&cfg, &cache_dir, baton::metrics::Metrics::default()).unwrap();
    let r = Arc::new(resolver(
        vec![SourceSpec::Url {
            template: format!("http://{}/a/{{artifact_name}}.mender", server.addr),
        }],
        &dir.path().join("staging"),
        fast(),
        Some(cache),
    ));
    let done = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (r, done) = (r.clone(), done.clone());
            std::thread::spawn(move || {
                let got = r.resolve(&by_name("shared-v1")).unwrap();
                done.fetch_add(1, Ordering::SeqCst);
                got[0].path.clone()
            })
        })
        .collect();
    let paths: Vec<PathBuf> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(paths
        .iter()
        .all(|p| p == &paths[0] && p.starts_with(&cache_dir)));
    let gets = server
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p == "/a/shared-v1.mender")
        .count();
    assert_eq!(gets, 1, "one fetch for four components");
    // A second deployment uses only other-v1: shared-v1 is evicted at its end.
    r.cache().unwrap().end_of_deployment();
    r.resolve(&by_name("other-v1")).unwrap();
    let ev = r.cache().unwrap().end_of_deployment();
    assert_eq!(ev.unused.len(), 1, "{ev:?}");
    assert!(!paths[0].exists());
    // A cache that cannot store does not fail the deployment.
    std::fs::remove_dir_all(&cache_dir).unwrap();
    let got = r.resolve(&by_name("shared-v1")).unwrap();
    assert!(
        matches!(got[0].origin, Origin::Url(_)),
        "{:?}",
        got[0].origin
    );
}

#[test]
fn https_with_a_private_ca() {
    if !e2e::need::have(e2e::need::tool("openssl")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let (ca, ca_key, cert, key, csr) = (
        p("ca.pem"),
        p("ca-key.pem"),
        p("cert.pem"),
        p("key.pem"),
        p("req.csr"),
    );
    let openssl = |args: &[&str]| {
        e2e::ok(
            std::process::Command::new("openssl")
                .current_dir(dir.path())
                .args(args),
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test CA",
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "key.pem",
        "-out",
        "req.csr",
    ]);
    std::fs::write(
        p("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "req.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca-key.pem",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "cert.pem",
    ]);
    let _ = (&ca_key, &csr);
    use rustls::pki_types::pem::PemObject;
    let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_file_iter(&cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let pk = rustls::pki_types::PrivateKeyDer::from_pem_file(&key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, pk)
        .unwrap();
    let body = artifact("tls-v1", 5000);
    let server = serve(
        HashMap::from([("/tls-v1.mender".to_string(), Behaviour::Serve(body.clone()))]),
        Some(Arc::new(cfg)),
    );
    let template = format!("https://{}/{{artifact_name}}.mender", server.addr);
    let staging = dir.path().join("staging");
    // Trusting only the built-in roots, the private certificate is refused.
    let err = resolver(
        vec![SourceSpec::Url {
            template: template.clone(),
        }],
        &staging,
        HttpOptions {
            retries: 0,
            ..fast()
        },
        None,
    )
    .resolve(&by_name("tls-v1"))
    .unwrap_err();
    assert_eq!(err.reason(), "http", "{err}");
    let trusting = HttpOptions {
        server_certificate: Some(ca.clone()),
        ..fast()
    };
    let got = resolver(vec![SourceSpec::Url { template }], &staging, trusting, None)
        .resolve(&by_name("tls-v1"))
        .unwrap();
    assert_eq!(std::fs::read(&got[0].path).unwrap(), body);
}
