//! Where Artifacts come from: a Manifest's `artifact_path`, else its `artifact_name` through
//! the configured `ArtifactSources`, in order.
//!
//! - `artifact_path`: absolute, or relative to the Manifest's directory. A path that exists
//!   wins; if it does not exist, `artifact_name` (if set) is resolved instead.
//! - `{"Type": "directory", "Path": DIR}`: the Artifacts in DIR whose header
//!   `artifact_name` is the name (headers only are read; see [`directory`]).
//! - `{"Type": "url", "Template": "https://.../{artifact_name}.mender"}`: one GET (see
//!   [`url`] and [`http`]).
//! - `{"Type": "mender-server"}`: the Release of that name on the Mender Server the Mender
//!   client is connected to, through the client's mender-auth over D-Bus (see
//!   [`mender_server`]). With no `ArtifactSources` key in the configuration this is the only
//!   source, as in Mender Orchestrator.
//!
//! The seam: each kind of source is an [`ArtifactSource`], built from its [`SourceSpec`] by
//! the [`Resolver`], which asks them in order. A source is told the name, the component type
//! and the observed Provides of the components of that type ([`ArtifactLocator`]): the Mender
//! Server picks among a Release's Artifacts by them. A source that does not have the Artifact
//! answers "none" and the next one is asked; any other failure stops the resolution, typed
//! ([`SourceError`]), before any component is touched. Downloads share one machinery
//! ([`Fetcher`]): Range resume, stall timeout, minimum rate, size cap, bounded retries, the
//! [`ArtifactsCache`](super::cache::ArtifactsCache) when it is on (one fetch for every
//! component that shares the Artifact), else the caller's private staging directory; every
//! TLS connection trusts the system roots plus `ServerCertificate` and presents
//! `HttpsClient`'s certificate ([`tls`]).
//!
//! The result is a local file and its header. The header is read here for planning only:
//! the engine reads the file again through `ArtifactReader` for the Download state, which
//! checks everything again (signature policy and every checksum, whatever the source), so a
//! file swapped after planning is caught before ArtifactInstall.
//!
//! This room never installs anything, never writes outside its staging directory and the
//! cache, and never lets a credential (the device's token, a signed link's query) reach a
//! log line, an error message or a metric label.

pub mod directory;
mod error;
mod fetch;
pub mod http;
#[cfg(test)]
mod locations_tests;
pub mod mender_server;
pub mod rate;
mod resolver;
pub mod tls;
pub mod url;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ArtifactHeader;
use crate::model::{ComponentType, Provides};

pub use error::{ServerError, ServerFailure, SourceError};
pub use fetch::Fetcher;
pub use http::{HttpOptions, Link};
pub use resolver::Resolver;
pub use tls::ClientCertificate;
pub use url::url_for;

/// One entry of `ArtifactSources` in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "Type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SourceSpec {
    Directory {
        #[serde(rename = "Path")]
        path: PathBuf,
    },
    Url {
        #[serde(rename = "Template")]
        template: String,
    },
    /// The Mender Server the Mender client is connected to (no settings: the server's URL
    /// and the device's token come from the client's mender-auth).
    MenderServer {},
}

impl SourceSpec {
    /// What Mender Orchestrator does when the configuration names no source.
    pub fn default_list() -> Vec<SourceSpec> {
        vec![SourceSpec::MenderServer {}]
    }
}

/// The question put to the sources: what a Manifest says about one component type's
/// Artifact, and the components of that type as observed.
#[derive(Debug, Clone, Copy, Default)]
pub struct ArtifactLocator<'a> {
    pub artifact_path: Option<&'a Path>,
    pub artifact_name: Option<&'a str>,
    /// The Manifest's directory, for a relative `artifact_path`.
    pub base_dir: Option<&'a Path>,
    /// The component type the Artifact is for (the Mender Server's `device_type`).
    pub component_type: Option<&'a ComponentType>,
    /// The observed Provides of every component of that type (depends are checked against
    /// each of them).
    pub provides: &'a [Provides],
}

/// Where a resolved Artifact came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Path,
    Directory(PathBuf),
    /// A URL source, or a Mender Server's signed link (without its query: it is a
    /// credential).
    Url(String),
    /// The Mender Server: the Release and the Artifact's id there.
    MenderServer {
        release: String,
        id: String,
    },
    /// The cache, filled from the source named.
    Cache(String),
}

/// The kind of source an Artifact file came from, without its location: a bounded label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Path,
    Directory,
    Url,
    MenderServer,
    Cache,
}

impl SourceKind {
    pub const ALL: [SourceKind; 5] = [
        SourceKind::Path,
        SourceKind::Directory,
        SourceKind::Url,
        SourceKind::MenderServer,
        SourceKind::Cache,
    ];

    pub const fn label(self) -> &'static str {
        match self {
            SourceKind::Path => "path",
            SourceKind::Directory => "directory",
            SourceKind::Url => "url",
            SourceKind::MenderServer => "mender-server",
            SourceKind::Cache => "cache",
        }
    }
}

/// Where each source keeps its files, to tell the kind of source of a file the journal
/// names only by its path (for metrics; nothing decides anything by it).
#[derive(Debug, Clone, Default)]
pub struct SourceLocations {
    cache: Option<PathBuf>,
    downloads: PathBuf,
    directories: Vec<PathBuf>,
}

impl SourceLocations {
    /// The cache first (its files are also downloads), then the private download
    /// directory (the Mender Server's files by their prefix), then the directory sources;
    /// anything else came from an `artifact_path`.
    pub fn kind_of(&self, path: &Path) -> SourceKind {
        let dir = path.parent().unwrap_or(path);
        if self.cache.as_deref() == Some(dir) {
            SourceKind::Cache
        } else if self.downloads == dir {
            let file = path.file_name().unwrap_or_default().to_string_lossy();
            if file.starts_with(fetch::SERVER_PREFIX) {
                SourceKind::MenderServer
            } else {
                SourceKind::Url
            }
        } else if self.directories.iter().any(|d| d == dir) {
            SourceKind::Directory
        } else {
            SourceKind::Path
        }
    }
}

/// A local Artifact file and its header.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub path: PathBuf,
    pub header: ArtifactHeader,
    pub origin: Origin,
}

/// One kind of source. Built by the [`Resolver`] from a [`SourceSpec`]; asked in order.
pub trait ArtifactSource: Send + Sync {
    fn kind(&self) -> SourceKind;

    /// Where it looks for `name`, for "not found (tried: ...)": no credential, no signed
    /// query.
    fn describe(&self, name: &str) -> String;

    /// The candidates for `loc` (its `artifact_name` is set): empty when this source does
    /// not have the Artifact (the next source is asked), an error when it must answer and
    /// cannot. Downloads go through `fetch`.
    fn find(
        &self,
        name: &str,
        loc: &ArtifactLocator<'_>,
        fetch: &Fetcher,
    ) -> Result<Vec<Resolved>, SourceError>;

    /// The directory this source reads Artifacts from in place, if any (see
    /// [`SourceLocations`]).
    fn local_dir(&self) -> Option<&Path> {
        None
    }
}
