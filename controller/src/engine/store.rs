//! The Manifest store: the last successfully deployed Manifest, the one being deployed, and
//! the one before the current (what `rollback` returns to).
//!
//! A failed deployment never replaces `current`. Files are replaced durably; the Manifest's
//! original location is kept so relative `artifact_path`s resolve as they did at install.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::durable::{sync_dir, write_atomic};

/// Which slot of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Current,
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
    pub fn promote_pending(&self) -> Result<(), StoreError> {
        if !self.dir.join("pending.yaml").exists() {
            return Ok(());
        }
        for ext in ["yaml", "meta.json"] {
            let cur = self.dir.join(format!("current.{ext}"));
            if cur.exists() {
                fs::rename(&cur, self.dir.join(format!("previous.{ext}")))
                    .map_err(self.err("promoting"))?;
            }
        }
        // Metadata last on the way in, so `current.yaml` never lacks its metadata.
        fs::rename(
            self.dir.join("pending.meta.json"),
            self.dir.join("current.meta.json"),
        )
        .map_err(self.err("promoting"))?;
        fs::rename(self.dir.join("pending.yaml"), self.dir.join("current.yaml"))
            .map_err(self.err("promoting"))?;
        sync_dir(&self.dir).map_err(self.err("promoting"))
    }

    /// The pending Manifest was not deployed: forget it; current stays.
    pub fn discard_pending(&self) -> Result<(), StoreError> {
        for name in ["pending.yaml", "pending.meta.json"] {
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
}
