//! The documents exactly as written on disk (Mender's YAML field names), one type per schema.
//!
//! These mirror `crds/*.schema.json` field for field (a test keeps them in agreement); they are
//! only a stepping stone: [`super::semantic`] turns them into the typed [`crate::model`] values
//! that the rest of baton uses.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `kind: topology`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologyDoc {
    pub api_version: String,
    pub kind: String,
    pub system_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<ComponentDoc>>,
}

/// The separate Topology components file: only the `components` list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologyComponentsDoc {
    pub components: Vec<ComponentDoc>,
}

/// One entry of `components`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentDoc {
    pub component_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface_args: Option<Vec<String>>,
}

/// `kind: manifest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestDoc {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub system_types_compatible: Vec<String>,
    pub component_types: BTreeMap<String, ComponentTypeDoc>,
}

/// One entry of `component_types`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentTypeDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_path: Option<String>,
    pub update_strategy: UpdateStrategyDoc,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateStrategyDoc {
    pub order: i64,
}

/// `kind: constraints` (baton's own resource, `api_version: baton/v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConstraintsDoc {
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_states: Option<Vec<EndStateDoc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transitions: Option<Vec<TransitionDoc>>,
}

/// One entry of `end_states`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndStateDoc {
    pub name: String,
    pub artifacts: BTreeMap<String, String>,
}

/// One entry of `transitions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransitionDoc {
    pub artifacts: BTreeMap<String, String>,
}
