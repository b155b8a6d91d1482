//! Benchmark of `baton run` on a scratch System of mock components.
//!
//!     bench-controller [--idle-seconds 60] [--drops 10] [--concurrency 1000]
//!
//! Prints, each with its target and a baseline measured in the same run:
//! - idle RSS and CPU of the converged daemon over `--idle-seconds` (and its wake-ups per
//!   second: no busy polling means near zero), against an idle `sleep` process;
//! - the time from a Manifest file landing in the watched directory to the first Interface
//!   call, against the time to start the same Interface wrapper directly;
//! - `GET /v1/status` latency with `--concurrency` requests at once over the Unix socket,
//!   against one request alone.
//!
//! Uses `$BATON_BIN` (build with `cargo build --release` for the figures that matter).
//! Needs `mender-artifact` for the System's Artifacts.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use e2e::controller::{http, ready, System};
use serde_json::json;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Context switches of every thread of `pid`: each is a wake-up.
fn switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .map(|t| {
            let s = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
            s.lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum()
}

/// (RSS KiB, utime+stime ticks, context switches of all threads)
fn sample(pid: u32) -> (u64, u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is field 3.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = after
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let ticks = f.get(10).copied().unwrap_or(0) + f.get(11).copied().unwrap_or(0);
    (field("VmRSS:"), ticks, switches(pid))
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn starts(sys: &System) -> Vec<u128> {
    std::fs::read_to_string(sys.component("a").join("starts.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn status_request(socket: &Path) -> Duration {
    let t = Instant::now();
    let mut s = UnixStream::connect(socket).expect("connect");
    s.write_all(b"GET /v1/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    assert!(
        out.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&out[..out.len().min(200)])
    );
    t.elapsed()
}

/// The 1-minute load average: other work on the machine skews every figure.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_string()
}

/// `n` status requests at once; each one's latency in ms.
fn burst(socket: &Path, n: usize) -> Vec<f64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let s = socket.to_path_buf();
                tokio::spawn(async move {
                    let t = Instant::now();
                    let mut c = tokio::net::UnixStream::connect(&s).await.expect("connect");
                    c.write_all(
                        b"GET /v1/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                    )
                    .await
                    .unwrap();
                    let mut out = Vec::new();
                    c.read_to_end(&mut out).await.unwrap();
                    assert!(
                        out.starts_with(b"HTTP/1.1 200"),
                        "{}",
                        String::from_utf8_lossy(&out)
                    );
                    t.elapsed().as_secs_f64() * 1e3
                })
            })
            .collect();
        let mut v = Vec::with_capacity(n);
        for t in tasks {
            v.push(t.await.unwrap());
        }
        v
    })
}

fn main() {
    let idle = arg("--idle-seconds", 60);
    let drops = arg("--drops", 10) as usize;
    let concurrency = arg("--concurrency", 1000) as usize;
    let Some(sys) = System::new(json!({"ResyncIntervalSeconds": 600, "DriftPolicy": "warn"}))
    else {
        std::process::exit(1);
    };
    println!("bench-controller: baton = {}", e2e::baton_bin().display());
    let d = sys.start();
    let pid = d.child.id();

    // 1. File landing -> first Interface call.
    let mut landing = Vec::new();
    for i in 0..drops {
        let version = if i % 2 == 0 { "v2" } else { "v3" };
        let before = starts(&sys).len();
        let text = sys.manifest(&format!("bench-{i}"), version);
        let tmp = sys.watch().join(format!(".{i}.part"));
        std::fs::write(&tmp, text).unwrap();
        let t0 = now_ns();
        std::fs::rename(&tmp, sys.watch().join(format!("{i}.yaml"))).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let first = loop {
            if let Some(t) = starts(&sys).get(before) {
                break *t;
            }
            assert!(
                Instant::now() < deadline,
                "no Interface call after the drop"
            );
            std::thread::sleep(Duration::from_millis(1));
        };
        landing.push((first.saturating_sub(t0)) as f64 / 1e6);
        d.until("ready", |s| {
            ready(s) && s["observedGeneration"] == (i + 1) as u64
        });
    }
    // Baseline: starting the same wrapper directly (process start + its timestamp).
    let mut direct = Vec::new();
    let wrapper = sys.root().join("data/interfaces/v1/mock");
    for _ in 0..drops.max(5) {
        let before = starts(&sys).len();
        let t0 = now_ns();
        Command::new(&wrapper)
            .args(["UnknownState", "/tmp", "rtos"])
            .arg(sys.component("a"))
            .status()
            .unwrap();
        let t = starts(&sys)[before];
        direct.push((t.saturating_sub(t0)) as f64 / 1e6);
    }
    landing.sort_by(f64::total_cmp);
    direct.sort_by(f64::total_cmp);
    println!(
        "file landing -> first Interface call: p50 {:.1} ms, max {:.1} ms over {} drops (target < 100 ms); \
baseline (start the Interface directly): p50 {:.1} ms; ratio {:.1}x",
        percentile(&landing, 0.5),
        landing.last().unwrap(),
        landing.len(),
        percentile(&direct, 0.5),
        percentile(&landing, 0.5) / percentile(&direct, 0.5)
    );

    // 2. Idle once converged.
    std::thread::sleep(Duration::from_secs(1));
    let mut sleeper = Command::new("sleep")
        .arg((idle + 5).to_string())
        .spawn()
        .unwrap();
    let (_, t0, c0) = sample(pid);
    let (_, s0, sc0) = sample(sleeper.id());
    std::thread::sleep(Duration::from_secs(idle));
    let (rss, t1, c1) = sample(pid);
    let (srss, s1, sc1) = sample(sleeper.id());
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let hz = 100.0; // USER_HZ on Linux
    let cpu = t1.saturating_sub(t0) as f64 / hz / idle as f64 * 100.0;
    // Threads that ended meanwhile (idle blocking workers) take their counts along.
    let wakeups = c1.saturating_sub(c0) as f64 / idle as f64;
    println!(
        "idle over {idle} s: RSS {:.1} MiB (target < 15 MiB), CPU {cpu:.3} % ({} ticks), {wakeups:.2} wake-ups/s \
(no busy polling: ~0); baseline `sleep`: RSS {:.1} MiB, {} ticks, {:.2} wake-ups/s",
        rss as f64 / 1024.0,
        t1 - t0,
        srss as f64 / 1024.0,
        s1 - s0,
        sc1.saturating_sub(sc0) as f64 / idle as f64
    );

    // 3. Status latency under concurrency: every request sent at once from one client
    // thread, each timed from its own send.
    let socket = sys.socket();
    let mut alone: Vec<f64> = (0..50)
        .map(|_| status_request(&socket).as_secs_f64() * 1e3)
        .collect();
    alone.sort_by(f64::total_cmp);
    let load_before = load();
    let mut lat = burst(&socket, concurrency);
    lat.sort_by(f64::total_cmp);
    println!(
        "GET /v1/status with {concurrency} concurrent requests: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms \
(target p99 < 20 ms); baseline (one request alone): p50 {:.2} ms; p99 ratio {:.1}x; load average {load_before}",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().unwrap(),
        percentile(&alone, 0.5),
        percentile(&lat, 0.99) / percentile(&alone, 0.5)
    );
    let (_, after) = http(&socket, "GET", "/healthz", "").unwrap();
    assert_eq!(after.trim(), "ok");
    let (rss_after, _, _) = sample(pid);
    println!("RSS after the burst: {:.1} MiB", rss_after as f64 / 1024.0);
    let _ = d.terminate(Duration::from_secs(10));
}
