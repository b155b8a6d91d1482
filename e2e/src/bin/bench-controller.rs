//! `bench-controller`: `baton run` at rest and at work, the binary's size and start-up, and
//! the peak memory of a large streamed install (see `e2e::bench::controller`).
//!
//!     bench-controller [--idle-seconds 60] [--drops 10] [--clients 1000]
//!                      [--load-seconds 3] [--runs 3] [--peak-mib 1024] [--quick]
//!                      [--bin-dir target/release]
//!
//! Prints a Markdown section; `e2e/bench` runs it with the others.

use e2e::bench::{controller, install, plan, Args, Bins};

fn main() {
    let values = [
        plan::VALUES,
        &[
            "--idle-seconds",
            "--drops",
            "--clients",
            "--load-seconds",
            "--peak-mib",
        ],
    ]
    .concat();
    let args = Args::from_env(&values, plan::SWITCHES);
    let bins = Bins::from_args(&args);
    let plan = plan::Plan::from_args(&args);
    let mut opts = plan.controller;
    opts.idle_seconds = args.num("--idle-seconds", opts.idle_seconds);
    opts.drops = args.num("--drops", opts.drops);
    opts.clients = args.num("--clients", opts.clients);
    opts.load_seconds = args.num("--load-seconds", opts.load_seconds);
    let peak = install::peak_rss_rows(
        &bins,
        &plan.peak_dir,
        args.num("--peak-mib", plan.peak_mib),
        plan.peak_runs,
    );
    print!("{}", controller::section(&bins, &opts, peak).markdown());
}
