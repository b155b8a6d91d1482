//! Orchestrator bundles: a Manifest and the Artifacts it names, in one Mender Artifact.
//!
//! The original Orchestrator design calls "the Manifest + the Artifacts for the System's
//! components" the *bundle*: one file on a USB stick, or one Mender deployment, updates a whole
//! offline System. Layout (a plain Mender Artifact v3, so `mender-artifact read`/`validate` and
//! the Mender client take it as it is):
//!
//! - payload type `mender-orchestrator-manifest`, compatible types the Manifest's
//!   `system_types_compatible` unless told otherwise, name the Manifest's `name`, Provides and
//!   Clears as `mender-artifact write module-image --software-filesystem data-partition`
//!   writes them (what Mender's own manifest generator makes);
//! - payload files: the Manifest, **the only `*.yaml`/`*.yml` file**, byte for byte (so its
//!   SHA-256 and any detached signature still hold), and one `*.mender` file per distinct
//!   component Artifact;
//! - `headers/0000/meta-data` holds the index, `{"baton_bundle": {"manifest": "<file>",
//!   "artifacts": {"<component type>": "<file>", ...}}}`, inside the signed header.
//!   A bundle without the index (made by hand with `mender-artifact write module-image -f
//!   manifest.yaml -f a.mender ...`) is read by matching each component type's
//!   `artifact_path` file name, else its `artifact_name`, to the inner Artifacts.
//! - The data member is stored uncompressed: the inner Artifacts are compressed already, and
//!   a device should not spend its CPU compressing them twice.
//!
//! Mender's official Update Module expects exactly one payload file (the Manifest) and fails
//! ArtifactInstall, before anything runs, on a bundle: installing a bundle through the Mender
//! client needs baton's module. A Manifest-only Artifact (the official layout) is still read
//! by both modules.
//!
//! Reading ([`open_bundle`]) verifies the bundle *whole* before anything is touched: its own
//! signature and checksums, then every inner Artifact completely under the same signature
//! policy, then the Manifest (schema and semantic checks). It stages the payload in a fresh
//! directory and yields the Manifest bytes and, per component type, an inner Artifact file, so
//! the engine can install with no Artifact source at all. [`verify_bundle`] gives the same
//! verdict without staging (each inner Artifact is verified as it streams past), for
//! `baton artifact verify`. Writing ([`create_bundle`]) streams: memory does not grow with
//! the Artifacts' size.
//!
//! Installing: [`stage_bundle`] opens a bundle (a file, or the payload the Mender client
//! unpacked for baton's Update Module, [`open_unpacked`]) into a directory of its own under
//! `<datastore>/bundles` with an index; its Manifest's `base_dir` is that directory, and the
//! engine takes each component type's Artifact from there ([`staged_artifacts`]), with no
//! Artifact source at all.

mod create;
mod open;
mod staged;
mod verify;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use create::{by_artifact_path, create_bundle, BundleSpec, CreatedBundle, Resolve};
pub use open::{open_bundle, open_unpacked, OpenedBundle, StagedArtifact};
pub use staged::{
    is_artifact_file, looks_like_artifact, stage_bundle, staged_artifacts, BundleInput,
    STAGED_INDEX,
};
pub use verify::{is_bundle, verify_bundle, BundleReport};

use super::ArtifactError;
use crate::model::Reason;
use crate::resource::Diagnostics;

/// The payload type of Manifest Artifacts and bundles.
pub const PAYLOAD_TYPE: &str = "mender-orchestrator-manifest";

/// The meta-data key of the index.
pub const INDEX_KEY: &str = "baton_bundle";

/// Which payload file is what.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleIndex {
    /// The Manifest's payload file name.
    pub manifest: String,
    /// Component type -> payload file name of its Artifact.
    pub artifacts: std::collections::BTreeMap<String, String>,
}

/// Whether a payload file name is the Manifest's (the official module's rule).
pub fn is_manifest_name(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml")
}

/// Why a bundle could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{file}: {source}")]
    Artifact {
        file: String,
        #[source]
        source: ArtifactError,
    },
    #[error("{file}: payload type {found:?}, not a bundle (expected {PAYLOAD_TYPE:?})")]
    NotABundle { file: String, found: Option<String> },
    #[error("the Manifest:\n{0}")]
    Manifest(Diagnostics),
    #[error("{file}: {message}")]
    Layout { file: String, message: String },
    #[error("component type {component_type}: {message}")]
    Component {
        component_type: String,
        message: String,
    },
    #[error("{path}: {source}", path = path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl BundleError {
    /// The reason a refusal carries (conditions, history, metrics).
    pub fn reason(&self) -> Reason {
        match self {
            BundleError::Artifact { source, .. } => match source {
                ArtifactError::Unsigned
                | ArtifactError::SignatureInvalid { .. }
                | ArtifactError::Key { .. } => Reason::SignatureInvalid,
                _ => Reason::VerificationFailed,
            },
            BundleError::NotABundle { .. } | BundleError::Layout { .. } => {
                Reason::VerificationFailed
            }
            BundleError::Manifest(_) => Reason::InvalidManifest,
            BundleError::Component { .. } => Reason::ArtifactNotFound,
            BundleError::Io { .. } => Reason::EngineError,
        }
    }

    fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| BundleError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

#[cfg(test)]
mod tests;
