//! One reason a deployment cannot go ahead: a typed [`Reason`] and the words that say
//! which component, file or Artifact and what was expected.

use serde::{Deserialize, Serialize};

use crate::model::Reason;

/// A problem found before anything was touched (a rejected Manifest), or a gate's refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    pub reason: Reason,
    pub message: String,
}

impl Problem {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }

    /// Every problem's message, joined by `sep` (for one-line summaries).
    pub fn join(problems: &[Problem], sep: &str) -> String {
        problems
            .iter()
            .map(|p| p.message.as_str())
            .collect::<Vec<_>>()
            .join(sep)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
