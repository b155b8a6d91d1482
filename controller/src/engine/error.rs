//! Why the engine could not act. Each variant names what was wrong.

use super::journal::JournalError;
use super::machine::NotAllowed;
use super::store::StoreError;
use crate::durable::LockError;
use crate::model::Reason;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Setup(String),
    #[error("the Topology is invalid:\n{0}")]
    Topology(crate::resource::Diagnostics),
    #[error(
        "a deployment of '{manifest}' is in progress ({position}): resume it or roll it back first"
    )]
    InProgress { manifest: String, position: String },
    #[error("there is no deployment to resume or roll back")]
    NothingInProgress,
    #[error(transparent)]
    NotAllowed(#[from] NotAllowed),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The engine is busy with a deployment and the question would have to wait for it.
    #[error("a deployment is in flight ({0}): ask again when it has ended")]
    Busy(String),
    /// No observation to answer from yet (none taken, none kept in the datastore).
    #[error("no observation of the System yet{0}")]
    NoObservation(String),
    /// What a remote engine (the daemon) answered, or why it could not be asked.
    #[error("{0}")]
    Remote(String),
    /// The question is not one this implementation answers (a remote engine is asked
    /// only what the local API offers).
    #[error("{0} is not offered here")]
    NotOffered(&'static str),
}

impl EngineError {
    /// The condition and history reason for this error.
    pub fn reason(&self) -> Reason {
        match self {
            EngineError::Topology(_) => Reason::InvalidManifest,
            EngineError::Journal(_) => Reason::JournalUnreadable,
            _ => Reason::EngineError,
        }
    }
}
