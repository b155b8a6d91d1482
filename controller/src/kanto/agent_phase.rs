//! What a Kanto update agent's feedback means for the step baton waits on: pure, one table.
//!
//! Each wait is for one activityId (feedback for another is not for it) and one step:
//! identification (after `desiredstate`) or a command. The agent's status either shows
//! progress, ends the step (success, or "nothing to do" for identification), fails it, or
//! is not about this step (ignored: a late report of an earlier one, or a status Kanto's
//! Update Manager ignores too, such as an agent's own RUNNING without actions).

use super::wire::{Action, Command, DesiredStateFeedback, Status};

/// The step baton waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Awaited {
    /// `desiredstate` was sent: the agent identifies the actions.
    Identification,
    /// A command was sent.
    Command(Command),
}

impl Awaited {
    pub fn label(self) -> &'static str {
        match self {
            Awaited::Identification => "identification",
            Awaited::Command(c) => c.as_str(),
        }
    }
}

/// What one feedback message means for the awaited step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Still working; its latest actions.
    Progress(Vec<Action>),
    /// The step succeeded.
    Done(Vec<Action>),
    /// Identification found nothing to do: the agent already runs this desired state.
    NothingToDo,
    /// The step failed: the agent's status and words.
    Failed { status: Status, message: String },
}

/// The verdict on `fb` while waiting for `awaited`, or `None` when it is not about it.
pub fn judge(awaited: Awaited, fb: &DesiredStateFeedback) -> Option<Verdict> {
    use Status::*;
    let status = fb.status?;
    let actions = || fb.actions.clone();
    let failed = || Verdict::Failed {
        status,
        message: failure_message(fb),
    };
    let (working, success, failure) = match awaited {
        Awaited::Identification => {
            return match status {
                Identifying | Running => Some(Verdict::Progress(actions())),
                Identified if fb.actions.is_empty() => Some(Verdict::NothingToDo),
                Identified => Some(Verdict::Done(actions())),
                Completed => Some(Verdict::NothingToDo),
                IdentificationFailed | Incomplete | IncompleteInconsistent => Some(failed()),
                _ => None,
            };
        }
        Awaited::Command(Command::Download) => (Downloading, DownloadSuccess, DownloadFailure),
        Awaited::Command(Command::Update) => (Updating, UpdateSuccess, UpdateFailure),
        Awaited::Command(Command::Activate) => (Activating, ActivationSuccess, ActivationFailure),
        Awaited::Command(Command::Rollback) => (Rollback, RollbackSuccess, RollbackFailure),
        Awaited::Command(Command::Cleanup) => (Cleanup, CleanupSuccess, CleanupFailure),
    };
    let cleanup = awaited == Awaited::Command(Command::Cleanup);
    match status {
        s if s == working => Some(Verdict::Progress(actions())),
        Running if !fb.actions.is_empty() => Some(Verdict::Progress(actions())),
        s if s == success => Some(Verdict::Done(actions())),
        s if s == failure => Some(failed()),
        // After CLEANUP the agent closes its activity either way (Kanto counts the domain as
        // finished on these).
        Completed | Incomplete | IncompleteInconsistent if cleanup => {
            Some(Verdict::Done(actions()))
        }
        // Ending the activity in the middle of a phase is a failure of that phase.
        Incomplete | IncompleteInconsistent | Completed | IdentificationFailed => Some(failed()),
        _ => None,
    }
}

/// The agent's message and its failed actions, in one line.
fn failure_message(fb: &DesiredStateFeedback) -> String {
    let mut parts = Vec::new();
    if !fb.message.is_empty() {
        parts.push(fb.message.clone());
    }
    for a in fb.actions.iter().filter(|a| a.status.is_failure()) {
        let st = serde_json::to_value(a.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        if a.message.is_empty() {
            parts.push(format!("{} {st}", a.component.id));
        } else {
            parts.push(format!("{} {st}: {}", a.component.id, a.message));
        }
    }
    if parts.is_empty() {
        "no reason given".to_string()
    } else {
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kanto::wire::{ActionStatus, Component};

    fn fb(status: Status, actions: &[(&str, ActionStatus, &str)]) -> DesiredStateFeedback {
        DesiredStateFeedback::new(
            status,
            "",
            actions
                .iter()
                .map(|(id, s, m)| Action {
                    component: Component::new(*id, "1"),
                    status: *s,
                    progress: 0,
                    message: m.to_string(),
                })
                .collect(),
        )
    }

    fn kind(v: Option<Verdict>) -> &'static str {
        match v {
            None => "-",
            Some(Verdict::Progress(_)) => "progress",
            Some(Verdict::Done(_)) => "done",
            Some(Verdict::NothingToDo) => "nothing",
            Some(Verdict::Failed { .. }) => "failed",
        }
    }

    #[test]
    fn the_table() {
        use crate::kanto::wire::Command as C;
        use ActionStatus as A;
        use Awaited::*;
        use Status::*;
        let web = [("containers:web", A::Identified, "")];
        let rows: &[(Awaited, DesiredStateFeedback, &str)] = &[
            (Identification, fb(Identifying, &[]), "progress"),
            (Identification, fb(Identified, &web), "done"),
            (Identification, fb(Identified, &[]), "nothing"),
            (Identification, fb(Completed, &[]), "nothing"),
            (Identification, fb(IdentificationFailed, &[]), "failed"),
            (Identification, fb(DownloadSuccess, &[]), "-"),
            (Command(C::Download), fb(Downloading, &web), "progress"),
            (Command(C::Download), fb(Running, &web), "progress"),
            (Command(C::Download), fb(Running, &[]), "-"),
            (Command(C::Download), fb(DownloadSuccess, &web), "done"),
            (Command(C::Download), fb(DownloadFailure, &web), "failed"),
            (Command(C::Download), fb(Incomplete, &[]), "failed"),
            (Command(C::Download), fb(Identified, &web), "-"),
            (Command(C::Download), fb(UpdateSuccess, &web), "-"),
            (Command(C::Update), fb(Updating, &web), "progress"),
            (Command(C::Update), fb(UpdateSuccess, &web), "done"),
            (Command(C::Update), fb(UpdateFailure, &web), "failed"),
            (Command(C::Update), fb(DownloadSuccess, &web), "-"),
            (Command(C::Activate), fb(Activating, &web), "progress"),
            (Command(C::Activate), fb(ActivationSuccess, &web), "done"),
            (Command(C::Activate), fb(ActivationFailure, &web), "failed"),
            (Command(C::Rollback), fb(Rollback, &web), "progress"),
            (Command(C::Rollback), fb(RollbackSuccess, &web), "done"),
            (Command(C::Rollback), fb(RollbackFailure, &web), "failed"),
            (Command(C::Cleanup), fb(Cleanup, &[]), "progress"),
            (Command(C::Cleanup), fb(CleanupSuccess, &[]), "done"),
            (Command(C::Cleanup), fb(CleanupFailure, &[]), "failed"),
            (Command(C::Cleanup), fb(Completed, &[]), "done"),
            (Command(C::Cleanup), fb(Incomplete, &[]), "done"),
        ];
        for (awaited, f, want) in rows {
            assert_eq!(
                kind(judge(*awaited, f)),
                *want,
                "{awaited:?} {:?}",
                f.status
            );
        }
        assert_eq!(
            judge(Command(C::Download), &DesiredStateFeedback::default()),
            None
        );
    }

    #[test]
    fn a_failure_names_the_agents_words_and_failed_components() {
        let mut f = fb(
            Status::DownloadFailure,
            &[
                ("containers:web", ActionStatus::DownloadFailure, "pull: 404"),
                ("containers:db", ActionStatus::DownloadSuccess, ""),
            ],
        );
        f.message = "download failed".into();
        match judge(Awaited::Command(Command::Download), &f) {
            Some(Verdict::Failed { status, message }) => {
                assert_eq!(status, Status::DownloadFailure);
                assert_eq!(
                    message,
                    "download failed; containers:web DOWNLOAD_FAILURE: pull: 404"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
