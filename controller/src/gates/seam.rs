//! THE SEAM A OWNS: `engine::api::Gate`, defined here until the engine's branch (helper A,
//! `house-engine`) lands on main. When it does, this file shrinks to
//! `pub use crate::engine::api::{Gate, GatePoint, GatePhase, GateContext, Verdict, ...};`
//! and nothing else in `gates/` changes.
//!
//! The engine asks its gate at fixed points of a deployment and obeys the answer:
//!
//! | point | where the engine asks | who answers here |
//! |---|---|---|
//! | `BeforeFirstState` | after planning, resolving and verifying, before the first state of the deployment | supersede, disk space, maintenance window |
//! | `BeforePhase(Download)` | before the first Download | supersede, owner consent |
//! | `BeforeDisruptive` | after Download, before the first ArtifactInstall | supersede, maintenance window (still open), update locks |
//! | `BeforePhase(Install)` | before the first ArtifactInstall | supersede, owner consent |
//! | `BeforePhase(Activate)` | before the first reboot, else before the commit | owner consent |
//! | `BeforeCommit` | every component installed (and rebooted), before the commit decision (and before a `--stop-before ArtifactCommit` pause) | health soak |
//!
//! - [`Verdict::Proceed`]: go on.
//! - [`Verdict::Wait`]: the engine reports the wait (reason, message, `until`) through its
//!   progress, sleeps on tokio's clock until `until` or [`REASK`], whichever comes first,
//!   and asks again at the same point.
//! - [`Verdict::Refuse`]: the deployment ends with that reason: before the first state
//!   nothing was touched (a rejection); after it, the machine fails and rolls back as for a
//!   failed state (only Cleanup while nothing reached ArtifactInstall).

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::model::Reason;

/// A boxed future, so gates can be `Arc<dyn Gate>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The longest the engine sleeps before asking a waiting gate again: answers (a consent, a
/// released lock, a newer generation) are seen within this.
pub const REASK: Duration = Duration::from_secs(1);

/// The phases a gate may be asked before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum GatePhase {
    Download,
    Install,
    Activate,
}

impl GatePhase {
    pub const ALL: [GatePhase; 3] = [GatePhase::Download, GatePhase::Install, GatePhase::Activate];
    pub fn as_str(self) -> &'static str {
        match self {
            GatePhase::Download => "Download",
            GatePhase::Install => "Install",
            GatePhase::Activate => "Activate",
        }
    }
}

/// Where the engine is when it asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GatePoint {
    BeforeFirstState,
    BeforeDisruptive,
    BeforePhase(GatePhase),
    BeforeCommit,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    Proceed,
    Wait {
        reason: Reason,
        /// When waiting can end at the earliest (a window opens, a deferral ends); `None`:
        /// when something changes.
        until: Option<SystemTime>,
        message: String,
    },
    Refuse {
        reason: Reason,
        message: String,
    },
}

/// One component the deployment changes, as the gates need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateComponent {
    pub component_type: String,
    pub id: String,
    pub order: u8,
    pub to_artifact: String,
    /// The local Artifact file planning resolved.
    pub artifact: PathBuf,
    /// Its size.
    pub artifact_bytes: u64,
    /// The payload's size once read (the bundle check reads every group after the first to
    /// its end); `None` when not read yet.
    pub payload_bytes: Option<u64>,
    /// The component's File API directory: where a files-tree payload is written.
    pub work_dir: PathBuf,
    /// Where the Artifact will be fetched to, when it is not local yet (`None`: local).
    pub fetch_to: Option<PathBuf>,
}

/// What the engine tells its gate about the deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateContext {
    /// The deployment's id (stable across re-asks and restarts).
    pub deployment: String,
    /// The Manifest's name.
    pub manifest: String,
    pub components: Vec<GateComponent>,
    /// Some component has reached ArtifactInstall: cancelling is no longer clean.
    pub install_started: bool,
}

/// The engine's gate: asked at every [`GatePoint`], never from two tasks at once for one
/// deployment. Must not block the thread (IO goes to blocking tasks or is quick).
pub trait Gate: Send + Sync {
    fn check<'a>(&'a self, point: GatePoint, ctx: &'a GateContext) -> BoxFuture<'a, Verdict>;
}

/// Always proceeds: the engine's default.
pub struct NoGate;

impl Gate for NoGate {
    fn check<'a>(&'a self, _: GatePoint, _: &'a GateContext) -> BoxFuture<'a, Verdict> {
        Box::pin(std::future::ready(Verdict::Proceed))
    }
}
