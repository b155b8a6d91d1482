//! An oracle for the deployment ordering, written from the documentation, and simulated
//! components to drive it: shared by the state machine's property tests and the end-to-end
//! tests that check real Interface call logs.
//!
//! [`expected_steps`] is straight-line code transcribed from the Interface protocol
//! documentation ("Normal ordering", "Rollback ordering", the ArtifactRollback,
//! ArtifactRollbackReboot and ArtifactVerifyRollbackReboot rules); the state machine is a
//! cursor over a table. They share nothing but the types of the trace.

use std::collections::BTreeMap;

use crate::engine::machine::*;
use crate::engine::states::{Query, RebootAnswer, State};

/// What a simulated component answers and where it fails.
#[derive(Debug, Clone)]
pub struct Sim {
    pub group: usize,
    pub supports_rollback: bool,
    pub reboot: RebootAnswer,
    /// How many times each state or query fails before it succeeds.
    pub fails: BTreeMap<Ev, u32>,
}

/// One entry of a trace: a state or query for a set of components, or a host reboot.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ev {
    Call(State),
    Ask(QueryKind),
    HostReboot { rollback: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QueryKind {
    SupportsRollback,
    NeedsArtifactReboot,
}

pub type Trace = Vec<(usize, Ev, Vec<MemberId>)>;

/// The software a simulated component runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Old,
    New,
}

#[derive(Debug, Clone)]
pub struct Component {
    pub running: Version,
    pub pending: bool,
}

pub struct World {
    pub sims: Vec<Sim>,
    pub comps: Vec<Component>,
    remaining: Vec<BTreeMap<Ev, u32>>,
}

impl World {
    pub fn new(sims: &[Sim]) -> Self {
        Self {
            sims: sims.to_vec(),
            comps: sims
                .iter()
                .map(|_| Component {
                    running: Version::Old,
                    pending: false,
                })
                .collect(),
            remaining: sims.iter().map(|s| s.fails.clone()).collect(),
        }
    }

    pub fn fails(&mut self, m: MemberId, ev: &Ev) -> bool {
        match self.remaining[m].get_mut(ev) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }

    /// The effect of a state on the simulated component. Components without rollback support
    /// change the running software at install (there is nothing to undo it with); the others
    /// stage it and switch at commit.
    pub fn effect(&mut self, m: MemberId, state: State) {
        let rollbackable = self.sims[m].supports_rollback;
        let c = &mut self.comps[m];
        match state {
            State::ArtifactInstall if rollbackable => c.pending = true,
            State::ArtifactInstall => c.running = Version::New,
            State::ArtifactCommit if c.pending => {
                c.running = Version::New;
                c.pending = false;
            }
            State::ArtifactRollback => {
                c.running = Version::Old;
                c.pending = false;
            }
            _ => {}
        }
    }

    /// Run one step against the simulated components; `apply_effects` is false when the
    /// step is interrupted before it did anything.
    pub fn run(&mut self, step: &Step) -> StepResult {
        match step {
            Step::Call { state, members, .. } => StepResult::Calls(
                members
                    .iter()
                    .map(|&m| {
                        if self.fails(m, &Ev::Call(*state)) {
                            (m, CallResult::Failed(format!("{state} failed")))
                        } else {
                            self.effect(m, *state);
                            (m, CallResult::Ok)
                        }
                    })
                    .collect(),
            ),
            Step::Query { query, members, .. } => {
                let kind = kind_of(*query);
                StepResult::Queries(
                    members
                        .iter()
                        .map(|&m| {
                            if self.fails(m, &Ev::Ask(kind)) {
                                return (m, QueryResult::Failed("query failed".into()));
                            }
                            let answer = match query {
                                Query::SupportsRollback => {
                                    QueryResult::SupportsRollback(self.sims[m].supports_rollback)
                                }
                                Query::NeedsArtifactReboot => {
                                    QueryResult::NeedsReboot(self.sims[m].reboot)
                                }
                                other => unreachable!("the machine never asks {other}"),
                            };
                            (m, answer)
                        })
                        .collect(),
                )
            }
            Step::HostReboot { .. } => StepResult::HostReboot(CallResult::Ok),
            Step::Boundary(_) | Step::Done(_) => unreachable!(),
        }
    }
}

pub fn kind_of(q: Query) -> QueryKind {
    match q {
        Query::SupportsRollback => QueryKind::SupportsRollback,
        Query::NeedsArtifactReboot => QueryKind::NeedsArtifactReboot,
        other => unreachable!("the machine never asks {other}"),
    }
}

/// The documented ordering, transcribed step by step.
pub fn expected_steps(sims: &[Sim], groups: usize) -> Trace {
    let mut world = World::new(sims);
    let mut t: Trace = Vec::new();
    let members =
        |g: usize| -> Vec<MemberId> { (0..sims.len()).filter(|&m| sims[m].group == g).collect() };
    let call = |world: &mut World, t: &mut Trace, g: usize, state: State, ms: Vec<MemberId>| {
        // Returns the members that failed.
        if ms.is_empty() {
            return vec![];
        }
        t.push((g, Ev::Call(state), ms.clone()));
        let mut failed = vec![];
        for m in ms {
            if world.fails(m, &Ev::Call(state)) {
                failed.push(m);
            } else {
                world.effect(m, state);
            }
        }
        failed
    };
    let mut install_started = vec![false; sims.len()];
    let mut reboot: Vec<Option<RebootAnswer>> = vec![None; sims.len()];
    let mut host_rebooted = vec![false; sims.len()];
    let mut highest = 0;
    let mut failed = false;

    // Normal ordering, steps 1 to 3: each group runs Download, ArtifactInstall,
    // ArtifactReboot (if applicable), ArtifactVerifyReboot (if applicable).
    'forward: for g in 0..groups {
        highest = g;
        if !call(&mut world, &mut t, g, State::Download, members(g)).is_empty() {
            failed = true;
            break 'forward;
        }
        for &m in &members(g) {
            install_started[m] = true;
        }
        if !call(&mut world, &mut t, g, State::ArtifactInstall, members(g)).is_empty() {
            failed = true;
            break 'forward;
        }
        // NeedsArtifactReboot is asked after ArtifactInstall.
        t.push((g, Ev::Ask(QueryKind::NeedsArtifactReboot), members(g)));
        for &m in &members(g) {
            if world.fails(m, &Ev::Ask(QueryKind::NeedsArtifactReboot)) {
                failed = true;
            } else {
                reboot[m] = Some(sims[m].reboot);
            }
        }
        if failed {
            break 'forward;
        }
        let yes: Vec<_> = members(g)
            .into_iter()
            .filter(|&m| reboot[m] == Some(RebootAnswer::Yes))
            .collect();
        if !call(&mut world, &mut t, g, State::ArtifactReboot, yes).is_empty() {
            failed = true;
            break 'forward;
        }
        // One host reboot for the group, after the ArtifactReboot of the `Yes` components.
        let auto: Vec<_> = members(g)
            .into_iter()
            .filter(|&m| reboot[m] == Some(RebootAnswer::Automatic))
            .collect();
        if !auto.is_empty() {
            t.push((g, Ev::HostReboot { rollback: false }, vec![]));
            for &m in &auto {
                host_rebooted[m] = true;
            }
        }
        let verify: Vec<_> = members(g)
            .into_iter()
            .filter(|&m| reboot[m].is_some_and(|r| r != RebootAnswer::No))
            .collect();
        if !call(&mut world, &mut t, g, State::ArtifactVerifyReboot, verify).is_empty() {
            failed = true;
            break 'forward;
        }
    }
    // Step 4: ArtifactCommit over all groups, lowest first.
    if !failed {
        for g in 0..groups {
            if !call(&mut world, &mut t, g, State::ArtifactCommit, members(g)).is_empty() {
                failed = true;
                break;
            }
        }
    }
    // Step 5: Cleanup over all groups.
    if !failed {
        for g in 0..groups {
            call(&mut world, &mut t, g, State::Cleanup, members(g));
        }
        return t;
    }
    // Rollback ordering: from the highest group that ran any state, down.
    for g in (0..=highest).rev() {
        let installed: Vec<_> = members(g)
            .into_iter()
            .filter(|&m| install_started[m])
            .collect();
        if !installed.is_empty() {
            t.push((g, Ev::Ask(QueryKind::SupportsRollback), installed.clone()));
        }
        let mut supports = vec![false; sims.len()];
        for &m in &installed {
            supports[m] =
                !world.fails(m, &Ev::Ask(QueryKind::SupportsRollback)) && sims[m].supports_rollback;
        }
        let rolled: Vec<_> = installed.iter().copied().filter(|&m| supports[m]).collect();
        let rollback_failed = call(
            &mut world,
            &mut t,
            g,
            State::ArtifactRollback,
            rolled.clone(),
        );
        // ArtifactRollbackReboot for `Yes`; a host reboot for `Automatic` when the host was
        // rebooted for the update; both verified, and retried a bounded number of times.
        let mut attempts = vec![0u32; sims.len()];
        let mut verified = vec![false; sims.len()];
        let mut lost = rollback_failed.clone();
        loop {
            let owed = |kind: RebootAnswer, m: MemberId| {
                reboot[m] == Some(kind)
                    && (kind == RebootAnswer::Yes || host_rebooted[m])
                    && !verified[m]
                    && !lost.contains(&m)
                    && attempts[m] < MAX_ROLLBACK_REBOOT_ATTEMPTS
            };
            let yes: Vec<_> = rolled
                .iter()
                .copied()
                .filter(|&m| owed(RebootAnswer::Yes, m))
                .collect();
            let auto: Vec<_> = rolled
                .iter()
                .copied()
                .filter(|&m| owed(RebootAnswer::Automatic, m))
                .collect();
            if yes.is_empty() && auto.is_empty() {
                break;
            }
            call(
                &mut world,
                &mut t,
                g,
                State::ArtifactRollbackReboot,
                yes.clone(),
            );
            if !auto.is_empty() {
                t.push((g, Ev::HostReboot { rollback: true }, vec![]));
            }
            let mut to_verify: Vec<_> = yes.iter().chain(auto.iter()).copied().collect();
            to_verify.sort();
            for &m in &to_verify {
                attempts[m] += 1;
            }
            let bad = call(
                &mut world,
                &mut t,
                g,
                State::ArtifactVerifyRollbackReboot,
                to_verify.clone(),
            );
            for m in to_verify {
                if bad.contains(&m) {
                    if attempts[m] >= MAX_ROLLBACK_REBOOT_ATTEMPTS {
                        lost.push(m);
                    }
                } else {
                    verified[m] = true;
                }
            }
        }
        call(&mut world, &mut t, g, State::ArtifactFailure, installed);
    }
    let touched = |m: MemberId| sims[m].group <= highest;
    for g in 0..groups {
        let ms: Vec<_> = members(g).into_iter().filter(|&m| touched(m)).collect();
        call(&mut world, &mut t, g, State::Cleanup, ms);
    }
    t
}
