//! The [`Resolver`]: an `artifact_path` first, else the configured sources in order.

use std::path::Path;

use super::directory::DirectorySource;
use super::http::{HttpClient, HttpOptions};
use super::mender_server::MenderServerSource;
use super::url::UrlSource;
use super::{
    ArtifactLocator, ArtifactSource, Fetcher, Origin, Resolved, SourceError, SourceKind,
    SourceLocations, SourceSpec,
};
use crate::artifact::cache::ArtifactsCache;
use crate::artifact::{Limits, VerifyPolicy};
use crate::metrics::Metrics;

/// Resolves locators through the configured sources.
pub struct Resolver {
    sources: Vec<Box<dyn ArtifactSource>>,
    fetch: Fetcher,
}

/// The source a [`SourceSpec`] describes. The Mender Server source connects to nothing
/// until an Artifact is asked of it.
fn build(spec: &SourceSpec) -> Box<dyn ArtifactSource> {
    match spec {
        SourceSpec::Directory { path } => Box::new(DirectorySource::new(path)),
        SourceSpec::Url { template } => Box::new(UrlSource::new(template)),
        SourceSpec::MenderServer {} => Box::new(MenderServerSource::system()),
    }
}

impl Resolver {
    /// The sources of `specs`, in order. TLS files (`ServerCertificate`, `HttpsClient`) are
    /// read now: a bad one fails here, at start. `staging` is a private directory for
    /// downloads when the cache is off (created with mode 0700 if missing; never a symlink).
    pub fn new(
        specs: Vec<SourceSpec>,
        policy: VerifyPolicy,
        limits: Limits,
        http: HttpOptions,
        staging: &Path,
        cache: Option<ArtifactsCache>,
        metrics: Metrics,
    ) -> Result<Self, SourceError> {
        let sources = specs.iter().map(build).collect();
        Self::with_sources(sources, policy, limits, http, staging, cache, metrics)
    }

    /// [`Resolver::new`] with sources already built (tests give the Mender Server source its
    /// own bus).
    pub fn with_sources(
        sources: Vec<Box<dyn ArtifactSource>>,
        policy: VerifyPolicy,
        limits: Limits,
        http: HttpOptions,
        staging: &Path,
        cache: Option<ArtifactsCache>,
        metrics: Metrics,
    ) -> Result<Self, SourceError> {
        let client = HttpClient::new(&http)?;
        let fetch = Fetcher::new(policy, limits, client, staging, cache, metrics)?;
        Ok(Self { sources, fetch })
    }

    /// Where the sources keep their files (see [`SourceLocations`]).
    pub fn locations(&self) -> SourceLocations {
        SourceLocations {
            cache: self.fetch.cache().map(|c| c.dir().to_owned()),
            downloads: self.fetch.staging().to_owned(),
            directories: self
                .sources
                .iter()
                .filter_map(|s| s.local_dir().map(Path::to_owned))
                .collect(),
        }
    }

    /// The cache, for the end-of-deployment eviction.
    pub fn cache(&self) -> Option<&ArtifactsCache> {
        self.fetch.cache()
    }

    /// The candidate Artifacts for `loc`: one for a path, a URL or the Mender Server, every
    /// matching file (smallest first) for a directory. The planner narrows them (installed?
    /// depends?). A failure is counted in `baton_artifact_fetch_failures_total`.
    pub fn resolve(&self, loc: &ArtifactLocator<'_>) -> Result<Vec<Resolved>, SourceError> {
        let (kind, result) = self.resolve_uncounted(loc);
        if let Err(e) = &result {
            self.fetch
                .metrics()
                .artifact_fetch_failed(kind.label(), e.condition_reason());
        }
        result
    }

    fn resolve_uncounted(
        &self,
        loc: &ArtifactLocator<'_>,
    ) -> (SourceKind, Result<Vec<Resolved>, SourceError>) {
        if let Some(p) = loc.artifact_path {
            let path = match loc.base_dir {
                Some(base) if p.is_relative() => base.join(p),
                _ => p.to_owned(),
            };
            if path.exists() {
                let found = self.fetch.header(&path).map(|header| {
                    vec![Resolved {
                        path,
                        header,
                        origin: Origin::Path,
                    }]
                });
                return (SourceKind::Path, found);
            }
            if loc.artifact_name.is_none() {
                let e = SourceError::NotFound {
                    name: p.display().to_string(),
                    tried: vec![path.display().to_string()],
                };
                return (SourceKind::Path, Err(e));
            }
        }
        let Some(name) = loc.artifact_name else {
            return (SourceKind::Path, Err(SourceError::NoLocator));
        };
        let mut tried = Vec::new();
        let mut absent = Vec::new();
        for source in &self.sources {
            tried.push(source.describe(name));
            match source.find(name, loc, &self.fetch) {
                Ok(v) if !v.is_empty() => return (source.kind(), Ok(v)),
                Ok(_) => {}
                Err(e) if e.is_absent() => absent.push((source.kind(), e)),
                Err(e) => return (source.kind(), Err(e)),
            }
        }
        // A lone source's own "not here" says more (the Mender Server's names the component
        // type and how to fix it) than a list of one place.
        if self.sources.len() == 1 {
            if let Some((kind, e)) = absent.pop() {
                return (kind, Err(e));
            }
        }
        let kind = self.sources.last().map_or(SourceKind::Path, |s| s.kind());
        let e = SourceError::NotFound {
            name: name.to_owned(),
            tried,
        };
        (kind, Err(e))
    }
}
