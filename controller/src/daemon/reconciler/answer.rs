//! Answering the reconciler's commands: the API's reads, the operator's actions and the
//! Update Module's hand-offs. They arrive as messages on the one loop, so actions and
//! hand-offs never race a deployment; reads are answered on a task of their own.

use tokio::sync::oneshot;

use super::Reconciler;
use crate::daemon::commands::{
    Action, ActionError, ActionReply, Answer, Command, Handoff, HandoffError, Query,
};
use crate::daemon::status::conditions::Phase;
use crate::daemon::status::history::Driver;
use crate::durable::persist::PersistError;
use crate::engine::api::{DeploymentReport, End, EngineError};
use crate::model::Origin;

impl Reconciler {
    /// Handles a command; true when the desired state or the rules changed.
    pub(super) async fn command(&mut self, cmd: Command, busy: bool) -> bool {
        match cmd {
            Command::Query(q, reply) => {
                self.query(q, reply);
                false
            }
            Command::Plan(m, reply) => {
                let d = self.deployer.clone();
                tokio::spawn(async move {
                    let _ = reply.send(d.plan(*m).await);
                });
                false
            }
            Command::Action(a, reply) => {
                let r = self.action(a);
                let changed = r.is_ok();
                let _ = reply.send(r);
                self.publish();
                if changed {
                    self.poke.notify_one();
                }
                changed
            }
            Command::Handoff(h, reply) => {
                if busy || self.shutdown.is_cancelled() {
                    let d = self.desired.current();
                    let _ = reply.send(Err(if self.shutdown.is_cancelled() {
                        HandoffError::ShuttingDown
                    } else {
                        HandoffError::Busy {
                            manifest: d
                                .as_ref()
                                .map(|d| d.manifest.manifest.name.clone())
                                .unwrap_or_default(),
                            generation: d.map(|d| d.generation).unwrap_or(0),
                        }
                    }));
                    return false;
                }
                let r = self.handoff(*h).await;
                let _ = reply.send(r);
                true
            }
        }
    }

    /// A read, answered on a task of its own: it never waits for the loop (or a
    /// deployment), and the loop never waits for it (the engine answers from its last
    /// observation while a deployment runs).
    fn query(&self, q: Query, reply: oneshot::Sender<Result<Answer, EngineError>>) {
        let d = self.deployer.clone();
        tokio::spawn(async move {
            let answer = match q {
                Query::Provides => d.observe().await.map(Answer::Provides),
                Query::Inventory => d.inventory().await.map(Answer::Inventory),
                Query::Journal => d.journal().await.map(Answer::Journal),
            };
            let _ = reply.send(answer);
        });
    }

    fn action(&mut self, a: Action) -> Result<ActionReply, ActionError> {
        let gen = self.desired.generation();
        let persist = |e: PersistError| ActionError::Failed(e.to_string());
        match a {
            Action::Suspend | Action::Resume => {
                let on = a == Action::Suspend;
                self.memory.update(|m| m.suspended = on).map_err(persist)?;
                Ok(ActionReply {
                    generation: gen,
                    message: if on {
                        "suspended: no new reconcile starts".into()
                    } else {
                        "resumed".into()
                    },
                })
            }
            Action::Retry => {
                self.memory
                    .update(|m| {
                        if m.failures_generation == gen {
                            m.failures = 0;
                        }
                    })
                    .map_err(persist)?;
                self.backoff = None;
                Ok(ActionReply {
                    generation: gen,
                    message: "retrying now".into(),
                })
            }
            Action::Force => {
                self.gates.force_locks_once();
                tracing::warn!("--force: the next update lock check passes");
                Ok(ActionReply {
                    generation: gen,
                    message: "the next update lock check passes (once)".into(),
                })
            }
            Action::Rollback => {
                let (current, previous) = self
                    .deployer
                    .deployed_manifests()
                    .map_err(|e| ActionError::Failed(e.to_string()))?;
                let desired_sha = self.desired.current().map(|d| d.manifest.sha256.clone());
                // If the desired Manifest is the one deployed, go back one; if it never got
                // deployed, the deployed one is the last good.
                let target = match current {
                    Some(c) if Some(&c.sha256) == desired_sha.as_ref() => previous,
                    other => other,
                }
                .ok_or(ActionError::NothingToRollBackTo)?;
                let name = target.manifest.name.clone();
                let (g, _) = self
                    .desired
                    .apply(target, Origin::RollbackAction, None)
                    .map_err(|e| ActionError::Failed(e.to_string()))?;
                tracing::info!(generation = g, manifest = %name, "rollback action: last good Manifest is desired again");
                Ok(ActionReply {
                    generation: g,
                    message: format!("'{name}' is desired again (generation {g})"),
                })
            }
        }
    }

    /// Runs an Update Module hand-off through the engine.
    async fn handoff(&mut self, h: Handoff) -> Result<DeploymentReport, HandoffError> {
        if let Handoff::Install { manifest, .. } = &h {
            // The update policy holds for every door, the Update Module's too.
            let deployed = self
                .deployer
                .deployed_manifests()
                .map_err(HandoffError::Engine)?
                .0;
            if let Some((reason, message)) = self.gates.policy.hold(manifest, deployed.as_ref()) {
                tracing::warn!(%reason, %message, "Update Module hand-off held back by the update policy");
                self.metrics.gate_refused(reason);
                return Err(HandoffError::Held { reason, message });
            }
        }
        // The Mender client drives this one: a newer generation never ends it.
        self.gates.begin(None);
        let gen = self.desired.generation();
        self.begin(gen, Driver::UpdateModule);
        self.phase(Phase::HandedOff {
            message: "the Update Module drives a deployment".into(),
        });
        let d = self.deployer.clone();
        let sink = self.sink();
        let fut = async move {
            match h {
                Handoff::Install { manifest, opts } => d.install(manifest, opts, sink).await,
                Handoff::Resume { opts, explicit } => d.resume(opts, explicit, sink).await,
                Handoff::Rollback { opts } => d.rollback(opts, sink).await,
            }
        };
        let r = self.watched(fut, true).await;
        self.board.deployment(None);
        if !matches!(&r, Some(Ok(report)) if report.end.is_final()) {
            self.gates.finished();
        }
        let report = r.ok_or(HandoffError::ShuttingDown)??;
        if !report.end.is_final() {
            let id = report.deployment.clone();
            self.remember(|m| m.handoff = Some(id));
            return Ok(report);
        }
        self.remember(|m| m.handoff = None);
        let mut generation = gen;
        let mut sha = String::new();
        if report.end == End::Success {
            // What the Update Module installed is now the desired state, so the controller
            // keeps it (and does not undo it as drift).
            match self.deployer.deployed_manifests() {
                Ok((Some(cur), _)) => {
                    sha = cur.sha256.clone();
                    let same = self
                        .desired
                        .current()
                        .is_some_and(|d| d.manifest.sha256 == cur.sha256);
                    if !same {
                        match self.desired.apply(cur, Origin::UpdateModule, None) {
                            Ok((g, _)) => generation = g,
                            Err(e) => {
                                tracing::error!(error = %e, "cannot record the Update Module's Manifest as desired")
                            }
                        }
                    }
                    self.succeeded(generation);
                }
                Ok((None, _)) => {}
                Err(e) => tracing::error!(error = %e, "cannot read the Manifest store"),
            }
        }
        self.record_finished(&report, generation, &sha, Driver::UpdateModule);
        self.publish();
        Ok(report)
    }
}
