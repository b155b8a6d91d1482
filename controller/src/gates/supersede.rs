//! Supersede: a newer desired generation ends a deployment of an older one at the next safe
//! point, as long as nothing has reached ArtifactInstall.
//!
//! The safe points are gate points: before the first state, before Download, after Download
//! (`BeforeDisruptive`) and before the first ArtifactInstall; a deployment waiting at any
//! gate (a window, a lock, a question) is re-asked at least every [`super::seam::REASK`] and
//! so is superseded within a second. The refusal (reason `Superseded`) makes the engine end
//! the deployment cleanly: nothing touched before the first state, only Cleanup after
//! Download. Once a component has installed, the deployment finishes first (as before).
//!
//! Only deployments the controller started for a generation can be superseded: the daemon
//! says which generation runs ([`SupersedeGate::begin`]); an Update Module hand-off never
//! is (the Mender client drives it).

use std::sync::{Arc, Mutex};

use super::seam::{BoxFuture, Gate, GateContext, GatePhase, GatePoint, Verdict};
use crate::model::Reason;

/// The newest desired generation, read when asked.
pub type Newest = Arc<dyn Fn() -> u64 + Send + Sync>;

pub struct SupersedeGate {
    newest: Newest,
    running: Mutex<Option<u64>>,
}

impl SupersedeGate {
    pub fn new(newest: Newest) -> Self {
        Self {
            newest,
            running: Mutex::new(None),
        }
    }

    /// The controller starts a deployment of `generation` (`None`: one that cannot be
    /// superseded, or none).
    pub fn begin(&self, generation: Option<u64>) {
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) = generation;
    }

    fn decide(&self, ctx: &GateContext) -> Verdict {
        if ctx.install_started {
            return Verdict::Proceed;
        }
        let Some(running) = *self.running.lock().unwrap_or_else(|p| p.into_inner()) else {
            return Verdict::Proceed;
        };
        let newest = (self.newest)();
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
    fn check<'a>(&'a self, point: GatePoint, ctx: &'a GateContext) -> BoxFuture<'a, Verdict> {
        let v = match point {
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
    use std::sync::atomic::{AtomicU64, Ordering};

    #[tokio::test]
    async fn a_newer_generation_ends_only_what_installed_nothing() {
        let newest = Arc::new(AtomicU64::new(3));
        let n = newest.clone();
        let gate = SupersedeGate::new(Arc::new(move || n.load(Ordering::SeqCst)));
        let mut ctx = GateContext {
            deployment: "d".into(),
            manifest: "sys-3".into(),
            components: vec![],
            install_started: false,
        };
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
            assert_eq!(gate.check(p, &ctx).await, Verdict::Proceed);
        }
        gate.begin(Some(3));
        newest.store(3, Ordering::SeqCst);
        for p in all {
            assert_eq!(gate.check(p, &ctx).await, Verdict::Proceed, "{p:?}");
        }
        newest.store(4, Ordering::SeqCst);
        let refused: Vec<bool> = futures_util::future::join_all(all.map(|p| gate.check(p, &ctx)))
            .await
            .iter()
            .map(|v| {
                matches!(
                    v,
                    Verdict::Refuse {
                        reason: Reason::Superseded,
                        ..
                    }
                )
            })
            .collect();
        assert_eq!(refused, [true, true, true, true, false, false]);
        ctx.install_started = true;
        for p in all {
            assert_eq!(gate.check(p, &ctx).await, Verdict::Proceed, "{p:?}");
        }
    }
}
