//! Artifact verification: `baton artifact verify` (header, signature policy, every payload
//! checksum; nothing installed) against `mender-artifact validate` (Debian's 3.9, Go),
//! against the hashing limit, `openssl dgst -sha256` over the raw payload file, and against
//! the true floor of each codec (`floor`): its single-thread decompressor alone.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::floor::Floor;
use super::measure::{interleaved, max_rss_mib, need, repeat, time_command, time_runs};
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
/// Issue 21's: a compressible gzip Artifact verified within 1.3x of libdeflate's time just
/// to decompress it.
pub const VS_INFLATER: f64 = 1.3;

/// The payloads: none with random bytes, every codec with compressible text. xz and zstd
/// Artifacts are the gzip one with its data member recompressed (Debian's mender-artifact
/// 3.9 writes no zstd, and its pure-Go xz takes minutes for 256 MiB; so does `xz -6`
/// here, hence `xz -1`, which decodes within 5% of `xz -6`'s speed).
const CODECS: [(&str, Kind); 4] = [
    ("none", Kind::Random),
    ("gzip", Kind::Text),
    ("xz", Kind::Text),
    ("zstd", Kind::Text),
];

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

/// `mender-artifact write module-image` of `raw` with `compression` (`none`, `gzip`).
fn write_artifact(raw: &Path, compression: &str, art: &Path) -> Result<(), String> {
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
    .arg(raw)
    .arg("-o")
    .arg(art);
    time_command(&mut w).map(drop)
}

/// The gzip Artifact `gzip` with its data member recompressed as `codec` (`xz`, `zstd`):
/// the manifest lists the version, the header and the payload files, never the data
/// member itself, so nothing else changes.
fn recompress(gzip: &Path, codec: &str, art: &Path) -> Result<(), String> {
    let (ext, compress) = match codec {
        "xz" => ("xz", "xz -1 -T0"),
        _ => ("zst", "zstd -q -3 -T0"),
    };
    need(&[codec, "gzip", "tar"])?;
    let script = format!(
        "set -e; d=$(mktemp -d \"$3/repack.XXXXXX\"); cd \"$d\"; tar -xf \"$1\"; \
         gzip -dc data/0000.tar.gz | {compress} > data/0000.tar.{ext}; \
         tar --format=ustar -cf \"$2\" version manifest header.tar.gz data/0000.tar.{ext}; \
         cd /; rm -rf \"$d\""
    );
    let dir = art.parent().unwrap_or(Path::new("/tmp"));
    let mut c = Command::new("sh");
    c.args(["-c", &script, "recompress"])
        .arg(gzip)
        .arg(art)
        .arg(dir);
    time_command(&mut c).map(drop)
}

pub fn section(bins: &Bins, opts: &Options) -> Section {
    let mut s = Section::new("Artifact verification")
        .intro(format!(
        "`baton artifact verify ARTIFACT` (reads the whole Artifact: header, signature policy, \
         every payload checksum; installs nothing) against `mender-artifact validate ARTIFACT` \
         and against the hashing limit, `openssl dgst -sha256` over the raw payload file. \
         {mib} MiB payload; none with {none}, gzip, xz and zstd with {text} (the xz and zstd \
         Artifacts are the gzip one with its data member recompressed by `xz -1` and \
         `zstd -3`). Median of {runs} runs after one warm-up, page cache warm; peak RSS from \
         GNU time over the same runs. The targets are the Artifact issue's: within \
         {VS_HASHING}x of hashing when there is nothing to decompress, never slower than \
         mender-artifact, under {PEAK_RSS_MIB} MiB; and issue 21's: within {VS_INFLATER}x \
         of libdeflate decompressing the gzip data member.",
        mib = opts.mib,
        none = Kind::Random.describe(),
        text = Kind::Text.describe(),
        runs = opts.runs,
    ))
        .intro(
            "**True floor.** Each row also names the least the work can cost here, whatever the \
         tool: uncompressed, SHA-256 at the CPU's speed (`openssl dgst -sha256`, SHA \
         instructions); compressed, the codec's single-thread decompressor alone, writing \
         to /dev/null (`libdeflate-gunzip -c`, the fastest gzip inflater; `xz -dc -T1`; \
         `zstd -dc`) over the Artifact's data member. baton decompresses on one thread and \
         hashes on another, so on two cores it can at best hide the hashing behind the \
         decompression; for these payloads decompressing is the slower of the two.",
        );
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
    let raw_text = dir.path().join("payload-text");
    let gzip = dir.path().join("bench-gzip.mender");
    for (compression, kind) in CODECS {
        eprintln!(
            "bench: artifact verification, {} MiB, {compression}",
            opts.mib
        );
        let raw = match kind {
            Kind::Random => dir.path().join("payload-random"),
            Kind::Text => raw_text.clone(),
        };
        let art = dir.path().join(format!("bench-{compression}.mender"));
        let written = if raw.exists() {
            Ok(())
        } else {
            payload::write_file(&raw, opts.mib << 20, kind).map_err(|e| e.to_string())
        }
        .and_then(|()| match compression {
            "none" | "gzip" => write_artifact(&raw, compression, &art),
            codec => recompress(&gzip, codec, &art),
        });
        let _ = Command::new("sync").status();
        let scenario = format!("{} MiB, {compression}", opts.mib);
        if let Err(e) = written {
            s.rows.push(Row::new(scenario, Err(e)));
            continue;
        }
        s.rows.extend(codec_rows(
            bins,
            opts,
            &scenario,
            compression,
            &raw,
            &art,
            dir.path(),
        ));
        let size = std::fs::metadata(&art).map_or(0, |m| m.len()) as f64 / f64::from(1 << 20);
        s.note(format!(
            "The {compression} Artifact is {size:.1} MiB for {} MiB of payload.",
            opts.mib
        ));
        if kind == Kind::Random {
            let _ = std::fs::remove_file(&raw);
        }
        if art != gzip {
            let _ = std::fs::remove_file(&art);
        }
    }
    s.note(
        "The timings are of the runs under GNU time (`/usr/bin/time -f %M`), which adds about \
         a millisecond to each, to baton and mender-artifact alike, except the rows against \
         the decompressor, where baton and the decompressor run in turn, round after round, \
         without it. Compressed, the hashing limit is no bound: decompressing costs more \
         than hashing.",
    );
    s
}

/// The rows of one Artifact: against the codec's floor, the hashing limit and
/// mender-artifact (none and gzip only: Debian's 3.9 reads no zstd), and the peak RSS.
fn codec_rows(
    bins: &Bins,
    opts: &Options,
    scenario: &str,
    compression: &str,
    raw: &Path,
    art: &Path,
    dir: &Path,
) -> Vec<Row> {
    let runs = opts.runs;
    let verify = || cmd(&bins.baton, &["artifact", "verify"], art);
    let floor = Floor::of(art, dir);
    let floor_fig = |r: &Result<Vec<f64>, String>| {
        let what = floor.as_ref().map_or(String::new(), |f| f.what.clone());
        figure(&what, r.clone(), Unit::Seconds)
    };
    let mut rows = Vec::new();
    let floor_runs = if compression == "none" {
        // The floor is the hashing limit itself, timed below.
        None
    } else {
        let cols = interleaved(
            1,
            runs,
            vec![
                Box::new(|| Ok(verify())),
                Box::new(|| floor.as_ref().map(Floor::command).map_err(Clone::clone)),
            ],
        );
        let row = Row::new(
            format!("{scenario}: vs the single-thread decompressor"),
            figure("", cols[0].clone(), Unit::Seconds),
        )
        .against(floor_fig(&cols[1]))
        .floor(floor_fig(&cols[1]));
        rows.push(if compression == "gzip" {
            row.target(Target::ratio_at_most(VS_INFLATER))
        } else {
            row
        });
        Some(cols[1].clone())
    };
    let limit = time_runs(1, runs, || cmd("openssl", &["dgst", "-sha256"], raw));
    let floor_of_row = floor_runs.map_or_else(|| floor_fig(&limit), |r| floor_fig(&r));
    let ours = repeat(1, runs, || max_rss_mib(&verify()));
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
    .against(figure("openssl dgst -sha256", limit.clone(), Unit::Seconds))
    .floor(floor_of_row.clone());
    // Decompressing costs more than hashing: the hashing limit bounds only `none`.
    rows.push(if compression == "none" {
        hashing.target(Target::ratio_at_most(VS_HASHING))
    } else {
        hashing
    });
    let theirs = matches!(compression, "none" | "gzip").then(|| {
        repeat(1, runs, || {
            max_rss_mib(&cmd("mender-artifact", &["validate"], art))
        })
    });
    if let Some(theirs) = &theirs {
        rows.push(
            Row::new(
                format!("{scenario}: vs mender-artifact"),
                pick(&ours, "", true),
            )
            .against(pick(theirs, "mender-artifact validate", true))
            .floor(floor_of_row)
            .target(Target::ratio_at_most(VS_MENDER_ARTIFACT)),
        );
    }
    let mut rss = Row::new(format!("{scenario}: peak RSS"), pick(&ours, "", false));
    if let Some(theirs) = &theirs {
        rss = rss.against(pick(theirs, "mender-artifact validate", false));
    }
    rows.push(rss.target(Target::below(PEAK_RSS_MIB)));
    if let Ok(f) = floor {
        f.remove();
    }
    rows
}
