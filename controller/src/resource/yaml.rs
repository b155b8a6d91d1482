//! Budgeted YAML reading into a positioned tree.
//!
//! This is the only place that touches YAML syntax. Input is refused before parsing when it is
//! too large or not UTF-8; the parser then runs under a tight [`serde_saphyr::Budget`] (one
//! document, shallow nesting, few aliases, few nodes, duplicate keys rejected), so a hostile file
//! costs microseconds, not memory. The result is a JSON value (what the JSON Schema sees) plus,
//! for every node, where it was written and, for plain scalars, the exact text, so that a field
//! the schema wants as a string keeps `1.10`, `no` or `on` exactly as written.
//! It never interprets the document's meaning.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::{Budget, DuplicateKeyPolicy, Location, NonFiniteFloatPolicy, Options, Spanned};

use super::diagnostic::{Diagnostic, Pos};

/// How much a document may cost to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_depth: usize,
    pub max_aliases: usize,
    pub max_nodes: usize,
}

/// Topologies, Manifests and configuration files are small hand-written documents: a real one
/// is a few KiB, about 5 levels deep, uses no aliases and has well under 1 000 nodes.
pub const LIMITS: Limits = Limits {
    max_bytes: 1024 * 1024,
    max_depth: 16,
    max_aliases: 16,
    max_nodes: 10_000,
};

/// Where a node sits in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// The value itself (for an alias: where it is used).
    pub value: Pos,
    /// The key that names the value, for mapping entries.
    pub key: Option<Pos>,
}

/// A parsed document: its JSON value and where each node came from, keyed by JSON pointer
/// (`/component_types/rtos/update_strategy/order`).
#[derive(Debug, Clone)]
pub struct Tree {
    pub value: Value,
    pub places: BTreeMap<String, Place>,
    /// The exact text of plain (unquoted) scalars that YAML typed as something other than a
    /// string (`1.10`, `no`, `~`), keyed by JSON pointer.
    pub plain_text: BTreeMap<String, String>,
}

impl Tree {
    /// The position of the value at `pointer`, or of its closest ancestor that has one.
    pub fn pos(&self, pointer: &str) -> Pos {
        let mut p = pointer;
        loop {
            if let Some(place) = self.places.get(p) {
                return place.value;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return Pos::new(1, 1),
            }
        }
    }

    /// The position of the key naming the value at `pointer` (falls back to the value).
    pub fn key_pos(&self, pointer: &str) -> Pos {
        match self.places.get(pointer) {
            Some(Place { key: Some(k), .. }) => *k,
            _ => self.pos(pointer),
        }
    }

    /// Replaces the value at `pointer` with the plain text it was written as. Returns false when
    /// there is no such plain scalar.
    pub fn keep_as_written(&mut self, pointer: &str) -> bool {
        let Some(text) = self.plain_text.get(pointer) else {
            return false;
        };
        match self.value.pointer_mut(pointer) {
            Some(slot) => {
                *slot = Value::String(text.clone());
                true
            }
            None => false,
        }
    }
}

/// Reads one YAML document. `origin` names the source in diagnostics.
pub fn read(origin: &str, bytes: &[u8], limits: Limits) -> Result<Tree, Diagnostic> {
    if bytes.len() > limits.max_bytes {
        return Err(Diagnostic::new(
            origin,
            Pos::new(1, 1),
            "",
            format!("the document is {} bytes, over the limit", bytes.len()),
            format!("at most {} bytes", limits.max_bytes),
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let good = &bytes[..e.valid_up_to()];
        Diagnostic::new(
            origin,
            pos_at(std::str::from_utf8(good).unwrap_or_default()),
            "",
            format!("invalid UTF-8 at byte {}", e.valid_up_to()),
            "a UTF-8 text file",
        )
    })?;
    let root: Spanned<Node> = serde_saphyr::from_str_with_options(text, options(limits))
        .map_err(|e| parse_error(origin, &e))?;
    if matches!(root.value, Node::Null) {
        return Err(Diagnostic::new(
            origin,
            Pos::new(1, 1),
            "",
            "the document is empty",
            "a YAML mapping",
        ));
    }
    let mut tree = Tree {
        value: Value::Null,
        places: BTreeMap::new(),
        plain_text: BTreeMap::new(),
    };
    tree.value = flatten(root, String::new(), None, text, &mut tree);
    Ok(tree)
}

/// The line and column just after `prefix`.
fn pos_at(prefix: &str) -> Pos {
    let line = prefix.matches('\n').count() as u64 + 1;
    let last = prefix.rsplit('\n').next().unwrap_or("");
    Pos::new(line, last.chars().count() as u64 + 1)
}

fn options(limits: Limits) -> Options {
    let mut budget = Budget::default();
    budget.max_reader_input_bytes = Some(limits.max_bytes);
    budget.max_depth = limits.max_depth;
    budget.flow_nesting_limit = limits.max_depth;
    budget.max_aliases = limits.max_aliases;
    budget.max_anchors = limits.max_aliases;
    budget.max_documents = 1;
    budget.max_nodes = limits.max_nodes;
    budget.max_events = limits.max_nodes * 4;
    budget.max_total_scalar_bytes = limits.max_bytes;
    budget.max_merge_keys = limits.max_aliases;
    let mut o = Options::default();
    o.budget = Some(budget);
    o.duplicate_keys = DuplicateKeyPolicy::Error;
    // `.nan` and `.inf` are read as text; the schema decides whether text is acceptable.
    o.non_finite_float_policy = NonFiniteFloatPolicy::AsString;
    o.with_snippet = false;
    // Mender's formats use no application tags; one would only hide what a value means.
    o.reject_unsupported_tags = true;
    o
}

fn parse_error(origin: &str, e: &serde_saphyr::Error) -> Diagnostic {
    let pos = e
        .location()
        .filter(|l| l.line() > 0)
        .map(|l| Pos::new(l.line(), l.column()))
        .unwrap_or(Pos::new(1, 1));
    let (message, expected) = match e.without_snippet() {
        serde_saphyr::Error::Budget { breach, .. } => budget_message(breach),
        serde_saphyr::Error::DuplicateMappingKey { key, .. } => (
            match key {
                Some(k) => format!("duplicate key `{k}`"),
                None => "duplicate key".to_string(),
            },
            "each key at most once in a mapping".to_string(),
        ),
        serde_saphyr::Error::MultipleDocuments { .. } => (
            "more than one YAML document".to_string(),
            "exactly one document (no `---` separating several)".to_string(),
        ),
        other => (strip_location(&other.to_string()), "valid YAML".to_string()),
    };
    Diagnostic::new(origin, pos, "", message, expected)
}

fn budget_message(breach: &BudgetBreach) -> (String, String) {
    let l = LIMITS;
    match breach {
        BudgetBreach::Depth { .. } => (
            "the document is nested too deeply".into(),
            format!("at most {} levels of nesting", l.max_depth),
        ),
        BudgetBreach::Aliases { .. }
        | BudgetBreach::Anchors { .. }
        | BudgetBreach::AliasAnchorRatio { .. }
        | BudgetBreach::MergeKeys { .. }
        | BudgetBreach::RecordedAnchorEvents { .. }
        | BudgetBreach::RecordedAnchorBytes { .. } => (
            "too many YAML aliases or anchors".into(),
            format!("at most {} aliases", l.max_aliases),
        ),
        BudgetBreach::Documents { .. } => (
            "more than one YAML document".into(),
            "exactly one document (no `---` separating several)".into(),
        ),
        BudgetBreach::Nodes { .. } | BudgetBreach::Events { .. } => (
            "the document has too many nodes".into(),
            format!("at most {} nodes", l.max_nodes),
        ),
        BudgetBreach::InputBytes { .. } | BudgetBreach::ScalarBytes { .. } => (
            "the document is too large".into(),
            format!("at most {} bytes", l.max_bytes),
        ),
        other => (
            format!("the document is too costly to read ({other:?})"),
            String::new(),
        ),
    }
}

/// serde-saphyr prefixes messages with `error: line L column C: `; the position is reported
/// separately, so drop it, and drop advice aimed at programmers rather than users.
fn strip_location(msg: &str) -> String {
    let first = msg.lines().next().unwrap_or(msg);
    let body = match first.find(" column ") {
        Some(i) => match first[i..].find(": ") {
            Some(j) => &first[i + j + 2..],
            None => first,
        },
        None => first.strip_prefix("error: ").unwrap_or(first),
    };
    let body = body.split(", set ").next().unwrap_or(body);
    // Some parser messages repeat the position at the end.
    let body = match body.rfind(" at line ") {
        Some(i) if body[i..].contains(", column ") => &body[..i],
        _ => body,
    };
    if body.contains("recursion limit") {
        return "the document is nested too deeply".into();
    }
    body.to_string()
}

fn loc_pos(l: Location) -> Pos {
    Pos::new(l.line(), l.column())
}

/// Turns the spanned parse into a JSON value, recording places and plain-scalar text.
fn flatten(
    node: Spanned<Node>,
    pointer: String,
    key: Option<Pos>,
    src: &str,
    t: &mut Tree,
) -> Value {
    t.places.insert(
        pointer.clone(),
        Place {
            value: loc_pos(node.referenced),
            key,
        },
    );
    let typed = |t: &mut Tree, v: Value| {
        if let Some(text) = plain_text(node.defined, src) {
            t.plain_text.insert(pointer.clone(), text);
        }
        v
    };
    match node.value {
        // A null is never taken as text: `name: ~` or a bare `name:` is a forgotten value.
        Node::Null => Value::Null,
        Node::Bool(b) => typed(t, Value::Bool(b)),
        Node::Int(i) => typed(t, Value::Number(i.into())),
        Node::UInt(u) => typed(t, Value::Number(u.into())),
        Node::Float(f) => match Number::from_f64(f) {
            Some(n) => typed(t, Value::Number(n)),
            None => Value::String(plain_text(node.defined, src).unwrap_or_else(|| f.to_string())),
        },
        Node::Str(s) => Value::String(s),
        Node::Seq(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| flatten(item, format!("{pointer}/{i}"), None, src, t))
                .collect(),
        ),
        Node::Map(entries) => {
            let mut m = Map::new();
            for (k, v) in entries {
                let child = format!("{pointer}/{}", escape_pointer(&k.value));
                let kpos = loc_pos(k.referenced);
                let value = flatten(v, child, Some(kpos), src, t);
                m.insert(k.value, value);
            }
            Value::Object(m)
        }
    }
}

/// The source text of a plain scalar, or None for quoted, block or tagged scalars (whose
/// parsed value already is what the author meant).
fn plain_text(defined: Location, src: &str) -> Option<String> {
    let span = defined.span();
    let start = usize::try_from(span.byte_offset()?).ok()?;
    let len = usize::try_from(span.byte_len()?).ok()?;
    let raw = src.get(start..start.checked_add(len)?)?.trim();
    if raw.starts_with(['"', '\'', '|', '>', '!', '*', '&']) {
        return None;
    }
    // A plain scalar folded over several lines reads as its words joined by single spaces.
    Some(raw.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// RFC 6901: `~` and `/` in a key are escaped in a JSON pointer.
pub fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Undoes [`escape_pointer`] for one segment.
pub fn unescape_pointer(seg: &str) -> String {
    seg.replace("~1", "/").replace("~0", "~")
}

/// One YAML node as the parser typed it. Only used while reading; positions come from
/// [`Spanned`], which serde-saphyr fills when it drives this visitor directly.
#[derive(Debug)]
enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::UInt(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Float(v as f64))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        Ok(Node::Float(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Node, E> {
        Err(E::custom("binary values are not supported"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = a.next_element::<Spanned<Node>>()? {
            v.push(x);
        }
        Ok(Node::Seq(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
        let mut v = Vec::new();
        while let Some(k) = a.next_key::<Spanned<String>>()? {
            let val = a.next_value::<Spanned<Node>>()?;
            v.push((k, val));
        }
        Ok(Node::Map(v))
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(src: &str) -> Tree {
        read("t.yaml", src.as_bytes(), LIMITS).unwrap()
    }
    fn err(src: &[u8]) -> Diagnostic {
        read("t.yaml", src, LIMITS).unwrap_err()
    }

    #[test]
    fn places_point_at_keys_and_values() {
        let t = tree("a: 1\nb:\n  - x\n  - {c: d}\n");
        assert_eq!(t.places["/a"].key, Some(Pos::new(1, 1)));
        assert_eq!(t.places["/a"].value, Pos::new(1, 4));
        assert_eq!(t.places["/b/1/c"].value, Pos::new(4, 9));
        assert_eq!(t.pos("/b/1/c/missing"), Pos::new(4, 9));
    }

    #[test]
    fn plain_scalars_remember_their_text() {
        let mut t = tree("v: 1.10\nw: no\nx: on\ny: '1.10'\nz: 010\n");
        assert_eq!(t.value["v"], serde_json::json!(1.1));
        for (p, text) in [("/v", "1.10"), ("/w", "no"), ("/x", "on"), ("/z", "010")] {
            assert!(t.keep_as_written(p), "{p}");
            assert_eq!(t.value.pointer(p).unwrap(), text);
        }
        // Quoted scalars already are strings; there is nothing to keep.
        assert!(!t.keep_as_written("/y"));
        assert_eq!(t.value["y"], "1.10");
    }

    #[test]
    fn hostile_inputs_are_refused_with_a_position() {
        let d = err(b"a: 1\nb: 2\na: 3\n");
        assert_eq!(
            (d.line, d.column, d.message.as_str()),
            (3, 1, "duplicate key `a`")
        );
        let d = err(b"a: 1\n---\nb: 2\n");
        assert_eq!(d.line, 2);
        assert_eq!(d.message, "more than one YAML document");
        let d = err(b"name: ok\nbad: \xff\n");
        assert_eq!((d.line, d.column), (2, 6));
        assert!(d.message.starts_with("invalid UTF-8"), "{}", d.message);
        let d = err(b"");
        assert_eq!(d.message, "the document is empty");
    }
}
