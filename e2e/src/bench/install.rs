//! A single-component install of one Artifact, three ways: through baton (`baton install`
//! with a one-component Topology), through Debian's Mender client 3.4 standalone
//! (`mender install --reboot-exit-code`, then `mender commit`) with an equivalent Update
//! Module, and as the raw pipeline a shell user would write (extract, decompress, sha256):
//! the limit, since any installer must at least decompress and hash every byte.
//!
//! baton and Mender run the *same* consumer, [`SINK`]: a protocol v1 Interface and an
//! Update Module v3 at once (the File API is the same), which reads every payload stream into
//! /dev/null in Download and does nothing in the other states. So both tools do the same
//! work: read the Artifact, check it, decompress the payload, hash it, feed it through the
//! streams tree, and record the install (baton's journal, Mender's database).
//!
//! Mender runs in the private mount namespace of [`crate::mender`] (its Update Modules
//! directory and `/etc/mender` are fixed paths); the `unshare` and two bind mounts cost a
//! few milliseconds per call, which the section measures and reports.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::mender::{Mender, Module};

use super::floor::Floor;
use super::layout;
use super::machine::fs_type;
use super::measure::{interleaved, max_rss_mib, need, repeat, time_command, time_runs};
use super::payload::{self, Kind};
use super::report::{Figure, Row, Section, Target, Unit};
use super::stats::Summary;
use super::Bins;

/// The consumer both tools run: an Interface (`Identity`, `Provides`) and an Update Module
/// (`SupportsRollback`, `NeedsArtifactReboot`) that drains every stream in `Download`.
/// `SupportsRollback: Yes` keeps Mender's standalone flow in two steps (install, then
/// commit), as a user with a rollback-capable module runs it.
pub const SINK: &str = r#"#!/bin/sh
# bench sink: reads every payload stream into /dev/null. Protocol v1 Interface and Update
# Module v3 at once: both call `<state> <File API directory> ...`.
case "$1" in
Identity) echo id=sink ;;
Provides) echo "rootfs-image.$(basename "$0").version=factory" ;;
SupportsRollback) echo Yes ;;
NeedsArtifactReboot) echo No ;;
Download)
    cd "$2" || exit 1
    while :; do
        line=$(cat stream-next) || exit 1
        [ -n "$line" ] || break
        cat "${line%% *}" >/dev/null || exit 1
    done
    ;;
esac
exit 0
"#;

/// The device type / component type of the bench System, and the Artifact's payload type.
const DEVICE: &str = "bench";
const PAYLOAD_TYPE: &str = "bench-sink";

/// Single install: issue target, the Mender client's time at least matched...
pub const VS_MENDER: f64 = 1.0;
/// ...and within this factor of the raw pipeline.
pub const VS_PIPELINE: f64 = 1.2;
/// Peak RSS during a 1 GiB streamed install.
pub const PEAK_RSS_MIB: f64 = 32.0;

/// A directory holding a one-component baton System whose Interface is [`SINK`], and the
/// Artifacts written for it.
pub struct Setup {
    dir: tempfile::TempDir,
}

fn io(e: std::io::Error) -> String {
    e.to_string()
}

impl Setup {
    pub fn new(parent: &Path) -> Result<Setup, String> {
        need(&["mender-artifact"])?;
        let dir = tempfile::Builder::new()
            .prefix("baton-bench-install-")
            .tempdir_in(parent)
            .map_err(io)?;
        let s = Setup { dir };
        let root = s.root();
        let sink = root.join("data/interfaces/v1/sink");
        fs::create_dir_all(sink.parent().unwrap()).map_err(io)?;
        fs::write(&sink, SINK).map_err(io)?;
        fs::set_permissions(&sink, fs::Permissions::from_mode(0o755)).map_err(io)?;
        fs::create_dir_all(root.join("store")).map_err(io)?;
        fs::write(
            root.join("store/topology.yaml"),
            format!(
                "api_version: mender/v1\nkind: topology\nsystem_type: {DEVICE}\ncomponents:\n  \
                 - component_type: {DEVICE}\n    interface: sink\n"
            ),
        )
        .map_err(io)?;
        layout::write_config(root)?;
        Ok(s)
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    fn sink(&self) -> PathBuf {
        self.root().join("data/interfaces/v1/sink")
    }

    /// Writes `<name>.mender` (payload type `bench-sink`, one payload file of `bytes` of
    /// `kind`, compressed with `compression`) with Debian's mender-artifact, and a Manifest
    /// `<name>.yaml` naming it; returns the Artifact's path. The payload file is removed.
    pub fn artifact(
        &self,
        name: &str,
        bytes: u64,
        kind: Kind,
        compression: &str,
    ) -> Result<PathBuf, String> {
        let raw = self.root().join(format!("{name}.payload"));
        payload::write_file(&raw, bytes, kind).map_err(io)?;
        let art = self.root().join(format!("{name}.mender"));
        let mut write = Command::new("mender-artifact");
        write
            .args([
                "write",
                "module-image",
                "-T",
                PAYLOAD_TYPE,
                "-t",
                DEVICE,
                "-n",
                name,
            ])
            .args(["--compression", compression, "-f"])
            .arg(&raw)
            .arg("-o")
            .arg(&art);
        time_command(&mut write)?;
        fs::remove_file(&raw).map_err(io)?;
        fs::write(
            self.root().join(format!("{name}.yaml")),
            format!(
                "api_version: mender/v1\nkind: manifest\nname: {name}\n\
                 system_types_compatible: [{DEVICE}]\ncomponent_types:\n  {DEVICE}:\n    \
                 artifact_path: {}\n    update_strategy: {{order: 1}}\n",
                art.display()
            ),
        )
        .map_err(io)?;
        // Written back now, so that no flush of these files runs under a measurement.
        let _ = Command::new("sync").status();
        Ok(art)
    }

    /// `baton install` of the Manifest written for Artifact `name`.
    pub fn baton_install(&self, baton: &Path, name: &str) -> Command {
        let root = self.root();
        layout::install(baton, root, &root.join(format!("{name}.yaml")))
    }

    /// A sandboxed Mender client whose `bench-sink` Update Module is [`SINK`].
    pub fn mender(&self) -> Result<Mender, String> {
        crate::mender::sandbox().map_err(|m| m.what)?;
        let m = Mender::new_in(
            self.root(),
            DEVICE,
            &Module::Other(self.sink()),
            Vec::new(),
            None,
        );
        let module = m.dir().join("modules").join(PAYLOAD_TYPE);
        fs::copy(self.sink(), &module).map_err(io)?;
        fs::set_permissions(&module, fs::Permissions::from_mode(0o755)).map_err(io)?;
        Ok(m)
    }
}

/// `mender install --reboot-exit-code <art>` then `mender commit`, in one sandbox.
fn mender_install(m: &Mender, art: &Path) -> Command {
    m.shell(
        "mender install --reboot-exit-code \"$1\" && mender commit",
        &[&art.to_string_lossy()],
    )
}

/// `cmd` run through the same sandbox wrapper as the Mender client (`unshare`, two bind
/// mounts, `sh`), so that both pay its cost once.
fn sandboxed(m: &Mender, cmd: &Command) -> Command {
    let words: Vec<String> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|w| w.to_string_lossy().into_owned())
        .collect();
    let refs: Vec<&str> = words.iter().map(String::as_str).collect();
    m.shell("exec \"$@\"", &refs)
}

/// The raw pipeline over the Artifact's data member: extract, decompress, sha256.
fn pipeline(art: &Path) -> Result<impl Fn() -> Command, String> {
    let list = Command::new("tar")
        .arg("-tf")
        .arg(art)
        .output()
        .map_err(io)?;
    let member = String::from_utf8_lossy(&list.stdout)
        .lines()
        .find(|l| l.starts_with("data/0000.tar"))
        .ok_or_else(|| format!("{} has no data/0000.tar*", art.display()))?
        .to_string();
    let decompress = match member.rsplit_once('.').map(|(_, ext)| ext) {
        Some("gz") => "gzip -dc |",
        Some("xz") => "xz -dc |",
        Some("zst") => "zstd -dc |",
        _ => "",
    };
    let script = format!("tar -xOf \"$1\" \"$2\" | {decompress} tar -xO | openssl dgst -sha256");
    let art = art.to_path_buf();
    Ok(move || {
        let mut cmd = Command::new("bash");
        cmd.args(["-o", "pipefail", "-c", &script, "pipeline"])
            .arg(&art)
            .arg(&member);
        cmd
    })
}

fn figure(what: &str, values: Result<Vec<f64>, String>, unit: Unit) -> Result<Figure, String> {
    let v = values?;
    Summary::of(&v)
        .map(|s| Figure::new(what, s, unit))
        .ok_or_else(|| "no measurement".to_string())
}

#[derive(Debug, Clone)]
pub struct Options {
    pub mib: u64,
    pub runs: usize,
    /// Where the System, the Mender datastore and the Artifacts live: one set of rows each.
    pub dirs: Vec<PathBuf>,
}

/// The single-component install section.
pub fn section(bins: &Bins, opts: &Options) -> Section {
    let places: Vec<String> = opts
        .dirs
        .iter()
        .map(|d| format!("`{}` ({})", d.display(), fs_type(d)))
        .collect();
    let mut s = Section::new("Single-component install").intro(format!(
        "One component, one Artifact with a {mib} MiB payload file (`mender-artifact write \
         module-image`, compression none with {none}, gzip with {text}), installed three ways, \
         each timed as whole processes: **baton**: `baton install` with a one-component \
         Topology; **mender-client 3.4**: Debian's Go client standalone, `mender install \
         --reboot-exit-code` then `mender commit`, in a private mount namespace (its Update \
         Modules directory and `/etc/mender` are fixed paths); **raw pipeline**: `tar -xOf \
         ARTIFACT data/0000.tar[.gz] | [gzip -dc |] tar -xO | openssl dgst -sha256`, the \
         least any installer must do (decompress and hash every byte; `openssl` because it \
         uses the CPU's SHA instructions, 3-4x faster than coreutils' `sha256sum` here). baton \
         and Mender run the same consumer, a sh script that is both an Interface and an \
         Update Module and reads every payload stream into /dev/null in Download \
         (`SINK` in `e2e/src/bench/install.rs`). Median of {runs} runs after one warm-up, \
         page cache warm. baton's System, Mender's datastore and the Artifacts are in the \
         same directory, in turn {places}. The *true floor* is the data member's \
         single-thread decompressor alone (`libdeflate-gunzip -c`, the fastest gzip \
         inflater) or, uncompressed, `openssl dgst -sha256` over it: what reading the \
         payload costs at best, before any streaming, on a machine where baton hashes on a \
         second thread.",
        mib = opts.mib,
        none = Kind::Random.describe(),
        text = Kind::Text.describe(),
        runs = opts.runs,
        places = places.join(" and "),
    ));
    if let Err(e) = need(&["mender-artifact", "openssl", "bash", "tar", "gzip"]) {
        s.rows.push(Row::new("every scenario", Err(e)));
        return s;
    }
    let mut sandbox_note = None;
    for (i, dir) in opts.dirs.iter().enumerate() {
        let fs = fs_type(dir);
        let setup = match Setup::new(dir) {
            Ok(setup) => setup,
            Err(e) => {
                s.rows
                    .push(Row::new(format!("every scenario, {fs}"), Err(e)));
                continue;
            }
        };
        let mender = setup.mender();
        for (compression, kind) in [("none", Kind::Random), ("gzip", Kind::Text)] {
            let (rows, size) = install_rows(bins, opts, &setup, &mender, compression, kind, &fs);
            s.rows.extend(rows);
            if let (0, Some(size)) = (i, size) {
                s.note(format!(
                    "The {compression} Artifact is {size:.1} MiB for {} MiB of payload.",
                    opts.mib
                ));
            }
        }
        if let (None, Ok(m)) = (&sandbox_note, &mender) {
            sandbox_note = sandbox_cost(m, opts.runs);
        }
    }
    s.note(
        "baton is timed twice: alone, against the raw pipeline; and through the Mender \
         client's sandbox wrapper (`unshare -m`, two bind mounts, `sh`, then `exec baton \
         install ...`), against `mender install --reboot-exit-code ARTIFACT && mender commit` \
         run by one such wrapper, so that both pay the wrapper once. The four commands run \
         in turn, round after round, so that a change in the machine's load hits them alike.",
    );
    if let Some(note) = sandbox_note {
        s.note(note);
    }
    s.note(
        "**tmpfs and disk.** baton makes a deployment durable as it goes: an `fsync` per \
         journal record, and one `syncfs` of the datastore's filesystem after each order \
         group's Download (the File API trees and payloads are written unsynced, then made \
         durable at once: `sync_trees` in `controller/src/engine/exec.rs`). On tmpfs a sync \
         costs nothing, so the tmpfs rows are baton's own work. On a disk, `syncfs` writes \
         back *every* dirty page of that filesystem, other programs' included: on a busy \
         machine (see the load average above) that one call can take 100 ms or more, and \
         the disk rows carry it. Both are judged: the disk rows are what a device pays, the \
         tmpfs rows what baton itself costs.",
    );
    s
}

/// The rows of one Artifact (`compression`, `kind`) installed in `setup`: against Mender
/// and against the raw pipeline; and the Artifact's size in MiB.
fn install_rows(
    bins: &Bins,
    opts: &Options,
    setup: &Setup,
    mender: &Result<Mender, String>,
    compression: &str,
    kind: Kind,
    fs: &str,
) -> (Vec<Row>, Option<f64>) {
    let name = format!("bench-{compression}");
    let scenario = format!("{} MiB, {compression}, {fs}", opts.mib);
    eprintln!("bench: single install, {scenario}");
    let art = match setup.artifact(&name, opts.mib << 20, kind, compression) {
        Ok(a) => a,
        Err(e) => return (vec![Row::new(scenario, Err(e))], None),
    };
    let size = fs::metadata(&art).map_or(0, |m| m.len()) as f64 / f64::from(1 << 20);
    let pipe = pipeline(&art);
    let floor = Floor::of(&art, setup.root());
    let in_sandbox = |plain: Command| -> Result<Command, String> {
        let m = mender.as_ref().map_err(Clone::clone)?;
        Ok(sandboxed(m, &plain))
    };
    let cols = interleaved(
        1,
        opts.runs,
        vec![
            Box::new(|| Ok(setup.baton_install(&bins.baton, &name))),
            Box::new(|| pipe.as_ref().map(|p| p()).map_err(Clone::clone)),
            Box::new(|| in_sandbox(setup.baton_install(&bins.baton, &name))),
            Box::new(|| {
                let m = mender.as_ref().map_err(Clone::clone)?;
                Ok(mender_install(m, &art))
            }),
            Box::new(|| floor.as_ref().map(Floor::command).map_err(Clone::clone)),
        ],
    );
    let _ = fs::remove_file(&art);
    let col = |i: usize, what: &str| figure(what, cols[i].clone(), Unit::Seconds);
    let floor_what = floor.as_ref().map_or(String::new(), |f| f.what.clone());
    if let Ok(f) = floor {
        f.remove();
    }
    let rows = vec![
        Row::new(
            format!("{scenario}: vs Mender (both sandboxed)"),
            col(2, ""),
        )
        .against(col(3, "mender-client 3.4"))
        .floor(col(4, &floor_what))
        .target(Target::ratio_at_most(VS_MENDER)),
        Row::new(format!("{scenario}: vs the limit"), col(0, ""))
            .against(col(1, "raw pipeline"))
            .floor(col(4, &floor_what))
            .target(Target::ratio_at_most(VS_PIPELINE)),
    ];
    (rows, Some(size))
}

/// What the mount namespace adds to a command: sandboxed `mender --version` minus plain
/// `mender --version`.
fn sandbox_cost(m: &Mender, runs: usize) -> Option<String> {
    let runs = runs.max(5);
    let inside = Summary::of(&time_runs(1, runs, || m.command(&["--version"])).ok()?)?;
    let outside = Summary::of(
        &time_runs(1, runs, || {
            let mut c = Command::new("mender");
            c.arg("--version");
            c
        })
        .ok()?,
    )?;
    Some(format!(
        "The sandbox wrapper itself costs {:.1} ms (median sandboxed `mender --version` \
         {:.1} ms, plain {:.1} ms).",
        (inside.median - outside.median) * 1e3,
        inside.median * 1e3,
        outside.median * 1e3,
    ))
}

/// Peak resident memory (and time) of a streamed install of a `mib` MiB uncompressed
/// Artifact: baton against the Mender client's `mender install`.
pub fn peak_rss_rows(bins: &Bins, dir: &Path, mib: u64, runs: usize) -> Vec<Row> {
    let scenario = if mib >= 1024 && mib.is_multiple_of(1024) {
        format!("{} GiB streamed install", mib / 1024)
    } else {
        format!("{mib} MiB streamed install")
    };
    eprintln!("bench: peak RSS, {scenario}");
    let prepared = Setup::new(dir).and_then(|setup| {
        let art = setup.artifact("bench-big", mib << 20, Kind::Random, "none")?;
        Ok((setup, art))
    });
    let (setup, art) = match prepared {
        Ok(p) => p,
        Err(e) => return vec![Row::new(format!("{scenario}: peak RSS"), Err(e))],
    };
    let mender = setup.mender();
    // Both through the sandbox wrapper when it runs (the same cost for both); baton alone
    // when it cannot, so that its own figure is still measured.
    let baton = || {
        let plain = setup.baton_install(&bins.baton, "bench-big");
        match &mender {
            Ok(m) => sandboxed(m, &plain),
            Err(_) => plain,
        }
    };
    let ours = repeat(1, runs, || max_rss_mib(&baton()));
    let theirs = mender
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|m| repeat(1, runs, || max_rss_mib(&mender_install(m, &art))));
    let split = |r: &Result<Vec<(std::time::Duration, f64)>, String>, what: &str, time: bool| {
        figure(
            what,
            r.as_ref().map_err(Clone::clone).map(|v| {
                v.iter()
                    .map(|(d, m)| if time { d.as_secs_f64() } else { *m })
                    .collect()
            }),
            if time { Unit::Seconds } else { Unit::MiB },
        )
    };
    vec![
        Row::new(format!("{scenario}: peak RSS"), split(&ours, "", false))
            .against(split(&theirs, "mender-client 3.4", false))
            .target(Target::below(PEAK_RSS_MIB)),
        Row::new(format!("{scenario}: time"), split(&ours, "", true)).against(split(
            &theirs,
            "mender-client 3.4",
            true,
        )),
    ]
}
