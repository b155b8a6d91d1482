//! Layering: defaults < fallback file < main file < environment < command-line flags, with the
//! origin of every value kept.
//!
//! Values are merged as JSON, key by key down to the leaves (a list is one leaf), so a main
//! file that sets only `ArtifactsCache.Enabled` keeps the fallback file's `ArtifactsCache.Path`:
//! Mender's rule that "a setting from the fallback file is used only if it does not appear in
//! the main file", applied per setting. Pure: the caller reads the files.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::{Map, Value};

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "kebab-case")]
pub enum Origin {
    /// A command-line flag, e.g. `--datastore`.
    Flag(String),
    /// An environment variable.
    Env(String),
    /// The main configuration file.
    MainFile(PathBuf),
    /// The fallback configuration file in the datastore.
    FallbackFile(PathBuf),
    /// Built in (possibly derived from a directory, e.g. `{datastore}/manifests`).
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(n) => write!(f, "flag {n}"),
            Origin::Env(n) => write!(f, "env {n}"),
            Origin::MainFile(p) => write!(f, "file {}", p.display()),
            Origin::FallbackFile(p) => write!(f, "fallback file {}", p.display()),
            Origin::Default => f.write_str("default"),
        }
    }
}

/// A JSON value being assembled, and the origin of each leaf (dotted key path, e.g.
/// `ArtifactsCache.Path`).
#[derive(Debug, Clone, Default)]
pub struct Layered {
    pub value: Value,
    pub origins: BTreeMap<String, Origin>,
}

impl Layered {
    /// Starts from the defaults: every leaf has origin [`Origin::Default`].
    pub fn from_defaults(defaults: Value) -> Self {
        let mut l = Layered {
            value: Value::Object(Map::new()),
            origins: BTreeMap::new(),
        };
        l.overlay(&defaults, &Origin::Default);
        l
    }

    /// Puts `layer` over what is there, leaf by leaf.
    pub fn overlay(&mut self, layer: &Value, origin: &Origin) {
        if let Value::Object(m) = layer {
            merge(&mut self.value, m, "", origin, &mut self.origins);
        }
    }

    /// Sets one leaf (from a flag or an environment variable). `path` is dotted.
    pub fn set(&mut self, path: &str, v: Value, origin: Origin) {
        let mut layer = v;
        for seg in path.rsplit('.') {
            let mut m = Map::new();
            m.insert(seg.to_string(), layer);
            layer = Value::Object(m);
        }
        self.overlay(&layer, &origin);
    }

    pub fn origin(&self, path: &str) -> Option<&Origin> {
        self.origins.get(path)
    }
}

fn merge(
    base: &mut Value,
    layer: &Map<String, Value>,
    prefix: &str,
    origin: &Origin,
    origins: &mut BTreeMap<String, Origin>,
) {
    if !base.is_object() {
        *base = Value::Object(Map::new());
    }
    let Value::Object(bm) = base else { return };
    for (k, v) in layer {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match (bm.get_mut(k), v) {
            (Some(existing @ Value::Object(_)), Value::Object(lm)) => {
                merge(existing, lm, &path, origin, origins);
            }
            (_, Value::Object(lm)) => {
                drop_under(origins, &path);
                let mut fresh = Value::Object(Map::new());
                merge(&mut fresh, lm, &path, origin, origins);
                bm.insert(k.clone(), fresh);
            }
            _ => {
                drop_under(origins, &path);
                origins.insert(path, origin.clone());
                bm.insert(k.clone(), v.clone());
            }
        }
    }
}

fn drop_under(origins: &mut BTreeMap<String, Origin>, path: &str) {
    let prefix = format!("{path}.");
    origins.retain(|k, _| k != path && !k.starts_with(&prefix));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn later_layers_win_per_leaf_and_remember_where_from() {
        let mut l = Layered::from_defaults(json!({"A": 1, "C": {"X": 1, "Y": 2}, "L": [1]}));
        l.overlay(
            &json!({"C": {"Y": 3}, "L": [7, 8]}),
            &Origin::FallbackFile("/fb".into()),
        );
        l.overlay(&json!({"A": 5}), &Origin::MainFile("/main".into()));
        l.set("C.X", json!(9), Origin::Env("E".into()));
        assert_eq!(l.value, json!({"A": 5, "C": {"X": 9, "Y": 3}, "L": [7, 8]}));
        assert_eq!(l.origin("A"), Some(&Origin::MainFile("/main".into())));
        assert_eq!(l.origin("C.X"), Some(&Origin::Env("E".into())));
        assert_eq!(l.origin("C.Y"), Some(&Origin::FallbackFile("/fb".into())));
        assert_eq!(l.origin("L"), Some(&Origin::FallbackFile("/fb".into())));
    }
}
