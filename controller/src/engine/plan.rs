//! Planning: which components change, to which Artifact, in which order group.
//!
//! A pure function of the Topology, the Manifest, what every component answered to
//! `Identity` and `Provides`, and the header of every Artifact the Manifest names. Every
//! problem is collected and reported together; a plan exists only when there are none, so
//! nothing is touched when anything is wrong.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::problem::Problem;
use crate::model::{
    ComponentId, ComponentType, InterfaceName, Manifest, Order, Provides, Reason, Topology,
};

/// What a component answered to `Identity` and `Provides`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    pub id: ComponentId,
    pub provides: Provides,
}

/// What the planner needs to know about an Artifact (its header, checked).
pub trait Candidate {
    fn artifact_name(&self) -> &str;
    /// Applying the Artifact's provides and clears to `provides` would change nothing.
    fn is_installed(&self, provides: &Provides) -> bool;
    /// The component type and Provides meet the Artifact's depends; else every reason.
    fn check_compatible(
        &self,
        component_type: &ComponentType,
        provides: &Provides,
    ) -> Result<(), Vec<String>>;
}

/// One component that will be updated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedComponent {
    /// Position in the Topology's component list.
    pub index: usize,
    pub component_type: ComponentType,
    pub id: ComponentId,
    pub interface: InterfaceName,
    pub interface_args: Vec<String>,
    pub order: Order,
    /// Index of the order group among the groups that have work, 0 = lowest `order`.
    pub group: usize,
    pub artifact_name: String,
    /// What the component provided before the deployment (for the File API `current_*`).
    pub provides_before: Provides,
}

/// A component left alone because it already runs its Artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedComponent {
    pub index: usize,
    pub component_type: ComponentType,
    pub id: ComponentId,
    pub artifact_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The `order` of each group with work, ascending.
    pub orders: Vec<Order>,
    pub components: Vec<PlannedComponent>,
    pub skipped: Vec<SkippedComponent>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.components.is_empty()
    }
    /// The group index of every planned component, as the state machine wants it.
    pub fn member_groups(&self) -> Vec<usize> {
        self.components.iter().map(|c| c.group).collect()
    }
}

/// Why there is no plan. Each names the component (type, Topology position, ID when known).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlanProblem {
    SystemTypeIncompatible {
        system_type: String,
        compatible: Vec<String>,
    },
    NotInManifest {
        index: usize,
        component_type: ComponentType,
    },
    NotInTopology {
        component_type: ComponentType,
    },
    Observation {
        index: usize,
        component_type: ComponentType,
        reason: String,
    },
    DuplicateId {
        component_type: ComponentType,
        id: ComponentId,
        indexes: Vec<usize>,
    },
    /// No usable Artifact: not found, unsigned, not verifying...
    Artifact {
        component_type: ComponentType,
        reason: Reason,
        message: String,
    },
    Incompatible {
        index: usize,
        component_type: ComponentType,
        id: ComponentId,
        artifact_name: String,
        reasons: Vec<String>,
    },
}

impl fmt::Display for PlanProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanProblem::SystemTypeIncompatible { system_type, compatible } => write!(
                f,
                "the Topology's system_type '{system_type}' is not in the Manifest's system_types_compatible {compatible:?}"
            ),
            PlanProblem::NotInManifest { index, component_type } => write!(
                f,
                "component #{} of type '{component_type}' has no entry in the Manifest's component_types",
                index + 1
            ),
            PlanProblem::NotInTopology { component_type } => write!(
                f,
                "the Manifest names component type '{component_type}', which the Topology does not have"
            ),
            PlanProblem::Observation { index, component_type, reason } => write!(
                f,
                "component #{} of type '{component_type}' could not be observed: {reason}",
                index + 1
            ),
            PlanProblem::DuplicateId { component_type, id, indexes } => write!(
                f,
                "components #{} of type '{component_type}' all answered Identity with id={id}; IDs must be unique",
                indexes.iter().map(|i| (i + 1).to_string()).collect::<Vec<_>>().join(", #")
            ),
            PlanProblem::Artifact { component_type, message, .. } => {
                write!(f, "the Artifact for component type '{component_type}': {message}")
            }
            PlanProblem::Incompatible { index, component_type, id, artifact_name, reasons } => write!(
                f,
                "Artifact '{artifact_name}' cannot be installed on component #{} ({component_type} {id}): {}",
                index + 1,
                reasons.join("; ")
            ),
        }
    }
}

impl PlanProblem {
    /// Why, as one of the closed set of reasons.
    pub fn reason(&self) -> Reason {
        match self {
            PlanProblem::SystemTypeIncompatible { .. } | PlanProblem::Incompatible { .. } => {
                Reason::Incompatible
            }
            PlanProblem::NotInManifest { .. } | PlanProblem::NotInTopology { .. } => {
                Reason::InvalidManifest
            }
            // The components' own answers are what is wrong.
            PlanProblem::Observation { .. } | PlanProblem::DuplicateId { .. } => {
                Reason::QueryFailed
            }
            PlanProblem::Artifact { reason, .. } => *reason,
        }
    }

    /// The problem as callers get it.
    pub fn to_problem(&self) -> Problem {
        Problem::new(self.reason(), self.to_string())
    }
}

/// Plan a deployment. `observations[i]` belongs to `topology.components[i]`; `artifacts`
/// holds, per component type of the Manifest, the checked header or why there is none.
pub fn plan<C: Candidate>(
    topology: &Topology,
    manifest: &Manifest,
    observations: &[Result<Observed, String>],
    artifacts: &BTreeMap<ComponentType, Result<C, Problem>>,
) -> Result<Plan, Vec<PlanProblem>> {
    assert_eq!(
        observations.len(),
        topology.components.len(),
        "one observation per component"
    );
    let mut problems = Vec::new();

    if !manifest
        .system_types_compatible
        .contains(&topology.system_type)
    {
        problems.push(PlanProblem::SystemTypeIncompatible {
            system_type: topology.system_type.clone(),
            compatible: manifest.system_types_compatible.clone(),
        });
    }
    let topology_types: BTreeSet<&ComponentType> = topology
        .components
        .iter()
        .map(|c| &c.component_type)
        .collect();
    for t in manifest.component_types.keys() {
        if !topology_types.contains(t) {
            problems.push(PlanProblem::NotInTopology {
                component_type: t.clone(),
            });
        }
    }
    for (t, a) in artifacts {
        if let Err(p) = a {
            if topology_types.contains(t) {
                problems.push(PlanProblem::Artifact {
                    component_type: t.clone(),
                    reason: p.reason,
                    message: p.message.clone(),
                });
            }
        }
    }

    // IDs name work directories and status entries: two components may not share one.
    let mut ids: BTreeMap<(&ComponentType, &ComponentId), Vec<usize>> = BTreeMap::new();
    for (i, (spec, obs)) in topology.components.iter().zip(observations).enumerate() {
        if let Ok(o) = obs {
            ids.entry((&spec.component_type, &o.id))
                .or_default()
                .push(i);
        }
    }
    for ((t, id), indexes) in &ids {
        if indexes.len() > 1 {
            problems.push(PlanProblem::DuplicateId {
                component_type: (*t).clone(),
                id: (*id).clone(),
                indexes: indexes.clone(),
            });
        }
    }

    let mut components = Vec::new();
    let mut skipped = Vec::new();
    for (index, (spec, obs)) in topology.components.iter().zip(observations).enumerate() {
        let t = &spec.component_type;
        let Some(target) = manifest.component_types.get(t) else {
            problems.push(PlanProblem::NotInManifest {
                index,
                component_type: t.clone(),
            });
            continue;
        };
        let observed = match obs {
            Ok(o) => o,
            Err(reason) => {
                problems.push(PlanProblem::Observation {
                    index,
                    component_type: t.clone(),
                    reason: reason.clone(),
                });
                continue;
            }
        };
        let Some(Ok(artifact)) = artifacts.get(t) else {
            continue;
        };
        let artifact_name = artifact.artifact_name().to_string();
        if artifact.is_installed(&observed.provides) {
            skipped.push(SkippedComponent {
                index,
                component_type: t.clone(),
                id: observed.id.clone(),
                artifact_name,
            });
            continue;
        }
        if let Err(reasons) = artifact.check_compatible(t, &observed.provides) {
            problems.push(PlanProblem::Incompatible {
                index,
                component_type: t.clone(),
                id: observed.id.clone(),
                artifact_name,
                reasons,
            });
            continue;
        }
        components.push(PlannedComponent {
            index,
            component_type: t.clone(),
            id: observed.id.clone(),
            interface: spec.interface.clone(),
            interface_args: spec.interface_args.clone(),
            order: target.order,
            group: 0,
            artifact_name,
            provides_before: observed.provides.clone(),
        });
    }
    if !problems.is_empty() {
        return Err(problems);
    }

    let mut orders: Vec<Order> = components.iter().map(|c| c.order).collect();
    orders.sort();
    orders.dedup();
    for c in &mut components {
        c.group = orders
            .binary_search(&c.order)
            .expect("order of a planned component");
    }
    Ok(Plan {
        orders,
        components,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ComponentSpec, ComponentTarget};

    /// A fake Artifact: installed when `version` equals its name; compatible unless `deny`.
    struct Fake {
        name: String,
        deny: Option<String>,
    }

    impl Candidate for Fake {
        fn artifact_name(&self) -> &str {
            &self.name
        }
        fn is_installed(&self, provides: &Provides) -> bool {
            provides.get("version") == Some(self.name.as_str())
        }
        fn check_compatible(&self, _: &ComponentType, _: &Provides) -> Result<(), Vec<String>> {
            match &self.deny {
                Some(why) => Err(vec![why.clone()]),
                None => Ok(()),
            }
        }
    }

    fn ct(s: &str) -> ComponentType {
        ComponentType::new(s).unwrap()
    }

    fn topology(types: &[&str]) -> Topology {
        Topology {
            system_type: "car".into(),
            components: types
                .iter()
                .map(|t| ComponentSpec {
                    component_type: ct(t),
                    interface: InterfaceName::new(*t).unwrap(),
                    interface_args: vec![],
                })
                .collect(),
        }
    }

    fn manifest(entries: &[(&str, &str, i64)]) -> Manifest {
        Manifest {
            name: "m".into(),
            system_types_compatible: vec!["car".into()],
            component_types: entries
                .iter()
                .map(|(t, a, o)| {
                    (
                        ct(t),
                        ComponentTarget {
                            artifact_name: Some(a.to_string()),
                            artifact_path: None,
                            order: Order::new(*o).unwrap(),
                        },
                    )
                })
                .collect(),
        }
    }

    fn obs(id: &str, version: &str) -> Result<Observed, String> {
        Ok(Observed {
            id: ComponentId::new(id).unwrap(),
            provides: [("version".to_string(), version.to_string())]
                .into_iter()
                .collect(),
        })
    }

    fn arts(entries: &[(&str, &str)]) -> BTreeMap<ComponentType, Result<Fake, Problem>> {
        entries
            .iter()
            .map(|(t, n)| {
                (
                    ct(t),
                    Ok(Fake {
                        name: n.to_string(),
                        deny: None,
                    }),
                )
            })
            .collect()
    }

    #[test]
    fn up_to_date_components_are_skipped_and_groups_are_dense() {
        let t = topology(&["ecu", "rtos", "rtos"]);
        let m = manifest(&[("ecu", "ecu-2", 10), ("rtos", "rtos-2", 50)]);
        let o = vec![obs("E1", "ecu-2"), obs("R1", "rtos-1"), obs("R2", "rtos-2")];
        let p = plan(&t, &m, &o, &arts(&[("ecu", "ecu-2"), ("rtos", "rtos-2")])).unwrap();
        assert_eq!(p.components.len(), 1);
        assert_eq!(p.components[0].id.as_str(), "R1");
        assert_eq!(
            p.components[0].group, 0,
            "the only group with work is group 0"
        );
        assert_eq!(p.orders, vec![Order::new(50).unwrap()]);
        assert_eq!(
            p.skipped.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            vec!["E1", "R2"]
        );
    }

    #[test]
    fn every_problem_is_reported_together() {
        let mut t = topology(&["ecu", "rtos", "rtos", "cam"]);
        t.system_type = "truck".into();
        let m = manifest(&[
            ("ecu", "ecu-2", 10),
            ("rtos", "rtos-2", 20),
            ("gps", "gps-1", 30),
        ]);
        let o = vec![
            obs("E1", "ecu-1"),
            obs("R1", "rtos-1"),
            obs("R1", "rtos-1"),
            Err("Identity failed".into()),
        ];
        let mut a = arts(&[("rtos", "rtos-2"), ("gps", "gps-1")]);
        a.insert(
            ct("ecu"),
            Ok(Fake {
                name: "ecu-2".into(),
                deny: Some("device_type mismatch".into()),
            }),
        );
        let problems = plan(&t, &m, &o, &a).unwrap_err();
        let kinds: Vec<&str> = problems
            .iter()
            .map(|p| match p {
                PlanProblem::SystemTypeIncompatible { .. } => "system",
                PlanProblem::NotInManifest { .. } => "not-in-manifest",
                PlanProblem::NotInTopology { .. } => "not-in-topology",
                PlanProblem::Observation { .. } => "observation",
                PlanProblem::DuplicateId { .. } => "duplicate",
                PlanProblem::Artifact { .. } => "artifact",
                PlanProblem::Incompatible { .. } => "incompatible",
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                "system",
                "not-in-topology",
                "duplicate",
                "incompatible",
                "not-in-manifest"
            ],
            "{problems:#?}"
        );
        let text = problems
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(text.contains("id=R1"), "{text}");
        let reasons: Vec<Reason> = problems.iter().map(PlanProblem::reason).collect();
        assert_eq!(
            reasons,
            vec![
                Reason::Incompatible,
                Reason::InvalidManifest,
                Reason::QueryFailed,
                Reason::Incompatible,
                Reason::InvalidManifest
            ]
        );
    }

    #[test]
    fn an_unresolvable_artifact_is_a_problem() {
        let t = topology(&["ecu"]);
        let m = manifest(&[("ecu", "ecu-2", 10)]);
        let mut a: BTreeMap<ComponentType, Result<Fake, Problem>> = BTreeMap::new();
        a.insert(
            ct("ecu"),
            Err(Problem::new(
                Reason::ArtifactNotFound,
                "no source has Artifact 'ecu-2'",
            )),
        );
        let problems = plan(&t, &m, &[obs("E1", "ecu-1")], &a).unwrap_err();
        assert!(
            matches!(&problems[0], PlanProblem::Artifact { message, .. } if message.contains("no source"))
        );
        assert_eq!(problems[0].reason(), Reason::ArtifactNotFound);
    }
}
