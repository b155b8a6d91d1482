//! The Manifest: the desired state of the whole System.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ComponentType, Order};

/// A validated Manifest (`kind: manifest`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub system_types_compatible: Vec<String>,
    pub component_types: BTreeMap<ComponentType, ComponentTarget>,
}

/// What one component type must run, and in which order group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentTarget {
    /// Resolved through the configured artifact sources when no usable `artifact_path` exists.
    pub artifact_name: Option<String>,
    /// As written: absolute, or relative to the directory of the Manifest file.
    pub artifact_path: Option<PathBuf>,
    pub order: Order,
}

impl Manifest {
    /// The distinct order groups, ascending.
    pub fn orders(&self) -> Vec<Order> {
        let mut v: Vec<Order> = self.component_types.values().map(|t| t.order).collect();
        v.sort();
        v.dedup();
        v
    }
}
