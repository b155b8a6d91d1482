//! A fake Deployer with scripted outcomes, and helpers to run the controller against it.
//!
//! The fake keeps a System in memory (component -> running Artifact name), answers observe
//! and preview from it, and changes it on a successful install. Each install takes the next
//! scripted outcome (default: succeed) and may be held until the test releases it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton::config::{DriftPolicy, Retry};
use baton::daemon::backoff::RetryPolicy;
use baton::daemon::commands::Handle;
use baton::daemon::desired::DesiredStore;
use baton::daemon::history::History;
use baton::daemon::memory::MemoryFile;
use baton::daemon::reconciler::{Reconciler, Settings};
use baton::daemon::sd_notify::Notifier;
use baton::engine::api::{
    BoxFuture, Call as Word, ComponentObservation, ComponentOutcome, ComponentRef, ComponentResult,
    Deployer, DeploymentReport, End, EngineError, InFlight, Inventory, JournalView, Observation,
    PlannedChange, Preview, Problem, Progress, ProgressSink, RunOptions, State as ProtocolState,
};
use baton::gates::clock::Clock;
use baton::gates::{
    Gate, GateContext, GateParts, GatePhase, GatePoint, GateSettings, Gates, Verdict,
};
use baton::metrics::Metrics;
use baton::model::Reason;
use baton::model::{ConditionStatus, ConditionType, Provides, Status};
use baton::resource::{parse_manifest, LoadedManifest};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How one install ends.
#[derive(Debug, Clone)]
pub enum Script {
    Succeed,
    FailAt(&'static str),
    Reject,
}

/// A call the fake received.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Observe,
    Preview(String),
    Install(String),
    Resume(bool),
    Rollback,
}

#[derive(Default)]
pub struct State {
    /// (component type, id) -> running Artifact name.
    pub system: BTreeMap<(String, String), String>,
    pub script: VecDeque<Script>,
    pub default_script: Option<Script>,
    pub calls: Vec<(Instant, Call)>,
    pub in_flight: Option<InFlight>,
    pub current: Option<LoadedManifest>,
    pub previous: Option<LoadedManifest>,
    /// How long an install takes (tokio time).
    pub install_time: Duration,
    /// When set, an install waits for a permit here before finishing.
    pub gate: Option<Arc<Notify>>,
    /// The gates an install asks at the seam's points, as the engine's driver does.
    pub gates: Option<Arc<dyn Gate>>,
    /// Every gate verdict an install got: (point, verdict).
    pub verdicts: Vec<(GatePoint, Verdict)>,
    /// The size of each component type's Artifact file, for the disk check (a sparse file
    /// made for it).
    pub artifact_bytes: u64,
    /// The System version observations report.
    pub system_version: Option<String>,
}

#[derive(Clone, Default)]
pub struct Fake(pub Arc<Mutex<State>>);

impl Fake {
    /// A System of `rtos` components A and B running `v1`.
    pub fn new() -> Self {
        let f = Fake::default();
        {
            let mut s = f.0.lock().unwrap();
            for id in ["A", "B"] {
                s.system.insert(("rtos".into(), id.into()), "v1".into());
            }
        }
        f
    }
    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap()
    }
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.iter().map(|(_, c)| c.clone()).collect()
    }
    pub fn installs(&self) -> Vec<(Instant, String)> {
        self.state()
            .calls
            .iter()
            .filter_map(|(t, c)| match c {
                Call::Install(n) => Some((*t, n.clone())),
                _ => None,
            })
            .collect()
    }
    fn record(&self, c: Call) {
        self.state().calls.push((Instant::now(), c));
    }
    fn changes(&self, m: &LoadedManifest) -> Vec<PlannedChange> {
        let s = self.state();
        s.system
            .iter()
            .filter_map(|((t, id), v)| {
                let want = m
                    .manifest
                    .component_types
                    .get(t.as_str())?
                    .artifact_name
                    .clone()?;
                (want != *v).then(|| PlannedChange {
                    component: ComponentRef {
                        component_type: t.clone(),
                        id: id.clone(),
                    },
                    order: 1,
                    to_artifact: want,
                })
            })
            .collect()
    }
}

fn deployment_id(m: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("d-{m}-{now}-{n}")
}

fn report(m: &str, end: End, components: Vec<ComponentOutcome>) -> DeploymentReport {
    report_of(deployment_id(m), m, end, components)
}

fn report_of(id: String, m: &str, end: End, components: Vec<ComponentOutcome>) -> DeploymentReport {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    DeploymentReport {
        deployment: id,
        manifest: m.into(),
        started_at: now,
        ended_at: now,
        end,
        was_failing: false,
        components,
    }
}

/// The engine's bounds on a wait between two asks (`engine::driver`'s `MIN_WAIT`, `RECHECK`).
const MIN_WAIT: Duration = Duration::from_secs(1);
const RECHECK: Duration = Duration::from_secs(30);

impl Fake {
    /// What the engine tells its gate at `point`: the deployment's id once journaled, and
    /// each component type's Artifact file (made here, sparse, `artifact_bytes` long).
    fn gate_context(
        &self,
        point: GatePoint,
        id: Option<&str>,
        manifest: &str,
        changes: &[PlannedChange],
    ) -> GateContext {
        let bytes = self.state().artifact_bytes;
        let dir = std::env::temp_dir().join(format!("baton-fake-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut artifacts: Vec<(String, std::path::PathBuf)> = vec![];
        for c in changes {
            let t = &c.component.component_type;
            if !artifacts.iter().any(|(of, _)| of == t) {
                let file = dir.join(format!("{}.mender", c.to_artifact));
                std::fs::File::create(&file)
                    .unwrap()
                    .set_len(bytes)
                    .unwrap();
                artifacts.push((t.clone(), file));
            }
        }
        GateContext {
            point,
            deployment: id.map(str::to_string),
            manifest: manifest.into(),
            components: changes.to_vec(),
            artifacts,
            waited: Duration::ZERO,
        }
    }

    /// Asks the gate as the engine's driver does (`driver::pass`): a wait sleeps on tokio's
    /// clock until `until` (within the engine's bounds), then asks again; `Err` with the
    /// refusal's reason and words (`<point>: message`).
    async fn ask(&self, gate: Option<&dyn Gate>, mut ctx: GateContext) -> Result<(), Problem> {
        let Some(gate) = gate else { return Ok(()) };
        let started = Instant::now();
        loop {
            ctx.waited = started.elapsed();
            let v = gate.check(&ctx).await;
            self.state().verdicts.push((ctx.point, v.clone()));
            match v {
                Verdict::Proceed => return Ok(()),
                Verdict::Refuse { reason, message } => {
                    return Err(Problem::new(reason, format!("{}: {message}", ctx.point)))
                }
                Verdict::Wait { until, .. } => {
                    let wait = until
                        .and_then(|u| u.duration_since(std::time::SystemTime::now()).ok())
                        .unwrap_or(RECHECK)
                        .clamp(MIN_WAIT, RECHECK);
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Asks at each of `points`, stopping at the first refusal.
    async fn pass(
        &self,
        gate: Option<&dyn Gate>,
        points: &[GatePoint],
        id: Option<&str>,
        manifest: &str,
        changes: &[PlannedChange],
    ) -> Result<(), Problem> {
        for p in points {
            self.ask(gate, self.gate_context(*p, id, manifest, changes))
                .await?;
        }
        Ok(())
    }
}

impl Deployer for Fake {
    fn observe(&self) -> BoxFuture<'_, Result<Observation, EngineError>> {
        Box::pin(async move {
            self.record(Call::Observe);
            let s = self.state();
            Ok(Observation {
                system_type: "sys".into(),
                components: s
                    .system
                    .iter()
                    .enumerate()
                    .map(|(i, ((t, id), v))| ComponentObservation {
                        index: i,
                        component_type: t.clone(),
                        interface: "mock".into(),
                        id: Some(id.clone()),
                        provides: [("rootfs-image.mock.version".to_string(), v.clone())]
                            .into_iter()
                            .collect::<Provides>(),
                        error: None,
                    })
                    .collect(),
                taken_at: 0,
                live: true,
                system_version: s.system_version.clone(),
            })
        })
    }

    fn inventory(&self) -> BoxFuture<'_, Result<Inventory, EngineError>> {
        Box::pin(async move {
            let s = self.state();
            let mut lines = vec![("system_type".to_string(), "sys".to_string())];
            for ((t, id), v) in &s.system {
                lines.push(("component".into(), format!("{t}.{id}")));
                lines.push((format!("{t}.{id}.rootfs-image.mock.version"), v.clone()));
            }
            Ok(Inventory {
                lines,
                taken_at: 0,
                live: true,
            })
        })
    }

    fn journal(&self) -> BoxFuture<'_, Result<JournalView, EngineError>> {
        Box::pin(async move {
            Ok(JournalView {
                journal: "fake".into(),
                generation: 0,
                fell_back: None,
                deployment: self.state().in_flight.clone(),
                locked: true,
            })
        })
    }

    fn preview(&self, manifest: LoadedManifest) -> BoxFuture<'_, Result<Preview, EngineError>> {
        Box::pin(async move {
            self.record(Call::Preview(manifest.manifest.name.clone()));
            let changes = self.changes(&manifest);
            Ok(if changes.is_empty() {
                Preview::InSync
            } else {
                Preview::Changes {
                    components: changes,
                }
            })
        })
    }

    fn install(
        &self,
        manifest: LoadedManifest,
        opts: RunOptions,
        progress: Arc<dyn ProgressSink>,
    ) -> BoxFuture<'_, Result<DeploymentReport, EngineError>> {
        Box::pin(async move {
            let name = manifest.manifest.name.clone();
            let _ = opts;
            self.record(Call::Install(name.clone()));
            let changes = self.changes(&manifest);
            let id = deployment_id(&name);
            let gates = self.state().gates.clone();
            let gates = gates.as_deref();
            let outcome = |r| {
                changes
                    .iter()
                    .map(|c| ComponentOutcome {
                        component: c.component.clone(),
                        to_artifact: c.to_artifact.clone(),
                        result: r,
                        notes: vec![],
                    })
                    .collect()
            };
            let all = |call: ProtocolState| Progress::StepStarted {
                order: 1,
                call: Word::State(call),
                components: changes.iter().map(|c| c.component.clone()).collect(),
            };
            // Before the first state, with no deployment yet: a refusal touched nothing.
            let first = [
                GatePoint::BeforeFirstState,
                GatePoint::BeforePhase(GatePhase::Download),
            ];
            if let Err(p) = self.pass(gates, &first, None, &name, &changes).await {
                let mut r = report_of(id, &name, End::Rejected { problems: vec![p] }, vec![]);
                r.deployment = String::new();
                return Ok(r);
            }
            progress.emit(Progress::Started {
                deployment: id.clone(),
                manifest: name.clone(),
                components: changes.clone(),
            });
            progress.emit(all(ProtocolState::Download));
            let (wait, gate) = {
                let s = self.state();
                (s.install_time, s.gate.clone())
            };
            tokio::time::sleep(wait).await;
            if let Some(g) = gate {
                g.notified().await;
            }
            // At the first ArtifactInstall a refusal costs only Cleanup; at the commit
            // boundary (no reboot: Activate there too) it rolls the System back.
            let rolled_back = |p: Problem, at: GatePoint, result| {
                report_of(
                    id.clone(),
                    &name,
                    End::RolledBack {
                        reason: p.reason,
                        failed_at: at.as_str().into(),
                        message: p.message,
                    },
                    outcome(result),
                )
            };
            let install = [
                GatePoint::BeforePhase(GatePhase::Install),
                GatePoint::BeforeDisruptive,
            ];
            if let Err(p) = self.pass(gates, &install, Some(&id), &name, &changes).await {
                return Ok(rolled_back(p, install[0], ComponentResult::Untouched));
            }
            progress.emit(all(ProtocolState::ArtifactInstall));
            let commit = [
                GatePoint::BeforePhase(GatePhase::Activate),
                GatePoint::BeforeCommit,
            ];
            if let Err(p) = self.pass(gates, &commit, Some(&id), &name, &changes).await {
                return Ok(rolled_back(p, commit[1], ComponentResult::RolledBack));
            }
            let script = {
                let mut s = self.state();
                let d = s.default_script.clone().unwrap_or(Script::Succeed);
                s.script.pop_front().unwrap_or(d)
            };
            Ok(match script {
                Script::Succeed => {
                    let mut s = self.state();
                    for c in &changes {
                        s.system.insert(
                            (c.component.component_type.clone(), c.component.id.clone()),
                            c.to_artifact.clone(),
                        );
                    }
                    s.previous = s.current.replace(manifest.clone());
                    drop(s);
                    report_of(id, &name, End::Success, outcome(ComponentResult::Updated))
                }
                Script::FailAt(state) => report_of(
                    id,
                    &name,
                    End::RolledBack {
                        reason: Reason::InstallFailed,
                        failed_at: state.into(),
                        message: format!("rtos A: {state} exited with status 1"),
                    },
                    outcome(ComponentResult::RolledBack),
                ),
                Script::Reject => report_of(
                    id,
                    &name,
                    End::Rejected {
                        problems: vec![Problem::new(
                            Reason::ArtifactNotFound,
                            "rtos: no Artifact named v9",
                        )],
                    },
                    vec![],
                ),
            })
        })
    }

    fn resume(
        &self,
        _opts: RunOptions,
        explicit: bool,
        _progress: Arc<dyn ProgressSink>,
    ) -> BoxFuture<'_, Result<DeploymentReport, EngineError>> {
        Box::pin(async move {
            self.record(Call::Resume(explicit));
            let Some(f) = self.state().in_flight.take() else {
                return Err(EngineError::NothingInProgress);
            };
            Ok(report(
                &f.manifest,
                End::RolledBack {
                    reason: Reason::RebootFailed,
                    failed_at: "ArtifactVerifyReboot".into(),
                    message: "interrupted".into(),
                },
                vec![],
            ))
        })
    }

    fn rollback(
        &self,
        _opts: RunOptions,
        _progress: Arc<dyn ProgressSink>,
    ) -> BoxFuture<'_, Result<DeploymentReport, EngineError>> {
        Box::pin(async move {
            self.record(Call::Rollback);
            let Some(f) = self.state().in_flight.take() else {
                return Err(EngineError::NothingInProgress);
            };
            Ok(report(
                &f.manifest,
                End::RolledBack {
                    reason: Reason::RollbackRequested,
                    failed_at: "ArtifactCommit".into(),
                    message: "rollback asked".into(),
                },
                vec![],
            ))
        })
    }

    fn in_flight(&self) -> Result<Option<InFlight>, EngineError> {
        Ok(self.state().in_flight.clone())
    }

    fn deployed_manifests(
        &self,
    ) -> Result<(Option<LoadedManifest>, Option<LoadedManifest>), EngineError> {
        let s = self.state();
        Ok((s.current.clone(), s.previous.clone()))
    }
}

/// A Manifest asking every `rtos` to run `artifact`.
pub fn manifest(name: &str, artifact: &str) -> LoadedManifest {
    let text = format!(
        "api_version: mender/v1\nkind: manifest\nname: {name}\nsystem_types_compatible: [sys]\n\
component_types:\n  rtos:\n    artifact_name: {artifact}\n    update_strategy:\n      order: 1\n"
    );
    parse_manifest("test", text.as_bytes()).unwrap()
}

pub struct Running {
    pub handle: Handle,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<()>,
}

pub fn settings(limit: u32, drift: DriftPolicy) -> Settings {
    Settings {
        retry: RetryPolicy::from_config(
            &Retry {
                base_seconds: 1,
                cap_seconds: 60,
                limit,
            },
            42,
        ),
        resync: Duration::from_secs(600),
        drift,
        grace: Duration::from_secs(90),
    }
}

/// The gates of `cfg` for a System whose datastore is `dir`, on `wall`'s clock (the
/// system's without).
pub fn gates_of(
    cfg: &baton::config::Config,
    dir: &std::path::Path,
    wall: Option<Arc<dyn Clock>>,
) -> Arc<Gates> {
    Arc::new(Gates::new(
        GateSettings::from_config(cfg).unwrap(),
        GateParts {
            runner: baton::interface::runner::Runner::new(Default::default()),
            clock: wall.unwrap_or_else(|| Arc::new(baton::gates::clock::SystemClock)),
            datastore: dir.to_path_buf(),
        },
    ))
}

/// Starts a reconciler on `dir` against `fake` (whose installs ask no gate).
pub fn start(
    dir: &std::path::Path,
    fake: &Fake,
    settings: Settings,
    notifier: Option<Notifier>,
) -> Running {
    let mut cfg = baton::config::Config::default();
    cfg.update_locks.dir = dir.join("locks");
    start_with(dir, fake, settings, notifier, gates_of(&cfg, dir, None))
}

/// Starts a reconciler on `dir` against `fake` with the gates of `cfg`, which the fake's
/// installs ask (on `wall`'s clock; the system's without).
pub fn start_gated(
    dir: &std::path::Path,
    fake: &Fake,
    settings: Settings,
    cfg: &baton::config::Config,
    wall: Option<Arc<dyn Clock>>,
) -> (Running, Arc<Gates>) {
    let gates = gates_of(cfg, dir, wall);
    fake.state().gates = Some(gates.clone());
    (start_with(dir, fake, settings, None, gates.clone()), gates)
}

fn start_with(
    dir: &std::path::Path,
    fake: &Fake,
    settings: Settings,
    notifier: Option<Notifier>,
    gates: Arc<Gates>,
) -> Running {
    let shutdown = CancellationToken::new();
    let desired = Arc::new(DesiredStore::open(dir).unwrap());
    let d = desired.clone();
    gates.follow(Arc::new(move || d.generation()));
    let (r, handle) = Reconciler::new(
        Arc::new(fake.clone()),
        desired,
        MemoryFile::open(dir).unwrap(),
        History::open(dir).unwrap(),
        Metrics::default(),
        settings,
        notifier,
        gates,
        shutdown.clone(),
    );
    let task = tokio::spawn(r.run());
    Running {
        handle,
        shutdown,
        task,
    }
}

impl Running {
    /// Applies a Manifest as a source would.
    pub fn apply(&self, m: LoadedManifest) -> u64 {
        let (g, _) = self
            .handle
            .desired
            .apply(m, baton::model::Origin::Api, None)
            .unwrap();
        self.handle.poke();
        g
    }

    /// Waits (tokio time) until `pred` holds for the status; panics after an hour.
    pub async fn until(&self, what: &str, pred: impl Fn(&Status) -> bool) -> Status {
        self.until_within(what, Duration::from_secs(3600), pred)
            .await
    }

    /// [`Running::until`], panicking after `limit` (tokio time).
    pub async fn until_within(
        &self,
        what: &str,
        limit: Duration,
        pred: impl Fn(&Status) -> bool,
    ) -> Status {
        let mut rx = self.handle.board.subscribe();
        let r = tokio::time::timeout(limit, async {
            loop {
                {
                    let s = rx.borrow_and_update();
                    if pred(&s) {
                        return s.clone();
                    }
                }
                rx.changed().await.unwrap();
            }
        })
        .await;
        r.unwrap_or_else(|_| panic!("never: {what}; status: {:#?}", self.handle.board.get()))
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap();
    }
}

pub fn condition(s: &Status, t: ConditionType) -> (ConditionStatus, String) {
    s.conditions
        .iter()
        .find(|c| c.type_ == t)
        .map(|c| (c.status, c.reason.to_string()))
        .unwrap()
}

pub fn is(s: &Status, t: ConditionType, st: ConditionStatus) -> bool {
    condition(s, t).0 == st
}

/// No environment variables at all.
pub struct NoEnv;
impl baton::config::Env for NoEnv {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
}

/// A scratch System directory: a Topology of two `rtos` components, a configuration that
/// puts the socket, the watched directory and the datastore inside `dir`.
pub fn effective(dir: &std::path::Path, extra: serde_json::Value) -> baton::config::Effective {
    let ds = dir.join("datastore");
    std::fs::create_dir_all(&ds).unwrap();
    std::fs::write(
        ds.join("topology.yaml"),
        concat!(
            "api_version: mender/v1\nkind: topology\nsystem_type: sys\ncomponents:\n",
            "  - component_type: rtos\n    interface: mock\n",
            "  - component_type: rtos\n    interface: mock\n",
        ),
    )
    .unwrap();
    let mut conf = serde_json::json!({
        "Api": {"Socket": dir.join("run/baton.sock")},
        "WatchDir": dir.join("watch"),
        "RuntimeDir": dir.join("run"),
        "Retry": {"BaseSeconds": 1, "CapSeconds": 2, "Limit": 2},
    });
    if let (Some(c), Some(e)) = (conf.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            c.insert(k.clone(), v.clone());
        }
    }
    std::fs::write(dir.join("baton.conf"), conf.to_string()).unwrap();
    baton::config::load(
        &baton::config::Overrides {
            config_file: Some(dir.join("baton.conf")),
            datastore_dir: Some(ds),
            data_dir: Some(dir.join("data")),
            ..Default::default()
        },
        &NoEnv,
    )
    .unwrap()
}

/// The whole daemon (`daemon::run`) against the fake, in the background.
pub struct Daemon {
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<()>,
    pub socket: std::path::PathBuf,
}

impl Daemon {
    pub async fn start(eff: baton::config::Effective, fake: &Fake) -> Self {
        Self::start_with(eff, fake, None).await
    }

    /// The whole daemon with `gates`, which the fake's installs ask too.
    pub async fn start_gated(
        eff: baton::config::Effective,
        fake: &Fake,
        gates: Arc<Gates>,
    ) -> Self {
        fake.state().gates = Some(gates.clone());
        Self::start_with(eff, fake, Some(gates)).await
    }

    async fn start_with(
        eff: baton::config::Effective,
        fake: &Fake,
        gates: Option<Arc<Gates>>,
    ) -> Self {
        let gates = gates.unwrap_or_else(|| gates_of(&eff.config, &eff.dirs.datastore_dir, None));
        let shutdown = CancellationToken::new();
        let socket = eff.config.api.socket.clone();
        let deployer: Arc<dyn Deployer> = Arc::new(fake.clone());
        let token = shutdown.clone();
        let task = tokio::spawn(async move {
            let metrics = Metrics::default();
            baton::daemon::run(
                &eff,
                deployer,
                gates,
                metrics,
                Duration::from_secs(5),
                None,
                token,
            )
            .await
            .unwrap();
        });
        // Ready when the API answers.
        for _ in 0..500 {
            if let Some(c) = baton::client::Client::connect(&socket).await {
                if c.status().await.is_ok() {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Daemon {
            shutdown,
            task,
            socket,
        }
    }

    pub async fn client(&self) -> baton::client::Client {
        baton::client::Client::connect(&self.socket)
            .await
            .expect("the daemon answers")
    }

    /// Polls the status until `pred` holds (real time, 20 s at most).
    pub async fn until(&self, what: &str, pred: impl Fn(&Status) -> bool) -> Status {
        let c = self.client().await;
        let mut last = None;
        for _ in 0..2000 {
            let s = c.status().await.unwrap();
            if pred(&s) {
                return s;
            }
            last = Some(s);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("never: {what}; status: {last:#?}");
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap();
    }
}

pub const VALID: &str =
    "api_version: mender/v1\nkind: manifest\nname: m2\nsystem_types_compatible: [sys]\n\
component_types:\n  rtos:\n    artifact_name: v2\n    update_strategy:\n      order: 1\n";
