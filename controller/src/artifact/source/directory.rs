//! A directory of Artifacts, indexed by the `artifact_name` in each one's header.
//!
//! Only headers are read (never a payload), and each file's header is remembered by
//! (path, mtime, size) so a directory of large Artifacts is scanned once, not once per
//! deployment. Files that are not valid Artifacts (or fail the signature policy) are skipped
//! with a warning: a stray file must not stop a deployment that does not need it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::artifact::{read_header, ArtifactHeader, Limits, VerifyPolicy};

use super::SourceError;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Stamp {
    mtime: Option<SystemTime>,
    size: u64,
}

/// Headers already read, by file.
#[derive(Default)]
pub(crate) struct DirIndex {
    seen: HashMap<PathBuf, (Stamp, Option<ArtifactHeader>)>,
}

impl DirIndex {
    /// The Artifacts in `dir` whose header names `name`, smallest first.
    pub fn find(
        &mut self,
        dir: &Path,
        name: &str,
        policy: &VerifyPolicy,
        limits: &Limits,
        metrics: &crate::metrics::Metrics,
    ) -> Result<Vec<(PathBuf, ArtifactHeader)>, SourceError> {
        let entries = std::fs::read_dir(dir).map_err(|e| SourceError::io(dir, e))?;
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
            let header = match self.seen.get(&path) {
                Some((s, h)) if *s == stamp => h.clone(),
                _ => {
                    let h = match read_header(&path, policy, limits) {
                        Ok(h) => Some(h),
                        Err(e) => {
                            metrics.artifact_rejected(e.verification_failure());
                            tracing::warn!(path = %path.display(), reason = e.reason(), error = %e, "skipping a file that is not a usable Artifact");
                            None
                        }
                    };
                    self.seen.insert(path.clone(), (stamp, h.clone()));
                    h
                }
            };
            if let Some(h) = header.filter(|h| h.name == name) {
                found.push((path, h));
            }
        }
        self.seen
            .retain(|p, _| !p.starts_with(dir) || present.contains(p));
        found.sort_by_key(|(p, h)| (h.total_size, p.clone()));
        Ok(found)
    }
}
