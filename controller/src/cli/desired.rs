//! What `install`, `apply` and `plan` are given: a Manifest file, a bundle file (a Mender
//! Artifact carrying the Manifest and its Artifacts), or a bundle the Mender client unpacked
//! (a directory: what baton's Update Module hands over).
//!
//! A bundle is verified whole and staged in the datastore (`artifact::bundle::stage_bundle`)
//! before anything else happens; from there its Manifest goes on as any Manifest, whose
//! Artifacts the engine takes from the staging, with no Artifact source.

use std::path::{Path, PathBuf};

use super::CliError;
use crate::artifact::bundle::{looks_like_artifact, stage_bundle, BundleInput};
use crate::artifact::{Limits, VerifyPolicy};
use crate::config::Effective;
use crate::engine::api::bundle_staging_root;
use crate::resource::{self, LoadedManifest};

/// A Manifest to deploy, and the staging of the bundle it came in.
pub struct Given {
    pub manifest: LoadedManifest,
    pub staged: Option<PathBuf>,
}

impl Given {
    /// Removes the staging of a bundle that will not be installed (refused, or only
    /// planned).
    pub fn discard(&self) {
        if let Some(dir) = &self.staged {
            if let Err(e) = std::fs::remove_dir_all(dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot remove a staged bundle");
            }
        }
    }
}

/// Reads `path`: a Manifest, a bundle file, or (a directory) an unpacked bundle whose
/// header meta-data is `meta_data`.
pub fn load(eff: &Effective, path: &Path, meta_data: Option<&Path>) -> Result<Given, CliError> {
    let input = if path.is_dir() {
        BundleInput::Unpacked {
            files: path,
            meta_data,
        }
    } else if looks_like_artifact(path) {
        BundleInput::File(path)
    } else {
        let manifest = resource::load_manifest(path).map_err(CliError::Manifest)?;
        return Ok(Given {
            manifest,
            staged: None,
        });
    };
    let policy = VerifyPolicy::load(&eff.config.verify_keys())
        .map_err(|e| CliError::Bundle(format!("ArtifactVerifyKey: {e}")))?;
    let root = bundle_staging_root(&eff.dirs.datastore_dir);
    let opened = stage_bundle(input, &root, &policy, &Limits::default()).map_err(|e| {
        CliError::Bundle(format!(
            "{}: refused, nothing was touched: {e}",
            path.display()
        ))
    })?;
    tracing::info!(bundle = %path.display(), staged = %opened.dir.display(), "bundle verified and staged");
    Ok(Given {
        manifest: opened.manifest,
        staged: Some(opened.dir),
    })
}

/// For `apply -f FILE`: the bundle staged, when `file` is one (`None` for a Manifest, which
/// the daemon reads itself).
pub fn bundle(global: &super::GlobalArgs, file: &Path) -> Result<Option<Given>, CliError> {
    if !(file.is_dir() || looks_like_artifact(file)) {
        return Ok(None);
    }
    let eff = super::settings::effective(global)?;
    load(&eff, file, None).map(Some)
}
