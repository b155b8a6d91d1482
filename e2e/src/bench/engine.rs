//! Orchestration overhead: a full deployment (`baton install`) of N components in 3 order
//! groups, every component driven by the native no-op Interface, against a baseline that
//! only spawns the same Interface processes in the same order with the same parallelism and
//! barriers (observation 16 at a time; per group Download with its two queries,
//! ArtifactInstall, NeedsArtifactReboot; then ArtifactCommit and Cleanup per group), each
//! call a task on a two-worker runtime as in `baton install` (one thread spawning every
//! process would make the baseline slower than baton itself). The
//! difference is what baton adds: parsing, planning, Artifact reading and verification, File
//! API directories, the journal with its fsyncs.
//!
//! The System (datastore, File API trees) lives in a directory of the caller's choice, so
//! the same scenario runs on tmpfs and on a disk filesystem. The protocol makes baton create
//! about 16 files and directories per component and remove them at Cleanup. On ext4 mounted
//! *without a journal*, the inode allocator skips every inode freed in the last 60 s (6
//! minutes while its inode table block is dirty): `find_inode_bit()` calls
//! `recently_deleted()` in `fs/ext4/ialloc.c` only when `s_journal` is NULL, and each call
//! looks the candidate's deletion time up in the inode table. Back-to-back deployments of
//! hundreds of components make it skip thousands; the spawn-only baseline creates no file.
//! tmpfs shows baton's own overhead; the disk, what a device with that filesystem pays.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use baton::artifact::testkit::ArtifactBuilder;

use super::layout;
use super::loop_ext4::LoopExt4;
use super::machine::fs_type;
use super::measure::{repeat, time_command};
use super::report::{Figure, Row, Section, Target, Unit};
use super::stats::Summary;
use super::Bins;

const TYPES: [&str; 3] = ["alpha", "beta", "gamma"];

/// The component count the target is set at.
pub const TARGET_SIZE: usize = 300;
/// baton install / spawn baseline at [`TARGET_SIZE`] components.
pub const TARGET_RATIO: f64 = 1.3;
/// The larger System the performance issue (step 2) sets a tmpfs target at, and that target.
pub const LARGE_SIZE: usize = 1000;
pub const LARGE_TMPFS_RATIO: f64 = 1.15;

#[derive(Debug, Clone)]
pub struct Options {
    pub sizes: Vec<usize>,
    pub runs: usize,
    /// Where Systems are built, one table row per (directory, size).
    pub dirs: Vec<PathBuf>,
    /// Also on a default (journaled) ext4 loop-mounted from an image in this directory
    /// (`loop_ext4`), one more row per size.
    pub journaled_ext4_in: Option<PathBuf>,
}

/// The scratch System: N no-op components, 3 Artifacts, a Manifest, a configuration.
struct System {
    dir: tempfile::TempDir,
    n: usize,
}

impl System {
    fn new(n: usize, noop: &Path, parent: &Path) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("baton-bench-engine-")
            .tempdir_in(parent)
            .map_err(|e| format!("a temporary directory in {}: {e}", parent.display()))?;
        let root = dir.path();
        let iface = root.join("data/interfaces/v1/noop");
        let io = |e: std::io::Error| e.to_string();
        fs::create_dir_all(iface.parent().unwrap()).map_err(io)?;
        fs::copy(noop, &iface).map_err(io)?;
        fs::set_permissions(&iface, fs::Permissions::from_mode(0o755)).map_err(io)?;
        let mut topo = String::from(
            "api_version: mender/v1\nkind: topology\nsystem_type: bench\ncomponents:\n",
        );
        for i in 0..n {
            topo.push_str(&format!(
                "  - component_type: {}\n    interface: noop\n    interface_args: [\"c{i}\"]\n",
                TYPES[i % 3]
            ));
        }
        fs::create_dir_all(root.join("store")).map_err(io)?;
        fs::write(root.join("store/topology.yaml"), topo).map_err(io)?;
        let mut manifest = String::from(
            "api_version: mender/v1\nkind: manifest\nname: bench-v1\nsystem_types_compatible: [bench]\ncomponent_types:\n",
        );
        for (g, t) in TYPES.iter().enumerate() {
            let a = root.join(format!("{t}.mender"));
            let artifact = ArtifactBuilder::new(&format!("{t}-v1"), "noop", t)
                .file("payload", "x")
                .build();
            fs::write(&a, artifact).map_err(io)?;
            manifest.push_str(&format!(
                "  {t}:\n    artifact_path: {}\n    update_strategy: {{order: {}}}\n",
                a.display(),
                10 * (g + 1)
            ));
        }
        fs::write(root.join("manifest.yaml"), manifest).map_err(io)?;
        layout::write_config(root)?;
        Ok(Self { dir, n })
    }

    fn install(&self, baton: &Path) -> Result<Duration, String> {
        let root = self.dir.path();
        let mut cmd = layout::install(baton, root, &root.join("manifest.yaml"));
        time_command(&mut cmd)
    }

    /// The same processes, the same order, the same parallelism, nothing else.
    fn baseline(&self, rt: &tokio::runtime::Runtime) -> Result<Duration, String> {
        let iface = Arc::new(self.dir.path().join("data/interfaces/v1/noop"));
        let work = self.dir.path().join("baseline-work");
        fs::create_dir_all(&work).map_err(|e| e.to_string())?;
        let work = Arc::new(work);
        let n = self.n;
        let t = Instant::now();
        rt.block_on(async move {
            let call = |i: usize, word: &'static str| {
                let (iface, work) = (iface.clone(), work.clone());
                // A task per call, as baton runs each Interface call: the spawns spread over
                // the runtime's workers instead of queuing on one thread.
                let task = tokio::spawn(async move {
                    let out = tokio::process::Command::new(&*iface)
                        .arg(word)
                        .arg(&*work)
                        .arg(TYPES[i % 3])
                        .arg(format!("c{i}"))
                        .stdin(Stdio::null())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped())
                        .output()
                        .await
                        .expect("the no-op Interface runs");
                    assert!(out.status.success(), "the no-op Interface failed");
                });
                async move { task.await.expect("an Interface call task") }
            };
            let gate = Arc::new(tokio::sync::Semaphore::new(16));
            let observe = (0..n).map(|i| {
                let gate = gate.clone();
                async move {
                    let _p = gate.acquire().await.expect("the gate is never closed");
                    call(i, "Identity").await;
                    call(i, "Provides").await;
                }
            });
            join_all(observe).await;
            for g in 0..3 {
                let members: Vec<usize> = (0..n).filter(|i| i % 3 == g).collect();
                join_all(members.iter().map(|&i| async move {
                    call(i, "NeedsUnpackedArtifact").await;
                    call(i, "ProvidePayloadFileSizes").await;
                    call(i, "Download").await;
                }))
                .await;
                for word in ["ArtifactInstall", "NeedsArtifactReboot"] {
                    join_all(members.iter().map(|&i| call(i, word))).await;
                }
            }
            for word in ["ArtifactCommit", "Cleanup"] {
                for g in 0..3 {
                    join_all((0..n).filter(|i| i % 3 == g).map(|i| call(i, word))).await;
                }
            }
        });
        Ok(t.elapsed())
    }
}

/// One row per size, Systems built in `dir`.
fn rows_in(s: &mut Section, dir: &Path, bins: &Bins, opts: &Options, rt: &tokio::runtime::Runtime) {
    let fs = fs_type(dir);
    for &n in &opts.sizes {
        eprintln!(
            "bench: orchestration, {n} components on {fs} ({})",
            dir.display()
        );
        let scenario = format!("{n} components, {fs}");
        let measured = System::new(n, &bins.noop, dir).and_then(|sys| {
            let pairs = repeat(1, opts.runs, || {
                Ok((sys.install(&bins.baton)?, sys.baseline(rt)?))
            })?;
            let secs = |f: fn(&(Duration, Duration)) -> Duration| {
                let v: Vec<f64> = pairs.iter().map(|p| f(p).as_secs_f64()).collect();
                Summary::of(&v).expect("at least one run")
            };
            Ok((secs(|p| p.0), secs(|p| p.1)))
        });
        let row = match measured {
            // The spawns alone are also the true floor: no orchestrator can do less.
            Ok((ours, base)) => Row::new(scenario, Ok(Figure::new("", ours, Unit::Seconds)))
                .against(Ok(Figure::new("spawn only", base, Unit::Seconds)))
                .floor(Ok(Figure::new("bare spawns", base, Unit::Seconds))),
            Err(e) => Row::new(scenario, Err(e.clone())).against(Err(e)),
        };
        let row = match (n, fs.as_str()) {
            (TARGET_SIZE, _) => row.target(Target::ratio_below(TARGET_RATIO)),
            (LARGE_SIZE, "tmpfs") => row.target(Target::ratio_at_most(LARGE_TMPFS_RATIO)),
            _ => row,
        };
        s.rows.push(row);
    }
}

/// Runs futures concurrently on the current task (no spawning: like the engine's join).
async fn join_all<F: std::future::Future<Output = ()>>(futs: impl IntoIterator<Item = F>) {
    let mut set: Vec<std::pin::Pin<Box<F>>> = futs.into_iter().map(Box::pin).collect();
    std::future::poll_fn(|cx| {
        set.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if set.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}

/// Measures every (directory, size): one warm-up of each, then `runs` of baton and of the
/// baseline, interleaved so that a change in the machine's load hits both alike.
pub fn section(bins: &Bins, opts: &Options) -> Section {
    let mut s = Section::new("Orchestration overhead").intro(format!(
        "A full `baton install` of N components in 3 order groups (every component of a group \
         in parallel), each driven by the native no-op Interface (`e2e/src/bin/noop-interface.rs`), \
         against a baseline that only spawns the same {} Interface processes per component in the \
         same order, with the same parallelism and barriers (observation 16 at a time), each call \
         a task on a two-worker tokio runtime like `baton install`'s. What \
         baton adds: parsing, planning, reading and verifying the Artifacts, the File API \
         directories, the journal and its fsyncs. Median of {} runs of each after one warm-up, \
         baton and baseline interleaved, back to back.",
        9, opts.runs
    ));
    // The runtime `baton install` uses (`controller/src/cli/deploy.rs`): two workers.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    for dir in &opts.dirs {
        rows_in(&mut s, dir, bins, opts, &rt);
    }
    if let Some(parent) = &opts.journaled_ext4_in {
        match LoopExt4::create(parent) {
            Ok(ext4) => rows_in(&mut s, ext4.path(), bins, opts, &rt),
            Err(e) => {
                for &n in &opts.sizes {
                    let scenario = format!("{n} components, ext4 (loop-mounted)");
                    s.rows.push(Row::new(scenario, Err(e.clone())));
                }
            }
        }
    }
    s.note(format!(
        "**What the targets are judged on.** The target (< {TARGET_RATIO}x the spawn baseline \
         at {TARGET_SIZE} components) is judged on tmpfs, where the figure is what baton itself \
         does, and on ext4, both this machine's disk and a default ext4 (with its journal, as \
         `mkfs.ext4` makes it) loop-mounted from an image on that disk; the tmpfs row at \
         {LARGE_SIZE} has its own ({LARGE_TMPFS_RATIO}x). \
         On a disk the same deployment also pays the filesystem: the protocol has baton \
         create about 16 files and directories per component (the File API tree: `version`, \
         `current_*`, `header/*`, `tmp/`, the streams FIFOs) and remove them at Cleanup, while \
         the spawn-only baseline creates none. Where the disk is ext4 *without a journal* (as \
         the machine table shows for this one), the inode allocator also skips every inode \
         freed in the last 60 s, 6 minutes while its inode table block is still dirty \
         (`find_inode_bit()` calls `recently_deleted()` in `fs/ext4/ialloc.c` only when the \
         filesystem has no journal, and each call looks the candidate's deletion time up in \
         the inode table): deployments of hundreds of components back to back, as here, make \
         it skip thousands of inodes per file created. The disk rows are shown, not hidden: \
         they are what a device with such a datastore pays for back-to-back deployments of \
         this size. A journaled ext4 does not make that check (its rows), and a real device \
         deploys minutes apart."
    ));
    s
}
