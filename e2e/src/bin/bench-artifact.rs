//! `bench-artifact`: `baton artifact verify` against `mender-artifact validate` and the
//! hashing limit, `openssl dgst -sha256` (see `e2e::bench::artifact`).
//!
//!     bench-artifact [--mib 256] [--runs 5] [--tmpfs-dir /dev/shm] [--quick]
//!                    [--bin-dir target/release]
//!
//! Prints a Markdown section; `e2e/bench` runs it with the others.

use e2e::bench::{artifact, plan, Args, Bins};

fn main() {
    let values = [plan::VALUES, &["--mib"]].concat();
    let args = Args::from_env(&values, plan::SWITCHES);
    let bins = Bins::from_args(&args);
    let mut opts = plan::Plan::from_args(&args).artifact;
    opts.mib = args.num("--mib", opts.mib);
    print!("{}", artifact::section(&bins, &opts).markdown());
}
