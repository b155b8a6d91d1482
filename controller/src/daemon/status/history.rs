//! The history of deployments: the last [`LIMIT`] finished ones, newest first, persisted.
//!
//! [`entry`] turns the engine's [`DeploymentReport`] into a status history entry (pure);
//! [`History`] keeps the bounded list in `<datastore>/controller/history.json`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::daemon::clock::rfc3339;
use crate::daemon::deployer::{self, inconsistent};
use crate::durable::persist::{self, PersistError};
use crate::engine::api::{ComponentResult, DeploymentReport, End, Problem};
use crate::model::{HistoryComponent, HistoryEntry, Outcome};

pub const LIMIT: usize = 20;
const FILE: &str = "history.json";

/// Who drove a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    Controller,
    UpdateModule,
}

impl Driver {
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Controller => "controller",
            Driver::UpdateModule => "update-module",
        }
    }
}

/// The history entry for a finished deployment.
pub fn entry(
    report: &DeploymentReport,
    generation: u64,
    sha256: &str,
    driver: Driver,
) -> HistoryEntry {
    let all_skipped = !report.components.is_empty()
        && report
            .components
            .iter()
            .all(|c| c.result == ComponentResult::Skipped);
    let (outcome, message) = match &report.end {
        End::Success if all_skipped => (Outcome::UpToDate, None),
        End::Success => (Outcome::Succeeded, None),
        End::RolledBack { message, .. } => (Outcome::RolledBack, Some(message.clone())),
        End::Inconsistent {
            failed_at,
            message,
            components,
            ..
        } => (
            Outcome::Failed,
            Some(inconsistent(failed_at, message, components)),
        ),
        End::Rejected { problems } => (Outcome::Rejected, Some(Problem::join(problems, "; "))),
        End::Paused { .. } | End::AwaitingReboot => (
            Outcome::Failed,
            Some("the deployment had not finished".to_string()),
        ),
    };
    // The engine says why, typed: the reason of the failed state, the first problem of a
    // rejection.
    let reason = report.end.reason();
    HistoryEntry {
        id: report.deployment.clone(),
        manifest: report.manifest.clone(),
        manifest_sha256: sha256.to_string(),
        generation,
        driver: driver.as_str().to_string(),
        started_at: rfc3339(report.started_at),
        finished_at: rfc3339(report.ended_at),
        duration_seconds: report.ended_at.saturating_sub(report.started_at),
        outcome,
        reason,
        message,
        components: report
            .components
            .iter()
            .map(|c| HistoryComponent {
                component_type: c.component.component_type.clone(),
                id: c.component.id.clone(),
                to_artifact: c.to_artifact.clone(),
                result: c.result.as_str().to_string(),
                notes: c.notes.clone(),
            })
            .collect(),
    }
}

/// An entry as stored: the reason may be a word of before reasons were typed.
struct Stored(HistoryEntry);

impl<'de> Deserialize<'de> for Stored {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut v = serde_json::Value::deserialize(d)?;
        let reason = v.get_mut("reason").map(serde_json::Value::take);
        if let Some(serde_json::Value::String(w)) = reason {
            v["reason"] = serde_json::Value::String(deployer::legacy_reason(&w).to_string());
        }
        HistoryEntry::deserialize(v)
            .map(Stored)
            .map_err(serde::de::Error::custom)
    }
}

/// The persisted, bounded list.
#[derive(Debug)]
pub struct History {
    dir: PathBuf,
    entries: Vec<HistoryEntry>,
}

impl History {
    pub fn open(dir: &Path) -> Result<Self, PersistError> {
        let stored: Vec<Stored> = persist::load(dir, FILE)?.unwrap_or_default();
        Ok(Self {
            dir: dir.to_path_buf(),
            entries: stored.into_iter().map(|s| s.0).collect(),
        })
    }

    pub fn entries(&self) -> &[HistoryEntry] {
        &self.entries
    }

    /// Adds a finished deployment (replacing an entry with the same id: a deployment that
    /// was resumed after a restart is told once).
    pub fn push(&mut self, e: HistoryEntry) -> Result<(), PersistError> {
        let mut next = self.entries.clone();
        next.retain(|x| x.id != e.id);
        next.insert(0, e);
        next.truncate(LIMIT);
        persist::save(&self.dir, FILE, &next)?;
        self.entries = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::api::{ComponentOutcome, ComponentRef};
    use crate::model::Reason;

    fn report(end: End, results: &[ComponentResult]) -> DeploymentReport {
        DeploymentReport {
            deployment: "d1".into(),
            manifest: "m".into(),
            started_at: 100,
            ended_at: 160,
            end,
            was_failing: false,
            components: results
                .iter()
                .enumerate()
                .map(|(i, r)| ComponentOutcome {
                    component: ComponentRef {
                        component_type: "rtos".into(),
                        id: format!("R{i}"),
                    },
                    to_artifact: "rtos-v2".into(),
                    result: *r,
                    notes: vec![],
                })
                .collect(),
        }
    }

    #[test]
    fn outcomes_and_reasons() {
        use ComponentResult::*;
        let cases = [
            (
                End::Success,
                vec![Updated, Skipped],
                Outcome::Succeeded,
                None::<Reason>,
            ),
            (
                End::Success,
                vec![Skipped, Skipped],
                Outcome::UpToDate,
                None,
            ),
            (
                End::RolledBack {
                    reason: Reason::InstallFailed,
                    failed_at: "ArtifactInstall".into(),
                    message: "R1: exit status 1".into(),
                },
                vec![RolledBack],
                Outcome::RolledBack,
                Some(Reason::InstallFailed),
            ),
            (
                End::Inconsistent {
                    reason: Reason::CommitFailed,
                    failed_at: "ArtifactCommit".into(),
                    message: "x".into(),
                    components: vec![],
                },
                vec![Inconsistent],
                Outcome::Failed,
                Some(Reason::Inconsistent),
            ),
            (
                End::Rejected {
                    problems: vec![Problem::new(Reason::ArtifactNotFound, "no artifact")],
                },
                vec![],
                Outcome::Rejected,
                Some(Reason::ArtifactNotFound),
            ),
        ];
        for (end, results, outcome, reason) in cases {
            let e = entry(&report(end.clone(), &results), 7, "ab", Driver::Controller);
            assert_eq!(e.outcome, outcome, "{end:?}");
            assert_eq!(e.reason, reason, "{end:?}");
            assert_eq!(e.duration_seconds, 60);
            assert_eq!(e.started_at, "1970-01-01T00:01:40Z");
            assert_eq!(e.components.len(), results.len());
            assert_eq!(e.generation, 7);
        }
    }

    #[test]
    fn a_history_written_before_reasons_were_typed_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::open(dir.path()).unwrap();
        let failed = report(
            End::RolledBack {
                reason: Reason::CommitFailed,
                failed_at: "ArtifactCommit".into(),
                message: "x".into(),
            },
            &[ComponentResult::RolledBack],
        );
        h.push(entry(&failed, 1, "ab", Driver::Controller)).unwrap();
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert!(text.contains("\"CommitFailed\""), "{text}");
        std::fs::write(
            dir.path().join(FILE),
            text.replace("\"CommitFailed\"", "\"ArtifactCommitFailed\""),
        )
        .unwrap();
        let again = History::open(dir.path()).unwrap();
        assert_eq!(again.entries().len(), 1, "not set aside as broken");
        assert_eq!(again.entries()[0].reason, Some(Reason::CommitFailed));
    }

    #[test]
    fn bounded_newest_first_and_one_entry_per_deployment() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::open(dir.path()).unwrap();
        for i in 0..(LIMIT + 5) {
            let mut r = report(End::Success, &[ComponentResult::Updated]);
            r.deployment = format!("d{i}");
            h.push(entry(&r, i as u64, "ab", Driver::Controller))
                .unwrap();
        }
        let mut r = report(End::Success, &[ComponentResult::Updated]);
        r.deployment = format!("d{}", LIMIT + 4);
        h.push(entry(&r, 99, "ab", Driver::UpdateModule)).unwrap();
        let again = History::open(dir.path()).unwrap();
        assert_eq!(again.entries().len(), LIMIT);
        assert_eq!(again.entries()[0].generation, 99);
        assert_eq!(again.entries()[1].id, format!("d{}", LIMIT + 3));
        assert_eq!(again.entries().last().unwrap().id, "d5");
    }
}
