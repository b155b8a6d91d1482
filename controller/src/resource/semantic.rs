//! Checks a schema cannot express, and the step from documents to typed values.
//!
//! Runs on the JSON tree even when the schema found problems elsewhere, so one pass reports
//! everything; the typed [`Topology`] or [`Manifest`] is only built from a document with no
//! problem at all. Pure: no IO.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;

use super::diagnostic::{Diagnostic, Pos};
use super::schema::path_of;
use super::suggest::closest;
use super::wire::{ComponentDoc, ManifestDoc};
use super::yaml::{escape_pointer, Tree};
use crate::model::{
    ComponentSpec, ComponentTarget, ComponentType, InterfaceName, Manifest, Order, Topology,
};

/// A parsed document and the name it goes by in diagnostics.
pub struct Source<'a> {
    pub origin: &'a str,
    pub tree: &'a Tree,
}

impl Source<'_> {
    fn at(&self, pos: Pos, pointer: &str, message: String, expected: String) -> Diagnostic {
        let path = path_of(pointer, &self.tree.value);
        Diagnostic::new(self.origin, pos, path, message, expected)
    }
    fn at_value(&self, pointer: &str, message: String, expected: String) -> Diagnostic {
        self.at(self.tree.pos(pointer), pointer, message, expected)
    }
    fn at_key(&self, pointer: &str, message: String, expected: String) -> Diagnostic {
        self.at(self.tree.key_pos(pointer), pointer, message, expected)
    }
}

/// Component entries: type names and Interface names that could not be used safely.
pub fn check_components(src: &Source<'_>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let Some(items) = src.tree.value.get("components").and_then(Value::as_array) else {
        return out;
    };
    for (i, item) in items.iter().enumerate() {
        let ct = item.get("component_type").and_then(Value::as_str);
        if let Some(ct) = ct {
            if let Err(e) = ComponentType::new(ct) {
                let p = format!("/components/{i}/component_type");
                out.push(src.at_value(
                    &p,
                    format!("`{ct}` is not a usable component type: {e}"),
                    "a component type name".into(),
                ));
            }
        }
        match item.get("interface") {
            Some(Value::String(name)) => {
                if let Err(e) = InterfaceName::new(name.as_str()) {
                    let p = format!("/components/{i}/interface");
                    out.push(src.at_value(
                        &p,
                        format!("`{name}` is not a usable Interface name: {e}"),
                        "a plain file name".into(),
                    ));
                }
            }
            None => {
                if let Some(ct) = ct.filter(|ct| ComponentType::new(*ct).is_ok()) {
                    if let Err(e) = InterfaceName::new(ct) {
                        let p = format!("/components/{i}/component_type");
                        out.push(src.at_value(
                            &p,
                            format!("`{ct}` is used as the Interface name (no `interface` given) but {e}"),
                            "an `interface` field naming a plain file".into(),
                        ));
                    }
                }
            }
            Some(_) => {} // a type error, already reported by the schema
        }
    }
    out
}

/// The components list must be in exactly one place: the main Topology or its components file.
pub fn check_components_placement(
    main: &Source<'_>,
    components_file: Option<&Source<'_>>,
) -> Vec<Diagnostic> {
    let in_main = main.tree.value.get("components").is_some();
    match (in_main, components_file) {
        (true, Some(other)) => vec![main.at_key(
            "/components",
            format!(
                "components are defined both here and in the Topology components file {}",
                other.origin
            ),
            "the components list in exactly one place".into(),
        )],
        (false, None) => vec![Diagnostic::new(
            main.origin,
            main.tree.pos(""),
            "components",
            "the Topology has no components and no Topology components file was given",
            "a `components` list here, or a Topology components file (TopologyComponents, \
             --topology-components, MENDER_ORCHESTRATOR_TOPOLOGY_COMPONENTS_FILE)",
        )],
        _ => Vec::new(),
    }
}

/// Manifest entries must be named by usable component types.
pub fn check_manifest(src: &Source<'_>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if let Some(map) = src
        .tree
        .value
        .get("component_types")
        .and_then(Value::as_object)
    {
        for key in map.keys() {
            if let Err(e) = ComponentType::new(key.as_str()) {
                let p = format!("/component_types/{}", escape_pointer(key));
                out.push(src.at_key(
                    &p,
                    format!("`{key}` is not a usable component type: {e}"),
                    "a component type name".into(),
                ));
            }
        }
    }
    out
}

/// Builds the typed Topology from problem-free documents.
pub fn topology(system_type: String, components: Vec<ComponentDoc>) -> Topology {
    let components = components
        .into_iter()
        .filter_map(|c| {
            let component_type = ComponentType::new(c.component_type).ok()?;
            let interface =
                InterfaceName::new(c.interface.unwrap_or_else(|| component_type.to_string()))
                    .ok()?;
            Some(ComponentSpec {
                component_type,
                interface,
                interface_args: c.interface_args.unwrap_or_default(),
            })
        })
        .collect();
    Topology {
        system_type,
        components,
    }
}

/// Builds the typed Manifest from a problem-free document.
pub fn manifest(doc: ManifestDoc) -> Option<Manifest> {
    let mut component_types = BTreeMap::new();
    for (k, v) in doc.component_types {
        let target = ComponentTarget {
            artifact_name: v.artifact_name,
            artifact_path: v.artifact_path.map(PathBuf::from),
            order: Order::new(v.update_strategy.order).ok()?,
        };
        if target.artifact_name.is_none() && target.artifact_path.is_none() {
            return None;
        }
        component_types.insert(ComponentType::new(k).ok()?, target);
    }
    Some(Manifest {
        name: doc.name,
        system_types_compatible: doc.system_types_compatible,
        component_types,
    })
}

/// One disagreement between a Manifest and the Topology it is meant for, located by the JSON
/// pointer of the Manifest field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub pointer: String,
    /// True when the key (not its value) is at fault.
    pub on_key: bool,
    pub message: String,
    pub expected: String,
}

/// Manifest and Topology must describe the same System.
pub fn mismatches(m: &Manifest, t: &Topology) -> Vec<Mismatch> {
    let systems: Vec<&str> = m
        .system_types_compatible
        .iter()
        .map(String::as_str)
        .collect();
    let types: Vec<&str> = m
        .component_types
        .keys()
        .map(ComponentType::as_str)
        .collect();
    mismatches_in(&systems, &types, t)
}

/// [`mismatches`] on what could be read of a Manifest that has other problems too, so that
/// one run reports everything.
pub fn mismatches_json(manifest: &Value, t: &Topology) -> Vec<Mismatch> {
    let systems: Option<Vec<&str>> = manifest
        .get("system_types_compatible")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect());
    let types: Option<Vec<&str>> = manifest
        .get("component_types")
        .and_then(Value::as_object)
        .map(|m| m.keys().map(String::as_str).collect());
    let mut out = mismatches_in(
        systems.as_deref().unwrap_or(&[t.system_type.as_str()]),
        types.as_deref().unwrap_or(&[]),
        t,
    );
    if types.is_none() {
        // A missing or malformed component_types is already reported; do not list every type.
        out.retain(|m| m.pointer != "/component_types");
    }
    out
}

fn mismatches_in(systems: &[&str], types: &[&str], t: &Topology) -> Vec<Mismatch> {
    let mut out = Vec::new();
    if !systems.contains(&t.system_type.as_str()) {
        out.push(Mismatch {
            pointer: "/system_types_compatible".into(),
            on_key: false,
            message: format!(
                "does not contain the Topology's system_type `{}`",
                t.system_type
            ),
            expected: format!("a list containing `{}`", t.system_type),
        });
    }
    let wanted: BTreeSet<&str> = t
        .components
        .iter()
        .map(|c| c.component_type.as_str())
        .collect();
    let known_list = wanted
        .iter()
        .map(|w| format!("`{w}`"))
        .collect::<Vec<_>>()
        .join(", ");
    for ct in &wanted {
        if !types.contains(ct) {
            out.push(Mismatch {
                pointer: "/component_types".into(),
                on_key: true,
                message: format!("no entry for component type `{ct}`, which the Topology lists"),
                expected: format!(
                    "an entry for every component type of the Topology: {known_list}"
                ),
            });
        }
    }
    for ct in types {
        if !wanted.contains(ct) {
            let hint = closest(ct, wanted.iter().copied())
                .map(|s| format!(", did you mean `{s}`?"))
                .unwrap_or_default();
            out.push(Mismatch {
                pointer: format!("/component_types/{}", escape_pointer(ct)),
                on_key: true,
                message: format!("component type `{ct}` is not in the Topology{hint}"),
                expected: format!("one of the Topology's component types: {known_list}"),
            });
        }
    }
    out
}
