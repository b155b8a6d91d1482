//! The read rule against the live engine and the mock Interface: idle, a read asks the
//! components; while a deployment runs, it answers from the last observation at once, and
//! another process answers from the one kept in the datastore.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::api::{kept_observation, Deployer, End, NoProgress, RunOptions};
use super::{DatastoreReader, Engine};
use crate::artifact::testkit::ArtifactBuilder;
use crate::config::{self, Overrides};
use crate::metrics::Metrics;
use crate::model::Reason;

struct NoEnv;
impl config::Env for NoEnv {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
}

/// One mock `rtos` component (id R1, on rtos-v1) whose ArtifactInstall hangs until the
/// Interface timeout (3 s) ends it; a Manifest putting it on rtos-v2.
fn system(root: &Path) -> (config::Effective, std::path::PathBuf) {
    let ifaces = root.join("data/interfaces/v1");
    std::fs::create_dir_all(&ifaces).unwrap();
    std::fs::write(
        ifaces.join("mock"),
        include_str!("../../../interfaces/mock"),
    )
    .unwrap();
    std::fs::set_permissions(ifaces.join("mock"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let state = root.join("component");
    std::fs::create_dir_all(&state).unwrap();
    for (f, v) in [
        ("Identity", "id=R1\n"),
        ("version", "rtos-v1\n"),
        ("SupportsRollback", "Yes\n"),
        ("ArtifactInstall.HANG", ""),
    ] {
        std::fs::write(state.join(f), v).unwrap();
    }
    let ds = root.join("datastore");
    std::fs::create_dir_all(&ds).unwrap();
    std::fs::write(
        ds.join("topology.yaml"),
        format!(
            "api_version: mender/v1\nkind: topology\nsystem_type: sys\ncomponents:\n  - component_type: rtos\n    interface: mock\n    interface_args: [\"{}\"]\n",
            state.display()
        ),
    )
    .unwrap();
    let artifact = ArtifactBuilder::new("rtos-v2", "mock", "rtos")
        .file("p", "payload")
        .build();
    std::fs::write(root.join("rtos-v2.mender"), artifact).unwrap();
    let manifest = root.join("m.yaml");
    std::fs::write(
        &manifest,
        "api_version: mender/v1\nkind: manifest\nname: m2\nsystem_types_compatible: [sys]\ncomponent_types:\n  rtos:\n    artifact_path: rtos-v2.mender\n    update_strategy:\n      order: 1\n",
    )
    .unwrap();
    std::fs::write(
        root.join("baton.conf"),
        serde_json::json!({"InterfaceTimeoutSeconds": 3, "BootIdPath": root.join("boot_id")})
            .to_string(),
    )
    .unwrap();
    let eff = config::load(
        &Overrides {
            config_file: Some(root.join("baton.conf")),
            datastore_dir: Some(ds),
            data_dir: Some(root.join("data")),
            ..Default::default()
        },
        &NoEnv,
    )
    .unwrap();
    (eff, manifest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_a_deployment_runs_reads_answer_from_the_last_observation() {
    let dir = tempfile::tempdir().unwrap();
    let (eff, manifest) = system(dir.path());
    let datastore = eff.dirs.datastore_dir.clone();
    let engine = Arc::new(Engine::open(eff, Metrics::default()).unwrap());

    let idle = engine.observe().await.unwrap();
    assert!(idle.live);
    assert_eq!(idle.components[0].id.as_deref(), Some("R1"));

    let m = crate::resource::load_manifest(&manifest).unwrap();
    let e = engine.clone();
    let install = tokio::spawn(async move {
        e.install(m, RunOptions::default(), Arc::new(NoProgress))
            .await
    });
    // ArtifactInstall hangs now (the mock logs `hang` when it starts hanging).
    let calls = dir.path().join("component/calls.log");
    let started = Instant::now();
    while !std::fs::read_to_string(&calls).is_ok_and(|c| c.contains("ArtifactInstall rtos")) {
        assert!(started.elapsed() < Duration::from_secs(20), "never hung");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let asked = Instant::now();
    let o = engine.observe().await.unwrap();
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    assert!(!o.live, "the last observation, not a live one");
    assert_eq!(
        o.components[0].provides.get("rootfs-image.mock.version"),
        Some("rtos-v1")
    );
    let inv = engine.inventory().await.unwrap();
    assert!(!inv.live);
    assert!(inv.lines.contains(&("component".into(), "rtos.R1".into())));
    let journal = engine.journal().await.unwrap();
    assert_eq!(
        journal.deployment.map(|d| d.manifest).as_deref(),
        Some("m2")
    );
    // Another process finds the same observation kept in the datastore.
    let kept = kept_observation(&datastore).unwrap();
    assert!(!kept.live);
    assert_eq!(kept.components, o.components);
    let reader = DatastoreReader::new(datastore.clone(), Duration::from_millis(100));
    assert_eq!(reader.observe().await.unwrap().components, o.components);
    let looked = reader.journal().await.unwrap();
    assert!(!looked.locked, "the engine holds the lock: only looked");
    assert!(looked.deployment.is_some());

    // The Interface timeout ends the hang; the deployment rolls back.
    let report = install.await.unwrap().unwrap();
    assert!(
        matches!(
            report.end,
            End::RolledBack {
                reason: Reason::InstallFailed,
                ..
            }
        ),
        "{:?}",
        report.end
    );
    assert!(engine.observe().await.unwrap().live, "idle again: live");
}
