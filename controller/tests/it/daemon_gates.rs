//! The gates through the controller: the reconciler, the status board and the history
//! against the fake Deployer, whose installs ask the gates at the seam's points as the
//! engine's driver will once its `Gate` seam lands (see `daemon_support::Fake::ask`). The
//! same scenarios through `baton run` and real Interfaces are in `e2e/tests/it/gates.rs`.
//!
//! Paused tokio time (with a wall clock that moves with it) where waiting is long; real time
//! where real processes run (flock, health checks).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::daemon_support::*;
use baton::config::{Config, ConsentPhase, DriftPolicy, MaintenanceWindow, OnTimeout, PolicyMode};
use baton::daemon::commands::Action;
use baton::daemon::history::History;
use baton::gates::clock::{from_epoch, Clock, TokioWall};
use baton::gates::consent::Answer;
use baton::gates::{GatePoint, Verdict};
use baton::model::{ConditionStatus::*, ConditionType::*, HistoryEntry, Outcome, Reason, Status};

/// Long enough for any window here to open (tokio time: paused).
const DAYS: Duration = Duration::from_secs(3 * 86_400);

/// 2024-03-15T10:00:00Z, a Friday.
const FRIDAY_10H: i64 = 1_710_496_800;

fn config(dir: &std::path::Path) -> Config {
    let mut c = Config::default();
    c.update_locks.dir = dir.join("locks");
    c.min_free_bytes = 0;
    c
}

fn paused_wall() -> Option<Arc<dyn Clock>> {
    Some(Arc::new(TokioWall::starting_at(from_epoch(FRIDAY_10H))))
}

/// A controller on a fresh directory whose fake asks the gates of [`config`] as `set`
/// changes it; with `paused`, the gates' wall clock moves with paused time from Friday 10:00.
struct Gated {
    dir: tempfile::TempDir,
    fake: Fake,
    r: Running,
    gates: Arc<baton::gates::Gates>,
}

fn gated(
    s: baton::daemon::reconciler::Settings,
    paused: bool,
    set: impl FnOnce(&mut Config),
) -> Gated {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let mut cfg = config(dir.path());
    set(&mut cfg);
    let wall = if paused { paused_wall() } else { None };
    let (r, gates) = start_gated(dir.path(), &fake, s, &cfg, wall);
    Gated {
        dir,
        fake,
        r,
        gates,
    }
}

fn window(schedule: &str, seconds: u64) -> MaintenanceWindow {
    MaintenanceWindow {
        schedule: schedule.into(),
        duration_seconds: seconds,
        time_zone: "UTC".into(),
    }
}

fn reason(s: &Status, t: baton::model::ConditionType) -> String {
    condition(s, t).1
}

fn waiting_for(s: &Status, r: Reason) -> bool {
    s.gate.as_ref().is_some_and(|g| g.reason == r)
}

fn rtos(fake: &Fake) -> Vec<String> {
    fake.state().system.values().cloned().collect()
}

#[tokio::test(start_paused = true)]
async fn latest_keeps_what_runs_when_offered_an_older_manifest() {
    let Gated {
        dir: _dir,
        fake,
        r,
        gates: _gates,
    } = gated(settings(3, DriftPolicy::Enabled), false, |cfg| {
        cfg.update_policy.mode = PolicyMode::Latest;
    });
    let g2 = r.apply(manifest("sys-1.10", "v2"));
    r.until("1.10 deployed", |s| {
        s.observed_generation == g2 && is(s, Ready, True)
    })
    .await;
    let g1 = r.apply(manifest("sys-1.9", "v1"));
    let s = r
        .until("up to date", |s| {
            s.observed_generation == g1 && reason(s, Ready) == "NotNewer"
        })
        .await;
    assert!(is(&s, Ready, True) && is(&s, Progressing, False) && is(&s, Degraded, False));
    assert_eq!(fake.installs().len(), 1, "nothing ran for the older one");
    assert_eq!(rtos(&fake), ["v2", "v2"]);
    let h = &s.history[0];
    assert_eq!(
        (h.outcome, h.reason, h.generation),
        (Outcome::UpToDate, Some(Reason::NotNewer), g1)
    );
    assert_eq!(h.policy.as_deref(), Some("latest"));
    assert!(h
        .message
        .as_deref()
        .unwrap()
        .contains("not newer than the deployed 'sys-1.10'"));
    assert_eq!(
        s.history[1].policy.as_deref(),
        Some("latest"),
        "the deployment records it too"
    );
    // Once in the history, however often it is looked at again.
    tokio::time::sleep(Duration::from_secs(1200)).await;
    assert_eq!(r.handle.board.get().history.len(), 2);
    // A newer one goes through.
    let g3 = r.apply(manifest("sys-1.11", "v3"));
    r.until("1.11 deployed", |s| {
        s.observed_generation == g3 && is(s, Ready, True)
    })
    .await;
    assert_eq!(rtos(&fake), ["v3", "v3"]);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_update_modules_hand_off_is_held_back_by_the_policy_too() {
    use baton::daemon::commands::{Handoff, HandoffError};
    let Gated {
        dir: _dir,
        fake,
        r,
        gates: _gates,
    } = gated(settings(3, DriftPolicy::Warn), false, |cfg| {
        cfg.update_policy.mode = PolicyMode::Latest;
    });
    let g = r.apply(manifest("sys-2", "v2"));
    r.until("2 deployed", |s| {
        s.observed_generation == g && is(s, Ready, True)
    })
    .await;
    let older = Handoff::Install {
        manifest: manifest("sys-1", "v1"),
        opts: Default::default(),
    };
    match r.handle.handoff(older).await {
        Err(HandoffError::Held { reason, message }) => {
            assert_eq!(reason, Reason::NotNewer);
            assert!(message.contains("'sys-1'"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.installs().len(), 1, "nothing ran");
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn pinned_takes_only_its_manifest() {
    let Gated {
        dir: _dir,
        fake,
        r,
        gates: _gates,
    } = gated(settings(3, DriftPolicy::Warn), false, |cfg| {
        cfg.update_policy.mode = PolicyMode::Pinned;
        cfg.update_policy.pinned = Some("sys-2".into());
    });
    r.apply(manifest("sys-3", "v3"));
    let s = r
        .until("not pinned", |s| reason(s, Stalled) == "NotPinned")
        .await;
    assert!(is(&s, Stalled, True) && is(&s, Ready, False));
    assert_eq!(fake.installs().len(), 0);
    assert_eq!(
        (s.history[0].outcome, s.history[0].reason),
        (Outcome::Rejected, Some(Reason::NotPinned))
    );
    assert_eq!(s.history[0].policy.as_deref(), Some("pinned: sys-2"));
    let g = r.apply(manifest("sys-2", "v2"));
    r.until("pinned deployed", |s| {
        s.observed_generation == g && is(s, Ready, True)
    })
    .await;
    assert_eq!(fake.installs().len(), 1);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn outside_every_window_nothing_runs_status_says_when_and_at_the_window_it_converges() {
    let Gated {
        dir: _dir,
        fake,
        r,
        gates: _gates,
    } = gated(settings(3, DriftPolicy::Warn), true, |cfg| {
        cfg.maintenance_windows = vec![window("0 2 * * *", 3600)];
    });
    let idle = r.until("idle", |s| s.next_window_at.is_some()).await;
    assert_eq!(idle.next_window_at.as_deref(), Some("2024-03-16T02:00:00Z"));
    let g = r.apply(manifest("sys-2", "v2"));
    let s = r
        .until("waiting for the window", |s| {
            waiting_for(s, Reason::WaitingForMaintenanceWindow)
        })
        .await;
    assert!(is(&s, Progressing, False), "{:?}", s.conditions);
    assert_eq!(reason(&s, Progressing), "WaitingForMaintenanceWindow");
    let gate = s.gate.clone().unwrap();
    assert_eq!(gate.until.as_deref(), Some("2024-03-16T02:00:00Z"));
    assert!(
        gate.message.contains("next opens at 2024-03-16T02:00:00Z"),
        "{}",
        gate.message
    );
    assert_eq!(s.next_window_at.as_deref(), Some("2024-03-16T02:00:00Z"));
    // No state ran: the deployment never got past its first gate.
    assert_eq!(s.deployment.as_ref().map(|d| d.state.as_str()), Some(""));
    assert_eq!(rtos(&fake), ["v1", "v1"]);
    let started = tokio::time::Instant::now();
    let s = r
        .until_within("converged at the window", DAYS, |s| {
            s.observed_generation == g && is(s, Ready, True)
        })
        .await;
    assert!(
        started.elapsed() >= Duration::from_secs(16 * 3600 - 60),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(rtos(&fake), ["v2", "v2"]);
    assert!(s.gate.is_none());
    assert!(
        s.history[0].waited_seconds >= 16 * 3600 - 60,
        "{}",
        s.history[0].waited_seconds
    );
    // Inside the window now: no next one to announce.
    assert_eq!(s.next_window_at, None);
    r.stop().await;
}

fn succeeded(duration: u64) -> HistoryEntry {
    HistoryEntry {
        id: format!("past-{duration}"),
        manifest: "sys-1".into(),
        manifest_sha256: String::new(),
        generation: 1,
        driver: "controller".into(),
        started_at: String::new(),
        finished_at: String::new(),
        duration_seconds: duration,
        outcome: Outcome::Succeeded,
        reason: None,
        message: None,
        components: vec![],
        policy: None,
        waited_seconds: 0,
    }
}

#[tokio::test(start_paused = true)]
async fn a_deployment_that_does_not_fit_the_window_waits_for_one_it_fits() {
    let dir = tempfile::tempdir().unwrap();
    // This System's deployments take two hours.
    let mut h = History::open(dir.path()).unwrap();
    h.push(succeeded(7200)).unwrap();
    let fake = Fake::new();
    let mut cfg = config(dir.path());
    // Nightly one hour; Sundays from 04:00 three hours.
    cfg.maintenance_windows = vec![window("0 2 * * *", 3600), window("0 4 * * sun", 3 * 3600)];
    let (r, _) = start_gated(
        dir.path(),
        &fake,
        settings(3, DriftPolicy::Warn),
        &cfg,
        paused_wall(),
    );
    let g = r.apply(manifest("sys-2", "v2"));
    let s = r
        .until("waiting", |s| {
            waiting_for(s, Reason::WaitingForMaintenanceWindow)
        })
        .await;
    assert_eq!(
        s.gate.unwrap().until.as_deref(),
        Some("2024-03-17T04:00:00Z")
    );
    // Saturday's and Sunday's nightly windows open and close without it.
    tokio::time::sleep(Duration::from_secs(42 * 3600)).await;
    let s = r.handle.board.get();
    assert_eq!(rtos(&fake), ["v1", "v1"], "{:?}", s.gate);
    assert!(waiting_for(&s, Reason::WaitingForMaintenanceWindow));
    r.until("converged on Sunday", |s| {
        s.observed_generation == g && is(s, Ready, True)
    })
    .await;
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn consent_denied_installs_nothing_and_approved_converges() {
    let Gated {
        dir: _dir,
        fake,
        r,
        gates,
    } = gated(settings(3, DriftPolicy::Warn), true, |cfg| {
        cfg.owner_consent.before = vec![ConsentPhase::Install];
    });
    let g = r.apply(manifest("sys-2", "v2"));
    let s = r
        .until("asked", |s| waiting_for(s, Reason::AwaitingConsent))
        .await;
    let q = s
        .gate
        .as_ref()
        .unwrap()
        .consent
        .clone()
        .expect("the question in status");
    assert_eq!(
        (q.id, q.phase.as_str(), q.manifest.as_str()),
        (1, "Install", "sys-2")
    );
    assert!(q.deadline.is_some(), "TimeoutSeconds 1800 by default");
    assert_eq!(reason(&s, Ready), "AwaitingConsent");
    assert!(is(&s, Progressing, False));
    // Downloads went on before the question.
    assert_eq!(s.deployment.as_ref().unwrap().state, "Download");
    gates
        .desk()
        .answer(Some(q.id), Answer::Deny, "api")
        .unwrap();
    let s = r.until("denied", |s| !s.history.is_empty()).await;
    assert_eq!(
        (s.history[0].outcome, s.history[0].reason),
        (Outcome::RolledBack, Some(Reason::ConsentDenied))
    );
    assert!(s.history[0]
        .message
        .as_deref()
        .unwrap()
        .contains("denied by api"));
    assert!(s.history[0]
        .components
        .iter()
        .all(|c| c.result == "untouched"));
    assert_eq!(rtos(&fake), ["v1", "v1"]);
    // The retry asks again; approved, it converges.
    let s = r
        .until("asked again", |s| {
            s.gate
                .as_ref()
                .and_then(|g| g.consent.as_ref())
                .is_some_and(|q| q.id == 2)
        })
        .await;
    assert_eq!(s.failures, 1);
    gates.desk().answer(None, Answer::Approve, "cli").unwrap();
    r.until("converged", |s| {
        s.observed_generation == g && is(s, Ready, True)
    })
    .await;
    assert_eq!(rtos(&fake), ["v2", "v2"]);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_question_nobody_answers_follows_on_timeout() {
    for (on_timeout, converges) in [(OnTimeout::Approve, true), (OnTimeout::Deny, false)] {
        let Gated {
            dir: _dir,
            fake,
            r,
            gates: _gates,
        } = gated(settings(0, DriftPolicy::Warn), true, |cfg| {
            cfg.owner_consent = baton::config::OwnerConsent {
                before: vec![ConsentPhase::Download],
                timeout_seconds: 60,
                on_timeout,
            };
        });
        r.apply(manifest("sys-2", "v2"));
        r.until("asked", |s| waiting_for(s, Reason::AwaitingConsent))
            .await;
        let s = r.until("ended", |s| !s.history.is_empty()).await;
        if converges {
            assert_eq!(s.history[0].outcome, Outcome::Succeeded);
            assert_eq!(rtos(&fake), ["v2", "v2"]);
        } else {
            let h = &s.history[0];
            // Refused before Download: a rejection, nothing touched.
            assert_eq!(
                (h.outcome, h.reason),
                (Outcome::Rejected, Some(Reason::ConsentDenied))
            );
            assert!(h
                .message
                .as_deref()
                .unwrap()
                .contains("no answer within 60 s"));
            assert_eq!(rtos(&fake), ["v1", "v1"]);
        }
        r.stop().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_newer_generation_supersedes_a_waiting_deployment_but_not_one_that_installed() {
    let Gated {
        dir: _dir,
        fake,
        r,
        gates: _gates,
    } = gated(settings(3, DriftPolicy::Warn), true, |cfg| {
        cfg.maintenance_windows = vec![window("0 2 * * *", 3600)];
    });
    r.apply(manifest("sys-2", "v2"));
    r.until("v2 waits", |s| {
        waiting_for(s, Reason::WaitingForMaintenanceWindow)
    })
    .await;
    let g3 = r.apply(manifest("sys-3", "v3"));
    let s = r.until("v2 superseded", |s| !s.history.is_empty()).await;
    let h = &s.history[0];
    assert_eq!(
        (h.manifest.as_str(), h.outcome, h.reason),
        ("sys-2", Outcome::Rejected, Some(Reason::Superseded))
    );
    assert!(h
        .message
        .as_deref()
        .unwrap()
        .contains("superseded by generation"));
    let s = r
        .until_within("v3 converged", DAYS, |s| {
            s.observed_generation == g3 && is(s, Ready, True)
        })
        .await;
    assert_eq!(s.history[0].manifest, "sys-3");
    assert_eq!(rtos(&fake), ["v3", "v3"]);
    assert_eq!(fake.installs().len(), 2, "v2 never reached a state");
    r.stop().await;

    // After ArtifactInstall: the running deployment finishes first.
    let Gated {
        dir: _dir,
        fake: _,
        r,
        gates,
    } = gated(settings(3, DriftPolicy::Warn), true, |cfg| {
        cfg.owner_consent.before = vec![ConsentPhase::Activate];
    });
    r.apply(manifest("sys-2", "v2"));
    r.until("v2 installed, asking to activate", |s| {
        waiting_for(s, Reason::AwaitingConsent)
    })
    .await;
    let g3 = r.apply(manifest("sys-3", "v3"));
    tokio::time::sleep(Duration::from_secs(5)).await;
    gates.desk().answer(None, Answer::Approve, "api").unwrap();
    let s = r.until("v2 finished", |s| !s.history.is_empty()).await;
    assert_eq!(
        (s.history[0].manifest.as_str(), s.history[0].outcome),
        ("sys-2", Outcome::Succeeded)
    );
    r.until("v3 asks", |s| {
        s.gate
            .as_ref()
            .and_then(|g| g.consent.as_ref())
            .is_some_and(|q| q.manifest == "sys-3")
    })
    .await;
    gates.desk().answer(None, Answer::Approve, "api").unwrap();
    r.until("v3 converged", |s| {
        s.observed_generation == g3 && is(s, Ready, True)
    })
    .await;
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn not_enough_space_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    fake.state().artifact_bytes = 1 << 20;
    let mut cfg = config(dir.path());
    cfg.min_free_bytes = u64::MAX / 4;
    let (r, _) = start_gated(
        dir.path(),
        &fake,
        settings(0, DriftPolicy::Warn),
        &cfg,
        None,
    );
    r.apply(manifest("sys-2", "v2"));
    let s = r.until("refused", |s| !s.history.is_empty()).await;
    let h = &s.history[0];
    assert_eq!(
        (h.outcome, h.reason),
        (Outcome::Rejected, Some(Reason::InsufficientSpace))
    );
    let m = h.message.as_deref().unwrap();
    assert!(
        m.contains(&format!("needs {} bytes", 2u64 << 20)) && m.contains("MinFreeBytes"),
        "{m}"
    );
    assert_eq!(reason(&s, Stalled), "RetryLimitReached");
    assert_eq!(rtos(&fake), ["v1", "v1"]);
    let verdicts = fake.state().verdicts.clone();
    assert_eq!(
        verdicts.len(),
        1,
        "refused at the first point: {verdicts:?}"
    );
    assert_eq!(verdicts[0].0, GatePoint::BeforeFirstState);
    r.stop().await;
}

/// `flock -x <file> sleep 600` in a process group of its own (the lock is shared with the
/// `sleep` child, so [`release`] ends the group), or `None` (loudly; a failure with
/// BATON_TEST_STRICT=1).
fn hold(file: &std::path::Path) -> Option<Child> {
    use std::os::unix::process::CommandExt;
    let child = Command::new("flock")
        .arg("-x")
        .arg(file)
        .args(["sleep", "600"])
        .stdin(Stdio::null())
        .process_group(0)
        .spawn();
    match child {
        Ok(c) => {
            // Held once the kernel says so.
            for _ in 0..200 {
                if !baton::gates::locks::held(file.parent().unwrap())
                    .unwrap()
                    .is_empty()
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Some(c)
        }
        Err(e) => {
            assert!(
                std::env::var("BATON_TEST_STRICT").as_deref() != Ok("1"),
                "`flock` cannot run ({e}) and BATON_TEST_STRICT=1"
            );
            eprintln!("\n!!! SKIPPED: `flock` cannot run: {e} !!!\n");
            None
        }
    }
}

/// Ends the holder's group: the lock goes with its last holder.
fn release(holder: &mut Child) {
    let pgid = rustix::process::Pid::from_raw(holder.id() as i32).unwrap();
    let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
    holder.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_update_lock_holds_the_deployment_until_released_or_forced() {
    let dir = tempfile::tempdir().unwrap();
    let locks = dir.path().join("locks");
    std::fs::create_dir_all(&locks).unwrap();
    let file = locks.join("navigation.lock");
    std::fs::write(&file, "").unwrap();
    let Some(mut holder) = hold(&file) else {
        return;
    };
    let fake = Fake::new();
    let cfg = config(dir.path());
    let (r, _) = start_gated(
        dir.path(),
        &fake,
        settings(3, DriftPolicy::Warn),
        &cfg,
        None,
    );
    let g = r.apply(manifest("sys-2", "v2"));
    let s = r
        .until("locked", |s| waiting_for(s, Reason::UpdateLocked))
        .await;
    let gate = s.gate.clone().unwrap();
    assert_eq!(gate.locks.len(), 1, "{gate:?}");
    assert_eq!(gate.locks[0].file, file.display().to_string());
    let pid = gate.locks[0].pid.expect("the kernel names the holder");
    assert!(
        pid == holder.id() || gate.locks[0].command.is_some(),
        "{gate:?}"
    );
    assert!(gate.message.contains("navigation.lock"), "{}", gate.message);
    assert_eq!(reason(&s, Ready), "UpdateLocked");
    // Downloads went on; nothing installed.
    assert_eq!(s.deployment.as_ref().unwrap().state, "Download");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rtos(&fake), ["v1", "v1"]);
    release(&mut holder);
    r.until("converged once released", |s| {
        s.observed_generation == g && is(s, Ready, True)
    })
    .await;
    assert!(r.handle.board.get().history[0].waited_seconds >= 2);

    // Held again: --force passes once.
    let Some(mut holder) = hold(&file) else {
        return;
    };
    let g = r.apply(manifest("sys-3", "v3"));
    r.until("locked again", |s| waiting_for(s, Reason::UpdateLocked))
        .await;
    r.handle.action(Action::Force).await.unwrap();
    r.until("forced through", |s| {
        s.observed_generation == g && is(s, Ready, True)
    })
    .await;
    assert_eq!(rtos(&fake), ["v3", "v3"]);
    // Once: the next deployment waits again.
    r.apply(manifest("sys-4", "v4"));
    r.until("locked a third time", |s| {
        waiting_for(s, Reason::UpdateLocked)
    })
    .await;
    release(&mut holder);
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_soak_before_the_commit_and_a_failure_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("checks.log");
    let fake = Fake::new();
    let mut cfg = config(dir.path());
    cfg.health_gate.soak_seconds = 2;
    cfg.health_gate.interval_seconds = 1;
    cfg.health_gate.checks = vec![vec![
        "/bin/sh".into(),
        "-c".into(),
        format!(
            "echo run >> {0}; if [ -f {0}.fail ]; then echo 'gateway: disk full' >&2; exit 3; fi",
            log.display()
        ),
    ]];
    let (r, _) = start_gated(
        dir.path(),
        &fake,
        settings(0, DriftPolicy::Warn),
        &cfg,
        None,
    );
    let g = r.apply(manifest("sys-2", "v2"));
    let s = r
        .until("soaking", |s| waiting_for(s, Reason::HealthSoak))
        .await;
    assert!(is(&s, Progressing, True), "the soak is progress");
    let s = r
        .until("committed", |s| {
            s.observed_generation == g && is(s, Ready, True)
        })
        .await;
    // Runs at 0, 1 and 2 s, all before the commit.
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 3);
    assert_eq!(
        s.history[0].waited_seconds, 0,
        "the soak is work, not a wait"
    );
    let soak: Vec<_> = fake
        .state()
        .verdicts
        .iter()
        .filter(|(p, _)| *p == GatePoint::BeforeCommit)
        .map(|(_, v)| {
            matches!(
                v,
                Verdict::Wait {
                    reason: Reason::HealthSoak,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(soak, [true, true, false], "waits, then proceeds");

    // A failing check: the whole System rolls back before any commit.
    std::fs::write(format!("{}.fail", log.display()), "").unwrap();
    r.apply(manifest("sys-3", "v3"));
    let s = r.until("rolled back", |s| s.history.len() == 2).await;
    let h = &s.history[0];
    assert_eq!(
        (h.outcome, h.reason),
        (Outcome::RolledBack, Some(Reason::HealthCheckFailed))
    );
    let m = h.message.as_deref().unwrap();
    assert!(
        m.contains("exited with 3") && m.contains("gateway: disk full") && m.contains("run 1 of 3"),
        "{m}"
    );
    assert!(h.components.iter().all(|c| c.result == "rolledBack"));
    assert_eq!(rtos(&fake), ["v2", "v2"]);
    r.stop().await;
}

#[test]
fn a_wall_clock_moves_with_paused_time() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let c = TokioWall::starting_at(from_epoch(FRIDAY_10H));
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert_eq!(c.wall(), from_epoch(FRIDAY_10H + 3600));
        assert!(c.wall() < SystemTime::now());
    });
}
