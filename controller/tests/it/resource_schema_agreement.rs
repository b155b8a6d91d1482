//! The schemas in `crds/` and the Rust types say the same thing.
//!
//! For each schema, a sample value of the Rust type with every field set is serialized; at every
//! level its keys must be exactly the schema's properties (so a field added on one side only
//! fails here), it must validate, and it must read back into the same Rust value. Every
//! documentation example also survives YAML -> schema -> Rust -> JSON unchanged.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use baton::config::{
    self, Api, ArtifactSource, ArtifactsCache, Config, ConsentPhase, DriftPolicy, HealthGate,
    HttpsClient, LogLevel, MaintenanceWindow, OnTimeout, OwnerConsent, PolicyMode, Retry,
    UpdateLocks, UpdatePolicy,
};
use baton::model::{
    ComponentStatus, Condition, ConditionStatus, ConditionType, ConsentQuestion,
    DeploymentComponent, DeploymentStatus, GateStatus, HistoryComponent, HistoryEntry, LockHolder,
    Outcome, Status,
};
use baton::resource::wire::{
    ComponentDoc, ComponentTypeDoc, ConstraintsDoc, EndStateDoc, ManifestDoc,
    TopologyComponentsDoc, TopologyDoc, TransitionDoc, UpdateStrategyDoc,
};
use baton::resource::{schema, yaml, Schema};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Walks `instance` along `node`, checking object keys against `properties` at every level.
fn agree(root: &Value, node: &Value, instance: &Value, at: &str, problems: &mut Vec<String>) {
    let node = resolve(root, node);
    if let Some(branches) = node.get("oneOf").and_then(Value::as_array) {
        let fit = branches
            .iter()
            .map(|b| resolve(root, b))
            .find(|b| fits(b, instance));
        match fit {
            Some(b) => agree(root, b, instance, at, problems),
            None => problems.push(format!(
                "{at}: no oneOf branch has exactly the keys of {instance}"
            )),
        }
        return;
    }
    match instance {
        Value::Object(m) => {
            if let Some(props) = node.get("properties").and_then(Value::as_object) {
                let want: BTreeSet<&String> = props.keys().collect();
                let have: BTreeSet<&String> = m.keys().collect();
                for k in want.difference(&have) {
                    problems.push(format!("{at}: schema property `{k}` has no Rust field (or the sample leaves it unset)"));
                }
                for k in have.difference(&want) {
                    problems.push(format!("{at}: Rust field `{k}` is not in the schema"));
                }
                for (k, v) in m {
                    if let Some(p) = props.get(k) {
                        agree(root, p, v, &format!("{at}.{k}"), problems);
                    }
                }
            } else if let Some(extra) = node.get("additionalProperties").filter(|v| v.is_object()) {
                for (k, v) in m {
                    agree(root, extra, v, &format!("{at}.{k}"), problems);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = node.get("items") {
                for (i, v) in items.iter().enumerate() {
                    agree(root, item, v, &format!("{at}[{i}]"), problems);
                }
            }
        }
        _ => {}
    }
}

fn fits(branch: &Value, instance: &Value) -> bool {
    match (
        branch.get("properties").and_then(Value::as_object),
        instance,
    ) {
        (Some(props), Value::Object(m)) => {
            m.keys().all(|k| props.contains_key(k))
                && props
                    .iter()
                    .all(|(k, p)| p.get("const").is_none_or(|c| m.get(k) == Some(c)))
        }
        (None, Value::Null) => branch.get("type") == Some(&Value::String("null".into())),
        _ => false,
    }
}

fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    match node
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
    {
        Some(p) => root.pointer(p).expect("dangling $ref"),
        None => node,
    }
}

fn check<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    schema: Schema,
    sample: &T,
) {
    let json = serde_json::to_value(sample).unwrap();
    let mut problems = Vec::new();
    agree(schema.json(), schema.json(), &json, "", &mut problems);
    assert!(
        problems.is_empty(),
        "{}:\n{}",
        schema.file_name(),
        problems.join("\n")
    );
    assert!(
        schema.is_valid(&json),
        "{}: sample invalid: {:?}",
        schema.file_name(),
        schema.errors(&json)
    );
    let back: T = serde_json::from_value(json).unwrap();
    assert_eq!(&back, sample);
}

fn component() -> ComponentDoc {
    ComponentDoc {
        component_type: "rtos".into(),
        interface: Some("rtos-interface".into()),
        interface_args: Some(vec!["1".into()]),
    }
}

#[test]
fn topology_schema_and_types_agree() {
    check(
        Schema::Topology,
        &TopologyDoc {
            api_version: "mender/v1".into(),
            kind: "topology".into(),
            system_type: "system-core".into(),
            components: Some(vec![component()]),
        },
    );
    check(
        Schema::TopologyComponents,
        &TopologyComponentsDoc {
            components: vec![component()],
        },
    );
    // The two files define one component shape; they must not drift apart.
    assert_eq!(
        Schema::Topology.json()["$defs"]["component"],
        Schema::TopologyComponents.json()["$defs"]["component"]
    );
}

#[test]
fn manifest_schema_and_types_agree() {
    let mut types = BTreeMap::new();
    types.insert(
        "rtos".to_string(),
        ComponentTypeDoc {
            artifact_name: Some("rtos-v1".into()),
            artifact_path: Some("rtos-v1.mender".into()),
            update_strategy: UpdateStrategyDoc { order: 20 },
        },
    );
    check(
        Schema::Manifest,
        &ManifestDoc {
            api_version: "mender/v1".into(),
            kind: "manifest".into(),
            name: "system-core-v1".into(),
            system_types_compatible: vec!["system-core".into()],
            component_types: types,
        },
    );
}

#[test]
fn constraints_schema_and_types_agree() {
    let artifacts = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(t, a)| (t.to_string(), a.to_string()))
            .collect()
    };
    check(
        Schema::Constraints,
        &ConstraintsDoc {
            api_version: "baton/v1".into(),
            kind: "constraints".into(),
            end_states: Some(vec![EndStateDoc {
                name: "v.2".into(),
                artifacts: artifacts(&[("gateway", "gateway-v2"), ("rtos", "rtos-v3*")]),
            }]),
            transitions: Some(vec![TransitionDoc {
                artifacts: artifacts(&[("gateway", "gateway-v2")]),
            }]),
        },
    );
}

#[test]
fn status_schema_and_types_agree() {
    let sha = "ab".repeat(32);
    let status = Status {
        observed_generation: 3,
        generation: 4,
        desired_manifest: Some("system-core-v2".into()),
        suspended: false,
        failures: 1,
        next_attempt_at: Some("2026-01-01T00:00:02Z".into()),
        system_version: Some("v.2".into()),
        conditions: vec![Condition {
            type_: ConditionType::Progressing,
            status: ConditionStatus::True,
            reason: baton::model::Reason::Deploying,
            message: "order group 20".into(),
            last_transition_time: "2026-01-01T00:00:00Z".into(),
            observed_generation: 4,
        }],
        deployment: Some(DeploymentStatus {
            id: "d1".into(),
            manifest: "system-core-v2".into(),
            manifest_sha256: sha.clone(),
            generation: 4,
            driver: "controller".into(),
            state: "ArtifactInstall".into(),
            order_group: Some(20),
            rolling_back: false,
            started_at: "2026-01-01T00:00:00Z".into(),
            components: vec![DeploymentComponent {
                component_type: "rtos".into(),
                id: "R123".into(),
                order_group: 20,
                to_artifact: "rtos-v2".into(),
                state: "Download".into(),
                bytes: 1024,
                total_bytes: Some(4096),
            }],
        }),
        components: vec![ComponentStatus {
            component_type: "rtos".into(),
            id: Some("R123".into()),
            interface: "rtos-interface".into(),
            interface_args: vec!["1".into()],
            provides: [(
                "rootfs-image.rtos-interface.version".to_string(),
                "rtos-v1".to_string(),
            )]
            .into(),
            observed_artifact: Some("rtos-v1".into()),
            desired_artifact: Some("rtos-v2".into()),
            in_sync: false,
            error: Some("Identity: exit status 1".into()),
        }],
        history: vec![HistoryEntry {
            id: "d0".into(),
            manifest: "system-core-v1".into(),
            manifest_sha256: sha,
            generation: 2,
            driver: "update-module".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            finished_at: "2026-01-01T00:05:00Z".into(),
            duration_seconds: 300,
            outcome: Outcome::RolledBack,
            reason: Some(baton::model::Reason::CommitFailed),
            message: Some("R456 failed".into()),
            components: vec![HistoryComponent {
                component_type: "rtos".into(),
                id: "R456".into(),
                to_artifact: "rtos-v2".into(),
                result: "rolledBack".into(),
                notes: vec!["ArtifactCommit: exit status 1".into()],
            }],
            policy: Some("latest".into()),
            waited_seconds: 3600,
        }],
        next_window_at: Some("2026-01-02T02:00:00Z".into()),
        gate: Some(GateStatus {
            reason: baton::model::Reason::AwaitingConsent,
            message: "asking the owner".into(),
            deployment: "d1".into(),
            since: "2026-01-01T00:00:00Z".into(),
            until: Some("2026-01-01T00:30:00Z".into()),
            consent: Some(ConsentQuestion {
                id: 3,
                deployment: "d1".into(),
                manifest: "system-core-v2".into(),
                phase: "Install".into(),
                asked_at: "2026-01-01T00:00:00Z".into(),
                deadline: None,
            }),
            locks: vec![LockHolder {
                file: "/run/baton/locks/nav.lock".into(),
                pid: Some(42),
                command: Some("navd".into()),
            }],
        }),
    };
    check(Schema::Status, &status);
    // An idle System: no deployment in flight.
    check(
        Schema::Status,
        &Status {
            deployment: None,
            ..status
        },
    );
}

#[test]
fn config_schema_and_types_agree() {
    let sample = Config {
        artifact_verify_key: Some("/etc/keys/a.pem".into()),
        artifact_verify_keys: Some(vec!["/etc/keys/b.pem".into()]),
        artifacts_cache: ArtifactsCache {
            enabled: true,
            path: "/var/cache/mo".into(),
            max_size_bytes: 2_147_483_648,
        },
        https_client: HttpsClient {
            certificate: Some("/certs/cert.pem".into()),
            key: Some("pkcs11:object=k".into()),
            ssl_engine: Some("pkcs11".into()),
        },
        interface_timeout_seconds: 14_400,
        log_level: LogLevel::Warning,
        manifest_store: "/var/lib/mo/manifests".into(),
        server_certificate: Some("/certs/server.pem".into()),
        topology_components: Some("/data/components.yaml".into()),
        artifact_sources: vec![
            ArtifactSource::Directory {
                path: "/data/artifacts".into(),
            },
            ArtifactSource::Url {
                template: "http://10.0.0.1/{artifact_name}.mender".into(),
            },
        ],
        query_timeout_seconds: 60,
        reboot_command: vec!["systemctl".into(), "reboot".into()],
        boot_id_path: "/proc/sys/kernel/random/boot_id".into(),
        api: Api {
            socket: "/run/baton/baton.sock".into(),
            socket_mode: "0660".into(),
            tcp: Some("127.0.0.1:7373".into()),
            token_file: Some("/etc/baton/token".into()),
            read_token_file: Some("/etc/baton/read-token".into()),
        },
        watch_dir: "/var/lib/mo/watch".into(),
        retry: Retry {
            base_seconds: 1,
            cap_seconds: 300,
            limit: 8,
        },
        resync_interval_seconds: 600,
        drift_policy: DriftPolicy::Enabled,
        downgrade_protection: true,
        require_signed_manifests: true,
        runtime_dir: "/run/baton".into(),
        maintenance_windows: vec![
            MaintenanceWindow {
                schedule: "0 2 * * mon-fri".into(),
                duration_seconds: 7200,
                time_zone: "UTC".into(),
            },
            MaintenanceWindow {
                schedule: "30 1 1,15 * *".into(),
                duration_seconds: 3600,
                time_zone: "+02:00".into(),
            },
        ],
        update_policy: UpdatePolicy {
            mode: PolicyMode::Latest,
            pinned: Some("system-v2".into()),
            version_pattern: Some("-v([0-9.]+)$".into()),
        },
        update_locks: UpdateLocks {
            dir: "/run/baton/locks".into(),
            timeout_seconds: 600,
        },
        owner_consent: OwnerConsent {
            before: vec![ConsentPhase::Download, ConsentPhase::Activate],
            timeout_seconds: 60,
            on_timeout: OnTimeout::Approve,
        },
        health_gate: HealthGate {
            soak_seconds: 300,
            interval_seconds: 30,
            timeout_seconds: 10,
            checks: vec![vec![
                "/usr/bin/systemctl".into(),
                "is-system-running".into(),
            ]],
        },
        min_free_bytes: 1 << 20,
        constraints: Some("/etc/baton/constraints.yaml".into()),
        kanto: Some(baton::config::KantoConfig {
            broker: "tcp://127.0.0.1:1883".into(),
            things_enabled: false,
            owner_consent_commands: vec!["DOWNLOAD".into(), "update".into()],
            username: "um".into(),
            password: "secret".into(),
            ..Default::default()
        }),
    };
    check(Schema::Config, &sample);
    // Every built-in default satisfies the schema too (unset options aside, which JSON files
    // leave out).
    let mut defaults = serde_json::to_value(Config::default()).unwrap();
    strip_nulls(&mut defaults);
    assert!(
        Schema::Config.is_valid(&defaults),
        "{:?}",
        Schema::Config.errors(&defaults)
    );
    // And every default the schema announces to editors is the one baton uses (inside an
    // optional object, the one it gets when written without that key: `"Kanto": {}`).
    defaults["Kanto"] = serde_json::to_value(baton::config::KantoConfig::default()).unwrap();
    let announced = announced_defaults(Schema::Config.json());
    assert!(announced.len() >= 10, "{announced:?}");
    for (path, value) in announced {
        let actual = path.split('.').fold(&defaults, |v, k| &v[k]);
        if !(value.is_null() && actual.is_null()) {
            assert_eq!(actual, &value, "default of {path}");
        }
    }
    let _ = config::DEFAULT_DATASTORE_DIR;
}

fn strip_nulls(v: &mut Value) {
    if let Value::Object(m) = v {
        m.retain(|_, x| !x.is_null());
        m.values_mut().for_each(strip_nulls);
    }
}

fn announced_defaults(schema: &Value) -> Vec<(String, Value)> {
    fn walk(node: &Value, prefix: &str, out: &mut Vec<(String, Value)>) {
        if let Some(props) = node.get("properties").and_then(Value::as_object) {
            for (k, p) in props {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                if let Some(d) = p.get("default") {
                    out.push((path.clone(), d.clone()));
                }
                walk(p, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(schema, "", &mut out);
    out
}

fn corpus_valid() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/valid");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .chain(std::fs::read_dir(dir.join("split")).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    assert!(v.len() >= 16, "{v:?}");
    v
}

#[test]
fn documentation_examples_survive_a_round_trip_through_the_types() {
    for path in corpus_valid() {
        let bytes = std::fs::read(&path).unwrap();
        let origin = path.display().to_string();
        let mut tree = yaml::read(&origin, &bytes, yaml::LIMITS).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let again = if name.starts_with("manifest") {
            assert!(schema::check(&origin, &mut tree, Schema::Manifest).is_empty());
            serde_json::to_value(serde_json::from_value::<ManifestDoc>(tree.value.clone()).unwrap())
                .unwrap()
        } else if name == "topology-components.yaml" {
            assert!(schema::check(&origin, &mut tree, Schema::TopologyComponents).is_empty());
            serde_json::to_value(
                serde_json::from_value::<TopologyComponentsDoc>(tree.value.clone()).unwrap(),
            )
            .unwrap()
        } else {
            assert!(schema::check(&origin, &mut tree, Schema::Topology).is_empty());
            serde_json::to_value(serde_json::from_value::<TopologyDoc>(tree.value.clone()).unwrap())
                .unwrap()
        };
        assert_eq!(again, tree.value, "{name}");
    }
}

#[test]
fn the_shipped_files_are_the_embedded_ones() {
    let crds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds");
    for s in Schema::ALL {
        let on_disk = std::fs::read_to_string(crds.join(s.file_name())).unwrap();
        assert_eq!(on_disk, s.source(), "{}", s.file_name());
        assert_eq!(
            s.json()["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
    }
}
