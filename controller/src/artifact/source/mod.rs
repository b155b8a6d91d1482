//! Where Artifacts come from: a Manifest's `artifact_path`, else its `artifact_name` through
//! the configured `ArtifactSources`, in order.
//!
//! - `artifact_path`: absolute, or relative to the Manifest's directory. A path that exists
//!   wins; if it does not exist, `artifact_name` (if set) is resolved instead.
//! - `{"Type": "directory", "Path": DIR}`: the Artifacts in DIR whose header
//!   `artifact_name` is the name (headers only are read; see [`directory`]).
//! - `{"Type": "url", "Template": "https://.../{artifact_name}.mender"}`: one GET (HTTP or
//!   HTTPS with rustls), resumable with Range, with a stall timeout, a size cap and bounded
//!   retries (see [`http`]). Downloads land in the [`ArtifactsCache`] when it is enabled
//!   (one fetch for every component that shares the Artifact), else in the caller's private
//!   staging directory.
//!
//! The result is a local file and its header. The header is read here for planning only:
//! the engine reads the file again through `ArtifactReader` for the Download state, which
//! checks everything again, so a file swapped after planning is caught before
//! ArtifactInstall.
//!
//! # Not built: the Mender Server source
//!
//! In Mender Orchestrator, `artifact_name` is resolved by the Mender Server: the candidates
//! are the Artifacts of that Release compatible with the component type. The design, for
//! when baton gets it (nothing in baton pretends to reach a server today):
//! - Credentials: the device's JWT from the Mender client's auth daemon over D-Bus
//!   (`io.mender.AuthenticationManager.GetJwtToken` returns token and server URL; the
//!   `JwtTokenStateChange` signal announces a new one). baton never authenticates itself
//!   and never stores the token; a 401 asks for a fresh token once, then fails.
//! - Lookup: the deployments API's device endpoint, asked for the Release name and the
//!   component type (as device type) with the component's Provides, answers a signed
//!   download link per compatible Artifact; several candidates are narrowed by the
//!   planner's rules (already installed, depends, smallest), as for a directory.
//! - Download: the link goes through the same [`http`] downloader and cache; the link's
//!   expiry only limits when a download may *start*; a resumed Range request after expiry
//!   asks for a fresh link.
//! - Verification is unchanged: signature policy and every checksum, as for any source.

pub mod directory;
pub mod http;
#[cfg(test)]
mod locations_tests;
pub mod rate;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::cache::{ArtifactsCache, CacheOutcome};
use super::{read_header, ArtifactError, ArtifactHeader, Limits, VerifyPolicy};
pub use http::{url_for, HttpOptions};

/// One entry of `ArtifactSources` in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "Type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SourceSpec {
    Directory {
        #[serde(rename = "Path")]
        path: PathBuf,
    },
    Url {
        #[serde(rename = "Template")]
        template: String,
    },
}

/// What a Manifest says about one component type's Artifact.
#[derive(Debug, Clone, Copy, Default)]
pub struct ArtifactLocator<'a> {
    pub artifact_path: Option<&'a Path>,
    pub artifact_name: Option<&'a str>,
    /// The Manifest's directory, for a relative `artifact_path`.
    pub base_dir: Option<&'a Path>,
}

/// Where a resolved Artifact came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Path,
    Directory(PathBuf),
    Url(String),
    Cache(String),
}

/// The kind of source an Artifact file came from, without its location: a bounded label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Path,
    Directory,
    Url,
    Cache,
}

impl SourceKind {
    pub const ALL: [SourceKind; 4] = [
        SourceKind::Path,
        SourceKind::Directory,
        SourceKind::Url,
        SourceKind::Cache,
    ];

    pub const fn label(self) -> &'static str {
        match self {
            SourceKind::Path => "path",
            SourceKind::Directory => "directory",
            SourceKind::Url => "url",
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
    /// directory, then the directory sources; anything else came from an `artifact_path`.
    pub fn kind_of(&self, path: &Path) -> SourceKind {
        let dir = path.parent().unwrap_or(path);
        if self.cache.as_deref() == Some(dir) {
            SourceKind::Cache
        } else if self.downloads == dir {
            SourceKind::Url
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

/// Why no Artifact could be resolved.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("no Manifest entry names an artifact_path or an artifact_name")]
    NoLocator,
    #[error("Artifact {name:?} not found (tried: {})", tried.join(", "))]
    NotFound { name: String, tried: Vec<String> },
    #[error("{}: {source}", path.display())]
    Artifact {
        path: PathBuf,
        #[source]
        source: ArtifactError,
    },
    #[error("{url}: {message}")]
    Http {
        url: String,
        message: String,
        transient: bool,
    },
    #[error("{url}: larger than the limit of {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("{origin}: holds Artifact {found:?}, expected {expected:?}")]
    NameMismatch {
        origin: String,
        expected: String,
        found: String,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("source configuration: {message}")]
    Config { message: String },
}

impl SourceError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }

    /// A bounded label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoLocator => "no_locator",
            Self::NotFound { .. } => "not_found",
            Self::Artifact { source, .. } => source.reason(),
            Self::Http { .. } => "http",
            Self::TooLarge { .. } => "size_limit",
            Self::NameMismatch { .. } => "name_mismatch",
            Self::Io { .. } => "io",
            Self::Config { .. } => "config",
        }
    }

    /// Worth another attempt (network trouble), as opposed to a definite answer.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Http {
                transient: true,
                ..
            }
        )
    }
}

/// Resolves locators through the configured sources.
pub struct Resolver {
    sources: Vec<SourceSpec>,
    policy: VerifyPolicy,
    limits: Limits,
    http: HttpOptions,
    staging: PathBuf,
    cache: Option<ArtifactsCache>,
    index: Mutex<directory::DirIndex>,
    counter: AtomicU64,
    metrics: crate::metrics::Metrics,
}

impl Resolver {
    /// `staging` is a private directory for downloads when the cache is off; it is created
    /// with mode 0700 if missing and must not be a symlink.
    pub fn new(
        sources: Vec<SourceSpec>,
        policy: VerifyPolicy,
        limits: Limits,
        http: HttpOptions,
        staging: &Path,
        cache: Option<ArtifactsCache>,
    ) -> Result<Self, SourceError> {
        use std::os::unix::fs::DirBuilderExt;
        match std::fs::symlink_metadata(staging) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(SourceError::Config {
                    message: format!("{} is not a directory", staging.display()),
                })
            }
            Err(_) => std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(staging)
                .map_err(|e| SourceError::io(staging, e))?,
        }
        Ok(Self {
            sources,
            policy,
            limits,
            http,
            staging: staging.to_owned(),
            cache,
            index: Mutex::new(directory::DirIndex::default()),
            counter: AtomicU64::new(0),
            metrics: Default::default(),
        })
    }

    /// This resolver (and its cache) counting bytes, lookups and refusals in `metrics`.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Self {
        self.cache = self.cache.map(|c| c.with_metrics(metrics.clone()));
        self.metrics = metrics;
        self
    }

    /// Where the sources keep their files (see [`SourceLocations`]).
    pub fn locations(&self) -> SourceLocations {
        SourceLocations {
            cache: self.cache.as_ref().map(|c| c.dir().to_owned()),
            downloads: self.staging.clone(),
            directories: self
                .sources
                .iter()
                .filter_map(|s| match s {
                    SourceSpec::Directory { path } => Some(path.clone()),
                    SourceSpec::Url { .. } => None,
                })
                .collect(),
        }
    }

    /// The cache, for the end-of-deployment eviction.
    pub fn cache(&self) -> Option<&ArtifactsCache> {
        self.cache.as_ref()
    }

    /// The candidate Artifacts for `loc`: one for a path or URL, every matching file
    /// (smallest first) for a directory. The planner narrows them (installed? depends?).
    pub fn resolve(&self, loc: &ArtifactLocator<'_>) -> Result<Vec<Resolved>, SourceError> {
        if let Some(p) = loc.artifact_path {
            let path = match loc.base_dir {
                Some(base) if p.is_relative() => base.join(p),
                _ => p.to_owned(),
            };
            if path.exists() {
                let header = self.header(&path)?;
                return Ok(vec![Resolved {
                    path,
                    header,
                    origin: Origin::Path,
                }]);
            }
            if loc.artifact_name.is_none() {
                return Err(SourceError::NotFound {
                    name: p.display().to_string(),
                    tried: vec![path.display().to_string()],
                });
            }
        }
        let name = loc.artifact_name.ok_or(SourceError::NoLocator)?;
        let mut tried = Vec::new();
        for source in &self.sources {
            match source {
                SourceSpec::Directory { path } => {
                    tried.push(path.display().to_string());
                    let found = self.index.lock().unwrap_or_else(|p| p.into_inner()).find(
                        path,
                        name,
                        &self.policy,
                        &self.limits,
                        &self.metrics,
                    );
                    match found {
                        Ok(v) if !v.is_empty() => {
                            return Ok(v
                                .into_iter()
                                .map(|(path, header)| Resolved {
                                    path: path.clone(),
                                    header,
                                    origin: Origin::Directory(path),
                                })
                                .collect())
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "Artifact directory unusable"),
                    }
                }
                SourceSpec::Url { template } => {
                    let url = url_for(template, name);
                    tried.push(url.clone());
                    match self.fetch(&url, name) {
                        Ok(r) => return Ok(vec![r]),
                        Err(SourceError::NotFound { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Err(SourceError::NotFound {
            name: name.to_owned(),
            tried,
        })
    }

    fn header(&self, path: &Path) -> Result<ArtifactHeader, SourceError> {
        read_header(path, &self.policy, &self.limits)
            .inspect_err(|e| self.metrics.artifact_rejected(e.verification_failure()))
            .map_err(|source| SourceError::Artifact {
                path: path.to_owned(),
                source,
            })
    }

    /// Downloads to `dest` and checks that it is the Artifact that was asked for.
    fn download_checked(
        &self,
        url: &str,
        dest: &Path,
        name: &str,
    ) -> Result<ArtifactHeader, SourceError> {
        http::download(url, dest, &self.http, &self.metrics)?;
        let checked = self.header(dest).and_then(|h| {
            if h.name == name {
                Ok(h)
            } else {
                Err(SourceError::NameMismatch {
                    origin: url.to_owned(),
                    expected: name.to_owned(),
                    found: h.name,
                })
            }
        });
        if checked.is_err() {
            let _ = std::fs::remove_file(dest);
        }
        checked
    }

    fn fetch(&self, url: &str, name: &str) -> Result<Resolved, SourceError> {
        if let Some(cache) = &self.cache {
            match cache.get_or_fetch(name, |dest| {
                self.download_checked(url, dest, name).map(drop)
            }) {
                Ok(path) => {
                    let header = self.header(&path)?;
                    return Ok(Resolved {
                        path,
                        header,
                        origin: Origin::Cache(url.to_owned()),
                    });
                }
                // A local write failed: caching must never fail the deployment.
                Err(CacheOutcome::Fetch(SourceError::Io { path, source })) => {
                    tracing::warn!(path = %path.display(), error = %source, "cannot cache the Artifact; downloading without the cache")
                }
                Err(CacheOutcome::Store(e)) => {
                    tracing::warn!(error = %e, "cannot cache the Artifact; downloading without the cache")
                }
                Err(CacheOutcome::Fetch(e)) => return Err(e),
            }
        }
        let dest = loop {
            let n = self.counter.fetch_add(1, Ordering::Relaxed);
            let d = self
                .staging
                .join(format!("download-{}-{n}.mender", std::process::id()));
            if !d.exists() {
                break d;
            }
        };
        let header = self.download_checked(url, &dest, name)?;
        Ok(Resolved {
            path: dest,
            header,
            origin: Origin::Url(url.to_owned()),
        })
    }
}
