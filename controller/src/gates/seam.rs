//! The engine's gate seam, as the gates use it: `engine::api`'s `Gate`, `GateContext`,
//! `GatePoint`, `GatePhase` and `Verdict`, re-exported, plus the few words the gates share.
//!
//! The engine asks its gate at fixed points of a deployment and obeys the answer:
//!
//! | point | where the engine asks | who answers here |
//! |---|---|---|
//! | `BeforeFirstState` | after planning, resolving and verifying, before the deployment is journaled | supersede, disk space, maintenance window |
//! | `BeforePhase(Download)` | right after it, before the first Download | supersede, owner consent |
//! | `BeforePhase(Install)` | at the first ArtifactInstall | supersede, owner consent |
//! | `BeforeDisruptive` | right after it, still before the first ArtifactInstall | supersede, maintenance window (still open), update locks |
//! | `BeforePhase(Activate)` | before the first reboot, else at the commit boundary | owner consent |
//! | `BeforeCommit` | every component installed (and rebooted), at the commit boundary | health soak |
//!
//! - `Proceed`: go on.
//! - `Wait`: the engine reports the wait and asks again at `until` at the latest (see
//!   [`super::chain`]: the chain asks to be asked again within [`REASK`], so an answer, a
//!   released lock or a newer generation is seen at once).
//! - `Refuse`: the deployment ends with that reason: before the first state nothing was
//!   touched (a rejection); after it, the engine rolls back what was installed (only
//!   Cleanup while nothing reached ArtifactInstall).

use std::time::Duration;

pub use crate::engine::api::{BoxFuture, Gate, GateContext, GatePhase, GatePoint, Open, Verdict};

/// The longest a waiting deployment goes before the gates are asked again: answers (a
/// consent, a released lock, a newer generation) are seen within this.
pub const REASK: Duration = Duration::from_secs(1);

/// The deployment a gate is asked about, as the gates key what they remember of it. Before
/// the first state the engine has not named it yet: `""` then, and since the engine runs one
/// deployment at a time, whoever ends it forgets every key ([`super::Gates::finished`]).
pub fn deployment_of(ctx: &GateContext) -> &str {
    ctx.deployment.as_deref().unwrap_or("")
}

/// `ctx` asked at `point` (tests ask one context at several points).
#[cfg(test)]
pub fn at(point: GatePoint, ctx: &GateContext) -> GateContext {
    GateContext {
        point,
        ..ctx.clone()
    }
}

/// A context with nothing but names (tests).
#[cfg(test)]
pub fn context(deployment: &str, manifest: &str) -> GateContext {
    GateContext {
        point: GatePoint::BeforeFirstState,
        deployment: Some(deployment.into()),
        manifest: manifest.into(),
        components: vec![],
        artifacts: vec![],
        waited: Duration::ZERO,
    }
}
