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
}

impl FromIterator<(String, String)> for Provides {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}
