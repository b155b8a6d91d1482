//! Small JSON files, each replaced durably ([`super::write_atomic`]): the controller's own
//! files in `<datastore>/controller/` (the desired state and its generation, the failure
//! count, suspension, the history) and whatever else only needs "old or new, never torn".
//!
//! A file that cannot be decoded is kept aside as `<name>.broken` and reported; the caller
//! then starts from empty rather than crash-loop.

use std::io;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::write_atomic;

#[derive(Debug, thiserror::Error)]
#[error("{path}: {action}: {source}")]
pub struct PersistError {
    pub path: PathBuf,
    pub action: &'static str,
    pub source: io::Error,
}

/// Reads `dir/name` as JSON; `None` when absent. A file that does not decode is renamed to
/// `name.broken` and `None` is returned after a warning.
pub fn load<T: DeserializeOwned>(dir: &Path, name: &str) -> Result<Option<T>, PersistError> {
    let path = dir.join(name);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(PersistError {
                path,
                action: "reading",
                source,
            })
        }
    };
    match serde_json::from_slice(&bytes) {
        Ok(v) => Ok(Some(v)),
        Err(e) => {
            let broken = dir.join(format!("{name}.broken"));
            tracing::error!(file = %path.display(), error = %e, kept = %broken.display(),
                "cannot decode a persisted file; starting without it");
            std::fs::rename(&path, &broken).map_err(|source| PersistError {
                path,
                action: "setting aside",
                source,
            })?;
            Ok(None)
        }
    }
}

/// Replaces `dir/name` with `value` as JSON, durably.
pub fn save<T: Serialize>(dir: &Path, name: &str, value: &T) -> Result<(), PersistError> {
    let bytes = serde_json::to_vec_pretty(value).expect("persisted files serialize");
    write_atomic(dir, name, &bytes).map_err(|source| PersistError {
        path: dir.join(name),
        action: "writing",
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_absent_and_broken() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load::<Vec<u32>>(dir.path(), "x.json").unwrap(), None);
        save(dir.path(), "x.json", &vec![1u32, 2]).unwrap();
        assert_eq!(
            load::<Vec<u32>>(dir.path(), "x.json").unwrap(),
            Some(vec![1, 2])
        );
        std::fs::write(dir.path().join("x.json"), b"{not json").unwrap();
        assert_eq!(load::<Vec<u32>>(dir.path(), "x.json").unwrap(), None);
        assert!(dir.path().join("x.json.broken").exists());
        assert!(!dir.path().join("x.json").exists());
    }
}
