//! The label values this room owns (pure): the words for what only metrics count.
//!
//! Everything else comes from the type it describes (`Reason::as_str`, `State::as_str`,
//! `SourceKind::label`, `Outcome::label`...). Nothing here ever copies free text into a
//! label: no error message, no path, no Manifest name. The only user data in labels are the
//! Topology's names (Interface names, component types, component IDs and their Artifact
//! names), bounded by the Topology's size.

/// How one reconcile ended, as controller-runtime counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconcileResult {
    Success,
    Error,
    Requeue,
    RequeueAfter,
}

impl ReconcileResult {
    pub const ALL: [ReconcileResult; 4] = [
        ReconcileResult::Success,
        ReconcileResult::Error,
        ReconcileResult::Requeue,
        ReconcileResult::RequeueAfter,
    ];
    pub fn label(self) -> &'static str {
        match self {
            ReconcileResult::Success => "success",
            ReconcileResult::Error => "error",
            ReconcileResult::Requeue => "requeue",
            ReconcileResult::RequeueAfter => "requeue_after",
        }
    }
}

/// Who drove a deployment (the history's words).
pub const DRIVERS: [&str; 2] = ["controller", "update-module"];

/// A history entry's driver as a bounded label: one of [`DRIVERS`], else `other`.
pub fn driver(s: &str) -> &'static str {
    DRIVERS
        .iter()
        .find(|d| **d == s)
        .copied()
        .unwrap_or("other")
}

/// What the controller did about drift.
pub const DRIFT_ACTIONS: [&str; 2] = ["corrected", "reported"];

/// Artifact cache lookups.
pub const CACHE_RESULTS: [&str; 2] = ["hit", "miss"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_drivers_do_not_become_labels() {
        assert_eq!(driver("controller"), "controller");
        assert_eq!(driver("update-module"), "update-module");
        assert_eq!(driver("someone else entirely"), "other");
    }
}
