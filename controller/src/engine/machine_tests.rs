//! Properties of the deployment state machine against an oracle written from the
//! documented ordering, with simulated components.
//!
//! The oracle ([`expected_steps`]) is straight-line code transcribed from the Interface
//! protocol documentation ("Normal ordering", "Rollback ordering", the ArtifactRollback,
//! ArtifactRollbackReboot and ArtifactVerifyRollbackReboot rules); the machine is a cursor
//! over a table. They share nothing but the types of the trace.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::api::oracle::*;
use super::machine::*;
use super::states::{RebootAnswer, State};

fn trace_entry(step: &Step) -> (usize, Ev, Vec<MemberId>) {
    match step {
        Step::Call {
            group,
            state,
            members,
        } => (*group, Ev::Call(*state), members.clone()),
        Step::Query {
            group,
            query,
            members,
        } => (*group, Ev::Ask(kind_of(*query)), members.clone()),
        Step::HostReboot { group, rollback } => (
            *group,
            Ev::HostReboot {
                rollback: *rollback,
            },
            vec![],
        ),
        _ => unreachable!(),
    }
}

fn new_deployment(sims: &[Sim], groups: usize) -> Deployment {
    let member_groups: Vec<usize> = sims.iter().map(|s| s.group).collect();
    Deployment::new(groups, &member_groups)
}

/// Drive the machine to the end, crossing every boundary.
fn drive(sims: &[Sim], groups: usize) -> (Trace, Outcome, World) {
    let mut d = new_deployment(sims, groups);
    let mut world = World::new(sims);
    let mut trace = Vec::new();
    loop {
        match d.next_step() {
            Step::Done(outcome) => return (trace, outcome, world),
            Step::Boundary(b) => d.cross(b),
            step => {
                d.start(&step);
                trace.push(trace_entry(&step));
                let result = world.run(&step);
                d.finish(&step, result);
            }
        }
    }
}

fn sim_strategy(groups: usize) -> impl Strategy<Value = Sim> {
    let ev = prop_oneof![
        Just(Ev::Call(State::Download)),
        Just(Ev::Call(State::ArtifactInstall)),
        Just(Ev::Call(State::ArtifactReboot)),
        Just(Ev::Call(State::ArtifactVerifyReboot)),
        Just(Ev::Call(State::ArtifactCommit)),
        Just(Ev::Call(State::ArtifactRollback)),
        Just(Ev::Call(State::ArtifactRollbackReboot)),
        Just(Ev::Call(State::ArtifactVerifyRollbackReboot)),
        Just(Ev::Call(State::ArtifactFailure)),
        Just(Ev::Call(State::Cleanup)),
        Just(Ev::Ask(QueryKind::NeedsArtifactReboot)),
        Just(Ev::Ask(QueryKind::SupportsRollback)),
    ];
    let reboot = prop_oneof![
        Just(RebootAnswer::No),
        Just(RebootAnswer::Yes),
        Just(RebootAnswer::Automatic)
    ];
    (
        0..groups,
        any::<bool>(),
        reboot,
        // Most components never fail; a few fail once or repeatedly somewhere.
        prop::collection::btree_map(ev, 1u32..5, 0..2).prop_map(|m| m),
        0u32..8,
    )
        .prop_map(|(group, supports_rollback, reboot, fails, dice)| Sim {
            group,
            supports_rollback,
            reboot,
            fails: if dice == 0 { fails } else { BTreeMap::new() },
        })
}

fn system_strategy() -> impl Strategy<Value = (usize, Vec<Sim>)> {
    (1usize..=5).prop_flat_map(|groups| {
        (
            Just(groups),
            prop::collection::vec(sim_strategy(groups), 1..=50),
        )
            .prop_map(|(groups, mut sims)| {
                // Every order group has at least one component: renumber densely.
                let mut used: Vec<usize> = sims.iter().map(|s| s.group).collect();
                used.sort();
                used.dedup();
                for s in &mut sims {
                    s.group = used.iter().position(|&g| g == s.group).unwrap();
                }
                let _ = groups;
                (used.len(), sims)
            })
    })
}

/// The final software of every component agrees with the reported outcome: all new after a
/// success; otherwise all old, except the components the outcome names as inconsistent.
fn check_end_state(outcome: &Outcome, world: &World) -> Result<(), String> {
    let running: Vec<Version> = world.comps.iter().map(|c| c.running).collect();
    match outcome {
        Outcome::Success => {
            if running.iter().any(|v| *v != Version::New) {
                return Err(format!("success but not all new: {running:?}"));
            }
        }
        Outcome::RolledBack { .. } => {
            if running.iter().any(|v| *v != Version::Old) {
                return Err(format!("rolled back but not all old: {running:?}"));
            }
        }
        Outcome::Inconsistent { components, .. } => {
            for (m, v) in running.iter().enumerate() {
                if *v == Version::New && !components.contains(&m) {
                    return Err(format!(
                        "component {m} is new but not reported inconsistent"
                    ));
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn calls_follow_the_documented_ordering((groups, sims) in system_strategy()) {
        let (trace, outcome, world) = drive(&sims, groups);
        let expected = expected_steps(&sims, groups);
        prop_assert_eq!(&trace, &expected);
        check_end_state(&outcome, &world).map_err(TestCaseError::fail)?;
    }

    /// A crash (SIGKILL, power cut) at any step: the driver dies after persisting the intent,
    /// with the step's effects applied or not; a new process recovers from the journal.
    #[test]
    fn a_crash_at_any_step_ends_all_new_or_all_old(
        (groups, sims) in system_strategy(),
        crash_at in 0usize..200,
        effects_applied in any::<bool>(),
        boot_changed in any::<bool>(),
        crashes in 1usize..4,
    ) {
        let mut d = new_deployment(&sims, groups);
        let mut world = World::new(&sims);
        let mut n = 0;
        let mut crashes_left = crashes;
        let outcome = loop {
            match d.next_step() {
                Step::Done(o) => break o,
                Step::Boundary(b) => d.cross(b),
                step => {
                    d.start(&step);
                    n += 1;
                    if crashes_left > 0 && n >= crash_at {
                        crashes_left -= 1;
                        if effects_applied {
                            let _ = world.run(&step);
                        }
                        // The process dies here: only the persisted value survives.
                        let persisted = serde_json::to_string(&d).unwrap();
                        d = serde_json::from_str(&persisted).unwrap();
                        match d.recover(Interruption { boot_changed, explicit_resume: false }) {
                            Recovery::Rerun(step) => {
                                d.start(&step);
                                let r = world.run(&step);
                                d.finish(&step, r);
                            }
                            Recovery::Clean | Recovery::Completed(_) | Recovery::Failed(_) => {}
                        }
                        continue;
                    }
                    let r = world.run(&step);
                    d.finish(&step, r);
                }
            }
        };
        check_end_state(&outcome, &world).map_err(TestCaseError::fail)?;
        prop_assert!(d.in_flight.is_none());
    }
}

fn sim(group: usize, rollback: bool, reboot: RebootAnswer) -> Sim {
    Sim {
        group,
        supports_rollback: rollback,
        reboot,
        fails: BTreeMap::new(),
    }
}

#[test]
fn a_download_failure_runs_only_cleanup() {
    let mut s = sim(0, true, RebootAnswer::No);
    s.fails.insert(Ev::Call(State::Download), 1);
    let (trace, outcome, _) = drive(&[s], 1);
    let states: Vec<Ev> = trace.into_iter().map(|(_, e, _)| e).collect();
    assert_eq!(
        states,
        vec![Ev::Call(State::Download), Ev::Call(State::Cleanup)]
    );
    assert!(matches!(outcome, Outcome::RolledBack { .. }));
}

#[test]
fn automatic_reboots_are_one_host_reboot_per_group() {
    let sims = [
        sim(0, true, RebootAnswer::Automatic),
        sim(0, true, RebootAnswer::Automatic),
        sim(0, true, RebootAnswer::Yes),
        sim(1, true, RebootAnswer::Automatic),
    ];
    let (trace, outcome, _) = drive(&sims, 2);
    let reboots: Vec<_> = trace
        .iter()
        .filter(|(_, e, _)| matches!(e, Ev::HostReboot { .. }))
        .map(|(g, _, _)| *g)
        .collect();
    assert_eq!(reboots, vec![0, 1]);
    // The host reboot follows the group's ArtifactReboot calls.
    let pos = |ev: &Ev, g: usize| {
        trace
            .iter()
            .position(|(tg, e, _)| e == ev && *tg == g)
            .unwrap()
    };
    assert!(pos(&Ev::Call(State::ArtifactReboot), 0) < pos(&Ev::HostReboot { rollback: false }, 0));
    assert_eq!(outcome, Outcome::Success);
}

#[test]
fn a_commit_failure_rolls_back_groups_already_committed() {
    let mut late = sim(1, true, RebootAnswer::No);
    late.fails.insert(Ev::Call(State::ArtifactCommit), 1);
    let sims = [sim(0, true, RebootAnswer::No), late];
    let (trace, outcome, world) = drive(&sims, 2);
    let rollbacks: Vec<_> = trace
        .iter()
        .filter(|(_, e, _)| *e == Ev::Call(State::ArtifactRollback))
        .map(|(g, _, _)| *g)
        .collect();
    assert_eq!(rollbacks, vec![1, 0], "highest group first");
    assert!(matches!(outcome, Outcome::RolledBack { .. }));
    assert!(world.comps.iter().all(|c| c.running == Version::Old));
}

#[test]
fn a_component_without_rollback_is_reported_inconsistent() {
    let mut bad = sim(1, true, RebootAnswer::No);
    bad.fails.insert(Ev::Call(State::ArtifactInstall), 1);
    let sims = [sim(0, false, RebootAnswer::No), bad];
    let (_, outcome, _) = drive(&sims, 2);
    match outcome {
        Outcome::Inconsistent {
            components,
            failure,
        } => {
            assert_eq!(components, vec![0]);
            assert_eq!(failure.at, "ArtifactInstall");
            assert_eq!(failure.member, Some(1));
        }
        other => panic!("expected inconsistent, got {other:?}"),
    }
}

#[test]
fn verify_rollback_reboot_is_retried_then_gives_up() {
    let mut s = sim(0, true, RebootAnswer::Yes);
    s.fails.insert(Ev::Call(State::ArtifactVerifyReboot), 1);
    s.fails
        .insert(Ev::Call(State::ArtifactVerifyRollbackReboot), 99);
    let (trace, outcome, _) = drive(&[s], 1);
    let verifies = trace
        .iter()
        .filter(|(_, e, _)| *e == Ev::Call(State::ArtifactVerifyRollbackReboot))
        .count();
    assert_eq!(verifies as u32, MAX_ROLLBACK_REBOOT_ATTEMPTS);
    assert!(matches!(outcome, Outcome::Inconsistent { .. }));
}

#[test]
fn stop_before_commit_then_rollback_restores_everything() {
    let sims = [
        sim(0, true, RebootAnswer::No),
        sim(1, true, RebootAnswer::No),
    ];
    let mut d = new_deployment(&sims, 2);
    let mut world = World::new(&sims);
    let paused_at = loop {
        match d.next_step() {
            Step::Boundary(b) => break b,
            Step::Done(o) => panic!("finished without pausing: {o:?}"),
            step => {
                d.start(&step);
                let r = world.run(&step);
                d.finish(&step, r);
            }
        }
    };
    assert_eq!(paused_at, Boundary::ArtifactCommit);
    assert!(!d.commit_decided);
    d.request_rollback().unwrap();
    let outcome = loop {
        match d.next_step() {
            Step::Boundary(b) => d.cross(b),
            Step::Done(o) => break o,
            step => {
                d.start(&step);
                let r = world.run(&step);
                d.finish(&step, r);
            }
        }
    };
    assert!(matches!(outcome, Outcome::RolledBack { .. }));
    assert!(world.comps.iter().all(|c| c.running == Version::Old));
}

#[test]
fn rollback_is_refused_while_a_step_runs_and_once_cleanup_started() {
    let sims = [sim(0, true, RebootAnswer::No)];
    let mut d = new_deployment(&sims, 1);
    let mut world = World::new(&sims);
    let step = d.next_step();
    d.start(&step);
    assert!(d.request_rollback().is_err(), "a step is in flight");
    let r = world.run(&step);
    d.finish(&step, r);
    loop {
        match d.next_step() {
            Step::Boundary(b) => d.cross(b),
            step @ Step::Call {
                state: State::Cleanup,
                ..
            } => {
                d.start(&step);
                let r = world.run(&step);
                d.finish(&step, r);
                break;
            }
            step => {
                d.start(&step);
                let r = world.run(&step);
                d.finish(&step, r);
            }
        }
    }
    assert!(d.request_rollback().is_err(), "Cleanup has started");
}

#[test]
fn a_crash_in_install_rolls_back_and_after_the_commit_decision_rolls_forward() {
    let sims = [
        sim(0, true, RebootAnswer::No),
        sim(1, true, RebootAnswer::No),
    ];
    let why = Interruption {
        boot_changed: false,
        explicit_resume: false,
    };

    // Crash inside ArtifactInstall of group 0.
    let mut d = new_deployment(&sims, 2);
    let download = d.next_step();
    d.start(&download);
    d.finish(&download, StepResult::Calls(vec![(0, CallResult::Ok)]));
    let install = d.next_step();
    d.start(&install);
    assert_eq!(d.recover(why), Recovery::Failed(install));
    assert_eq!(d.next_step(), Step::Boundary(Boundary::ArtifactRollback));

    // Crash inside ArtifactCommit of group 1, after the commit decision.
    let mut d = new_deployment(&sims, 2);
    let mut world = World::new(&sims);
    let commit = loop {
        match d.next_step() {
            Step::Boundary(b) => d.cross(b),
            step @ Step::Call {
                state: State::ArtifactCommit,
                group: 1,
                ..
            } => break step,
            step => {
                d.start(&step);
                let r = world.run(&step);
                d.finish(&step, r);
            }
        }
    };
    d.start(&commit);
    assert!(d.commit_decided);
    assert_eq!(d.recover(why), Recovery::Rerun(commit));
}

#[test]
fn the_host_reboot_counts_only_if_the_boot_id_changed_or_the_caller_vouches() {
    let sims = [sim(0, true, RebootAnswer::Automatic)];
    let reach_reboot = || {
        let mut d = new_deployment(&sims, 1);
        let mut world = World::new(&sims);
        loop {
            match d.next_step() {
                step @ Step::HostReboot { .. } => {
                    d.start(&step);
                    return (d, step);
                }
                step => {
                    d.start(&step);
                    let r = world.run(&step);
                    d.finish(&step, r);
                }
            }
        }
    };
    let (mut d, step) = reach_reboot();
    let r = d.recover(Interruption {
        boot_changed: true,
        explicit_resume: false,
    });
    assert_eq!(r, Recovery::Completed(step));
    assert!(matches!(
        d.next_step(),
        Step::Call {
            state: State::ArtifactVerifyReboot,
            ..
        }
    ));

    let (mut d, step) = reach_reboot();
    let r = d.recover(Interruption {
        boot_changed: false,
        explicit_resume: true,
    });
    assert_eq!(r, Recovery::Completed(step));

    let (mut d, step) = reach_reboot();
    let r = d.recover(Interruption {
        boot_changed: false,
        explicit_resume: false,
    });
    assert_eq!(r, Recovery::Failed(step));
    assert_eq!(d.next_step(), Step::Boundary(Boundary::ArtifactRollback));
}
