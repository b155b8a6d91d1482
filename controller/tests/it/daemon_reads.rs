//! The read verbs and the engine verbs through the daemon's socket (issue 13): the
//! `RemoteDeployer` against a real socket, reads answered while a deployment is held, and
//! the datastore handshake that keeps a CLI off another datastore's daemon.

use std::sync::Arc;
use std::time::Duration;

use crate::daemon_support::*;
use baton::client::handshake::{self, Daemon as Found};
use baton::client::RemoteDeployer;
use baton::engine::api::{Deployer, End, EngineError, NoProgress, RunOptions};
use tokio::sync::Notify;

/// Answers within `limit`, or the test fails naming `what`.
async fn within<T>(what: &str, limit: Duration, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not answer within {limit:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_remote_deployer_reads_and_acts_through_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let d = Daemon::start(effective(dir.path(), serde_json::json!({})), &fake).await;
    let remote = RemoteDeployer::new(d.client().await);

    let o = remote.observe().await.unwrap();
    let ids: Vec<_> = o.components.iter().filter_map(|c| c.id.clone()).collect();
    assert_eq!(ids, ["A", "B"]);
    assert!(o.live);
    let inv = remote.inventory().await.unwrap();
    assert!(
        inv.lines.contains(&("component".into(), "rtos.A".into())),
        "{inv:?}"
    );
    assert_eq!(remote.journal().await.unwrap().deployment, None);

    let report = remote
        .install(
            manifest("m2", "v2"),
            RunOptions::default(),
            Arc::new(NoProgress),
        )
        .await
        .unwrap();
    assert_eq!(report.end, End::Success);
    assert_eq!(fake.state().system[&("rtos".into(), "A".into())], "v2");
    // What the engine says goes back as the engine said it.
    let nothing = remote
        .resume(RunOptions::default(), true, Arc::new(NoProgress))
        .await
        .unwrap_err();
    assert!(
        matches!(nothing, EngineError::NothingInProgress),
        "{nothing}"
    );
    assert!(matches!(
        remote.preview(manifest("m3", "v3")).await,
        Err(EngineError::NotOffered(_))
    ));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_answer_while_a_deployment_is_held() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let gate = Arc::new(Notify::new());
    fake.state().gate = Some(gate.clone());
    let d = Daemon::start(effective(dir.path(), serde_json::json!({})), &fake).await;
    let c = d.client().await;
    c.apply(&manifest("m2", "v2").bytes, None).await.unwrap();
    d.until("deploying", |s| s.deployment.is_some()).await;
    // Status says "deploying" as the reconciler starts the run, a moment before the
    // engine's install is called: wait for the call itself.
    within("the install call", Duration::from_secs(60), async {
        while fake.installs().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(fake.installs().len(), 1, "the install is held at the gate");

    let remote = RemoteDeployer::new(c.clone());
    let limit = Duration::from_secs(5);
    let o = within("GET /v1/provides", limit, remote.observe())
        .await
        .unwrap();
    assert_eq!(o.components.len(), 2);
    let inv = within("GET /v1/inventory", limit, remote.inventory())
        .await
        .unwrap();
    assert!(inv.lines.iter().any(|(k, _)| k == "component"));
    within("GET /v1/journal", limit, remote.journal())
        .await
        .unwrap();
    assert!(
        c.status().await.unwrap().deployment.is_some(),
        "still deploying"
    );
    gate.notify_one();
    d.until("done", |s| {
        s.deployment.is_none() && s.observed_generation == 1
    })
    .await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_tells_this_datastores_daemon_from_anothers() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let eff = effective(dir.path(), serde_json::json!({}));
    let ours = eff.dirs.datastore_dir.clone();
    let d = Daemon::start(eff, &fake).await;
    // The same datastore, however it is spelled.
    let spelled = dir.path().join("datastore/../datastore");
    assert!(matches!(
        handshake::find(&d.socket, &spelled).await,
        Found::Same(_)
    ));
    let other = tempfile::tempdir().unwrap();
    match handshake::find(&d.socket, other.path()).await {
        Found::Other { theirs, .. } => {
            assert_eq!(theirs.datastore, std::fs::canonicalize(&ours).unwrap());
            assert_eq!(theirs.system_type.as_deref(), Some("sys"));
        }
        f => panic!("{f:?}"),
    }
    assert!(matches!(
        handshake::find(&other.path().join("no.sock"), other.path()).await,
        Found::None
    ));
    d.stop().await;
}

/// `baton <args>` in this process (its own runtime, so off the test's): exit code.
async fn cli(args: Vec<String>) -> u8 {
    tokio::task::spawn_blocking(move || {
        let cli = <baton::cli::Cli as clap::Parser>::try_parse_from(args).unwrap();
        baton::cli::run(&cli, &mut Vec::new())
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_never_acts_on_another_datastores_daemon() {
    let a = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let d = Daemon::start(effective(a.path(), serde_json::json!({})), &fake).await;
    // Another System whose configuration names the same socket (two batons, one default
    // runtime directory).
    let b = tempfile::tempdir().unwrap();
    let eff_b = effective(b.path(), serde_json::json!({"Api": {"Socket": d.socket}}));
    let m = b.path().join("m.yaml");
    std::fs::write(&m, manifest("m9", "v9").bytes).unwrap();
    let flags = |verb: &[&str]| -> Vec<String> {
        // Errors only: the global log subscriber this sets up outlives the test.
        let mut v: Vec<String> = ["baton", "-l", "error", "-c"].map(String::from).to_vec();
        v.push(b.path().join("baton.conf").display().to_string());
        v.push("-d".into());
        v.push(eff_b.dirs.datastore_dir.display().to_string());
        v.extend(verb.iter().map(|s| s.to_string()));
        v
    };
    assert_eq!(
        cli(flags(&["apply", "-f", &m.display().to_string()])).await,
        1
    );
    assert_eq!(cli(flags(&["status"])).await, 1);
    // `install` goes in-process on B's own datastore (it has no Interfaces here, so it is
    // refused there), never through A's daemon.
    assert_eq!(cli(flags(&["install", &m.display().to_string()])).await, 1);
    let s = d.client().await.status().await.unwrap();
    assert_eq!(s.generation, 0, "nothing applied to A: {s:?}");
    assert!(fake.installs().is_empty(), "A's engine was never asked");
    d.stop().await;
}
