//! The JSON Schemas in `crds/`, embedded at build time, and what their errors mean to a user.
//!
//! Every resource and configuration file is checked against its schema before anything else
//! looks at it; the schema owns structure, types, required fields, ranges and unknown fields.
//! Schema errors are turned into [`Diagnostic`]s that point at the offending key or value and
//! suggest the closest known field. This module never reads files.

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{ValidationError, Validator};
use serde_json::Value;

use super::diagnostic::{Diagnostic, Pos};
use super::suggest::closest;
use super::yaml::{escape_pointer, unescape_pointer, Tree};

/// The schemas baton ships. Their text is the file in `crds/`, byte for byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Schema {
    Topology,
    TopologyComponents,
    Manifest,
    Status,
    Config,
    Constraints,
}

impl Schema {
    pub const ALL: [Schema; 6] = [
        Schema::Topology,
        Schema::TopologyComponents,
        Schema::Manifest,
        Schema::Status,
        Schema::Config,
        Schema::Constraints,
    ];

    /// The file name under `crds/`.
    pub fn file_name(self) -> &'static str {
        match self {
            Schema::Topology => "topology.schema.json",
            Schema::TopologyComponents => "topology-components.schema.json",
            Schema::Manifest => "manifest.schema.json",
            Schema::Status => "status.schema.json",
            Schema::Config => "config.schema.json",
            Schema::Constraints => "constraints.schema.json",
        }
    }

    /// The schema text as shipped.
    pub fn source(self) -> &'static str {
        match self {
            Schema::Topology => include_str!("../../../crds/topology.schema.json"),
            Schema::TopologyComponents => {
                include_str!("../../../crds/topology-components.schema.json")
            }
            Schema::Manifest => include_str!("../../../crds/manifest.schema.json"),
            Schema::Status => include_str!("../../../crds/status.schema.json"),
            Schema::Config => include_str!("../../../crds/config.schema.json"),
            Schema::Constraints => include_str!("../../../crds/constraints.schema.json"),
        }
    }

    /// The parsed schema.
    pub fn json(self) -> &'static Value {
        static CELLS: [OnceLock<Value>; Schema::ALL.len()] =
            [const { OnceLock::new() }; Schema::ALL.len()];
        CELLS[self as usize].get_or_init(|| {
            serde_json::from_str(self.source())
                .unwrap_or_else(|e| panic!("crds/{} is not JSON: {e}", self.file_name()))
        })
    }

    /// The compiled schema, compiled anew for each use and dropped after it. A compiled
    /// schema is large (the configuration's held 420 KiB of heap in the idle daemon, 43% of
    /// everything it held) and each is used seldom: the configuration and the Topology at
    /// start, a Manifest when it lands. Compiling one takes 0.03 ms (Manifest) to 0.2 ms
    /// (Status), nothing next to reading the file it checks.
    fn validator(self) -> Validator {
        jsonschema::draft202012::new(self.json())
            .unwrap_or_else(|e| panic!("crds/{} is not a valid schema: {e}", self.file_name()))
    }

    /// True when `value` satisfies the schema (for tests and generated documents).
    pub fn is_valid(self, value: &Value) -> bool {
        self.validator().is_valid(value)
    }

    /// Every violation in `value` as a plain `pointer: message` line (for tests and for
    /// documents baton writes itself, which have no source positions).
    pub fn errors(self, value: &Value) -> Vec<String> {
        self.validator()
            .iter_errors(value)
            .map(|e| format!("{}: {e}", e.instance_path().as_str()))
            .collect()
    }
}

/// Checks `tree` against `schema` and returns every problem.
///
/// First, where the schema wants text and the author wrote a plain scalar that YAML typed as a
/// number or boolean (`name: 1.10`, `interface_args: [no]`), the text is kept exactly as
/// written: Mender's own reader does the same, so existing files keep their meaning.
pub fn check(origin: &str, tree: &mut Tree, schema: Schema) -> Vec<Diagnostic> {
    let validator = schema.validator();
    let wants_text: Vec<String> = validator
        .iter_errors(&tree.value)
        .filter(|e| matches!(e.kind(), ValidationErrorKind::Type { kind } if accepts_string(kind)))
        .map(|e| e.instance_path().as_str().to_owned())
        .collect();
    for pointer in wants_text {
        tree.keep_as_written(&pointer);
    }
    let mut out = Vec::new();
    for e in validator.iter_errors(&tree.value) {
        describe(origin, tree, schema.json(), &e, &mut out);
    }
    out
}

fn accepts_string(kind: &TypeKind) -> bool {
    match kind {
        TypeKind::Single(t) => t.to_string() == "string",
        TypeKind::Multiple(set) => set.iter().any(|t| t.to_string() == "string"),
    }
}

fn describe(
    origin: &str,
    tree: &Tree,
    schema: &Value,
    e: &ValidationError<'_>,
    out: &mut Vec<Diagnostic>,
) {
    let pointer = e.instance_path().as_str().to_owned();
    let at = |p: &str, pos: Pos, message: String, expected: String| {
        Diagnostic::new(origin, pos, path_of(p, &tree.value), message, expected)
    };
    let schema_node = resolve_parent(schema, e.schema_path().as_str());
    match e.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let known = property_names(schema_node);
            for name in unexpected {
                let p = format!("{pointer}/{}", escape_pointer(name));
                let message = match closest(name, known.iter().map(String::as_str)) {
                    Some(s) => format!("unknown field `{name}`, did you mean `{s}`?"),
                    None => format!("unknown field `{name}`"),
                };
                out.push(at(&p, tree.key_pos(&p), message, one_of_fields(&known)));
            }
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let p = format!("{pointer}/{}", escape_pointer(name));
            out.push(at(
                &p,
                tree.pos(&pointer),
                format!("missing required field `{name}`"),
                describe_field(schema_node, name),
            ));
        }
        ValidationErrorKind::Type { kind } => out.push(at(
            &pointer,
            tree.pos(&pointer),
            format!("wrong type: found {}", found(e.instance())),
            type_words(kind),
        )),
        ValidationErrorKind::Constant { expected_value } => out.push(at(
            &pointer,
            tree.pos(&pointer),
            format!("{} is not accepted here", show(e.instance())),
            show(expected_value),
        )),
        ValidationErrorKind::Enum { options } => {
            let names: Vec<String> = options
                .as_array()
                .map(|a| a.iter().map(show).collect())
                .unwrap_or_default();
            let message = match e.instance().as_str().and_then(|s| {
                let opts: Vec<&str> = options
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                closest(s, opts)
            }) {
                Some(s) => format!(
                    "{} is not a known value, did you mean `{s}`?",
                    show(e.instance())
                ),
                None => format!("{} is not a known value", show(e.instance())),
            };
            out.push(at(
                &pointer,
                tree.pos(&pointer),
                message,
                format!("one of {}", names.join(", ")),
            ));
        }
        ValidationErrorKind::Minimum { .. } | ValidationErrorKind::Maximum { .. } => out.push(at(
            &pointer,
            tree.pos(&pointer),
            format!("{} is out of range", show(e.instance())),
            range_words(schema_node),
        )),
        ValidationErrorKind::MinItems { limit } => out.push(at(
            &pointer,
            tree.pos(&pointer),
            "the list is too short".into(),
            format!(
                "at least {limit} item{}",
                if *limit == 1 { "" } else { "s" }
            ),
        )),
        ValidationErrorKind::MinLength { .. } => out.push(at(
            &pointer,
            tree.pos(&pointer),
            "the text is empty".into(),
            "a non-empty string".into(),
        )),
        ValidationErrorKind::MinProperties { .. } => out.push(at(
            &pointer,
            tree.pos(&pointer),
            "the mapping is empty".into(),
            "at least one entry".into(),
        )),
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            let missing: Option<Vec<String>> = context
                .iter()
                .flatten()
                .map(|c| match c.kind() {
                    ValidationErrorKind::Required { property } => {
                        property.as_str().map(str::to_owned)
                    }
                    _ => None,
                })
                .collect();
            match missing {
                Some(names) if !names.is_empty() => {
                    let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
                    out.push(at(
                        &pointer,
                        tree.pos(&pointer),
                        format!("missing {}", list.join(" or ")),
                        format!("at least one of {}", list.join(", ")),
                    ));
                }
                _ => {
                    // Report the alternative that came closest: its errors are the useful ones.
                    if let Some(best) = context.iter().min_by_key(|c| c.len()) {
                        for c in best {
                            describe(origin, tree, schema, c, out);
                        }
                    }
                }
            }
        }
        ValidationErrorKind::Pattern { pattern } => out.push(at(
            &pointer,
            tree.pos(&pointer),
            format!("{} does not have the expected form", show(e.instance())),
            format!("text matching `{pattern}`"),
        )),
        _ => out.push(at(
            &pointer,
            tree.pos(&pointer),
            e.to_string(),
            String::new(),
        )),
    }
}

/// The schema object that holds the failing keyword, following local `$ref`s on the way.
fn resolve_parent<'s>(schema: &'s Value, keyword_path: &str) -> &'s Value {
    let mut segs: Vec<String> = keyword_path
        .split('/')
        .skip(1)
        .map(unescape_pointer)
        .collect();
    segs.pop();
    let mut node = schema;
    for seg in segs {
        if seg == "$ref" {
            if let Some(target) = node
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix('#'))
                .and_then(|p| schema.pointer(p))
            {
                node = target;
            }
            continue;
        }
        node = match node {
            Value::Object(m) => m.get(&seg).unwrap_or(&Value::Null),
            Value::Array(a) => seg
                .parse::<usize>()
                .ok()
                .and_then(|i| a.get(i))
                .unwrap_or(&Value::Null),
            _ => &Value::Null,
        };
    }
    node
}

fn property_names(node: &Value) -> Vec<String> {
    node.get("properties")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn one_of_fields(known: &[String]) -> String {
    if known.is_empty() {
        return "no fields here".into();
    }
    let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
    format!("one of {}", list.join(", "))
}

fn describe_field(node: &Value, name: &str) -> String {
    let prop = node.get("properties").and_then(|p| p.get(name));
    if let Some(c) = prop.and_then(|p| p.get("const")) {
        let shown = c
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| c.to_string());
        return format!("`{name}: {shown}`");
    }
    match prop.and_then(|p| p.get("type")).and_then(Value::as_str) {
        Some(t) => format!("`{name}` ({})", article(t)),
        None => format!("`{name}`"),
    }
}

fn range_words(node: &Value) -> String {
    let integer = node.get("type").and_then(Value::as_str) == Some("integer");
    let noun = if integer { "an integer" } else { "a number" };
    match (node.get("minimum"), node.get("maximum")) {
        (Some(lo), Some(hi)) => format!("{noun} from {lo} to {hi}"),
        (Some(lo), None) => format!("{noun} of at least {lo}"),
        (None, Some(hi)) => format!("{noun} of at most {hi}"),
        (None, None) => noun.to_string(),
    }
}

fn article(json_type: &str) -> String {
    match json_type {
        "string" => "a string".into(),
        "integer" => "an integer".into(),
        "number" => "a number".into(),
        "boolean" => "true or false".into(),
        "array" => "a list".into(),
        "object" => "a mapping".into(),
        "null" => "nothing (null)".into(),
        other => other.into(),
    }
}

fn type_words(kind: &TypeKind) -> String {
    match kind {
        TypeKind::Single(t) => article(&t.to_string()),
        TypeKind::Multiple(set) => set
            .iter()
            .map(|t| article(&t.to_string()))
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

fn found(v: &Value) -> String {
    match v {
        Value::Null => "nothing (null)".into(),
        Value::Bool(b) => format!("a boolean (`{b}`)"),
        Value::Number(n) => format!("a number (`{n}`)"),
        Value::String(s) => format!("a string (`{s}`)"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("`{s}`"),
        other => format!("`{other}`"),
    }
}

/// The user-facing field path of a JSON pointer: `component_types.rtos.update_strategy.order`,
/// `components[1].interface`.
pub fn path_of(pointer: &str, root: &Value) -> String {
    let mut out = String::new();
    let mut node = Some(root);
    for seg in pointer.split('/').skip(1).map(unescape_pointer) {
        match node {
            Some(Value::Array(a)) => {
                out.push_str(&format!("[{seg}]"));
                node = seg.parse::<usize>().ok().and_then(|i| a.get(i));
            }
            other => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&seg);
                node = other.and_then(|v| v.get(&seg));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_read_like_the_document() {
        let v = json!({"components": [{"a": 1}, {"interface": "x"}], "m": {"k/1": 2}});
        assert_eq!(
            path_of("/components/1/interface", &v),
            "components[1].interface"
        );
        assert_eq!(path_of("/m/k~11", &v), "m.k/1");
        assert_eq!(path_of("", &v), "");
    }

    #[test]
    fn every_shipped_schema_compiles() {
        for s in Schema::ALL {
            let _ = s.validator();
        }
    }
}
