//! One look, acted on: gather the [`Facts`], [`decide`], do what the decision says, and
//! record how it ended. Every way a deployment ends (driven by the controller, resumed from
//! the journal, or run for the Update Module) is recorded by [`Reconciler::record_finished`]:
//! history, metrics and the status board in one place.

use std::sync::Arc;

use tokio::time::Instant;

use super::decide::{self, decide, Decision, Facts, Journal, Previewed, Retry};
use super::{report_persist, Again, Reconciler};
use crate::config::PolicyMode;
use crate::daemon::clock;
use crate::daemon::deployer::{self, end_failure, recovery_options, run_options};
use crate::daemon::desired::Desired;
use crate::daemon::status::board::BoardSink;
use crate::daemon::status::components::components;
use crate::daemon::status::conditions::Phase;
use crate::daemon::status::history::{self, Driver};
use crate::daemon::status::progress;
use crate::engine::api::{DeploymentReport, End, EngineError, Preview, ProgressSink};
use crate::gates;
use crate::metrics::ReconcileResult;
use crate::model::{Origin, Reason};
use crate::wire::events::Settled;

impl Reconciler {
    /// One look: journal, desired, observed; at most one engine deployment.
    pub(super) async fn reconcile(&mut self, resync: bool) -> Again {
        let started = Instant::now();
        self.publish();
        let desired = self.desired.current();
        let gen = desired
            .as_ref()
            .map_or(self.desired.generation(), |d| d.generation);
        let mut facts = self.facts(resync, desired.as_deref());
        loop {
            let decision = decide(&facts);
            tracing::debug!(generation = gen, ?decision, "reconcile");
            let result = match decision {
                Decision::Preview => {
                    let Some(d) = desired.as_ref() else {
                        unreachable!("decide() previews only a desired state")
                    };
                    let deployer = self.deployer.clone();
                    let Some(p) = self.guarded(deployer.preview(d.manifest.clone())).await else {
                        return Again::No;
                    };
                    facts.preview = Some(self.previewed(gen, p));
                    continue;
                }
                Decision::Recover => {
                    self.recover().await;
                    return Again::Now;
                }
                Decision::Hold { reason, message } => {
                    let Some(d) = desired.as_ref() else {
                        unreachable!("decide() holds only a desired state")
                    };
                    self.held(d, reason, message);
                    return Again::No;
                }
                Decision::Report { phase, observe } => {
                    if observe {
                        // Components first: whoever sees the phase also sees them.
                        self.refresh_components(desired.as_deref()).await;
                    }
                    self.phase(phase);
                    return Again::No;
                }
                Decision::Fail { reason, message } => {
                    self.refused(gen, reason, message);
                    ReconcileResult::Error
                }
                Decision::Succeed => {
                    // Components first: whoever sees Ready also sees them in sync.
                    self.refresh_components(desired.as_deref()).await;
                    // Said once per generation, not at every resync that finds it so.
                    let newly = self.memory.value.synced_generation != gen;
                    self.succeeded(gen);
                    if newly {
                        self.board.settled(gen, Settled::InSync);
                    }
                    ReconcileResult::Success
                }
                Decision::ReportDrift { listed } => {
                    tracing::warn!(generation = gen, drift = %listed, "drift: components no longer run their desired Artifacts (DriftPolicy warn: not correcting)");
                    self.metrics.drift_detected(false);
                    self.phase(Phase::Drifted {
                        message: format!("drifted: {listed}"),
                    });
                    self.refresh_components(desired.as_deref()).await;
                    return Again::No;
                }
                Decision::Deploy { drift, listed } => {
                    let Some(d) = desired.as_ref() else {
                        unreachable!("decide() deploys only a desired state")
                    };
                    if drift {
                        tracing::warn!(generation = gen, drift = %listed, "drift: correcting");
                        self.metrics.drift_detected(true);
                    }
                    self.deploy(d, drift, &listed).await
                }
            };
            // A look that got as far as asking the engine is a reconcile, as
            // controller-runtime counts them.
            if facts.preview.is_some() {
                self.metrics.reconciled(result, started.elapsed());
            }
            return Again::No;
        }
    }

    /// What this look knows, read from the journal, the store, the memory and the clock.
    fn facts(&mut self, resync: bool, desired: Option<&Desired>) -> Facts {
        let journal = match self.deployer.in_flight() {
            Err(e) => {
                tracing::error!(error = %e, "cannot read the journal");
                Journal::Unreadable {
                    message: e.to_string(),
                }
            }
            Ok(Some(f))
                if f.paused.is_some()
                    || self.memory.value.handoff.as_deref() == Some(&f.deployment) =>
            {
                Journal::HandedOff {
                    manifest: f.manifest,
                    position: f.position,
                }
            }
            Ok(Some(_)) => Journal::Orphaned,
            Ok(None) => {
                if self.memory.value.handoff.is_some() {
                    self.remember(|m| m.handoff = None);
                }
                Journal::Empty
            }
        };
        let gen = desired.map_or(0, |d| d.generation);
        let m = &self.memory.value;
        let failures = m.failures_for(gen);
        Facts {
            journal,
            desired: desired.map(|d| d.generation),
            suspended: m.suspended,
            failures,
            last_error: m.last_error.clone(),
            retry: self.retry(gen, failures),
            backoff_left: self
                .backoff
                .filter(|(g, at)| *g == gen && *at > Instant::now())
                .map(|(_, at)| at.saturating_duration_since(Instant::now())),
            synced: desired.is_some() && m.synced_generation == gen,
            drift: self.settings.drift,
            resync,
            preview: None,
            held: desired.and_then(|d| self.policy_hold(d)),
        }
    }

    /// What the update policy says about the desired Manifest, before any Interface call:
    /// `Some` when it holds it back. The rollback action is the System's own way back and
    /// never held.
    fn policy_hold(&self, d: &Desired) -> Option<(Reason, String)> {
        if self.gates.policy.mode() == PolicyMode::Any || d.origin == Origin::RollbackAction {
            return None;
        }
        let deployed = match self.deployer.deployed_manifests() {
            Ok((current, _)) => current,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the deployed Manifest for the update policy");
                None
            }
        };
        self.gates.policy.hold(&d.manifest, deployed.as_ref())
    }

    /// The policy held generation `gen` back: say so, once in the history.
    fn held(&mut self, d: &Desired, reason: Reason, message: String) {
        let gen = d.generation;
        if self.memory.value.held_generation != Some(gen) {
            let mut e = history::held(
                &d.manifest.manifest.name,
                &d.manifest.sha256,
                gen,
                reason,
                &message,
                clock::now_epoch(),
            );
            e.policy = Some(self.gates.policy.describe());
            tracing::info!(generation = gen, %reason, %message, "update policy: not installed");
            self.metrics.gate_refused(reason);
            if let Err(e) = self.history.push(e) {
                report_persist(&e);
            }
            self.board.finished(self.history.entries());
            self.board.settled(
                gen,
                Settled::Refused {
                    reason,
                    message: message.clone(),
                },
            );
            self.remember(|m| m.held_generation = Some(gen));
        }
        if reason == Reason::NotNewer {
            // Up to date with what was offered: the generation is observed, nothing failed.
            self.remember(|m| m.record_success(gen));
            self.backoff = None;
            self.phase(Phase::UpToDate { reason, message });
        } else {
            self.phase(Phase::Stalled { reason, message });
        }
    }

    /// How generation `gen` is retried after `failures` failures.
    pub(super) fn retry(&self, gen: u64, failures: u32) -> Retry {
        let in_background = self
            .desired
            .current()
            .filter(|d| d.generation == gen)
            .is_none_or(|d| d.origin.retried_in_background());
        Retry {
            in_background,
            exhausted: self.settings.retry.delay(failures).is_none(),
        }
    }

    /// Keeps the preview (status uses it for "in sync") and says what it means.
    fn previewed(&mut self, gen: u64, p: Result<Preview, EngineError>) -> Previewed {
        let facts = deployer::previewed(&p);
        if let Ok(p) = p {
            self.preview = Some((gen, p));
        }
        facts
    }

    pub(super) fn sink(&self) -> Arc<dyn ProgressSink> {
        Arc::new(BoardSink(self.board.clone()))
    }

    /// The deployment status before the engine's first event.
    pub(super) fn begin(&mut self, generation: u64, driver: Driver) {
        let d = self
            .desired
            .current()
            .filter(|d| d.generation == generation);
        let mut s = progress::starting(generation);
        s.driver = driver.as_str().into();
        if let Some(d) = d {
            s.manifest = d.manifest.manifest.name.clone();
            s.manifest_sha256 = d.manifest.sha256.clone();
        }
        self.board.deployment(Some(s));
    }

    async fn deploy(&mut self, desired: &Desired, drift: bool, listed: &str) -> ReconcileResult {
        let gen = desired.generation;
        self.remember(|m| m.deploying = Some(gen));
        self.begin(gen, Driver::Controller);
        let phase = Phase::Progressing {
            reason: if drift {
                Reason::CorrectingDrift
            } else {
                Reason::Deploying
            },
            message: format!(
                "deploying '{}' (generation {gen}): {listed}",
                desired.manifest.manifest.name
            ),
        };
        self.running_phase = Some(phase.clone());
        self.phase(phase);
        // A newer generation ends this deployment while it installed nothing yet.
        self.gates.begin(Some(gen));
        let d = self.deployer.clone();
        let sink = self.sink();
        let opts = run_options(&desired.origin);
        let r = self
            .watched(d.install(desired.manifest.clone(), opts, sink), true)
            .await;
        self.running_phase = None;
        self.board.deployment(None);
        if !matches!(&r, Some(Ok(report)) if report.end.is_final()) {
            // No final report to record: the gates forget whatever they held.
            self.gates.finished();
        }
        if let Some(Ok(report)) = &r {
            if report.end == End::Success {
                self.preview = Some((gen, Preview::InSync));
            }
        }
        // Components first: whoever sees the outcome also sees what the System runs now.
        self.refresh_components(Some(desired)).await;
        match r {
            None => ReconcileResult::Requeue,
            Some(Ok(report)) => {
                let ok = matches!(report.end, End::Success);
                self.finished(report, gen);
                if ok {
                    ReconcileResult::Success
                } else {
                    ReconcileResult::Error
                }
            }
            Some(Err(EngineError::InProgress { manifest, position })) => {
                tracing::info!(%manifest, %position, "a deployment appeared in the journal; looking again");
                self.poke.notify_one();
                ReconcileResult::Requeue
            }
            Some(Err(e)) => {
                self.refused(gen, Reason::EngineError, e.to_string());
                ReconcileResult::Error
            }
        }
    }

    /// Generation `gen` could not be deployed and nothing ran: a failed attempt, and said.
    fn refused(&mut self, gen: u64, reason: Reason, message: String) {
        self.failed(gen, reason, message.clone());
        self.board
            .settled(gen, Settled::Refused { reason, message });
    }

    /// Settles what the journal holds (after a crash or a reboot), unless the Update Module
    /// drives it.
    pub(super) async fn recover(&mut self) {
        self.phase(Phase::Recovering);
        match self.deployer.in_flight() {
            Ok(Some(f))
                if f.paused.is_none()
                    && self.memory.value.handoff.as_deref() != Some(&f.deployment) =>
            {
                tracing::info!(deployment = %f.deployment, position = %f.position, "resuming the deployment found in the journal");
                let gen = self
                    .memory
                    .value
                    .deploying
                    .unwrap_or(self.desired.generation());
                self.begin(gen, Driver::Controller);
                let d = self.deployer.clone();
                let sink = self.sink();
                let r = self
                    .guarded(d.resume(recovery_options(), false, sink))
                    .await;
                self.board.deployment(None);
                match r {
                    None => {}
                    Some(Ok(report)) => self.finished(report, gen),
                    Some(Err(e)) => {
                        tracing::error!(error = %e, "cannot resume the deployment in the journal");
                        self.failed(gen, Reason::EngineError, e.to_string());
                    }
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot read the journal"),
        }
    }

    /// A deployment the controller drove ended (or paused): record it, then count it as the
    /// desired generation's success or failure.
    fn finished(&mut self, report: DeploymentReport, gen: u64) {
        if report.end.is_final() {
            self.remember(|m| m.deploying = None);
            let sha = self
                .desired
                .current()
                .filter(|d| d.generation == gen)
                .map(|d| d.manifest.sha256.clone())
                .unwrap_or_default();
            self.record_finished(&report, gen, &sha, Driver::Controller);
        }
        let settled = report.end.is_final().then(|| Settled::Deployed {
            end: report.end.clone(),
        });
        tracing::info!(deployment = %report.deployment, manifest = %report.manifest, end = ?report.end, "deployment ended");
        match end_failure(&report.end) {
            None => {
                self.preview = Some((gen, Preview::InSync));
                self.succeeded(gen);
            }
            Some((reason, message)) => self.failed(gen, reason, message),
        }
        // After the status says how it ended, so a follower that reads it sees it so.
        if let Some(settled) = settled {
            self.board.settled(gen, settled);
        }
    }

    /// The one place a finished deployment is told: its history entry, the metrics, and
    /// the status board (whoever drove it).
    pub(super) fn record_finished(
        &mut self,
        report: &DeploymentReport,
        generation: u64,
        sha256: &str,
        driver: Driver,
    ) {
        let mut entry = history::entry(report, generation, sha256, driver);
        entry.policy = Some(self.gates.policy.describe());
        entry.waited_seconds = self.gates.finished().as_secs();
        self.metrics.deployment_finished(&entry);
        if let Some(reason) = entry.reason {
            self.metrics.gate_refused(reason);
        }
        if let Err(e) = self.history.push(entry) {
            report_persist(&e);
        }
        self.board.finished(self.history.entries());
        self.gates.learn(self.history.entries());
    }

    pub(super) fn succeeded(&mut self, gen: u64) {
        self.remember(|m| m.record_success(gen));
        self.backoff = None;
        self.phase(Phase::InSync);
    }

    pub(super) fn failed(&mut self, gen: u64, reason: Reason, message: String) {
        let mut n = 0;
        self.remember(|m| n = m.record_failure(gen, reason, message.clone()));
        let retry = self.retry(gen, n);
        match decide::next_attempt(&self.settings.retry, retry.in_background, n) {
            Some(wait) => {
                tracing::warn!(generation = gen, attempt = n, ?wait, %reason, %message, "reconcile failed; retrying after a backoff");
                self.backoff = Some((gen, Instant::now() + wait));
                self.phase(Phase::Failed {
                    reason,
                    message: format!("{message} (attempt {n}; next in {}s)", wait.as_secs()),
                });
            }
            None => {
                tracing::error!(generation = gen, attempts = n, %reason, %message, "reconcile failed; not retried: stalled");
                self.backoff = None;
                self.phase(decide::stalled(n, Some(&(reason, message)), retry));
            }
        }
    }

    pub(super) async fn refresh_components(&mut self, desired: Option<&Desired>) {
        let d = self.deployer.clone();
        let Some(obs) = self.guarded(d.observe()).await else {
            return;
        };
        match obs {
            Ok(obs) => {
                let preview = self
                    .preview
                    .as_ref()
                    .filter(|(g, _)| Some(*g) == desired.map(|d| d.generation))
                    .map(|(_, p)| p);
                self.board.components(components(
                    &obs,
                    desired.map(|d| &d.manifest.manifest),
                    preview,
                ));
                let version = obs.system_version.clone();
                self.board.update(|s| s.system_version = version);
            }
            Err(e) => tracing::warn!(error = %e, "cannot observe the components"),
        }
    }

    /// Copies what the memory and the store say into the status document.
    pub(super) fn publish(&self) {
        let desired = self.desired.current();
        let gen = self.desired.generation();
        let m = &self.memory.value;
        let next = self.backoff.filter(|(g, _)| *g == gen).map(|(_, at)| {
            let left = at.saturating_duration_since(Instant::now());
            clock::rfc3339(clock::now_epoch() + left.as_secs())
        });
        self.board.update(|s| {
            s.generation = gen;
            s.observed_generation = m.synced_generation;
            s.desired_manifest = desired.as_ref().map(|d| d.manifest.manifest.name.clone());
            s.suspended = m.suspended;
            s.failures = m.failures_for(gen);
            s.next_attempt_at = next;
        });
        let next_window = self.gates.next_window_at();
        self.metrics
            .next_window(next_window.map(gates::clock::epoch));
        self.board.gate(
            self.gate_rx.borrow().clone(),
            next_window.map(gates::clock::stamp),
        );
    }

    pub(super) fn phase(&self, p: Phase) {
        self.board.phase(&p, self.desired.generation());
        self.publish();
    }
}
