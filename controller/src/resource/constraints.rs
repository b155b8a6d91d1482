//! Reading constraints documents (`kind: constraints`, `api_version: baton/v1`).
//!
//! The same pipeline as every resource: budgeted YAML, the schema
//! (`crds/constraints.schema.json`), then the rules a schema cannot say: component types that
//! are usable names, end state names that are unique, and, when the Topology is known, entries
//! that name only the Topology's component types (with "did you mean"). Every problem is
//! reported at once, with its position. What the entries *mean* is in
//! [`crate::model::Constraints`]. Reads files only through [`super::read_file`]; writes none.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use super::diagnostic::{Diagnostic, Diagnostics};
use super::schema::path_of;
use super::suggest::closest;
use super::wire::ConstraintsDoc;
use super::yaml::{escape_pointer, Tree};
use super::{internal, one, parse_as, read_file, typed, Kind};
use crate::model::{
    CombinationPattern, ComponentType, Constraints, EndState, NamePattern, Topology, Transition,
};

/// The file name next to the Topology (`<topology dir>/constraints.yaml`).
pub const FILE_NAME: &str = "constraints.yaml";

/// Reads a constraints file; with `topology`, its entries must name the Topology's types.
pub fn load_constraints(
    path: &Path,
    topology: Option<&Topology>,
) -> Result<Constraints, Diagnostics> {
    let bytes = read_file(path).map_err(one)?;
    parse_constraints(&path.display().to_string(), &bytes, topology)
}

/// [`load_constraints`] on bytes in memory; `origin` names them in diagnostics.
pub fn parse_constraints(
    origin: &str,
    bytes: &[u8],
    topology: Option<&Topology>,
) -> Result<Constraints, Diagnostics> {
    let mut diags = Diagnostics::default();
    let tree = parse_as(origin, bytes, Kind::Constraints, &mut diags);
    if let Some(t) = &tree {
        diags.extend(check(origin, t));
        if let Some(topology) = topology {
            diags.extend(mismatches(origin, t, topology));
        }
    }
    let Some(tree) = tree.filter(|_| diags.is_empty()) else {
        return Err(diags.sorted());
    };
    let doc: ConstraintsDoc = typed(origin, &tree.value)?;
    build(doc).ok_or_else(|| internal(origin, "constraints conversion"))
}

/// Every entry's `artifacts` mapping: (JSON pointer, mapping).
fn entries(tree: &Tree) -> Vec<(String, &serde_json::Map<String, Value>)> {
    let mut out = Vec::new();
    for list in ["end_states", "transitions"] {
        let Some(items) = tree.value.get(list).and_then(Value::as_array) else {
            continue;
        };
        for (i, item) in items.iter().enumerate() {
            if let Some(m) = item.get("artifacts").and_then(Value::as_object) {
                out.push((format!("/{list}/{i}/artifacts"), m));
            }
        }
    }
    out
}

fn diagnostic(
    origin: &str,
    tree: &Tree,
    pointer: &str,
    on_key: bool,
    message: String,
    expected: impl Into<String>,
) -> Diagnostic {
    let pos = if on_key {
        tree.key_pos(pointer)
    } else {
        tree.pos(pointer)
    };
    Diagnostic::new(
        origin,
        pos,
        path_of(pointer, &tree.value),
        message,
        expected,
    )
}

/// Usable component type names, and unique end state names.
fn check(origin: &str, tree: &Tree) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (pointer, map) in entries(tree) {
        for key in map.keys() {
            if let Err(e) = ComponentType::new(key.as_str()) {
                let p = format!("{pointer}/{}", escape_pointer(key));
                out.push(diagnostic(
                    origin,
                    tree,
                    &p,
                    true,
                    format!("`{key}` is not a usable component type: {e}"),
                    "a component type name",
                ));
            }
        }
    }
    let mut first: BTreeMap<&str, usize> = BTreeMap::new();
    if let Some(items) = tree.value.get("end_states").and_then(Value::as_array) {
        for (i, item) in items.iter().enumerate() {
            let Some(name) = item.get("name").and_then(Value::as_str) else {
                continue;
            };
            if let Some(earlier) = first.insert(name, i) {
                first.insert(name, earlier);
                out.push(diagnostic(
                    origin,
                    tree,
                    &format!("/end_states/{i}/name"),
                    false,
                    format!(
                        "the System version `{name}` is already the name of end_states[{earlier}]"
                    ),
                    "a name no other end state has",
                ));
            }
        }
    }
    out
}

/// Entries may only name component types the Topology has.
fn mismatches(origin: &str, tree: &Tree, topology: &Topology) -> Vec<Diagnostic> {
    let known: BTreeSet<&str> = topology
        .components
        .iter()
        .map(|c| c.component_type.as_str())
        .collect();
    let list = known
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut out = Vec::new();
    for (pointer, map) in entries(tree) {
        for key in map.keys().filter(|k| !known.contains(k.as_str())) {
            let hint = closest(key, known.iter().copied())
                .map(|s| format!(", did you mean `{s}`?"))
                .unwrap_or_default();
            out.push(diagnostic(
                origin,
                tree,
                &format!("{pointer}/{}", escape_pointer(key)),
                true,
                format!("component type `{key}` is not in the Topology{hint}"),
                format!("one of the Topology's component types: {list}"),
            ));
        }
    }
    out
}

/// The typed value of a problem-free document.
fn build(doc: ConstraintsDoc) -> Option<Constraints> {
    let pattern = |m: BTreeMap<String, String>| -> Option<CombinationPattern> {
        m.into_iter()
            .map(|(t, p)| Some((ComponentType::new(t).ok()?, NamePattern::new(p).ok()?)))
            .collect::<Option<_>>()
            .map(CombinationPattern)
    };
    let end_states = doc
        .end_states
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            Some(EndState {
                name: e.name,
                artifacts: pattern(e.artifacts)?,
            })
        })
        .collect::<Option<_>>()?;
    let transitions = doc
        .transitions
        .unwrap_or_default()
        .into_iter()
        .map(|t| {
            Some(Transition {
                artifacts: pattern(t.artifacts)?,
            })
        })
        .collect::<Option<_>>()?;
    Some(Constraints {
        end_states,
        transitions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ComponentSpec, InterfaceName};

    const DESIGN: &str = "\
api_version: baton/v1
kind: constraints
end_states:
  - name: v.1
    artifacts: {gateway: gateway-v1, rtos: rtos-v1}
  - name: v.2
    artifacts: {gateway: gateway-v2, rtos: rtos-v3}
transitions:
  - artifacts: {gateway: gateway-v2, rtos: rtos-v1}
";

    fn topology(types: &[&str]) -> Topology {
        Topology {
            system_type: "car".into(),
            components: types
                .iter()
                .map(|t| ComponentSpec {
                    component_type: ComponentType::new(*t).unwrap(),
                    interface: InterfaceName::new(*t).unwrap(),
                    interface_args: vec![],
                })
                .collect(),
        }
    }

    fn lines(d: &Diagnostics) -> Vec<String> {
        d.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_design_example_reads_into_typed_tables() {
        let c = parse_constraints(
            "c.yaml",
            DESIGN.as_bytes(),
            Some(&topology(&["gateway", "rtos"])),
        )
        .unwrap();
        assert_eq!(c.end_states.len(), 2);
        assert_eq!(c.end_states[1].name, "v.2");
        assert_eq!(
            c.end_states[1].artifacts.to_string(),
            "gateway=gateway-v2, rtos=rtos-v3"
        );
        assert_eq!(c.transitions.len(), 1);
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_place() {
        let text = "\
api_version: baton/v1
kind: constraints
end_states:
  - name: v.1
    artifacts: {gateway: gateway-v1, rtso: rtos-v1}
  - name: v.1
    artifact: {gateway: gateway-v2}
transitions:
  - artifacts: {gateway: '', \"bad type\": x}
";
        let d = parse_constraints(
            "c.yaml",
            text.as_bytes(),
            Some(&topology(&["gateway", "rtos"])),
        )
        .unwrap_err();
        let l = lines(&d);
        let has = |needle: &str| l.iter().any(|x| x.contains(needle));
        assert!(has("c.yaml:5:38: end_states[0].artifacts.rtso: component type `rtso` is not in the Topology, did you mean `rtos`?"), "{l:#?}");
        assert!(
            has("c.yaml:6:11: end_states[1].name: the System version `v.1` is already"),
            "{l:#?}"
        );
        assert!(
            has("unknown field `artifact`, did you mean `artifacts`?"),
            "{l:#?}"
        );
        assert!(has("missing required field `artifacts`"), "{l:#?}");
        assert!(
            has("transitions[0].artifacts.gateway: the text is empty"),
            "{l:#?}"
        );
        assert!(has("`bad type` is not a usable component type"), "{l:#?}");
        assert!(l.len() >= 6, "{l:#?}");
    }

    #[test]
    fn validate_tells_the_kind_and_checks_against_the_topology() {
        let v = super::super::validate("c.yaml", DESIGN.as_bytes(), None, None);
        assert_eq!(v.kind, Some(Kind::Constraints));
        assert!(v.diagnostics.is_empty(), "{}", v.diagnostics);
        let t = topology(&["gateway", "rtos-x"]);
        let v = super::super::validate("c.yaml", DESIGN.as_bytes(), Some(&t), None);
        assert_eq!(v.kind, Some(Kind::Constraints));
        assert_eq!(v.diagnostics.len(), 3, "{}", v.diagnostics);
        assert!(lines(&v.diagnostics)[0].contains("c.yaml:5:38: end_states[0].artifacts.rtos: component type `rtos` is not in the Topology, did you mean `rtos-x`?"), "{}", v.diagnostics);
        let misspelt = DESIGN.replace("kind: constraints", "kind: constraint");
        let v = super::super::validate("c.yaml", misspelt.as_bytes(), None, None);
        assert!(
            lines(&v.diagnostics)[0].contains("did you mean `constraints`?"),
            "{}",
            v.diagnostics
        );
    }

    #[test]
    fn numbers_written_as_versions_stay_as_written() {
        let text =
            "api_version: baton/v1\nkind: constraints\ntransitions:\n  - artifacts: {rtos: 1.10}\n";
        let c = parse_constraints("c.yaml", text.as_bytes(), None).unwrap();
        assert_eq!(c.transitions[0].artifacts.to_string(), "rtos=1.10");
    }

    #[test]
    fn an_empty_document_of_the_kind_constrains_nothing() {
        let text = "api_version: baton/v1\nkind: constraints\n";
        assert!(parse_constraints("c.yaml", text.as_bytes(), None)
            .unwrap()
            .is_empty());
        let wrong = "api_version: mender/v1\nkind: constraints\n";
        let d = parse_constraints("c.yaml", wrong.as_bytes(), None).unwrap_err();
        assert!(
            lines(&d)[0].contains("`mender/v1` is not accepted here"),
            "{d}"
        );
    }
}
