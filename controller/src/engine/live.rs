//! The live engine: the [`Deployer`] baton runs, over the datastore, the journal, real
//! Interfaces and real Artifacts.
//!
//! One `Engine` per process holds the datastore lock, so two batons never act on one System.
//! Operations are serialized: one deployment at a time, and nothing observes the System while
//! a deployment changes it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::join_all;
use tokio::sync::{Mutex, Semaphore};
use tracing::Instrument;

use super::api::*;
use super::driver::{drive, recover, DeploymentRecord, Observer, RunEnd, RunOptions};
use super::exec::{ExecSettings, LiveExecutor};
use super::journal::Journal;
use super::lock::DatastoreLock;
use super::machine::{Deployment, Outcome};
use super::plan::{self, Candidate, Observed, Plan};
use super::store::{ManifestStore, Slot, StoredMeta};
use super::{accepted, downgrade};
use crate::artifact::cache::{ArtifactsCache, CacheConfig};
use crate::artifact::source::{ArtifactLocator, HttpOptions, Resolver};
use crate::artifact::{self, ArtifactHeader, Limits, VerifyPolicy};
use crate::config::Effective;
use crate::interface::runner::{query_work_dir, Invocation, Runner, RunnerConfig};
use crate::model::{ComponentType, Provides, Topology};
use crate::resource::{self, LoadedManifest};

/// How long the reboot command has to take baton down (Mender waits 10 minutes too).
pub const REBOOT_GRACE: Duration = Duration::from_secs(600);
/// Interfaces asked at once while observing the System.
const OBSERVE_PARALLELISM: usize = 16;

/// The journal's record and the journal itself: one lock for both keeps them in step.
struct Books {
    journal: Journal,
    record: Option<DeploymentRecord>,
}

pub struct Engine {
    eff: Effective,
    runner: Runner,
    settings: ExecSettings,
    resolver: Arc<Resolver>,
    store: ManifestStore,
    books: Mutex<Books>,
    /// What `in_flight` answers, kept current while a deployment runs.
    snapshot: Arc<std::sync::Mutex<Option<InFlight>>>,
    _lock: DatastoreLock,
}

fn in_flight_of(r: &DeploymentRecord) -> InFlight {
    InFlight {
        deployment: r.id.clone(),
        manifest: r.manifest.name.clone(),
        position: r.machine.describe(),
        paused: r.paused,
        failing: r.machine.failure.is_some(),
    }
}

/// Keeps the engine's snapshot of the deployment in step with the driver.
struct Snapshot(Arc<std::sync::Mutex<Option<InFlight>>>);

impl Snapshot {
    fn set(&self, v: Option<InFlight>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = v;
    }
}

impl Observer for Snapshot {
    fn step_started(&mut self, record: &DeploymentRecord, _: &super::machine::Step) {
        self.set(Some(in_flight_of(record)));
    }
    fn step_finished(
        &mut self,
        record: &DeploymentRecord,
        _: &super::machine::Step,
        _: &super::machine::StepResult,
    ) {
        self.set(Some(in_flight_of(record)));
    }
}

fn setup<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> EngineError + '_ {
    move |e| EngineError::Setup(format!("{what}: {e}"))
}

#[allow(clippy::disallowed_methods)] // wall-clock stamps of journal records and reports; never a wait
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A deployment's id: its start second, the process, and a count within the process. The
/// count matters: a daemon can start two deployments in one second (a Manifest applied
/// right after another finished), and the history keys its entries by this id.
fn deployment_id(started_at: u64) -> String {
    static STARTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{started_at:x}-{}-{n}", std::process::id())
}

impl Engine {
    /// Take the datastore lock, load the journal and prepare the rooms the engine drives.
    pub fn open(eff: Effective) -> Result<Self, EngineError> {
        let cfg = &eff.config;
        let datastore = eff.dirs.datastore_dir.clone();
        let lock = DatastoreLock::acquire(&datastore)?;
        let (journal, loaded) = Journal::open::<DeploymentRecord>(&datastore.join("journal"))?;
        if let Some(why) = &loaded.fell_back {
            tracing::warn!(%why, "the newest journal record was unusable; using the previous one");
        }
        let policy = VerifyPolicy::load(&cfg.verify_keys()).map_err(setup("ArtifactVerifyKey"))?;
        let limits = Limits::default();
        let runner = Runner::new(RunnerConfig {
            state_timeout: Duration::from_secs(cfg.interface_timeout_seconds),
            query_timeout: Duration::from_secs(cfg.query_timeout_seconds),
            ..RunnerConfig::default()
        });
        let sources = cfg.artifact_sources.clone();
        let cache = ArtifactsCache::open(
            &CacheConfig {
                enabled: cfg.artifacts_cache.enabled,
                path: Some(cfg.artifacts_cache.path.clone()),
                max_size_bytes: cfg.artifacts_cache.max_size_bytes,
            },
            &datastore.join("artifacts"),
        );
        let http = HttpOptions {
            ca_certificate: cfg.server_certificate.clone(),
            ..HttpOptions::default()
        };
        let resolver = Resolver::new(
            sources,
            policy.clone(),
            limits.clone(),
            http,
            &datastore.join("downloads"),
            cache,
        )
        .map_err(setup("ArtifactSources"))?;
        let store = ManifestStore::open(&cfg.manifest_store)?;
        let settings = ExecSettings {
            interfaces_dir: eff.dirs.interfaces_dir.clone(),
            work_root: datastore.join("work"),
            policy,
            limits,
            reboot_command: cfg.reboot_command.clone(),
            reboot_grace: REBOOT_GRACE,
            boot_id_path: cfg.boot_id_path.clone(),
            sources: resolver.locations(),
        };
        super::sweep::sweep(&settings.places(&datastore), &store, loaded.record.as_ref());
        let snapshot = Arc::new(std::sync::Mutex::new(
            loaded.record.as_ref().map(in_flight_of),
        ));
        Ok(Self {
            eff,
            runner,
            settings,
            resolver: Arc::new(resolver),
            store,
            books: Mutex::new(Books {
                journal,
                record: loaded.record,
            }),
            snapshot,
            _lock: lock,
        })
    }

    pub fn effective(&self) -> &Effective {
        &self.eff
    }

    fn topology(&self) -> Result<Topology, EngineError> {
        resource::load_topology(
            &self.eff.dirs.topology_file,
            self.eff.config.topology_components.as_deref(),
        )
        .inspect(|t| crate::metrics::Metrics::global().topology_loaded(t))
        .map_err(EngineError::Topology)
    }

    /// `Identity` then `Provides` for every component, a bounded number at a time.
    async fn observe_topology(&self, topology: &Topology) -> Vec<Result<Observed, String>> {
        let gate = Semaphore::new(OBSERVE_PARALLELISM);
        let datastore = &self.eff.dirs.datastore_dir;
        let asks = topology.components.iter().map(|spec| {
            let gate = &gate;
            async move {
                let _permit = gate.acquire().await.expect("semaphore never closes");
                let work = query_work_dir(datastore, &spec.interface);
                let inv = Invocation::new(&self.settings.interfaces_dir, spec, work);
                let id = self
                    .runner
                    .identity(&inv)
                    .await
                    .map_err(|e| e.to_string())?;
                let inv = inv.with_component(id.clone());
                let provides = self
                    .runner
                    .provides(&inv)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Observed { id, provides })
            }
        });
        join_all(asks).await
    }

    /// Resolve every component type's Artifact and read its header (signature checked).
    async fn resolve(
        &self,
        m: &LoadedManifest,
    ) -> BTreeMap<ComponentType, Result<(Checked, PathBuf), String>> {
        let resolver = self.resolver.clone();
        let m = m.clone();
        tokio::task::spawn_blocking(move || {
            m.manifest
                .component_types
                .iter()
                .map(|(t, target)| {
                    let loc = ArtifactLocator {
                        artifact_path: target.artifact_path.as_deref(),
                        artifact_name: target.artifact_name.as_deref(),
                        base_dir: m.base_dir.as_deref(),
                    };
                    let found =
                        resolver
                            .resolve(&loc)
                            .map_err(|e| e.to_string())
                            .and_then(|mut v| {
                                if v.is_empty() {
                                    return Err("no Artifact found".to_string());
                                }
                                let r = v.remove(0);
                                let checked = Checked {
                                    header: r.header,
                                    expected_name: target.artifact_name.clone(),
                                };
                                Ok((checked, r.path))
                            });
                    (t.clone(), found)
                })
                .collect()
        })
        .await
        .unwrap_or_default()
    }

    /// Observe, resolve and plan. `Err` carries every problem, in words.
    async fn prepare(
        &self,
        m: &LoadedManifest,
    ) -> Result<(Topology, Plan, Vec<(ComponentType, PathBuf)>), Vec<String>> {
        let topology = self.topology().map_err(|e| vec![e.to_string()])?;
        let against = m.check_against(&topology);
        if !against.is_empty() {
            return Err(against.iter().map(|d| d.to_string()).collect());
        }
        let observations = self.observe_topology(&topology).await;
        let resolved = self.resolve(m).await;
        let mut candidates = BTreeMap::new();
        let mut paths = Vec::new();
        for (t, r) in resolved {
            match r {
                Ok((c, p)) => {
                    paths.push((t.clone(), p));
                    candidates.insert(t, Ok(c));
                }
                Err(e) => {
                    candidates.insert(t, Err(e));
                }
            }
        }
        match plan::plan(&topology, &m.manifest, &observations, &candidates) {
            Ok(p) => Ok((topology, p, paths)),
            Err(problems) => Err(problems.iter().map(|p| p.to_string()).collect()),
        }
    }

    /// Why `DowngradeProtection` refuses `m` (see [`super::downgrade`]); nothing when the
    /// option is off or the caller is the System's own rollback.
    fn downgrades(&self, m: &LoadedManifest, plan: &Plan, opts: &RunOptions) -> Vec<String> {
        if !self.eff.config.downgrade_protection || opts.allow_downgrade {
            return vec![];
        }
        let ledger = match accepted::load(&self.eff.dirs.datastore_dir) {
            Ok(l) => l,
            Err(e) => return vec![e.to_string()],
        };
        let current = match self.store.get(Slot::Current) {
            Ok(c) => c.map(|c| c.meta.name),
            Err(e) => return vec![e.to_string()],
        };
        let (changes, _) = downgrade::of_plan(plan);
        ledger
            .check(&m.manifest.name, current.as_deref(), &changes)
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    /// Adds a successful deployment to the downgrade ledger. The deployment has succeeded
    /// whatever happens here, so a failure is only logged (an unreadable ledger is left for
    /// a person to inspect).
    fn remember_accepted(&self, record: &DeploymentRecord) {
        let datastore = &self.eff.dirs.datastore_dir;
        let result = accepted::load(datastore).and_then(|mut ledger| {
            let (changes, unchanged) = downgrade::of_plan(&record.plan);
            ledger.record(&record.manifest.name, &changes, &unchanged);
            accepted::save(datastore, &ledger)
        });
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not record the deployment in the downgrade ledger");
        }
    }

    /// Every Artifact the plan installs after its first order group, verified to its end
    /// ([`super::bundle`]; the first group's are verified as they stream in Download).
    async fn verify_bundle(
        &self,
        plan: &Plan,
        artifacts: &[(ComponentType, PathBuf)],
    ) -> Vec<String> {
        let planned = super::bundle::checked_before_the_first_state(plan);
        let artifacts = artifacts.to_vec();
        let (policy, limits) = (self.settings.policy.clone(), self.settings.limits.clone());
        tokio::task::spawn_blocking(move || {
            super::bundle::verify_all(&artifacts, |t| planned.contains(t), &policy, &limits)
        })
        .await
        .unwrap_or_else(|e| vec![format!("verifying the Artifacts failed: {e}")])
    }

    fn new_record(
        &self,
        m: &LoadedManifest,
        plan: Plan,
        artifacts: Vec<(ComponentType, PathBuf)>,
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

    fn executor(&self, progress: Arc<dyn ProgressSink>) -> LiveExecutor {
        LiveExecutor::new(self.runner.clone(), self.settings.clone(), progress)
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
        let exec = self.executor(progress);
        let mut snapshot = Snapshot(self.snapshot.clone());
        snapshot.set(Some(in_flight_of(&record)));
        let span = crate::telemetry::spans::deployment(&record);
        let end = drive(&mut books.journal, &mut record, &exec, opts, &mut snapshot)
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
                books.journal = journal;
                snapshot.set(loaded.record.as_ref().map(in_flight_of));
                books.record = loaded.record;
                return Err(e.into());
            }
        };
        if let RunEnd::Finished(outcome) = &end {
            if *outcome == Outcome::Success {
                self.store.promote_pending()?;
                self.remember_accepted(&record);
            } else {
                self.store.discard_pending()?;
            }
            books.journal.write::<DeploymentRecord>(None)?;
            super::fault::point("deployment.forgotten");
            books.record = None;
            snapshot.set(None);
            self.tidy_after(&record);
        } else {
            snapshot.set(Some(in_flight_of(&record)));
            books.record = Some(record.clone());
        }
        Ok(report(&record, &end, was_failing))
    }

    /// What a finished deployment leaves behind: its work directory, unused cached Artifacts.
    fn tidy_after(&self, _record: &DeploymentRecord) {
        let places = self.settings.places(&self.eff.dirs.datastore_dir);
        super::sweep::sweep(&places, &self.store, None);
        if let Some(cache) = self.resolver.cache() {
            let evicted = cache.end_of_deployment();
            if !evicted.unused.is_empty() || !evicted.over_size.is_empty() {
                tracing::info!(?evicted, "evicted cached Artifacts");
            }
        }
    }

    async fn install_impl(
        &self,
        m: LoadedManifest,
        opts: RunOptions,
        progress: Arc<dyn ProgressSink>,
    ) -> Result<DeploymentReport, EngineError> {
        let mut books = self.books.lock().await;
        if let Some(r) = &books.record {
            return Err(EngineError::InProgress {
                manifest: r.manifest.name.clone(),
                position: r.machine.describe(),
            });
        }
        let started_at = now();
        let prepared = match self.prepare(&m).await {
            Ok((_, plan, artifacts)) => {
                let mut problems = self.downgrades(&m, &plan, &opts);
                if problems.is_empty() {
                    problems = self.verify_bundle(&plan, &artifacts).await;
                }
                if problems.is_empty() {
                    Ok((plan, artifacts))
                } else {
                    Err(problems)
                }
            }
            Err(problems) => Err(problems),
        };
        let (plan, artifacts) = match prepared {
            Ok(p) => p,
            Err(problems) => {
                tracing::warn!(manifest = %m.manifest.name, ?problems, "Manifest rejected; nothing was touched");
                // Artifacts downloaded for it are of no use now.
                let places = self.settings.places(&self.eff.dirs.datastore_dir);
                super::sweep::sweep(&places, &self.store, None);
                return Ok(rejected(&m, started_at, problems));
            }
        };
        let record = self.new_record(&m, plan, artifacts);
        self.store.stage(&m.bytes, &record.manifest)?;
        if record.plan.is_empty() {
            // Everything already runs its Artifact: the Manifest is deployed as it stands.
            self.store.promote_pending()?;
            self.remember_accepted(&record);
            return Ok(report(&record, &RunEnd::Finished(Outcome::Success), false));
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
}

impl Engine {
    /// The System's inventory as Mender inventory lines (a repeated key is a list): the
    /// system type, the deployed Manifest, and each component's Provides and Inventory,
    /// keyed `<component_type>.<id>.<key>`.
    pub async fn inventory(&self) -> Result<Vec<(String, String)>, EngineError> {
        let topology = self.topology()?;
        let _books = self.books.lock().await;
        let mut lines = vec![("system_type".to_string(), topology.system_type.clone())];
        if let Some(current) = self.store.get(Slot::Current)? {
            lines.push(("orchestrator_manifest".into(), current.meta.name));
        }
        let observed = self.observe_topology(&topology).await;
        let datastore = &self.eff.dirs.datastore_dir;
        for (spec, o) in topology.components.iter().zip(observed) {
            let Ok(o) = o else { continue };
            let prefix = format!("{}.{}", spec.component_type, o.id);
            lines.push(("component".into(), prefix.clone()));
            for (k, v) in o.provides.iter() {
                lines.push((format!("{prefix}.{k}"), v.to_string()));
            }
            let inv = Invocation::new(
                &self.settings.interfaces_dir,
                spec,
                query_work_dir(datastore, &spec.interface),
            )
            .with_component(o.id.clone());
            match self.runner.inventory(&inv).await {
                Ok(inventory) => {
                    for (k, vs) in inventory.0 {
                        for v in vs {
                            lines.push((format!("{prefix}.{k}"), v));
                        }
                    }
                }
                Err(e) => tracing::warn!(component = %prefix, error = %e, "Inventory query failed"),
            }
        }
        Ok(lines)
    }
}

/// An Artifact header checked for one Manifest entry: what the planner needs.
struct Checked {
    header: ArtifactHeader,
    /// The Manifest's `artifact_name`, which the header must carry (mix-and-match defence).
    expected_name: Option<String>,
}

impl Candidate for Checked {
    fn artifact_name(&self) -> &str {
        &self.header.name
    }
    fn is_installed(&self, provides: &Provides) -> bool {
        artifact::is_installed(&self.header, provides)
    }
    fn check_compatible(
        &self,
        component_type: &ComponentType,
        provides: &Provides,
    ) -> Result<(), Vec<String>> {
        let mut reasons: Vec<String> =
            match artifact::check_depends(&self.header, component_type.as_str(), provides) {
                Ok(()) => vec![],
                Err(problems) => problems.iter().map(|p| p.to_string()).collect(),
            };
        if let Some(expected) = &self.expected_name {
            if *expected != self.header.name {
                reasons.push(format!(
                    "the Manifest names Artifact '{expected}' but the file holds '{}'",
                    self.header.name
                ));
            }
        }
        if self.header.payload_type.is_none() {
            reasons.push("it is a bootstrap Artifact with no payload".into());
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons)
        }
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

fn changes(plan: &Plan) -> Vec<PlannedChange> {
    plan.components
        .iter()
        .map(|c| PlannedChange {
            component: ComponentRef {
                component_type: c.component_type.to_string(),
                id: c.id.to_string(),
            },
            order: c.order.get(),
            to_artifact: c.artifact_name.clone(),
        })
        .collect()
}

fn rejected(m: &LoadedManifest, started_at: u64, problems: Vec<String>) -> DeploymentReport {
    DeploymentReport {
        deployment: String::new(),
        manifest: m.manifest.name.clone(),
        started_at,
        ended_at: now(),
        end: End::Rejected { problems },
        was_failing: false,
        components: vec![],
    }
}

/// The account of a deployment from its record and how this invocation ended.
fn report(record: &DeploymentRecord, end: &RunEnd, was_failing: bool) -> DeploymentReport {
    let refs = |m: usize| {
        let c = &record.plan.components[m];
        ComponentRef {
            component_type: c.component_type.to_string(),
            id: c.id.to_string(),
        }
    };
    let failure_text = |f: &super::machine::Failure| {
        let at = match f.member {
            Some(m) => format!(
                "{} {} {}",
                f.at, record.plan.components[m].component_type, record.plan.components[m].id
            ),
            None => f.at.clone(),
        };
        (at, f.reason.clone())
    };
    let end_of = match end {
        RunEnd::Finished(Outcome::Success) => End::Success,
        RunEnd::Finished(Outcome::RolledBack { failure }) => {
            let (failed_at, reason) = failure_text(failure);
            End::RolledBack { failed_at, reason }
        }
        RunEnd::Finished(Outcome::Inconsistent {
            failure,
            components,
        }) => {
            let (failed_at, reason) = failure_text(failure);
            End::Inconsistent {
                failed_at,
                reason,
                components: components.iter().map(|&m| refs(m)).collect(),
            }
        }
        RunEnd::Paused(b) => End::Paused {
            before: *b,
            failing: record.machine.failure.is_some(),
            lost: match record.machine.outcome() {
                Outcome::Inconsistent { components, .. } => {
                    components.iter().map(|&m| refs(m)).collect()
                }
                _ => vec![],
            },
        },
        RunEnd::AwaitingReboot => End::AwaitingReboot,
    };
    let finished = matches!(end, RunEnd::Finished(_));
    let success = matches!(end, RunEnd::Finished(Outcome::Success));
    let lost: Vec<usize> = match &record.machine.outcome() {
        Outcome::Inconsistent { components, .. } => components.clone(),
        _ => vec![],
    };
    let mut components: Vec<ComponentOutcome> = record
        .machine
        .members
        .iter()
        .enumerate()
        .map(|(m, member)| {
            let f = &member.facts;
            let result = if !finished {
                ComponentResult::InProgress
            } else if success {
                ComponentResult::Updated
            } else if lost.contains(&m) {
                ComponentResult::Inconsistent
            } else if f.install_started {
                ComponentResult::RolledBack
            } else {
                ComponentResult::Untouched
            };
            ComponentOutcome {
                component: refs(m),
                to_artifact: record.plan.components[m].artifact_name.clone(),
                result,
                notes: f.notes.clone(),
            }
        })
        .collect();
    components.extend(record.plan.skipped.iter().map(|s| ComponentOutcome {
        component: ComponentRef {
            component_type: s.component_type.to_string(),
            id: s.id.to_string(),
        },
        to_artifact: s.artifact_name.clone(),
        result: ComponentResult::Skipped,
        notes: vec![],
    }));
    DeploymentReport {
        deployment: record.id.clone(),
        manifest: record.manifest.name.clone(),
        started_at: record.started_at,
        ended_at: now(),
        end: end_of,
        was_failing,
        components,
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
        Box::pin(async move {
            let topology = self.topology()?;
            let _books = self.books.lock().await;
            let observed = self.observe_topology(&topology).await;
            let components = topology
                .components
                .iter()
                .zip(observed)
                .enumerate()
                .map(|(index, (spec, o))| {
                    let (id, provides, error) = match o {
                        Ok(o) => (Some(o.id.to_string()), o.provides, None),
                        Err(e) => (None, Provides::default(), Some(e)),
                    };
                    ComponentObservation {
                        index,
                        component_type: spec.component_type.to_string(),
                        interface: spec.interface.to_string(),
                        id,
                        provides,
                        error,
                    }
                })
                .collect();
            Ok(Observation {
                system_type: topology.system_type,
                components,
            })
        })
    }

    fn preview(&self, manifest: LoadedManifest) -> BoxFuture<'_, Result<Preview, EngineError>> {
        Box::pin(async move {
            let _books = self.books.lock().await;
            Ok(match self.prepare(&manifest).await {
                Err(problems) => Preview::Rejected { problems },
                Ok((_, plan, _)) if plan.is_empty() => Preview::InSync,
                Ok((_, plan, _)) => Preview::Changes {
                    components: changes(&plan),
                },
            })
        })
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
        Ok(self
            .snapshot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone())
    }

    fn deployed_manifests(
        &self,
    ) -> Result<(Option<LoadedManifest>, Option<LoadedManifest>), EngineError> {
        let get = |slot| -> Result<Option<LoadedManifest>, EngineError> {
            Ok(self
                .store
                .get(slot)?
                .and_then(|s| parse_stored(&s.bytes, &s.meta)))
        };
        Ok((get(Slot::Current)?, get(Slot::Previous)?))
    }
}

/// Where the Interfaces of `eff` live, for messages.
pub fn interfaces_dir(eff: &Effective) -> &Path {
    &eff.dirs.interfaces_dir
}

#[cfg(test)]
mod tests {
    #[test]
    fn deployments_started_in_the_same_second_have_different_ids() {
        let (a, b) = (super::deployment_id(0x6745), super::deployment_id(0x6745));
        assert_ne!(a, b);
        assert!(a.starts_with("6745-") && b.starts_with("6745-"), "{a} {b}");
    }
}
