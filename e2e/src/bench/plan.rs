//! How much of everything a run measures: the full plan (about a quarter of an hour on a
//! 2-core machine) or `--quick` (a smoke run of under a minute, figures not worth keeping).
//! Every benchmark binary takes its defaults from here, so they agree with BENCHMARKS.md.

use std::path::PathBuf;

use super::{artifact, controller, dirs, engine, install, server, Args};

#[derive(Debug, Clone)]
pub struct Plan {
    pub quick: bool,
    pub engine: engine::Options,
    pub install: install::Options,
    pub artifact: artifact::Options,
    pub server: server::Options,
    /// Payload of the large streamed install whose peak RSS is measured, and its runs.
    pub peak_mib: u64,
    pub peak_runs: usize,
    /// Where the large install runs.
    pub peak_dir: PathBuf,
    pub controller: controller::Options,
}

/// The options every benchmark binary understands (`--runs` overrides every count of runs;
/// `--sizes` sets the orchestration's component counts: a smoke test runs only `3`).
pub const VALUES: &[&str] = &[
    "--bin-dir",
    "--runs",
    "--tmpfs-dir",
    "--disk-dir",
    "--sizes",
];
pub const SWITCHES: &[&str] = &["--quick"];

impl Plan {
    pub fn from_args(args: &Args) -> Plan {
        let quick = args.flag("--quick");
        let (tmpfs, disk) = dirs(args);
        let runs = |full: usize| args.num("--runs", if quick { 2 } else { full });
        Plan {
            quick,
            engine: engine::Options {
                sizes: args.list(
                    "--sizes",
                    if quick { &[3, 30] } else { &[3, 30, 300, 1000] },
                ),
                runs: runs(5),
                dirs: vec![tmpfs.clone(), disk.clone()],
                journaled_ext4_in: Some(disk.clone()),
            },
            install: install::Options {
                mib: if quick { 4 } else { 64 },
                runs: runs(5),
                dirs: vec![tmpfs.clone(), disk.clone()],
            },
            artifact: artifact::Options {
                mib: if quick { 4 } else { 256 },
                runs: runs(5),
                dir: tmpfs.clone(),
            },
            server: server::Options {
                mib: if quick { 16 } else { 256 },
                runs: runs(5),
                dir: tmpfs,
            },
            peak_mib: if quick { 16 } else { 1024 },
            peak_runs: runs(3),
            peak_dir: disk,
            controller: controller::Options {
                idle_seconds: if quick { 3 } else { 60 },
                drops: if quick { 2 } else { 10 },
                clients: if quick { 100 } else { 1000 },
                load_seconds: if quick { 0.5 } else { 3.0 },
                runs: runs(3),
                startups: if quick { 5 } else { 30 },
            },
        }
    }
}
