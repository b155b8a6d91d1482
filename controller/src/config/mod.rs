//! Configuration: Mender Orchestrator's keys plus baton's own, with provenance.
//!
//! [`load`] resolves the directories (flag > environment > default), reads the main and the
//! fallback JSON files (each checked against `crds/config.schema.json`, every problem reported
//! with file, line and column), layers everything (flag > environment > main file > fallback
//! file > defaults) and returns the typed [`Config`] with the origin of every value. The
//! environment is read through [`Env`] so tests inject it. This room reads files only; it never
//! creates directories or acts on the values.

mod env;
mod gates;
mod kanto;
mod keys;
mod layers;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

pub use env::{vars, Env, ProcessEnv};
pub use kanto::KantoConfig;
pub use keys::{
    Api, ArtifactSource, ArtifactsCache, Config, ConsentPhase, DriftPolicy, HealthGate,
    HttpsClient, LogLevel, MaintenanceWindow, OnTimeout, OwnerConsent, PolicyMode, Retry,
    UpdateLocks, UpdatePolicy, CONFIG_FILE_NAME, DEFAULT_CONF_DIR, DEFAULT_DATASTORE_DIR,
    DEFAULT_DATA_DIR, TOPOLOGY_FILE_NAME,
};
pub use layers::{Layered, Origin};

use crate::resource::{self, schema, yaml, Diagnostic, Diagnostics, Pos, Schema};

/// What the command line set. None = not given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--config`: the main configuration file.
    pub config_file: Option<PathBuf>,
    /// `--fallback-config`.
    pub fallback_config_file: Option<PathBuf>,
    /// `--datastore`.
    pub datastore_dir: Option<PathBuf>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--topology-dir`.
    pub topology_dir: Option<PathBuf>,
    /// `--topology-components`.
    pub topology_components: Option<PathBuf>,
    /// `--constraints`.
    pub constraints: Option<PathBuf>,
    /// `--log-level`.
    pub log_level: Option<LogLevel>,
}

/// Directories and files that are not keys of the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Dirs {
    pub conf_dir: PathBuf,
    pub config_file: PathBuf,
    pub fallback_config_file: PathBuf,
    pub data_dir: PathBuf,
    /// `<data dir>/interfaces/v1`: where Interfaces live.
    pub interfaces_dir: PathBuf,
    pub datastore_dir: PathBuf,
    pub topology_dir: PathBuf,
    /// `<topology dir>/topology.yaml`.
    pub topology_file: PathBuf,
}

/// The effective configuration and where each value came from.
#[derive(Debug, Clone)]
pub struct Effective {
    pub config: Config,
    pub dirs: Dirs,
    /// Dotted key (`ArtifactsCache.Path`, or a [`Dirs`] field such as `DatastoreDir`) -> origin.
    pub origins: BTreeMap<String, Origin>,
}

impl Effective {
    pub fn origin(&self, key: &str) -> Option<&Origin> {
        self.origins.get(key)
    }

    /// The constraints file, and whether it was named (`Constraints`, `--constraints`): a
    /// named file must exist; the default, `constraints.yaml` next to the Topology, may not.
    pub fn constraints_file(&self) -> (PathBuf, bool) {
        match &self.config.constraints {
            Some(p) => (p.clone(), true),
            None => (
                self.dirs
                    .topology_dir
                    .join(resource::constraints::FILE_NAME),
                false,
            ),
        }
    }

    /// Every value as `(dotted key, value, origin)`, directories first, then settings.
    pub fn entries(&self) -> Vec<(String, Value, Origin)> {
        let mut out = Vec::new();
        for (v, prefix) in [
            (serde_json::to_value(&self.dirs).unwrap_or_default(), ""),
            (serde_json::to_value(&self.config).unwrap_or_default(), ""),
        ] {
            leaves(&v, prefix, &mut |k, val| {
                let origin = self.origins.get(&k).cloned().unwrap_or(Origin::Default);
                out.push((k, val.clone(), origin));
            });
        }
        out
    }
}

fn leaves(v: &Value, prefix: &str, f: &mut dyn FnMut(String, &Value)) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(child, &p, f);
            }
        }
        _ => f(prefix.to_string(), v),
    }
}

/// Why no configuration could be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Problems in the configuration files, all of them.
    #[error("{0}")]
    Invalid(Diagnostics),
}

impl ConfigError {
    pub fn diagnostics(&self) -> &Diagnostics {
        match self {
            ConfigError::Invalid(d) => d,
        }
    }
}

/// Resolves the effective configuration.
pub fn load(overrides: &Overrides, env: &dyn Env) -> Result<Effective, ConfigError> {
    let mut origins = BTreeMap::new();
    let mut pick = |key: &str,
                    flag: (&str, &Option<PathBuf>),
                    var: Option<&str>,
                    default: PathBuf|
     -> PathBuf {
        let (value, origin) = if let Some(p) = flag.1 {
            (p.clone(), Origin::Flag(flag.0.to_string()))
        } else if let Some(v) = var.and_then(|n| env.var(n).map(|v| (n, v))) {
            (PathBuf::from(v.1), Origin::Env(v.0.to_string()))
        } else {
            (default, Origin::Default)
        };
        origins.insert(key.to_string(), origin);
        // A relative directory from a flag or the environment means relative to where baton
        // was started; baton hands these paths to Interfaces, which run elsewhere.
        std::path::absolute(&value).unwrap_or(value)
    };
    let none = &None;
    let datastore = pick(
        "DatastoreDir",
        ("--datastore", &overrides.datastore_dir),
        Some(vars::DATASTORE_DIR),
        DEFAULT_DATASTORE_DIR.into(),
    );
    let conf_dir = pick(
        "ConfDir",
        ("", none),
        Some(vars::CONF_DIR),
        DEFAULT_CONF_DIR.into(),
    );
    let config_file = pick(
        "ConfigFile",
        ("--config", &overrides.config_file),
        None,
        conf_dir.join(CONFIG_FILE_NAME),
    );
    let fallback_config_file = pick(
        "FallbackConfigFile",
        ("--fallback-config", &overrides.fallback_config_file),
        None,
        datastore.join(CONFIG_FILE_NAME),
    );
    let data_dir = pick(
        "DataDir",
        ("--data-dir", &overrides.data_dir),
        Some(vars::DATA_DIR),
        DEFAULT_DATA_DIR.into(),
    );
    // Mender's Configuration page gives the datastore as the topology directory's default (its
    // Topology page says /data/mender-orchestrator/topology.yaml, where images commonly link
    // the datastore); we follow the Configuration page.
    let topology_dir = pick(
        "TopologyDir",
        ("--topology-dir", &overrides.topology_dir),
        Some(vars::TOPOLOGY_DIR),
        datastore.clone(),
    );
    // Derived paths inherit the origin of the directory they are derived from.
    for (derived, from) in [
        ("ConfigFile", "ConfDir"),
        ("InterfacesDir", "DataDir"),
        ("TopologyFile", "TopologyDir"),
    ] {
        if origins.get(derived).is_none_or(|o| *o == Origin::Default) {
            let o = origins.get(from).cloned().unwrap_or(Origin::Default);
            origins.insert(derived.to_string(), o);
        }
    }
    let dirs = Dirs {
        interfaces_dir: data_dir.join("interfaces").join("v1"),
        topology_file: topology_dir.join(TOPOLOGY_FILE_NAME),
        conf_dir,
        config_file,
        fallback_config_file,
        data_dir,
        datastore_dir: datastore.clone(),
        topology_dir,
    };

    let defaults = serde_json::to_value(Config::defaults(&datastore)).unwrap_or_default();
    let mut layered = Layered::from_defaults(defaults);
    let mut diags = Diagnostics::default();
    let mut sources = Vec::new();
    for (path, explicit, origin) in [
        (
            &dirs.fallback_config_file,
            overrides.fallback_config_file.is_some(),
            Origin::FallbackFile(dirs.fallback_config_file.clone()),
        ),
        (
            &dirs.config_file,
            overrides.config_file.is_some(),
            Origin::MainFile(dirs.config_file.clone()),
        ),
    ] {
        match read_config_file(path, explicit) {
            Ok(Some((value, tree))) => {
                layered.overlay(&value, &origin);
                sources.push((path.display().to_string(), tree));
            }
            Ok(None) => {}
            Err(d) => diags.extend(d),
        }
    }
    let env_keys = [
        (vars::MANIFEST_STORE_DIR, "ManifestStore"),
        (vars::ARTIFACTS_CACHE_DIR, "ArtifactsCache.Path"),
        (vars::TOPOLOGY_COMPONENTS_FILE, "TopologyComponents"),
    ];
    for (var, key) in env_keys {
        if let Some(v) = env.var(var) {
            layered.set(key, Value::String(v), Origin::Env(var.into()));
        }
    }
    if let Some(p) = &overrides.topology_components {
        layered.set(
            "TopologyComponents",
            Value::String(p.display().to_string()),
            Origin::Flag("--topology-components".into()),
        );
    }
    if let Some(p) = &overrides.constraints {
        let p = std::path::absolute(p).unwrap_or_else(|_| p.clone());
        layered.set(
            "Constraints",
            Value::String(p.display().to_string()),
            Origin::Flag("--constraints".into()),
        );
    }
    if let Some(l) = overrides.log_level {
        layered.set(
            "LogLevel",
            Value::String(l.as_str().into()),
            Origin::Flag("--log-level".into()),
        );
    }
    // The API socket lives in the runtime directory unless placed explicitly.
    if layered.origin("Api.Socket") == Some(&Origin::Default) {
        if let Some(rt) = layered.value.get("RuntimeDir").and_then(Value::as_str) {
            let socket = Path::new(rt).join("baton.sock").display().to_string();
            layered.set("Api.Socket", Value::String(socket), Origin::Default);
        }
    }
    // So does the update locks directory.
    if layered.origin("UpdateLocks.Dir") == Some(&Origin::Default) {
        if let Some(rt) = layered.value.get("RuntimeDir").and_then(Value::as_str) {
            let dir = Path::new(rt).join("locks").display().to_string();
            layered.set("UpdateLocks.Dir", Value::String(dir), Origin::Default);
        }
    }
    let both = ["ArtifactVerifyKey", "ArtifactVerifyKeys"]
        .map(|k| !layered.value.get(k).is_none_or(Value::is_null));
    if both == [true, true] {
        let (file, pos) = locate(&sources, "/ArtifactVerifyKeys");
        diags.push(Diagnostic::new(
            file,
            pos,
            "ArtifactVerifyKeys",
            format!(
                "both ArtifactVerifyKey ({}) and ArtifactVerifyKeys ({}) are set",
                layered
                    .origin("ArtifactVerifyKey")
                    .cloned()
                    .unwrap_or(Origin::Default),
                layered
                    .origin("ArtifactVerifyKeys")
                    .cloned()
                    .unwrap_or(Origin::Default)
            ),
            "only one of ArtifactVerifyKey and ArtifactVerifyKeys",
        ));
    }
    if !diags.is_empty() {
        return Err(ConfigError::Invalid(diags.sorted()));
    }
    let config: Config = serde_json::from_value(layered.value.clone()).map_err(|e| {
        ConfigError::Invalid(Diagnostics(vec![Diagnostic::new(
            "configuration",
            Pos::UNKNOWN,
            "",
            format!("internal error: schema and types disagree: {e}"),
            "a bug report",
        )]))
    })?;
    if config.require_signed_manifests && config.verify_keys().is_empty() {
        // Fail closed: a signature nothing can check would let every Manifest through.
        let (file, pos) = locate(&sources, "/RequireSignedManifests");
        return Err(ConfigError::Invalid(Diagnostics(vec![Diagnostic::new(
            file,
            pos,
            "RequireSignedManifests",
            "is true but no key is configured to check the signatures with",
            "ArtifactVerifyKey or ArtifactVerifyKeys set as well",
        )])));
    }
    origins.extend(layered.origins);
    Ok(Effective {
        config,
        dirs,
        origins,
    })
}

/// Where a key was written, in the last (highest-precedence) file that has it.
fn locate(sources: &[(String, resource::Tree)], pointer: &str) -> (String, Pos) {
    sources
        .iter()
        .rev()
        .find(|(_, t)| t.places.contains_key(pointer))
        .map(|(f, t)| (f.clone(), t.key_pos(pointer)))
        .unwrap_or_else(|| ("configuration".into(), Pos::UNKNOWN))
}

/// Reads one configuration file. A missing file is fine unless it was named explicitly.
fn read_config_file(
    path: &Path,
    explicit: bool,
) -> Result<Option<(Value, resource::Tree)>, Vec<Diagnostic>> {
    if !explicit && !path.exists() {
        return Ok(None);
    }
    let origin = path.display().to_string();
    let bytes = resource::read_file(path).map_err(|d| vec![d])?;
    // JSON first, for JSON's own syntax rules and positions...
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        vec![Diagnostic::new(
            &origin,
            Pos::new(e.line() as u64, e.column() as u64),
            "",
            format!("not valid JSON: {e}"),
            "a JSON object",
        )]
    })?;
    // ...then the same positioned reader as YAML resources (JSON is YAML), for duplicate keys,
    // budgets and the position of every key the schema complains about.
    let mut tree = yaml::read(&origin, &bytes, yaml::LIMITS).map_err(|d| vec![d])?;
    // JSON says what type each value has: never reinterpret a number as text.
    tree.plain_text.clear();
    let problems = schema::check(&origin, &mut tree, Schema::Config);
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Some((strip_empty(value), tree)))
}

/// Mender treats an empty string as "not set" for its optional paths.
fn strip_empty(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        if let Value::Object(m) = v {
            m.retain(|_, x| !matches!(x, Value::String(s) if s.is_empty()));
            m.values_mut().for_each(walk);
        }
    }
    walk(&mut v);
    v
}

#[cfg(test)]
mod tests;
