//! Artifact verification: `baton artifact verify` (header, signature policy, every payload
//! checksum; nothing installed) against `mender-artifact validate` (Debian's 3.9, Go)
//! and against the hashing limit, `openssl dgst -sha256` over the raw payload file.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::measure::{max_rss_mib, need, repeat, time_command, time_runs};
use super::payload::{self, Kind};
use super::report::{Figure, Row, Section, Target, Unit};
use super::stats::Summary;
use super::Bins;

#[derive(Debug, Clone)]
pub struct Options {
    pub mib: u64,
    pub runs: usize,
    pub dir: PathBuf,
}

/// The Artifact issue's targets: verify within 1.2x of hashing when nothing is to be
/// decompressed, never slower than mender-artifact, and a small bounded memory.
pub const VS_HASHING: f64 = 1.2;
pub const VS_MENDER_ARTIFACT: f64 = 1.0;
pub const PEAK_RSS_MIB: f64 = 32.0;

fn cmd(program: impl AsRef<std::ffi::OsStr>, args: &[&str], file: &Path) -> Command {
    let mut c = Command::new(program);
    c.args(args).arg(file);
    c
}

fn figure(what: &str, v: Result<Vec<f64>, String>, unit: Unit) -> Result<Figure, String> {
    let v = v?;
    Summary::of(&v)
        .map(|s| Figure::new(what, s, unit))
        .ok_or_else(|| "no measurement".into())
}

pub fn section(bins: &Bins, opts: &Options) -> Section {
    let mut s = Section::new("Artifact verification").intro(format!(
        "`baton artifact verify ARTIFACT` (reads the whole Artifact: header, signature policy, \
         every payload checksum; installs nothing) against `mender-artifact validate ARTIFACT` \
         and against the hashing limit, `openssl dgst -sha256` over the raw payload file. \
         {mib} MiB payload; none with {none}, gzip with {text}. Median of {runs} runs after \
         one warm-up, page cache warm; peak RSS from GNU time over the same runs. The \
         targets are the Artifact issue's: within {VS_HASHING}x of hashing when there is \
         nothing to decompress, never slower than mender-artifact, under {PEAK_RSS_MIB} MiB.",
        mib = opts.mib,
        none = Kind::Random.describe(),
        text = Kind::Text.describe(),
        runs = opts.runs,
    ));
    let dir = need(&["mender-artifact", "openssl"]).and_then(|()| {
        tempfile::Builder::new()
            .prefix("baton-bench-artifact-")
            .tempdir_in(&opts.dir)
            .map_err(|e| e.to_string())
    });
    let dir = match dir {
        Ok(d) => d,
        Err(e) => {
            s.rows.push(Row::new("every scenario", Err(e)));
            return s;
        }
    };
    for (compression, kind) in [("none", Kind::Random), ("gzip", Kind::Text)] {
        eprintln!(
            "bench: artifact verification, {} MiB, {compression}",
            opts.mib
        );
        let raw = dir.path().join(format!("payload-{compression}"));
        let art = dir.path().join(format!("bench-{compression}.mender"));
        let written = payload::write_file(&raw, opts.mib << 20, kind)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                let mut w = Command::new("mender-artifact");
                w.args([
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
                .arg(&art);
                time_command(&mut w).map(drop)
            });
        let _ = Command::new("sync").status();
        let scenario = format!("{} MiB, {compression}", opts.mib);
        if let Err(e) = written {
            s.rows.push(Row::new(scenario, Err(e)));
            continue;
        }
        let runs = opts.runs;
        let limit = figure(
            "openssl dgst -sha256",
            time_runs(1, runs, || cmd("openssl", &["dgst", "-sha256"], &raw)),
            Unit::Seconds,
        );
        let verify = || cmd(&bins.baton, &["artifact", "verify"], &art);
        let validate = || cmd("mender-artifact", &["validate"], &art);
        let ours = repeat(1, runs, || max_rss_mib(&verify()));
        let theirs = repeat(1, runs, || max_rss_mib(&validate()));
        let pick = |r: &Result<Vec<(std::time::Duration, f64)>, String>, what, time: bool| {
            figure(
                what,
                r.clone().map(|v| {
                    v.iter()
                        .map(|(d, m)| if time { d.as_secs_f64() } else { *m })
                        .collect()
                }),
                if time { Unit::Seconds } else { Unit::MiB },
            )
        };
        let hashing = Row::new(
            format!("{scenario}: vs the hashing limit"),
            pick(&ours, "", true),
        )
        .against(limit);
        // Decompressing gzip costs more than hashing: the hashing limit bounds only `none`.
        s.rows.push(if compression == "none" {
            hashing.target(Target::ratio_at_most(VS_HASHING))
        } else {
            hashing
        });
        s.rows.push(
            Row::new(
                format!("{scenario}: vs mender-artifact"),
                pick(&ours, "", true),
            )
            .against(pick(&theirs, "mender-artifact validate", true))
            .target(Target::ratio_at_most(VS_MENDER_ARTIFACT)),
        );
        s.rows.push(
            Row::new(format!("{scenario}: peak RSS"), pick(&ours, "", false))
                .against(pick(&theirs, "mender-artifact validate", false))
                .target(Target::below(PEAK_RSS_MIB)),
        );
        let size = std::fs::metadata(&art).map_or(0, |m| m.len()) as f64 / f64::from(1 << 20);
        s.note(format!(
            "The {compression} Artifact is {size:.1} MiB for {} MiB of payload.",
            opts.mib
        ));
        let _ = std::fs::remove_file(&raw);
        let _ = std::fs::remove_file(&art);
    }
    s.note(
        "The timings are of the runs under GNU time (`/usr/bin/time -f %M`), which adds about \
         a millisecond to each, to baton and mender-artifact alike. With gzip, both tools \
         spend most of their time decompressing on one core; the hashing limit is then no \
         bound, and the install section compares with a decompress-and-hash pipeline instead.",
    );
    s
}
