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
//!
//! The parts: [`decide`] (pure: what one look does, from facts), `act` (gathers the facts,
//! acts on the decision, records how deployments end), `answer` (actions and Update Module
//! hand-offs), and this file (the loop: wake-ups, the watchdog, the shutdown grace).

mod act;
mod answer;
pub mod decide;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify};
use tokio::time::{sleep_until, Instant, Interval};
use tokio_util::sync::CancellationToken;

use super::backoff::RetryPolicy;
use super::commands::{Command, Handle};
use super::desired::DesiredStore;
use super::memory::MemoryFile;
use super::sd_notify::Notifier;
use super::status::history::History;
use super::status::Board;
use crate::config::DriftPolicy;
use crate::durable::persist::PersistError;
use crate::engine::api::{Deployer, Preview};
use crate::metrics::Metrics;

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
            let in_background = self.retry(gen, failures).in_background;
            if let Some(d) = decide::next_attempt(&self.settings.retry, in_background, failures) {
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
