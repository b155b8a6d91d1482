//! The slices of Kanto desired states that update agents need at Download, kept in the
//! datastore so that a deployment picks them up again after a restart.
//!
//! The Update Manager writes one for every [`AgentSlice`] before it admits the Manifest that
//! names it (`kanto-<domain>-<digest>`, see [`super::mapping`]); the agent driver reads it by
//! that name when the engine runs Download. The driver also notes here which slice each
//! agent last activated: that is what the agent "runs" for the engine's planning.
//!
//! Layout under `<datastore>/kanto/`:
//! - `slices/<artifact_name>.json`: the slice (a Kanto desired state of one domain);
//! - `activated/<domain>.json`: `{"artifact_name": ...}`, the slice last activated.
//!
//! Every file is written atomically and durably (`durable::write_atomic`). Slices are kept
//! for the newest [`KEEP`] written, and always while an agent's activated slice is one.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::mapping::AgentSlice;
use super::wire::DesiredState;
use crate::durable;

/// Slices kept besides the activated ones: far more than Kanto's one activity at a time
/// can have in flight.
pub const KEEP: usize = 32;

/// Why a slice could not be read or written. Names the file.
#[derive(Debug, thiserror::Error)]
pub enum SliceError {
    #[error("'{0}' is not a Kanto agent slice's name (expected kanto-<domain>-<digest>)")]
    BadName(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: not a Kanto desired state: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Activated {
    artifact_name: String,
}

/// The store, rooted at `<datastore>/kanto`.
#[derive(Debug, Clone)]
pub struct SliceStore {
    root: PathBuf,
}

impl SliceStore {
    pub fn new(datastore: &Path) -> Self {
        Self {
            root: datastore.join("kanto"),
        }
    }

    fn slices(&self) -> PathBuf {
        self.root.join("slices")
    }

    /// Where the slice named `artifact_name` lives.
    pub fn path(&self, artifact_name: &str) -> PathBuf {
        self.slices().join(format!("{artifact_name}.json"))
    }

    /// Writes `slice` under its artifact name (replacing an equal one), then forgets the
    /// oldest beyond [`KEEP`].
    pub fn write(&self, slice: &AgentSlice) -> Result<(), SliceError> {
        self.write_desired(&slice.artifact_name, &slice.desired)
    }

    /// Writes the desired state `desired` as the slice `artifact_name`.
    pub fn write_desired(
        &self,
        artifact_name: &str,
        desired: &DesiredState,
    ) -> Result<(), SliceError> {
        check_name(artifact_name)?;
        let dir = self.slices();
        let io = |source| SliceError::Io {
            path: dir.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let bytes = serde_json::to_vec(desired).expect("a desired state serializes");
        durable::write_atomic(&dir, &format!("{artifact_name}.json"), &bytes).map_err(io)?;
        self.prune();
        Ok(())
    }

    /// The slice named `artifact_name`; `None` when there is none.
    pub fn read(&self, artifact_name: &str) -> Result<Option<DesiredState>, SliceError> {
        check_name(artifact_name)?;
        let path = self.path(artifact_name);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(SliceError::Io { path, source }),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| SliceError::Parse { path, source })
    }

    /// Notes that the agent of `domain` activated the slice `artifact_name`.
    pub fn set_activated(&self, domain: &str, artifact_name: &str) -> Result<(), SliceError> {
        check_name(artifact_name)?;
        let dir = self.root.join("activated");
        let io = |source| SliceError::Io {
            path: dir.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let body = Activated {
            artifact_name: artifact_name.to_string(),
        };
        let bytes = serde_json::to_vec(&body).expect("serializes");
        durable::write_atomic(&dir, &activated_file(domain), &bytes).map_err(io)
    }

    /// The slice the agent of `domain` last activated, if any is known (an unreadable note
    /// counts as none: the agent is then simply asked again).
    pub fn activated(&self, domain: &str) -> Option<String> {
        let path = self.root.join("activated").join(activated_file(domain));
        let bytes = std::fs::read(path).ok()?;
        serde_json::from_slice::<Activated>(&bytes)
            .ok()
            .map(|a| a.artifact_name)
    }

    /// Removes the oldest slices beyond [`KEEP`], never an activated one. Best effort: a
    /// slice left behind costs a few hundred bytes.
    fn prune(&self) {
        let Ok(entries) = std::fs::read_dir(self.slices()) else {
            return;
        };
        let mut slices: Vec<(std::time::SystemTime, PathBuf)> = entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        if slices.len() <= KEEP {
            return;
        }
        let activated: Vec<String> = std::fs::read_dir(self.root.join("activated"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read(e.path()).ok())
            .filter_map(|b| serde_json::from_slice::<Activated>(&b).ok())
            .map(|a| format!("{}.json", a.artifact_name))
            .collect();
        slices.sort();
        let excess = slices.len() - KEEP;
        for (_, path) in slices.into_iter().take(excess) {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            if name.is_some_and(|n| activated.contains(&n)) {
                continue;
            }
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::debug!(path = %path.display(), error = %e, "Kanto: an old slice stays");
            }
        }
    }
}

/// A domain as a file name (domains come from a Topology interface: no '/', but may start
/// with '.').
fn activated_file(domain: &str) -> String {
    format!("{}.json", domain.replace('.', "_"))
}

/// A slice's name is a file name: `kanto-...`, no '/', nothing hidden.
fn check_name(name: &str) -> Result<(), SliceError> {
    let ok = name.starts_with("kanto-")
        && !name.contains(['/', '\0'])
        && !name.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(SliceError::BadName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(version: &str) -> DesiredState {
        serde_json::from_value(serde_json::json!({"domains":[{"id":"containers",
            "components":[{"id":"web","version": version}]}]}))
        .unwrap()
    }

    #[test]
    fn a_slice_is_read_back_by_its_name_and_a_missing_one_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let store = SliceStore::new(dir.path());
        assert!(store.read("kanto-containers-00").unwrap().is_none());
        store
            .write_desired("kanto-containers-01", &desired("1.0"))
            .unwrap();
        assert_eq!(
            store.read("kanto-containers-01").unwrap(),
            Some(desired("1.0"))
        );
        assert!(dir
            .path()
            .join("kanto/slices/kanto-containers-01.json")
            .is_file());
        // A new store on the same datastore (a restart) finds it.
        let again = SliceStore::new(dir.path());
        assert!(again.read("kanto-containers-01").unwrap().is_some());
    }

    #[test]
    fn names_that_are_not_slice_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = SliceStore::new(dir.path());
        for bad in ["../x", "kanto-a/b", "rootfs-v1", "kanto-a b", ""] {
            assert!(
                matches!(store.read(bad), Err(SliceError::BadName(_))),
                "{bad}"
            );
            assert!(store.write_desired(bad, &desired("1")).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_broken_slice_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = SliceStore::new(dir.path());
        std::fs::create_dir_all(dir.path().join("kanto/slices")).unwrap();
        std::fs::write(store.path("kanto-x-1"), b"{not json").unwrap();
        let e = store.read("kanto-x-1").unwrap_err().to_string();
        assert!(e.contains("kanto/slices/kanto-x-1.json"), "{e}");
    }

    #[test]
    fn the_activated_slice_is_remembered_per_domain() {
        let dir = tempfile::tempdir().unwrap();
        let store = SliceStore::new(dir.path());
        assert_eq!(store.activated("containers"), None);
        store
            .set_activated("containers", "kanto-containers-01")
            .unwrap();
        store
            .set_activated("self-update", "kanto-self-update-02")
            .unwrap();
        store
            .set_activated("containers", "kanto-containers-03")
            .unwrap();
        assert_eq!(
            store.activated("containers").as_deref(),
            Some("kanto-containers-03")
        );
        assert_eq!(
            store.activated("self-update").as_deref(),
            Some("kanto-self-update-02")
        );
    }

    #[test]
    fn old_slices_are_forgotten_but_not_an_activated_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = SliceStore::new(dir.path());
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1000);
        store.write_desired("kanto-c-first", &desired("0")).unwrap();
        store
            .write_desired("kanto-c-second", &desired("0"))
            .unwrap();
        for name in ["kanto-c-first", "kanto-c-second"] {
            let f = std::fs::File::options()
                .write(true)
                .open(store.path(name))
                .unwrap();
            f.set_modified(old).unwrap();
        }
        store.set_activated("c", "kanto-c-first").unwrap();
        for i in 0..KEEP {
            store
                .write_desired(&format!("kanto-c-{i:02}"), &desired("1"))
                .unwrap();
        }
        assert!(store.read("kanto-c-first").unwrap().is_some(), "activated");
        assert!(store.read("kanto-c-second").unwrap().is_none(), "oldest");
        assert!(store.read("kanto-c-00").unwrap().is_some());
    }
}
