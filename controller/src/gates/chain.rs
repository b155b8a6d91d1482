//! [`Gates`]: the one [`Gate`] the engine is given. It asks the gates in a fixed order at
//! each point, answers with the first that does not proceed, and tells status what the
//! deployment waits for ([`Gates::subscribe`]) and for how long it waited in all.
//!
//! A wait is handed to the engine with `until` [`REASK`] from now, so the engine asks again
//! within a second (an answer, a released lock, a newer generation are seen at once);
//! status shows the gate's own `until` (the window's start, the deferral's end).
//!
//! | point | asked, in order |
//! |---|---|
//! | `BeforeFirstState` | supersede, disk space, maintenance window (fit rule) |
//! | `BeforePhase(p)` | supersede (Download, Install), owner consent |
//! | `BeforeDisruptive` | supersede, maintenance window (open), update locks |
//! | `BeforeCommit` | health soak |

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::time::Instant;

use super::clock::{self, Clock};
use super::consent::{ConsentGate, Desk};
use super::health::HealthGate;
use super::locks::LockGate;
use super::policy::Policy;
use super::seam::{deployment_of, BoxFuture, Gate, GateContext, GatePoint, Verdict, REASK};
use super::settings::GateSettings;
use super::space::SpaceGate;
use super::supersede::{Newest, SupersedeGate};
use super::window_gate::WindowGate;
use crate::interface::runner::Runner;
use crate::model::{GateStatus, Reason};
use std::path::PathBuf;

/// What the gates need from the rest of baton.
pub struct GateParts {
    /// Runs the health checks (the Interfaces' runner).
    pub runner: Runner,
    pub clock: Arc<dyn Clock>,
    /// The datastore: the deployment's File API directories are written there.
    pub datastore: PathBuf,
}

/// Where one deployment stands with waiting.
#[derive(Default)]
struct Ledger {
    /// The wait in progress: its reason, since (tokio, wall).
    current: Option<(Reason, Instant, SystemTime)>,
    /// Time spent in waits that held the deployment back (not the health soak, which is
    /// part of its work).
    held: Duration,
}

impl Ledger {
    fn close(&mut self) {
        if let Some((reason, at, _)) = self.current.take() {
            if reason != Reason::HealthSoak {
                self.held += at.elapsed();
            }
        }
    }
}

pub struct Gates {
    pub policy: Policy,
    pub windows: WindowGate,
    pub space: SpaceGate,
    pub locks: LockGate,
    pub consent: ConsentGate,
    pub health: HealthGate,
    pub supersede: SupersedeGate,
    clock: Arc<dyn Clock>,
    waits: watch::Sender<Option<GateStatus>>,
    ledgers: Mutex<BTreeMap<String, Ledger>>,
}

impl Gates {
    pub fn new(s: GateSettings, parts: GateParts) -> Self {
        let desk = Arc::new(Desk::new(
            s.consent_timeout_seconds,
            s.consent_on_timeout,
            parts.clock.clone(),
        ));
        Self {
            policy: s.policy,
            windows: WindowGate::new(s.windows, parts.clock.clone()),
            space: SpaceGate::new(s.min_free_bytes, parts.datastore),
            locks: LockGate::new(s.locks_dir, s.lock_timeout_seconds),
            consent: ConsentGate::new(desk, s.consent_before),
            health: HealthGate::new(
                parts.runner,
                s.health_checks,
                s.soak_seconds,
                s.interval_seconds,
                s.check_timeout_seconds,
                parts.clock.clone(),
            ),
            supersede: SupersedeGate::default(),
            clock: parts.clock,
            waits: watch::channel(None).0,
            ledgers: Mutex::new(BTreeMap::new()),
        }
    }

    /// The gates the configuration asks for, on the system's clock, for the System whose
    /// datastore is `datastore`; `Err` names every problem of the gate keys.
    pub fn configured(
        cfg: &crate::config::Config,
        datastore: &std::path::Path,
    ) -> Result<Self, Vec<String>> {
        Ok(Self::on_system_clock(
            GateSettings::from_config(cfg)?,
            datastore,
        ))
    }

    /// [`Gates::configured`] for a CLI verb that deploys in-process (no daemon serves the
    /// datastore): nobody could answer a consent question there, and the person who runs
    /// the command has consented by running it, so `OwnerConsent` does not ask. The other
    /// gates hold as they do for the controller.
    pub fn for_command(
        cfg: &crate::config::Config,
        datastore: &std::path::Path,
    ) -> Result<Self, Vec<String>> {
        let mut settings = GateSettings::from_config(cfg)?;
        settings.consent_before.clear();
        Ok(Self::on_system_clock(settings, datastore))
    }

    fn on_system_clock(settings: GateSettings, datastore: &std::path::Path) -> Self {
        use crate::interface::runner::RunnerConfig;
        Self::new(
            settings,
            GateParts {
                // Health checks run as Interfaces do: the same environment rules and bounds.
                runner: Runner::new(RunnerConfig::default()),
                clock: Arc::new(clock::SystemClock),
                datastore: datastore.to_path_buf(),
            },
        )
    }

    /// The owner's consent desk (the API, the CLI and Kanto answer through it).
    pub fn desk(&self) -> &Arc<Desk> {
        &self.consent.desk
    }

    /// What the deployment in flight waits for; changes with every wait and its end.
    pub fn subscribe(&self) -> watch::Receiver<Option<GateStatus>> {
        self.waits.subscribe()
    }

    /// `--force`: the next update lock check passes.
    pub fn force_locks_once(&self) {
        self.locks.force_once();
    }

    /// The history changed (at start, after every deployment): the expected duration
    /// follows it.
    pub fn learn(&self, history: &[crate::model::HistoryEntry]) {
        self.windows.learn(history);
    }

    /// The next maintenance window's start, while none is open.
    pub fn next_window_at(&self) -> Option<SystemTime> {
        self.windows.next_window_at()
    }

    /// The newest desired generation is read from `newest` (the controller's desired-state
    /// store): a newer one supersedes a deployment that installed nothing yet.
    pub fn follow(&self, newest: Newest) {
        self.supersede.follow(newest);
    }

    /// The controller starts a deployment of `generation` (`None`: one a newer generation
    /// must not end, such as an Update Module hand-off).
    pub fn begin(&self, generation: Option<u64>) {
        self.supersede.begin(generation);
    }

    /// The deployment in flight ended (or stopped for now): every gate forgets it (under
    /// its id and under the `""` it was asked as before the first state); returns how long
    /// it was held back at gates. The engine runs one deployment at a time, so this is
    /// everything the gates remember of deployments.
    pub fn finished(&self) -> Duration {
        let ended = std::mem::take(&mut *self.ledgers.lock().unwrap_or_else(|p| p.into_inner()));
        let mut held = Duration::ZERO;
        for (d, mut ledger) in ended {
            ledger.close();
            held += ledger.held;
            self.consent.desk.withdraw(&d);
            self.locks.finished(&d);
            self.health.finished(&d);
        }
        self.supersede.begin(None);
        self.waits.send_if_modified(|w| w.take().is_some());
        held
    }

    /// Keeps the ledger and the published wait in step with a verdict.
    fn note(&self, ctx: &GateContext, v: &Verdict) {
        let mut ledgers = self.ledgers.lock().unwrap_or_else(|p| p.into_inner());
        let ledger = ledgers.entry(deployment_of(ctx).to_string()).or_default();
        let Verdict::Wait {
            reason,
            until,
            message,
        } = v
        else {
            ledger.close();
            drop(ledgers);
            self.waits.send_if_modified(|w| w.take().is_some());
            return;
        };
        if ledger.current.as_ref().is_none_or(|(r, _, _)| r != reason) {
            ledger.close();
            ledger.current = Some((*reason, Instant::now(), self.clock.wall()));
        }
        let since = ledger
            .current
            .as_ref()
            .map(|c| c.2)
            .unwrap_or_else(|| self.clock.wall());
        drop(ledgers);
        let status = GateStatus {
            reason: *reason,
            message: message.clone(),
            deployment: deployment_of(ctx).to_string(),
            since: clock::stamp(since),
            until: until.map(clock::stamp),
            consent: (*reason == Reason::AwaitingConsent)
                .then(|| self.consent.desk.open_question())
                .flatten(),
            locks: if *reason == Reason::UpdateLocked {
                self.locks.holders()
            } else {
                vec![]
            },
        };
        self.waits.send_if_modified(|w| {
            let changed = w.as_ref() != Some(&status);
            *w = Some(status);
            changed
        });
    }

    async fn ask(&self, ctx: &GateContext) -> Verdict {
        let order: &[&dyn Gate] = match ctx.point {
            GatePoint::BeforeFirstState => &[&self.supersede, &self.space, &self.windows],
            GatePoint::BeforePhase(_) => &[&self.supersede, &self.consent],
            GatePoint::BeforeDisruptive => &[&self.supersede, &self.windows, &self.locks],
            GatePoint::BeforeCommit => &[&self.health],
        };
        for g in order {
            let v = g.check(ctx).await;
            if v != Verdict::Proceed {
                return v;
            }
        }
        Verdict::Proceed
    }
}

impl Gate for Gates {
    fn check<'a>(&'a self, ctx: &'a GateContext) -> BoxFuture<'a, Verdict> {
        Box::pin(async move {
            let v = self.ask(ctx).await;
            let (deployment, point) = (deployment_of(ctx), ctx.point);
            match &v {
                Verdict::Proceed => {}
                Verdict::Wait {
                    reason, message, ..
                } => {
                    tracing::debug!(deployment, %point, %reason, %message, "gate: waiting")
                }
                Verdict::Refuse { reason, message } => {
                    tracing::warn!(deployment, %point, %reason, %message, "gate: refused")
                }
            }
            self.note(ctx, &v);
            soon(v)
        })
    }
}

/// A wait as the engine is told it: ask again within [`REASK`] (status keeps the gate's own
/// `until`, on the gates' clock). The engine measures `until` against the system's clock.
#[allow(clippy::disallowed_methods)] // `until` is read against the system's clock (driver::pass)
fn soon(v: Verdict) -> Verdict {
    match v {
        Verdict::Wait {
            reason, message, ..
        } => Verdict::Wait {
            reason,
            until: Some(SystemTime::now() + REASK),
            message,
        },
        v => v,
    }
}
