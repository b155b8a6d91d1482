//! What the reconciler must remember across restarts: the failure count of the desired
//! generation, the last generation that reached the System, suspension, and which
//! deployment the Update Module drives. Written durably after every change.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::durable::persist::{self, PersistError};
use crate::model::Reason;

const FILE: &str = "state.json";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    /// Failed attempts at `failures_generation` since its last success.
    pub failures: u32,
    pub failures_generation: u64,
    /// The last desired generation found or made in sync (status' observedGeneration).
    pub synced_generation: u64,
    pub suspended: bool,
    /// Why the last attempt failed, and the message.
    #[serde(
        default,
        deserialize_with = "super::deployer::legacy_reason_and_message"
    )]
    pub last_error: Option<(Reason, String)>,
    /// The deployment the Update Module hand-off drives: the controller leaves it alone.
    pub handoff: Option<String>,
    /// The generation of the deployment the controller started and has not seen end.
    pub deploying: Option<u64>,
}

impl Memory {
    /// The failures that count for `generation` (a new generation starts from zero).
    pub fn failures_for(&self, generation: u64) -> u32 {
        if self.failures_generation == generation {
            self.failures
        } else {
            0
        }
    }

    pub fn record_failure(&mut self, generation: u64, reason: Reason, message: String) -> u32 {
        self.failures = self.failures_for(generation) + 1;
        self.failures_generation = generation;
        self.last_error = Some((reason, message));
        self.failures
    }

    pub fn record_success(&mut self, generation: u64) {
        self.failures = 0;
        self.failures_generation = generation;
        self.synced_generation = generation;
        self.last_error = None;
    }
}

/// [`Memory`] with its file.
#[derive(Debug)]
pub struct MemoryFile {
    dir: PathBuf,
    pub value: Memory,
}

impl MemoryFile {
    pub fn open(dir: &Path) -> Result<Self, PersistError> {
        Ok(Self {
            dir: dir.to_path_buf(),
            value: persist::load(dir, FILE)?.unwrap_or_default(),
        })
    }

    /// Changes the memory and writes it before returning.
    pub fn update<R>(&mut self, f: impl FnOnce(&mut Memory) -> R) -> Result<R, PersistError> {
        let mut next = self.value.clone();
        let r = f(&mut next);
        if next != self.value {
            persist::save(&self.dir, FILE, &next)?;
            self.value = next;
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_reset_on_success_and_on_a_new_generation_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = MemoryFile::open(dir.path()).unwrap();
        assert_eq!(
            m.update(|m| m.record_failure(3, Reason::DownloadFailed, "x".into()))
                .unwrap(),
            1
        );
        assert_eq!(
            m.update(|m| m.record_failure(3, Reason::DownloadFailed, "x".into()))
                .unwrap(),
            2
        );
        let again = MemoryFile::open(dir.path()).unwrap();
        assert_eq!(again.value.failures_for(3), 2);
        assert_eq!(again.value.failures_for(4), 0);
        assert_eq!(
            m.update(|m| m.record_failure(4, Reason::InstallFailed, "y".into()))
                .unwrap(),
            1
        );
        m.update(|m| m.record_success(4)).unwrap();
        let again = MemoryFile::open(dir.path()).unwrap();
        assert_eq!(again.value.failures_for(4), 0);
        assert_eq!(again.value.synced_generation, 4);
        assert_eq!(again.value.last_error, None);
    }

    #[test]
    fn a_memory_written_before_reasons_were_typed_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let old = r#"{"failures": 2, "failuresGeneration": 5, "syncedGeneration": 4,
            "suspended": false, "lastError": ["ArtifactInstallFailed", "rtos A: exit 1"],
            "handoff": null, "deploying": null}"#;
        std::fs::write(dir.path().join(FILE), old).unwrap();
        let m = MemoryFile::open(dir.path()).unwrap();
        assert_eq!(m.value.failures_for(5), 2, "not set aside as broken");
        assert_eq!(
            m.value.last_error,
            Some((Reason::InstallFailed, "rtos A: exit 1".to_string()))
        );
    }
}
