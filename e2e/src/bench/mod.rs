//! baton's benchmarks: baton measured side by side with its peers (Debian's Mender client
//! and mender-artifact, a shell pipeline) and with the physical limit, on one machine in one
//! run, and written up as BENCHMARKS.md.
//!
//! Each scenario lives in its own file and returns a [`report::Section`]: `engine`
//! (orchestration overhead), `install` (a single-component install, and the peak memory of a
//! large one), `artifact` (verification), `server` (an Artifact fetched from the Mender
//! Server), `controller` (`baton run` at rest and at work).
//! `measure` times whole processes, `stats` summarises runs, `floor` names the least a
//! payload can cost (its single-thread decompressor, or SHA-256), `report` renders and judges,
//! `machine` describes where it ran. The binaries `bench-*` in `src/bin/` are thin command
//! lines over these; `bench-all` (through `e2e/bench`) runs them all.
//!
//! A benchmark here never asserts on a figure: it reports medians, ranges and ratios against
//! baselines measured in the same run, and says when a target is not met. Tests of this
//! module check the arithmetic and the rendering, never a speed.

pub mod artifact;
pub mod controller;
pub mod engine;
pub mod floor;
pub mod install;
pub mod layout;
pub mod loop_ext4;
pub mod machine;
pub mod measure;
pub mod page;
pub mod payload;
pub mod plan;
pub mod report;
pub mod server;
pub mod stats;

use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The binaries under test.
#[derive(Debug, Clone)]
pub struct Bins {
    pub baton: PathBuf,
    pub noop: PathBuf,
}

impl Bins {
    /// `baton` and `noop-interface` in `dir`; an error naming the build command if missing.
    pub fn in_dir(dir: &Path) -> Result<Bins, String> {
        let bins = Bins {
            baton: dir.join("baton"),
            noop: dir.join("noop-interface"),
        };
        for p in [&bins.baton, &bins.noop] {
            if !p.is_file() {
                return Err(format!(
                    "{} is missing: run `cargo build --release --workspace --bins` (e2e/bench does)",
                    p.display()
                ));
            }
        }
        Ok(bins)
    }

    /// The release directory: `$CARGO_TARGET_DIR/release`, else `<repo>/target/release`.
    pub fn default_dir() -> PathBuf {
        std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| crate::repo_root().join("target"), PathBuf::from)
            .join("release")
    }

    /// From `--bin-dir`, else the release directory; exits with the reason if missing. Also
    /// points the end-to-end helpers (which run `$BATON_BIN`) at this `baton`.
    pub fn from_args(args: &Args) -> Bins {
        let dir = args
            .value("--bin-dir")
            .map_or_else(Bins::default_dir, PathBuf::from);
        let bins = Bins::in_dir(&dir).unwrap_or_else(|e| die(&e));
        // Before any thread starts: the helpers read it when they build commands.
        std::env::set_var("BATON_BIN", &bins.baton);
        bins
    }
}

/// Prints the reason and exits with status 2 (a usage or setup problem).
pub fn die(why: &str) -> ! {
    eprintln!("bench: {why}");
    std::process::exit(2)
}

/// A tiny command line: `--name value` options and `--name` switches, every name declared.
#[derive(Debug, Default)]
pub struct Args {
    values: Vec<(String, String)>,
    switches: Vec<String>,
}

impl Args {
    /// Parses `args` (without the program name); any undeclared name is an error.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        values: &[&str],
        switches: &[&str],
    ) -> Result<Args, String> {
        let mut out = Args::default();
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            if switches.contains(&a.as_str()) {
                out.switches.push(a);
            } else if values.contains(&a.as_str()) {
                let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
                out.values.push((a, v));
            } else {
                return Err(format!(
                    "unknown argument `{a}` (options: {} {})",
                    values.join(" "),
                    switches.join(" ")
                ));
            }
        }
        Ok(out)
    }

    /// This process's arguments; exits with the reason on a mistake.
    pub fn from_env(values: &[&str], switches: &[&str]) -> Args {
        Args::parse(std::env::args().skip(1), values, switches).unwrap_or_else(|e| die(&e))
    }

    /// The last value given for `name`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value given for `name`, in order.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.values
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn flag(&self, name: &str) -> bool {
        self.switches.iter().any(|s| s == name)
    }

    /// `name` parsed, or `default`; exits with the reason when it does not parse.
    pub fn num<T: FromStr>(&self, name: &str, default: T) -> T {
        match self.value(name) {
            None => default,
            Some(v) => v
                .parse()
                .unwrap_or_else(|_| die(&format!("{name}: `{v}` is not a number"))),
        }
    }

    /// A comma-separated list of numbers, or `default`.
    pub fn list(&self, name: &str, default: &[usize]) -> Vec<usize> {
        match self.value(name) {
            None => default.to_vec(),
            Some(v) => v
                .split(',')
                .map(|x| {
                    x.trim()
                        .parse()
                        .unwrap_or_else(|_| die(&format!("{name}: `{x}` is not a number")))
                })
                .collect(),
        }
    }
}

/// Where Systems are built: tmpfs (baton's own cost) and a disk filesystem (what a device
/// pays). `--tmpfs-dir` (default /dev/shm) and `--disk-dir` (default /var/tmp).
pub fn dirs(args: &Args) -> (PathBuf, PathBuf) {
    (
        PathBuf::from(args.value("--tmpfs-dir").unwrap_or("/dev/shm")),
        PathBuf::from(args.value("--disk-dir").unwrap_or("/var/tmp")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(a: &[&str]) -> Result<Args, String> {
        Args::parse(
            a.iter().map(|s| s.to_string()),
            &["--runs", "--sizes", "--disk-dir"],
            &["--quick"],
        )
    }

    #[test]
    fn values_switches_and_lists() {
        let a = parse(&["--quick", "--runs", "3", "--sizes", "3, 30", "--runs", "4"]).unwrap();
        assert!(a.flag("--quick"));
        assert_eq!(a.num("--runs", 5usize), 4, "the last value wins");
        assert_eq!(a.list("--sizes", &[1]), vec![3, 30]);
        assert_eq!(a.list("--other", &[1]), vec![1]);
        assert_eq!(a.values("--runs"), vec!["3", "4"]);
    }

    #[test]
    fn mistakes_are_refused() {
        assert!(parse(&["--runs"]).unwrap_err().contains("needs a value"));
        assert!(parse(&["--rnus", "3"])
            .unwrap_err()
            .contains("unknown argument `--rnus`"));
    }
}
