//! Provides: the `key=value` software versions a component reports.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a component provides, as reported by its Interface's `Provides` query.
///
/// Keys are unique and values are single strings (Provides has no lists).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Provides(pub BTreeMap<String, String>);

impl Provides {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The Artifact a component runs, as its Provides say: `artifact_name`, else the version
    /// its Interface (`interface`) keeps as `rootfs-image.<interface>.version` (Mender's
    /// module-image default), else `rootfs-image.version`.
    pub fn artifact(&self, interface: &str) -> Option<&str> {
        self.get("artifact_name")
            .or_else(|| self.get(&format!("rootfs-image.{interface}.version")))
            .or_else(|| self.get("rootfs-image.version"))
    }
}

impl FromIterator<(String, String)> for Provides {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}
