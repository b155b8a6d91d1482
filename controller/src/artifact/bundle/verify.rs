//! Verifying a bundle without staging it: `baton artifact verify` on a bundle.
//!
//! Each inner Artifact is read to its end through its own strict reader *while* the bundle's
//! payload streams past (no copy on disk, memory bounded by the readers' limits); the
//! Manifest (at most [`resource::LIMITS`] bytes) is kept to be parsed at the end. The verdict
//! is the same as [`super::open_bundle`]'s: the bundle's own checks, every inner Artifact's,
//! and the Manifest against what the bundle carries.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::open::{assign, contents};
use super::{is_manifest_name, BundleError, PAYLOAD_TYPE};
use crate::artifact::{
    ArtifactError, ArtifactHeader, ArtifactReader, Discard, Limits, PayloadSink, VerifyPolicy,
};
use crate::model::ComponentType;
use crate::resource;

/// What a verified bundle carries.
#[derive(Debug, Clone)]
pub struct BundleReport {
    pub header: ArtifactHeader,
    pub manifest_file: String,
    /// The Manifest's `name`.
    pub manifest_name: String,
    /// Per component type: the payload file and the inner Artifact's header.
    pub artifacts: BTreeMap<ComponentType, (String, ArtifactHeader)>,
}

/// Whether an Artifact is a bundle: a Manifest Artifact that carries more than the Manifest.
/// (One with only the Manifest is the official layout, verified as a plain Artifact.)
pub fn is_bundle(header: &ArtifactHeader) -> bool {
    header.payload_type.as_deref() == Some(PAYLOAD_TYPE) && header.payload_files.len() > 1
}

/// Verifies the bundle at `path` and every Artifact inside it, touching nothing.
pub fn verify_bundle(
    path: &Path,
    policy: &VerifyPolicy,
    limits: &Limits,
) -> Result<BundleReport, BundleError> {
    let shown = path.display().to_string();
    let artifact = |file: String| move |source| BundleError::Artifact { file, source };
    let file = File::open(path).map_err(BundleError::io(path))?;
    let reader = ArtifactReader::open(file, policy, limits).map_err(artifact(shown.clone()))?;
    let header = reader.header().clone();
    if header.payload_type.as_deref() != Some(PAYLOAD_TYPE) {
        return Err(BundleError::NotABundle {
            file: shown,
            found: header.payload_type,
        });
    }
    let mut sink = Checking {
        policy,
        limits,
        manifests: BTreeMap::new(),
        inner: BTreeMap::new(),
        failed: None,
    };
    let streamed = reader.stream_payload(&mut sink);
    if let Some((name, e)) = sink.failed.take() {
        return Err(artifact(format!("{shown}: {name}"))(e));
    }
    let verified = streamed.map_err(artifact(shown.clone()))?;
    let names: Vec<&str> = verified.files().iter().map(|(n, _)| n.as_str()).collect();
    let layout = |message: String| BundleError::Layout {
        file: shown.clone(),
        message,
    };
    let (manifest_file, index) = contents(header.meta_data.as_ref(), &names).map_err(layout)?;
    let manifest = resource::parse_manifest(
        &format!("{shown}: {manifest_file}"),
        &sink.manifests[&manifest_file],
    )
    .map_err(BundleError::Manifest)?;
    let headers: BTreeMap<String, &ArtifactHeader> =
        sink.inner.iter().map(|(n, h)| (n.clone(), h)).collect();
    let assigned = assign(&manifest, index.as_ref(), &headers).map_err(|m| m.located(&shown))?;
    Ok(BundleReport {
        manifest_file,
        manifest_name: manifest.manifest.name.clone(),
        artifacts: assigned
            .into_iter()
            .map(|(t, f)| {
                let h = sink.inner[&f].clone();
                (t, (f, h))
            })
            .collect(),
        header,
    })
}

/// Verifies each inner Artifact as it streams past and keeps each YAML file.
struct Checking<'a> {
    policy: &'a VerifyPolicy,
    limits: &'a Limits,
    manifests: BTreeMap<String, Vec<u8>>,
    inner: BTreeMap<String, ArtifactHeader>,
    /// The first inner Artifact that failed, with why (kept typed; the reader only sees io).
    failed: Option<(String, ArtifactError)>,
}

impl PayloadSink for Checking<'_> {
    fn file(&mut self, name: &str, size: u64, content: &mut (dyn Read + Send)) -> io::Result<()> {
        if is_manifest_name(name) {
            let cap = resource::LIMITS.max_bytes as u64;
            if size > cap {
                return Err(io::Error::other(format!(
                    "the Manifest is {size} bytes, over the limit of {cap}"
                )));
            }
            let mut bytes = Vec::with_capacity(size as usize);
            content.read_to_end(&mut bytes)?;
            self.manifests.insert(name.to_owned(), bytes);
            return Ok(());
        }
        let checked = ArtifactReader::open(content, self.policy, self.limits).and_then(|r| {
            let mut h = r.header().clone();
            h.total_size = Some(size);
            r.stream_payload(&mut Discard).map(|_| h)
        });
        match checked {
            Ok(h) => {
                self.inner.insert(name.to_owned(), h);
                Ok(())
            }
            Err(e) => {
                let message = e.to_string();
                self.failed = Some((name.to_owned(), e));
                Err(io::Error::other(message))
            }
        }
    }
}
