//! A Kanto desired state as a baton Manifest: pure, no IO.
//!
//! | Kanto | baton |
//! |---|---|
//! | `domains[].id` | a `component_type` of the Topology |
//! | `components[].version` | the Artifact name (`artifact_name`) |
//! | `components[].id` = the domain id | every component of that type |
//! | `components[].id` = a component's `Identity` ID | that component; every component of the type must end on the same Artifact |
//! | domain `config` `order` | the order group (default: domains in the order listed, 10, 20, ...) |
//! | activityId | the Manifest name `kanto-<activityId>` |
//! | (nothing) | `system_types_compatible: [<Topology's system_type>]` |
//! | a Topology component type the desired state does not name | kept on what it runs: the deployed Manifest's entry, else the one Artifact all its components report |
//! | a domain whose components have `interface: kanto:<domain>` | its slice of the desired state goes to that Kanto update agent ([`AgentSlice`]); the Manifest names it by a digest of the slice |
//!
//! Kanto's Update Manager leaves domains absent from a desired state alone ("configured
//! domains absent from the manifest are not contacted"). A Manifest cannot skip a component
//! type, so "leave alone" is spelled "keep what it runs". A Manifest sets one Artifact per
//! component type, so per-ID versions are accepted only when they agree.
//!
//! Anything that cannot be mapped is a problem naming the domain and component; the caller
//! reports them all as IDENTIFICATION_FAILED, and nothing is admitted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::edge::{ObservedComponent, SystemSnapshot};
use super::wire::{Component, DesiredState, Domain};
use crate::model::API_VERSION;
use crate::resource::wire::{ComponentTypeDoc, ManifestDoc, UpdateStrategyDoc};

/// The prefix of a Topology `interface` that names a Kanto update agent's domain.
pub const AGENT_INTERFACE_PREFIX: &str = "kanto:";

/// The domain `config` key that sets the order group.
pub const ORDER_KEY: &str = "order";

/// The Kanto update agent's domain a Topology `interface` names, if it does.
pub fn agent_domain(interface: &str) -> Option<&str> {
    interface
        .strip_prefix(AGENT_INTERFACE_PREFIX)
        .filter(|d| !d.is_empty())
}

/// A desired state baton can deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    /// `kanto-<activityId>` (made safe and unique when the activityId is not).
    pub name: String,
    /// The Manifest document, for [`super::edge::DesiredDoor::admit`].
    pub manifest_yaml: Vec<u8>,
    /// What each component type named by the desired state gets.
    pub targets: BTreeMap<String, Target>,
    /// Component types the desired state does not name, and the Artifact they keep.
    pub kept: BTreeMap<String, String>,
    /// The slices for Kanto update agents, for the agent driver.
    pub agents: Vec<AgentSlice>,
}

/// What one domain maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub artifact_name: String,
    pub order: u8,
}

/// One Kanto update agent's part of the desired state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSlice {
    pub component_type: String,
    /// The agent's domain (from `interface: kanto:<domain>`).
    pub domain: String,
    /// What Kanto's Update Manager would send that agent: its domain entry and its baselines.
    pub desired: DesiredState,
    /// The Manifest's `artifact_name` for it: `kanto-<domain>-<digest of the slice>`, so the
    /// same slice is the same "Artifact" and a changed one is a new one.
    pub artifact_name: String,
    /// The agent's own component ids and versions (for feedback and status).
    pub components: Vec<Component>,
}

/// Maps `desired` (activity `activity_id`) onto `system`, or returns every problem.
pub fn map(
    activity_id: &str,
    desired: &DesiredState,
    system: &SystemSnapshot,
) -> Result<Mapped, Vec<String>> {
    let mut problems = Vec::new();
    if activity_id.is_empty() {
        problems.push("the desired state has no activityId".to_string());
    }
    if desired.domains.is_empty() {
        problems.push("the desired state names no domain".to_string());
    }
    let types: Vec<&str> = topology_types(system);
    let step = default_order_step(desired.domains.len(), &mut problems);
    let mut targets = BTreeMap::new();
    let mut agents = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, domain) in desired.domains.iter().enumerate() {
        let ctx = format!("domain '{}'", domain.id);
        if !seen.insert(domain.id.as_str()) {
            problems.push(format!("{ctx} is listed twice"));
            continue;
        }
        if !types.contains(&domain.id.as_str()) {
            let hint = crate::resource::suggest::closest(&domain.id, types.iter().copied())
                .map(|s| format!(" (did you mean '{s}'?)"))
                .unwrap_or_default();
            problems.push(format!(
                "{ctx}: the Topology has no component type '{}'{hint}; its component types are: {}",
                domain.id,
                types.join(", ")
            ));
            continue;
        }
        let order = match order_of(domain, i, step) {
            Ok(o) => o,
            Err(p) => {
                problems.push(format!("{ctx}: {p}"));
                continue;
            }
        };
        let members: Vec<&ObservedComponent> = system
            .components
            .iter()
            .filter(|c| c.component_type == domain.id)
            .collect();
        let agent = members.iter().find_map(|c| agent_domain(&c.interface));
        let artifact = match agent {
            Some(agent_domain) => agent_slice(desired, domain, agent_domain, &ctx).map(|s| {
                let name = s.artifact_name.clone();
                agents.push(s);
                name
            }),
            None => artifact_for(domain, &members, &ctx),
        };
        match artifact {
            Ok(artifact_name) => {
                targets.insert(
                    domain.id.clone(),
                    Target {
                        artifact_name,
                        order,
                    },
                );
            }
            Err(mut p) => problems.append(&mut p),
        }
    }
    let mut kept = BTreeMap::new();
    let mut docs = BTreeMap::new();
    for t in &types {
        if let Some(target) = targets.get(*t) {
            docs.insert(
                t.to_string(),
                doc(Some(&target.artifact_name), None, target.order),
            );
            continue;
        }
        if desired.domains.iter().any(|d| d.id == *t) {
            continue; // already reported
        }
        match keep(t, system) {
            Ok((d, what)) => {
                docs.insert(t.to_string(), d);
                kept.insert(t.to_string(), what);
            }
            Err(p) => problems.push(p),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let name = manifest_name(activity_id);
    let manifest = ManifestDoc {
        api_version: API_VERSION.to_string(),
        kind: "manifest".to_string(),
        name: name.clone(),
        system_types_compatible: vec![system.topology.system_type.clone()],
        component_types: docs,
    };
    let yaml = serde_saphyr::to_string(&manifest)
        .map_err(|e| vec![format!("writing the Manifest: {e}")])?;
    Ok(Mapped {
        name,
        manifest_yaml: yaml.into_bytes(),
        targets,
        kept,
        agents,
    })
}

/// The Topology's component types, in Topology order, each once.
fn topology_types(system: &SystemSnapshot) -> Vec<&str> {
    let mut seen = BTreeSet::new();
    system
        .topology
        .components
        .iter()
        .map(|c| c.component_type.as_str())
        .filter(|t| seen.insert(*t))
        .collect()
}

/// 10, 20, ... for up to ten domains; spread over 1..=100 beyond that.
fn default_order_step(domains: usize, problems: &mut Vec<String>) -> usize {
    if domains > 100 {
        problems.push(format!(
            "the desired state names {domains} domains; baton has 100 order groups"
        ));
        return 1;
    }
    if domains <= 10 {
        10
    } else {
        100 / domains
    }
}

fn order_of(domain: &Domain, index: usize, step: usize) -> Result<u8, String> {
    match domain.config_value(ORDER_KEY) {
        None => Ok(((index + 1) * step).min(100) as u8),
        Some(v) => v
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|o| (1..=100).contains(o))
            .ok_or_else(|| {
                format!("config '{ORDER_KEY}' is '{v}'; expected an integer from 1 to 100")
            }),
    }
}

/// The one Artifact a (non-agent) domain asks for, by the rules in the module docs.
fn artifact_for(
    domain: &Domain,
    members: &[&ObservedComponent],
    ctx: &str,
) -> Result<String, Vec<String>> {
    let mut problems = Vec::new();
    if domain.components.is_empty() {
        return Err(vec![format!(
            "{ctx} lists no components; baton cannot remove a component type: name its Artifact as a component {{id: '{}', version: <Artifact name>}}",
            domain.id
        )]);
    }
    let ids: Vec<&str> = members.iter().filter_map(|c| c.id.as_deref()).collect();
    let mut wanted: BTreeMap<&str, Vec<&str>> = BTreeMap::new(); // version -> who asks
    let mut named: BTreeSet<&str> = BTreeSet::new();
    let mut type_wide = false;
    for c in &domain.components {
        let who = c.component.id.as_str();
        if c.component.version.is_empty() {
            problems.push(format!(
                "{ctx}, component '{who}': no version (expected the name of the Artifact to run)"
            ));
            continue;
        }
        if who == domain.id {
            type_wide = true;
        } else if ids.contains(&who) {
            named.insert(who);
        } else {
            problems.push(format!(
                "{ctx}, component '{who}': neither the component type '{}' nor the ID of one of its components ({})",
                domain.id,
                if ids.is_empty() { "none identified".to_string() } else { ids.join(", ") }
            ));
            continue;
        }
        wanted
            .entry(c.component.version.as_str())
            .or_default()
            .push(who);
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    if wanted.len() > 1 {
        let asks: Vec<String> = wanted
            .iter()
            .map(|(v, who)| format!("{} -> '{v}'", who.join(", ")))
            .collect();
        return Err(vec![format!(
            "{ctx}: its components ask for different Artifacts ({}); a Manifest sets one Artifact per component type: give every component the same version, or name the type (id: '{}')",
            asks.join("; "),
            domain.id
        )]);
    }
    let version = wanted
        .into_keys()
        .next()
        .expect("at least one component with a version");
    if !type_wide {
        for c in members {
            let unnamed = c.id.as_deref().is_none_or(|id| !named.contains(id));
            if unnamed && c.artifact_name() != Some(version) {
                problems.push(format!(
                    "{ctx}: component '{}' is not named and runs '{}'; a Manifest gives every component of type '{}' the same Artifact: name it too, or name the type (id: '{}')",
                    c.id.as_deref().unwrap_or("(unidentified)"),
                    c.artifact_name().unwrap_or("an unknown Artifact"),
                    domain.id,
                    domain.id
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(version.to_string())
    } else {
        Err(problems)
    }
}

/// A Kanto agent domain: its slice, and a stable "Artifact name" for it.
fn agent_slice(
    desired: &DesiredState,
    domain: &Domain,
    agent_domain: &str,
    ctx: &str,
) -> Result<AgentSlice, Vec<String>> {
    let mut problems = Vec::new();
    for c in &domain.components {
        if c.component.id.is_empty() {
            problems.push(format!("{ctx}: a component has no id"));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut slice = desired.slice_for(domain);
    // The agent knows itself by its own domain name.
    slice.domains[0].id = agent_domain.to_string();
    let canonical = serde_json::to_vec(&slice).expect("a desired state serializes");
    let digest = Sha256::digest(&canonical);
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    Ok(AgentSlice {
        component_type: domain.id.clone(),
        domain: agent_domain.to_string(),
        artifact_name: format!("kanto-{agent_domain}-{hex}"),
        components: domain
            .components
            .iter()
            .map(|c| c.component.clone())
            .collect(),
        desired: slice,
    })
}

/// What a component type the desired state does not name keeps: the deployed Manifest's
/// entry, else the one Artifact every component of the type reports.
fn keep(t: &str, system: &SystemSnapshot) -> Result<(ComponentTypeDoc, String), String> {
    if let Some(loaded) = &system.deployed {
        if let Some(entry) = loaded.manifest.component_types.get(t) {
            let path = entry.artifact_path.as_ref().and_then(|p| {
                if p.is_absolute() {
                    Some(p.clone())
                } else {
                    loaded.base_dir.as_deref().map(|b| b.join(p))
                }
            });
            if entry.artifact_name.is_some() || path.is_some() {
                let what = entry
                    .artifact_name
                    .clone()
                    .or_else(|| path.as_ref().map(|p| p.display().to_string()))
                    .unwrap_or_default();
                return Ok((
                    doc(
                        entry.artifact_name.as_deref(),
                        path.as_deref(),
                        entry.order.get(),
                    ),
                    what,
                ));
            }
        }
    }
    let members: Vec<&ObservedComponent> = system
        .components
        .iter()
        .filter(|c| c.component_type == t)
        .collect();
    let running: BTreeSet<Option<&str>> = members.iter().map(|c| c.artifact_name()).collect();
    match running.into_iter().collect::<Vec<_>>().as_slice() {
        [Some(one)] => Ok((doc(Some(*one), None, 100), one.to_string())),
        other => Err(format!(
            "component type '{t}' is not in the desired state, and baton cannot keep it on what it runs: no deployed Manifest names it and its components report {}; add a domain '{t}' naming its Artifact",
            if other.is_empty() {
                "nothing".to_string()
            } else {
                other
                    .iter()
                    .map(|a| a.map_or("no artifact_name".to_string(), |a| format!("'{a}'")))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        )),
    }
}

fn doc(artifact_name: Option<&str>, artifact_path: Option<&Path>, order: u8) -> ComponentTypeDoc {
    ComponentTypeDoc {
        artifact_name: artifact_name.map(str::to_string),
        artifact_path: artifact_path.map(|p| p.display().to_string()),
        update_strategy: UpdateStrategyDoc {
            order: i64::from(order),
        },
    }
}

/// `kanto-<activityId>`; an activityId with other characters than `[A-Za-z0-9._-]`, or longer
/// than 64, is cleaned and suffixed with a digest so that different activities stay apart.
pub fn manifest_name(activity_id: &str) -> String {
    let clean: String = activity_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if clean == activity_id {
        format!("kanto-{clean}")
    } else {
        let d = Sha256::digest(activity_id.as_bytes());
        let hex: String = d[..4].iter().map(|b| format!("{b:02x}")).collect();
        format!("kanto-{clean}-{hex}")
    }
}

#[cfg(test)]
#[path = "mapping_tests.rs"]
mod tests;
