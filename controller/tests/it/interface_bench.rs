//! Figures, not assertions: what the runner and the streams tree cost, as ratios against a
//! baseline measured in the same run. Ignored by default; run with
//! `cargo test -p baton --release --test it interface_bench -- --ignored --nocapture`.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::interface_support::*;
use baton::artifact::PayloadSink;
use baton::interface::file_api::{CurrentArtifact, FileApiDir, HeaderFiles};
use baton::interface::protocol::Query;
use baton::interface::{download, DownloadMode};
use baton::model::ComponentId;

const CALLS: u32 = 200;
const PAYLOAD: usize = 256 * 1024 * 1024;

fn per_call(total: Duration, n: u32) -> f64 {
    total.as_secs_f64() * 1e6 / f64::from(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: prints figures"]
async fn runner_overhead_per_call() {
    let tmp = tempfile::tempdir().unwrap();
    let program = std::path::Path::new("/bin/true");
    let args = ["SupportsRollback", tmp.path().to_str().unwrap(), "rtos"];

    let start = Instant::now();
    for _ in 0..CALLS {
        let status = Command::new(program)
            .args(args)
            .current_dir(tmp.path())
            .stdout(Stdio::piped())
            .output()
            .unwrap();
        assert!(status.status.success());
    }
    let bare = start.elapsed();

    let runner = quick_runner(Duration::from_secs(30));
    let inv = invocation(program, tmp.path(), &[]);
    let start = Instant::now();
    for _ in 0..CALLS {
        runner.query(&inv, Query::SupportsRollback).await.unwrap();
    }
    let ours = start.elapsed();
    println!(
        "runner: {:.0} us/call vs bare spawn+wait {:.0} us/call: ratio {:.2} ({CALLS} calls of /bin/true)",
        per_call(ours, CALLS),
        per_call(bare, CALLS),
        ours.as_secs_f64() / bare.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: prints figures"]
async fn streams_tree_throughput() {
    let tmp = tempfile::tempdir().unwrap();
    let chunk = vec![0x5au8; 1024 * 1024];

    // Baseline: the same bytes written straight into a reader's stdin pipe; the better of
    // two runs, so that warming up does not flatter the streams tree.
    let bare = (0..2).map(|_| pipe_to_cat(&chunk)).min().unwrap();

    let header = HeaderFiles {
        artifact_name: "bench".into(),
        ..HeaderFiles::default()
    };
    let dir = FileApiDir::create(
        &tmp.path().join("work"),
        &ComponentId::new("B1").unwrap(),
        &CurrentArtifact::default(),
        &header,
    )
    .unwrap();
    let reader = script(
        tmp.path(),
        "reader",
        r#"while :; do line=$(cat stream-next); [ -n "$line" ] || break; cat "$line" > /dev/null; done"#,
    );
    let inv = invocation(&reader, dir.path(), &[]);
    let feed = move |sink: &mut dyn PayloadSink| -> std::io::Result<()> {
        let mut content = std::io::Read::take(std::io::repeat(0x5a), PAYLOAD as u64);
        sink.file("payload.img", PAYLOAD as u64, &mut content)
    };
    let start = Instant::now();
    let mode = DownloadMode {
        with_sizes: false,
        whole_artifact: false,
    };
    download(
        &quick_runner(Duration::from_secs(300)),
        &inv,
        mode,
        None,
        feed,
    )
    .await
    .unwrap();
    let ours = start.elapsed();
    let mib = PAYLOAD as f64 / (1024.0 * 1024.0);
    println!(
        "streams tree: {:.0} MiB/s vs plain pipe {:.0} MiB/s: ratio {:.2} ({mib} MiB)",
        mib / ours.as_secs_f64(),
        mib / bare.as_secs_f64(),
        ours.as_secs_f64() / bare.as_secs_f64()
    );
}

fn pipe_to_cat(chunk: &[u8]) -> Duration {
    let start = Instant::now();
    let mut cat = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = cat.stdin.take().unwrap();
    for _ in 0..PAYLOAD / chunk.len() {
        stdin.write_all(chunk).unwrap();
    }
    drop(stdin);
    assert!(cat.wait().unwrap().success());
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: prints figures"]
async fn runner_overhead_with_100_calls_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let program = std::path::Path::new("/bin/true");
    let dir = tmp.path().to_str().unwrap().to_owned();
    const AT_ONCE: usize = 100;

    let start = Instant::now();
    let bare = (0..AT_ONCE).map(|_| {
        let dir = dir.clone();
        async move {
            let out = tokio::process::Command::new(program)
                .args(["SupportsRollback", &dir, "rtos"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .output()
                .await
                .unwrap();
            assert!(out.status.success());
        }
    });
    futures_util::future::join_all(bare).await;
    let bare = start.elapsed();

    let runner = quick_runner(Duration::from_secs(30));
    let inv = invocation(program, tmp.path(), &[]);
    let start = Instant::now();
    let ours = (0..AT_ONCE).map(|_| runner.query(&inv, Query::SupportsRollback));
    for r in futures_util::future::join_all(ours).await {
        r.unwrap();
    }
    let ours = start.elapsed();
    println!(
        "{AT_ONCE} calls at once: runner {:.1} ms vs bare tokio spawns {:.1} ms: ratio {:.2}",
        ours.as_secs_f64() * 1e3,
        bare.as_secs_f64() * 1e3,
        ours.as_secs_f64() / bare.as_secs_f64()
    );
}
