//! The gates between plan and execute: the engine asks, at fixed points of a deployment,
//! whether it may go on (a maintenance window, an update lock, the owner's consent, a
//! health soak, enough disk). Implementations live in `gates/`; [`Open`] always proceeds.
//!
//! The points, in the order a deployment meets them: [`GatePoint::BeforeFirstState`]
//! (after planning and verifying, before the deployment is journaled: a refusal there
//! touches nothing), [`GatePhase::Download`] (same moment, after it), then at the first
//! ArtifactInstall [`GatePhase::Install`] and [`GatePoint::BeforeDisruptive`], before the
//! first reboot (or, with none, at the commit boundary) [`GatePhase::Activate`], and at the
//! commit boundary [`GatePoint::BeforeCommit`]. Each is asked once per deployment; a
//! resumed deployment is asked again at the points it has not passed.
//!
//! `Wait`: the engine reports it ([`super::progress::Progress::Waiting`]) and asks again
//! (at `until` at the latest, and at least every `driver::RECHECK`). `Refuse`: the
//! deployment ends, with nothing touched before the first state, rolled back after it.
//! Asking, waiting and reporting is the driver's (`driver::pass`).

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use super::report::PlannedChange;
use crate::model::Reason;

/// A boxed future, so the engine's seams can be used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A phase a person may have to consent to (Kanto's download, update, activate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GatePhase {
    Download,
    Install,
    Activate,
}

/// Where in a deployment a gate is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GatePoint {
    BeforeFirstState,
    BeforeDisruptive,
    BeforePhase(GatePhase),
    BeforeCommit,
}

impl GatePoint {
    /// The point's name (logs, status, a refused deployment's `failed_at`).
    pub const fn as_str(self) -> &'static str {
        match self {
            GatePoint::BeforeFirstState => "BeforeFirstState",
            GatePoint::BeforeDisruptive => "BeforeDisruptive",
            GatePoint::BeforePhase(GatePhase::Download) => "BeforeDownload",
            GatePoint::BeforePhase(GatePhase::Install) => "BeforeInstall",
            GatePoint::BeforePhase(GatePhase::Activate) => "BeforeActivate",
            GatePoint::BeforeCommit => "BeforeCommit",
        }
    }
}

impl std::fmt::Display for GatePoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a gate is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateContext {
    pub point: GatePoint,
    /// The deployment's id; `None` before it is journaled (`BeforeFirstState`, `Download`).
    pub deployment: Option<String>,
    pub manifest: String,
    /// What the deployment changes.
    pub components: Vec<PlannedChange>,
    /// How long the engine has waited at this point so far.
    pub waited: Duration,
}

/// A gate's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Proceed,
    /// Not yet: ask again later (at `until` at the latest, when given).
    Wait {
        reason: Reason,
        until: Option<SystemTime>,
        message: String,
    },
    /// No: the deployment ends.
    Refuse {
        reason: Reason,
        message: String,
    },
}

/// A check between plan and execute.
pub trait Gate: Send + Sync {
    fn check<'a>(&'a self, ctx: &'a GateContext) -> BoxFuture<'a, Verdict>;
}

/// The gate that always proceeds (the only one until `gates/` has others).
#[derive(Debug, Clone, Copy, Default)]
pub struct Open;

impl Gate for Open {
    fn check<'a>(&'a self, _: &'a GateContext) -> BoxFuture<'a, Verdict> {
        Box::pin(async { Verdict::Proceed })
    }
}
