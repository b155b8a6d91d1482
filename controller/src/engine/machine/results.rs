//! How results move a deployment on: what starting a step records, how each result
//! changes the facts and the cursor, rollback requests, crash recovery, the outcome.

use super::*;

impl Deployment {
    /// Record that `step` starts now (the journal persists this as intent before any call).
    pub fn start(&mut self, step: &Step) {
        if self.in_flight.as_ref() == Some(step) {
            self.attempts += 1;
        } else {
            self.in_flight = Some(step.clone());
            self.attempts = 1;
        }
        // Facts that hold as soon as a state has been started, even if we crash inside it.
        if let Step::Call { state, members, .. } = step {
            for &m in members {
                let f = &mut self.members[m].facts;
                f.touched = true;
                match state {
                    State::ArtifactInstall => f.install_started = true,
                    State::ArtifactReboot => f.rebooted = true,
                    State::ArtifactRollback => f.rollback_called = true,
                    _ => {}
                }
            }
        }
    }

    /// Record the result of the step in flight and move on.
    pub fn finish(&mut self, step: &Step, result: StepResult) {
        assert_eq!(
            self.in_flight.as_ref(),
            Some(step),
            "finishing a step that was not started"
        );
        self.in_flight = None;
        self.attempts = 0;
        match (step, result) {
            (Step::Call { state, .. }, StepResult::Calls(results)) => {
                self.apply_calls(*state, results)
            }
            (Step::Query { query, .. }, StepResult::Queries(results)) => {
                self.apply_queries(*query, results)
            }
            (Step::HostReboot { group, rollback }, StepResult::HostReboot(r)) => {
                self.apply_host_reboot(*group, *rollback, r)
            }
            (step, result) => panic!("result {result:?} does not fit step {step:?}"),
        }
    }

    fn fail(&mut self, member: Option<MemberId>, at: String, reason: String) {
        if self.failure.is_none() {
            self.failure = Some(Failure {
                member,
                at,
                reason,
                code: None,
            });
        }
    }

    /// Leave the forward or commit ordering for the rollback ordering.
    fn enter_rollback(&mut self) {
        self.cursor = Cursor::Boundary(Boundary::ArtifactRollback);
    }

    fn apply_calls(&mut self, state: State, results: Vec<(MemberId, CallResult)>) {
        let mut failed = false;
        for (m, r) in results {
            let f = &mut self.members[m].facts;
            match (state, r) {
                (State::ArtifactCommit, CallResult::Ok) => f.committed = true,
                (State::ArtifactRollback, CallResult::Ok) => {
                    f.rollback_ok = true;
                }
                (State::ArtifactRollback, CallResult::Failed(why)) => {
                    // Rollback-phase failures do not stop the ordering; the component is lost.
                    f.inconsistent = true;
                    f.notes.push(format!("ArtifactRollback failed: {why}"));
                }
                (State::ArtifactRollbackReboot, CallResult::Ok) => {
                    f.rollback_reboot_pending = true;
                    f.rollback_reboot_attempts += 1;
                }
                (State::ArtifactRollbackReboot, CallResult::Failed(why)) => {
                    // Verification still runs: it decides whether the reboot is retried.
                    f.rollback_reboot_pending = true;
                    f.rollback_reboot_attempts += 1;
                    f.notes
                        .push(format!("ArtifactRollbackReboot failed: {why}"));
                }
                (State::ArtifactVerifyRollbackReboot, CallResult::Ok) => {
                    f.rollback_reboot_pending = false;
                    f.rollback_verified = true;
                }
                (State::ArtifactVerifyRollbackReboot, CallResult::Failed(why)) => {
                    f.rollback_reboot_pending = false;
                    f.notes
                        .push(format!("ArtifactVerifyRollbackReboot failed: {why}"));
                    if f.rollback_reboot_attempts >= MAX_ROLLBACK_REBOOT_ATTEMPTS {
                        f.inconsistent = true;
                    }
                }
                (State::ArtifactFailure | State::Cleanup, CallResult::Failed(why)) => {
                    f.notes.push(format!("{state} failed: {why}"));
                }
                (_, CallResult::Ok) => {}
                (
                    State::Download
                    | State::DownloadWithFileSizes
                    | State::ArtifactInstall
                    | State::ArtifactReboot
                    | State::ArtifactVerifyReboot
                    | State::ArtifactCommit,
                    CallResult::Failed(why),
                ) => {
                    f.notes.push(format!("{state} failed: {why}"));
                    failed = true;
                    self.fail(Some(m), state.to_string(), why);
                }
            }
        }
        if failed {
            self.enter_rollback();
        } else {
            self.cursor = self.after(self.cursor);
        }
    }

    fn apply_queries(&mut self, query: Query, results: Vec<(MemberId, QueryResult)>) {
        let mut failed = false;
        for (m, r) in results {
            let f = &mut self.members[m].facts;
            match (query, r) {
                (Query::NeedsArtifactReboot, QueryResult::NeedsReboot(a)) => f.reboot = Some(a),
                (Query::NeedsArtifactReboot, QueryResult::Failed(why)) => {
                    // Without the answer we cannot finish this component's install.
                    f.notes.push(format!("NeedsArtifactReboot failed: {why}"));
                    failed = true;
                    self.fail(Some(m), query.to_string(), why);
                }
                (Query::SupportsRollback, QueryResult::SupportsRollback(yes)) => {
                    f.supports_rollback = Some(yes)
                }
                (Query::SupportsRollback, QueryResult::Failed(why)) => {
                    // An Interface that cannot say it supports rollback does not.
                    f.supports_rollback = Some(false);
                    f.notes.push(format!("SupportsRollback failed: {why}"));
                }
                (q, r) => panic!("answer {r:?} does not fit query {q}"),
            }
        }
        if failed {
            self.enter_rollback();
        } else {
            self.cursor = self.after(self.cursor);
        }
    }

    fn apply_host_reboot(&mut self, group: usize, rollback: bool, r: CallResult) {
        let ids: Vec<MemberId> = if rollback {
            self.select(group, |f| needs_rollback_reboot(f, RebootAnswer::Automatic))
        } else {
            self.select(group, |f| f.reboot == Some(RebootAnswer::Automatic))
        };
        match (rollback, r) {
            (false, CallResult::Ok) => {
                for m in ids {
                    self.members[m].facts.rebooted = true;
                }
                self.cursor = self.after(self.cursor);
            }
            (false, CallResult::Failed(why)) => {
                self.fail(None, "reboot".into(), why);
                self.enter_rollback();
            }
            (true, r) => {
                for m in ids {
                    let f = &mut self.members[m].facts;
                    f.rollback_reboot_pending = true;
                    f.rollback_reboot_attempts += 1;
                    if let CallResult::Failed(why) = &r {
                        f.notes.push(format!("rollback reboot failed: {why}"));
                    }
                }
                self.cursor = self.after(self.cursor);
            }
        }
    }

    /// Roll back the deployment (`rollback`): allowed anywhere before Cleanup starts, once
    /// recovery has settled any step left in flight. Already rolling back or rolled back:
    /// nothing more to ask for.
    pub fn request_rollback(&mut self) -> Result<(), NotAllowed> {
        let why = if self.commit_decided {
            "rollback requested after commit"
        } else {
            "rollback requested"
        };
        self.roll_back_because("rollback", None, why)
    }

    /// End the deployment for `reason` before the phase at `at` (a gate refused it): the
    /// components touched so far are rolled back. The same rules as [`Self::request_rollback`].
    pub fn refuse(&mut self, at: &str, reason: Reason, message: &str) -> Result<(), NotAllowed> {
        self.roll_back_because(at, Some(reason), message)
    }

    fn roll_back_because(
        &mut self,
        at: &str,
        code: Option<Reason>,
        why: &str,
    ) -> Result<(), NotAllowed> {
        if self.in_flight.is_some() {
            return Err(NotAllowed {
                action: "rollback",
                state: "running a step".into(),
            });
        }
        match self.cursor {
            Cursor::Boundary(Boundary::ArtifactRollback) | Cursor::Rollback { .. } => Ok(()),
            Cursor::Boundary(Boundary::Cleanup) if self.failure.is_some() => Ok(()),
            Cursor::Forward { .. }
            | Cursor::Boundary(Boundary::ArtifactCommit)
            | Cursor::Commit { .. }
            | Cursor::Boundary(Boundary::Cleanup) => {
                self.fail(None, at.into(), why.into());
                if let Some(f) = &mut self.failure {
                    f.code = f.code.or(code);
                }
                self.enter_rollback();
                Ok(())
            }
            other @ (Cursor::Cleanup { .. } | Cursor::Done) => Err(NotAllowed {
                action: "rollback",
                state: describe(other),
            }),
        }
    }

    /// Force a failure of the step in flight (crash recovery when the step cannot be re-run).
    pub fn fail_in_flight(&mut self, reason: &str) {
        let Some(step) = self.in_flight.clone() else {
            return;
        };
        let result = match &step {
            Step::Call { members, .. } => StepResult::Calls(
                members
                    .iter()
                    .map(|&m| (m, CallResult::Failed(reason.to_string())))
                    .collect(),
            ),
            Step::Query { members, .. } => StepResult::Queries(
                members
                    .iter()
                    .map(|&m| (m, QueryResult::Failed(reason.to_string())))
                    .collect(),
            ),
            Step::HostReboot { .. } => {
                StepResult::HostReboot(CallResult::Failed(reason.to_string()))
            }
            Step::Boundary(_) | Step::Done(_) => {
                self.in_flight = None;
                return;
            }
        };
        self.finish(&step, result);
    }

    /// Decide what to do with a step found in flight when a deployment is picked up again,
    /// by the recovery table (ARCHITECTURE.md, "Crash recovery"):
    /// - Download, ArtifactInstall, ArtifactReboot, ArtifactVerifyReboot: a crash or a
    ///   spontaneous reboot there is a failure of that state: roll back.
    /// - the host reboot: done if the boot id changed (or the caller says so), else failed.
    /// - ArtifactCommit (after the commit decision: roll forward), the rollback ordering,
    ///   Cleanup and queries: repeated, at most [`MAX_STEP_ATTEMPTS`] times, then failed.
    pub fn recover(&mut self, why: Interruption) -> Recovery {
        let Some(step) = self.in_flight.clone() else {
            return Recovery::Clean;
        };
        self.recoveries += 1;
        let interrupted = "interrupted: baton stopped or the system rebooted during this state";
        match &step {
            Step::Call { state, .. } => {
                let repeatable = repeatable(*state);
                if repeatable && self.attempts < MAX_STEP_ATTEMPTS {
                    Recovery::Rerun(step)
                } else {
                    let reason = if repeatable {
                        format!("{interrupted} ({} attempts)", self.attempts)
                    } else {
                        interrupted.to_string()
                    };
                    self.fail_in_flight(&reason);
                    Recovery::Failed(step)
                }
            }
            Step::Query { .. } if self.attempts < MAX_STEP_ATTEMPTS => Recovery::Rerun(step),
            Step::Query { .. } => {
                self.fail_in_flight(interrupted);
                Recovery::Failed(step)
            }
            Step::HostReboot { .. } if why.boot_changed || why.explicit_resume => {
                self.finish(&step, StepResult::HostReboot(CallResult::Ok));
                Recovery::Completed(step)
            }
            Step::HostReboot { .. } => {
                self.fail_in_flight("the host did not reboot (boot id unchanged)");
                Recovery::Failed(step)
            }
            Step::Boundary(_) | Step::Done(_) => {
                self.in_flight = None;
                Recovery::Clean
            }
        }
    }

    /// Whether recovery runs `step` again (or asks again) when baton stops with it in
    /// flight, its attempts not spent: a query, or a state the recovery table repeats
    /// (ArtifactCommit after the commit decision, the rollback states, ArtifactFailure,
    /// Cleanup). For such a step, "started, no call made yet" and "not started" recover
    /// alike, so the driver may journal the step before it together with its start.
    pub fn runs_again_if_interrupted(step: &Step) -> bool {
        match step {
            Step::Call { state, .. } => repeatable(*state),
            Step::Query { .. } => true,
            Step::HostReboot { .. } | Step::Boundary(_) | Step::Done(_) => false,
        }
    }

    /// How the deployment ended (or would end now).
    pub fn outcome(&self) -> Outcome {
        let Some(failure) = self.failure.clone() else {
            return Outcome::Success;
        };
        let lost: Vec<MemberId> = self
            .members
            .iter()
            .enumerate()
            .filter(|(_, m)| is_lost(&m.facts))
            .map(|(i, _)| i)
            .collect();
        if lost.is_empty() {
            Outcome::RolledBack { failure }
        } else {
            Outcome::Inconsistent {
                failure,
                components: lost,
            }
        }
    }
}

/// A state that recovery runs again when found in flight (see [`Deployment::recover`]).
fn repeatable(state: State) -> bool {
    !matches!(
        state,
        State::Download
            | State::ArtifactInstall
            | State::ArtifactReboot
            | State::ArtifactVerifyReboot
    )
}
