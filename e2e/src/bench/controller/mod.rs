//! The controller at rest and at work: `baton run` on a scratch System of two mock
//! components (`crate::fixture::System::served`), plus the binary itself.
//!
//! - start-up: `baton --version` (against `true`, the cost of any process) and `baton run`
//!   until it sends `READY=1` on `$NOTIFY_SOCKET` (its journal recovered, its API listening);
//! - a Manifest landing in the watched directory until the first Interface call (the mock
//!   Interface's wrapper notes each start), against starting that wrapper directly;
//! - idle once converged: RSS, CPU and wake-ups sampled every second, against `sleep`;
//! - `GET /v1/status` under load, three ways (see [`status::StatusLoad`]);
//! - the binary's size, stripped, against Debian's Mender client.

use std::io::ErrorKind;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::measure::{cpu_and_wakeups, need, repeat, status_kib, time_runs};
use super::report::{Figure, Measured, Row, Section, Target, Unit};
use super::stats::Summary;
use super::Bins;
use crate::fixture::{ready, Daemon, System};

mod kanto;
mod status;

/// Targets: the performance issues' (idle RSS: 10 MiB since step 2, 15 before; binary size)
/// and the controller issue's (landing, status).
pub const IDLE_RSS_MIB: f64 = 10.0;
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
    std::fs::read_to_string(sys.state_dir("a").join("starts.log"))
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
         wrapper notes each start), against starting that wrapper directly; the same for a \
         Kanto desired state published on Debian's mosquitto to a second daemon configured \
         as Kanto's Update Manager (plain MQTT; {d} activities, each awaited to COMPLETED). \
         Idle: the \
         converged daemon sampled every second for {i} s (`VmRSS`, CPU ticks, context \
         switches of every thread), against `sleep`, its RSS also in its two parts: \
         anonymous (heap, stacks) and file pages (the text of the binary and libraries, \
         clean and shared). The daemon runs with the environment \
         the systemd unit gives it ({env}, read from `deploy/systemd/baton.service`); a \
         second one, without it, shows what glibc's defaults add (an arena per thread \
         that allocated, up to 8 per core; large blocks carved from the heap, the \
         threshold for mapping them rising as they are freed). Peak RSS: GNU time's maximum resident \
         set of `baton install` streaming an uncompressed Artifact through the sink \
         Interface of the install section, against `mender install` of the same Artifact \
         with the same consumer. Binary: the release build, and a copy passed through \
         `strip`, against Debian's `/usr/bin/mender`; and how much of the binary's text \
         is laid out first as what the daemon runs (`.text.hot`, listed in \
         `controller/link/hot-text.ld`), against all of it.",
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
    let Some(sys) = System::served(json!({"ResyncIntervalSeconds": 600, "DriftPolicy": "warn"}))
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
    s.rows
        .push(kanto::mqtt_row(opts.drops, &unit_environment()));
    s.rows.extend(idle_rows(pid, opts.idle_seconds));
    let (rows, notes) = status::status_rows(&sys.socket(), opts);
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
    let sys = System::served(json!({"ResyncIntervalSeconds": 600, "DriftPolicy": "warn"}))?;
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
    let ready = match System::served(json!({"ResyncIntervalSeconds": 600})) {
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
        hot_text_row(&bins.baton),
        status_page_row(),
    ]
}

/// How much of the binary's text is laid out first as what the daemon runs
/// (`.text.hot`, from `controller/link/hot-text.ld`), against all of its text.
fn hot_text_row(baton: &Path) -> Row {
    let sizes = (|| {
        need(&["readelf"])?;
        let out = Command::new("readelf")
            .arg("-SW")
            .arg(baton)
            .output()
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout);
        let size = |name: &str| {
            text.lines()
                .filter_map(|l| l.split_once(']').map(|(_, rest)| rest))
                .map(|rest| rest.split_whitespace().collect::<Vec<_>>())
                .find(|f| f.first() == Some(&name))
                .and_then(|f| u64::from_str_radix(f.get(4)?, 16).ok())
        };
        let hot = size(".text.hot").ok_or("no .text.hot section: built without the layout")?;
        let rest = size(".text").ok_or("no .text section")?;
        let mib = |b: u64| b as f64 / f64::from(1 << 20);
        Ok::<_, String>((mib(hot), mib(hot + rest)))
    })();
    Row::new(
        "text the daemon runs, laid out first (`.text.hot`)",
        sizes
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|(hot, _)| fig("", &[*hot], Unit::MiB)),
    )
    .against(
        sizes
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|(_, all)| fig("all text", &[*all], Unit::MiB)),
    )
}

/// The status page's weight: what a first load transfers (its HTML, style sheet and script,
/// embedded in the binary verbatim with `include_str!` and served as they are), which is
/// also what the page adds to the binary's data.
fn status_page_row() -> Row {
    let dir = crate::repo_root().join("controller/src/daemon/api/ui");
    let bytes: Result<u64, String> = ["index.html", "style.css", "app.js"]
        .iter()
        .map(|f| {
            std::fs::metadata(dir.join(f))
                .map(|m| m.len())
                .map_err(|e| format!("{f}: {e}"))
        })
        .sum();
    Row::new(
        "status page, first load (HTML, CSS, script)",
        bytes.and_then(|b| fig("", &[b as f64 / 1024.0], Unit::KiB)),
    )
}

fn landing_row(sys: &System, d: &Daemon, drops: usize) -> Row {
    eprintln!("bench: Manifest landing -> first Interface call");
    let mut landing = Vec::new();
    for i in 0..drops {
        let version = if i % 2 == 0 { "v2" } else { "v3" };
        let before = starts(sys).len();
        let text = sys.release_text(&format!("bench-{i}"), version);
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
    let direct = direct_starts(sys, drops.max(5));
    Row::new(
        "Manifest landing -> first Interface call",
        fig("", &landing, Unit::Millis),
    )
    .against(fig("start the Interface directly", &direct, Unit::Millis))
    .target(Target::below(LANDING_MS))
}

/// `runs` starts of the served System's wrapper, straight from here: from the spawn to the
/// moment it notes its start (ms), the baseline of the landing rows.
fn direct_starts(sys: &System, runs: usize) -> Vec<f64> {
    let wrapper = sys.mock();
    let mut direct = Vec::new();
    for _ in 0..runs {
        let before = starts(sys).len();
        let t0 = now_ns();
        let ran = Command::new(&wrapper)
            .args(["UnknownState", "/tmp", "rtos"])
            .arg(sys.state_dir("a"))
            .status();
        match (ran, starts(sys).get(before)) {
            (Ok(_), Some(t)) => direct.push(t.saturating_sub(t0) as f64 / 1e6),
            _ => break,
        }
    }
    direct
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
    // RSS in its two parts: what only this process holds (heap, stacks, relocated data)
    // and clean file pages (the binary's text, the libraries) the kernel can drop and
    // read again, shared with every other process mapping them.
    let (mut anon, mut file, mut sfile) = (Vec::new(), Vec::new(), Vec::new());
    let mut last = (cpu_and_wakeups(pid), cpu_and_wakeups(sleeper.id()));
    for second in 1..=seconds {
        std::thread::sleep(Duration::from_secs(1));
        rss.push(status_kib(pid, "VmRSS:").unwrap_or(0) as f64 / 1024.0);
        srss.push(status_kib(sleeper.id(), "VmRSS:").unwrap_or(0) as f64 / 1024.0);
        anon.push(status_kib(pid, "RssAnon:").unwrap_or(0) as f64 / 1024.0);
        file.push(status_kib(pid, "RssFile:").unwrap_or(0) as f64 / 1024.0);
        sfile.push(status_kib(sleeper.id(), "RssFile:").unwrap_or(0) as f64 / 1024.0);
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
            format!("{label}: of which anonymous (`RssAnon`: heap, stacks)"),
            fig("", &anon, Unit::MiB),
        ),
        Row::new(
            format!("{label}: of which file pages (`RssFile`: text of the binary and libraries)"),
            fig("", &file, Unit::MiB),
        )
        .against(fig("`sleep`", &sfile, Unit::MiB)),
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
