//! The `mock` reference Interface: a simulated component for the engine's tests. Its
//! behaviour, its log and its fault markers, with several components running at once.

use std::io;
use std::time::Duration;

use crate::interface_support::*;
use baton::artifact::PayloadSink;
use baton::interface::file_api::{CurrentArtifact, FileApiDir, HeaderFiles};
use baton::interface::protocol::{Query, State};
use baton::interface::{download, DownloadMode, InterfaceError, Runner};
use baton::model::ComponentId;

const STREAMS: DownloadMode = DownloadMode {
    with_sizes: false,
    whole_artifact: false,
};

/// One component's deployment of `new`, start to end, as the engine would run it.
async fn deploy(
    runner: Runner,
    root: std::path::PathBuf,
    id: String,
    new: String,
    fail_in: Option<State>,
) -> String {
    let state = mock_component(&root, &id, "v1");
    std::fs::write(state.join("SupportsRollback"), "Yes\n").unwrap();
    if let Some(s) = fail_in {
        std::fs::write(state.join(format!("{s}.FAIL")), "").unwrap();
    }
    let header = HeaderFiles {
        artifact_name: new.clone(),
        ..HeaderFiles::default()
    };
    let dir = FileApiDir::create(
        &root.join("work"),
        &ComponentId::new(&id).unwrap(),
        &CurrentArtifact::default(),
        &header,
    )
    .unwrap();
    let inv = mock_invocation(dir.path(), &state);
    let payload = format!("payload of {id}");
    let feed = move |sink: &mut dyn PayloadSink| -> io::Result<()> {
        sink.file("fw.bin", payload.len() as u64, &mut payload.as_bytes())
    };
    let mut ok = download(&runner, &inv, STREAMS, None, feed).await.is_ok();
    if ok {
        ok = runner.run_state(&inv, State::ArtifactInstall).await.is_ok();
        ok = ok && runner.run_state(&inv, State::ArtifactCommit).await.is_ok();
        if !ok {
            assert!(runner.supports_rollback(&inv).await.unwrap());
            runner
                .run_state(&inv, State::ArtifactRollback)
                .await
                .unwrap();
            runner
                .run_state(&inv, State::ArtifactFailure)
                .await
                .unwrap();
        }
    }
    runner.run_state(&inv, State::Cleanup).await.unwrap();
    dir.remove().unwrap();
    std::fs::read_to_string(state.join("calls.log")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_in_parallel_keep_to_their_own_state() {
    let tmp = tempfile::tempdir().unwrap();
    let runner = quick_runner(Duration::from_secs(30));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..8 {
        let fail_in = (i == 3).then_some(State::ArtifactCommit);
        let deployment = deploy(
            runner.clone(),
            tmp.path().to_owned(),
            format!("R{i}"),
            format!("v2-{i}"),
            fail_in,
        );
        set.spawn(async move { (i, deployment.await) });
    }
    while let Some(joined) = set.join_next().await {
        let (i, log) = joined.unwrap();
        let state = tmp.path().join(format!("state-R{i}"));
        let version = std::fs::read_to_string(state.join("version")).unwrap();
        let payload = std::fs::read_to_string(state.join("download/fw.bin"));
        if i == 3 {
            assert_eq!(version, "v1\n", "rolled back");
            assert_eq!(
                log,
                "Download rtos v2-3 ok\nArtifactInstall rtos v2-3 ok\nArtifactCommit rtos v2-3 fail\n\
                 SupportsRollback rtos v2-3 ok\nArtifactRollback rtos v2-3 ok\nArtifactFailure rtos v2-3 ok\n\
                 Cleanup rtos v2-3 ok\n"
            );
        } else {
            assert_eq!(version, format!("v2-{i}\n"));
            assert_eq!(
                log,
                format!(
                    "Download rtos v2-{i} ok\nArtifactInstall rtos v2-{i} ok\nArtifactCommit rtos v2-{i} ok\nCleanup rtos v2-{i} ok\n"
                )
            );
        }
        assert!(payload.is_err(), "Cleanup removes the staged payload");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_states_print_nothing_and_succeed() {
    let tmp = tempfile::tempdir().unwrap();
    let state = mock_component(tmp.path(), "R1", "v1");
    let mock = reference_interface("mock");
    let out = std::process::Command::new(&mock)
        .args([
            "SupportsAugmentedArtifacts",
            tmp.path().to_str().unwrap(),
            "rtos",
            state.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
    assert_eq!(
        std::fs::read_to_string(state.join("calls.log")).unwrap(),
        "SupportsAugmentedArtifacts rtos - ok\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mocks_fault_markers_reach_the_runner() {
    let tmp = tempfile::tempdir().unwrap();
    let state = mock_component(tmp.path(), "R1", "v1");
    let inv = mock_invocation(tmp.path(), &state);
    let runner = quick_runner(Duration::from_millis(400));

    std::fs::write(state.join("NeedsArtifactReboot.IGNORETERM"), "").unwrap();
    let err = runner.needs_reboot(&inv).await.unwrap_err();
    let InterfaceError::Timeout { report, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(report.exit, baton::interface::Exit::Signal(9));
    let pgid = std::fs::read_to_string(state.join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(running_in_group(pgid), Vec::<i32>::new());

    std::fs::write(state.join("Inventory.HANG"), "").unwrap();
    let err = runner.query(&inv, Query::Inventory).await.unwrap_err();
    let InterfaceError::Timeout { report, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(report.exit, baton::interface::Exit::Signal(15));

    let log = std::fs::read_to_string(state.join("calls.log")).unwrap();
    assert_eq!(
        log,
        "NeedsArtifactReboot rtos - hang\nInventory rtos - hang\n"
    );
}
