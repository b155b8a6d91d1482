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

fn report(m: &str, end: End, components: Vec<ComponentOutcome>) -> DeploymentReport {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    DeploymentReport {
        deployment: format!("d-{m}-{now}-{n}"),
        manifest: m.into(),
        started_at: now,
        ended_at: now,
        end,
        was_failing: false,
        components,
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
            progress.emit(Progress::Started {
                deployment: format!("d-{name}"),
                manifest: name.clone(),
                components: changes.clone(),
            });
            progress.emit(Progress::StepStarted {
                order: 1,
                call: Word::State(ProtocolState::Download),
                components: changes.iter().map(|c| c.component.clone()).collect(),
            });
            let (wait, gate) = {
                let s = self.state();
                (s.install_time, s.gate.clone())
            };
            tokio::time::sleep(wait).await;
            if let Some(g) = gate {
                g.notified().await;
            }
            let script = {
                let mut s = self.state();
                let d = s.default_script.clone().unwrap_or(Script::Succeed);
                s.script.pop_front().unwrap_or(d)
            };
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
                    report(&name, End::Success, outcome(ComponentResult::Updated))
                }
                Script::FailAt(state) => report(
                    &name,
                    End::RolledBack {
                        reason: Reason::InstallFailed,
                        failed_at: state.into(),
                        message: format!("rtos A: {state} exited with status 1"),
                    },
                    outcome(ComponentResult::RolledBack),
                ),
                Script::Reject => report(
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

/// Starts a reconciler on `dir` against `fake`.
pub fn start(
    dir: &std::path::Path,
    fake: &Fake,
    settings: Settings,
    notifier: Option<Notifier>,
) -> Running {
    let shutdown = CancellationToken::new();
    let (r, handle) = Reconciler::new(
        Arc::new(fake.clone()),
        Arc::new(DesiredStore::open(dir).unwrap()),
        MemoryFile::open(dir).unwrap(),
        History::open(dir).unwrap(),
        Metrics::default(),
        settings,
        notifier,
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
        let mut rx = self.handle.board.subscribe();
        let r = tokio::time::timeout(Duration::from_secs(3600), async {
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
        let shutdown = CancellationToken::new();
        let socket = eff.config.api.socket.clone();
        let deployer: Arc<dyn Deployer> = Arc::new(fake.clone());
        let token = shutdown.clone();
        let task = tokio::spawn(async move {
            baton::daemon::run(
                &eff,
                deployer,
                Metrics::default(),
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
