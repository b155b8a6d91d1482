//! The seam for Interfaces that are not processes: which components it chooses (a table),
//! what its calls answer, and the live engine driving a fake external Interface between two
//! mock process components (order, rollback with the rest, planning without an Artifact
//! source, a missing target refused before anything is touched, the engine's timeout).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::config;
use crate::engine::api::{Deployer, DeploymentReport, End, NoProgress, RunOptions};
use crate::engine::Engine;
use crate::interface::external::{BoxFuture, PercentSink};
use crate::metrics::Metrics;
use crate::model::Reason;

/// A fake external Interface: answers from its fields, logs every state with what the
/// mock components had installed when it ran, hangs in `hang`.
struct Fake {
    id: &'static str,
    installed: Mutex<Option<String>>,
    known: Vec<&'static str>,
    log: Mutex<Vec<String>>,
    /// Mock state directories whose calls.log is looked at at each state.
    watch: Vec<(&'static str, PathBuf)>,
    hang: Option<State>,
    fail: Option<State>,
}

impl Fake {
    fn new(watch: Vec<(&'static str, PathBuf)>) -> Arc<Self> {
        Arc::new(Self {
            id: "agent-1",
            installed: Mutex::new(None),
            known: vec!["kanto-x-1"],
            log: Mutex::new(vec![]),
            watch,
            hang: None,
            fail: None,
        })
    }
    fn states(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|l| l.split(' ').next().unwrap().to_string())
            .collect()
    }
    fn line(&self, state: &str) -> String {
        self.log
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.starts_with(&format!("{state} ")))
            .cloned()
            .unwrap_or_else(|| panic!("no {state} in {:?}", self.log.lock().unwrap()))
    }
}

impl ExternalInterface for Fake {
    fn identity(&self) -> BoxFuture<'_, Result<ComponentId, String>> {
        Box::pin(async move { Ok(ComponentId::new(self.id).unwrap()) })
    }
    fn provides<'a>(&'a self, _: &'a ComponentId) -> BoxFuture<'a, Result<Provides, String>> {
        Box::pin(async move {
            let mut p = Provides::default();
            if let Some(a) = self.installed.lock().unwrap().clone() {
                p.0.insert("artifact_name".into(), a);
            }
            Ok(p)
        })
    }
    fn inventory<'a>(&'a self, _: &'a ComponentId) -> BoxFuture<'a, Result<Inventory, String>> {
        Box::pin(async { Ok(Inventory::default()) })
    }
    fn supports_rollback(&self) -> BoxFuture<'_, Result<bool, String>> {
        Box::pin(async { Ok(true) })
    }
    fn needs_reboot(
        &self,
    ) -> BoxFuture<'_, Result<crate::interface::protocol::RebootAnswer, String>> {
        Box::pin(async { Ok(crate::interface::protocol::RebootAnswer::No) })
    }
    fn target(&self, artifact_name: &str) -> Result<(), String> {
        if self.known.contains(&artifact_name) {
            Ok(())
        } else {
            Err(format!("the fake knows no '{artifact_name}'"))
        }
    }
    fn run_state<'a>(
        &'a self,
        call: StateCall<'a>,
        progress: PercentSink<'a>,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let seen: Vec<String> = self
                .watch
                .iter()
                .map(|(name, dir)| {
                    let log = std::fs::read_to_string(dir.join("calls.log")).unwrap_or_default();
                    let done = log.lines().any(|l| l.starts_with("ArtifactInstall "));
                    format!("{name}:{}", if done { "installed" } else { "-" })
                })
                .collect();
            self.log.lock().unwrap().push(format!(
                "{} {} {} {}",
                call.state,
                call.artifact_name,
                call.deployment,
                seen.join(",")
            ));
            progress(50);
            if self.hang == Some(call.state) {
                std::future::pending::<()>().await;
            }
            if self.fail == Some(call.state) {
                return Err(format!("{} failed on purpose", call.state));
            }
            if call.state == State::ArtifactCommit {
                *self.installed.lock().unwrap() = Some(call.artifact_name.to_string());
            }
            Ok(())
        })
    }
}

fn topology_of(components: &[(&str, &str)]) -> Topology {
    let mut y =
        "api_version: mender/v1\nkind: topology\nsystem_type: sys\ncomponents:\n".to_string();
    for (t, i) in components {
        y.push_str(&format!(
            "  - component_type: {t}\n    interface: \"{i}\"\n"
        ));
    }
    crate::resource::parse_topology("t.yaml", y.as_bytes(), None).unwrap()
}

#[test]
fn the_interface_name_chooses_the_seam_and_a_type_takes_one_kind() {
    let externals = Externals::new().with(
        InterfaceNameOf("kanto:x"),
        Fake::new(vec![]) as Arc<dyn ExternalInterface>,
    );
    // (Topology components, the external types, how many mixed-type problems)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], usize);
    let cases: &[Case] = &[
        (&[("gw", "mock"), ("mcu", "mock")], &[], 0),
        (&[("gw", "mock"), ("agent", "kanto:x")], &["agent"], 0),
        // A `kanto:` name no driver serves is an executable's name as far as the engine goes.
        (&[("gw", "mock"), ("agent", "kanto:y")], &[], 0),
        (&[("agent", "kanto:x"), ("agent", "mock")], &["agent"], 1),
    ];
    for (components, want, problems) in cases {
        let (types, mixed) = external_types(&topology_of(components), &externals);
        let got: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
        assert_eq!(&got, want, "{components:?}");
        assert_eq!(mixed.len(), *problems, "{components:?}: {mixed:?}");
        for p in mixed {
            assert!(p.contains("'agent'") && p.contains("kanto:x"), "{p}");
        }
    }
}

#[allow(non_snake_case)] // reads as the constructor it stands for
fn InterfaceNameOf(s: &str) -> crate::model::InterfaceName {
    crate::model::InterfaceName::new(s).unwrap()
}

#[test]
fn an_external_target_is_installed_when_provides_name_it() {
    let t = ExternalTarget {
        artifact_name: "kanto-x-1".into(),
    };
    let p = |v: &[(&str, &str)]| {
        Provides(
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    };
    assert!(t.is_installed(&p(&[("artifact_name", "kanto-x-1")])));
    assert!(!t.is_installed(&p(&[("artifact_name", "kanto-x-0")])));
    assert!(!t.is_installed(&p(&[("rootfs-image.version", "kanto-x-1")])));
    assert!(!t.is_installed(&p(&[])));
    let gw = ComponentType::new("gw").unwrap();
    assert!(t.check_compatible(&gw, &p(&[])).is_ok());
    assert_eq!(t.artifact_name(), "kanto-x-1");
}

#[tokio::test(start_paused = true)]
async fn queries_and_states_answer_within_the_engines_limits() {
    let fake = Fake::new(vec![]);
    let limit = Duration::from_secs(5);
    assert_eq!(
        query(&*fake, Query::SupportsRollback, limit).await,
        QueryResult::SupportsRollback(true)
    );
    assert_eq!(
        query(&*fake, Query::NeedsArtifactReboot, limit).await,
        QueryResult::NeedsReboot(crate::interface::protocol::RebootAnswer::No)
    );
    assert!(matches!(
        query(&*fake, Query::Identity, limit).await,
        QueryResult::Failed(_)
    ));
    let o = observe(&*fake, limit).await.unwrap();
    assert_eq!(o.id.as_str(), "agent-1");

    let hanging = Arc::new(Fake {
        hang: Some(State::Download),
        ..Arc::into_inner(Fake::new(vec![])).unwrap()
    });
    let c = PlannedComponent {
        index: 0,
        component_type: ComponentType::new("agent").unwrap(),
        id: ComponentId::new("agent-1").unwrap(),
        interface: InterfaceNameOf("kanto:x"),
        interface_args: vec![],
        order: crate::model::Order::new(10).unwrap(),
        group: 0,
        artifact_name: "kanto-x-1".into(),
        provides_before: Provides::default(),
    };
    let events = Arc::new(Recorder::default());
    let r = run_state(
        hanging.clone(),
        "d1",
        &c,
        State::Download,
        events.clone(),
        limit,
    )
    .await;
    assert_eq!(
        r,
        CallResult::Failed("Download did not finish within 5 s".into())
    );
    assert_eq!(
        events.0.lock().unwrap().as_slice(),
        [Progress::Percent {
            component: ComponentRef {
                component_type: "agent".into(),
                id: "agent-1".into()
            },
            percent: 50
        }]
    );
    let ok = run_state(hanging, "d1", &c, State::ArtifactInstall, events, limit).await;
    assert_eq!(ok, CallResult::Ok);
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Progress>>);
impl ProgressSink for Recorder {
    fn emit(&self, event: Progress) {
        self.0.lock().unwrap().push(event);
    }
}

// ---- The live engine with the fake between two mock components.

/// `gw` (mock, order 10), `agent` (the fake, `kanto:x`, order 20), `mcu` (mock, order 30).
fn system(root: &Path) -> config::Effective {
    let ifaces = root.join("data/interfaces/v1");
    std::fs::create_dir_all(&ifaces).unwrap();
    std::fs::write(
        ifaces.join("mock"),
        include_str!("../../../interfaces/mock"),
    )
    .unwrap();
    std::fs::set_permissions(ifaces.join("mock"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let ds = root.join("datastore");
    std::fs::create_dir_all(&ds).unwrap();
    let mut topology =
        "api_version: mender/v1\nkind: topology\nsystem_type: sys\ncomponents:\n".to_string();
    for t in ["gw", "mcu"] {
        let state = root.join(t);
        std::fs::create_dir_all(&state).unwrap();
        for (f, v) in [
            ("Identity", format!("id={t}1\n")),
            ("version", format!("{t}-v1\n")),
            ("SupportsRollback", "Yes\n".into()),
        ] {
            std::fs::write(state.join(f), v).unwrap();
        }
        let artifact =
            crate::artifact::testkit::ArtifactBuilder::new(&format!("{t}-v2"), "mock", t)
                .file("p", "payload")
                .build();
        std::fs::write(root.join(format!("{t}-v2.mender")), artifact).unwrap();
        topology.push_str(&format!(
            "  - component_type: {t}\n    interface: mock\n    interface_args: [\"{}\"]\n",
            state.display()
        ));
        if t == "gw" {
            topology.push_str("  - component_type: agent\n    interface: \"kanto:x\"\n");
        }
    }
    std::fs::write(ds.join("topology.yaml"), topology).unwrap();
    crate::engine::read_tests::scratch_config(root, ds, 60)
}

fn manifest(root: &Path, name: &str, agent: &str) -> crate::resource::LoadedManifest {
    let path = root.join(format!("{name}.yaml"));
    let mut text = format!(
        "api_version: mender/v1\nkind: manifest\nname: {name}\nsystem_types_compatible: [sys]\ncomponent_types:\n"
    );
    for (t, order) in [("gw", 10), ("mcu", 30)] {
        text.push_str(&format!(
            "  {t}:\n    artifact_path: {t}-v2.mender\n    update_strategy:\n      order: {order}\n"
        ));
    }
    text.push_str(&format!(
        "  agent:\n    artifact_name: {agent}\n    update_strategy:\n      order: 20\n"
    ));
    std::fs::write(&path, text).unwrap();
    crate::resource::load_manifest(&path).unwrap()
}

fn engine(root: &Path, fake: Arc<Fake>) -> Engine {
    Engine::open(system(root), Metrics::default())
        .unwrap()
        .with_externals(Externals::new().with(
            InterfaceNameOf("kanto:x"),
            fake as Arc<dyn ExternalInterface>,
        ))
}

async fn install(e: &Engine, root: &Path, name: &str, agent: &str) -> DeploymentReport {
    let m = manifest(root, name, agent);
    e.install(m, RunOptions::default(), Arc::new(NoProgress))
        .await
        .unwrap()
}

fn watch(root: &Path) -> Vec<(&'static str, PathBuf)> {
    vec![("gw", root.join("gw")), ("mcu", root.join("mcu"))]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_drives_an_external_component_in_its_order_group() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(watch(dir.path()));
    let e = engine(dir.path(), fake.clone());
    let report = install(&e, dir.path(), "m2", "kanto-x-1").await;
    assert!(matches!(report.end, End::Success), "{:?}", report.end);
    assert_eq!(
        fake.states(),
        ["Download", "ArtifactInstall", "ArtifactCommit", "Cleanup"]
    );
    // Order group 20: after gw's ArtifactInstall, before mcu's; committed after every group
    // installed; every state under one deployment id, naming the slice.
    assert!(fake.line("ArtifactInstall").ends_with("gw:installed,mcu:-"));
    assert!(fake
        .line("ArtifactCommit")
        .ends_with("gw:installed,mcu:installed"));
    let id = &report.deployment;
    for s in ["Download", "ArtifactInstall", "ArtifactCommit", "Cleanup"] {
        assert!(
            fake.line(s).contains(&format!(" kanto-x-1 {id} ")),
            "{}",
            fake.line(s)
        );
    }
    // It now runs it: the same Manifest again touches nothing.
    let again = install(&e, dir.path(), "m2", "kanto-x-1").await;
    assert!(matches!(again.end, End::Success));
    assert_eq!(fake.states().len(), 4);
    let inv = e.inventory().await.unwrap();
    assert!(inv
        .lines
        .contains(&("agent.agent-1.artifact_name".into(), "kanto-x-1".into())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_component_is_rolled_back_with_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(watch(dir.path()));
    let e = engine(dir.path(), fake.clone());
    std::fs::write(dir.path().join("mcu/ArtifactInstall.FAIL"), "").unwrap();
    let report = install(&e, dir.path(), "m2", "kanto-x-1").await;
    assert!(
        matches!(report.end, End::RolledBack { .. }),
        "{:?}",
        report.end
    );
    let states = fake.states();
    assert_eq!(&states[..2], ["Download", "ArtifactInstall"]);
    assert!(
        states.contains(&"ArtifactRollback".to_string()),
        "{states:?}"
    );
    assert!(
        !states.contains(&"ArtifactCommit".to_string()),
        "{states:?}"
    );
    assert_eq!(states.last().map(String::as_str), Some("Cleanup"));
    assert_eq!(*fake.installed.lock().unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_external_target_is_refused_before_anything_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(watch(dir.path()));
    let e = engine(dir.path(), fake.clone());
    let report = install(&e, dir.path(), "m3", "kanto-x-missing").await;
    match &report.end {
        End::Rejected { problems } => {
            assert!(
                problems.iter().any(|p| p.reason == Reason::ArtifactNotFound
                    && p.message.contains("the fake knows no 'kanto-x-missing'")),
                "{problems:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(fake.states().is_empty());
    assert!(
        !dir.path().join("gw/calls.log").exists()
            || !std::fs::read_to_string(dir.path().join("gw/calls.log"))
                .unwrap()
                .contains("Download")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_state_that_fails_fails_the_deployment_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake {
        fail: Some(State::ArtifactInstall),
        ..Arc::into_inner(Fake::new(watch(dir.path()))).unwrap()
    });
    let e = engine(dir.path(), fake.clone());
    let report = install(&e, dir.path(), "m2", "kanto-x-1").await;
    match &report.end {
        End::RolledBack {
            failed_at, message, ..
        } => {
            assert!(failed_at.contains("ArtifactInstall"), "{failed_at}");
            assert!(
                message.contains("ArtifactInstall failed on purpose"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(fake.states().contains(&"ArtifactRollback".to_string()));
}
