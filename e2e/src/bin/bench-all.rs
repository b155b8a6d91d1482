//! `bench-all`: every benchmark in one run, written up as BENCHMARKS.md. Run it through
//! `e2e/bench`, which builds the release binaries first.
//!
//!     bench-all [--quick] [--out FILE] [--only engine,install,artifact,server,controller]
//!               [--sizes 3,30,300,1000]
//!               [--runs N] [--tmpfs-dir /dev/shm] [--disk-dir /var/tmp]
//!               [--bin-dir target/release]
//!
//! The page goes to `--out` (default: BENCHMARKS.md at the repository root; with `--quick`,
//! only to stdout unless `--out` is given) and to stdout. It exits 0 even when a target is
//! not met (the page says so), and 2 when it cannot run at all.

// A benchmark driver: it measures real time.
#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;
use std::time::Instant;

use e2e::bench::machine::{now_utc, Machine};
use e2e::bench::measure::load_average;
use e2e::bench::page::{self, Run};
use e2e::bench::{artifact, controller, die, engine, install, plan, server, Args, Bins};

const SECTIONS: [&str; 5] = ["engine", "install", "artifact", "server", "controller"];

fn main() {
    let values = [plan::VALUES, &["--out", "--only"]].concat();
    let args = Args::from_env(&values, plan::SWITCHES);
    let bins = Bins::from_args(&args);
    let plan = plan::Plan::from_args(&args);
    let only: Vec<&str> = args
        .value("--only")
        .map_or(SECTIONS.to_vec(), |v| v.split(',').map(str::trim).collect());
    if let Some(bad) = only.iter().find(|s| !SECTIONS.contains(s)) {
        die(&format!(
            "--only: unknown section `{bad}` (one of {SECTIONS:?})"
        ));
    }
    let out = match (args.value("--out"), plan.quick) {
        (Some(o), _) => Some(PathBuf::from(o)),
        (None, false) => Some(e2e::repo_root().join("BENCHMARKS.md")),
        (None, true) => None,
    };
    let command = std::env::var("BENCH_COMMAND").unwrap_or_else(|_| {
        let mut words = vec!["bench-all".to_string()];
        words.extend(std::env::args().skip(1));
        words.join(" ")
    });

    let started = Instant::now();
    let load_start = load_average();
    let date = now_utc();
    eprintln!("bench: load average {load_start:.2} at the start");
    let mut sections = Vec::new();
    for name in SECTIONS.iter().filter(|s| only.contains(s)) {
        sections.push(match *name {
            "engine" => engine::section(&bins, &plan.engine),
            "install" => install::section(&bins, &plan.install),
            "artifact" => artifact::section(&bins, &plan.artifact),
            "server" => server::section(&plan.server),
            _ => {
                let peak =
                    install::peak_rss_rows(&bins, &plan.peak_dir, plan.peak_mib, plan.peak_runs);
                controller::section(&bins, &plan.controller, peak)
            }
        });
    }
    let run = Run {
        command,
        date,
        took: started.elapsed(),
        quick: plan.quick,
        load_start,
        load_end: load_average(),
    };
    let mut dirs = plan.engine.dirs.clone();
    // $TMPDIR too: the controller's scratch System lives there.
    let tmp = std::env::temp_dir();
    for d in plan
        .install
        .dirs
        .iter()
        .chain([&plan.artifact.dir, &plan.peak_dir, &tmp])
    {
        if !dirs.contains(d) {
            dirs.push(d.clone());
        }
    }
    let dir_refs: Vec<&std::path::Path> = dirs.iter().map(PathBuf::as_path).collect();
    let machine = Machine::describe(&dir_refs, &bins.baton);
    let text = page::markdown(&run, &machine, &sections);
    print!("{text}");
    if let Some(out) = out {
        if let Err(e) = std::fs::write(&out, &text) {
            die(&format!("cannot write {}: {e}", out.display()));
        }
        eprintln!("bench: wrote {}", out.display());
    }
}
