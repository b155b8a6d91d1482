//! An Interface flooding stdout and stderr: the output is capped, the rest drained and
//! counted, memory stays bounded, and nothing deadlocks. Alone in its test binary so that the
//! peak-memory reading is this test's.

use std::time::Duration;

use crate::interface_support::*;
use baton::interface::protocol::State;
use baton::interface::RunnerConfig;

const FLOOD: u64 = 10 * 1024 * 1024;

/// Peak resident memory of this process (`VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_capped_drained_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let state = mock_component(tmp.path(), "R1", "v1");
    std::fs::write(state.join("ArtifactInstall.FLOOD"), "").unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir_all(work.join("header")).unwrap();
    std::fs::write(work.join("header/artifact_name"), "v2").unwrap();
    let inv = mock_invocation(&work, &state);

    let before = peak_rss_kib();
    let report = quick_runner(Duration::from_secs(60))
        .run_state(&inv, State::ArtifactInstall)
        .await
        .unwrap();
    let growth_kib = peak_rss_kib().saturating_sub(before);

    let cap = RunnerConfig::DEFAULT_OUTPUT_CAP;
    assert_eq!(report.stdout.len(), cap);
    assert_eq!(report.stderr.len(), cap);
    assert_eq!(report.stdout_dropped, FLOOD - cap as u64);
    // stderr also carries nothing else: the mock only speaks on failure.
    assert_eq!(report.stderr_dropped, FLOOD - cap as u64);
    // 20 MiB went through; keeping it would show. Allow for the runtime's own buffers.
    assert!(growth_kib < 8 * 1024, "peak RSS grew by {growth_kib} KiB");
    println!(
        "flood of 2 x {FLOOD} bytes: kept 2 x {cap}, peak RSS growth {growth_kib} KiB, {:?}",
        report.duration
    );
    // The state did its work after the flood.
    assert_eq!(
        std::fs::read_to_string(state.join("pending")).unwrap(),
        "v2\n"
    );
}
