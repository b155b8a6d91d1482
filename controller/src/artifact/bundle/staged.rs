//! Staged bundles: a bundle opened (verified whole) into a directory of its own under a root
//! (baton's is `<datastore>/bundles`), with a small index saying which file serves which
//! component type. The bundle's Manifest is then an ordinary Manifest whose `base_dir` is
//! that directory, and whoever installs it asks [`staged_artifacts`] for the Artifacts: no
//! Artifact source is needed, and the staging lives as long as the Manifest needs it (the
//! engine removes stagings nothing refers to any more).

use std::collections::BTreeMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::open::{open_bundle, open_unpacked, OpenedBundle};
use super::BundleError;
use crate::artifact::{Limits, VerifyPolicy};
use crate::model::ComponentType;

/// The index in a staging directory, written last: a directory without it is not (yet) a
/// staged bundle.
pub const STAGED_INDEX: &str = "staged-bundle.json";

/// What a staging directory holds: component type -> file name in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Index {
    manifest: String,
    artifacts: BTreeMap<String, String>,
}

/// A bundle as it is given.
#[derive(Debug, Clone, Copy)]
pub enum BundleInput<'a> {
    /// A bundle file (a Mender Artifact of payload type `mender-orchestrator-manifest`).
    File(&'a Path),
    /// A bundle the Mender client unpacked: its `files/` and its `header/meta-data`.
    Unpacked {
        files: &'a Path,
        meta_data: Option<&'a Path>,
    },
}

/// Opens `input` (verifying it whole) into a fresh directory under `root` and writes the
/// index. Nothing is left under `root` when it fails.
pub fn stage_bundle(
    input: BundleInput<'_>,
    root: &Path,
    policy: &VerifyPolicy,
    limits: &Limits,
) -> Result<OpenedBundle, BundleError> {
    std::fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(root)
        .map_err(BundleError::io(root))?;
    let dir = root.join(fresh_name());
    let opened = match input {
        BundleInput::File(path) => open_bundle(path, policy, limits, &dir)?,
        BundleInput::Unpacked { files, meta_data } => {
            open_unpacked(files, meta_data, policy, limits, &dir)?
        }
    };
    let index = Index {
        manifest: opened.manifest_file.clone(),
        artifacts: opened
            .artifacts
            .iter()
            .map(|(t, a)| {
                let file = a.path.file_name().unwrap_or_default();
                (t.to_string(), file.to_string_lossy().into_owned())
            })
            .collect(),
    };
    let bytes = serde_json::to_vec_pretty(&index).expect("the index serializes");
    if let Err(e) = crate::durable::write_atomic(&dir, STAGED_INDEX, &bytes) {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(BundleError::Io {
            path: dir,
            source: e,
        });
    }
    Ok(opened)
}

/// The Artifact of each component type in a staging directory, when `dir` is one (a
/// directory directly under `root` with its index).
pub fn staged_artifacts(root: &Path, dir: &Path) -> Option<BTreeMap<ComponentType, PathBuf>> {
    let (root, dir) = (
        std::fs::canonicalize(root).ok()?,
        std::fs::canonicalize(dir).ok()?,
    );
    if dir.parent() != Some(root.as_path()) {
        return None;
    }
    let bytes = std::fs::read(dir.join(STAGED_INDEX)).ok()?;
    let index: Index = serde_json::from_slice(&bytes).ok()?;
    index
        .artifacts
        .into_iter()
        .map(|(t, file)| {
            // The index names files in the directory, never a path elsewhere.
            let plain = !file.contains('/') && file != ".." && file != ".";
            Some((ComponentType::new(t).ok()?, plain.then(|| dir.join(file))?))
        })
        .collect()
}

/// A name no other staging has: the time, the process, a count.
fn fresh_name() -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    #[allow(clippy::disallowed_methods)] // part of a unique name; nothing waits on it
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{:x}-{}-{n}", t.as_nanos(), std::process::id())
}

/// Whether the file at `path` looks like a Mender Artifact (a tar archive) rather than a
/// Manifest (YAML text): its first block carries the tar magic.
pub fn looks_like_artifact(path: &Path) -> bool {
    std::fs::File::open(path).is_ok_and(|f| is_artifact_file(&f))
}

/// [`looks_like_artifact`] on an open file (read at offset 0; its position does not move).
pub fn is_artifact_file(f: &std::fs::File) -> bool {
    use std::os::unix::fs::FileExt;
    let mut block = [0u8; 512];
    f.read_exact_at(&mut block, 0).is_ok() && &block[257..262] == b"ustar"
}
