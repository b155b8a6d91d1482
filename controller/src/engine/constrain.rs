//! The constraints at the engine's planning step: a small adapter between what the engine
//! knows (the Topology, what every component answered, the plan) and the pure
//! [`crate::planner`], which decides.
//!
//! The constraints file is read at every planning step, as the Topology is, so an edit
//! applies to the next deployment. Where it is: `Constraints` (or `--constraints`), else
//! `constraints.yaml` next to the Topology; a file that was named must exist, the default one
//! may not (then nothing is constrained). A file that cannot be read or is invalid refuses
//! every deployment (fail closed: the rules of a System are not skipped because of a typo).
//!
//! What the check cannot know at planning time: whether each Interface can roll back (it is
//! asked during the deployment). It assumes every component can, as the engine's rollback
//! then restores every type it touched.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::plan::{Observed, Plan};
use super::problem::Problem;
use crate::config::Effective;
use crate::model::{Combination, ComponentType, Constraints, Manifest, Reason, Topology};
use crate::planner::{self, Proposal, Verdict};
use crate::resource;

/// The constraints of this System, and the file they came from.
#[derive(Debug, Clone)]
pub(super) struct Loaded {
    pub file: PathBuf,
    pub constraints: Constraints,
}

/// Reads the constraints file (see the module docs); `None` when there is none.
pub(super) fn load(eff: &Effective, topology: &Topology) -> Result<Option<Loaded>, Problem> {
    let (file, named) = eff.constraints_file();
    if !named && !file.exists() {
        return Ok(None);
    }
    resource::load_constraints(&file, Some(topology))
        .map(|constraints| Some(Loaded { file, constraints }))
        .map_err(|d| {
            Problem::new(
                Reason::InvalidManifest,
                format!("the constraints cannot be used (every deployment is refused until they are fixed):\n{d}"),
            )
        })
}

/// What every component type runs now, from what the components answered.
pub(super) fn current(topology: &Topology, observed: &[Result<Observed, String>]) -> Combination {
    Combination::from_components(topology.components.iter().zip(observed).map(|(spec, o)| {
        let running = o.as_ref().ok();
        let name = running.and_then(|o| o.provides.artifact(spec.interface.as_str()));
        (&spec.component_type, name)
    }))
}

/// The deployment of `plan` as the constraints see it: each type's target Artifact (the name
/// in its header) and its order.
pub(super) fn proposal(manifest: &Manifest, plan: &Plan, current: Combination) -> Proposal {
    let names: BTreeMap<ComponentType, String> = plan
        .components
        .iter()
        .map(|c| (c.component_type.clone(), c.artifact_name.clone()))
        .chain(
            plan.skipped
                .iter()
                .map(|c| (c.component_type.clone(), c.artifact_name.clone())),
        )
        .collect();
    Proposal::for_manifest(manifest, &names, current, BTreeSet::new())
}

/// The verdict on `plan` (unconstrained without a constraints file).
pub(super) fn check(
    loaded: Option<&Loaded>,
    manifest: &Manifest,
    plan: &Plan,
    current: Combination,
) -> Verdict {
    match loaded {
        None => Verdict::Unconstrained,
        Some(l) => planner::check(&l.constraints, &proposal(manifest, plan, current)),
    }
}

/// A refusal as the engine's problems: one per violation, each naming the combination and
/// the step, the first also saying which orders would satisfy the constraints.
pub(super) fn problems(file: Option<&Path>, verdict: &Verdict) -> Vec<Problem> {
    let Verdict::Refused {
        violations,
        suggestion,
    } = verdict
    else {
        return Vec::new();
    };
    let file = file
        .map(|f| format!(" ({})", f.display()))
        .unwrap_or_default();
    violations
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let hint = if i == 0 {
                format!(" [{suggestion}]")
            } else {
                String::new()
            };
            Problem::new(
                Reason::ConstraintViolated,
                format!("constraints{file}: {v}{hint}"),
            )
        })
        .collect()
}

/// The System version (end state) an observed System is in; `None` when it is in none, or
/// when there are no constraints (or they cannot be read: logged).
pub(super) fn system_version(
    eff: &Effective,
    topology: &Topology,
    observed: &[Result<Observed, String>],
) -> Option<String> {
    match load(eff, topology) {
        Ok(Some(l)) => {
            planner::system_version(&l.constraints, &current(topology, observed)).map(Into::into)
        }
        Ok(None) => None,
        Err(p) => {
            tracing::warn!(problem = %p, "no System version: the constraints cannot be read");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::plan::{PlannedComponent, SkippedComponent};
    use crate::model::{ComponentId, ComponentTarget, Order, Provides};

    use crate::planner::check_tests::{ct as t, design};

    fn manifest(gateway: i64, rtos: i64) -> Manifest {
        let target = |name: &str, order| ComponentTarget {
            artifact_name: Some(name.into()),
            artifact_path: None,
            order: Order::new(order).unwrap(),
        };
        Manifest {
            name: "system-v2".into(),
            system_types_compatible: vec!["car".into()],
            component_types: BTreeMap::from([
                (t("gateway"), target("gateway-v2", gateway)),
                (t("rtos"), target("rtos-v3", rtos)),
            ]),
        }
    }

    fn planned(ty: &str, artifact: &str, order: i64) -> PlannedComponent {
        PlannedComponent {
            index: 0,
            component_type: t(ty),
            id: ComponentId::new("X").unwrap(),
            interface: crate::model::InterfaceName::new("mock").unwrap(),
            interface_args: vec![],
            order: Order::new(order).unwrap(),
            group: 0,
            artifact_name: artifact.into(),
            provides_before: Provides::default(),
        }
    }

    fn plan(gateway: i64, rtos: i64) -> Plan {
        Plan {
            orders: vec![],
            components: vec![
                planned("gateway", "gateway-v2", gateway),
                planned("rtos", "rtos-v3", rtos),
            ],
            skipped: vec![],
        }
    }

    fn v1() -> Combination {
        let (g, r) = (t("gateway"), t("rtos"));
        Combination::from_components([(&g, Some("gateway-v1")), (&r, Some("rtos-v1"))])
    }

    #[test]
    fn the_design_example_gateway_first_is_accepted_rtos_first_is_refused() {
        let loaded = Loaded {
            file: "constraints.yaml".into(),
            constraints: design(),
        };
        let ok = check(Some(&loaded), &manifest(10, 20), &plan(10, 20), v1());
        assert_eq!(ok, Verdict::Accepted);
        assert!(problems(None, &ok).is_empty());

        let refused = check(Some(&loaded), &manifest(20, 10), &plan(20, 10), v1());
        let p = problems(Some(&loaded.file), &refused);
        assert!(!p.is_empty());
        assert!(p.iter().all(|p| p.reason == Reason::ConstraintViolated));
        assert!(
            p[0].message.contains("gateway=gateway-v1, rtos=rtos-v3")
                && p[0].message.contains("order group 10")
                && p[0].message.contains("constraints.yaml")
                && p[0].message.contains("gateway 10, rtos 20"),
            "{}",
            p[0].message
        );
        assert_eq!(
            check(None, &manifest(20, 10), &plan(20, 10), v1()),
            Verdict::Unconstrained
        );
    }

    #[test]
    fn a_skipped_component_counts_with_the_artifact_it_runs() {
        // The gateway already runs gateway-v2 (skipped): the end state is still v.2.
        let mut p = plan(10, 20);
        p.components.remove(0);
        p.skipped.push(SkippedComponent {
            index: 0,
            component_type: t("gateway"),
            id: ComponentId::new("G").unwrap(),
            artifact_name: "gateway-v2".into(),
        });
        let (g, r) = (t("gateway"), t("rtos"));
        let now = Combination::from_components([(&g, Some("gateway-v2")), (&r, Some("rtos-v1"))]);
        let proposal = proposal(&manifest(10, 20), &p, now);
        assert_eq!(proposal.target[&g].artifact, "gateway-v2");
        let loaded = Loaded {
            file: "c.yaml".into(),
            constraints: design(),
        };
        assert_eq!(
            planner::check(&loaded.constraints, &proposal),
            Verdict::Accepted
        );
    }
}
