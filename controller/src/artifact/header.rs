//! What an Artifact says about itself: `header-info`, `headers/0000/type-info` and
//! `headers/0000/meta-data`, read from the (already checksummed) header tar.
//!
//! Pure: bytes in, an [`ArtifactHeader`] out. Unknown JSON fields are ignored, as Mender's
//! readers do (the bytes are covered by the manifest checksum and the signature); the shape
//! of the fields baton acts on is checked strictly.

use std::collections::BTreeMap;
use std::io::Read;

use serde::{Deserialize, Serialize};

use super::compression::Compression;
use super::error::ArtifactError;
use super::manifest::{to_hex, ArtifactManifest, Digest};
use super::signature::SignatureStatus;
use super::tar::TarReader;

/// A provides or depends value in `type-info`: one string, or a list of strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ProvideValue {
    One(String),
    Many(Vec<String>),
}

impl ProvideValue {
    /// The accepted values: a single string is a one-element list.
    pub fn values(&self) -> &[String] {
        match self {
            Self::One(s) => std::slice::from_ref(s),
            Self::Many(v) => v,
        }
    }
}

/// One payload file as listed in the manifest (`data/0000/<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PayloadFile {
    pub name: String,
    #[serde(serialize_with = "hex")]
    pub sha256: Digest,
}

fn hex<S: serde::Serializer>(d: &Digest, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&to_hex(d))
}

/// The raw header files, verbatim, for the File API's `header/` directory.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawHeader {
    pub header_info: Vec<u8>,
    pub type_info: Vec<u8>,
    pub meta_data: Option<Vec<u8>>,
}

/// Everything the deployment engine needs before the first payload byte.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArtifactHeader {
    /// `artifact_provides.artifact_name` in header-info.
    pub name: String,
    /// `artifact_provides.artifact_group`, if any.
    pub group: Option<String>,
    /// The payload (Update Module / Interface) type; `None` for a bootstrap Artifact.
    pub payload_type: Option<String>,
    /// `artifact_depends.device_type`: the compatible device (component) types.
    pub device_types: Vec<String>,
    /// `artifact_depends.artifact_name`: the Artifact names one of which must be installed.
    pub depends_artifact_names: Vec<String>,
    /// `artifact_depends.artifact_group`.
    pub depends_groups: Vec<String>,
    /// type-info `artifact_provides`.
    pub provides: BTreeMap<String, ProvideValue>,
    /// type-info `artifact_depends`.
    pub depends: BTreeMap<String, ProvideValue>,
    /// type-info `clears_artifact_provides`; `None` when absent (which clears everything).
    pub clears_provides: Option<Vec<String>>,
    /// `headers/0000/meta-data`, parsed; `None` when the Artifact has none.
    pub meta_data: Option<serde_json::Value>,
    /// State scripts in the header (`scripts/<name>`); baton lists them but never runs them.
    pub scripts: Vec<String>,
    /// Payload files with their manifest checksums, in manifest (name) order.
    pub payload_files: Vec<PayloadFile>,
    pub signature: SignatureStatus,
    pub header_compression: Compression,
    /// How `data/0000.tar*` is stored; `None` when the Artifact has no data member.
    pub data_compression: Option<Compression>,
    /// Bytes in the whole Artifact, when read from a file.
    pub total_size: Option<u64>,
    #[serde(skip)]
    pub raw: RawHeader,
}

#[derive(Deserialize)]
struct HeaderInfo {
    payloads: Vec<PayloadEntry>,
    artifact_provides: InfoProvides,
    #[serde(default)]
    artifact_depends: InfoDepends,
}

#[derive(Deserialize)]
struct PayloadEntry {
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct InfoProvides {
    artifact_name: String,
    #[serde(default)]
    artifact_group: Option<String>,
}

#[derive(Deserialize, Default)]
struct InfoDepends {
    #[serde(default)]
    device_type: Vec<String>,
    #[serde(default)]
    artifact_name: Vec<String>,
    #[serde(default)]
    artifact_group: Vec<String>,
}

#[derive(Deserialize)]
struct TypeInfo {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    artifact_provides: Option<BTreeMap<String, ProvideValue>>,
    #[serde(default)]
    artifact_depends: Option<BTreeMap<String, ProvideValue>>,
    #[serde(default)]
    clears_artifact_provides: Option<Vec<String>>,
}

/// The header tar's members, in the only order Mender writes them.
pub(crate) fn read_header_tar(
    decompressed: impl Read,
    label: &str,
    name_max: u64,
    cap: u64,
) -> Result<(RawHeader, Vec<String>), ArtifactError> {
    let mut tar = TarReader::new(decompressed, label, name_max);
    let mut raw = RawHeader::default();
    let mut scripts = Vec::new();
    let mut stage = 0; // 0: header-info, 1: scripts or type-info, 2: meta-data or end, 3: end
    let order = |found: &str, expected: &str| ArtifactError::Order {
        expected: format!("{expected} in {label}"),
        found: found.to_owned(),
    };
    while let Some(entry) = tar.next_entry()? {
        let name = entry.name.as_str();
        let mut take = || -> Result<Vec<u8>, ArtifactError> {
            if entry.size > cap {
                return Err(ArtifactError::SizeLimit {
                    member: format!("{label}: {name}"),
                    what: "a header file".into(),
                    limit: cap,
                });
            }
            let mut buf = Vec::with_capacity(entry.size as usize);
            tar.read_to_end(&mut buf)
                .map_err(|e| ArtifactError::read(label, e))?;
            Ok(buf)
        };
        match (stage, name) {
            (0, "header-info") => {
                raw.header_info = take()?;
                stage = 1;
            }
            (1, n) if n.starts_with("scripts/") && n.matches('/').count() == 1 => {
                take()?;
                scripts.push(n["scripts/".len()..].to_owned());
            }
            (1, "headers/0000/type-info") => {
                raw.type_info = take()?;
                stage = 2;
            }
            (2, "headers/0000/meta-data") => {
                raw.meta_data = Some(take()?);
                stage = 3;
            }
            (_, n) if n.starts_with("headers/") && !n.starts_with("headers/0000/") => {
                return Err(ArtifactError::Unsupported {
                    what: format!("{n}: more than one payload (only headers/0000)"),
                })
            }
            (0, n) => return Err(order(n, "header-info")),
            (1, n) => return Err(order(n, "scripts/* or headers/0000/type-info")),
            (_, n) => return Err(order(n, "headers/0000/meta-data or the end")),
        }
    }
    if stage < 2 {
        return Err(order(
            "the end",
            if stage == 0 {
                "header-info"
            } else {
                "headers/0000/type-info"
            },
        ));
    }
    Ok((raw, scripts))
}

impl ArtifactHeader {
    /// Builds the header from the raw files and the manifest; checks that header-info and
    /// type-info agree (one payload, same type).
    pub(crate) fn build(
        raw: RawHeader,
        scripts: Vec<String>,
        manifest: &ArtifactManifest,
        signature: SignatureStatus,
        header_compression: Compression,
    ) -> Result<Self, ArtifactError> {
        let info: HeaderInfo = serde_json::from_slice(&raw.header_info)
            .map_err(|e| ArtifactError::format("header-info", e.to_string()))?;
        let type_info: TypeInfo = serde_json::from_slice(&raw.type_info)
            .map_err(|e| ArtifactError::format("headers/0000/type-info", e.to_string()))?;
        let meta_data = match &raw.meta_data {
            None => None,
            Some(bytes) => {
                let v: serde_json::Value = serde_json::from_slice(bytes)
                    .map_err(|e| ArtifactError::format("headers/0000/meta-data", e.to_string()))?;
                if !v.is_object() {
                    return Err(ArtifactError::format(
                        "headers/0000/meta-data",
                        "expected a JSON object",
                    ));
                }
                Some(v)
            }
        };
        let [payload] = info.payloads.as_slice() else {
            return Err(ArtifactError::format(
                "header-info",
                format!(
                    "expected exactly one payload, found {}",
                    info.payloads.len()
                ),
            ));
        };
        if payload.kind != type_info.kind {
            return Err(ArtifactError::format(
                "headers/0000/type-info",
                format!(
                    "type {:?} differs from the payload type {:?} in header-info",
                    type_info.kind, payload.kind
                ),
            ));
        }
        if payload.kind.is_none() && raw.meta_data.is_some() {
            return Err(ArtifactError::format(
                "headers/0000/meta-data",
                "a bootstrap Artifact (no payload type) may not carry meta-data",
            ));
        }
        if info.artifact_provides.artifact_name.is_empty() {
            return Err(ArtifactError::format(
                "header-info",
                "artifact_name is empty",
            ));
        }
        let payload_files = manifest
            .iter()
            .filter_map(|(name, d)| {
                name.strip_prefix("data/0000/").map(|n| PayloadFile {
                    name: n.to_owned(),
                    sha256: *d,
                })
            })
            .collect();
        Ok(Self {
            name: info.artifact_provides.artifact_name,
            group: info.artifact_provides.artifact_group,
            payload_type: payload.kind.clone(),
            device_types: info.artifact_depends.device_type,
            depends_artifact_names: info.artifact_depends.artifact_name,
            depends_groups: info.artifact_depends.artifact_group,
            provides: type_info.artifact_provides.unwrap_or_default(),
            depends: type_info.artifact_depends.unwrap_or_default(),
            clears_provides: type_info.clears_artifact_provides,
            meta_data,
            scripts,
            payload_files,
            signature,
            header_compression,
            data_compression: None,
            total_size: None,
            raw,
        })
    }
}
