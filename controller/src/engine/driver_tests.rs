//! The driver against an in-memory executor: pauses, reboots, journal contents.

use std::cell::RefCell;

use super::driver::*;
use super::journal::Journal;
use super::machine::*;
use super::plan::Plan;
use super::states::{Query, RebootAnswer, State};
use super::store::StoredMeta;

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
    let end = drive(&mut j, &mut rec, &exec, &stops(&all), &mut Quiet)
        .await
        .unwrap();
    assert_eq!(end, RunEnd::Paused(Boundary::ArtifactCommit));
    let (_, loaded) = Journal::open::<DeploymentRecord>(dir.path()).unwrap();
    assert_eq!(loaded.record.as_ref(), Some(&rec), "the pause is journaled");
    assert!(!exec.log.borrow().iter().any(|l| l.contains("Commit")));

    // resume --stop-before ArtifactRollback --stop-before Cleanup
    let end = drive(&mut j, &mut rec, &exec, &stops(&all[1..]), &mut Quiet)
        .await
        .unwrap();
    assert_eq!(end, RunEnd::Paused(Boundary::Cleanup));
    assert!(rec.machine.commit_decided);

    // resume
    let end = drive(&mut j, &mut rec, &exec, &stops(&[]), &mut Quiet)
        .await
        .unwrap();
    assert_eq!(end, RunEnd::Finished(Outcome::Success));
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
        &mut Quiet,
    )
    .await
    .unwrap();
    assert_eq!(end, RunEnd::Paused(Boundary::ArtifactRollback));
    rec.machine.request_rollback().unwrap();
    let end = drive(
        &mut j,
        &mut rec,
        &exec,
        &stops(&[Boundary::Cleanup]),
        &mut Quiet,
    )
    .await
    .unwrap();
    assert_eq!(end, RunEnd::Paused(Boundary::Cleanup));
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
    let end = drive(&mut j, &mut rec, &exec, &opts, &mut Quiet)
        .await
        .unwrap();
    assert_eq!(end, RunEnd::AwaitingReboot);
    assert!(
        !exec.log.borrow().contains(&"reboot".to_string()),
        "the caller reboots"
    );

    // A new process: load, recover (explicit resume), drive on.
    let (mut j, loaded) = Journal::open::<DeploymentRecord>(dir.path()).unwrap();
    let mut rec = loaded.record.unwrap();
    let r = recover(&mut j, &mut rec, exec.boot_id(), true).unwrap();
    assert!(matches!(r, Recovery::Completed(_)));
    let end = drive(&mut j, &mut rec, &exec, &RunOptions::default(), &mut Quiet)
        .await
        .unwrap();
    assert_eq!(end, RunEnd::Finished(Outcome::Success));
    assert!(exec
        .log
        .borrow()
        .contains(&"0:ArtifactVerifyReboot".to_string()));
}

/// A host reboot left in flight with the boot id unchanged, picked up again: `delegated` says
/// whether the journal shows the reboot was left to the caller, `explicit` whether the
/// caller resumes. Returns the recovery, how the deployment ended, and the calls made.
async fn unrebooted(delegated: bool, explicit: bool) -> (Recovery, RunEnd, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = Journal::open::<DeploymentRecord>(dir.path()).unwrap();
    let exec = fake(vec![RebootAnswer::Automatic], vec![]);
    let mut rec = record(&[0]);
    let opts = RunOptions {
        exit_on_reboot: true,
        ..Default::default()
    };
    drive(&mut j, &mut rec, &exec, &opts, &mut Quiet)
        .await
        .unwrap();
    // Without delegation, the very record baton's own reboot leaves when baton dies before
    // its reboot command runs.
    rec.reboot_delegated = delegated;
    let r = recover(&mut j, &mut rec, exec.boot_id(), explicit).unwrap();
    let end = drive(&mut j, &mut rec, &exec, &RunOptions::default(), &mut Quiet)
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
    assert!(
        matches!(end, RunEnd::Finished(Outcome::RolledBack { .. })),
        "{end:?}"
    );
}

#[tokio::test]
async fn a_resume_does_not_vouch_for_a_reboot_baton_itself_never_made() {
    let (r, end, log) = unrebooted(false, true).await;
    assert!(matches!(r, Recovery::Failed(_)), "{r:?}");
    assert!(
        matches!(end, RunEnd::Finished(Outcome::RolledBack { .. })),
        "{end:?}"
    );
    assert!(!log.contains(&"0:ArtifactVerifyReboot".to_string()));
    // The caller's own resume after --exit-on-reboot still counts.
    let (r, end, _) = unrebooted(true, true).await;
    assert!(matches!(r, Recovery::Completed(_)), "{r:?}");
    assert_eq!(end, RunEnd::Finished(Outcome::Success));
}

#[tokio::test]
async fn the_daemon_reboots_through_the_executor() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = Journal::open::<DeploymentRecord>(dir.path()).unwrap();
    let exec = fake(vec![RebootAnswer::Automatic, RebootAnswer::No], vec![]);
    let mut rec = record(&[0, 0]);
    let end = drive(&mut j, &mut rec, &exec, &RunOptions::default(), &mut Quiet)
        .await
        .unwrap();
    assert_eq!(end, RunEnd::Finished(Outcome::Success));
    let log = exec.log.borrow();
    let reboot = log.iter().position(|l| l == "reboot").unwrap();
    let verify = log
        .iter()
        .position(|l| l == "0:ArtifactVerifyReboot")
        .unwrap();
    assert!(reboot < verify);
    assert!(!log.contains(&"1:ArtifactVerifyReboot".to_string()));
}
