//! The driver against an in-memory executor: pauses, reboots, journal contents.

use std::cell::RefCell;
use std::time::Duration;

use super::driver::*;
use super::gate::{BoxFuture, Gate, GateContext, GatePhase, GatePoint, Open, Verdict};
use super::journal::Journal;
use super::machine::*;
use super::plan::Plan;
use super::progress::{NoProgress, Progress, ProgressSink};
use super::record::DeploymentRecord;
use super::report::End;
use super::states::{Query, RebootAnswer, State};
use super::store::StoredMeta;
use crate::model::Reason;

/// No gate holds these deployments.
const OPEN: SafePoints<'static> = SafePoints {
    gate: &Open,
    progress: &NoProgress,
};

/// Components that answer from a table and log every call.
struct Fake {
    reboot: Vec<RebootAnswer>,
    fail: Vec<(usize, State)>,
    log: RefCell<Vec<String>>,
    boot_id: RefCell<String>,
}

impl Executor for Fake {
    async fn run(&self, _record: &DeploymentRecord, step: &Step) -> StepResult {
        match step {
            Step::Call { state, members, .. } => StepResult::Calls(
                members
                    .iter()
                    .map(|&m| {
                        self.log.borrow_mut().push(format!("{m}:{state}"));
                        if self.fail.contains(&(m, *state)) {
                            (m, CallResult::Failed("injected".into()))
                        } else {
                            (m, CallResult::Ok)
                        }
                    })
                    .collect(),
            ),
            Step::Query { query, members, .. } => StepResult::Queries(
                members
                    .iter()
                    .map(|&m| {
                        let a = match query {
                            Query::SupportsRollback => QueryResult::SupportsRollback(true),
                            Query::NeedsArtifactReboot => QueryResult::NeedsReboot(self.reboot[m]),
                            other => unreachable!("the machine never asks {other}"),
                        };
                        (m, a)
                    })
                    .collect(),
            ),
            _ => unreachable!(),
        }
    }
    async fn reboot(&self) -> CallResult {
        self.log.borrow_mut().push("reboot".into());
        *self.boot_id.borrow_mut() = "boot-2".into();
        CallResult::Ok
    }
    fn boot_id(&self) -> Option<String> {
        Some(self.boot_id.borrow().clone())
    }
}

fn fake(reboot: Vec<RebootAnswer>, fail: Vec<(usize, State)>) -> Fake {
    Fake {
        reboot,
        fail,
        log: RefCell::new(vec![]),
        boot_id: RefCell::new("boot-1".into()),
    }
}

fn record(groups: &[usize]) -> DeploymentRecord {
    let n = groups.iter().max().map_or(0, |g| g + 1);
    DeploymentRecord {
        id: "d1".into(),
        manifest: StoredMeta {
            name: "m".into(),
            sha256: "0".into(),
            origin: "test".into(),
            base_dir: None,
            stored_at: 0,
        },
        plan: Plan {
            orders: vec![],
            components: vec![],
            skipped: vec![],
        },
        artifacts: vec![],
        machine: Deployment::new(n, groups),
        boot_id_at_reboot: None,
        reboot_delegated: false,
        paused: None,
        started_at: 0,
    }
}

fn stops(b: &[Boundary]) -> RunOptions {
    RunOptions {
        stop_before: b.iter().copied().collect(),
        ..Default::default()
    }
}

#[tokio::test]
async fn the_update_module_sequence_pauses_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = Journal::open::<DeploymentRecord>(dir.path()).unwrap();
    let exec = fake(vec![RebootAnswer::No, RebootAnswer::No], vec![]);
    let mut rec = record(&[0, 1]);

    // install --stop-before ArtifactCommit --stop-before ArtifactRollback --stop-before Cleanup
    let all = [
        Boundary::ArtifactCommit,
        Boundary::ArtifactRollback,
        Boundary::Cleanup,
    ];
    let end = drive(&mut j, &mut rec, &exec, &stops(&all), &OPEN, &mut Quiet)
        .await
        .unwrap();
    assert!(
        matches!(
            end,
            End::Paused {
                before: Boundary::ArtifactCommit,
                ..
            }
        ),
        "{end:?}"
    );
    let (_, loaded) = Journal::open::<DeploymentRecord>(dir.path()).unwrap();
    assert_eq!(loaded.record.as_ref(), Some(&rec), "the pause is journaled");
    assert!(!exec.log.borrow().iter().any(|l| l.contains("Commit")));

    // resume --stop-before ArtifactRollback --stop-before Cleanup
    let end = drive(
        &mut j,
        &mut rec,
        &exec,
        &stops(&all[1..]),
        &OPEN,
        &mut Quiet,
    )
    .await
    .unwrap();
    assert!(
        matches!(
            end,
            End::Paused {
                before: Boundary::Cleanup,
                ..
            }
        ),
        "{end:?}"
    );
    assert!(rec.machine.commit_decided);

    // resume
    let end = drive(&mut j, &mut rec, &exec, &stops(&[]), &OPEN, &mut Quiet)
        .await
        .unwrap();
    assert_eq!(end, End::Success);
    assert_eq!(
        *exec.log.borrow(),
        vec![
            "0:Download",
            "0:ArtifactInstall",
            "1:Download",
            "1:ArtifactInstall",
            "0:ArtifactCommit",
            "1:ArtifactCommit",
            "0:Cleanup",
            "1:Cleanup"
        ]
    );
}

#[tokio::test]
async fn a_failure_pauses_before_rollback_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = Journal::open::<DeploymentRecord>(dir.path()).unwrap();
    let exec = fake(vec![RebootAnswer::No], vec![(0, State::ArtifactInstall)]);
    let mut rec = record(&[0]);
    let end = drive(
        &mut j,
        &mut rec,
        &exec,
        &stops(&[Boundary::ArtifactRollback]),
        &OPEN,
        &mut Quiet,
    )
    .await
    .unwrap();
    assert!(
        matches!(
            end,
            End::Paused {
                before: Boundary::ArtifactRollback,
                ..
            }
        ),
        "{end:?}"
    );
    rec.machine.request_rollback().unwrap();
    let end = drive(
        &mut j,
        &mut rec,
        &exec,
        &stops(&[Boundary::Cleanup]),
        &OPEN,
        &mut Quiet,
    )
    .await
    .unwrap();
    assert!(
        matches!(
            end,
            End::Paused {
                before: Boundary::Cleanup,
                ..
            }
        ),
        "{end:?}"
    );
    assert!(exec
        .log
        .borrow()
        .contains(&"0:ArtifactRollback".to_string()));
}

#[tokio::test]
async fn exit_on_reboot_stops_and_an_explicit_resume_continues() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = Journal::open::<DeploymentRecord>(dir.path()).unwrap();
    let exec = fake(vec![RebootAnswer::Automatic], vec![]);
    let mut rec = record(&[0]);
    let opts = RunOptions {
        exit_on_reboot: true,
        ..Default::default()
    };
    let end = drive(&mut j, &mut rec, &exec, &opts, &OPEN, &mut Quiet)
        .await
        .unwrap();
    assert_eq!(end, End::AwaitingReboot);
    assert!(
        !exec.log.borrow().contains(&"reboot".to_string()),
        "the caller reboots"
    );

    // A new process: load, recover (explicit resume), drive on.
    let (mut j, loaded) = Journal::open::<DeploymentRecord>(dir.path()).unwrap();
    let mut rec = loaded.record.unwrap();
    let r = recover(&mut j, &mut rec, exec.boot_id(), true).unwrap();
    assert!(matches!(r, Recovery::Completed(_)));
    let end = drive(
        &mut j,
        &mut rec,
        &exec,
        &RunOptions::default(),
        &OPEN,
        &mut Quiet,
    )
    .await
    .unwrap();
    assert_eq!(end, End::Success);
    assert!(exec
        .log
        .borrow()
        .contains(&"0:ArtifactVerifyReboot".to_string()));
}

/// A host reboot left in flight with the boot id unchanged, picked up again: `delegated` says
/// whether the journal shows the reboot was left to the caller, `explicit` whether the
/// caller resumes. Returns the recovery, how the deployment ended, and the calls made.
async fn unrebooted(delegated: bool, explicit: bool) -> (Recovery, End, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = Journal::open::<DeploymentRecord>(dir.path()).unwrap();
    let exec = fake(vec![RebootAnswer::Automatic], vec![]);
    let mut rec = record(&[0]);
    let opts = RunOptions {
        exit_on_reboot: true,
        ..Default::default()
    };
    drive(&mut j, &mut rec, &exec, &opts, &OPEN, &mut Quiet)
        .await
        .unwrap();
    // Without delegation, the very record baton's own reboot leaves when baton dies before
    // its reboot command runs.
    rec.reboot_delegated = delegated;
    let r = recover(&mut j, &mut rec, exec.boot_id(), explicit).unwrap();
    let end = drive(
        &mut j,
        &mut rec,
        &exec,
        &RunOptions::default(),
        &OPEN,
        &mut Quiet,
    )
    .await
    .unwrap();
    let log = exec.log.borrow().clone();
    (r, end, log)
}

#[tokio::test]
async fn a_restart_with_the_same_boot_id_after_a_reboot_request_rolls_back() {
    // baton restarted by itself (not an explicit resume) and the boot id did not change.
    let (r, end, _) = unrebooted(true, false).await;
    assert!(matches!(r, Recovery::Failed(_)));
    assert!(matches!(end, End::RolledBack { .. }), "{end:?}");
}

#[tokio::test]
async fn a_resume_does_not_vouch_for_a_reboot_baton_itself_never_made() {
    let (r, end, log) = unrebooted(false, true).await;
    assert!(matches!(r, Recovery::Failed(_)), "{r:?}");
    assert!(matches!(end, End::RolledBack { .. }), "{end:?}");
    assert!(!log.contains(&"0:ArtifactVerifyReboot".to_string()));
    // The caller's own resume after --exit-on-reboot still counts.
    let (r, end, _) = unrebooted(true, true).await;
    assert!(matches!(r, Recovery::Completed(_)), "{r:?}");
    assert_eq!(end, End::Success);
}

#[tokio::test]
async fn the_daemon_reboots_through_the_executor() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = Journal::open::<DeploymentRecord>(dir.path()).unwrap();
    let exec = fake(vec![RebootAnswer::Automatic, RebootAnswer::No], vec![]);
    let mut rec = record(&[0, 0]);
    let end = drive(
        &mut j,
        &mut rec,
        &exec,
        &RunOptions::default(),
        &OPEN,
        &mut Quiet,
    )
    .await
    .unwrap();
    assert_eq!(end, End::Success);
    let log = exec.log.borrow();
    let reboot = log.iter().position(|l| l == "reboot").unwrap();
    let verify = log
        .iter()
        .position(|l| l == "0:ArtifactVerifyReboot")
        .unwrap();
    assert!(reboot < verify);
    assert!(!log.contains(&"1:ArtifactVerifyReboot".to_string()));
}

/// A gate that answers from a script per point (then proceeds) and logs every question.
struct Scripted {
    answers: std::sync::Mutex<Vec<(GatePoint, Verdict)>>,
    asked: std::sync::Mutex<Vec<GatePoint>>,
}

impl Scripted {
    fn new(answers: Vec<(GatePoint, Verdict)>) -> Self {
        Self {
            answers: std::sync::Mutex::new(answers),
            asked: std::sync::Mutex::new(vec![]),
        }
    }
    fn asked(&self) -> Vec<&'static str> {
        self.asked
            .lock()
            .unwrap()
            .iter()
            .map(|p| p.as_str())
            .collect()
    }
}

impl Gate for Scripted {
    fn check<'a>(&'a self, ctx: &'a GateContext) -> BoxFuture<'a, Verdict> {
        self.asked.lock().unwrap().push(ctx.point);
        let mut answers = self.answers.lock().unwrap();
        let at = answers.iter().position(|(p, _)| *p == ctx.point);
        let v = at.map_or(Verdict::Proceed, |i| answers.remove(i).1);
        Box::pin(async move { v })
    }
}

struct Seen(std::sync::Mutex<Vec<Progress>>);
impl ProgressSink for Seen {
    fn emit(&self, e: Progress) {
        self.0.lock().unwrap().push(e);
    }
}

async fn gated(reboot: Vec<RebootAnswer>, gate: &Scripted, seen: &Seen) -> (End, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = Journal::open::<DeploymentRecord>(dir.path()).unwrap();
    let exec = fake(reboot.clone(), vec![]);
    let mut rec = record(&vec![0; reboot.len()]);
    let safe = SafePoints {
        gate,
        progress: seen,
    };
    let end = drive(
        &mut j,
        &mut rec,
        &exec,
        &RunOptions::default(),
        &safe,
        &mut Quiet,
    )
    .await
    .unwrap();
    // The journal holds what the driver decided.
    let (_, loaded) = Journal::open::<DeploymentRecord>(dir.path()).unwrap();
    assert_eq!(loaded.record.as_ref(), Some(&rec));
    let log = exec.log.borrow().clone();
    (end, log)
}

#[tokio::test]
async fn each_gate_point_is_asked_once_in_order() {
    let seen = Seen(Default::default());
    // A peripheral reboot: the Activate phase starts with it.
    let gate = Scripted::new(vec![]);
    let (end, _) = gated(vec![RebootAnswer::Yes, RebootAnswer::No], &gate, &seen).await;
    assert_eq!(end, End::Success);
    assert_eq!(
        gate.asked(),
        [
            "BeforeInstall",
            "BeforeDisruptive",
            "BeforeActivate",
            "BeforeCommit"
        ]
    );
    // No reboot at all: Activate is asked at the commit boundary.
    let gate = Scripted::new(vec![]);
    let (end, _) = gated(vec![RebootAnswer::No], &gate, &seen).await;
    assert_eq!(end, End::Success);
    assert_eq!(
        gate.asked(),
        [
            "BeforeInstall",
            "BeforeDisruptive",
            "BeforeActivate",
            "BeforeCommit"
        ]
    );
}

#[tokio::test]
async fn the_gates_before_the_commit_pass_before_a_pause_there_and_not_again_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = Journal::open::<DeploymentRecord>(dir.path()).unwrap();
    let exec = fake(vec![RebootAnswer::No], vec![]);
    let mut rec = record(&[0]);
    let gate = Scripted::new(vec![]);
    let safe = SafePoints {
        gate: &gate,
        progress: &NoProgress,
    };
    // The Update Module's install: --stop-before ArtifactCommit.
    let stop = stops(&[Boundary::ArtifactCommit]);
    let end = drive(&mut j, &mut rec, &exec, &stop, &safe, &mut Quiet)
        .await
        .unwrap();
    assert!(matches!(end, End::Paused { .. }), "{end:?}");
    assert_eq!(
        gate.asked(),
        [
            "BeforeInstall",
            "BeforeDisruptive",
            "BeforeActivate",
            "BeforeCommit"
        ],
        "the soak ran before the install call returned"
    );
    // Its ArtifactCommit: the boundary is crossed without asking again.
    let end = drive(&mut j, &mut rec, &exec, &stops(&[]), &safe, &mut Quiet)
        .await
        .unwrap();
    assert_eq!(end, End::Success);
    assert_eq!(gate.asked().len(), 4);
    assert!(exec.log.borrow().contains(&"0:ArtifactCommit".to_string()));
}

#[tokio::test]
async fn a_refusal_before_the_commit_rolls_back_with_the_gates_reason() {
    let seen = Seen(Default::default());
    let gate = Scripted::new(vec![(
        GatePoint::BeforeCommit,
        Verdict::Refuse {
            reason: Reason::HealthCheckFailed,
            message: "the soak found errors".into(),
        },
    )]);
    let (end, log) = gated(vec![RebootAnswer::No], &gate, &seen).await;
    match &end {
        End::RolledBack {
            reason,
            failed_at,
            message,
        } => {
            assert_eq!(*reason, Reason::HealthCheckFailed);
            assert_eq!(failed_at, "BeforeCommit");
            assert!(message.contains("the soak found errors"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!log.contains(&"0:ArtifactCommit".to_string()), "{log:?}");
    assert!(log.contains(&"0:ArtifactRollback".to_string()), "{log:?}");
    assert!(log.contains(&"0:Cleanup".to_string()), "{log:?}");
}

#[tokio::test]
async fn a_refusal_before_the_install_touches_no_install() {
    let seen = Seen(Default::default());
    let gate = Scripted::new(vec![(
        GatePoint::BeforeDisruptive,
        Verdict::Refuse {
            reason: Reason::UpdateLocked,
            message: "the drive is in progress".into(),
        },
    )]);
    let (end, log) = gated(vec![RebootAnswer::No], &gate, &seen).await;
    assert_eq!(end.reason(), Some(Reason::UpdateLocked), "{end:?}");
    assert_eq!(log, ["0:Download", "0:Cleanup"]);
}

#[tokio::test(start_paused = true)]
async fn a_wait_is_reported_and_the_deployment_goes_on_when_the_gate_proceeds() {
    let seen = Seen(Default::default());
    let wait = Verdict::Wait {
        reason: Reason::AwaitingConsent,
        until: None,
        message: "asked the owner".into(),
    };
    let point = GatePoint::BeforePhase(GatePhase::Install);
    let gate = Scripted::new(vec![(point, wait.clone()), (point, wait)]);
    let (end, log) = gated(vec![RebootAnswer::No], &gate, &seen).await;
    assert_eq!(end, End::Success);
    assert_eq!(&gate.asked()[..3], ["BeforeInstall"; 3]);
    let waits = seen
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|p| {
            matches!(
                p,
                Progress::Waiting {
                    reason: Reason::AwaitingConsent,
                    ..
                }
            )
        })
        .count();
    assert_eq!(waits, 1, "the same wait is told once");
    assert_eq!(log[0], "0:Download");
    assert_eq!(log[1], "0:ArtifactInstall");
}

#[test]
fn a_failures_reason_comes_from_the_state_that_failed() {
    let f = |at: &str| Failure {
        member: None,
        at: at.into(),
        reason: String::new(),
        code: None,
    };
    for (at, want) in [
        ("Download", Reason::DownloadFailed),
        ("ArtifactInstall", Reason::InstallFailed),
        ("ArtifactReboot", Reason::RebootFailed),
        ("ArtifactVerifyReboot", Reason::RebootFailed),
        ("reboot", Reason::RebootFailed),
        ("ArtifactCommit", Reason::CommitFailed),
        ("ArtifactRollback", Reason::RollbackFailed),
        ("ArtifactFailure", Reason::RollbackFailed),
        ("NeedsArtifactReboot", Reason::QueryFailed),
        ("rollback", Reason::RollbackRequested),
    ] {
        assert_eq!(f(at).reason(), want, "{at}");
    }
    let mut gate = f("BeforeCommit");
    gate.code = Some(Reason::ConsentDenied);
    assert_eq!(gate.reason(), Reason::ConsentDenied);
}

/// The gate seam alone: `pass` asks, waits, reports and refuses.
/// Answers from a script, then proceeds; remembers what it was asked.
struct Asked {
    answers: std::sync::Mutex<Vec<Verdict>>,
    asked: std::sync::Mutex<Vec<(GatePoint, Duration)>>,
}

impl Gate for Asked {
    fn check<'a>(&'a self, ctx: &'a GateContext) -> BoxFuture<'a, Verdict> {
        self.asked.lock().unwrap().push((ctx.point, ctx.waited));
        let next = self.answers.lock().unwrap().pop();
        Box::pin(async move { next.unwrap_or(Verdict::Proceed) })
    }
}

fn gate_ctx(point: GatePoint) -> GateContext {
    GateContext {
        point,
        deployment: None,
        manifest: "m".into(),
        components: vec![],
        artifacts: vec![],
        waited: Duration::ZERO,
    }
}

#[tokio::test(start_paused = true)]
async fn a_wait_is_reported_and_the_gate_asked_again_until_it_proceeds() {
    let wait = || Verdict::Wait {
        reason: Reason::WaitingForMaintenanceWindow,
        until: None,
        message: "outside the window".into(),
    };
    let gate = Asked {
        answers: std::sync::Mutex::new(vec![wait(), wait()]),
        asked: std::sync::Mutex::new(vec![]),
    };
    let seen = Seen(Default::default());
    let point = GatePoint::BeforePhase(GatePhase::Install);
    pass(&gate, gate_ctx(point), &seen).await.unwrap();
    let asked = gate.asked.lock().unwrap().clone();
    assert_eq!(
        asked,
        vec![
            (point, Duration::ZERO),
            (point, RECHECK),
            (point, RECHECK * 2)
        ]
    );
    let seen = seen.0.lock().unwrap();
    assert_eq!(seen.len(), 1, "the same wait is told once");
    assert!(matches!(
        &seen[0],
        Progress::Waiting { point: p, reason: Reason::WaitingForMaintenanceWindow, .. } if *p == point
    ));
}

#[tokio::test(start_paused = true)]
async fn a_wait_that_changes_is_told_again() {
    let wait = |message: &str| Verdict::Wait {
        reason: Reason::HealthSoak,
        until: None,
        message: message.into(),
    };
    // Answers are popped from the end.
    let gate = Asked {
        answers: std::sync::Mutex::new(vec![
            wait("2 of 3 runs"),
            wait("1 of 3 runs"),
            wait("1 of 3 runs"),
        ]),
        asked: std::sync::Mutex::new(vec![]),
    };
    let seen = Seen(Default::default());
    pass(&gate, gate_ctx(GatePoint::BeforeCommit), &seen)
        .await
        .unwrap();
    let told: Vec<String> = seen
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|p| match p {
            Progress::Waiting { message, .. } => message.clone(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(told, ["1 of 3 runs", "2 of 3 runs"]);
}

#[tokio::test(start_paused = true)]
async fn a_refusal_is_a_problem_with_the_gates_reason() {
    let gate = Asked {
        answers: std::sync::Mutex::new(vec![Verdict::Refuse {
            reason: Reason::ConsentDenied,
            message: "the owner said no".into(),
        }]),
        asked: std::sync::Mutex::new(vec![]),
    };
    let p = pass(&gate, gate_ctx(GatePoint::BeforeCommit), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(p.reason, Reason::ConsentDenied);
    assert_eq!(p.message, "BeforeCommit: the owner said no");
    assert!(pass(&Open, gate_ctx(GatePoint::BeforeCommit), &NoProgress)
        .await
        .is_ok());
}

/// Looks at the journal on disk as each step's calls would start.
struct Peeking {
    inner: Fake,
    dir: std::path::PathBuf,
    seen: RefCell<Vec<DeploymentRecord>>,
}

impl Executor for Peeking {
    async fn run(&self, record: &DeploymentRecord, step: &Step) -> StepResult {
        let (_, loaded) = Journal::peek::<DeploymentRecord>(&self.dir).unwrap();
        let on_disk = loaded.record.expect("a deployment is journaled");
        assert_eq!(
            on_disk, *record,
            "{step:?} runs only once its intent is durable"
        );
        self.seen.borrow_mut().push(on_disk);
        self.inner.run(record, step).await
    }
    async fn reboot(&self) -> CallResult {
        self.inner.reboot().await
    }
    fn boot_id(&self) -> Option<String> {
        self.inner.boot_id()
    }
}

#[tokio::test]
async fn an_outcome_rides_on_the_next_intent_only_where_recovery_runs_that_step_again() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = Journal::open::<DeploymentRecord>(dir.path()).unwrap();
    let no = RebootAnswer::No;
    let exec = Peeking {
        inner: fake(vec![no; 4], vec![]),
        dir: dir.path().to_path_buf(),
        seen: RefCell::new(vec![]),
    };
    let mut rec = record(&[0, 1, 1, 2]);
    j.write(Some(&rec)).unwrap();
    let first = j.generation();
    let end = drive(&mut j, &mut rec, &exec, &stops(&[]), &OPEN, &mut Quiet)
        .await
        .unwrap();
    assert_eq!(end, End::Success);
    let seen = exec.seen.into_inner();
    // Per group Download, ArtifactInstall, NeedsArtifactReboot; then ArtifactCommit and
    // Cleanup per group: 15 steps, and the commit decision.
    assert_eq!(seen.len(), 15);
    // An intent and an outcome per step, and the two boundaries crossed (ArtifactCommit,
    // the commit decision, and Cleanup), would be 32 records. On the next intent ride: the
    // outcome of each ArtifactInstall (a query follows), of the first two ArtifactCommits
    // and Cleanups, and both crossings. Not a query's (the next Download is not repeated),
    // nor the last ArtifactCommit's (the Cleanup boundary follows).
    assert_eq!(j.generation() - first, 32 - 3 - 4 - 2);
    // baton stopped right there, before the step's calls: recovery ends as it would have
    // from the record before it, and a step it does not repeat fails (a rollback).
    for at in seen {
        let step = at.machine.in_flight.clone().unwrap();
        let again = Deployment::runs_again_if_interrupted(&step);
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::open::<DeploymentRecord>(dir.path()).unwrap();
        let mut rec = at;
        recover(&mut j, &mut rec, Some("boot-1".into()), false).unwrap();
        let exec = fake(vec![no; 4], vec![]);
        let end = drive(&mut j, &mut rec, &exec, &stops(&[]), &OPEN, &mut Quiet)
            .await
            .unwrap();
        assert_eq!(end == End::Success, again, "stopped in {step:?}: {end:?}");
    }
}
