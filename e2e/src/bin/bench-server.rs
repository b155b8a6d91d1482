//! `bench-server`: a component Artifact fetched from a fake Mender Server by baton's
//! `mender-server` source, against `curl` (see `e2e::bench::server`).
//!
//!     bench-server [--mib 256] [--runs 5] [--tmpfs-dir /dev/shm] [--quick]
//!
//! Prints a Markdown section; `e2e/bench` runs it with the others.

use e2e::bench::{plan, server, Args};

fn main() {
    let values = [plan::VALUES, &["--mib"]].concat();
    let args = Args::from_env(&values, plan::SWITCHES);
    let mut opts = plan::Plan::from_args(&args).server;
    opts.mib = args.num("--mib", opts.mib);
    print!("{}", server::section(&opts).markdown());
}
