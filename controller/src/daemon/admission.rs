//! One admission for every Manifest, whichever door it came through.
//!
//! A Manifest becomes desired (or, for the Update Module hand-off, is handed to the engine)
//! only through [`Admission::admit`]. What a door changes is only the signature rule, and
//! [`checks`] is the whole table:
//!
//! | door | detached signature (`RequireSignedManifests`) | schema, semantics, Topology, system type |
//! |---|---|---|
//! | [`Door::WatchDir`] | required (`<file>.sig`) | every time |
//! | [`Door::Api`] (`PUT /v1/manifest`, Unix socket or TCP) | required (`X-Baton-Signature`) | every time |
//! | [`Door::Handoff`] (`POST /v1/deployments/install`, Unix socket only) | not carried: the Manifest is the payload of a Mender Artifact the Mender client verified, or the local operator's own file | every time |
//! | [`Door::Kanto`] | not carried: Kanto's desired state has no signature | every time |
//! | a bundle ([`Admission::admit_bundle`], the watched directory) | the bundle's own Artifact signature, verified under `ArtifactVerifyKey(s)` (required whenever keys are set, so whenever `RequireSignedManifests` is on), with every Artifact inside it | every time |
//!
//! The Topology is read at every admission, so a Topology edit applies to the next Manifest.
//! Downgrade protection and the Artifacts' compatibility are not admission checks: the
//! engine checks them when it plans, for every deployment, whatever the door; and
//! `allowDowngrade` reaches the engine only from the CLI's `--allow-downgrade` over the Unix
//! socket or for the rollback action ([`crate::model::Origin::allows_downgrade`]), never from a
//! request over TCP (which cannot reach the hand-off at all).

use std::path::{Path, PathBuf};

use crate::artifact::bundle::{stage_bundle, BundleInput};
use crate::artifact::{Limits, VerifyPolicy};
use crate::model::{Reason, Topology};
use crate::resource::{self, Diagnostics, LoadedManifest};
use crate::signed_manifest::ManifestPolicy;

/// Where a Manifest came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    WatchDir,
    Api,
    Handoff,
    Kanto,
}

impl Door {
    pub const ALL: [Door; 4] = [Door::WatchDir, Door::Api, Door::Handoff, Door::Kanto];
}

/// Whether a door's Manifests carry a detached signature that `RequireSignedManifests`
/// demands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureRule {
    /// Checked when `RequireSignedManifests` is on.
    RequiredByPolicy,
    /// The Manifest was authenticated before it reached baton (its Mender Artifact's
    /// signature, checked by the Mender client), and the door is the Unix socket.
    AuthenticatedUpstream,
    /// The protocol has no signature for it.
    NotCarried,
}

/// What a door's Manifests must pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checks {
    pub signature: SignatureRule,
    /// Schema, semantic rules, agreement with the Topology and its system type.
    pub against_topology: bool,
}

/// The table (see the module docs).
pub const fn checks(door: Door) -> Checks {
    let signature = match door {
        Door::WatchDir | Door::Api => SignatureRule::RequiredByPolicy,
        Door::Handoff => SignatureRule::AuthenticatedUpstream,
        Door::Kanto => SignatureRule::NotCarried,
    };
    Checks {
        signature,
        against_topology: true,
    }
}

/// Why a Manifest was not admitted: the reason, and every problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{diagnostics}")]
pub struct Refused {
    /// `SignatureInvalid` or `InvalidManifest`.
    pub reason: Reason,
    pub diagnostics: Diagnostics,
}

/// Checks a Manifest before it may become desired: the door's signature rule, the schema
/// and semantic checks, and agreement with the Topology as it is now.
#[derive(Debug, Clone)]
pub struct Admission {
    pub topology_file: PathBuf,
    pub topology_components: Option<PathBuf>,
    /// `RequireSignedManifests`: the detached signature a Manifest must carry.
    pub signatures: ManifestPolicy,
    /// Where bundles are staged and how their Artifacts are verified; `None`: bundles are
    /// refused.
    pub bundles: Option<Bundles>,
}

/// Bundles: where they are staged (`engine::api::bundle_staging_root`) and the key policy
/// of every Artifact (`ArtifactVerifyKey(s)`).
#[derive(Debug, Clone)]
pub struct Bundles {
    pub root: PathBuf,
    pub policy: VerifyPolicy,
}

impl Admission {
    /// `origin` names the Manifest in diagnostics (a path, `api`); `signature` is its
    /// detached signature, if it came with one; `base_dir` is where its relative
    /// `artifact_path`s resolve.
    pub fn admit(
        &self,
        door: Door,
        origin: &str,
        bytes: &[u8],
        signature: Option<&[u8]>,
        base_dir: Option<PathBuf>,
    ) -> Result<LoadedManifest, Refused> {
        let rule = checks(door);
        if rule.signature == SignatureRule::RequiredByPolicy {
            if let Err(e) = self.signatures.check(bytes, signature) {
                return Err(Refused {
                    reason: Reason::SignatureInvalid,
                    diagnostics: Diagnostics(vec![resource::Diagnostic::new(
                        origin,
                        resource::Pos::UNKNOWN,
                        "",
                        e.to_string(),
                        "a detached signature (`<file>.sig`, or the x-baton-signature header) by one of the ArtifactVerifyKey(s)",
                    )]),
                });
            }
        }
        let mut m = resource::parse_manifest(origin, bytes).map_err(invalid)?;
        m.base_dir = base_dir;
        if rule.against_topology {
            self.against_topology(&m)?;
        }
        Ok(m)
    }

    fn against_topology(&self, m: &LoadedManifest) -> Result<(), Refused> {
        let topology: Topology =
            resource::load_topology(&self.topology_file, self.topology_components.as_deref())
                .map_err(invalid)?;
        let problems = m.check_against(&topology);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(invalid(Diagnostics(problems).sorted()))
        }
    }

    /// A bundle (`path`, shown as `origin`): verified whole and staged, then its Manifest
    /// checked against the Topology as every Manifest is. The Manifest's `base_dir` is the
    /// staging; on a refusal nothing is left staged.
    pub fn admit_bundle(&self, origin: &str, path: &Path) -> Result<LoadedManifest, Refused> {
        let Some(b) = &self.bundles else {
            return Err(refused(
                Reason::InvalidManifest,
                origin,
                "is a Mender Artifact, and bundles are not taken here".into(),
            ));
        };
        let opened = stage_bundle(
            BundleInput::File(path),
            &b.root,
            &b.policy,
            &Limits::default(),
        )
        .map_err(|e| {
            refused(
                e.reason(),
                origin,
                format!("refused, nothing was touched: {e}"),
            )
        })?;
        let mut m = opened.manifest;
        m.origin = format!("{origin}: {}", opened.manifest_file);
        if let Err(r) = self.against_topology(&m) {
            let _ = std::fs::remove_dir_all(&opened.dir);
            return Err(r);
        }
        Ok(m)
    }
}

fn invalid(diagnostics: Diagnostics) -> Refused {
    Refused {
        reason: Reason::InvalidManifest,
        diagnostics,
    }
}

fn refused(reason: Reason, origin: &str, message: String) -> Refused {
    Refused {
        reason,
        diagnostics: Diagnostics(vec![resource::Diagnostic::new(
            origin,
            resource::Pos::UNKNOWN,
            "",
            message,
            "a bundle whose every Artifact verifies, and whose Manifest fits this System",
        )]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::testkit::Signer;
    use crate::artifact::VerifyKey;

    const TOPOLOGY: &str = "api_version: mender/v1\nkind: topology\nsystem_type: sys\ncomponents:\n  - component_type: rtos\n    interface: mock\n";
    const MANIFEST: &str = concat!(
        "api_version: mender/v1\nkind: manifest\nname: m1\n",
        "system_types_compatible: [sys]\ncomponent_types:\n  rtos:\n",
        "    artifact_name: rtos-v1\n    update_strategy:\n      order: 1\n",
    );

    fn admission(dir: &std::path::Path, required: bool, signer: &Signer) -> Admission {
        std::fs::write(dir.join("topology.yaml"), TOPOLOGY).unwrap();
        Admission {
            topology_file: dir.join("topology.yaml"),
            topology_components: None,
            signatures: ManifestPolicy {
                required,
                keys: VerifyPolicy {
                    keys: vec![VerifyKey::from_pem("k", &signer.public_pem()).unwrap()],
                },
            },
            bundles: None,
        }
    }

    #[test]
    fn every_door_checks_the_topology_and_only_the_watched_directory_and_api_need_signatures() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::ec_from_seed(7);
        let a = admission(dir.path(), true, &signer);
        let good = MANIFEST.as_bytes();
        let signature = signer.sign(good);
        let other_system = MANIFEST.replace("[sys]", "[other]");
        let unknown_type = MANIFEST.replace("  rtos:", "  gpu:");
        for door in Door::ALL {
            let signed_by_policy = checks(door).signature == SignatureRule::RequiredByPolicy;
            assert_eq!(
                signed_by_policy,
                matches!(door, Door::WatchDir | Door::Api),
                "{door:?}"
            );
            // Unsigned: refused exactly where the policy applies.
            let unsigned = a.admit(door, "m.yaml", good, None, None);
            if signed_by_policy {
                let r = unsigned.unwrap_err();
                assert_eq!(r.reason, Reason::SignatureInvalid, "{door:?}");
                assert!(r.to_string().contains("not signed"), "{r}");
            } else {
                assert_eq!(unsigned.unwrap().manifest.name, "m1", "{door:?}");
            }
            // Signed, but not for this System, or naming a type the Topology lacks: refused
            // by every door, the hand-off included.
            for bad in [&other_system, &unknown_type] {
                let sig = signer.sign(bad.as_bytes());
                let r = a
                    .admit(door, "m.yaml", bad.as_bytes(), Some(&sig), None)
                    .unwrap_err();
                assert_eq!(r.reason, Reason::InvalidManifest, "{door:?}");
            }
            let base = Some(PathBuf::from("/srv"));
            let m = a
                .admit(door, "m.yaml", good, Some(&signature), base.clone())
                .unwrap();
            assert_eq!(m.base_dir, base);
        }
        // A signature over other bytes never admits.
        let r = a
            .admit(
                Door::Api,
                "api",
                good,
                Some(&signer.sign(other_system.as_bytes())),
                None,
            )
            .unwrap_err();
        assert_eq!(r.reason, Reason::SignatureInvalid);
        // With the policy off, signatures are not asked for.
        let off = admission(dir.path(), false, &signer);
        assert!(off
            .admit(Door::WatchDir, "m.yaml", good, None, None)
            .is_ok());
    }

    #[test]
    fn a_topology_that_cannot_be_read_refuses_every_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::ec_from_seed(7);
        let a = admission(dir.path(), false, &signer);
        std::fs::write(dir.path().join("topology.yaml"), "kind: [").unwrap();
        for door in Door::ALL {
            let r = a
                .admit(door, "m.yaml", MANIFEST.as_bytes(), None, None)
                .unwrap_err();
            assert_eq!(r.reason, Reason::InvalidManifest);
        }
    }

    /// A bundle of `manifest` (its one rtos Artifact by path) in `dir`.
    fn bundle(dir: &std::path::Path, manifest: &str) -> PathBuf {
        use crate::artifact::bundle::{by_artifact_path, create_bundle, BundleSpec};
        let a = crate::artifact::write::ArtifactBuilder::new("rtos-v1", "mock", "rtos")
            .file("p", b"p".to_vec());
        std::fs::write(dir.join("rtos-v1.mender"), a.build()).unwrap();
        let m = manifest.replace(
            "    artifact_name: rtos-v1\n",
            "    artifact_name: rtos-v1\n    artifact_path: rtos-v1.mender\n",
        );
        std::fs::write(dir.join("m.yaml"), m).unwrap();
        let loaded = resource::load_manifest(&dir.join("m.yaml")).unwrap();
        let out = dir.join("b.mender");
        create_bundle(
            &BundleSpec {
                manifest: &loaded,
                compatible: vec![],
                signer: None,
                resolve: &by_artifact_path(&loaded),
                policy: &VerifyPolicy::none(),
                limits: &crate::artifact::Limits::default(),
            },
            &out,
        )
        .unwrap();
        out
    }

    #[test]
    fn a_bundle_is_admitted_staged_and_a_refused_one_leaves_no_staging() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::ec_from_seed(7);
        let mut a = admission(dir.path(), false, &signer);
        let good = bundle(dir.path(), MANIFEST);
        let r = a.admit_bundle("b.mender", &good).unwrap_err();
        assert!(r.to_string().contains("bundles are not taken here"), "{r}");

        let root = dir.path().join("bundles");
        a.bundles = Some(Bundles {
            root: root.clone(),
            policy: VerifyPolicy::none(),
        });
        let m = a.admit_bundle("b.mender", &good).unwrap();
        assert_eq!(m.manifest.name, "m1");
        assert_eq!(
            m.base_dir.as_deref().and_then(|d| d.parent()),
            Some(root.as_path())
        );
        assert!(m.origin.starts_with("b.mender: "), "{}", m.origin);

        // Not for this System: refused by the Topology, its staging removed.
        let other = bundle(dir.path(), &MANIFEST.replace("[sys]", "[other]"));
        let r = a.admit_bundle("b.mender", &other).unwrap_err();
        assert_eq!(r.reason, Reason::InvalidManifest);
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 1);
        // With keys configured, an unsigned bundle is refused as unsigned.
        a.bundles.as_mut().unwrap().policy = a.signatures.keys.clone();
        let r = a.admit_bundle("b.mender", &good).unwrap_err();
        assert_eq!(r.reason, Reason::SignatureInvalid, "{r}");
    }
}
