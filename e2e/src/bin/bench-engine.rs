//! `bench-engine`: baton's orchestration overhead against spawning the same Interface
//! processes (see `e2e::bench::engine`).
//!
//!     bench-engine [--sizes 3,30,300,1000] [--runs 5] [--dir DIR]... [--quick]
//!                  [--bin-dir target/release]
//!
//! Without `--dir`, runs on tmpfs (`--tmpfs-dir`, /dev/shm) and on disk (`--disk-dir`,
//! /var/tmp), and on a default ext4 loop-mounted from an image in the disk directory (root
//! only; `--dir` leaves it out). Build first: `cargo build --release --workspace --bins`. Prints a Markdown
//! section; `e2e/bench` runs it with the others and writes BENCHMARKS.md.

use std::path::PathBuf;

use e2e::bench::{engine, plan, Args, Bins};

fn main() {
    let values = [plan::VALUES, &["--dir"]].concat();
    let args = Args::from_env(&values, plan::SWITCHES);
    let bins = Bins::from_args(&args);
    let mut opts = plan::Plan::from_args(&args).engine;
    let dirs: Vec<PathBuf> = args
        .values("--dir")
        .into_iter()
        .map(PathBuf::from)
        .collect();
    if !dirs.is_empty() {
        opts.dirs = dirs;
        opts.journaled_ext4_in = None;
    }
    print!("{}", engine::section(&bins, &opts).markdown());
}
