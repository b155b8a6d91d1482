//! Benchmark: `baton artifact verify` on a 256 MiB payload against the hashing limit
//! (`openssl dgst -sha256` over the raw payload) and against `mender-artifact validate`,
//! for uncompressed and gzip Artifacts, plus baton's peak RSS.
//!
//! Run: `cargo run --release -p e2e --bin bench-artifact [-- --mib N --runs N]`.
//! It builds the release `baton` binary, writes the Artifacts with `mender-artifact`, times
//! every command (median of several runs, page cache warm) and prints a markdown table of
//! seconds and ratios measured in the same run. It asserts nothing: figures, not a test.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let mib = opt("--mib", 256);
    let runs = opt("--runs", 5);
    for tool in ["mender-artifact", "openssl"] {
        if !on_path(tool) {
            eprintln!("bench-artifact: `{tool}` is not installed (apt-get install {tool})");
            std::process::exit(2);
        }
    }
    let baton = build_baton();
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();

    let cases = [
        ("none", "random (incompressible)", payload(mib, false)),
        ("gzip", "text-like (compressible)", payload(mib, true)),
    ];
    println!("\nbench-artifact: {mib} MiB payload, median of {runs} runs, page cache warm\n");
    println!("| compression | payload | artifact MiB | openssl dgst (limit) s | baton verify s | mender-artifact validate s | baton / limit | baton / mender-artifact | baton peak RSS MiB |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (compression, kind, data) in cases {
        let raw = dir.join(format!("payload-{compression}"));
        std::fs::write(&raw, &data).expect("write payload");
        drop(data);
        let art = dir.join(format!("bench-{compression}.mender"));
        let status = Command::new("mender-artifact")
            .args([
                "write",
                "module-image",
                "-T",
                "bench",
                "-t",
                "dev",
                "-n",
                "bench-v1",
            ])
            .args(["--compression", compression, "-f"])
            .arg(&raw)
            .arg("-o")
            .arg(&art)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("mender-artifact write");
        assert!(status.success(), "mender-artifact write failed");

        let limit = median(runs, || command("openssl", &["dgst", "-sha256"], &raw));
        let ours = median(runs, || command(&baton, &["artifact", "verify"], &art));
        let theirs = median(runs, || command("mender-artifact", &["validate"], &art));
        let rss = peak_rss(Command::new(&baton).args(["artifact", "verify"]).arg(&art));
        let size = std::fs::metadata(&art).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0;
        println!(
            "| {compression} | {kind} | {size:.1} | {:.3} | {:.3} | {:.3} | {:.2}x | {:.2}x | {:.1} |",
            limit.as_secs_f64(),
            ours.as_secs_f64(),
            theirs.as_secs_f64(),
            ours.as_secs_f64() / limit.as_secs_f64(),
            ours.as_secs_f64() / theirs.as_secs_f64(),
            rss as f64 / 1024.0,
        );
        std::fs::remove_file(&raw).ok();
        std::fs::remove_file(&art).ok();
    }
    println!("\nTargets: baton / limit <= 1.2x, baton / mender-artifact < 1x, peak RSS < 32 MiB.");
}

fn command(program: impl AsRef<std::ffi::OsStr>, args: &[&str], file: &Path) -> Command {
    let mut c = Command::new(program);
    c.args(args).arg(file);
    c
}

fn on_path(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool} >/dev/null")])
        .status()
        .is_ok_and(|s| s.success())
}

/// Builds the release `baton` binary next to this one and returns its path.
fn build_baton() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../controller/Cargo.toml");
    let status = Command::new(cargo)
        .args(["build", "--release", "--bin", "baton", "--manifest-path"])
        .arg(&manifest)
        .status()
        .expect("cargo build");
    assert!(status.success(), "building baton failed");
    let exe = std::env::current_exe().expect("current exe");
    let baton = exe.with_file_name("baton");
    assert!(baton.exists(), "{} not found", baton.display());
    baton
}

/// `mib` MiB of payload: xorshift noise, or pseudo-text from a small vocabulary (gzip
/// shrinks it to about a third, like the tar of /usr in mender-tools.md §6).
fn payload(mib: usize, text: bool) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "the",
        "update",
        "component",
        "artifact",
        "manifest",
        "topology",
        "interface",
        "rollback",
        "commit",
        "device",
        "firmware",
        "version",
        "payload",
        "stream",
        "verify",
        "reboot",
        "install",
        "order",
        "group",
        "state",
        "0x1f",
        "42",
        "/usr/lib",
        "config",
        "error",
    ];
    let len = mib << 20;
    let mut out = Vec::with_capacity(len + 64);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    while out.len() < len {
        if text {
            let r = next();
            out.extend_from_slice(WORDS[(r % WORDS.len() as u64) as usize].as_bytes());
            out.push(if r >> 40 & 15 == 0 { b'\n' } else { b' ' });
            if r >> 50 & 3 == 0 {
                write!(out, "{}", r >> 52).ok();
            }
        } else {
            out.extend_from_slice(&next().to_le_bytes());
        }
    }
    out.truncate(len);
    out
}

/// Median wall time of `runs` runs after one warm-up; every run must succeed.
fn median(runs: usize, cmd: impl Fn() -> Command) -> Duration {
    let run = || {
        let start = Instant::now();
        let out = cmd()
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("spawn");
        assert!(
            out.status.success(),
            "{:?}: {}",
            cmd(),
            String::from_utf8_lossy(&out.stderr)
        );
        start.elapsed()
    };
    run();
    let mut t: Vec<Duration> = (0..runs.max(1)).map(|_| run()).collect();
    t.sort();
    t[t.len() / 2]
}

/// Peak resident set (KiB) of one run, from /proc/<pid>/status VmHWM (the kernel's
/// high-water mark), sampled until the process exits.
fn peak_rss(cmd: &mut Command) -> u64 {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status) {
            if let Some(kib) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(kib);
            }
        }
        if child.try_wait().expect("wait").is_some() {
            return peak;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
