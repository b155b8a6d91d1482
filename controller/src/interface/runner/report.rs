//! What one Interface call produced, and the ways it can go wrong.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::interface::protocol::{BadAnswer, Call};
use crate::model::{ComponentId, ComponentType, InterfaceName};

/// Who was called with what: every error and log line carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallContext {
    pub interface: InterfaceName,
    pub component_type: ComponentType,
    /// Unknown until `Identity` has answered.
    pub component: Option<ComponentId>,
    pub call: Call,
}

impl fmt::Display for CallContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Interface {} ({} {}",
            self.interface,
            self.call.kind(),
            self.call
        )?;
        write!(f, ", component type {}", self.component_type)?;
        if let Some(id) = &self.component {
            write!(f, ", component {id}")?;
        }
        f.write_str(")")
    }
}

/// How the Interface process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    /// It could not be reaped within the bounds (stuck in the kernel after SIGKILL).
    Unknown,
}

impl Exit {
    pub const fn success(self) -> bool {
        matches!(self, Exit::Code(0))
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit code {c}"),
            Exit::Signal(s) => write!(f, "signal {s}"),
            Exit::Unknown => f.write_str("unknown exit"),
        }
    }
}

/// One finished call: its exit, its output (capped), and how long it took.
#[derive(Clone, PartialEq, Eq)]
pub struct CallReport {
    pub exit: Exit,
    /// At most the configured cap; the rest was read and dropped.
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub stdout_dropped: u64,
    pub stderr_dropped: u64,
    pub duration: Duration,
    /// Processes of its group were still alive after it exited, and were terminated.
    pub strays_terminated: bool,
}

impl fmt::Debug for CallReport {
    // Output as text, not as lists of numbers: this is what a failing test or a log shows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallReport")
            .field("exit", &self.exit)
            .field("stdout", &String::from_utf8_lossy(&self.stdout))
            .field("stderr", &String::from_utf8_lossy(&self.stderr))
            .field("stdout_dropped", &self.stdout_dropped)
            .field("stderr_dropped", &self.stderr_dropped)
            .field("duration", &self.duration)
            .field("strays_terminated", &self.strays_terminated)
            .finish()
    }
}

impl CallReport {
    /// The last line of stderr, bounded: the usual "why" of a failing shell script.
    pub fn stderr_tail(&self) -> String {
        let text = String::from_utf8_lossy(&self.stderr);
        let last = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        last.chars().take(200).collect()
    }
}

fn tail_suffix(report: &CallReport) -> String {
    match report.stderr_tail() {
        t if t.is_empty() => String::new(),
        t => format!("; stderr: {t:?}"),
    }
}

/// Why an Interface call failed. Each variant has a bounded [`InterfaceError::reason`].
#[derive(Debug, thiserror::Error)]
pub enum InterfaceError {
    #[error("{ctx}: no Interface at {}", path.display())]
    NotFound {
        ctx: Box<CallContext>,
        path: PathBuf,
    },
    #[error("{ctx}: {} is not an executable file", path.display())]
    NotExecutable {
        ctx: Box<CallContext>,
        path: PathBuf,
    },
    #[error("{ctx}: work directory {}: {detail}", path.display())]
    WorkDir {
        ctx: Box<CallContext>,
        path: PathBuf,
        detail: String,
    },
    #[error("{ctx}: could not start: {source}")]
    Spawn {
        ctx: Box<CallContext>,
        source: std::io::Error,
    },
    #[error(
        "{ctx}: timed out after {after:?}; its process group was terminated{}",
        tail_suffix(report)
    )]
    Timeout {
        ctx: Box<CallContext>,
        after: Duration,
        report: Box<CallReport>,
    },
    #[error("{ctx}: abandoned by baton; its process group was terminated")]
    Cancelled {
        ctx: Box<CallContext>,
        report: Box<CallReport>,
    },
    #[error("{ctx}: failed with exit code {code}{}", tail_suffix(report))]
    Failed {
        ctx: Box<CallContext>,
        code: i32,
        report: Box<CallReport>,
    },
    #[error("{ctx}: killed by signal {signal}{}", tail_suffix(report))]
    Killed {
        ctx: Box<CallContext>,
        signal: i32,
        report: Box<CallReport>,
    },
    #[error("{ctx}: {answer}")]
    BadAnswer {
        ctx: Box<CallContext>,
        answer: BadAnswer,
    },
}

/// How an Interface call ends, as `baton_interface_calls_total{result}` counts it: the
/// usual endings, created at 0 for every Interface (see [`InterfaceError::result_label`]
/// for the others).
pub const USUAL_RESULTS: [&str; 3] = ["success", "failed", "timeout"];

/// The `result` label of a call's outcome: `success`, or the error's.
pub fn result_label(r: &Result<CallReport, InterfaceError>) -> &'static str {
    match r {
        Ok(_) => "success",
        Err(e) => e.result_label(),
    }
}

impl InterfaceError {
    /// How the call ended, as a bounded metric label (never the message).
    pub const fn result_label(&self) -> &'static str {
        match self {
            InterfaceError::Failed { .. } => "failed",
            InterfaceError::Timeout { .. } => "timeout",
            InterfaceError::Killed { .. } => "killed",
            InterfaceError::Cancelled { .. } => "cancelled",
            InterfaceError::BadAnswer { .. } => "bad_answer",
            // The Interface never ran.
            InterfaceError::NotFound { .. }
            | InterfaceError::NotExecutable { .. }
            | InterfaceError::WorkDir { .. }
            | InterfaceError::Spawn { .. } => "not_run",
        }
    }

    /// A bounded label for metrics and status conditions.
    pub const fn reason(&self) -> &'static str {
        match self {
            InterfaceError::NotFound { .. } => "InterfaceNotFound",
            InterfaceError::NotExecutable { .. } => "InterfaceNotExecutable",
            InterfaceError::WorkDir { .. } => "InterfaceWorkDir",
            InterfaceError::Spawn { .. } => "InterfaceSpawnFailed",
            InterfaceError::Timeout { .. } => "InterfaceTimeout",
            InterfaceError::Cancelled { .. } => "InterfaceCancelled",
            InterfaceError::Failed { .. } => "InterfaceFailed",
            InterfaceError::Killed { .. } => "InterfaceKilled",
            InterfaceError::BadAnswer { .. } => "InterfaceBadAnswer",
        }
    }

    /// Which call failed.
    pub fn context(&self) -> &CallContext {
        match self {
            InterfaceError::NotFound { ctx, .. }
            | InterfaceError::NotExecutable { ctx, .. }
            | InterfaceError::WorkDir { ctx, .. }
            | InterfaceError::Spawn { ctx, .. }
            | InterfaceError::Timeout { ctx, .. }
            | InterfaceError::Cancelled { ctx, .. }
            | InterfaceError::Failed { ctx, .. }
            | InterfaceError::Killed { ctx, .. }
            | InterfaceError::BadAnswer { ctx, .. } => ctx,
        }
    }

    /// The process's report, when it ran at all.
    pub fn report(&self) -> Option<&CallReport> {
        match self {
            InterfaceError::Timeout { report, .. }
            | InterfaceError::Cancelled { report, .. }
            | InterfaceError::Failed { report, .. }
            | InterfaceError::Killed { report, .. } => Some(report),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interface::protocol::{Query, State};

    fn report(ms: u64, code: i32) -> Box<CallReport> {
        Box::new(CallReport {
            exit: Exit::Code(code),
            stdout: vec![],
            stderr: b"the flash tool said: something long and free-form".to_vec(),
            stdout_dropped: 0,
            stderr_dropped: 0,
            duration: Duration::from_millis(ms),
            strays_terminated: false,
        })
    }

    fn ctx(call: Call) -> Box<CallContext> {
        Box::new(CallContext {
            interface: InterfaceName::new("rtos-flash").unwrap(),
            component_type: ComponentType::new("rtos").unwrap(),
            component: None,
            call,
        })
    }

    #[test]
    fn result_labels_are_bounded_words_with_no_free_text() {
        let install = Call::State(State::ArtifactInstall);
        let provides = Call::Query(Query::Provides);
        let cases = [
            (Ok(*report(300, 0)), "success"),
            (
                Err(InterfaceError::Failed {
                    ctx: ctx(install),
                    code: 3,
                    report: report(2000, 3),
                }),
                "failed",
            ),
            (
                Err(InterfaceError::Timeout {
                    ctx: ctx(install),
                    after: Duration::from_secs(1),
                    report: report(1000, -1),
                }),
                "timeout",
            ),
            (
                Err(InterfaceError::NotFound {
                    ctx: ctx(provides),
                    path: PathBuf::from("/usr/share/x"),
                }),
                "not_run",
            ),
        ];
        for (r, want) in cases {
            let label = result_label(&r);
            assert_eq!(label, want);
            assert!(!label.contains("flash tool") && !label.contains("/usr/share"));
        }
        for usual in USUAL_RESULTS {
            assert!(["success", "failed", "timeout"].contains(&usual));
        }
    }
}
