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

impl InterfaceError {
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
