//! The plan description: what a deployment would do now, and its `planHash`.
//!
//! `baton plan` shows a [`PlanDescription`]; `apply --plan-hash` compares [`plan_hash`]es so
//! that what runs is what was reviewed (as `terraform plan` does).
//!
//! **planHash**: `sha256:` followed by the lower-case hex SHA-256 of the canonical JSON of the
//! *decisions* in the description: the Manifest (name, SHA-256 of its bytes), each order group
//! (its order, each component's type, ID, current and target Artifact, whether it is skipped,
//! its download bytes) and the constraints' verdict. Canonical JSON: UTF-8, no whitespace,
//! object keys sorted by code point at every level, integers in decimal, strings escaped as
//! serde_json escapes them; groups sorted by order and components by (type, ID) first, so the
//! hash depends neither on the order fields or components were given in, nor on the run.
//!
//! Left out on purpose, because they change while the plan does not: the expected durations
//! (history grows with every deployment) and whether an Artifact is cached (the cache evicts).
//! A reviewed plan goes stale when what would be installed, skipped or downloaded changes,
//! or when the constraints would now decide otherwise; not when an estimate moves.
//!
//! Pure: no IO.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::check::Verdict;
use crate::model::{ComponentType, Order};

/// The Manifest a plan is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestRef {
    pub name: String,
    /// Lower-case hex SHA-256 of the Manifest's bytes.
    pub sha256: String,
}

/// One component in a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanComponent {
    pub component_type: ComponentType,
    /// From `Identity`; `None` when it could not be asked.
    pub id: Option<String>,
    /// The Artifact it runs now, as its Provides say (`model::Provides::artifact`), when known.
    pub current_artifact: Option<String>,
    pub target_artifact: String,
    /// Already runs its target: no state will run for it.
    pub skipped: bool,
    /// Bytes to download for it (its Artifact's size); `None` when skipped or unknown.
    pub download_bytes: Option<u64>,
    /// The Artifact is already in the cache (informative: not in the hash).
    pub cached: bool,
}

/// One order group in a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanGroup {
    pub order: Order,
    pub components: Vec<PlanComponent>,
    /// Expected duration of the group from history, in seconds (informative).
    pub expected_seconds: Option<u64>,
}

/// What a deployment of a Manifest would do now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanDescription {
    pub manifest: ManifestRef,
    pub groups: Vec<PlanGroup>,
    /// The constraints' verdict (`unconstrained` when none are configured).
    pub constraints: Verdict,
    /// Expected duration of the whole deployment from history, in seconds (informative).
    pub expected_seconds: Option<u64>,
    /// [`plan_hash`] of the rest, filled by [`PlanDescription::new`].
    pub plan_hash: String,
}

/// The hashed view: the decisions only (see the module docs).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Decisions<'a> {
    manifest: &'a ManifestRef,
    groups: Vec<GroupDecisions<'a>>,
    constraints: &'a Verdict,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupDecisions<'a> {
    order: Order,
    components: Vec<ComponentDecisions<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ComponentDecisions<'a> {
    component_type: &'a ComponentType,
    id: &'a Option<String>,
    current_artifact: &'a Option<String>,
    target_artifact: &'a str,
    skipped: bool,
    download_bytes: Option<u64>,
}

impl PlanDescription {
    /// A description in canonical order (groups by order, components by type and ID), with
    /// its hash.
    pub fn new(
        manifest: ManifestRef,
        mut groups: Vec<PlanGroup>,
        constraints: Verdict,
        expected_seconds: Option<u64>,
    ) -> Self {
        groups.sort_by_key(|g| g.order);
        for g in &mut groups {
            g.components
                .sort_by(|a, b| (&a.component_type, &a.id).cmp(&(&b.component_type, &b.id)));
        }
        let mut plan = Self {
            manifest,
            groups,
            constraints,
            expected_seconds,
            plan_hash: String::new(),
        };
        plan.plan_hash = plan_hash(&plan);
        plan
    }
}

/// The `planHash` of a description (see the module docs); ignores its `plan_hash` field.
pub fn plan_hash(plan: &PlanDescription) -> String {
    let mut groups: Vec<&PlanGroup> = plan.groups.iter().collect();
    groups.sort_by_key(|g| g.order);
    let decisions = Decisions {
        manifest: &plan.manifest,
        groups: groups
            .into_iter()
            .map(|g| {
                let mut components: Vec<&PlanComponent> = g.components.iter().collect();
                components
                    .sort_by(|a, b| (&a.component_type, &a.id).cmp(&(&b.component_type, &b.id)));
                GroupDecisions {
                    order: g.order,
                    components: components
                        .into_iter()
                        .map(|c| ComponentDecisions {
                            component_type: &c.component_type,
                            id: &c.id,
                            current_artifact: &c.current_artifact,
                            target_artifact: &c.target_artifact,
                            skipped: c.skipped,
                            download_bytes: c.download_bytes,
                        })
                        .collect(),
                }
            })
            .collect(),
        constraints: &plan.constraints,
    };
    let value = serde_json::to_value(&decisions).expect("plain data serializes");
    let mut text = String::new();
    canonical(&value, &mut text);
    let digest = Sha256::digest(text.as_bytes());
    let mut out = String::from("sha256:");
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Canonical JSON: keys sorted at every level, no whitespace.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// What differs between a reviewed plan and the plan now, one line each, for a refusal
/// ("the plan changed"): the Manifest, each component (by type and ID: current and target
/// Artifact, skipped, download bytes; added or gone) and the constraints' verdict.
pub fn changes(reviewed: &PlanDescription, now: &PlanDescription) -> Vec<String> {
    let mut out = Vec::new();
    if reviewed.manifest != now.manifest {
        out.push(format!(
            "the Manifest: '{}' (sha256 {}) was reviewed, '{}' (sha256 {}) is given",
            reviewed.manifest.name,
            reviewed.manifest.sha256,
            now.manifest.name,
            now.manifest.sha256
        ));
    }
    let (before, after) = (by_component(reviewed), by_component(now));
    let name = |(t, id): &Key<'_>| format!("{t} {}", id.as_deref().unwrap_or("(no ID)"));
    let artifact = |a: &Option<String>| a.clone().unwrap_or_else(|| "(unknown)".into());
    for (k, (order, b)) in &before {
        let Some((order_now, a)) = after.get(k) else {
            out.push(format!("{}: no longer in the plan", name(k)));
            continue;
        };
        if order != order_now {
            out.push(format!("{}: order group {order} -> {order_now}", name(k)));
        }
        if b.current_artifact != a.current_artifact {
            out.push(format!(
                "{}: runs {} now, {} when reviewed",
                name(k),
                artifact(&a.current_artifact),
                artifact(&b.current_artifact)
            ));
        }
        if b.target_artifact != a.target_artifact {
            out.push(format!(
                "{}: target {} -> {}",
                name(k),
                b.target_artifact,
                a.target_artifact
            ));
        }
        if b.skipped != a.skipped {
            out.push(format!(
                "{}: {}",
                name(k),
                if a.skipped {
                    "now skipped (already runs its target)"
                } else {
                    "no longer skipped"
                }
            ));
        }
        if b.download_bytes != a.download_bytes && !a.skipped && !b.skipped {
            out.push(format!(
                "{}: download {} bytes -> {} bytes",
                name(k),
                b.download_bytes.unwrap_or(0),
                a.download_bytes.unwrap_or(0)
            ));
        }
    }
    for k in after.keys().filter(|k| !before.contains_key(*k)) {
        out.push(format!("{}: new in the plan", name(k)));
    }
    if reviewed.constraints != now.constraints {
        out.push(format!(
            "the constraints' verdict: {} -> {}",
            verdict_word(&reviewed.constraints),
            verdict_word(&now.constraints)
        ));
    }
    out
}

type Key<'a> = (&'a ComponentType, &'a Option<String>);

/// Every component of a plan by type and ID, with its order group.
fn by_component(p: &PlanDescription) -> BTreeMap<Key<'_>, (Order, &PlanComponent)> {
    p.groups
        .iter()
        .flat_map(|g| {
            g.components
                .iter()
                .map(move |c| ((&c.component_type, &c.id), (g.order, c)))
        })
        .collect()
}

/// One word for a verdict, for people.
pub fn verdict_word(v: &Verdict) -> &'static str {
    match v {
        Verdict::Unconstrained => "unconstrained",
        Verdict::Accepted => "accepted",
        Verdict::Refused { .. } => "refused",
    }
}

/// The expected duration from the durations (seconds) of past deployments: their median,
/// which one slow or interrupted run does not move much.
pub fn expected_seconds(past: &[u64]) -> Option<u64> {
    let mut v = past.to_vec();
    v.sort_unstable();
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(t: &str, id: &str, now: &str, then: &str) -> PlanComponent {
        PlanComponent {
            component_type: ComponentType::new(t).unwrap(),
            id: Some(id.into()),
            current_artifact: Some(now.into()),
            target_artifact: then.into(),
            skipped: now == then,
            download_bytes: (now != then).then_some(1 << 20),
            cached: false,
        }
    }

    fn plan(rtos_now: &str, reversed: bool) -> PlanDescription {
        let mut rtos = vec![
            component("rtos", "R456", rtos_now, "rtos-v3"),
            component("rtos", "R998", "rtos-v1", "rtos-v3"),
        ];
        if reversed {
            rtos.reverse();
        }
        let mut groups = vec![
            PlanGroup {
                order: Order::new(10).unwrap(),
                components: vec![component("gateway", "G13", "gateway-v1", "gateway-v2")],
                expected_seconds: Some(30),
            },
            PlanGroup {
                order: Order::new(20).unwrap(),
                components: rtos,
                expected_seconds: Some(60),
            },
        ];
        if reversed {
            groups.reverse();
        }
        PlanDescription::new(
            ManifestRef {
                name: "system-v2".into(),
                sha256: "ab".repeat(32),
            },
            groups,
            Verdict::Accepted,
            Some(90),
        )
    }

    #[test]
    fn the_hash_changes_when_an_observed_version_changes_and_not_otherwise() {
        let a = plan("rtos-v1", false);
        assert!(a.plan_hash.starts_with("sha256:") && a.plan_hash.len() == 7 + 64);
        assert_eq!(a.plan_hash, plan("rtos-v1", false).plan_hash, "stable");
        assert_eq!(
            a.plan_hash,
            plan("rtos-v1", true).plan_hash,
            "order of input"
        );
        assert_eq!(a, plan("rtos-v1", true), "canonical order");

        let mut estimates = a.clone();
        estimates.expected_seconds = Some(900);
        estimates.groups[0].expected_seconds = None;
        estimates.groups[1].components[0].cached = true;
        assert_eq!(
            plan_hash(&estimates),
            a.plan_hash,
            "estimates are not decisions"
        );

        let moved = plan("rtos-v2", false);
        assert_ne!(moved.plan_hash, a.plan_hash, "an observed version changed");
        let done = plan("rtos-v3", false);
        assert!(done.groups[1].components[0].skipped);
        assert_ne!(done.plan_hash, a.plan_hash);

        let mut refused = a.clone();
        refused.constraints = Verdict::Unconstrained;
        assert_ne!(plan_hash(&refused), a.plan_hash, "the verdict counts");
        let mut bigger = a.clone();
        bigger.groups[0].components[0].download_bytes = Some(2 << 20);
        assert_ne!(plan_hash(&bigger), a.plan_hash, "download bytes count");
    }

    #[test]
    fn the_hash_is_the_documented_canonical_json() {
        let a = plan("rtos-v1", false);
        let mut text = String::new();
        let decisions = serde_json::json!({
            "manifest": {"name": "system-v2", "sha256": "ab".repeat(32)},
            "groups": [
                {"order": 10, "components": [
                    {"componentType": "gateway", "id": "G13", "currentArtifact": "gateway-v1",
                     "targetArtifact": "gateway-v2", "skipped": false, "downloadBytes": 1048576}
                ]},
                {"order": 20, "components": [
                    {"componentType": "rtos", "id": "R456", "currentArtifact": "rtos-v1",
                     "targetArtifact": "rtos-v3", "skipped": false, "downloadBytes": 1048576},
                    {"componentType": "rtos", "id": "R998", "currentArtifact": "rtos-v1",
                     "targetArtifact": "rtos-v3", "skipped": false, "downloadBytes": 1048576}
                ]}
            ],
            "constraints": {"verdict": "accepted"}
        });
        canonical(&decisions, &mut text);
        assert!(text.starts_with(r#"{"constraints":{"verdict":"accepted"},"groups":[{"components":[{"componentType":"gateway","currentArtifact":"gateway-v1","downloadBytes":1048576,"id":"G13""#), "{text}");
        let digest: String = Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(a.plan_hash, format!("sha256:{digest}"));
    }

    #[test]
    fn what_changed_is_said_component_by_component() {
        let a = plan("rtos-v1", false);
        assert!(changes(&a, &plan("rtos-v1", true)).is_empty());
        let moved = changes(&a, &plan("rtos-v2", false));
        assert_eq!(
            moved,
            vec!["rtos R456: runs rtos-v2 now, rtos-v1 when reviewed".to_string()]
        );
        let done = changes(&a, &plan("rtos-v3", false));
        assert!(
            done.contains(&"rtos R456: now skipped (already runs its target)".to_string()),
            "{done:?}"
        );
        let mut other = a.clone();
        other.constraints = Verdict::Unconstrained;
        other.groups[1].components.pop();
        other.manifest.name = "system-v3".into();
        let c = changes(&a, &other);
        assert!(c[0].starts_with("the Manifest: 'system-v2'"), "{c:?}");
        assert!(c.contains(&"rtos R998: no longer in the plan".to_string()));
        assert!(c.contains(&"the constraints' verdict: accepted -> unconstrained".to_string()));
    }

    #[test]
    fn the_expected_duration_is_the_median_of_history() {
        assert_eq!(expected_seconds(&[]), None);
        assert_eq!(expected_seconds(&[40, 10, 3600]), Some(40));
        assert_eq!(expected_seconds(&[10, 20]), Some(15));
    }
}
