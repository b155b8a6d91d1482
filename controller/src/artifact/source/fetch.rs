//! What every source shares: the verification policy, the HTTP client, the cache and the
//! private staging directory, and one way to turn a [`Link`] into a checked local file.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::http::{HttpClient, Link};
use super::{Origin, Resolved, SourceError, SourceKind};
use crate::artifact::cache::{ArtifactsCache, CacheOutcome};
use crate::artifact::{
    read_header, verify_file, verify_whole, widen_pipe, ArtifactError, ArtifactHeader, Limits,
    VerifyPolicy,
};
use crate::metrics::Metrics;

/// Staged files from the Mender Server start with this (the rest with `download-`), so
/// metrics can tell where a file in the staging directory came from.
pub(super) const SERVER_PREFIX: &str = "server-";

/// The shared download machinery.
pub struct Fetcher {
    policy: VerifyPolicy,
    limits: Limits,
    client: HttpClient,
    staging: PathBuf,
    cache: Option<ArtifactsCache>,
    metrics: Metrics,
    counter: AtomicU64,
}

impl Fetcher {
    /// `staging` is a private directory for downloads when the cache is off; it is created
    /// with mode 0700 if missing and must not be a symlink.
    pub(super) fn new(
        policy: VerifyPolicy,
        limits: Limits,
        client: HttpClient,
        staging: &Path,
        cache: Option<ArtifactsCache>,
        metrics: Metrics,
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
            policy,
            limits,
            client,
            staging: staging.to_owned(),
            cache,
            metrics,
            counter: AtomicU64::new(0),
        })
    }

    pub fn policy(&self) -> &VerifyPolicy {
        &self.policy
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub(super) fn staging(&self) -> &Path {
        &self.staging
    }

    pub(super) fn cache(&self) -> Option<&ArtifactsCache> {
        self.cache.as_ref()
    }

    /// The header of a local file (signature policy and header checksum checked).
    pub fn header(&self, path: &Path) -> Result<ArtifactHeader, SourceError> {
        read_header(path, &self.policy, &self.limits)
            .inspect_err(|e| self.metrics.artifact_rejected(e.verification_failure()))
            .map_err(|source| SourceError::Artifact {
                path: path.to_owned(),
                source,
            })
    }

    /// Downloads `link` to `dest` and checks that it is the Artifact that was asked for,
    /// whole: the bytes are verified (signature policy, header, every payload checksum) on
    /// another thread as they arrive, so a corrupted or truncated Artifact fails here, and
    /// verifying costs no time after the last byte. A transfer that had to start over is
    /// verified from the file instead.
    fn download_checked(
        &self,
        link: &mut dyn Link,
        dest: &Path,
        name: &str,
        kind: SourceKind,
        origin: &Origin,
    ) -> Result<ArtifactHeader, SourceError> {
        let artifact = |source| SourceError::Artifact {
            path: dest.to_owned(),
            source,
        };
        let (rx, mut tx) = std::io::pipe().map_err(|e| SourceError::io(dest, e))?;
        widen_pipe(&tx);
        let (policy, limits) = (self.policy.clone(), self.limits.clone());
        let verifier = std::thread::spawn(move || {
            let mut rx = rx;
            let verdict = verify_whole(&mut rx, &policy, &limits, &mut std::io::sink());
            if verdict.is_ok() {
                // Padding after the end of the archive: read, so the download is not cut.
                let _ = std::io::copy(&mut rx, &mut std::io::sink());
            }
            // A refusal drops the pipe, which stops the download.
            verdict.map(|(header, _)| header)
        });
        let downloaded = self
            .client
            .download(link, dest, kind, &self.metrics, Some(&mut tx));
        drop(tx);
        let verdict = verifier
            .join()
            .unwrap_or_else(|_| Err(ArtifactError::format("verifier", "panicked")));
        let checked = match downloaded {
            // The size cap is a definite answer, whatever the bytes were.
            Err(e @ SourceError::TooLarge { .. }) => Err(e),
            // A refusal by the verifier is why the download stopped: it says more.
            Err(e) => Err(match verdict {
                Err(v) if !matches!(v, ArtifactError::Truncated { .. }) => {
                    self.metrics.artifact_rejected(v.verification_failure());
                    artifact(v)
                }
                _ => e,
            }),
            Ok(d) if d.streamed => verdict
                .inspect_err(|e| self.metrics.artifact_rejected(e.verification_failure()))
                .map_err(artifact),
            Ok(_) => verify_file(dest, &self.policy, &self.limits)
                .map(|(h, _)| h)
                .inspect_err(|e| self.metrics.artifact_rejected(e.verification_failure()))
                .map_err(artifact),
        };
        let checked = checked.and_then(|h| {
            if h.name == name {
                Ok(h)
            } else {
                Err(SourceError::NameMismatch {
                    origin: describe(origin),
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

    /// The Artifact named `name` behind `link`, from the cache (under `key`) when it is on,
    /// else downloaded into the staging directory. Its header must name `name`.
    pub fn fetch(
        &self,
        key: &str,
        name: &str,
        kind: SourceKind,
        link: &mut dyn Link,
        origin: Origin,
    ) -> Result<Resolved, SourceError> {
        if let Some(cache) = &self.cache {
            match cache.get_or_fetch(key, |dest| {
                self.download_checked(link, dest, name, kind, &origin)
                    .map(drop)
            }) {
                Ok(path) => {
                    let header = self.header(&path)?;
                    return Ok(Resolved {
                        path,
                        header,
                        origin: Origin::Cache(describe(&origin)),
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
        let prefix = match kind {
            SourceKind::MenderServer => SERVER_PREFIX,
            _ => "download-",
        };
        let dest = loop {
            let n = self.counter.fetch_add(1, Ordering::Relaxed);
            let d = self
                .staging
                .join(format!("{prefix}{}-{n}.mender", std::process::id()));
            if !d.exists() {
                break d;
            }
        };
        let header = self.download_checked(link, &dest, name, kind, &origin)?;
        Ok(Resolved {
            path: dest,
            header,
            origin,
        })
    }
}

/// An origin in words, for messages and `Origin::Cache`.
fn describe(origin: &Origin) -> String {
    match origin {
        Origin::Path => "artifact_path".into(),
        Origin::Directory(p) => p.display().to_string(),
        Origin::Url(u) | Origin::Cache(u) => u.clone(),
        Origin::MenderServer { release, id } => {
            format!("the Mender Server (release {release:?}, Artifact {id})")
        }
    }
}
