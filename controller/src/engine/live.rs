//! The live engine: the [`Deployer`] baton runs, over the datastore, the journal, real
//! Interfaces and real Artifacts.
//!
//! One `Engine` per process holds the datastore lock, so two batons never act on one System.
//! Operations are serialized: one deployment at a time, and nothing observes the System while
//! a deployment changes it (reads answer from the last observation then, see [`super::kept`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tracing::Instrument;

use super::api::Deployer;
use super::driver::{drive, recover, Observer, RunOptions, SafePoints};
use super::ending::{self, changes, in_flight_of, now};
use super::error::EngineError;
use super::exec::{ExecSettings, LiveExecutor};
use super::gate::{BoxFuture, Gate, GateContext, GatePhase, GatePoint, Open};
use super::journal::Journal;
use super::kept::Kept;
use super::machine::{Deployment, Step, StepResult};
use super::plan::Plan;
use super::progress::{Progress, ProgressSink};
use super::record::DeploymentRecord;
use super::report::{
    DeploymentReport, End, InFlight, Inventory, JournalView, Observation, Preview,
};
use super::review::PlanReport;
use super::store::{ManifestStore, Slot, StoredMeta};
use crate::artifact::cache::{ArtifactsCache, CacheConfig};
use crate::artifact::source::{ClientCertificate, HttpOptions, Resolver};
use crate::artifact::{Limits, VerifyPolicy};
use crate::config::Effective;
use crate::durable::DatastoreLock;
use crate::interface::runner::{Runner, RunnerConfig};
use crate::metrics::Metrics;
use crate::model::ComponentType;
use crate::resource::{self, LoadedManifest};

/// How long the reboot command has to take baton down (Mender waits 10 minutes too).
pub const REBOOT_GRACE: Duration = Duration::from_secs(600);

/// The journal's record and the journal itself: one lock for both keeps them in step.
pub(super) struct Books {
    pub journal: Journal,
    pub record: Option<DeploymentRecord>,
}

pub struct Engine {
    pub(super) eff: Effective,
    pub(super) metrics: Metrics,
    pub(super) runner: Runner,
    pub(super) settings: ExecSettings,
    pub(super) resolver: Arc<Resolver>,
    pub(super) store: ManifestStore,
    pub(super) books: Mutex<Books>,
    /// The gates between plan and execute.
    gate: Arc<dyn Gate>,
    /// What `in_flight` and a busy `journal` answer, kept current while a deployment runs.
    pub(super) snapshot: Snapshot,
    /// Why the journal's newest generation was unusable at open, if it was.
    pub(super) fell_back: Option<String>,
    /// The last observation (see [`super::kept`]).
    pub(super) last: std::sync::Mutex<Option<Kept>>,
    /// How long a read waits for a short engine call ([`super::kept::BUSY_WAIT`]).
    pub(super) busy_wait: Duration,
    /// Set while an install, resume or rollback holds the books: reads do not wait then.
    pub(super) deploying: std::sync::atomic::AtomicBool,
    /// Headers the last preview downloaded (see [`super::header_memo`]).
    pub(super) previewed: super::header_memo::HeaderMemo,
    _lock: DatastoreLock,
}

/// The journal's generation and the deployment in it, as last written: kept in step with
/// the driver, for readers that must not wait for it.
#[derive(Clone, Default)]
pub(super) struct Snapshot(Arc<std::sync::Mutex<(u64, Option<InFlight>)>>);

impl Snapshot {
    fn set(&self, generation: u64, v: Option<InFlight>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = (generation, v);
    }
    pub(super) fn get(&self) -> (u64, Option<InFlight>) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Observer for Snapshot {
    fn step_started(&mut self, generation: u64, record: &DeploymentRecord, _: &Step) {
        self.set(generation, Some(in_flight_of(record)));
    }
    fn step_finished(
        &mut self,
        generation: u64,
        record: &DeploymentRecord,
        _: &Step,
        _: &StepResult,
    ) {
        self.set(generation, Some(in_flight_of(record)));
    }
}

fn setup<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> EngineError + '_ {
    move |e| EngineError::Setup(format!("{what}: {e}"))
}

/// A deployment's id: its start second, the process, and a count within the process. The
/// count matters: a daemon can start two deployments in one second (a Manifest applied
/// right after another finished), and the history keys its entries by this id.
fn deployment_id(started_at: u64) -> String {
    static STARTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{started_at:x}-{}-{n}", std::process::id())
}

/// The Interface runner's limits from the configuration: a query gets
/// `QueryTimeoutSeconds`, or `InterfaceTimeoutSeconds` when that is lower (a user who
/// limits every Interface call to 3 s must not wait 60 for a query).
fn runner_config(cfg: &crate::config::Config) -> RunnerConfig {
    RunnerConfig {
        state_timeout: Duration::from_secs(cfg.interface_timeout_seconds),
        query_timeout: Duration::from_secs(
            cfg.query_timeout_seconds.min(cfg.interface_timeout_seconds),
        ),
        ..RunnerConfig::default()
    }
}

impl Engine {
    /// Take the datastore lock, load the journal and prepare the rooms the engine drives;
    /// the engine, its Interface runner and its Artifact sources record into `metrics`.
    pub fn open(eff: Effective, metrics: Metrics) -> Result<Self, EngineError> {
        let lock = DatastoreLock::acquire(&eff.dirs.datastore_dir)?;
        Self::open_locked(eff, metrics, lock)
    }

    /// [`Engine::open`], waiting up to `wait` for another baton's short verb to release
    /// the datastore.
    pub async fn open_within(
        eff: Effective,
        metrics: Metrics,
        wait: Duration,
    ) -> Result<Self, EngineError> {
        let lock = DatastoreLock::acquire_within(&eff.dirs.datastore_dir, wait).await?;
        Self::open_locked(eff, metrics, lock)
    }

    fn open_locked(
        eff: Effective,
        metrics: Metrics,
        lock: DatastoreLock,
    ) -> Result<Self, EngineError> {
        let cfg = &eff.config;
        let datastore = eff.dirs.datastore_dir.clone();
        let (journal, loaded) = Journal::open::<DeploymentRecord>(&datastore.join("journal"))?;
        if let Some(why) = &loaded.fell_back {
            tracing::warn!(%why, "the newest journal record was unusable; using the previous one");
        }
        let policy = VerifyPolicy::load(&cfg.verify_keys()).map_err(setup("ArtifactVerifyKey"))?;
        let limits = Limits::default();
        let runner = Runner::new(runner_config(cfg)).with_metrics(metrics.clone());
        let cache = ArtifactsCache::open(
            &CacheConfig {
                enabled: cfg.artifacts_cache.enabled,
                path: Some(cfg.artifacts_cache.path.clone()),
                max_size_bytes: cfg.artifacts_cache.max_size_bytes,
            },
            &datastore.join("artifacts"),
            metrics.clone(),
        );
        let http = HttpOptions {
            server_certificate: cfg.server_certificate.clone(),
            client_certificate: ClientCertificate::from_config(&cfg.https_client)
                .map_err(setup("HttpsClient"))?,
            ..HttpOptions::default()
        };
        let resolver = Resolver::new(
            cfg.artifact_sources.clone(),
            policy.clone(),
            limits.clone(),
            http,
            &datastore.join("downloads"),
            cache,
            metrics.clone(),
        )
        .map_err(setup("Artifact sources"))?;
        let store = ManifestStore::open(&cfg.manifest_store)?;
        let settings = ExecSettings {
            interfaces_dir: eff.dirs.interfaces_dir.clone(),
            work_root: datastore.join("work"),
            spare_trees: datastore.join("spare-trees"),
            parked: datastore.join("parked"),
            policy,
            limits,
            reboot_command: cfg.reboot_command.clone(),
            reboot_grace: REBOOT_GRACE,
            boot_id_path: cfg.boot_id_path.clone(),
            sources: resolver.locations(),
            metrics: metrics.clone(),
            externals: Default::default(),
        };
        super::sweep::sweep(&settings.places(&datastore), &store, loaded.record.as_ref());
        super::kept::forget_torn(&datastore);
        let snapshot = Snapshot::default();
        snapshot.set(
            journal.generation(),
            loaded.record.as_ref().map(in_flight_of),
        );
        Ok(Self {
            eff,
            metrics,
            runner,
            settings,
            resolver: Arc::new(resolver),
            store,
            books: Mutex::new(Books {
                journal,
                record: loaded.record,
            }),
            gate: Arc::new(Open),
            snapshot,
            fell_back: loaded.fell_back,
            last: std::sync::Mutex::new(None),
            busy_wait: super::kept::BUSY_WAIT,
            deploying: Default::default(),
            previewed: Default::default(),
            _lock: lock,
        })
    }

    /// This engine, asking `gate` between plan and execute (see [`super::gate`]).
    pub fn with_gate(mut self, gate: Arc<dyn Gate>) -> Self {
        self.gate = gate;
        self
    }

    /// This engine, driving the components whose `interface` `externals` names through it
    /// instead of an executable (see [`crate::interface::external`]).
    pub fn with_externals(mut self, externals: crate::interface::external::Externals) -> Self {
        self.settings.externals = externals;
        self
    }

    pub fn effective(&self) -> &Effective {
        &self.eff
    }

    fn new_record(
        &self,
        m: &LoadedManifest,
        plan: Plan,
        artifacts: Vec<(ComponentType, std::path::PathBuf)>,
    ) -> DeploymentRecord {
        let started_at = now();
        let machine = Deployment::new(plan.orders.len(), &plan.member_groups());
        DeploymentRecord {
            id: deployment_id(started_at),
            manifest: meta_of(m, started_at),
            plan,
            artifacts,
            machine,
            boot_id_at_reboot: None,
            reboot_delegated: false,
            paused: None,
            started_at,
        }
    }

    /// Drive the record in `books` and settle the books afterwards.
    async fn run(
        &self,
        books: &mut Books,
        mut record: DeploymentRecord,
        opts: &RunOptions,
        progress: Arc<dyn ProgressSink>,
        was_failing: bool,
    ) -> Result<DeploymentReport, EngineError> {
        let exec = LiveExecutor::new(self.runner.clone(), self.settings.clone(), progress.clone());
        let mut snapshot = self.snapshot.clone();
        snapshot.set(books.journal.generation(), Some(in_flight_of(&record)));
        let span = super::spans::deployment(&record.id, &record.manifest.name);
        let safe = SafePoints {
            gate: &*self.gate,
            progress: &*progress,
        };
        let end = drive(
            &mut books.journal,
            &mut record,
            &exec,
            opts,
            &safe,
            &mut snapshot,
        )
        .instrument(span)
        .await;
        let end = match end {
            Ok(end) => end,
            Err(e) => {
                // A journal write failed (never retried: the data may be lost). Believe only
                // what is on disk, as a restart would.
                let (journal, loaded) = Journal::open::<DeploymentRecord>(
                    &self.eff.dirs.datastore_dir.join("journal"),
                )?;
                snapshot.set(
                    journal.generation(),
                    loaded.record.as_ref().map(in_flight_of),
                );
                books.journal = journal;
                books.record = loaded.record;
                return Err(e.into());
            }
        };
        if end.is_final() {
            if end == End::Success {
                self.store.promote_pending()?;
                self.remember_accepted(&record);
            } else {
                self.store.discard_pending()?;
            }
            books.journal.write::<DeploymentRecord>(None)?;
            crate::durable::fault::point("deployment.forgotten");
            books.record = None;
            snapshot.set(books.journal.generation(), None);
            self.tidy_after();
        } else {
            snapshot.set(books.journal.generation(), Some(in_flight_of(&record)));
            books.record = Some(record.clone());
        }
        Ok(ending::report(&record, end, was_failing))
    }

    /// What a finished deployment leaves behind: its work directory, unused cached Artifacts.
    fn tidy_after(&self) {
        let places = self.settings.places(&self.eff.dirs.datastore_dir);
        super::sweep::sweep(&places, &self.store, None);
        if let Some(cache) = self.resolver.cache() {
            let evicted = cache.end_of_deployment();
            if !evicted.unused.is_empty() || !evicted.over_size.is_empty() {
                tracing::info!(?evicted, "evicted cached Artifacts");
            }
        }
    }

    /// The gates before anything is touched: `BeforeFirstState`, then the Download phase.
    async fn gates_before_the_first_state(
        &self,
        m: &LoadedManifest,
        plan: &Plan,
        artifacts: &[(ComponentType, std::path::PathBuf)],
        progress: &dyn ProgressSink,
    ) -> Result<(), super::problem::Problem> {
        for point in [
            GatePoint::BeforeFirstState,
            GatePoint::BeforePhase(GatePhase::Download),
        ] {
            let ctx = GateContext {
                point,
                deployment: None,
                manifest: m.manifest.name.clone(),
                components: changes(plan),
                artifacts: super::driver::artifact_files(artifacts),
                waited: Duration::ZERO,
            };
            super::driver::pass(&*self.gate, ctx, progress).await?;
        }
        Ok(())
    }

    async fn install_impl(
        &self,
        m: LoadedManifest,
        opts: RunOptions,
        progress: Arc<dyn ProgressSink>,
    ) -> Result<DeploymentReport, EngineError> {
        let mut books = self.books.lock().await;
        let _deploying = Deploying::mark(&self.deploying);
        if let Some(r) = &books.record {
            return Err(EngineError::InProgress {
                manifest: r.manifest.name.clone(),
                position: r.machine.describe(),
            });
        }
        let started_at = now();
        let mut prepared = self.prepare(&m).await;
        if let Ok(p) = &prepared {
            let mut problems = self.refusals(&m, p, &opts).await;
            if problems.is_empty() && !p.plan.is_empty() {
                if let Err(refused) = self
                    .gates_before_the_first_state(&m, &p.plan, &p.artifacts, &*progress)
                    .await
                {
                    problems.push(refused);
                }
            }
            if !problems.is_empty() {
                prepared = Err(problems);
            }
        }
        let p = match prepared {
            Ok(p) => p,
            Err(problems) => {
                tracing::warn!(manifest = %m.manifest.name, ?problems, "Manifest rejected; nothing was touched");
                // Artifacts downloaded for it are of no use now.
                let places = self.settings.places(&self.eff.dirs.datastore_dir);
                super::sweep::sweep(&places, &self.store, None);
                return Ok(ending::rejected(&m.manifest.name, started_at, problems));
            }
        };
        let record = self.new_record(&m, p.plan, p.artifacts);
        self.store.stage(&m.bytes, &record.manifest)?;
        if record.plan.is_empty() {
            // Everything already runs its Artifact: the Manifest is deployed as it stands.
            self.store.promote_pending()?;
            self.remember_accepted(&record);
            return Ok(ending::report(&record, End::Success, false));
        }
        books.journal.write(Some(&record))?;
        progress.emit(Progress::Started {
            deployment: record.id.clone(),
            manifest: record.manifest.name.clone(),
            components: changes(&record.plan),
        });
        tracing::info!(deployment = %record.id, manifest = %record.manifest.name,
            components = record.plan.components.len(), groups = record.plan.orders.len(), "deployment started");
        self.run(&mut books, record, &opts, progress, false).await
    }

    async fn resume_impl(
        &self,
        opts: RunOptions,
        explicit: bool,
        rollback: bool,
        progress: Arc<dyn ProgressSink>,
    ) -> Result<DeploymentReport, EngineError> {
        let mut books = self.books.lock().await;
        let _deploying = Deploying::mark(&self.deploying);
        let Some(mut record) = books.record.clone() else {
            return Err(EngineError::NothingInProgress);
        };
        // A failure recorded by an earlier invocation was reported then; one found by this
        // recovery is this invocation's to report.
        let was_failing = record.machine.failure.is_some() && !rollback;
        let boot_id = super::exec::read_boot_id(&self.settings.boot_id_path);
        recover(&mut books.journal, &mut record, boot_id, explicit)?;
        if rollback {
            record.machine.request_rollback()?;
            // The request is itself a boundary crossing the caller asked for.
            record.paused = None;
            books.journal.write(Some(&record))?;
        }
        books.record = Some(record.clone());
        self.run(&mut books, record, &opts, progress, was_failing || rollback)
            .await
    }

    fn stored(&self, slot: Slot) -> Result<Option<LoadedManifest>, EngineError> {
        Ok(self
            .store
            .get(slot)?
            .and_then(|s| parse_stored(&s.bytes, &s.meta)))
    }
}

/// Marks the engine as deploying for as long as it lives.
struct Deploying<'a>(&'a std::sync::atomic::AtomicBool);

impl<'a> Deploying<'a> {
    fn mark(flag: &'a std::sync::atomic::AtomicBool) -> Self {
        flag.store(true, std::sync::atomic::Ordering::Release);
        Self(flag)
    }
}

impl Drop for Deploying<'_> {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::Release);
    }
}

fn meta_of(m: &LoadedManifest, stored_at: u64) -> StoredMeta {
    StoredMeta {
        name: m.manifest.name.clone(),
        sha256: m.sha256.clone(),
        origin: m.origin.clone(),
        base_dir: m.base_dir.clone(),
        stored_at,
    }
}

fn parse_stored(bytes: &[u8], meta: &StoredMeta) -> Option<LoadedManifest> {
    match resource::parse_manifest(&meta.origin, bytes) {
        Ok(mut m) => {
            m.base_dir = meta.base_dir.clone();
            Some(m)
        }
        Err(d) => {
            tracing::warn!(manifest = %meta.name, problems = %d, "a stored Manifest no longer parses");
            None
        }
    }
}

impl Deployer for Engine {
    fn observe(&self) -> BoxFuture<'_, Result<Observation, EngineError>> {
        Box::pin(self.observe_now())
    }

    fn inventory(&self) -> BoxFuture<'_, Result<Inventory, EngineError>> {
        Box::pin(self.inventory_now())
    }

    fn journal(&self) -> BoxFuture<'_, Result<JournalView, EngineError>> {
        Box::pin(async move { Ok(self.journal_now().await) })
    }

    fn preview(&self, manifest: LoadedManifest) -> BoxFuture<'_, Result<Preview, EngineError>> {
        Box::pin(async move {
            let _books = self.books.lock().await;
            Ok(
                match self.prepare_with(&manifest, Some(&self.previewed)).await {
                    Err(problems) => Preview::Rejected { problems },
                    Ok(p) if p.verdict.is_refused() => Preview::Rejected {
                        problems: p.refusal(),
                    },
                    Ok(p) if p.plan.is_empty() => Preview::InSync,
                    Ok(p) => Preview::Changes {
                        components: changes(&p.plan),
                    },
                },
            )
        })
    }

    fn plan(&self, manifest: LoadedManifest) -> BoxFuture<'_, Result<PlanReport, EngineError>> {
        Box::pin(self.plan_now(manifest))
    }

    fn install(
        &self,
        manifest: LoadedManifest,
        opts: RunOptions,
        progress: Arc<dyn ProgressSink>,
    ) -> BoxFuture<'_, Result<DeploymentReport, EngineError>> {
        Box::pin(self.install_impl(manifest, opts, progress))
    }

    fn resume(
        &self,
        opts: RunOptions,
        explicit: bool,
        progress: Arc<dyn ProgressSink>,
    ) -> BoxFuture<'_, Result<DeploymentReport, EngineError>> {
        Box::pin(self.resume_impl(opts, explicit, false, progress))
    }

    fn rollback(
        &self,
        opts: RunOptions,
        progress: Arc<dyn ProgressSink>,
    ) -> BoxFuture<'_, Result<DeploymentReport, EngineError>> {
        Box::pin(self.resume_impl(opts, true, true, progress))
    }

    fn in_flight(&self) -> Result<Option<InFlight>, EngineError> {
        Ok(self.snapshot.get().1)
    }

    fn deployed_manifests(
        &self,
    ) -> Result<(Option<LoadedManifest>, Option<LoadedManifest>), EngineError> {
        Ok((self.stored(Slot::Current)?, self.stored(Slot::Previous)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployments_started_in_the_same_second_have_different_ids() {
        let (a, b) = (deployment_id(0x6745), deployment_id(0x6745));
        assert_ne!(a, b);
        assert!(a.starts_with("6745-") && b.starts_with("6745-"), "{a} {b}");
    }

    #[test]
    fn a_query_never_outlasts_the_interface_timeout() {
        let mut cfg = crate::config::Config {
            interface_timeout_seconds: 3,
            query_timeout_seconds: 60,
            ..Default::default()
        };
        let r = runner_config(&cfg);
        assert_eq!(r.query_timeout, Duration::from_secs(3));
        assert_eq!(r.state_timeout, Duration::from_secs(3));
        cfg.interface_timeout_seconds = 14_400;
        assert_eq!(runner_config(&cfg).query_timeout, Duration::from_secs(60));
    }
}
