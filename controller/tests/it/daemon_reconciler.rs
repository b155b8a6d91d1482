//! The reconciler against a fake Deployer, in paused tokio time: convergence, newest
//! generation wins, backoff spacing, Stalled and its way out, drift policies, restarts,
//! the journal first, the Update Module hand-off, actions, shutdown grace.

use std::sync::Arc;
use std::time::Duration;

use crate::daemon_support::*;
use baton::config::DriftPolicy;
use baton::daemon::commands::{Action, Handoff, HandoffError};
use baton::engine::api::{Boundary, RunOptions};
use baton::engine::api::{End, InFlight};
use baton::model::{ConditionStatus::*, ConditionType::*, Outcome, Reason};
use tokio::sync::Notify;

#[tokio::test(start_paused = true)]
async fn a_new_desired_state_converges_and_status_says_ready() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let r = start(dir.path(), &fake, settings(3, DriftPolicy::Warn), None);
    let s = r
        .until("no desired state", |s| {
            condition(s, Ready).1 == "NoDesiredState"
        })
        .await;
    assert_eq!(s.generation, 0);
    let g = r.apply(manifest("m2", "v2"));
    let s = r
        .until("ready", |s| {
            s.observed_generation == g && is(s, Ready, True)
        })
        .await;
    assert_eq!(fake.installs().len(), 1);
    assert_eq!(s.generation, g);
    assert_eq!(s.desired_manifest.as_deref(), Some("m2"));
    assert!(is(&s, Progressing, False) && is(&s, Degraded, False) && is(&s, Stalled, False));
    assert_eq!(s.history.len(), 1);
    assert_eq!(s.history[0].outcome, Outcome::Succeeded);
    assert_eq!(s.history[0].generation, g);
    assert_eq!(s.history[0].components.len(), 2);
    let s = r
        .until("components", |s| {
            s.components.len() == 2 && s.components.iter().all(|c| c.in_sync)
        })
        .await;
    assert!(s
        .components
        .iter()
        .all(|c| c.observed_artifact.as_deref() == Some("v2")));
    // Applying the same Manifest again changes nothing.
    assert_eq!(r.apply(manifest("m2", "v2")), g);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(fake.installs().len(), 1);
    r.stop().await;
}

/// m2 applied; its install waits for the gate.
fn gated() -> (tempfile::TempDir, Fake, Arc<Notify>, Running) {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let gate = Arc::new(Notify::new());
    fake.state().gate = Some(gate.clone());
    let r = start(dir.path(), &fake, settings(3, DriftPolicy::Warn), None);
    r.apply(manifest("m2", "v2"));
    (dir, fake, gate, r)
}

#[tokio::test(start_paused = true)]
async fn the_newest_generation_wins_and_waits_for_the_running_deployment() {
    let (_dir, fake, gate, r) = gated();
    r.until("deploying m2", |s| {
        s.deployment.as_ref().is_some_and(|d| d.manifest == "m2")
    })
    .await;
    let s = r.handle.board.get();
    let d = s.deployment.as_ref().unwrap();
    assert_eq!(d.state, "Download");
    assert_eq!(d.components.len(), 2);
    assert!(is(&s, Progressing, True));
    // Two newer generations arrive while m2 runs: m3 is replaced by m4 before it starts.
    r.apply(manifest("m3", "v3"));
    let g4 = r.apply(manifest("m4", "v4"));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        fake.installs().len(),
        1,
        "the running deployment is never aborted or doubled"
    );
    gate.notify_one();
    r.until("deploying m4", |s| {
        s.deployment.as_ref().is_some_and(|d| d.manifest == "m4")
    })
    .await;
    gate.notify_one();
    let s = r
        .until("m4 ready", |s| {
            s.observed_generation == g4 && is(s, Ready, True)
        })
        .await;
    let names: Vec<String> = fake.installs().into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, ["m2", "m4"]);
    assert_eq!(
        s.history
            .iter()
            .map(|h| h.manifest.as_str())
            .collect::<Vec<_>>(),
        ["m4", "m2"]
    );
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn failures_back_off_with_growing_gaps_then_stall_until_retry_or_a_new_generation() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    fake.state().default_script = Some(Script::FailAt("ArtifactInstall"));
    let limit = 4;
    let r = start(dir.path(), &fake, settings(limit, DriftPolicy::Warn), None);
    let g = r.apply(manifest("m2", "v2"));
    let s = r.until("stalled", |s| is(s, Stalled, True)).await;
    assert_eq!(s.failures, limit + 1);
    assert_eq!(condition(&s, Stalled).1, "RetryLimitReached");
    assert!(is(&s, Ready, False) && is(&s, Degraded, True));
    let times: Vec<_> = fake.installs().into_iter().map(|(t, _)| t).collect();
    assert_eq!(
        times.len(),
        (limit + 1) as usize,
        "one attempt plus {limit} retries"
    );
    // Retry n waits base*2^(n-1) plus jitter of up to as much again (base 1 s).
    for (n, w) in times.windows(2).enumerate() {
        let gap = w[1] - w[0];
        let nominal = Duration::from_secs(1 << n);
        assert!(
            gap >= nominal && gap <= nominal * 2 + Duration::from_millis(50),
            "retry {}: waited {gap:?}",
            n + 1
        );
    }
    assert_eq!(s.history.len(), (limit + 1) as usize);
    assert!(s
        .history
        .iter()
        .all(|h| h.outcome == Outcome::RolledBack && h.reason == Some(Reason::InstallFailed)));
    // Stalled means no more attempts, however long we wait.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(fake.installs().len(), (limit + 1) as usize);

    // The retry action starts again from zero...
    fake.state().script.push_back(Script::Succeed);
    r.handle.action(Action::Retry).await.unwrap();
    let s = r.until("ready after retry", |s| is(s, Ready, True)).await;
    assert_eq!(s.failures, 0);
    assert_eq!(s.observed_generation, g);

    // ...and so does a new generation, with a failure count of its own.
    let g3 = r.apply(manifest("m3", "v3"));
    let s = r
        .until("m3 failed once", |s| s.generation == g3 && s.failures == 1)
        .await;
    assert!(s.next_attempt_at.is_some());
    assert_eq!(condition(&s, Degraded).1, "InstallFailed");
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_failure_count_survives_a_restart_and_still_spaces_the_next_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    fake.state().default_script = Some(Script::FailAt("ArtifactCommit"));
    let r = start(dir.path(), &fake, settings(10, DriftPolicy::Warn), None);
    r.apply(manifest("m2", "v2"));
    r.until("two failures", |s| s.failures == 2).await;
    r.stop().await;
    let before = fake.installs().len();

    let restarted = tokio::time::Instant::now();
    let r = start(dir.path(), &fake, settings(10, DriftPolicy::Warn), None);
    let s = r
        .until("recovered", |s| {
            s.failures == 2 && condition(s, Ready).1 != "Recovering"
        })
        .await;
    assert_eq!(s.history.len(), 2, "history survives too");
    r.until("third failure", |s| s.failures == 3).await;
    let third = fake.installs()[before].0;
    // The second retry's backoff (2..4 s) applies after the restart too.
    assert!(
        third - restarted >= Duration::from_secs(2),
        "{:?}",
        third - restarted
    );
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_rejected_deployment_counts_as_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    fake.state().default_script = Some(Script::Reject);
    let r = start(dir.path(), &fake, settings(0, DriftPolicy::Warn), None);
    r.apply(manifest("m9", "v9"));
    let s = r.until("stalled", |s| is(s, Stalled, True)).await;
    assert_eq!(s.history[0].outcome, Outcome::Rejected);
    assert!(
        s.conditions
            .iter()
            .any(|c| c.message.contains("no Artifact named v9")),
        "{s:#?}"
    );
    r.stop().await;
}

/// A System converged on m2 (v2), then component B changed behind baton's back.
async fn drifted(policy: DriftPolicy) -> (tempfile::TempDir, Fake, Running) {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let r = start(dir.path(), &fake, settings(3, policy), None);
    let g = r.apply(manifest("m2", "v2"));
    r.until("ready", |s| {
        s.observed_generation == g && is(s, Ready, True)
    })
    .await;
    fake.state()
        .system
        .insert(("rtos".into(), "B".into()), "v1-hotfix".into());
    (dir, fake, r)
}

#[tokio::test(start_paused = true)]
async fn drift_is_corrected_at_the_next_resync_when_enabled() {
    let (_dir, fake, r) = drifted(DriftPolicy::Enabled).await;
    let changed_at = tokio::time::Instant::now();
    r.until("drift corrected", |s| s.history.len() == 2).await;
    let second = fake.installs()[1].0;
    // Not before the resync (600 s, jittered by at most 10 %).
    assert!(
        second - changed_at >= Duration::from_secs(540),
        "{:?}",
        second - changed_at
    );
    assert!(second - changed_at <= Duration::from_secs(660));
    assert_eq!(
        fake.state().system[&("rtos".to_string(), "B".to_string())],
        "v2"
    );
    r.until("ready again", |s| is(s, Ready, True)).await;
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn drift_is_only_reported_when_the_policy_says_warn() {
    let (_dir, fake, r) = drifted(DriftPolicy::Warn).await;
    let s = r.until("drift reported", |s| is(s, Degraded, True)).await;
    assert_eq!(condition(&s, Degraded).1, "DriftDetected");
    assert!(is(&s, Ready, False));
    assert!(
        s.conditions
            .iter()
            .any(|c| c.message.contains("rtos B -> v2")),
        "{s:#?}"
    );
    let s = r
        .until("component out of sync", |s| {
            s.components.iter().any(|c| !c.in_sync)
        })
        .await;
    let b = s
        .components
        .iter()
        .find(|c| c.id.as_deref() == Some("B"))
        .unwrap();
    assert_eq!(b.observed_artifact.as_deref(), Some("v1-hotfix"));
    tokio::time::sleep(Duration::from_secs(3 * 660)).await;
    assert_eq!(fake.installs().len(), 1, "warn never reinstalls");
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn drift_is_not_even_looked_for_when_disabled() {
    let (_dir, fake, r) = drifted(DriftPolicy::Disabled).await;
    let previews_before = fake
        .calls()
        .iter()
        .filter(|c| matches!(c, Call::Preview(_)))
        .count();
    tokio::time::sleep(Duration::from_secs(3 * 660)).await;
    let previews = fake
        .calls()
        .iter()
        .filter(|c| matches!(c, Call::Preview(_)))
        .count();
    assert_eq!(previews, previews_before);
    assert_eq!(fake.installs().len(), 1);
    assert!(is(&r.handle.board.get(), Ready, True));
    r.stop().await;
}

fn in_flight(paused: Option<Boundary>) -> InFlight {
    InFlight {
        deployment: "d-old".into(),
        manifest: "m-old".into(),
        position: "ArtifactInstall done".into(),
        paused,
        failing: false,
    }
}

#[tokio::test(start_paused = true)]
async fn the_journal_is_resumed_before_anything_else() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    {
        // A desired state from before the crash, and the deployment it left in the journal.
        let store = baton::daemon::desired::DesiredStore::open(dir.path()).unwrap();
        store
            .apply(manifest("m2", "v2"), baton::model::Origin::Api, None)
            .unwrap();
    }
    fake.state().in_flight = Some(in_flight(None));
    let r = start(dir.path(), &fake, settings(3, DriftPolicy::Warn), None);
    r.until("ready", |s| is(s, Ready, True)).await;
    let calls = fake.calls();
    assert_eq!(calls[0], Call::Resume(false), "{calls:?}");
    assert!(matches!(calls[1], Call::Preview(_)), "{calls:?}");
    let s = r.handle.board.get();
    // The resumed deployment is in the history (it rolled back), then m2 was installed.
    assert_eq!(s.history.len(), 2);
    assert_eq!(s.history[1].manifest, "m-old");
    assert_eq!(s.history[1].outcome, Outcome::RolledBack);
    assert!(r.handle.is_ready());
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_deployment_paused_for_the_update_module_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    fake.state().in_flight = Some(in_flight(Some(Boundary::ArtifactCommit)));
    let r = start(dir.path(), &fake, settings(3, DriftPolicy::Warn), None);
    r.apply(manifest("m2", "v2"));
    let s = r
        .until("handed off", |s| {
            condition(s, Ready).1 == "UpdateModuleInControl"
        })
        .await;
    assert!(is(&s, Progressing, True));
    tokio::time::sleep(Duration::from_secs(700)).await;
    assert!(fake.installs().is_empty());
    assert!(!fake.calls().iter().any(|c| matches!(c, Call::Resume(_))));
    // The Update Module finishes it; baton then goes on with the desired state.
    let report = r
        .handle
        .handoff(Handoff::Resume {
            opts: RunOptions::default(),
            explicit: true,
        })
        .await
        .unwrap();
    assert!(matches!(report.end, End::RolledBack { .. }));
    r.until("ready", |s| is(s, Ready, True)).await;
    assert_eq!(fake.installs().len(), 1);
    let s = r.handle.board.get();
    assert!(s
        .history
        .iter()
        .any(|h| h.driver == "update-module" && h.manifest == "m-old"));
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_update_module_install_becomes_the_desired_state() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let r = start(dir.path(), &fake, settings(3, DriftPolicy::Enabled), None);
    r.until("idle", |s| condition(s, Ready).1 == "NoDesiredState")
        .await;
    let report = r
        .handle
        .handoff(Handoff::Install {
            manifest: manifest("um", "v5"),
            opts: RunOptions::default(),
        })
        .await
        .unwrap();
    assert_eq!(report.end, End::Success);
    let s = r
        .until("in sync with um", |s| {
            s.desired_manifest.as_deref() == Some("um") && is(s, Ready, True)
        })
        .await;
    assert_eq!(s.generation, 1);
    assert_eq!(s.history[0].driver, "update-module");
    assert_eq!(s.history[0].generation, 1);
    // Not undone as drift at the next resync.
    tokio::time::sleep(Duration::from_secs(700)).await;
    assert_eq!(fake.installs().len(), 1);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_hand_off_while_the_controller_deploys_is_refused_not_raced() {
    let (_dir, fake, gate, r) = gated();
    r.until("deploying", |s| s.deployment.is_some()).await;
    let err = r
        .handle
        .handoff(Handoff::Install {
            manifest: manifest("um", "v5"),
            opts: RunOptions::default(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, HandoffError::Busy { generation: 1, .. }),
        "{err}"
    );
    gate.notify_one();
    r.until("ready", |s| is(s, Ready, True)).await;
    assert_eq!(fake.installs().len(), 1);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn suspend_holds_new_generations_until_resume() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let r = start(dir.path(), &fake, settings(3, DriftPolicy::Warn), None);
    r.handle.action(Action::Suspend).await.unwrap();
    let g = r.apply(manifest("m2", "v2"));
    let s = r
        .until("suspended", |s| s.suspended && s.generation == g)
        .await;
    assert_eq!(s.observed_generation, 0);
    tokio::time::sleep(Duration::from_secs(700)).await;
    assert!(fake.installs().is_empty());
    r.handle.action(Action::Resume).await.unwrap();
    r.until("ready", |s| is(s, Ready, True) && !s.suspended)
        .await;
    assert_eq!(fake.installs().len(), 1);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_rollback_action_makes_the_last_good_manifest_desired() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let r = start(dir.path(), &fake, settings(5, DriftPolicy::Warn), None);
    assert!(
        r.handle.action(Action::Rollback).await.is_err(),
        "nothing to roll back to yet"
    );
    r.apply(manifest("m2", "v2"));
    r.until("m2", |s| is(s, Ready, True) && s.observed_generation == 1)
        .await;
    // m3 keeps failing: roll back stops the retries by making m2 desired again.
    fake.state().default_script = Some(Script::FailAt("ArtifactVerifyReboot"));
    r.apply(manifest("m3", "v3"));
    r.until("m3 failed", |s| s.failures >= 1).await;
    let reply = r.handle.action(Action::Rollback).await.unwrap();
    assert_eq!(reply.generation, 3);
    let s = r
        .until("m2 again", |s| {
            s.observed_generation == 3 && is(s, Ready, True)
        })
        .await;
    assert_eq!(s.desired_manifest.as_deref(), Some("m2"));
    assert_eq!(
        fake.state().system[&("rtos".to_string(), "A".to_string())],
        "v2"
    );
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_lets_the_running_deployment_finish_within_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    fake.state().install_time = Duration::from_secs(30);
    let r = start(dir.path(), &fake, settings(3, DriftPolicy::Warn), None);
    r.apply(manifest("m2", "v2"));
    r.until("deploying", |s| s.deployment.is_some()).await;
    let t0 = tokio::time::Instant::now();
    r.shutdown.cancel();
    let history = r.handle.board.clone();
    r.task.await.unwrap();
    assert!(
        t0.elapsed() >= Duration::from_secs(29),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(
        history.get().history.len(),
        1,
        "the deployment finished and was recorded"
    );

    // With a short grace the call is left to the journal.
    let dir = tempfile::tempdir().unwrap();
    let mut st = settings(3, DriftPolicy::Warn);
    st.grace = Duration::from_secs(5);
    let r = start(dir.path(), &fake, st, None);
    r.apply(manifest("m3", "v3"));
    r.until("deploying", |s| s.deployment.is_some()).await;
    let t0 = tokio::time::Instant::now();
    r.shutdown.cancel();
    let board = r.handle.board.clone();
    r.task.await.unwrap();
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(29),
        "{took:?}"
    );
    assert!(board.get().history.is_empty());
}

// Real time: the datagrams must be read as they come (systemd's queue is short).
#[tokio::test]
async fn systemd_hears_ready_after_recovery_and_the_watchdog_during_a_long_deployment() {
    use std::os::unix::net::UnixDatagram;
    struct Vars(Vec<(&'static str, String)>);
    impl baton::config::Env for Vars {
        fn var(&self, n: &str) -> Option<String> {
            self.0.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone())
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("notify");
    let systemd = UnixDatagram::bind(&sock).unwrap();
    // Read as systemd does, all along (the socket queue is short).
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while let Ok(n) = systemd.recv(&mut buf) {
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            let done = m == "STOPPING=1";
            got.push(m);
            if done {
                break;
            }
        }
        got
    });
    let notifier = baton::daemon::sd_notify::Notifier::from_env(&Vars(vec![
        ("NOTIFY_SOCKET", sock.display().to_string()),
        ("WATCHDOG_USEC", "200000".into()),
    ]));
    let fake = Fake::new();
    fake.state().in_flight = Some(in_flight(None));
    fake.state().install_time = Duration::from_millis(1500);
    let r = start(dir.path(), &fake, settings(3, DriftPolicy::Warn), notifier);
    r.apply(manifest("m2", "v2"));
    r.until("ready", |s| is(s, Ready, True)).await;
    r.stop().await;
    let got = reader.join().unwrap();
    let ready = got
        .iter()
        .position(|m| m.starts_with("READY=1"))
        .expect("READY=1 sent");
    // READY only after the journal was replayed (the resume is the first call).
    assert_eq!(fake.calls()[0], Call::Resume(false));
    let watchdogs = got.iter().filter(|m| *m == "WATCHDOG=1").count();
    // A 1.5 s install with a 200 ms watchdog (fed every 100 ms): fed all along.
    assert!(watchdogs >= 10, "{watchdogs} WATCHDOG=1 in {got:?}");
    assert!(got.iter().skip(ready).any(|m| m == "WATCHDOG=1"));
    assert_eq!(got.last().map(String::as_str), Some("STOPPING=1"));
}
