//! Opening a bundle: verify it whole, stage its files, say which Artifact serves which type.
//!
//! Nothing the bundle carries is trusted before all of it is verified: the bundle's own
//! header, signature and checksums (its payload is staged through the strict reader, which
//! hands out [`crate::artifact::Verified`] only at the end), then every inner Artifact read to
//! its end under the same signature policy, then the Manifest through the resource reader.
//! Any problem removes the staging directory and returns an error; the caller touches nothing.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use super::{is_manifest_name, BundleError, BundleIndex, INDEX_KEY, PAYLOAD_TYPE};
use crate::artifact::{
    verify_file, ArtifactHeader, ArtifactReader, DirectorySink, Limits, VerifyPolicy,
};
use crate::model::ComponentType;
use crate::resource::{self, LoadedManifest};

/// One inner Artifact, verified, as a local file.
#[derive(Debug, Clone, PartialEq)]
pub struct StagedArtifact {
    pub path: PathBuf,
    pub header: ArtifactHeader,
    pub payload_bytes: u64,
}

/// A bundle verified whole, its files in `dir`.
#[derive(Debug, Clone)]
pub struct OpenedBundle {
    /// The bundle's own header (name, compatible types, signature status); `None` for a
    /// bundle the Mender client unpacked (and verified) itself ([`open_unpacked`]).
    pub header: Option<ArtifactHeader>,
    /// The Manifest, parsed and checked; its `base_dir` is `dir`, its `bytes` as shipped.
    pub manifest: LoadedManifest,
    /// The Manifest's payload file name.
    pub manifest_file: String,
    /// Per component type of the Manifest, the Artifact to install.
    pub artifacts: BTreeMap<ComponentType, StagedArtifact>,
    /// The staging directory (the caller removes it when done).
    pub dir: PathBuf,
}

/// Verifies the bundle at `path` whole and stages it in `staging`, a directory that must not
/// exist yet (it is created with mode 0700, and removed again on any error).
pub fn open_bundle(
    path: &Path,
    policy: &VerifyPolicy,
    limits: &Limits,
    staging: &Path,
) -> Result<OpenedBundle, BundleError> {
    in_fresh_dir(staging, |dir| stage(path, policy, limits, dir))
}

/// A bundle the Mender client took apart: its payload files in `files` (the Update Module's
/// `files/`; the client verified the bundle's checksums and signature) and its meta-data (the
/// index) in `meta_data` (`header/meta-data`), when given. Every inner Artifact is verified to
/// its end under `policy` and the Manifest checked, as [`open_bundle`] does, in a copy staged
/// in `staging` (hard links where the filesystem allows).
pub fn open_unpacked(
    files: &Path,
    meta_data: Option<&Path>,
    policy: &VerifyPolicy,
    limits: &Limits,
    staging: &Path,
) -> Result<OpenedBundle, BundleError> {
    in_fresh_dir(staging, |dir| {
        let shown = files.display().to_string();
        let meta: Option<serde_json::Value> = match meta_data {
            None => None,
            Some(p) => {
                let bytes = std::fs::read(p).map_err(BundleError::io(p))?;
                serde_json::from_slice(&bytes).map_err(|e| BundleError::Layout {
                    file: p.display().to_string(),
                    message: format!("not JSON meta-data: {e}"),
                })?
            }
        };
        let mut names = Vec::new();
        for entry in std::fs::read_dir(files).map_err(BundleError::io(files))? {
            let entry = entry.map_err(BundleError::io(files))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let from = entry.path();
            if !entry.file_type().map_err(BundleError::io(&from))?.is_file() {
                return Err(BundleError::Layout {
                    file: shown.clone(),
                    message: format!("payload {name:?} is not a regular file"),
                });
            }
            let to = dir.join(&name);
            if std::fs::hard_link(&from, &to).is_err() {
                std::fs::copy(&from, &to).map_err(BundleError::io(&to))?;
            }
            names.push(name);
        }
        names.sort();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        finish(&shown, None, meta.as_ref(), &names, policy, limits, dir)
    })
}

/// Runs `open` in `staging`, created fresh (0700) and removed again if `open` fails.
fn in_fresh_dir(
    staging: &Path,
    open: impl FnOnce(&Path) -> Result<OpenedBundle, BundleError>,
) -> Result<OpenedBundle, BundleError> {
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(staging)
        .map_err(BundleError::io(staging))?;
    let opened = open(staging);
    if opened.is_err() {
        let _ = std::fs::remove_dir_all(staging);
    }
    opened
}

fn stage(
    path: &Path,
    policy: &VerifyPolicy,
    limits: &Limits,
    dir: &Path,
) -> Result<OpenedBundle, BundleError> {
    let shown = path.display().to_string();
    let file = File::open(path).map_err(BundleError::io(path))?;
    let artifact = |source| BundleError::Artifact {
        file: shown.clone(),
        source,
    };
    let reader = ArtifactReader::open(file, policy, limits).map_err(artifact)?;
    let header = reader.header().clone();
    if header.payload_type.as_deref() != Some(PAYLOAD_TYPE) {
        return Err(BundleError::NotABundle {
            file: shown,
            found: header.payload_type,
        });
    }
    let mut sink = DirectorySink::new(dir).map_err(BundleError::io(dir))?;
    let verified = reader.stream_payload(&mut sink).map_err(artifact)?;
    sink.finish().map_err(BundleError::io(dir))?;
    let names: Vec<&str> = verified.files().iter().map(|(n, _)| n.as_str()).collect();
    let meta = header.meta_data.clone();
    finish(
        &shown,
        Some(header),
        meta.as_ref(),
        &names,
        policy,
        limits,
        dir,
    )
}

/// The payload files `names` staged in `dir`: every inner Artifact read to its end, then
/// the Manifest, then which Artifact serves which type.
fn finish(
    shown: &str,
    header: Option<ArtifactHeader>,
    meta_data: Option<&serde_json::Value>,
    names: &[&str],
    policy: &VerifyPolicy,
    limits: &Limits,
    dir: &Path,
) -> Result<OpenedBundle, BundleError> {
    let artifact = |file: &str| {
        let file = file.to_owned();
        move |source| BundleError::Artifact { file, source }
    };
    let (manifest_file, index) =
        contents(meta_data, names).map_err(|message| BundleError::Layout {
            file: shown.to_owned(),
            message,
        })?;

    // Every inner Artifact, read to its end, before anything else is believed.
    let mut inner: BTreeMap<String, StagedArtifact> = BTreeMap::new();
    for name in names.iter().filter(|n| !is_manifest_name(n)) {
        let p = dir.join(name);
        let (h, v) =
            verify_file(&p, policy, limits).map_err(artifact(&format!("{shown}: {name}")))?;
        inner.insert(
            name.to_string(),
            StagedArtifact {
                path: p,
                header: h,
                payload_bytes: v.payload_bytes(),
            },
        );
    }

    let manifest_path = dir.join(&manifest_file);
    let bytes = resource::read_file(&manifest_path)
        .map_err(|d| BundleError::Manifest(resource::Diagnostics(vec![d])))?;
    let mut manifest = resource::parse_manifest(&format!("{shown}: {manifest_file}"), &bytes)
        .map_err(BundleError::Manifest)?;
    manifest.base_dir = Some(dir.to_owned());

    let headers: BTreeMap<String, &ArtifactHeader> =
        inner.iter().map(|(n, a)| (n.clone(), &a.header)).collect();
    let artifacts = assign(&manifest, index.as_ref(), &headers)
        .map_err(|e| e.located(shown))?
        .into_iter()
        .map(|(t, file)| (t, inner[&file].clone()))
        .collect();
    Ok(OpenedBundle {
        header,
        manifest,
        manifest_file,
        artifacts,
        dir: dir.to_owned(),
    })
}

/// The Manifest's payload file and the index, from the header's meta-data and the payload
/// file names.
pub(super) fn contents(
    meta_data: Option<&serde_json::Value>,
    names: &[&str],
) -> Result<(String, Option<BundleIndex>), String> {
    let index = match meta_data.and_then(|m| m.get(INDEX_KEY)) {
        Some(v) => Some(
            serde_json::from_value::<BundleIndex>(v.clone())
                .map_err(|e| format!("meta-data {INDEX_KEY}: {e}"))?,
        ),
        None => None,
    };
    let yaml: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| is_manifest_name(n))
        .collect();
    let manifest_file = match yaml.as_slice() {
        [one] => one.to_string(),
        [] => return Err("has no Manifest (a *.yaml or *.yml payload file)".into()),
        many => return Err(format!("has several Manifests: {}", many.join(", "))),
    };
    if let Some(i) = index.as_ref().filter(|i| i.manifest != manifest_file) {
        return Err(format!(
            "the index names Manifest {:?}, the payload holds {manifest_file:?}",
            i.manifest
        ));
    }
    Ok((manifest_file, index))
}

/// Why inner Artifacts and the Manifest do not fit together.
pub(super) enum Misfit {
    Layout(String),
    Component(ComponentType, String),
}

impl Misfit {
    pub(super) fn located(self, file: &str) -> BundleError {
        match self {
            Misfit::Layout(message) => BundleError::Layout {
                file: file.to_owned(),
                message,
            },
            Misfit::Component(t, message) => BundleError::Component {
                component_type: t.to_string(),
                message,
            },
        }
    }
}

/// Which inner Artifact (payload file name) serves which component type: the index when
/// there is one, else the `artifact_path` file name, else the `artifact_name`. Every inner
/// Artifact must serve one, and carry the `artifact_name` the Manifest gives.
pub(super) fn assign(
    manifest: &LoadedManifest,
    index: Option<&BundleIndex>,
    inner: &BTreeMap<String, &ArtifactHeader>,
) -> Result<BTreeMap<ComponentType, String>, Misfit> {
    let types = &manifest.manifest.component_types;
    if let Some(i) = index {
        if let Some(t) = i
            .artifacts
            .keys()
            .find(|t| !types.keys().any(|k| k.as_str() == *t))
        {
            return Err(Misfit::Layout(format!(
                "the index names component type {t:?}, which the Manifest lacks"
            )));
        }
    }
    let mut out = BTreeMap::new();
    for (t, target) in types {
        let by_path = target
            .artifact_path
            .as_ref()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .filter(|n| inner.contains_key(*n));
        let by_name = || {
            let want = target.artifact_name.as_deref()?;
            let mut found = inner.iter().filter(|(_, h)| h.name == want);
            match (found.next(), found.next()) {
                (Some((file, _)), None) => Some(file.as_str()),
                _ => None,
            }
        };
        let file = match index {
            Some(i) => i.artifacts.get(t.as_str()).map(String::as_str),
            None => by_path.or_else(by_name),
        };
        let file = file
            .ok_or_else(|| Misfit::Layout(format!("carries no Artifact for component type {t}")))?;
        let header = inner.get(file).ok_or_else(|| {
            Misfit::Layout(format!(
                "the index names {file:?}, which is not in the payload"
            ))
        })?;
        if let Some(want) = target.artifact_name.as_ref().filter(|w| **w != header.name) {
            return Err(Misfit::Component(
                t.clone(),
                format!(
                    "the Manifest names Artifact {want:?}, the bundle carries {:?}",
                    header.name
                ),
            ));
        }
        out.insert(t.clone(), file.to_owned());
    }
    if let Some(unused) = inner.keys().find(|f| !out.values().any(|v| v == *f)) {
        return Err(Misfit::Layout(format!(
            "payload file {unused:?} serves no component type of the Manifest"
        )));
    }
    Ok(out)
}
