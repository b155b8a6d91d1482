//! A directory of Artifacts, indexed by the `artifact_name` in each one's header.
//!
//! Only headers are read (never a payload), and each file's header is remembered by
//! (path, mtime, size) so a directory of large Artifacts is scanned once, not once per
//! deployment. Files that are not valid Artifacts (or fail the signature policy) are skipped
//! with a warning: a stray file must not stop a deployment that does not need it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use super::{ArtifactLocator, ArtifactSource, Fetcher, Origin, Resolved, SourceError, SourceKind};
use crate::artifact::{read_header, ArtifactHeader};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Stamp {
    mtime: Option<SystemTime>,
    size: u64,
}

/// `{"Type": "directory", "Path": DIR}`.
pub struct DirectorySource {
    dir: PathBuf,
    /// Headers already read, by file.
    seen: Mutex<HashMap<PathBuf, (Stamp, Option<ArtifactHeader>)>>,
}

impl DirectorySource {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// The Artifacts in the directory whose header names `name`, smallest first.
    fn scan(
        &self,
        name: &str,
        fetch: &Fetcher,
    ) -> Result<Vec<(PathBuf, ArtifactHeader)>, SourceError> {
        let dir = &self.dir;
        let entries = std::fs::read_dir(dir).map_err(|e| SourceError::io(dir, e))?;
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let mut found = Vec::new();
        let mut present = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| SourceError::io(dir, e))?.path();
            // Follows a symlink to a regular file; the engine re-verifies what it installs.
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            present.push(path.clone());
            let stamp = Stamp {
                mtime: meta.modified().ok(),
                size: meta.len(),
            };
            let header = match seen.get(&path) {
                Some((s, h)) if *s == stamp => h.clone(),
                _ => {
                    let h = match read_header(&path, fetch.policy(), fetch.limits()) {
                        Ok(h) => Some(h),
                        Err(e) => {
                            fetch.metrics().artifact_rejected(e.verification_failure());
                            tracing::warn!(path = %path.display(), reason = e.reason(), error = %e, "skipping a file that is not a usable Artifact");
                            None
                        }
                    };
                    seen.insert(path.clone(), (stamp, h.clone()));
                    h
                }
            };
            if let Some(h) = header.filter(|h| h.name == name) {
                found.push((path, h));
            }
        }
        seen.retain(|p, _| present.contains(p));
        found.sort_by_key(|(p, h)| (h.total_size, p.clone()));
        Ok(found)
    }
}

impl ArtifactSource for DirectorySource {
    fn kind(&self) -> SourceKind {
        SourceKind::Directory
    }

    fn describe(&self, _: &str) -> String {
        self.dir.display().to_string()
    }

    /// Every matching file, smallest first (the planner narrows them). An unreadable
    /// directory is skipped with a warning, as a stray file is.
    fn find(
        &self,
        name: &str,
        _: &ArtifactLocator<'_>,
        fetch: &Fetcher,
    ) -> Result<Vec<Resolved>, SourceError> {
        match self.scan(name, fetch) {
            Ok(v) => Ok(v
                .into_iter()
                .map(|(path, header)| Resolved {
                    path: path.clone(),
                    header,
                    origin: Origin::Directory(path),
                })
                .collect()),
            Err(e) => {
                tracing::warn!(error = %e, "Artifact directory unusable");
                Ok(vec![])
            }
        }
    }

    fn local_dir(&self) -> Option<&Path> {
        Some(&self.dir)
    }
}
