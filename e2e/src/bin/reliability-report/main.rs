//! Writes `RELIABILITY.md`: every fault or input class, how many cases were tried, how many
//! passed, and what baton did, from a real run of the tests that check it.
//!
//!     e2e/reliability [--long] [--no-release] [--out FILE]
//!
//! Builds the debug binaries the end-to-end tests run, runs each test the rows list once
//! (one `cargo test` per test binary: a package's library tests, or its integration test
//! binary `it` filtered to the listed tests), reads libtest's verdicts and what each test
//! recorded (`e2e::reliability::Tally`, `e2e::need`'s skips, through `$BATON_TALLY_FILE`),
//! and writes the table. A test that returned early because something it needs was missing
//! (a tool, root) makes its row "not run", never "passed". Exits 1 unless every row passed.
//! `--long` runs the long variants (every hit of the journal's fault points, 5 minutes of
//! fuzzing per reader).
//!
//! `e2e/reliability` first builds the release binary with the `fault-injection` feature
//! (`e2e/build-release`), outside this process: under `cargo run`'s environment cargo would
//! see the release build as changed and rebuild it every time.
//!
//! - [`rows`]: the table's rows and their tests;
//! - [`run`]: running the tests and reading what they recorded;
//! - [`page`]: judging the rows and writing the page.

// Times the run it reports on, by the wall clock.
#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;
use std::time::Instant;

mod page;
mod rows;
mod run;

use run::{cargo, must};

/// `--long`, and where to write (`--out FILE`); `e2e/reliability` handles `--no-release`.
fn args() -> (bool, PathBuf) {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let out = a
        .iter()
        .position(|x| x == "--out")
        .and_then(|i| a.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(|| e2e::repo_root().join("RELIABILITY.md"));
    (a.iter().any(|x| x == "--long"), out)
}

fn main() {
    let (long, out_path) = args();
    let started = Instant::now();
    must(
        cargo().args(["build", "--workspace", "--bins"]),
        "building the debug binaries",
    );
    let found = run::run_all(long);
    let minutes = started.elapsed().as_secs().div_ceil(60);
    let (md, all) = page::write(&found, long, minutes);
    std::fs::write(&out_path, md).unwrap();
    eprintln!(
        "reliability-report: wrote {} ({})",
        out_path.display(),
        if all {
            "every row passed"
        } else {
            "NOT every row passed"
        }
    );
    std::process::exit(if all { 0 } else { 1 });
}
