//! The process's metrics registry, made once where every owner of a label is in reach.
//!
//! `metrics/` imports only `model`, so the label sets other rooms own and know before
//! anything happens (protocol words, Interface call results, the controller's phases, the
//! deployment's phases and state words, Artifact sources, verification failures) are
//! gathered here, from the types that own them, into a [`Vocabulary`].

use crate::artifact::source::{SourceError, SourceKind};
use crate::artifact::ArtifactError;
use crate::daemon::status::conditions::Phase;
use crate::engine::api::{status_words, DeploymentPhase};
use crate::interface::protocol;
use crate::interface::runner::USUAL_RESULTS;
use crate::metrics::{Metrics, Vocabulary};

/// Every label set known at start, from its owner.
pub fn vocabulary() -> Vocabulary {
    Vocabulary {
        protocol_words: protocol::all_words().collect(),
        interface_results: USUAL_RESULTS.to_vec(),
        controller_phases: Phase::LABELS.to_vec(),
        deployment_phases: DeploymentPhase::ALL.map(DeploymentPhase::label).to_vec(),
        deployment_words: status_words(),
        artifact_sources: SourceKind::ALL.map(SourceKind::label).to_vec(),
        fetch_failure_reasons: SourceError::REASONS.to_vec(),
        verification_reasons: ArtifactError::USUAL_VERIFICATION_FAILURES.to_vec(),
    }
}

/// The registry `baton run` serves and its engine records into.
pub fn registry() -> Metrics {
    Metrics::new(vocabulary())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::testing::value;

    #[test]
    fn every_label_set_exists_before_its_first_event() {
        let m = registry();
        m.phase(Phase::Recovering.label());
        let text = m.render();
        for s in [
            "baton_deployments_total{driver=\"update-module\",result=\"failed\"}",
            "baton_deployment_phase{phase=\"rollback\"}",
            "baton_deployment_state{state=\"ArtifactRollback\"}",
            "baton_deployment_state{state=\"NeedsArtifactReboot\"}",
            "baton_condition{status=\"True\",type=\"Ready\"}",
            "baton_controller_phase{phase=\"stalled\"}",
            "baton_artifact_read_bytes_total{source=\"url\"}",
            "baton_artifact_read_bytes_total{source=\"cache\"}",
            "baton_artifact_fetch_failures_total{reason=\"ArtifactNotFound\",source=\"mender-server\"}",
            "baton_artifact_verification_failures_total{reason=\"signature_invalid\"}",
            "baton_artifact_verification_failures_total{reason=\"missing_files\"}",
        ] {
            assert_eq!(value(&text, s), Some(0.0), "{s} in\n{text}");
        }
        assert_eq!(
            value(&text, "baton_deployment_phase{phase=\"idle\"}"),
            Some(1.0)
        );
        assert_eq!(
            value(&text, "baton_controller_phase{phase=\"recovering\"}"),
            Some(1.0)
        );
    }
}
