//! `bench-install`: a single-component install through baton, through Debian's Mender
//! client 3.4 and as the raw pipeline (see `e2e::bench::install`).
//!
//!     bench-install [--mib 64] [--runs 5] [--tmpfs-dir /dev/shm] [--disk-dir /var/tmp] [--quick]
//!                   [--bin-dir target/release]
//!
//! The Mender client runs in a private mount namespace: root and `unshare` are needed, else
//! its column says why it was not measured. Prints a Markdown section.

use e2e::bench::{install, plan, Args, Bins};

fn main() {
    let values = [plan::VALUES, &["--mib"]].concat();
    let args = Args::from_env(&values, plan::SWITCHES);
    let bins = Bins::from_args(&args);
    let mut opts = plan::Plan::from_args(&args).install;
    opts.mib = args.num("--mib", opts.mib);
    print!("{}", install::section(&bins, &opts).markdown());
}
