//! The Manifest store: the last successfully deployed Manifest, the one being deployed, and
//! the one before the current (what `rollback` returns to).
//!
//! A failed deployment never replaces `current`. Files are replaced durably; the Manifest's
//! original location is kept so relative `artifact_path`s resolve as they did at install.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::durable::fault;
use crate::durable::{sync_dir, write_atomic};

/// Which slot of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Current,
    /// Staged by a deployment in flight (read by tests; the engine reads it by name).
    #[cfg_attr(not(test), allow(dead_code))]
    Pending,
    Previous,
}

impl Slot {
    fn stem(self) -> &'static str {
        match self {
            Slot::Current => "current",
            Slot::Pending => "pending",
            Slot::Previous => "previous",
        }
    }
}

/// What the store records next to the Manifest bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMeta {
    pub name: String,
    pub sha256: String,
    /// Where the Manifest came from (a file path, `api`, `update-module`).
    pub origin: String,
    /// The directory relative `artifact_path`s resolve against.
    pub base_dir: Option<PathBuf>,
    /// Seconds since the epoch when the Manifest entered this slot.
    pub stored_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredManifest {
    pub meta: StoredMeta,
    pub bytes: Vec<u8>,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error("manifest store {dir}: {action}: {source}")]
pub struct StoreError {
    dir: PathBuf,
    action: &'static str,
    source: io::Error,
}

/// Every name a staged Manifest may use, the temporary ones of [`write_atomic`] included.
const PENDING_FILES: [&str; 4] = [
    "pending.yaml",
    "pending.meta.json",
    ".pending.yaml.tmp",
    ".pending.meta.json.tmp",
];

#[derive(Debug, Clone)]
pub struct ManifestStore {
    dir: PathBuf,
}

impl ManifestStore {
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        fs::create_dir_all(dir).map_err(|source| StoreError {
            dir: dir.to_path_buf(),
            action: "creating the directory",
            source,
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn err(&self, action: &'static str) -> impl FnOnce(io::Error) -> StoreError + '_ {
        move |source| StoreError {
            dir: self.dir.clone(),
            action,
            source,
        }
    }

    pub fn get(&self, slot: Slot) -> Result<Option<StoredManifest>, StoreError> {
        let path = self.dir.join(format!("{}.yaml", slot.stem()));
        let meta_path = self.dir.join(format!("{}.meta.json", slot.stem()));
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.err("reading a manifest")(e)),
        };
        let meta_bytes = fs::read(&meta_path).map_err(self.err("reading manifest metadata"))?;
        let meta = serde_json::from_slice(&meta_bytes).map_err(|e| {
            self.err("decoding manifest metadata")(io::Error::new(io::ErrorKind::InvalidData, e))
        })?;
        Ok(Some(StoredManifest { meta, bytes, path }))
    }

    /// Whether any file of a staged Manifest exists, even half-written.
    pub fn has_pending(&self) -> bool {
        PENDING_FILES.iter().any(|n| self.dir.join(n).exists())
    }

    /// Record the Manifest a deployment is about to install.
    pub fn stage(&self, bytes: &[u8], meta: &StoredMeta) -> Result<StoredManifest, StoreError> {
        let meta_json = serde_json::to_vec_pretty(meta).expect("metadata serializes");
        // Metadata first: a Manifest file never exists without its metadata.
        write_atomic(&self.dir, "pending.meta.json", &meta_json).map_err(self.err("staging"))?;
        write_atomic(&self.dir, "pending.yaml", bytes).map_err(self.err("staging"))?;
        Ok(StoredManifest {
            meta: meta.clone(),
            bytes: bytes.to_vec(),
            path: self.dir.join("pending.yaml"),
        })
    }

    /// The pending Manifest was deployed: it becomes current, the current one previous.
    ///
    /// Four renames (current yaml and metadata to previous, pending metadata then yaml to
    /// current), restartable after a crash between any two: while `pending.yaml` exists the
    /// promotion is unfinished, and which renames are done can be read from which files
    /// exist (`pending.meta.json` gone means the current files were already retired).
    pub fn promote_pending(&self) -> Result<(), StoreError> {
        let path = |n: &str| self.dir.join(n);
        if !path("pending.yaml").exists() {
            return Ok(());
        }
        if path("pending.meta.json").exists() {
            for ext in ["yaml", "meta.json"] {
                let cur = path(&format!("current.{ext}"));
                if cur.exists() {
                    fs::rename(&cur, path(&format!("previous.{ext}")))
                        .map_err(self.err("promoting"))?;
                    fault::point(format_args!("store.promote.retired:{ext}"));
                }
            }
            // Metadata first on the way in, so `current.yaml` never lacks its metadata.
            fs::rename(path("pending.meta.json"), path("current.meta.json"))
                .map_err(self.err("promoting"))?;
            fault::point("store.promote.meta");
        }
        fs::rename(path("pending.yaml"), path("current.yaml")).map_err(self.err("promoting"))?;
        sync_dir(&self.dir).map_err(self.err("promoting"))
    }

    /// The pending Manifest was not deployed: forget it (and any half-staged copy); current
    /// stays.
    pub fn discard_pending(&self) -> Result<(), StoreError> {
        for name in PENDING_FILES {
            match fs::remove_file(self.dir.join(name)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.err("discarding")(e)),
            }
        }
        sync_dir(&self.dir).map_err(self.err("discarding"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str) -> StoredMeta {
        StoredMeta {
            name: name.into(),
            sha256: "00".into(),
            origin: "test".into(),
            base_dir: None,
            stored_at: 1,
        }
    }

    #[test]
    fn success_promotes_and_failure_keeps_the_current_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let store = ManifestStore::open(dir.path()).unwrap();
        assert!(store.get(Slot::Current).unwrap().is_none());
        store.stage(b"v1", &meta("v1")).unwrap();
        store.promote_pending().unwrap();
        assert_eq!(store.get(Slot::Current).unwrap().unwrap().bytes, b"v1");

        store.stage(b"v2", &meta("v2")).unwrap();
        store.discard_pending().unwrap();
        assert_eq!(store.get(Slot::Current).unwrap().unwrap().meta.name, "v1");
        assert!(store.get(Slot::Pending).unwrap().is_none());

        store.stage(b"v3", &meta("v3")).unwrap();
        store.promote_pending().unwrap();
        assert_eq!(store.get(Slot::Current).unwrap().unwrap().meta.name, "v3");
        assert_eq!(store.get(Slot::Previous).unwrap().unwrap().meta.name, "v1");
    }

    /// A crash after any of the promotion's renames: promoting again finishes the job.
    #[test]
    fn an_interrupted_promotion_finishes_when_repeated() {
        let renames = [
            ("current.yaml", "previous.yaml"),
            ("current.meta.json", "previous.meta.json"),
            ("pending.meta.json", "current.meta.json"),
        ];
        for done in 0..=renames.len() {
            let dir = tempfile::tempdir().unwrap();
            let store = ManifestStore::open(dir.path()).unwrap();
            store.stage(b"v1", &meta("v1")).unwrap();
            store.promote_pending().unwrap();
            store.stage(b"v2", &meta("v2")).unwrap();
            for (from, to) in &renames[..done] {
                fs::rename(dir.path().join(from), dir.path().join(to)).unwrap();
            }
            store.promote_pending().unwrap();
            let current = store.get(Slot::Current).unwrap().unwrap();
            assert_eq!(
                (current.meta.name.as_str(), &current.bytes[..]),
                ("v2", &b"v2"[..]),
                "after {done}"
            );
            let previous = store.get(Slot::Previous).unwrap().unwrap();
            assert_eq!(
                (previous.meta.name.as_str(), &previous.bytes[..]),
                ("v1", &b"v1"[..]),
                "after {done}"
            );
            assert!(!store.has_pending());
        }
    }
}
