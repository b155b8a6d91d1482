//! Supersede: a newer desired generation ends a deployment of an older one at the next safe
//! point, as long as nothing has reached ArtifactInstall.
//!
//! The safe points are gate points: before the first state, before Download, and at the
//! first ArtifactInstall (`BeforePhase(Install)`, `BeforeDisruptive`), which the engine asks
//! only while no component has started installing; a deployment waiting at any gate (a
//! window, a lock, a question) is re-asked within [`super::seam::REASK`] and so is
//! superseded within a second. The refusal (reason `Superseded`) makes the engine end the
//! deployment cleanly: nothing touched before the first state, only Cleanup after Download.
//! Once a component has installed, the deployment finishes first (as before): the points
//! after it (`Activate`, `BeforeCommit`) always proceed here.
//!
//! Only deployments the controller started for a generation can be superseded: the daemon
//! tells where the newest generation is read ([`SupersedeGate::follow`]) and which
//! generation runs ([`SupersedeGate::begin`]); an Update Module hand-off never is (the
//! Mender client drives it), nor a deployment of a CLI verb run in-process.

use std::sync::{Arc, Mutex};

use super::seam::{BoxFuture, Gate, GateContext, GatePhase, GatePoint, Verdict};
use crate::model::Reason;

/// The newest desired generation, read when asked.
pub type Newest = Arc<dyn Fn() -> u64 + Send + Sync>;

#[derive(Default)]
pub struct SupersedeGate {
    newest: Mutex<Option<Newest>>,
    running: Mutex<Option<u64>>,
}

impl SupersedeGate {
    /// The newest desired generation is read from `newest` from now on.
    pub fn follow(&self, newest: Newest) {
        *self.newest.lock().unwrap_or_else(|p| p.into_inner()) = Some(newest);
    }

    /// The controller starts a deployment of `generation` (`None`: one that cannot be
    /// superseded, or none).
    pub fn begin(&self, generation: Option<u64>) {
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) = generation;
    }

    fn decide(&self, ctx: &GateContext) -> Verdict {
        let Some(running) = *self.running.lock().unwrap_or_else(|p| p.into_inner()) else {
            return Verdict::Proceed;
        };
        let newest = self
            .newest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or(0, |n| n());
        if newest > running {
            return Verdict::Refuse {
                reason: Reason::Superseded,
                message: format!(
                    "'{}' (generation {running}) was superseded by generation {newest} before anything was installed",
                    ctx.manifest
                ),
            };
        }
        Verdict::Proceed
    }
}

impl Gate for SupersedeGate {
    fn check<'a>(&'a self, ctx: &'a GateContext) -> BoxFuture<'a, Verdict> {
        let v = match ctx.point {
            GatePoint::BeforeFirstState
            | GatePoint::BeforeDisruptive
            | GatePoint::BeforePhase(GatePhase::Download | GatePhase::Install) => self.decide(ctx),
            _ => Verdict::Proceed,
        };
        Box::pin(std::future::ready(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::seam::{at, context};
    use std::sync::atomic::{AtomicU64, Ordering};

    #[tokio::test]
    async fn a_newer_generation_ends_only_what_installed_nothing() {
        let newest = Arc::new(AtomicU64::new(3));
        let n = newest.clone();
        let gate = SupersedeGate::default();
        gate.follow(Arc::new(move || n.load(Ordering::SeqCst)));
        let ctx = context("d", "sys-3");
        let all = [
            GatePoint::BeforeFirstState,
            GatePoint::BeforePhase(GatePhase::Download),
            GatePoint::BeforeDisruptive,
            GatePoint::BeforePhase(GatePhase::Install),
            GatePoint::BeforePhase(GatePhase::Activate),
            GatePoint::BeforeCommit,
        ];
        // Not a controller deployment: never.
        newest.store(9, Ordering::SeqCst);
        for p in all {
            assert_eq!(gate.check(&at(p, &ctx)).await, Verdict::Proceed);
        }
        gate.begin(Some(3));
        newest.store(3, Ordering::SeqCst);
        for p in all {
            assert_eq!(gate.check(&at(p, &ctx)).await, Verdict::Proceed, "{p:?}");
        }
        newest.store(4, Ordering::SeqCst);
        let mut refused = vec![];
        for p in all {
            let v = gate.check(&at(p, &ctx)).await;
            refused.push(matches!(
                v,
                Verdict::Refuse {
                    reason: Reason::Superseded,
                    ..
                }
            ));
        }
        // The points after the first ArtifactInstall: the deployment finishes first.
        assert_eq!(refused, [true, true, true, true, false, false]);
    }
}
