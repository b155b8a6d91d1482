//! The desired-state store: the newest desired Manifest and its generation.
//!
//! Every source (watched directory, local API, Update Module hand-off, the rollback action)
//! only ever calls [`DesiredStore::apply`] with a Manifest [`super::admission`] accepted,
//! which gives it the next generation and persists it before answering, then the source
//! pokes the reconciler. The store never acts
//! on the System and never compares desired with observed: that is the reconciler's job.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::clock;
use crate::durable::persist::{self, PersistError};
use crate::model::Origin;
use crate::resource::{self, Diagnostics, LoadedManifest};

const FILE: &str = "desired.json";

/// One desired state.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub generation: u64,
    pub manifest: LoadedManifest,
    /// Where it came from.
    pub origin: Origin,
    /// Seconds since the epoch.
    pub applied_at: u64,
    /// For a dropped file: its name and digest, so a restart recognises a file it already
    /// applied but had not yet moved aside.
    pub source_file: Option<(String, String)>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OnDisk {
    generation: u64,
    /// Persisted as the words it always was (`api`, `watch:<file>`, ...): see [`Origin`].
    origin: Origin,
    applied_at: u64,
    base_dir: Option<PathBuf>,
    manifest_origin: String,
    source_file: Option<(String, String)>,
    /// The Manifest exactly as received (YAML is text; the reader refuses invalid UTF-8).
    manifest: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DesiredError {
    #[error(transparent)]
    Persist(#[from] PersistError),
    #[error("the stored desired Manifest no longer validates:\n{0}")]
    Invalid(Diagnostics),
}

/// Shared by the sources and the reconciler.
#[derive(Debug)]
pub struct DesiredStore {
    dir: PathBuf,
    current: Mutex<(u64, Option<Arc<Desired>>)>,
}

impl DesiredStore {
    /// Opens the store in `dir` (created if needed), reading what was persisted.
    pub fn open(dir: &Path) -> Result<Self, DesiredError> {
        std::fs::create_dir_all(dir).map_err(|source| PersistError {
            path: dir.to_path_buf(),
            action: "creating",
            source,
        })?;
        let current = match persist::load::<OnDisk>(dir, FILE)? {
            None => (0, None),
            Some(d) => {
                let mut m = resource::parse_manifest(&d.manifest_origin, d.manifest.as_bytes())
                    .map_err(DesiredError::Invalid)?;
                m.base_dir = d.base_dir;
                let desired = Desired {
                    generation: d.generation,
                    manifest: m,
                    origin: d.origin,
                    applied_at: d.applied_at,
                    source_file: d.source_file,
                };
                (d.generation, Some(Arc::new(desired)))
            }
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            current: Mutex::new(current),
        })
    }

    /// The newest desired state.
    pub fn current(&self) -> Option<Arc<Desired>> {
        self.lock().1.clone()
    }

    /// The newest generation (0: none yet).
    pub fn generation(&self) -> u64 {
        self.lock().0
    }

    /// Makes `manifest` the desired state with the next generation, durably. The same
    /// Manifest again (same bytes, same base directory) keeps its generation, as a
    /// Kubernetes generation only moves when the spec changes: `(generation, changed)`.
    pub fn apply(
        &self,
        manifest: LoadedManifest,
        origin: Origin,
        source_file: Option<(String, String)>,
    ) -> Result<(u64, bool), DesiredError> {
        let mut cur = self.lock();
        if let Some(d) = &cur.1 {
            if d.manifest.sha256 == manifest.sha256 && d.manifest.base_dir == manifest.base_dir {
                return Ok((d.generation, false));
            }
        }
        let generation = cur.0 + 1;
        let disk = OnDisk {
            generation,
            origin,
            applied_at: clock::now_epoch(),
            base_dir: manifest.base_dir.clone(),
            manifest_origin: manifest.origin.clone(),
            source_file: source_file.clone(),
            manifest: String::from_utf8_lossy(&manifest.bytes).into_owned(),
        };
        persist::save(&self.dir, FILE, &disk)?;
        *cur = (
            generation,
            Some(Arc::new(Desired {
                generation,
                manifest,
                origin: disk.origin,
                applied_at: disk.applied_at,
                source_file,
            })),
        );
        Ok((generation, true))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, Option<Arc<Desired>>)> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = concat!(
        "api_version: mender/v1\nkind: manifest\nname: m1\n",
        "system_types_compatible: [sys]\ncomponent_types:\n  rtos:\n",
        "    artifact_name: rtos-v1\n    update_strategy:\n      order: 1\n",
    );

    #[test]
    fn generations_grow_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = DesiredStore::open(dir.path()).unwrap();
        assert_eq!(store.generation(), 0);
        assert!(store.current().is_none());
        let mut m = resource::parse_manifest("api", MANIFEST.as_bytes()).unwrap();
        m.base_dir = Some("/tmp/x".into());
        assert_eq!(
            store.apply(m.clone(), Origin::Api, None).unwrap(),
            (1, true)
        );
        // The same spec again: same generation.
        assert_eq!(
            store.apply(m.clone(), Origin::Api, None).unwrap(),
            (1, false)
        );
        let mut moved = m.clone();
        moved.base_dir = Some("/tmp/y".into());
        let src = Some(("a.yaml".to_string(), m.sha256.clone()));
        let watched = Origin::WatchDir {
            file: "a.yaml".into(),
        };
        assert_eq!(
            store
                .apply(moved.clone(), watched.clone(), src.clone())
                .unwrap(),
            (2, true)
        );
        drop(store);
        let again = DesiredStore::open(dir.path()).unwrap();
        let cur = again.current().unwrap();
        assert_eq!(cur.generation, 2);
        assert_eq!(cur.origin, watched);
        assert_eq!(cur.source_file, src);
        assert_eq!(cur.manifest, moved);
        assert_eq!(again.apply(m, Origin::Api, None).unwrap(), (3, true));
    }

    #[test]
    fn a_desired_state_written_before_origins_were_typed_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let old = serde_json::json!({
            "generation": 4,
            "origin": "rollback",
            "appliedAt": 1_700_000_000u64,
            "baseDir": null,
            "manifestOrigin": "api",
            "sourceFile": null,
            "manifest": MANIFEST,
        });
        std::fs::write(dir.path().join(FILE), old.to_string()).unwrap();
        let store = DesiredStore::open(dir.path()).unwrap();
        let cur = store.current().unwrap();
        assert_eq!((cur.generation, &cur.origin), (4, &Origin::RollbackAction));
        assert!(cur.origin.allows_downgrade());
    }
}
