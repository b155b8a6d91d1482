//! `bench-engine`: baton's orchestration overhead.
//!
//! A full deployment (`baton install`) of N components in 3 order groups, every component
//! driven by the native no-op Interface, against a baseline that only spawns the same
//! Interface processes in the same order with the same parallelism and barriers (observation
//! 16 at a time; per group Download with its two queries, ArtifactInstall,
//! NeedsArtifactReboot; then ArtifactCommit and Cleanup per group). The difference is what
//! baton adds: parsing, planning, Artifact reading and verification, File API directories,
//! the journal with its fsyncs.
//!
//! Build first: `cargo build --release --workspace --bins`, then
//! `cargo run --release -p e2e --bin bench-engine -- [--sizes 3,30,300] [--runs 5]`.
//! Prints a Markdown table of medians (and min-max), the ratio, and the target (< 1.3x at 300).
//!
//! The System (datastore, File API trees) lives in `$TMPDIR`. The protocol makes baton create
//! about 16 files and directories per component and remove them at Cleanup; on ext4, creating
//! inodes right after thousands were removed (back-to-back deployments of hundreds of
//! components) costs a scan in the inode allocator (`recently_deleted`) that the spawn-only
//! baseline never pays. Run it with `TMPDIR` on tmpfs for baton's own overhead, and on the
//! datastore's filesystem for what a device pays; the table says which.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use baton::artifact::testkit::ArtifactBuilder;

const TYPES: [&str; 3] = ["alpha", "beta", "gamma"];

struct Args {
    sizes: Vec<usize>,
    runs: usize,
    baton: PathBuf,
    noop: PathBuf,
}

fn parse_args() -> Args {
    let release = e2e::repo_root().join("target/release");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|t| PathBuf::from(t).join("release"))
        .unwrap_or(release);
    let mut a = Args {
        sizes: vec![3, 30, 300],
        runs: 5,
        baton: target.join("baton"),
        noop: target.join("noop-interface"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--sizes" => {
                a.sizes = value()
                    .split(',')
                    .map(|s| s.parse().expect("a number"))
                    .collect()
            }
            "--runs" => a.runs = value().parse().expect("a number"),
            "--baton" => a.baton = value().into(),
            "--noop" => a.noop = value().into(),
            other => panic!("unknown argument {other}"),
        }
    }
    for p in [&a.baton, &a.noop] {
        assert!(
            p.is_file(),
            "{} is missing: run `cargo build --release --workspace --bins`",
            p.display()
        );
    }
    a
}

struct System {
    dir: tempfile::TempDir,
    n: usize,
}

impl System {
    fn new(n: usize, noop: &Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let iface = root.join("data/interfaces/v1/noop");
        fs::create_dir_all(iface.parent().unwrap()).unwrap();
        fs::copy(noop, &iface).unwrap();
        fs::set_permissions(&iface, fs::Permissions::from_mode(0o755)).unwrap();
        let mut topo = String::from(
            "api_version: mender/v1\nkind: topology\nsystem_type: bench\ncomponents:\n",
        );
        for i in 0..n {
            topo.push_str(&format!(
                "  - component_type: {}\n    interface: noop\n    interface_args: [\"c{i}\"]\n",
                TYPES[i % 3]
            ));
        }
        fs::create_dir_all(root.join("store")).unwrap();
        fs::write(root.join("store/topology.yaml"), topo).unwrap();
        let mut manifest = String::from(
            "api_version: mender/v1\nkind: manifest\nname: bench-v1\nsystem_types_compatible: [bench]\ncomponent_types:\n",
        );
        for (g, t) in TYPES.iter().enumerate() {
            let a = root.join(format!("{t}.mender"));
            fs::write(
                &a,
                ArtifactBuilder::new(&format!("{t}-v1"), "noop", t)
                    .file("payload", "x")
                    .build(),
            )
            .unwrap();
            manifest.push_str(&format!(
                "  {t}:\n    artifact_path: {}\n    update_strategy: {{order: {}}}\n",
                a.display(),
                10 * (g + 1)
            ));
        }
        fs::write(root.join("manifest.yaml"), manifest).unwrap();
        fs::write(root.join("boot_id"), "bench\n").unwrap();
        fs::write(
            root.join("baton.conf"),
            format!("{{\"BootIdPath\": \"{}\"}}", root.join("boot_id").display()),
        )
        .unwrap();
        Self { dir, n }
    }

    fn install(&self, baton: &Path) -> Duration {
        let root = self.dir.path();
        let t = Instant::now();
        let status = Command::new(baton)
            .arg("-c")
            .arg(root.join("baton.conf"))
            .arg("--data-dir")
            .arg(root.join("data"))
            .arg("-d")
            .arg(root.join("store"))
            .arg("-l")
            .arg("error")
            .arg("install")
            .arg(root.join("manifest.yaml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        let d = t.elapsed();
        assert!(status.success(), "baton install failed");
        d
    }

    /// The same processes, the same order, the same parallelism, nothing else.
    fn baseline(&self, rt: &tokio::runtime::Runtime) -> Duration {
        let iface = Arc::new(self.dir.path().join("data/interfaces/v1/noop"));
        let work = self.dir.path().join("baseline-work");
        fs::create_dir_all(&work).unwrap();
        let work = Arc::new(work);
        let n = self.n;
        let t = Instant::now();
        rt.block_on(async move {
            let call = |i: usize, word: &'static str| {
                let (iface, work) = (iface.clone(), work.clone());
                async move {
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
                        .unwrap();
                    assert!(out.status.success());
                }
            };
            let gate = Arc::new(tokio::sync::Semaphore::new(16));
            let observe = (0..n).map(|i| {
                let gate = gate.clone();
                async move {
                    let _p = gate.acquire().await.unwrap();
                    call(i, "Identity").await;
                    call(i, "Provides").await;
                }
            });
            futures_join(observe).await;
            for g in 0..3 {
                let members: Vec<usize> = (0..n).filter(|i| i % 3 == g).collect();
                futures_join(members.iter().map(|&i| async move {
                    call(i, "NeedsUnpackedArtifact").await;
                    call(i, "ProvidePayloadFileSizes").await;
                    call(i, "Download").await;
                }))
                .await;
                for word in ["ArtifactInstall", "NeedsArtifactReboot"] {
                    futures_join(members.iter().map(|&i| call(i, word))).await;
                }
            }
            for word in ["ArtifactCommit", "Cleanup"] {
                for g in 0..3 {
                    futures_join((0..n).filter(|i| i % 3 == g).map(|i| call(i, word))).await;
                }
            }
        });
        t.elapsed()
    }
}

/// Run futures concurrently on the current task (no spawning: like the engine's join).
async fn futures_join<F: std::future::Future<Output = ()>>(futs: impl IntoIterator<Item = F>) {
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

/// The filesystem type holding `dir`, from /proc/mounts (longest matching mount point).
fn fs_type(dir: &Path) -> String {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mounts = fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.len() > 2 && dir.starts_with(f[1])).then(|| (f[1].len(), f[2].to_string()))
        })
        .max()
        .map_or_else(|| "unknown".into(), |(_, t)| t)
}

fn stats(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let s = |d: Duration| d.as_secs_f64();
    (s(v[v.len() / 2]), s(v[0]), s(v[v.len() - 1]))
}

fn main() {
    let a = parse_args();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tmp = std::env::temp_dir();
    println!(
        "System in {} ({}); {} runs each after a warm-up\n",
        tmp.display(),
        fs_type(&tmp),
        a.runs
    );
    println!("| components | baton install (median, min-max) | spawn baseline (median, min-max) | ratio | target |");
    println!("|---:|---:|---:|---:|---|");
    for &n in &a.sizes {
        let sys = System::new(n, &a.noop);
        // One warm-up of each: page cache, dentry cache.
        sys.install(&a.baton);
        sys.baseline(&rt);
        let mut engine = Vec::new();
        let mut base = Vec::new();
        for _ in 0..a.runs {
            engine.push(sys.install(&a.baton));
            base.push(sys.baseline(&rt));
        }
        let (em, elo, ehi) = stats(engine);
        let (bm, blo, bhi) = stats(base);
        let ratio = em / bm;
        let target = if n >= 300 {
            if ratio < 1.3 {
                "< 1.3x: met"
            } else {
                "< 1.3x: NOT met"
            }
        } else {
            ""
        };
        println!("| {n} | {em:.3} s ({elo:.3}-{ehi:.3}) | {bm:.3} s ({blo:.3}-{bhi:.3}) | {ratio:.2}x | {target} |");
    }
}
