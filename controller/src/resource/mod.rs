//! Reading Topologies, Manifests and constraints: budgeted YAML, JSON Schema, semantic checks, diagnostics.
//!
//! One pipeline for every document: bounded read -> [`yaml`] (positioned tree, hostile input
//! refused) -> [`schema`] (structure, types, unknown fields) -> [`semantic`] (rules a schema
//! cannot say) -> typed [`crate::model`] values. Every stage reports all of its problems with
//! file, line, column and field path. This room reads files and never writes any; it knows
//! nothing about Interfaces, Artifacts or deployments.

pub mod constraints;
pub mod diagnostic;
pub mod schema;
pub mod semantic;
pub mod suggest;
pub mod wire;
pub mod yaml;

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

pub use constraints::{load_constraints, parse_constraints};
pub use diagnostic::{Diagnostic, Diagnostics, Pos};
pub use schema::Schema;
pub use yaml::{Place, Tree, LIMITS};

use crate::model::{Manifest, Topology};
use semantic::Source;
use wire::{ManifestDoc, TopologyComponentsDoc, TopologyDoc};

/// The kinds of YAML document baton reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Topology,
    /// The separate Topology components file (no `kind:`, only `components:`).
    TopologyComponents,
    Manifest,
    /// baton's own `kind: constraints` (end states and transitions).
    Constraints,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Topology => "topology",
            Kind::TopologyComponents => "topology-components",
            Kind::Manifest => "manifest",
            Kind::Constraints => "constraints",
        }
    }
    fn schema(self) -> Schema {
        match self {
            Kind::Topology => Schema::Topology,
            Kind::TopologyComponents => Schema::TopologyComponents,
            Kind::Manifest => Schema::Manifest,
            Kind::Constraints => Schema::Constraints,
        }
    }
}

/// A Manifest accepted by every check, with what the engine needs to act on it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedManifest {
    pub manifest: Manifest,
    /// The file path as given, or `api` for a request body.
    pub origin: String,
    /// The Manifest file's directory, against which a relative `artifact_path` is resolved.
    pub base_dir: Option<PathBuf>,
    /// The document exactly as received.
    pub bytes: Vec<u8>,
    /// Lower-case hex SHA-256 of `bytes`.
    pub sha256: String,
    /// Where each node was written (JSON pointer -> position), to locate later findings.
    pub places: std::collections::BTreeMap<String, Place>,
}

impl LoadedManifest {
    /// [`check_manifest_against_topology`], located in this Manifest's file.
    pub fn check_against(&self, topology: &Topology) -> Vec<Diagnostic> {
        locate(
            &self.origin,
            &self.places,
            semantic::mismatches(&self.manifest, topology),
        )
    }
}

/// Places each mismatch at the Manifest key or value it is about.
fn locate(
    origin: &str,
    places: &std::collections::BTreeMap<String, Place>,
    found: Vec<semantic::Mismatch>,
) -> Vec<Diagnostic> {
    found
        .into_iter()
        .map(|m| {
            let pos = match places.get(&m.pointer) {
                Some(Place { key: Some(k), .. }) if m.on_key => *k,
                Some(p) => p.value,
                None => Pos::new(1, 1),
            };
            Diagnostic::new(
                origin,
                pos,
                pointer_to_path(&m.pointer),
                m.message,
                m.expected,
            )
        })
        .collect()
}

/// Manifest and Topology must describe the same System: `system_types_compatible` contains the
/// Topology's `system_type`, every component type of the Topology has a Manifest entry, and no
/// entry names a type the Topology lacks. Positions are unknown here (line 0); use
/// [`LoadedManifest::check_against`] to get them.
pub fn check_manifest_against_topology(
    manifest: &Manifest,
    topology: &Topology,
) -> Vec<Diagnostic> {
    semantic::mismatches(manifest, topology)
        .into_iter()
        .map(|m| {
            Diagnostic::new(
                "",
                Pos::UNKNOWN,
                pointer_to_path(&m.pointer),
                m.message,
                m.expected,
            )
        })
        .collect()
}

/// Manifest pointers only cross mappings, so a path is the pointer with dots.
fn pointer_to_path(pointer: &str) -> String {
    pointer
        .split('/')
        .skip(1)
        .map(yaml::unescape_pointer)
        .collect::<Vec<_>>()
        .join(".")
}

/// Reads a Topology file and, when Mender's split layout is used, its components file.
pub fn load_topology(path: &Path, components_file: Option<&Path>) -> Result<Topology, Diagnostics> {
    let main_origin = path.display().to_string();
    let main = read_file(path).map_err(one)?;
    let comps = match components_file {
        Some(p) => Some((p.display().to_string(), read_file(p).map_err(one)?)),
        None => None,
    };
    parse_topology(
        &main_origin,
        &main,
        comps.as_ref().map(|(o, b)| (o.as_str(), b.as_slice())),
    )
}

/// [`load_topology`] on bytes already in memory: `(origin, bytes)` of the components file.
pub fn parse_topology(
    origin: &str,
    bytes: &[u8],
    components: Option<(&str, &[u8])>,
) -> Result<Topology, Diagnostics> {
    let mut diags = Diagnostics::default();
    let main = parse_as(origin, bytes, Kind::Topology, &mut diags);
    let comps = components
        .and_then(|(o, b)| parse_as(o, b, Kind::TopologyComponents, &mut diags).map(|t| (o, t)));
    if let Some(main) = &main {
        let main_src = Source { origin, tree: main };
        diags.extend(semantic::check_components(&main_src));
        let comp_src = comps.as_ref().map(|(o, t)| Source { origin: o, tree: t });
        if let Some(c) = &comp_src {
            diags.extend(semantic::check_components(c));
        }
        // A components file that failed to parse still counts as given.
        if components.is_none() || comp_src.is_some() {
            diags.extend(semantic::check_components_placement(
                &main_src,
                comp_src.as_ref(),
            ));
        }
    }
    if !diags.is_empty() {
        return Err(diags.sorted());
    }
    let (Some(main), true) = (main, components.is_none() || comps.is_some()) else {
        return Err(diags);
    };
    let doc: TopologyDoc = typed(origin, &main.value)?;
    let list = match (doc.components, comps) {
        (Some(list), None) => list,
        (None, Some((o, t))) => typed::<TopologyComponentsDoc>(o, &t.value)?.components,
        _ => return Err(internal(origin, "components placement")),
    };
    Ok(semantic::topology(doc.system_type, list))
}

/// Reads a Manifest file. Its directory becomes the base for relative `artifact_path`s.
pub fn load_manifest(path: &Path) -> Result<LoadedManifest, Diagnostics> {
    let bytes = read_file(path).map_err(one)?;
    let mut loaded = parse_manifest(&path.display().to_string(), &bytes)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    loaded.base_dir = Some(std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()));
    Ok(loaded)
}

/// Parses a Manifest received in memory (an API body): `origin` names it in diagnostics.
pub fn parse_manifest(origin: &str, bytes: &[u8]) -> Result<LoadedManifest, Diagnostics> {
    let mut diags = Diagnostics::default();
    let tree = parse_as(origin, bytes, Kind::Manifest, &mut diags);
    if let Some(t) = &tree {
        diags.extend(semantic::check_manifest(&Source { origin, tree: t }));
    }
    let Some(tree) = tree.filter(|_| diags.is_empty()) else {
        return Err(diags.sorted());
    };
    let doc: ManifestDoc = typed(origin, &tree.value)?;
    let manifest =
        semantic::manifest(doc).ok_or_else(|| internal(origin, "manifest conversion"))?;
    Ok(LoadedManifest {
        manifest,
        origin: origin.to_string(),
        base_dir: None,
        sha256: sha256_hex(bytes),
        bytes: bytes.to_vec(),
        places: tree.places,
    })
}

/// The outcome of validating one document of any kind.
#[derive(Debug, Clone)]
pub struct Validated {
    /// None when the kind could not be told.
    pub kind: Option<Kind>,
    pub diagnostics: Diagnostics,
}

/// Validates one document whatever its kind (told from `kind:`), as `baton validate` does.
/// A Manifest or constraints document is also checked against `topology` when one is given
/// (constraints: their entries name only its component types); a Topology is read with
/// `components` (`(origin, bytes)` of its components file) when one is given.
pub fn validate(
    origin: &str,
    bytes: &[u8],
    topology: Option<&Topology>,
    components: Option<(&str, &[u8])>,
) -> Validated {
    let tree = match yaml::read(origin, bytes, LIMITS) {
        Ok(t) => t,
        Err(d) => {
            return Validated {
                kind: None,
                diagnostics: one(d),
            }
        }
    };
    let kind = match detect_kind(origin, &tree) {
        Ok(k) => k,
        Err(d) => {
            return Validated {
                kind: None,
                diagnostics: one(d),
            }
        }
    };
    let diagnostics = match kind {
        Kind::Manifest => match (parse_manifest(origin, bytes), topology) {
            (Ok(m), Some(t)) => Diagnostics(m.check_against(t)).sorted(),
            (Ok(_), None) => Diagnostics::default(),
            (Err(d), None) => d,
            (Err(mut d), Some(t)) => {
                let found = semantic::mismatches_json(&tree.value, t);
                d.extend(locate(origin, &tree.places, found));
                d.sorted()
            }
        },
        Kind::Topology => match parse_topology(origin, bytes, components) {
            Ok(_) => Diagnostics::default(),
            Err(d) => d,
        },
        Kind::Constraints => match parse_constraints(origin, bytes, topology) {
            Ok(_) => Diagnostics::default(),
            Err(d) => d,
        },
        Kind::TopologyComponents => {
            let mut d = Diagnostics::default();
            if let Some(t) = parse_as(origin, bytes, Kind::TopologyComponents, &mut d) {
                d.extend(semantic::check_components(&Source { origin, tree: &t }));
            }
            d.sorted()
        }
    };
    Validated {
        kind: Some(kind),
        diagnostics,
    }
}

/// Tells the kind of a document from its `kind:` field (a components file has none).
pub fn detect_kind(origin: &str, tree: &Tree) -> Result<Kind, Diagnostic> {
    let Some(map) = tree.value.as_object() else {
        return Err(Diagnostic::new(
            origin,
            tree.pos(""),
            "",
            "the document is not a mapping",
            "a YAML mapping with a `kind` field",
        ));
    };
    let expected = "`kind: topology`, `kind: manifest` or `kind: constraints` (a Topology \
                    components file has only `components`)";
    match map.get("kind") {
        Some(Value::String(k)) if k == "topology" => Ok(Kind::Topology),
        Some(Value::String(k)) if k == "manifest" => Ok(Kind::Manifest),
        Some(Value::String(k)) if k == "constraints" => Ok(Kind::Constraints),
        None if map.contains_key("components") => Ok(Kind::TopologyComponents),
        None => Err(Diagnostic::new(
            origin,
            tree.pos(""),
            "kind",
            "missing required field `kind`",
            expected,
        )),
        Some(other) => {
            let shown = other
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| other.to_string());
            let hint = suggest::closest(&shown, ["topology", "manifest", "constraints"])
                .map(|s| format!(", did you mean `{s}`?"))
                .unwrap_or_default();
            Err(Diagnostic::new(
                origin,
                tree.pos("/kind"),
                "kind",
                format!("unknown kind `{shown}`{hint}"),
                expected,
            ))
        }
    }
}

/// Reads YAML and checks it against the kind's schema; problems go to `diags`. Returns the tree
/// when the YAML itself could be read (even if the schema found problems).
fn parse_as(origin: &str, bytes: &[u8], kind: Kind, diags: &mut Diagnostics) -> Option<Tree> {
    match yaml::read(origin, bytes, LIMITS) {
        Ok(mut tree) => {
            diags.extend(schema::check(origin, &mut tree, kind.schema()));
            Some(tree)
        }
        Err(d) => {
            diags.push(d);
            None
        }
    }
}

fn typed<T: serde::de::DeserializeOwned>(origin: &str, v: &Value) -> Result<T, Diagnostics> {
    serde_json::from_value(v.clone()).map_err(|e| internal(origin, &e.to_string()))
}

/// A document the schema accepted but the typed reader did not: schema and types disagree.
fn internal(origin: &str, what: &str) -> Diagnostics {
    one(Diagnostic::new(
        origin,
        Pos::new(1, 1),
        "",
        format!("internal error: schema and types disagree ({what})"),
        "a bug report",
    ))
}

fn one(d: Diagnostic) -> Diagnostics {
    Diagnostics(vec![d])
}

/// Reads a file of at most [`LIMITS`]`.max_bytes`, refusing larger ones before reading them.
pub fn read_file(path: &Path) -> Result<Vec<u8>, Diagnostic> {
    let origin = path.display().to_string();
    let cannot = |e: std::io::Error| {
        Diagnostic::new(
            &origin,
            Pos::UNKNOWN,
            "",
            format!("cannot read the file: {e}"),
            "a readable file",
        )
    };
    let file = File::open(path).map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    if meta.is_dir() {
        return Err(Diagnostic::new(
            &origin,
            Pos::UNKNOWN,
            "",
            "is a directory",
            "a YAML file",
        ));
    }
    let limit = LIMITS.max_bytes as u64;
    if meta.len() > limit {
        return Err(too_large(&origin, meta.len()));
    }
    let mut bytes = Vec::new();
    // The size can change between stat and read (a file still being written): read one byte
    // more than allowed to notice.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(&origin, bytes.len() as u64));
    }
    Ok(bytes)
}

fn too_large(origin: &str, len: u64) -> Diagnostic {
    Diagnostic::new(
        origin,
        Pos::new(1, 1),
        "",
        format!("the document is {len} bytes, over the limit"),
        format!("at most {} bytes", LIMITS.max_bytes),
    )
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
