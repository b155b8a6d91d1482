//! A real Prometheus (Debian's `prometheus` package) for end-to-end tests: started on
//! 127.0.0.1 with a private TSDB, queried through its HTTP API, killed when dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A port nobody listens on right now (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A GET over loopback TCP: (status code, body). HTTP/1.0, so the answer is never chunked.
pub fn get(port: u16, path_and_query: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(
        s,
        "GET {path_and_query} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw);
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((code, body))
}

/// A running Prometheus; killed (and reaped) on drop, whatever the test did.
pub struct Prometheus {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Prometheus {
    /// Starts `prometheus` with `config` (YAML text) in `dir` and waits until it is ready.
    pub fn start(dir: &Path, config: &str) -> Prometheus {
        std::fs::create_dir_all(dir).unwrap();
        let conf = dir.join("prometheus.yml");
        std::fs::write(&conf, config).unwrap();
        let out = Command::new("promtool")
            .arg("check")
            .arg("config")
            .arg(&conf)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool check config:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let log = dir.join("prometheus.log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", conf.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("prometheus starts");
        let mut p = Prometheus { child, port, log };
        let t = Instant::now();
        loop {
            if let Some((200, _)) = get(port, "/-/ready") {
                return p;
            }
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("prometheus exited ({status}):\n{}", p.log_text());
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "prometheus never became ready:\n{}",
                p.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET /api/v1/<what>` and its `data`, or what went wrong.
    pub fn api(&self, what: &str) -> Result<Value, String> {
        let (code, body) =
            get(self.port, &format!("/api/v1/{what}")).ok_or("Prometheus did not answer")?;
        let v: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
        if code != 200 || v["status"] != "success" {
            return Err(format!("HTTP {code}: {body}"));
        }
        Ok(v["data"].clone())
    }

    /// An instant query now: its result (a vector's samples, or a scalar as one sample).
    pub fn query(&self, expr: &str) -> Result<Vec<Sample>, String> {
        let data = self.api(&format!("query?query={}", encode(expr)))?;
        match data["resultType"].as_str() {
            Some("vector") => Ok(data["result"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|s| Sample {
                    labels: s["metric"].clone(),
                    value: s["value"][1].as_str().unwrap_or("").to_string(),
                })
                .collect()),
            Some("scalar") => Ok(vec![Sample {
                labels: Value::Null,
                value: data["result"][1].as_str().unwrap_or("").to_string(),
            }]),
            other => Err(format!("unexpected result type {other:?}: {data}")),
        }
    }

    /// The one value of `expr` (the sum of its samples), waiting up to `within` for it to
    /// exist and satisfy `ok`.
    pub fn wait_value(&self, expr: &str, within: Duration, ok: impl Fn(f64) -> bool) -> f64 {
        let t = Instant::now();
        let mut last = Err(String::from("not asked yet"));
        while t.elapsed() < within {
            last = self.query(expr);
            if let Ok(samples) = &last {
                if !samples.is_empty() {
                    let v: f64 = samples.iter().map(Sample::number).sum();
                    if ok(v) {
                        return v;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("Prometheus: `{expr}` never came right; last answer: {last:?}");
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One sample of a query result.
#[derive(Debug, Clone)]
pub struct Sample {
    pub labels: Value,
    pub value: String,
}

impl Sample {
    /// The value as a number (NaN if it is not one).
    pub fn number(&self) -> f64 {
        self.value.parse().unwrap_or(f64::NAN)
    }
}

/// What a test of a real Prometheus needs: the server and its `promtool`.
pub fn tools() -> crate::need::Check {
    crate::need::tools(&["prometheus", "promtool"])
}
