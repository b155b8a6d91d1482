//! The read rule against the live engine and the mock Interface: idle, a read asks the
//! components; while a deployment runs, it answers from the last observation (without
//! waiting for the deployment, which is held until the reads are done), and another process
//! answers from the one kept in the datastore.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::api::{kept_observation, Deployer, End, NoProgress, RunOptions};
use super::{DatastoreReader, Engine};
use crate::artifact::testkit::ArtifactBuilder;
use crate::config::{self, Overrides};
use crate::metrics::Metrics;

struct NoEnv;
impl config::Env for NoEnv {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
}

/// The configuration of a scratch System in `root` (datastore `ds`, Interfaces in
/// `root/data`): a `baton.conf` with this Interface timeout and a boot ID file of its own,
/// no environment.
pub(super) fn scratch_config(
    root: &Path,
    ds: std::path::PathBuf,
    interface_timeout_seconds: u64,
) -> config::Effective {
    std::fs::write(
        root.join("baton.conf"),
        serde_json::json!({
            "InterfaceTimeoutSeconds": interface_timeout_seconds,
            "BootIdPath": root.join("boot_id")
        })
        .to_string(),
    )
    .unwrap();
    config::load(
        &Overrides {
            config_file: Some(root.join("baton.conf")),
            datastore_dir: Some(ds),
            data_dir: Some(root.join("data")),
            ..Default::default()
        },
        &NoEnv,
    )
    .unwrap()
}

/// One mock `rtos` component (id R1, on rtos-v1) whose ArtifactInstall is held while its
/// state directory holds `hold` (two minutes at most: a failed test leaves nothing behind
/// for long), then runs; a Manifest putting it on rtos-v2.
fn system(root: &Path) -> (config::Effective, std::path::PathBuf) {
    let ifaces = root.join("data/interfaces/v1");
    let real = root.join("data/real");
    std::fs::create_dir_all(&ifaces).unwrap();
    std::fs::create_dir_all(&real).unwrap();
    // The real script keeps the name `mock`, which its Provides key is made of.
    std::fs::write(real.join("mock"), include_str!("../../../interfaces/mock")).unwrap();
    std::fs::write(
        ifaces.join("mock"),
        format!(
            "#!/bin/sh\nif [ \"$1\" = ArtifactInstall ]; then echo held >> \"$4/held.log\"; n=0; \
             while [ -f \"$4/hold\" ] && [ $n -lt 1200 ]; do sleep 0.1; n=$((n+1)); done; fi\n\
             exec '{}' \"$@\"\n",
            real.join("mock").display()
        ),
    )
    .unwrap();
    for f in [ifaces.join("mock"), real.join("mock")] {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let state = root.join("component");
    std::fs::create_dir_all(&state).unwrap();
    for (f, v) in [
        ("Identity", "id=R1\n"),
        ("version", "rtos-v1\n"),
        ("SupportsRollback", "Yes\n"),
        ("hold", ""),
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
    (scratch_config(root, ds, 300), manifest)
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
    // ArtifactInstall is held now (the wrapper notes it in held.log).
    let held = dir.path().join("component/held.log");
    let started = tokio::time::Instant::now();
    while !held.exists() {
        assert!(started.elapsed() < Duration::from_secs(60), "never held");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The deployment cannot end before the hold is lifted: a read that waited for it would
    // never answer (the bound only keeps a broken build from hanging the suite).
    let o = tokio::time::timeout(Duration::from_secs(60), engine.observe())
        .await
        .expect("observe waited for the held deployment")
        .unwrap();
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

    assert!(!install.is_finished(), "the reads ran while it was held");

    // Lifted: the deployment runs to its end.
    std::fs::remove_file(dir.path().join("component/hold")).unwrap();
    let report = install.await.unwrap().unwrap();
    assert!(matches!(report.end, End::Success), "{:?}", report.end);
    assert!(engine.observe().await.unwrap().live, "idle again: live");
}
