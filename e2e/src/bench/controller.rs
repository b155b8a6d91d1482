//! The controller at rest and at work: `baton run` on a scratch System of two mock
//! components (`crate::controller::System`), plus the binary itself.
//!
//! - start-up: `baton --version` (against `true`, the cost of any process) and `baton run`
//!   until it sends `READY=1` on `$NOTIFY_SOCKET` (its journal recovered, its API listening);
//! - a Manifest landing in the watched directory until the first Interface call (the mock
//!   Interface's wrapper notes each start), against starting that wrapper directly;
//! - idle once converged: RSS, CPU and wake-ups sampled every second, against `sleep`;
//! - `GET /v1/status` under load, three ways (see [`StatusLoad`]);
//! - the binary's size, stripped, against Debian's Mender client.

use std::io::ErrorKind;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::controller::{ready, System};

use super::measure::{cpu_and_wakeups, load_average, need, repeat, status_kib, time_runs};
use super::report::{Figure, Measured, Row, Section, Target, Unit};
use super::stats::{quantile, Summary};
use super::Bins;

/// Targets: the (idle RSS, binary size) and the controller issue's (landing, status).
pub const IDLE_RSS_MIB: f64 = 15.0;
pub const BINARY_MIB: f64 = 15.0;
pub const LANDING_MS: f64 = 100.0;
pub const STATUS_P99_MS: f64 = 20.0;

#[derive(Debug, Clone)]
pub struct Options {
    pub idle_seconds: u64,
    pub drops: usize,
    pub clients: usize,
    /// Length of one status load run (each is repeated `runs` times).
    pub load_seconds: f64,
    pub runs: usize,
    /// Runs of the quick start-up figures (`--version`).
    pub startups: usize,
}

fn fig(what: &str, values: &[f64], unit: Unit) -> Measured {
    Summary::of(values)
        .map(|s| Figure::new(what, s, unit))
        .ok_or_else(|| "no measurement".into())
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// When each call of the mock Interface of component `a` started (ns since the epoch).
fn starts(sys: &System) -> Vec<u128> {
    std::fs::read_to_string(sys.component("a").join("starts.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

pub fn section(bins: &Bins, opts: &Options, peak_rss: Vec<Row>) -> Section {
    let mut s = Section::new("The controller at rest and at work").intro(format!(
        "`baton run` on a scratch System of two mock components (sh Interfaces) in two order \
         groups, Artifacts from a directory source, `DriftPolicy: warn`, \
         `ResyncIntervalSeconds: 600`. Start-up: `baton --version` ({n} runs after 3 \
         warm-ups) against `true` (what starting any process costs), and `baton run` from \
         spawn to the `READY=1` it sends on `$NOTIFY_SOCKET` once its journal is recovered \
         and its API listens ({r} starts). Manifest landing: a Manifest renamed into the \
         watched directory until the first Interface call starts ({d} drops; the mock's \
         wrapper notes each start), against starting that wrapper directly. Idle: the \
         converged daemon sampled every second for {i} s (`VmRSS`, CPU ticks, context \
         switches of every thread), against `sleep`. The daemon runs with the environment \
         the systemd unit gives it ({env}, read from `deploy/systemd/baton.service`); a \
         second one, without it, shows what glibc's default malloc arenas (one per thread \
         that allocated, up to 8 per core) add. Peak RSS: GNU time's maximum resident \
         set of `baton install` streaming an uncompressed Artifact through the sink \
         Interface of the install section, against `mender install` of the same Artifact \
         with the same consumer. Binary: the release build, and a copy passed through \
         `strip`, against Debian's `/usr/bin/mender`.",
        n = opts.startups,
        r = opts.runs,
        d = opts.drops,
        i = opts.idle_seconds,
        env = match unit_environment() {
            env if env.is_empty() => "none".to_string(),
            env => env
                .iter()
                .map(|(k, v)| format!("`{k}={v}`"))
                .collect::<Vec<_>>()
                .join(", "),
        },
    ));
    if let Err(e) = need(&["mender-artifact"]) {
        s.rows.push(Row::new("every scenario", Err(e)));
        return s;
    }
    s.rows.extend(startup_rows(bins, opts));
    s.rows.extend(binary_rows(bins));
    s.rows.extend(peak_rss);
    let Some(sys) = System::new(json!({"ResyncIntervalSeconds": 600, "DriftPolicy": "warn"}))
    else {
        s.rows.push(Row::new(
            "the daemon",
            Err("mender-artifact is missing".into()),
        ));
        return s;
    };
    let d = sys.start_with(&[], &unit_environment());
    let pid = d.child.id();
    s.rows.push(landing_row(&sys, &d, opts.drops));
    s.rows.extend(idle_rows(pid, opts.idle_seconds));
    let (rows, notes) = status_rows(&sys.socket(), opts);
    s.rows.extend(rows);
    for n in notes {
        s.note(n);
    }
    if let Some(kib) = status_kib(pid, "VmHWM:") {
        s.note(format!(
            "The daemon's own high-water mark (`VmHWM`) after every figure above, status load \
             included: {:.1} MiB.",
            kib as f64 / 1024.0
        ));
    }
    let _ = d.terminate(Duration::from_secs(10));
    s.rows.extend(idle_without_the_unit_environment(opts));
    s
}

/// The `Environment=` assignments of the shipped systemd unit: the daemon is measured as
/// the unit runs it.
fn unit_environment() -> Vec<(String, String)> {
    let unit = crate::repo_root().join("deploy/systemd/baton.service");
    std::fs::read_to_string(unit)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Environment="))
        .flat_map(str::split_whitespace)
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The idle RSS of a daemon started without the unit's environment, after the same
/// deployments as the judged one: shown for comparison, not judged (the unit is how baton
/// ships).
fn idle_without_the_unit_environment(opts: &Options) -> Option<Row> {
    let sys = System::new(json!({"ResyncIntervalSeconds": 600, "DriftPolicy": "warn"}))?;
    let d = sys.start();
    let _ = landing_row(&sys, &d, opts.drops);
    let seconds = opts.idle_seconds.min(10);
    let mut row = idle_rows(d.child.id(), seconds).into_iter().next()?;
    let _ = d.terminate(Duration::from_secs(10));
    row.scenario = format!("idle, converged, {seconds} s: RSS without the unit's environment");
    row.target = None;
    Some(row)
}

fn startup_rows(bins: &Bins, opts: &Options) -> Vec<Row> {
    eprintln!("bench: start-up");
    let version = time_runs(3, opts.startups, || {
        let mut c = Command::new(&bins.baton);
        c.arg("--version");
        c
    });
    let floor = time_runs(3, opts.startups, || Command::new("true"));
    let ms = |r: Result<Vec<f64>, String>, what: &str| {
        r.and_then(|v| {
            fig(
                what,
                &v.iter().map(|x| x * 1e3).collect::<Vec<_>>(),
                Unit::Millis,
            )
        })
    };
    let ready = match System::new(json!({"ResyncIntervalSeconds": 600})) {
        None => Err("mender-artifact is missing".to_string()),
        Some(sys) => repeat(1, opts.runs, || run_until_ready(&sys)),
    };
    vec![
        Row::new("start-up: `baton --version`", ms(version, "")).against(ms(floor, "`true`")),
        Row::new("start-up: `baton run` to READY=1", ms(ready, "")),
    ]
}

/// Spawns `baton run` with `$NOTIFY_SOCKET` and returns the seconds until `READY=1`; then
/// stops it and waits for it to exit.
fn run_until_ready(sys: &System) -> Result<f64, String> {
    let path = sys.root().join("notify.sock");
    let _ = std::fs::remove_file(&path);
    let sock = UnixDatagram::bind(&path).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let t = Instant::now();
    let mut child = sys
        .baton()
        .arg("run")
        .env("NOTIFY_SOCKET", &path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 4096];
    let took = loop {
        match sock.recv(&mut buf) {
            Ok(n)
                if String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .any(|l| l == "READY=1") =>
            {
                break Ok(t.elapsed().as_secs_f64())
            }
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => break Err(format!("no READY=1 from `baton run`: {e}")),
        }
    };
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    took
}

fn binary_rows(bins: &Bins) -> Vec<Row> {
    let mib = |p: &Path| std::fs::metadata(p).map(|m| m.len() as f64 / f64::from(1 << 20));
    let stripped = (|| {
        need(&["strip"])?;
        let copy = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
        std::fs::copy(&bins.baton, copy.path()).map_err(|e| e.to_string())?;
        let mut strip = Command::new("strip");
        strip.arg(copy.path());
        super::measure::time_command(&mut strip)?;
        mib(copy.path()).map_err(|e| e.to_string())
    })();
    let mender = crate::need::find("mender")
        .ok_or_else(|| "`mender` is not installed".to_string())
        .and_then(|p| mib(&p).map_err(|e| e.to_string()));
    let as_built = mib(&bins.baton).map_err(|e| e.to_string());
    vec![
        Row::new(
            "binary size, stripped",
            stripped.and_then(|v| fig("", &[v], Unit::MiB)),
        )
        .against(mender.and_then(|v| fig("Debian's `mender` 3.4", &[v], Unit::MiB)))
        .target(Target::below(BINARY_MIB)),
        Row::new(
            "binary size, as built (profile strips symbols)",
            as_built.and_then(|v| fig("", &[v], Unit::MiB)),
        ),
    ]
}

fn landing_row(sys: &System, d: &crate::controller::Daemon, drops: usize) -> Row {
    eprintln!("bench: Manifest landing -> first Interface call");
    let mut landing = Vec::new();
    for i in 0..drops {
        let version = if i % 2 == 0 { "v2" } else { "v3" };
        let before = starts(sys).len();
        let text = sys.manifest(&format!("bench-{i}"), version);
        let tmp = sys.watch().join(format!(".{i}.part"));
        if let Err(e) = std::fs::write(&tmp, text) {
            return Row::new("Manifest landing", Err(e.to_string()));
        }
        let t0 = now_ns();
        if let Err(e) = std::fs::rename(&tmp, sys.watch().join(format!("{i}.yaml"))) {
            return Row::new("Manifest landing", Err(e.to_string()));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let first = loop {
            if let Some(t) = starts(sys).get(before) {
                break *t;
            }
            if Instant::now() > deadline {
                return Row::new(
                    "Manifest landing",
                    Err("no Interface call after 30 s".into()),
                );
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        landing.push(first.saturating_sub(t0) as f64 / 1e6);
        d.until("ready", |s| {
            ready(s) && s["observedGeneration"] == (i + 1) as u64
        });
    }
    let wrapper = sys.root().join("data/interfaces/v1/mock");
    let mut direct = Vec::new();
    for _ in 0..drops.max(5) {
        let before = starts(sys).len();
        let t0 = now_ns();
        let ran = Command::new(&wrapper)
            .args(["UnknownState", "/tmp", "rtos"])
            .arg(sys.component("a"))
            .status();
        match (ran, starts(sys).get(before)) {
            (Ok(_), Some(t)) => direct.push(t.saturating_sub(t0) as f64 / 1e6),
            _ => break,
        }
    }
    Row::new(
        "Manifest landing -> first Interface call",
        fig("", &landing, Unit::Millis),
    )
    .against(fig("start the Interface directly", &direct, Unit::Millis))
    .target(Target::below(LANDING_MS))
}

fn idle_rows(pid: u32, seconds: u64) -> Vec<Row> {
    eprintln!("bench: idle for {seconds} s");
    std::thread::sleep(Duration::from_secs(1));
    let mut sleeper = match Command::new("sleep").arg((seconds + 5).to_string()).spawn() {
        Ok(c) => c,
        Err(e) => return vec![Row::new("idle", Err(e.to_string()))],
    };
    // CPU and wake-ups per window: ticks are 10 ms, so per-second CPU would read 0 or 1 %.
    let window = if seconds >= 30 { 10 } else { 1 };
    let (mut rss, mut cpu, mut wake) = (Vec::new(), Vec::new(), Vec::new());
    let (mut srss, mut scpu, mut swake) = (Vec::new(), Vec::new(), Vec::new());
    let mut last = (cpu_and_wakeups(pid), cpu_and_wakeups(sleeper.id()));
    for second in 1..=seconds {
        std::thread::sleep(Duration::from_secs(1));
        rss.push(status_kib(pid, "VmRSS:").unwrap_or(0) as f64 / 1024.0);
        srss.push(status_kib(sleeper.id(), "VmRSS:").unwrap_or(0) as f64 / 1024.0);
        if second.is_multiple_of(window) {
            let now = (cpu_and_wakeups(pid), cpu_and_wakeups(sleeper.id()));
            let w = window as f64;
            // Ticks are 1/100 s: ticks / 100 / w * 100 %.
            cpu.push(now.0 .0.saturating_sub(last.0 .0) as f64 / w);
            wake.push(now.0 .1.saturating_sub(last.0 .1) as f64 / w);
            scpu.push(now.1 .0.saturating_sub(last.1 .0) as f64 / w);
            swake.push(now.1 .1.saturating_sub(last.1 .1) as f64 / w);
            last = now;
        }
    }
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let label = format!("idle, converged, {seconds} s");
    vec![
        Row::new(
            format!("{label}: RSS (each second)"),
            fig("", &rss, Unit::MiB),
        )
        .against(fig("`sleep`", &srss, Unit::MiB))
        .target(Target::below(IDLE_RSS_MIB)),
        Row::new(
            format!("{label}: CPU (each {window} s)"),
            fig("", &cpu, Unit::Percent),
        )
        .against(fig("`sleep`", &scpu, Unit::Percent)),
        Row::new(
            format!("{label}: wake-ups per second (each {window} s)"),
            fig("", &wake, Unit::PerSecond),
        )
        .against(fig("`sleep`", &swake, Unit::PerSecond)),
    ]
}

const GET_STATUS: &[u8] = b"GET /v1/status HTTP/1.1\r\nHost: localhost\r\n\r\n";
const GET_STATUS_CLOSE: &[u8] =
    b"GET /v1/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

/// The length of the complete HTTP response at the start of `buf`: `None` while its head or
/// body is incomplete; an error for anything but `200` with a `Content-Length`.
fn response_len(buf: &[u8]) -> Option<Result<usize, String>> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]);
    if !head.starts_with("HTTP/1.1 200") {
        return Some(Err(head.lines().next().unwrap_or("").to_string()));
    }
    let length = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    });
    match length {
        None => Some(Err("a response without Content-Length".into())),
        Some(n) if buf.len() >= end + 4 + n => Some(Ok(end + 4 + n)),
        Some(_) => None,
    }
}

/// One `GET /v1/status` on a persistent connection; `buf` keeps what was read ahead.
async fn get(c: &mut UnixStream, buf: &mut Vec<u8>) -> Result<(), String> {
    c.write_all(GET_STATUS).await.map_err(|e| e.to_string())?;
    let mut chunk = [0u8; 16 << 10];
    loop {
        if let Some(r) = response_len(buf) {
            let n = r?;
            buf.drain(..n);
            return Ok(());
        }
        let n = c.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the daemon closed the connection".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// How a status load run sends its requests.
#[derive(Debug, Clone, Copy)]
pub enum StatusLoad {
    /// Every client sends its next request as soon as the last is answered: the daemon's
    /// capacity. With C clients the latency is C / throughput (Little's law): it measures
    /// the queue the clients build, not the service.
    ClosedLoop,
    /// Every client sends on a fixed schedule, `rate` requests/s in all; a request's latency
    /// counts from its scheduled time, so a late answer delays no measurement (no
    /// coordinated omission). What a user sees under a sustained load.
    OpenLoop { rate: f64 },
}

/// One run: `clients` persistent connections for `seconds` (after 0.5 s unrecorded);
/// returns every recorded latency (ms) and the throughput (requests/s).
fn load_run(
    socket: &Path,
    clients: usize,
    seconds: f64,
    load: StatusLoad,
) -> Result<(Vec<f64>, f64), String> {
    runtime().block_on(async {
        let mut conns = Vec::with_capacity(clients);
        for _ in 0..clients {
            conns.push(
                UnixStream::connect(socket)
                    .await
                    .map_err(|e| e.to_string())?,
            );
        }
        let start = tokio::time::Instant::now() + Duration::from_millis(50);
        let record_from = start + Duration::from_millis(500);
        let end = record_from + Duration::from_secs_f64(seconds);
        let tasks: Vec<_> = conns
            .into_iter()
            .enumerate()
            .map(|(i, mut c)| {
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut lat = Vec::new();
                    let period = match load {
                        StatusLoad::ClosedLoop => Duration::ZERO,
                        StatusLoad::OpenLoop { rate } => {
                            Duration::from_secs_f64(clients as f64 / rate)
                        }
                    };
                    // Clients start spread over one period, not all at once.
                    let mut next = start + period.mul_f64(i as f64 / clients as f64);
                    let mut answered = start;
                    loop {
                        let scheduled = match load {
                            StatusLoad::ClosedLoop => tokio::time::Instant::now(),
                            StatusLoad::OpenLoop { .. } => {
                                tokio::time::sleep_until(next).await;
                                next
                            }
                        };
                        if scheduled >= end {
                            return Ok::<_, String>(lat);
                        }
                        let sent = tokio::time::Instant::now();
                        get(&mut c, &mut buf).await?;
                        // Held back by the daemon (the last answer came after this request
                        // was due): from when it was due. On time: from when it was sent, as
                        // tokio's timer wakes up to a millisecond late.
                        let from = if answered > scheduled {
                            scheduled
                        } else {
                            sent
                        };
                        answered = tokio::time::Instant::now();
                        if scheduled >= record_from {
                            lat.push((answered - from).as_secs_f64() * 1e3);
                        }
                        next += period;
                    }
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.map_err(|e| e.to_string())??);
        }
        let throughput = all.len() as f64 / seconds;
        Ok((all, throughput))
    })
}

/// `n` requests at once, each on a new connection, each timed from its own connect: the
/// previous benchmark's figure, kept as the hardest case (a thundering herd).
fn burst(socket: &Path, n: usize) -> Result<Vec<f64>, String> {
    runtime().block_on(async {
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let s = socket.to_path_buf();
                tokio::spawn(async move {
                    let t = Instant::now();
                    let mut c = UnixStream::connect(&s).await.map_err(|e| e.to_string())?;
                    c.write_all(GET_STATUS_CLOSE)
                        .await
                        .map_err(|e| e.to_string())?;
                    let mut out = Vec::new();
                    c.read_to_end(&mut out).await.map_err(|e| e.to_string())?;
                    match response_len(&out) {
                        Some(Ok(_)) => Ok::<_, String>(t.elapsed().as_secs_f64() * 1e3),
                        Some(Err(e)) => Err(e),
                        None => Err("an incomplete response".into()),
                    }
                })
            })
            .collect();
        let mut v = Vec::with_capacity(n);
        for t in tasks {
            v.push(t.await.map_err(|e| e.to_string())??);
        }
        Ok(v)
    })
}

fn p(v: &[f64], q: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    quantile(&v, q)
}

fn status_rows(socket: &Path, opts: &Options) -> (Vec<Row>, Vec<String>) {
    eprintln!("bench: status latency");
    let c = opts.clients;
    let runs = opts.runs.max(2);
    let secs = opts.load_seconds;
    let load = load_average();
    // Alone: one client, one persistent connection, one request at a time.
    let alone = repeat(0, runs, || {
        load_run(socket, 1, secs.min(1.0), StatusLoad::ClosedLoop)
    })
    .and_then(|r| {
        let p50: Vec<f64> = r.iter().map(|(lat, _)| p(lat, 0.5)).collect();
        fig("1 client alone, p50", &p50, Unit::Millis)
    });
    let closed = repeat(0, runs, || {
        load_run(socket, c, secs, StatusLoad::ClosedLoop)
    });
    let capacity = closed
        .as_ref()
        .ok()
        .and_then(|r| Summary::of(&r.iter().map(|x| x.1).collect::<Vec<_>>()))
        .map(|s| s.median);
    let rate = capacity.map_or(1000.0, |x| (x / 2.0).round().max(1.0));
    let open = repeat(0, runs, || {
        load_run(socket, c, secs, StatusLoad::OpenLoop { rate })
    });
    let bursts = repeat(0, runs, || burst(socket, c));
    let each = |r: &Result<Vec<(Vec<f64>, f64)>, String>, q: Option<f64>, unit| {
        r.clone().and_then(|runs| {
            let v: Vec<f64> = runs
                .iter()
                .map(|(lat, tput)| q.map_or(*tput, |q| p(lat, q)))
                .collect();
            fig("", &v, unit)
        })
    };
    let burst_p99 = bursts.and_then(|b| {
        fig(
            "",
            &b.iter().map(|l| p(l, 0.99)).collect::<Vec<_>>(),
            Unit::Millis,
        )
    });
    let open_name = format!("status, {c} clients, open loop at {rate:.0} req/s");
    let closed_name = format!("status, {c} clients, closed loop");
    let rows = vec![
        Row::new(
            format!("{open_name}: p50"),
            each(&open, Some(0.5), Unit::Millis),
        )
        .against(alone.clone()),
        Row::new(
            format!("{open_name}: p99"),
            each(&open, Some(0.99), Unit::Millis),
        )
        .against(alone.clone())
        .target(Target::below(STATUS_P99_MS)),
        Row::new(
            format!("{closed_name}: throughput"),
            each(&closed, None, Unit::PerSecond),
        ),
        Row::new(
            format!("{closed_name}: p99"),
            each(&closed, Some(0.99), Unit::Millis),
        )
        .against(alone.clone())
        .target(Target::below(STATUS_P99_MS).informational()),
        Row::new(
            format!("status, {c} new connections at once: p99"),
            burst_p99,
        )
        .against(alone)
        .target(Target::below(STATUS_P99_MS).informational()),
    ];
    let notes = vec![format!(
        "**How status latency is measured.** All clients run on one thread of the benchmark \
         (tokio, current-thread) over the Unix socket, on the same {cores} cores as the \
         daemon; each run lasts {secs} s after 0.5 s unrecorded, {runs} runs; each row is the \
         median (and range) over runs of that run's percentile of every request. *Open loop* \
         is the judged figure: {c} clients keep persistent connections and together send \
         {rate:.0} requests/s, half the capacity the closed loop measured, each on a fixed \
         schedule; a request held back by a late answer counts from the moment it was due, \
         not from when it could be sent (no coordinated omission; a request sent on time \
         counts from its sending, as the client's timer wakes up to 1 ms late). That is what a user of the endpoint sees while the daemon is busy. \
         *Closed loop* ({c} clients, each sending again as soon as it is answered) measures \
         the capacity; its latency is the queue the clients themselves build, {c} / \
         throughput by Little's law, whatever the daemon does. *New connections at once* is \
         the earlier benchmark's figure, {c} connects in the same instant (a thundering herd \
         through the accept queue), kept as the hardest case. Load average at the start: \
         {load:.2}.",
        cores = std::thread::available_parallelism().map_or(0, |n| n.get()),
    )];
    (rows, notes)
}

#[cfg(test)]
mod tests {
    use super::response_len;

    #[test]
    fn a_response_is_complete_once_its_body_is() {
        let head =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 5\r\n\r\n";
        assert_eq!(response_len(&head[..20]), None);
        let mut r = head.to_vec();
        r.extend_from_slice(b"{}\n");
        assert_eq!(response_len(&r), None);
        r.extend_from_slice(b"\n\nHTTP/1.1");
        assert_eq!(response_len(&r), Some(Ok(head.len() + 5)));
    }

    #[test]
    fn errors_and_missing_lengths_are_refused() {
        let busy = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(
            response_len(busy),
            Some(Err("HTTP/1.1 503 Service Unavailable".into()))
        );
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
        assert!(matches!(response_len(chunked), Some(Err(_))));
    }
}
