//! Precedence, Mender's environment variables, and the errors a user sees.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::*;

/// A scratch System: conf dir and datastore under a temp dir, nothing else.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        p
    }
    /// The environment pointing Mender's directories into the scratch dir.
    fn env(&self) -> BTreeMap<String, String> {
        let mut e = BTreeMap::new();
        e.insert(
            vars::CONF_DIR.into(),
            self.path("etc").display().to_string(),
        );
        e.insert(
            vars::DATASTORE_DIR.into(),
            self.path("var").display().to_string(),
        );
        e
    }
}

fn load_with(overrides: &Overrides, env: &BTreeMap<String, String>) -> Effective {
    load(overrides, env).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(overrides: &Overrides, env: &BTreeMap<String, String>) -> String {
    load(overrides, env).unwrap_err().to_string()
}

#[test]
fn nothing_set_gives_menders_defaults() {
    let s = Scratch::new();
    let mut env = BTreeMap::new();
    env.insert(
        vars::CONF_DIR.to_string(),
        s.path("etc").display().to_string(),
    );
    let e = load_with(&Overrides::default(), &env);
    assert_eq!(
        e.dirs.datastore_dir,
        Path::new("/var/lib/mender-orchestrator")
    );
    assert_eq!(e.dirs.data_dir, Path::new("/usr/share/mender-orchestrator"));
    assert_eq!(
        e.dirs.interfaces_dir,
        Path::new("/usr/share/mender-orchestrator/interfaces/v1")
    );
    assert_eq!(
        e.dirs.topology_file,
        Path::new("/var/lib/mender-orchestrator/topology.yaml")
    );
    assert_eq!(
        e.dirs.fallback_config_file,
        Path::new("/var/lib/mender-orchestrator/mender-orchestrator.conf")
    );
    assert_eq!(
        e.config.manifest_store,
        Path::new("/var/lib/mender-orchestrator/manifests")
    );
    assert_eq!(
        e.config.artifacts_cache.path,
        Path::new("/var/lib/mender-orchestrator/artifacts")
    );
    assert_eq!(e.config.interface_timeout_seconds, 14_400);
    assert_eq!(e.config.log_level, LogLevel::Info);
    assert_eq!(e.config.reboot_command, vec!["reboot"]);
    assert_eq!(
        e.config.retry,
        Retry {
            base_seconds: 1,
            cap_seconds: 300,
            limit: 8
        }
    );
    assert_eq!(e.config.resync_interval_seconds, 600);
    assert_eq!(e.config.api.socket, Path::new("/run/baton/baton.sock"));
    assert_eq!(e.origin("LogLevel"), Some(&Origin::Default));
    assert_eq!(
        e.origin("ConfDir"),
        Some(&Origin::Env(vars::CONF_DIR.into()))
    );
}

#[test]
fn flag_beats_env_beats_main_file_beats_fallback_beats_default() {
    let s = Scratch::new();
    s.write(
        "var/mender-orchestrator.conf",
        r#"{"TopologyComponents": "/from/fallback", "QueryTimeoutSeconds": 7}"#,
    );
    let main = s.write(
        "etc/mender-orchestrator.conf",
        r#"{"TopologyComponents": "/from/main"}"#,
    );
    let mut env = s.env();
    let flag = Overrides {
        topology_components: Some("/from/flag".into()),
        ..Overrides::default()
    };

    // Each row removes the winner of the row before and shows the next layer.
    let e = load_with(&flag, &{
        let mut e = env.clone();
        e.insert(vars::TOPOLOGY_COMPONENTS_FILE.into(), "/from/env".into());
        e
    });
    assert_eq!(e.config.topology_components, Some("/from/flag".into()));
    assert_eq!(
        e.origin("TopologyComponents"),
        Some(&Origin::Flag("--topology-components".into()))
    );

    env.insert(vars::TOPOLOGY_COMPONENTS_FILE.into(), "/from/env".into());
    let e = load_with(&Overrides::default(), &env);
    assert_eq!(e.config.topology_components, Some("/from/env".into()));
    assert_eq!(
        e.origin("TopologyComponents"),
        Some(&Origin::Env(vars::TOPOLOGY_COMPONENTS_FILE.into()))
    );

    env.remove(vars::TOPOLOGY_COMPONENTS_FILE);
    let e = load_with(&Overrides::default(), &env);
    assert_eq!(e.config.topology_components, Some("/from/main".into()));
    assert_eq!(
        e.origin("TopologyComponents"),
        Some(&Origin::MainFile(main.clone()))
    );
    // A key only the fallback file sets still comes from it.
    assert_eq!(e.config.query_timeout_seconds, 7);
    assert!(matches!(
        e.origin("QueryTimeoutSeconds"),
        Some(Origin::FallbackFile(_))
    ));

    fs::remove_file(&main).unwrap();
    let e = load_with(&Overrides::default(), &env);
    assert_eq!(e.config.topology_components, Some("/from/fallback".into()));

    fs::remove_file(s.path("var/mender-orchestrator.conf")).unwrap();
    let e = load_with(&Overrides::default(), &env);
    assert_eq!(e.config.topology_components, None);
    assert_eq!(e.origin("TopologyComponents"), Some(&Origin::Default));
}

#[test]
fn the_main_file_overrides_the_fallback_setting_by_setting() {
    let s = Scratch::new();
    s.write(
        "var/mender-orchestrator.conf",
        r#"{"ArtifactsCache": {"Path": "/cache", "MaxSizeBytes": 10}}"#,
    );
    s.write(
        "etc/mender-orchestrator.conf",
        r#"{"ArtifactsCache": {"Enabled": true, "MaxSizeBytes": 20}}"#,
    );
    let e = load_with(&Overrides::default(), &s.env());
    assert_eq!(
        e.config.artifacts_cache,
        ArtifactsCache {
            enabled: true,
            path: "/cache".into(),
            max_size_bytes: 20
        }
    );
    assert!(matches!(
        e.origin("ArtifactsCache.Path"),
        Some(Origin::FallbackFile(_))
    ));
    assert!(matches!(
        e.origin("ArtifactsCache.Enabled"),
        Some(Origin::MainFile(_))
    ));
}

#[test]
fn menders_environment_variables_move_the_directories() {
    let s = Scratch::new();
    let mut env = s.env();
    env.insert(vars::DATA_DIR.into(), "/opt/mo".into());
    env.insert(vars::TOPOLOGY_DIR.into(), "/data/mo".into());
    env.insert(vars::MANIFEST_STORE_DIR.into(), "/data/manifests".into());
    env.insert(vars::ARTIFACTS_CACHE_DIR.into(), "/data/cache".into());
    let e = load_with(&Overrides::default(), &env);
    let var = s.path("var");
    assert_eq!(e.dirs.datastore_dir, var);
    assert_eq!(
        e.dirs.fallback_config_file,
        var.join("mender-orchestrator.conf")
    );
    assert_eq!(e.dirs.config_file, s.path("etc/mender-orchestrator.conf"));
    assert_eq!(e.dirs.interfaces_dir, Path::new("/opt/mo/interfaces/v1"));
    assert_eq!(e.dirs.topology_file, Path::new("/data/mo/topology.yaml"));
    assert_eq!(e.config.manifest_store, Path::new("/data/manifests"));
    assert_eq!(e.config.artifacts_cache.path, Path::new("/data/cache"));
    assert_eq!(e.config.watch_dir, var.join("watch"));
    assert_eq!(
        e.origin("InterfacesDir"),
        Some(&Origin::Env(vars::DATA_DIR.into()))
    );

    // Without MENDER_ORCHESTRATOR_TOPOLOGY_DIR the Topology lives in the datastore; an empty
    // variable counts as unset.
    env.insert(vars::TOPOLOGY_DIR.into(), String::new());
    let e = load_with(&Overrides::default(), &env);
    assert_eq!(e.dirs.topology_file, var.join("topology.yaml"));

    // Flags outrank the variables.
    let flags = Overrides {
        datastore_dir: Some("/flag/ds".into()),
        data_dir: Some("/flag/data".into()),
        ..Overrides::default()
    };
    let e = load_with(&flags, &env);
    assert_eq!(e.dirs.datastore_dir, Path::new("/flag/ds"));
    assert_eq!(e.dirs.interfaces_dir, Path::new("/flag/data/interfaces/v1"));
    assert_eq!(
        e.origin("DatastoreDir"),
        Some(&Origin::Flag("--datastore".into()))
    );
}

#[test]
fn unknown_keys_are_named_with_a_suggestion_and_a_position() {
    let s = Scratch::new();
    let main = s.write(
        "etc/mender-orchestrator.conf",
        "{\n  \"LogLevle\": \"info\",\n  \"Retry\": {\"BaseSecond\": 2}\n}\n",
    );
    let msg = errors(&Overrides::default(), &s.env());
    let f = main.display();
    assert_eq!(
        msg,
        format!(
            "{f}:2:3: LogLevle: unknown field `LogLevle`, did you mean `LogLevel`? (expected one of {all})\n\
             {f}:3:13: Retry.BaseSecond: unknown field `BaseSecond`, did you mean `BaseSeconds`? \
             (expected one of `BaseSeconds`, `CapSeconds`, `Limit`)",
            all = known_keys()
        )
    );
}

fn known_keys() -> String {
    let schema = resource::Schema::Config.json();
    let keys: Vec<String> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| format!("`{k}`"))
        .collect();
    keys.join(", ")
}

#[test]
fn wrong_values_are_reported_from_both_files_at_once() {
    let s = Scratch::new();
    let fb = s.write("var/mender-orchestrator.conf", r#"{"LogLevel": "warn"}"#);
    let main = s.write(
        "etc/mender-orchestrator.conf",
        r#"{"InterfaceTimeoutSeconds": "4h", "DriftPolicy": "on"}"#,
    );
    let msg = errors(&Overrides::default(), &s.env());
    let lines: Vec<&str> = msg.lines().collect();
    assert_eq!(lines.len(), 3, "{msg}");
    assert!(
        msg.contains(&format!(
            "{}:1:14: LogLevel: `warn` is not a known value, did you mean `warning`?",
            fb.display()
        )),
        "{msg}"
    );
    assert!(msg.contains(&format!("{}:1:29: InterfaceTimeoutSeconds: wrong type: found a string (`4h`) (expected an integer)", main.display())), "{msg}");
    assert!(
        msg.contains(&format!(
            "{}:1:50: DriftPolicy: `on` is not a known value",
            main.display()
        )),
        "{msg}"
    );
}

#[test]
fn json_syntax_errors_have_a_position() {
    let s = Scratch::new();
    let main = s.write(
        "etc/mender-orchestrator.conf",
        "{\n  \"LogLevel\": \"info\",\n}\n",
    );
    let msg = errors(&Overrides::default(), &s.env());
    assert!(
        msg.starts_with(&format!(
            "{}:3:1: not valid JSON: trailing comma",
            main.display()
        )),
        "{msg}"
    );
    // Duplicate keys, which JSON parsers often accept silently, are refused.
    s.write(
        "etc/mender-orchestrator.conf",
        "{\"LogLevel\": \"info\", \"LogLevel\": \"debug\"}",
    );
    let msg = errors(&Overrides::default(), &s.env());
    assert!(msg.contains(":1:22: duplicate key `LogLevel`"), "{msg}");
}

#[test]
fn only_one_of_the_verify_key_settings_may_be_set() {
    let s = Scratch::new();
    s.write(
        "var/mender-orchestrator.conf",
        r#"{"ArtifactVerifyKey": "/k1.pem"}"#,
    );
    let main = s.write(
        "etc/mender-orchestrator.conf",
        "{\"ArtifactVerifyKeys\": [\"/k2.pem\"]}",
    );
    let msg = errors(&Overrides::default(), &s.env());
    assert!(
        msg.starts_with(&format!(
            "{}:1:2: ArtifactVerifyKeys: both ArtifactVerifyKey (fallback file",
            main.display()
        )),
        "{msg}"
    );
    assert!(
        msg.ends_with("(expected only one of ArtifactVerifyKey and ArtifactVerifyKeys)"),
        "{msg}"
    );
    // One of them alone is fine, and an empty string means "not set", as in Mender.
    s.write(
        "var/mender-orchestrator.conf",
        r#"{"ArtifactVerifyKey": ""}"#,
    );
    let e = load_with(&Overrides::default(), &s.env());
    assert_eq!(e.config.verify_keys(), vec![PathBuf::from("/k2.pem")]);
}

#[test]
fn signed_manifests_need_a_key_to_check_them_with() {
    let s = Scratch::new();
    let main = s.write(
        "etc/mender-orchestrator.conf",
        r#"{"RequireSignedManifests": true}"#,
    );
    let msg = errors(&Overrides::default(), &s.env());
    assert!(
        msg.starts_with(&format!(
            "{}:1:2: RequireSignedManifests: is true but no key",
            main.display()
        )),
        "{msg}"
    );
    s.write(
        "etc/mender-orchestrator.conf",
        r#"{"RequireSignedManifests": true, "ArtifactVerifyKey": "/k.pem"}"#,
    );
    assert!(
        load_with(&Overrides::default(), &s.env())
            .config
            .require_signed_manifests
    );
}

#[test]
fn a_named_file_must_exist_but_a_default_one_may_not() {
    let s = Scratch::new();
    let flags = Overrides {
        config_file: Some(s.path("nope.conf")),
        ..Overrides::default()
    };
    let msg = errors(&flags, &s.env());
    assert!(msg.contains("nope.conf:0:0: cannot read the file"), "{msg}");
    assert!(load(&Overrides::default(), &s.env()).is_ok());
}

#[test]
fn artifact_sources_are_read_in_order() {
    let s = Scratch::new();
    s.write(
        "etc/mender-orchestrator.conf",
        r#"{"ArtifactSources": [{"Type": "url", "Template": "http://127.0.0.1:8080/{artifact_name}.mender"},
                                {"Type": "directory", "Path": "/media/usb"}]}"#,
    );
    let e = load_with(&Overrides::default(), &s.env());
    assert_eq!(
        e.config.artifact_sources,
        vec![
            ArtifactSource::Url {
                template: "http://127.0.0.1:8080/{artifact_name}.mender".into()
            },
            ArtifactSource::Directory {
                path: "/media/usb".into()
            },
        ]
    );
    s.write(
        "etc/mender-orchestrator.conf",
        r#"{"ArtifactSources": [{"Type": "dir", "Path": "/x"}]}"#,
    );
    let msg = errors(&Overrides::default(), &s.env());
    assert!(
        msg.contains("ArtifactSources[0].Type: `dir` is not accepted here (expected `directory`)"),
        "{msg}"
    );
}

#[test]
fn without_the_key_the_mender_server_is_the_source_and_a_list_replaces_it() {
    let s = Scratch::new();
    s.write("etc/mender-orchestrator.conf", "{}");
    let e = load_with(&Overrides::default(), &s.env());
    assert_eq!(
        e.config.artifact_sources,
        vec![ArtifactSource::MenderServer {}]
    );
    s.write(
        "etc/mender-orchestrator.conf",
        r#"{"ArtifactSources": [{"Type": "directory", "Path": "/media/usb"}, {"Type": "mender-server"}]}"#,
    );
    let e = load_with(&Overrides::default(), &s.env());
    assert_eq!(
        e.config.artifact_sources,
        vec![
            ArtifactSource::Directory {
                path: "/media/usb".into()
            },
            ArtifactSource::MenderServer {},
        ]
    );
    s.write("etc/mender-orchestrator.conf", r#"{"ArtifactSources": []}"#);
    let e = load_with(&Overrides::default(), &s.env());
    assert!(
        e.config.artifact_sources.is_empty(),
        "an empty list is no source"
    );
    s.write(
        "etc/mender-orchestrator.conf",
        r#"{"ArtifactSources": [{"Type": "mender-server", "Url": "https://x"}]}"#,
    );
    let msg = errors(&Overrides::default(), &s.env());
    assert!(msg.contains("ArtifactSources[0]"), "{msg}");
}

#[test]
fn the_runtime_dir_moves_the_default_socket_only() {
    let s = Scratch::new();
    s.write(
        "etc/mender-orchestrator.conf",
        r#"{"RuntimeDir": "/tmp/rt"}"#,
    );
    let e = load_with(&Overrides::default(), &s.env());
    assert_eq!(e.config.api.socket, Path::new("/tmp/rt/baton.sock"));
    s.write(
        "etc/mender-orchestrator.conf",
        r#"{"RuntimeDir": "/tmp/rt", "Api": {"Socket": "/s.sock"}}"#,
    );
    let e = load_with(&Overrides::default(), &s.env());
    assert_eq!(e.config.api.socket, Path::new("/s.sock"));
    assert_eq!(e.config.socket_mode(), 0o660);
}

#[test]
fn every_value_is_listed_with_its_origin() {
    let s = Scratch::new();
    let e = load_with(
        &Overrides {
            log_level: Some(LogLevel::Debug),
            ..Overrides::default()
        },
        &s.env(),
    );
    let entries = e.entries();
    let log = entries.iter().find(|(k, _, _)| k == "LogLevel").unwrap();
    assert_eq!(log.1, "debug");
    assert_eq!(log.2, Origin::Flag("--log-level".into()));
    for key in [
        "DatastoreDir",
        "InterfacesDir",
        "Retry.Limit",
        "ArtifactsCache.Path",
        "Api.Socket",
    ] {
        assert!(entries.iter().any(|(k, _, _)| k == key), "{key} missing");
    }
}

#[test]
fn relative_directories_from_flags_and_the_environment_become_absolute() {
    let overrides = Overrides {
        datastore_dir: Some("store".into()),
        data_dir: Some("./data".into()),
        ..Overrides::default()
    };
    let mut env = BTreeMap::new();
    env.insert(vars::TOPOLOGY_DIR.to_string(), "topo".to_string());
    // No configuration files where these relative paths point: defaults only.
    env.insert(
        vars::CONF_DIR.to_string(),
        "/nonexistent-baton-test".to_string(),
    );
    let eff = load_with(&overrides, &env);
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(eff.dirs.datastore_dir, cwd.join("store"));
    assert!(eff.dirs.interfaces_dir.is_absolute());
    assert!(eff.dirs.interfaces_dir.ends_with("data/interfaces/v1"));
    assert_eq!(eff.dirs.topology_file, cwd.join("topo/topology.yaml"));
    assert_eq!(eff.config.manifest_store, cwd.join("store/manifests"));
}

#[test]
fn the_constraints_file_is_next_to_the_topology_unless_named() {
    let s = Scratch::new();
    let env = s.env();
    let e = load_with(&Overrides::default(), &env);
    assert_eq!(
        e.constraints_file(),
        (s.path("var").join("constraints.yaml"), false)
    );
    s.write(
        "etc/mender-orchestrator.conf",
        r#"{"Constraints": "/etc/baton/constraints.yaml"}"#,
    );
    let e = load_with(&Overrides::default(), &env);
    assert_eq!(
        e.constraints_file(),
        (PathBuf::from("/etc/baton/constraints.yaml"), true)
    );
    let flag = Overrides {
        constraints: Some("/from/flag.yaml".into()),
        ..Overrides::default()
    };
    let e = load_with(&flag, &env);
    assert_eq!(
        e.constraints_file(),
        (PathBuf::from("/from/flag.yaml"), true)
    );
    assert_eq!(
        e.origin("Constraints"),
        Some(&Origin::Flag("--constraints".into()))
    );
}

#[test]
fn the_kanto_key_is_off_unless_set_and_keeps_kantos_defaults_for_what_it_omits() {
    let s = Scratch::new();
    let env = s.env();
    assert_eq!(load_with(&Overrides::default(), &env).config.kanto, None);
    s.write(
        "etc/mender-orchestrator.conf",
        r#"{"Kanto": {"Broker": "tcp://127.0.0.1:1884", "ThingsEnabled": false}}"#,
    );
    let k = load_with(&Overrides::default(), &env)
        .config
        .kanto
        .expect("the Kanto key is read");
    assert_eq!(k.broker, "tcp://127.0.0.1:1884");
    assert!(!k.things_enabled);
    assert_eq!(k.domain, "device");
    assert_eq!(k.phase_timeout_seconds, 600);
    s.write(
        "etc/mender-orchestrator.conf",
        r#"{"Kanto": {"Brokr": "tcp://127.0.0.1:1884"}}"#,
    );
    let err = load(&Overrides::default(), &env).expect_err("an unknown Kanto key is refused");
    assert!(err.to_string().contains("Brokr"), "{err}");
}
