//! The whole bundle verified before any component installs: every Artifact a deployment
//! will install is read to its end and every checksum checked (signature, header, each
//! payload file) before the first ArtifactInstall of any component.
//!
//! Planning reads only headers, and Mender's ordering downloads one order group at a time,
//! so without this a corrupted payload for the last group would be found only after the
//! first groups had installed (Uptane's partial-bundle attack: the System ends rolled back,
//! but every earlier component went through an install and a rollback for nothing). So the
//! Artifacts of every group after the first are read here, before the first state.
//!
//! The first group's are not: Download verifies every Artifact while it streams, and every
//! Download of the first group ends (the barrier after each state) before any component's
//! ArtifactInstall, so their verdict comes in time from the stream itself. Reading them
//! here too would read and hash each byte twice: for a one-group deployment, the common
//! case, a third of the install's time (BENCHMARKS.md). A file changed after this check
//! still fails its Download, never installs. Components that share an Artifact share one
//! check.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::plan::Plan;
use super::problem::Problem;
use crate::artifact::{self, Limits, VerifyPolicy};
use crate::model::ComponentType;

/// Where bundles are staged to be installed (`artifact::bundle::stage_bundle`): a Manifest
/// whose `base_dir` is a staging there takes its Artifacts from it, and the sweep removes
/// the stagings nothing refers to.
pub fn staging_root(datastore: &std::path::Path) -> PathBuf {
    datastore.join("bundles")
}

/// The component types whose Artifacts must be verified before the first state: those of
/// every order group after the first (an Artifact shared with one of them is verified all
/// the same, see [`verify_all`]).
pub fn checked_before_the_first_state(plan: &Plan) -> Vec<ComponentType> {
    plan.components
        .iter()
        .filter(|c| c.group > 0)
        .map(|c| c.component_type.clone())
        .collect()
}

/// Verifies every distinct Artifact among `artifacts` whose component type `wanted` keeps.
/// Blocking (reads whole files). Returns one problem per Artifact that failed, naming the
/// component types that use it.
pub fn verify_all(
    artifacts: &[(ComponentType, PathBuf)],
    wanted: impl Fn(&ComponentType) -> bool,
    policy: &VerifyPolicy,
    limits: &Limits,
) -> Vec<Problem> {
    let mut users: BTreeMap<&PathBuf, Vec<&str>> = BTreeMap::new();
    for (t, path) in artifacts.iter().filter(|(t, _)| wanted(t)) {
        users.entry(path).or_default().push(t.as_str());
    }
    users
        .into_iter()
        .filter_map(|(path, types)| {
            artifact::verify_file(path, policy, limits).err().map(|e| {
                Problem::new(
                    e.as_reason(),
                    format!(
                        "component type {}: Artifact {} does not verify: {e}",
                        types.join(", "),
                        path.display()
                    ),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::testkit::ArtifactBuilder;

    #[test]
    fn a_corrupted_payload_is_found_and_a_skipped_type_is_not_read() {
        let d = tempfile::tempdir().unwrap();
        let good = d.path().join("good.mender");
        let bad = d.path().join("bad.mender");
        std::fs::write(
            &good,
            ArtifactBuilder::new("a-v2", "mock", "a")
                .file("p", "x")
                .build(),
        )
        .unwrap();
        let b = ArtifactBuilder::new("b-v2", "mock", "b").file("p", "payload".repeat(100));
        let mut bytes = b.build();
        // The data tar is the last member, padded to 512 bytes, before the two end blocks.
        let data = b.parts().data.unwrap().len();
        let start = bytes.len() - 1024 - data.div_ceil(512) * 512;
        bytes[start + data / 2] ^= 0x40;
        std::fs::write(&bad, bytes).unwrap();
        let t = |s: &str| ComponentType::new(s).unwrap();
        let all = vec![(t("a"), good.clone()), (t("b"), bad), (t("c"), good)];
        let (p, l) = (VerifyPolicy::none(), Limits::default());
        let problems = verify_all(&all, |_| true, &p, &l);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].message.contains("component type b:"),
            "{problems:?}"
        );
        assert_eq!(problems[0].reason, crate::model::Reason::VerificationFailed);
        assert!(verify_all(&all, |t| t.as_str() != "b", &p, &l).is_empty());
    }
}
