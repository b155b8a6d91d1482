//! The reconciler: one loop, one deployment at a time, level-triggered.
//!
//! Every wake-up (a poke from a source, the resync timer, the end of a backoff, an action)
//! leads to the same question: what does the journal hold, what is desired, what does the
//! System run now? The answer never depends on what woke the loop. The newest desired
//! generation wins: a generation applied while a deployment runs is simply what the next
//! look finds. A running deployment is never aborted, not by a new generation and not by
//! SIGTERM (it gets a grace period; the journal makes the next start resume it).
//!
//! The loop also feeds systemd's watchdog, including while an engine call runs, so a stuck
//! loop (not a slow Interface) is what systemd detects.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify};
use tokio::time::{sleep_until, Instant, Interval};
use tokio_util::sync::CancellationToken;

use super::backoff::RetryPolicy;
use super::board::{Board, BoardSink};
use super::clock;
use super::commands::{Action, ActionError, ActionReply, Command, Handle, Handoff, HandoffError};
use super::components::components;
use super::conditions::Phase;
use super::desired::{Desired, DesiredStore};
use super::history::{self, Driver, History};
use super::memory::MemoryFile;
use super::sd_notify::Notifier;
use crate::config::DriftPolicy;
use crate::durable::PersistError;
use crate::engine::api::RunOptions;
use crate::engine::api::{
    Deployer, DeploymentReport, End, EngineError, Preview, Problem, ProgressSink,
};
use crate::metrics::{Metrics, ReconcileResult};

/// How the reconciler behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    pub retry: RetryPolicy,
    /// Observe the System this often when nothing happens (jittered by ±10 %).
    pub resync: Duration,
    pub drift: DriftPolicy,
    /// How long a running engine call may go on after SIGTERM.
    pub grace: Duration,
}

/// Everything the reconciler owns.
pub struct Reconciler {
    deployer: Arc<dyn Deployer>,
    desired: Arc<DesiredStore>,
    memory: MemoryFile,
    history: History,
    board: Arc<Board>,
    metrics: Metrics,
    settings: Settings,
    rx: mpsc::Receiver<Command>,
    poke: Arc<Notify>,
    ready: watch::Sender<bool>,
    notifier: Option<Notifier>,
    watchdog: Option<Interval>,
    shutdown: CancellationToken,
    /// The generation a backoff is for, and when it ends.
    backoff: Option<(u64, Instant)>,
    /// The last preview of the desired generation.
    preview: Option<(u64, Preview)>,
    /// Pseudo-random state for the resync jitter.
    rng: u64,
    /// Hand-offs that arrived during a short engine call (observe, preview): served next.
    deferred: std::collections::VecDeque<Command>,
}

/// Whether a reconcile wants another look right away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Again {
    No,
    Now,
}

impl Reconciler {
    /// Builds the reconciler and the handle the sources and the API use.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        deployer: Arc<dyn Deployer>,
        desired: Arc<DesiredStore>,
        memory: MemoryFile,
        history: History,
        metrics: Metrics,
        settings: Settings,
        notifier: Option<Notifier>,
        shutdown: CancellationToken,
    ) -> (Self, Handle) {
        let (tx, rx) = mpsc::channel(64);
        let poke = Arc::new(Notify::new());
        let board = Arc::new(Board::with_metrics(metrics.clone()));
        let (ready_tx, ready_rx) = watch::channel(false);
        let handle = Handle {
            tx,
            poke: poke.clone(),
            board: board.clone(),
            desired: desired.clone(),
            ready: ready_rx,
        };
        let rng = settings.retry.seed | 1;
        let me = Self {
            deployer,
            desired,
            memory,
            history,
            board,
            metrics,
            settings,
            rx,
            poke,
            ready: ready_tx,
            notifier,
            watchdog: None,
            shutdown,
            backoff: None,
            preview: None,
            rng,
            deferred: Default::default(),
        };
        (me, handle)
    }

    /// Runs until shutdown: replays the journal, says READY, then reconciles.
    pub async fn run(mut self) {
        self.watchdog = self
            .notifier
            .as_ref()
            .and_then(Notifier::watchdog_interval)
            .map(tokio::time::interval);
        self.board.history(self.history.entries());
        self.publish();
        self.recover().await;
        // A failure count that survived a restart still spaces the next attempt.
        let gen = self.desired.generation();
        let failures = self.memory.value.failures_for(gen);
        if failures > 0 {
            if let Some(d) = self.settings.retry.delay(failures) {
                self.backoff = Some((gen, Instant::now() + d));
            }
        }
        self.ready.send_replace(true);
        if let Some(n) = &self.notifier {
            n.tell("READY=1\nSTATUS=reconciling");
        }
        let mut next_resync = Instant::now() + self.resync_delay();
        let mut dirty = true;
        let mut resync = true;
        while !self.shutdown.is_cancelled() {
            if let Some(cmd) = self.deferred.pop_front() {
                dirty |= self.command(cmd, false).await;
                continue;
            }
            if dirty {
                let again = self.reconcile(std::mem::take(&mut resync)).await;
                dirty = again == Again::Now;
                continue;
            }
            let backoff_end = self.backoff.map(|(_, at)| at);
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => break,
                Some(cmd) = self.rx.recv() => dirty = self.command(cmd, false).await,
                _ = self.poke.notified() => dirty = true,
                _ = sleep_until(backoff_end.unwrap_or_else(Instant::now)), if backoff_end.is_some() => {
                    self.backoff = None;
                    dirty = true;
                }
                _ = sleep_until(next_resync) => {
                    next_resync = Instant::now() + self.resync_delay();
                    resync = true;
                    dirty = true;
                }
                _ = tick(&mut self.watchdog) => self.feed_watchdog(),
            }
        }
        if let Some(n) = &self.notifier {
            n.tell("STOPPING=1");
        }
        tracing::info!("reconciler stopped");
    }

    fn resync_delay(&mut self) -> Duration {
        // xorshift64: enough to keep a fleet from resyncing in lockstep.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let spread = (self.rng % 2001) as f64 / 10_000.0 - 0.1; // -10 % .. +10 %
        self.settings.resync.mul_f64(1.0 + spread)
    }

    fn feed_watchdog(&self) {
        if let Some(n) = &self.notifier {
            n.tell("WATCHDOG=1");
        }
    }

    /// Copies what the memory and the store say into the status document.
    fn publish(&self) {
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
    }

    fn phase(&self, p: Phase) {
        self.board.phase(&p, self.desired.generation());
        self.publish();
    }

    fn remember(&mut self, f: impl FnOnce(&mut super::memory::Memory)) {
        if let Err(e) = self.memory.update(f) {
            report_persist(&e);
        }
    }

    /// [`Reconciler::watched`] for a short engine call (observe, preview): a hand-off that
    /// arrives meanwhile waits for it instead of being refused.
    async fn guarded<T>(&mut self, fut: impl Future<Output = T>) -> Option<T> {
        self.watched(fut, false).await
    }

    /// Polls `fut` while still feeding the watchdog and answering commands; a hand-off is
    /// refused while `deploying` (a deployment may take hours). After a shutdown request
    /// `fut` gets the grace period; `None` when it was abandoned.
    async fn watched<T>(&mut self, fut: impl Future<Output = T>, deploying: bool) -> Option<T> {
        tokio::pin!(fut);
        let mut deadline: Option<Instant> = None;
        loop {
            tokio::select! {
                biased;
                r = &mut fut => return Some(r),
                _ = self.shutdown.cancelled(), if deadline.is_none() => {
                    tracing::warn!(grace = ?self.settings.grace,
                        "shutdown requested: letting the running engine call finish");
                    deadline = Some(Instant::now() + self.settings.grace);
                }
                _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    tracing::warn!("grace period over: leaving the deployment to the journal");
                    return None;
                }
                Some(cmd) = self.rx.recv() => {
                    if !deploying && matches!(cmd, Command::Handoff(..)) {
                        self.deferred.push_back(cmd);
                    } else {
                        Box::pin(self.command(cmd, true)).await;
                    }
                }
                _ = tick(&mut self.watchdog) => self.feed_watchdog(),
            }
        }
    }

    /// Handles a command; true when the desired state or the rules changed.
    async fn command(&mut self, cmd: Command, busy: bool) -> bool {
        match cmd {
            Command::Query(q, reply) => {
                let d = self.deployer.clone();
                tokio::spawn(async move {
                    use super::commands::{Answer, Query};
                    let answer = match q {
                        Query::Provides => d.observe().await.map(Answer::Provides),
                        Query::Inventory => d.inventory().await.map(Answer::Inventory),
                        Query::Journal => d.journal().await.map(Answer::Journal),
                    };
                    let _ = reply.send(answer);
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
                    .apply(target, "rollback", None)
                    .map_err(|e| ActionError::Failed(e.to_string()))?;
                tracing::info!(generation = g, manifest = %name, "rollback action: last good Manifest is desired again");
                Ok(ActionReply {
                    generation: g,
                    message: format!("'{name}' is desired again (generation {g})"),
                })
            }
        }
    }

    /// Before the first reconcile: finish what the journal holds (after a crash or a
    /// reboot), unless the Update Module drives it.
    async fn recover(&mut self) {
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
                    .guarded(d.resume(RunOptions::default(), false, sink))
                    .await;
                self.board.deployment(None);
                match r {
                    None => {}
                    Some(Ok(report)) => self.finished(report, gen, Driver::Controller),
                    Some(Err(e)) => {
                        tracing::error!(error = %e, "cannot resume the deployment in the journal");
                        self.failed(gen, "ResumeFailed", e.to_string());
                    }
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot read the journal"),
        }
    }

    fn sink(&self) -> Arc<dyn ProgressSink> {
        Arc::new(BoardSink(self.board.clone()))
    }

    fn begin(&mut self, generation: u64, driver: Driver) {
        let d = self
            .desired
            .current()
            .filter(|d| d.generation == generation);
        let mut s = super::progress::starting(generation);
        s.driver = driver.as_str().into();
        if let Some(d) = d {
            s.manifest = d.manifest.manifest.name.clone();
            s.manifest_sha256 = d.manifest.sha256.clone();
        }
        self.board.deployment(Some(s));
    }

    /// One look: journal, desired, observed; at most one engine deployment.
    async fn reconcile(&mut self, resync: bool) -> Again {
        let started = Instant::now();
        self.publish();
        // The journal first: a deployment in it is finished before anything new starts.
        match self.deployer.in_flight() {
            Err(e) => {
                tracing::error!(error = %e, "cannot read the journal");
                let gen = self.desired.generation();
                self.failed(gen, "JournalUnreadable", e.to_string());
                return Again::No;
            }
            Ok(Some(f)) => {
                if f.paused.is_some() || self.memory.value.handoff.as_deref() == Some(&f.deployment)
                {
                    self.phase(Phase::HandedOff {
                        message: format!(
                            "'{}' {}: waiting for the Update Module",
                            f.manifest, f.position
                        ),
                    });
                    return Again::No;
                }
                // Left by a crash of an in-process CLI run, or by us before a restart.
                self.recover().await;
                return Again::Now;
            }
            Ok(None) => {
                if self.memory.value.handoff.is_some() {
                    self.remember(|m| m.handoff = None);
                }
            }
        }
        let Some(desired) = self.desired.current() else {
            self.phase(Phase::NoDesiredState);
            if resync {
                self.refresh_components(None).await;
            }
            return Again::No;
        };
        let gen = desired.generation;
        if self.memory.value.suspended {
            tracing::debug!(generation = gen, "suspended: not reconciling");
            self.phase(Phase::Suspended);
            return Again::No;
        }
        let failures = self.memory.value.failures_for(gen);
        if self.settings.retry.delay(failures).is_none() {
            let (reason, message) = self.memory.value.last_error.clone().unwrap_or_default();
            self.phase(Phase::Stalled {
                reason: "RetryLimitReached".into(),
                message: format!(
                    "gave up after {failures} failed attempts (last: {reason}: {message}); \
                     apply a new Manifest or POST /v1/actions/retry"
                ),
            });
            return Again::No;
        }
        if let Some((g, at)) = self.backoff {
            if g == gen && at > Instant::now() {
                // Level, not edge: after a restart the status must say so too.
                let (reason, message) = self.memory.value.last_error.clone().unwrap_or_default();
                let left = at.saturating_duration_since(Instant::now()).as_secs();
                self.phase(Phase::Failed {
                    reason: if reason.is_empty() {
                        "DeploymentFailed".into()
                    } else {
                        reason
                    },
                    message: format!("{message} (attempt {failures}; next in {left}s)"),
                });
                return Again::No;
            }
        }
        let synced = self.memory.value.synced_generation == gen;
        if synced && self.settings.drift == DriftPolicy::Disabled {
            if resync {
                self.refresh_components(Some(&desired)).await;
            }
            self.phase(Phase::InSync);
            return Again::No;
        }
        let d = self.deployer.clone();
        let Some(preview) = self.guarded(d.preview(desired.manifest.clone())).await else {
            return Again::No;
        };
        let result = match preview {
            Err(e) => {
                self.failed(gen, "PreviewFailed", e.to_string());
                ReconcileResult::Error
            }
            Ok(Preview::Rejected { problems }) => {
                self.preview = Some((
                    gen,
                    Preview::Rejected {
                        problems: problems.clone(),
                    },
                ));
                self.failed(gen, "Rejected", Problem::join(&problems, "; "));
                ReconcileResult::Error
            }
            Ok(Preview::InSync) => {
                self.preview = Some((gen, Preview::InSync));
                // Components first: whoever sees Ready also sees them in sync.
                self.refresh_components(Some(&desired)).await;
                self.succeeded(gen);
                ReconcileResult::Success
            }
            Ok(Preview::Changes {
                components: changes,
            }) => {
                let listed = changes
                    .iter()
                    .map(|c| {
                        format!(
                            "{} {} -> {}",
                            c.component.component_type, c.component.id, c.to_artifact
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                self.preview = Some((
                    gen,
                    Preview::Changes {
                        components: changes,
                    },
                ));
                if synced && self.settings.drift == DriftPolicy::Warn {
                    tracing::warn!(generation = gen, drift = %listed, "drift: components no longer run their desired Artifacts (DriftPolicy warn: not correcting)");
                    self.metrics.drift_detected(false);
                    self.phase(Phase::Drifted {
                        message: format!("drifted: {listed}"),
                    });
                    self.refresh_components(Some(&desired)).await;
                    return Again::No;
                }
                if synced {
                    tracing::warn!(generation = gen, drift = %listed, "drift: correcting");
                    self.metrics.drift_detected(true);
                }
                self.deploy(&desired, synced, &listed).await
            }
        };
        self.metrics.reconciled(result, started.elapsed());
        Again::No
    }

    async fn deploy(&mut self, desired: &Desired, drift: bool, listed: &str) -> ReconcileResult {
        let gen = desired.generation;
        self.remember(|m| m.deploying = Some(gen));
        self.begin(gen, Driver::Controller);
        self.phase(Phase::Progressing {
            reason: if drift {
                "CorrectingDrift"
            } else {
                "Deploying"
            }
            .into(),
            message: format!(
                "deploying '{}' (generation {gen}): {listed}",
                desired.manifest.manifest.name
            ),
        });
        let d = self.deployer.clone();
        let sink = self.sink();
        // The rollback action returns to the last good Manifest on purpose: the System's own
        // rollback, which DowngradeProtection lets through.
        let opts = RunOptions {
            allow_downgrade: desired.origin == "rollback",
            ..RunOptions::default()
        };
        let r = self
            .watched(d.install(desired.manifest.clone(), opts, sink), true)
            .await;
        self.board.deployment(None);
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
                self.finished(report, gen, Driver::Controller);
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
                self.failed(gen, "EngineError", e.to_string());
                ReconcileResult::Error
            }
        }
    }

    /// Records how a deployment the controller drove ended.
    fn finished(&mut self, report: DeploymentReport, gen: u64, driver: Driver) {
        let sha = self
            .desired
            .current()
            .filter(|d| d.generation == gen)
            .map(|d| d.manifest.sha256.clone())
            .unwrap_or_default();
        if history::is_final(&report.end) {
            self.remember(|m| m.deploying = None);
            let entry = history::entry(&report, gen, &sha, driver);
            self.metrics.deployment_finished(&entry);
            if let Err(e) = self.history.push(entry) {
                report_persist(&e);
            }
            self.board.history(self.history.entries());
        }
        tracing::info!(deployment = %report.deployment, manifest = %report.manifest, end = ?report.end, "deployment ended");
        match report.end {
            End::Success => {
                self.preview = Some((gen, Preview::InSync));
                self.succeeded(gen);
            }
            End::RolledBack {
                failed_at, message, ..
            } => self.failed(
                gen,
                &history::failed_reason(&failed_at),
                format!("{failed_at}: {message}; rolled back"),
            ),
            End::Inconsistent {
                failed_at,
                message,
                components,
                ..
            } => self.failed(
                gen,
                "Inconsistent",
                history::inconsistent(&failed_at, &message, &components),
            ),
            End::Rejected { problems } => {
                self.failed(gen, "Rejected", Problem::join(&problems, "; "))
            }
            End::Paused { before, .. } => self.failed(
                gen,
                "Paused",
                format!("the engine paused before {before:?}"),
            ),
            End::AwaitingReboot => {
                self.failed(gen, "RebootFailed", "the host was not rebooted".into())
            }
        }
    }

    fn succeeded(&mut self, gen: u64) {
        self.remember(|m| m.record_success(gen));
        self.backoff = None;
        self.phase(Phase::InSync);
    }

    fn failed(&mut self, gen: u64, reason: &str, message: String) {
        let mut n = 0;
        self.remember(|m| n = m.record_failure(gen, reason.to_string(), message.clone()));
        match self.settings.retry.delay(n) {
            Some(wait) => {
                tracing::warn!(generation = gen, attempt = n, ?wait, reason, %message, "reconcile failed; retrying after a backoff");
                self.backoff = Some((gen, Instant::now() + wait));
                self.phase(Phase::Failed {
                    reason: reason.to_string(),
                    message: format!("{message} (attempt {n}; next in {}s)", wait.as_secs()),
                });
            }
            None => {
                tracing::error!(generation = gen, attempts = n, reason, %message, "reconcile failed; retry limit reached: stalled");
                self.backoff = None;
                self.phase(Phase::Stalled {
                    reason: "RetryLimitReached".into(),
                    message: format!(
                        "gave up after {n} failed attempts (last: {reason}: {message}); \
                         apply a new Manifest or POST /v1/actions/retry"
                    ),
                });
            }
        }
    }

    async fn refresh_components(&mut self, desired: Option<&Desired>) {
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
            }
            Err(e) => tracing::warn!(error = %e, "cannot observe the components"),
        }
    }

    /// Runs an Update Module hand-off through the engine.
    async fn handoff(&mut self, h: Handoff) -> Result<DeploymentReport, HandoffError> {
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
        let report = r.ok_or(HandoffError::ShuttingDown)??;
        if !history::is_final(&report.end) {
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
                        match self.desired.apply(cur, "update-module", None) {
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
        let entry = history::entry(&report, generation, &sha, Driver::UpdateModule);
        self.metrics.deployment_finished(&entry);
        if let Err(e) = self.history.push(entry) {
            report_persist(&e);
        }
        self.board.history(self.history.entries());
        self.publish();
        Ok(report)
    }
}

fn report_persist(e: &PersistError) {
    tracing::error!(error = %e, "cannot persist the controller's state");
}

/// The next watchdog tick, or never.
async fn tick(i: &mut Option<Interval>) {
    match i {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}
