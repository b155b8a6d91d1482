//! `baton bundle create`: writes a Manifest and its Artifacts as one Mender Artifact.
//!
//! Every component Artifact is verified whole before it is bundled (a corrupt one is never
//! shipped), hashed for the bundle's manifest, and then copied into the output while being
//! hashed again: a file that changes between the two reads fails the write rather than
//! yielding a bundle whose checksums lie. The output appears under its name only when
//! complete (written beside it, synced, renamed).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{is_manifest_name, BundleError, BundleIndex, INDEX_KEY, PAYLOAD_TYPE};
use crate::artifact::write::{file_header, ArtifactBuilder, Signer};
use crate::artifact::{to_hex, verify_file, Compression, Limits, ProvideValue, VerifyPolicy};
use crate::model::{ComponentTarget, ComponentType};
use crate::resource::LoadedManifest;

/// Finds the Artifact file of one component type.
pub type Resolve<'a> = dyn Fn(&ComponentType, &ComponentTarget) -> Result<PathBuf, String> + 'a;

/// What to bundle, and how.
pub struct BundleSpec<'a> {
    pub manifest: &'a LoadedManifest,
    /// Compatible types; empty means the Manifest's `system_types_compatible`.
    pub compatible: Vec<String>,
    pub signer: Option<Signer>,
    /// Where each component type's Artifact is ([`by_artifact_path`] by default).
    pub resolve: &'a Resolve<'a>,
    /// The policy component Artifacts must meet to be bundled.
    pub policy: &'a VerifyPolicy,
    pub limits: &'a Limits,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CreatedBundle {
    pub name: String,
    pub compatible: Vec<String>,
    pub index: BundleIndex,
    /// Each payload file with its size, in bundle order (the Manifest first).
    pub files: Vec<(String, u64)>,
    pub bytes: u64,
    pub signed: bool,
}

/// Resolves `artifact_path` against the Manifest's directory; a type with only an
/// `artifact_name` needs the Artifact sources, which bundles do not consult yet.
pub fn by_artifact_path(
    manifest: &LoadedManifest,
) -> impl Fn(&ComponentType, &ComponentTarget) -> Result<PathBuf, String> + '_ {
    move |_, target| match &target.artifact_path {
        Some(p) if p.is_absolute() => Ok(p.clone()),
        Some(p) => Ok(manifest
            .base_dir
            .as_deref()
            .unwrap_or(Path::new("."))
            .join(p)),
        None => Err(format!(
            "has no artifact_path (artifact_name {:?} would need an Artifact source)",
            target.artifact_name.as_deref().unwrap_or_default()
        )),
    }
}

/// One payload file to write.
struct Payload {
    name: String,
    source: Source,
    size: u64,
    sha256: [u8; 32],
}

enum Source {
    Bytes(Vec<u8>),
    File(PathBuf),
}

/// Writes the bundle to `out` (replacing it only once complete).
pub fn create_bundle(spec: &BundleSpec<'_>, out: &Path) -> Result<CreatedBundle, BundleError> {
    let m = &spec.manifest.manifest;
    let manifest_name = manifest_file_name(&spec.manifest.origin);
    let mut payloads = vec![Payload {
        name: manifest_name.clone(),
        size: spec.manifest.bytes.len() as u64,
        sha256: sha256(&spec.manifest.bytes),
        source: Source::Bytes(spec.manifest.bytes.clone()),
    }];
    let mut index = BundleIndex {
        manifest: manifest_name,
        artifacts: BTreeMap::new(),
    };
    let mut by_path: BTreeMap<PathBuf, String> = BTreeMap::new();
    for (t, target) in &m.component_types {
        let component = |message: String| BundleError::Component {
            component_type: t.to_string(),
            message,
        };
        let path = (spec.resolve)(t, target).map_err(component)?;
        let path = std::path::absolute(&path).unwrap_or(path);
        if let Some(name) = by_path.get(&path) {
            check_name(t, target, &payload_artifact_name(&path, spec)?)?;
            index.artifacts.insert(t.to_string(), name.clone());
            continue;
        }
        let inner = payload_artifact_name(&path, spec)?;
        check_name(t, target, &inner)?;
        let name = unique_name(&path, t, &payloads);
        let (size, sha256) = hash_file(&path)?;
        by_path.insert(path.clone(), name.clone());
        index.artifacts.insert(t.to_string(), name.clone());
        payloads.push(Payload {
            name,
            source: Source::File(path),
            size,
            sha256,
        });
    }
    let compatible = if spec.compatible.is_empty() {
        m.system_types_compatible.clone()
    } else {
        spec.compatible.clone()
    };
    let header = header_tar(&m.name, &compatible, &index);
    let version = br#"{"format":"mender","version":3}"#.to_vec();
    let mut lines: Vec<(String, String)> = vec![
        ("version".into(), to_hex(&sha256(&version))),
        ("header.tar".into(), to_hex(&sha256(&header))),
    ];
    for p in &payloads {
        lines.push((format!("data/0000/{}", p.name), to_hex(&p.sha256)));
    }
    lines.sort();
    let manifest: Vec<u8> = lines
        .iter()
        .map(|(n, h)| format!("{h}  {n}\n"))
        .collect::<String>()
        .into_bytes();
    let signature = spec.signer.as_ref().map(|s| s.sign(&manifest));

    let tmp = out.with_file_name(format!(
        ".{}.tmp-{}",
        out.file_name().and_then(|n| n.to_str()).unwrap_or("bundle"),
        std::process::id()
    ));
    let written = write_all(
        &tmp,
        &version,
        &manifest,
        signature.as_deref(),
        &header,
        &payloads,
    )
    .and_then(|bytes| {
        std::fs::rename(&tmp, out).map_err(BundleError::io(out))?;
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(BundleError::io(dir))?;
        }
        Ok(bytes)
    });
    let bytes = match written {
        Ok(b) => b,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    Ok(CreatedBundle {
        name: m.name.clone(),
        compatible,
        index,
        files: payloads.iter().map(|p| (p.name.clone(), p.size)).collect(),
        bytes,
        signed: signature.is_some(),
    })
}

/// Verifies a component Artifact whole and returns its name.
fn payload_artifact_name(path: &Path, spec: &BundleSpec<'_>) -> Result<String, BundleError> {
    let (header, _) =
        verify_file(path, spec.policy, spec.limits).map_err(|source| BundleError::Artifact {
            file: path.display().to_string(),
            source,
        })?;
    if header.payload_type.as_deref() == Some(PAYLOAD_TYPE) {
        return Err(BundleError::Layout {
            file: path.display().to_string(),
            message: "is itself a Manifest Artifact or bundle; bundles do not nest".into(),
        });
    }
    Ok(header.name)
}

fn check_name(t: &ComponentType, target: &ComponentTarget, found: &str) -> Result<(), BundleError> {
    match &target.artifact_name {
        Some(want) if want != found => Err(BundleError::Component {
            component_type: t.to_string(),
            message: format!(
                "the Manifest names Artifact {want:?} but artifact_path holds {found:?}"
            ),
        }),
        _ => Ok(()),
    }
}

/// The Manifest's payload name: its own file name when it is a usable `*.yaml`/`*.yml`.
fn manifest_file_name(origin: &str) -> String {
    Path::new(origin)
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| is_manifest_name(n) && plain(n))
        .map(str::to_owned)
        .unwrap_or_else(|| "manifest.yaml".into())
}

fn plain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
}

/// The Artifact's own file name when usable and free, else one made from the component type;
/// always `*.mender`, so the Manifest stays the only YAML file.
fn unique_name(path: &Path, t: &ComponentType, taken: &[Payload]) -> String {
    let free = |n: &str| !taken.iter().any(|p| p.name == n);
    let own = path
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| match n.ends_with(".mender") {
            true => n.to_owned(),
            false => format!("{n}.mender"),
        })
        .filter(|n| plain(n) && free(n));
    if let Some(n) = own {
        return n;
    }
    let stem: String = t
        .as_str()
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || matches!(c, '_' | '-') {
                true => c,
                false => '_',
            },
        )
        .take(80)
        .collect();
    (0..)
        .map(|i| match i {
            0 => format!("{stem}.mender"),
            i => format!("{stem}-{i}.mender"),
        })
        .find(|n| free(n))
        .expect("an unused name exists")
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn hash_file(path: &Path) -> Result<(u64, [u8; 32]), BundleError> {
    let mut file = File::open(path).map_err(BundleError::io(path))?;
    let mut hasher = Sha256::new();
    let size = std::io::copy(&mut file, &mut hasher).map_err(BundleError::io(path))?;
    Ok((size, hasher.finalize().into()))
}

/// The header tar: header-info, type-info and the index as meta-data.
fn header_tar(name: &str, compatible: &[String], index: &BundleIndex) -> Vec<u8> {
    let mut b = ArtifactBuilder::new(name, PAYLOAD_TYPE, "x");
    b.device_types = compatible.to_vec();
    b.provides = BTreeMap::from([(
        format!("data-partition.{PAYLOAD_TYPE}.version"),
        ProvideValue::One(name.to_owned()),
    )]);
    b.clears = Some(vec![format!("data-partition.{PAYLOAD_TYPE}.*")]);
    b.meta_data = Some(serde_json::json!({ INDEX_KEY: index }));
    b.header_compression = Compression::None;
    b.header_tar()
}

fn padding(n: u64) -> usize {
    (n.next_multiple_of(512) - n) as usize
}

/// Writes the outer tar, streaming the payload files; returns the bytes written.
fn write_all(
    path: &Path,
    version: &[u8],
    manifest: &[u8],
    signature: Option<&[u8]>,
    header: &[u8],
    payloads: &[Payload],
) -> Result<u64, BundleError> {
    let file = File::create(path).map_err(BundleError::io(path))?;
    let mut w = Counting {
        inner: BufWriter::with_capacity(256 << 10, file),
        written: 0,
    };
    let io = BundleError::io(path);
    let result = (|| -> std::io::Result<()> {
        let mut small = |name: &str, data: &[u8]| -> std::io::Result<()> {
            w.write_all(&file_header(name, data.len() as u64))?;
            w.write_all(data)?;
            w.write_all(&vec![0; padding(data.len() as u64)])
        };
        small("version", version)?;
        small("manifest", manifest)?;
        if let Some(s) = signature {
            small("manifest.sig", s)?;
        }
        small("header.tar", header)?;
        let data_size: u64 = payloads
            .iter()
            .map(|p| 512 + p.size.next_multiple_of(512))
            .sum::<u64>()
            + 1024;
        w.write_all(&file_header("data/0000.tar", data_size))?;
        for p in payloads {
            w.write_all(&file_header(&p.name, p.size))?;
            copy_checked(p, &mut w)?;
            w.write_all(&vec![0; padding(p.size)])?;
        }
        w.write_all(&[0; 1024])?; // end of the data tar
        w.write_all(&[0; 1024])?; // end of the outer tar
        w.flush()?;
        w.inner.get_ref().sync_all()
    })();
    result.map_err(io)?;
    Ok(w.written)
}

/// Copies one payload file, hashing it again: it must still be what the manifest says.
fn copy_checked(p: &Payload, w: &mut dyn Write) -> std::io::Result<()> {
    let mut hasher = Sha256::new();
    let copied = match &p.source {
        Source::Bytes(b) => {
            hasher.update(b);
            w.write_all(b)?;
            b.len() as u64
        }
        Source::File(path) => {
            let mut file = File::open(path)?.take(p.size + 1);
            let mut buf = vec![0u8; 128 << 10];
            let mut n = 0u64;
            loop {
                let k = file.read(&mut buf)?;
                if k == 0 {
                    break;
                }
                hasher.update(&buf[..k]);
                w.write_all(&buf[..k])?;
                n += k as u64;
            }
            n
        }
    };
    let digest: [u8; 32] = hasher.finalize().into();
    if copied != p.size || digest != p.sha256 {
        return Err(std::io::Error::other(format!(
            "{} changed while the bundle was written",
            p.name
        )));
    }
    Ok(())
}

struct Counting<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
