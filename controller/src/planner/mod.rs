//! The planner: constraints on the combinations a System passes through, the System version
//! it is in, and the description (and hash) of what a deployment would do.
//!
//! Everything here is a pure function of values (the observed [`Combination`], the
//! Manifest's targets and orders, the [`Constraints`]); no IO, no async, no clock. The engine
//! calls it between planning and the first state, so a refusal touches nothing; the status
//! and `baton plan` call it to say where the System stands and what would happen.
//!
//! - [`check`]: every combination a deployment can pass through, forward (after and during
//!   each order group's install) and back (each step of the whole-System rollback from every
//!   failure point), against the end states and transitions. A refusal names the combination
//!   and the step ([`Violation`]), with reason [`Reason::ConstraintViolated`](crate::model::Reason).
//! - [`suggest`]: orders that satisfy the constraints, when some exist.
//! - [`system_version`]: which end state an observed System is in.
//! - [`describe`]: the plan description and its `planHash`.
//!
//! It imports only `model` and never names the engine, the daemon or the CLI.

mod check;
pub mod describe;
mod space;
mod suggest;

#[cfg(test)]
pub(crate) mod check_tests;
#[cfg(test)]
mod oracle;
#[cfg(test)]
mod scale_tests;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use check::{check, Step, Verdict, Violation};
pub use describe::{
    changes, plan_hash, verdict_word, ManifestRef, PlanComponent, PlanDescription, PlanGroup,
};
pub use suggest::{suggest, Suggestion, SEARCH_BUDGET};

use crate::model::{Combination, ComponentType, Constraints, Manifest, Order, Provides};

/// The most component types one deployment may change under constraints (combinations are
/// bit sets of the changing types).
pub const MAX_CHANGING_TYPES: usize = 128;

/// What one component type must run after the deployment, and in which order group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub artifact: String,
    pub order: Order,
}

/// A deployment as the constraints see it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// What every component type runs now (from observation).
    pub current: Combination,
    /// Per component type of the Manifest: its Artifact name and order.
    pub target: BTreeMap<ComponentType, Target>,
    /// Component types that cannot roll back (an Interface answered `SupportsRollback: No`):
    /// they stay on the new Artifact while the rest of the System rolls back. Pass every
    /// changing type to check as if nothing could roll back.
    pub no_rollback: BTreeSet<ComponentType>,
}

impl Proposal {
    /// The proposal for deploying `manifest` on a System observed as `current`: each
    /// type's target is the name of the Artifact the Manifest resolves to (`artifact_names`,
    /// from its header; the Manifest's `artifact_name` where that is missing) and its order.
    pub fn for_manifest(
        manifest: &Manifest,
        artifact_names: &BTreeMap<ComponentType, String>,
        current: Combination,
        no_rollback: BTreeSet<ComponentType>,
    ) -> Self {
        let target = manifest
            .component_types
            .iter()
            .map(|(t, c)| {
                let artifact = artifact_names
                    .get(t)
                    .cloned()
                    .or_else(|| c.artifact_name.clone())
                    .unwrap_or_default();
                (
                    t.clone(),
                    Target {
                        artifact,
                        order: c.order,
                    },
                )
            })
            .collect();
        Self {
            current,
            target,
            no_rollback,
        }
    }

    /// The same proposal with other orders (types missing from `orders` keep theirs).
    pub fn with_orders(&self, orders: &BTreeMap<ComponentType, Order>) -> Self {
        let mut p = self.clone();
        for (t, target) in &mut p.target {
            if let Some(o) = orders.get(t) {
                target.order = *o;
            }
        }
        p
    }

    /// The combination the System is in once every component runs its target.
    pub fn end_state(&self) -> Combination {
        let mut c = self.current.clone();
        for (t, target) in &self.target {
            c.0.insert(
                t.clone(),
                crate::model::Running::one(target.artifact.clone()),
            );
        }
        c
    }
}

/// The combination an observation shows: each component's type and its Provides
/// (`artifact_name`); `None` for a component that could not be observed.
pub fn combination<'a>(
    components: impl IntoIterator<Item = (&'a ComponentType, Option<&'a Provides>)>,
) -> Combination {
    Combination::from_components(
        components
            .into_iter()
            .map(|(t, p)| (t, p.and_then(|p| p.get("artifact_name")))),
    )
}

/// The System version (end state name) an observed System is in, or `None` when it is in
/// none of them (or no constraints name any). The first matching end state in file order wins.
pub fn system_version<'c>(constraints: &'c Constraints, observed: &Combination) -> Option<&'c str> {
    constraints
        .system_version(observed)
        .map(|e| e.name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CombinationPattern, EndState, NamePattern, Running};

    #[test]
    fn a_proposal_takes_the_artifact_names_from_the_headers_and_the_orders_from_the_manifest() {
        use crate::model::ComponentTarget;
        let (g, r) = (
            ComponentType::new("gateway").unwrap(),
            ComponentType::new("rtos").unwrap(),
        );
        let target = |name: Option<&str>, path: Option<&str>, order: i64| ComponentTarget {
            artifact_name: name.map(str::to_owned),
            artifact_path: path.map(Into::into),
            order: Order::new(order).unwrap(),
        };
        let m = Manifest {
            name: "system-v2".into(),
            system_types_compatible: vec!["car".into()],
            component_types: BTreeMap::from([
                (g.clone(), target(None, Some("gw.mender"), 10)),
                (r.clone(), target(Some("rtos-v3"), None, 20)),
            ]),
        };
        let names = BTreeMap::from([(g.clone(), "gateway-v2".to_string())]);
        let p = Proposal::for_manifest(&m, &names, Combination::default(), BTreeSet::new());
        assert_eq!(p.target[&g].artifact, "gateway-v2");
        assert_eq!(p.target[&r].artifact, "rtos-v3");
        assert_eq!(p.target[&r].order, Order::new(20).unwrap());
    }

    #[test]
    fn the_system_version_comes_from_what_the_components_provide() {
        let g = ComponentType::new("gateway").unwrap();
        let r = ComponentType::new("rtos").unwrap();
        let provides = |name: &str| {
            Provides(BTreeMap::from([(
                "artifact_name".to_string(),
                name.to_string(),
            )]))
        };
        let c = Constraints {
            end_states: vec![EndState {
                name: "v.2".into(),
                artifacts: CombinationPattern(BTreeMap::from([
                    (g.clone(), NamePattern::new("gateway-v2").unwrap()),
                    (r.clone(), NamePattern::new("rtos-v3").unwrap()),
                ])),
            }],
            transitions: vec![],
        };
        let (pg, pr1, pr2) = (
            provides("gateway-v2"),
            provides("rtos-v3"),
            provides("rtos-v1"),
        );
        let both = combination([(&g, Some(&pg)), (&r, Some(&pr1)), (&r, Some(&pr1))]);
        assert_eq!(system_version(&c, &both), Some("v.2"));
        let one_behind = combination([(&g, Some(&pg)), (&r, Some(&pr1)), (&r, Some(&pr2))]);
        assert_eq!(system_version(&c, &one_behind), None);
        let unobserved = combination([(&g, Some(&pg)), (&r, None)]);
        assert_eq!(unobserved.running(&r), Running::default());
        assert_eq!(system_version(&c, &unobserved), None);
    }
}
