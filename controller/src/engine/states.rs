//! The protocol v1 states and queries the engine schedules.
//!
//! Temporary home: these move to `interface::protocol` once the runner lands; the names are
//! the protocol's own spellings.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum State {
    Download,
    ArtifactInstall,
    ArtifactReboot,
    ArtifactVerifyReboot,
    ArtifactCommit,
    Cleanup,
    ArtifactRollback,
    ArtifactRollbackReboot,
    ArtifactVerifyRollbackReboot,
    ArtifactFailure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Query {
    SupportsRollback,
    NeedsArtifactReboot,
}

/// The answer to `NeedsArtifactReboot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RebootAnswer {
    No,
    Yes,
    Automatic,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
