//! Downgrade protection (`DowngradeProtection`): what "older" means, as a pure function of
//! what this System has accepted before.
//!
//! Mender's Manifest has no version field, and baton reads Mender's files unchanged, so
//! "older" cannot come from a number in the Manifest (Uptane's release counter, TUF's
//! metadata version, SWUpdate's `-N`). It comes from this System's own history instead, the
//! [`Ledger`]: every Manifest name and every Artifact name a component ran gets a sequence
//! number the first time a deployment succeeds with it (a name seen again keeps its number).
//! Then:
//! - a Manifest is older when its name was accepted before, is not the current Manifest,
//!   and a Manifest with a higher number was accepted since (a replayed old release);
//! - a component is downgraded when the Manifest would put it on an Artifact it ran before,
//!   not the one it runs now, with a higher-numbered Artifact accepted on it since (an old
//!   component Artifact under a new Manifest name: mix-and-match backwards).
//!
//! A name never accepted counts as new: an old release this System never ran is not caught
//! (that needs a counter in signed metadata, which the format lacks); configure Manifest and
//! Artifact signatures so that only your releases are accepted at all. The System's own
//! rollback is exempt: the rollback ordering of a failed deployment and the `rollback` verb
//! never install a Manifest, and an explicit return to the last good Manifest (the
//! controller's rollback action) asks with `allow_downgrade`. Going back does not lower the
//! high-water mark, so the release rolled back from may be deployed again.
//!
//! The ledger forgets nothing a replay could use: the newest [`FULL`] names of each scope
//! are kept in full (messages name them); older ones are compacted to a fingerprint (the
//! first 64 bits of the name's SHA-256) with their number, a few bytes each however long
//! the name. A release never accepted whose fingerprint collides with a compacted one
//! would count as a replay and be refused (odds about n / 2^64 for n compacted names): the
//! error is on the safe side.
//!
//! No IO here: the ledger is loaded and saved by [`super::accepted`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::plan::Plan;
use crate::interface::file_api::CurrentArtifact;

/// How many names per scope (the Manifest, each component) are kept in full; older ones
/// are compacted, never forgotten.
pub const FULL: usize = 128;

/// Sequence numbers of accepted names, in one scope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    /// The newest names, in full.
    pub names: BTreeMap<String, u64>,
    /// Older names, by [`fingerprint`]: all numbered below every name in `names`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub compacted: BTreeMap<String, u64>,
}

/// A name's compact stand-in: the first 64 bits of its SHA-256, in hex.
pub fn fingerprint(name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

impl Accepted {
    fn high(&self) -> u64 {
        self.names
            .values()
            .chain(self.compacted.values())
            .copied()
            .max()
            .unwrap_or(0)
    }

    /// `name`'s number, kept in full or compacted.
    fn number(&self, name: &str) -> Option<u64> {
        self.names
            .get(name)
            .or_else(|| self.compacted.get(&fingerprint(name)))
            .copied()
    }

    /// Gives `name` the next number unless it has one; moves the oldest full names to the
    /// compacted ones beyond [`FULL`].
    fn accept(&mut self, name: &str) {
        if self.number(name).is_some() {
            return;
        }
        let next = self.high() + 1;
        self.names.insert(name.to_string(), next);
        while self.names.len() > FULL {
            let (oldest, seq) = self
                .names
                .iter()
                .min_by_key(|(_, &seq)| seq)
                .map(|(n, &s)| (n.clone(), s))
                .expect("not empty");
            self.names.remove(&oldest);
            self.compacted.insert(fingerprint(&oldest), seq);
        }
    }

    /// `Some((its number, the newest name and its number))` when `name` is older than the
    /// newest accepted name and is not `current`.
    fn older(&self, name: &str, current: Option<&str>) -> Option<(u64, String, u64)> {
        let seq = self.number(name)?;
        if Some(name) == current {
            return None;
        }
        let (newest, high) = self.names.iter().max_by_key(|(_, &s)| s)?;
        (seq < *high).then(|| (seq, newest.clone(), *high))
    }
}

/// What this System has accepted: Manifest names, and per component the Artifact names it
/// ran.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub manifests: Accepted,
    /// Keyed by [`component_key`].
    pub components: BTreeMap<String, Accepted>,
}

/// How the ledger names a component: `<component type>/<id>`.
pub fn component_key(component_type: &str, id: &str) -> String {
    format!("{component_type}/{id}")
}

/// One component a deployment changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// [`component_key`].
    pub component: String,
    /// The Artifact it runs now, when its Provides say.
    pub from: Option<String>,
    pub to: String,
}

/// Why a Manifest is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Downgrade {
    #[error(
        "Manifest '{name}' is older than '{newest}' (accepted as #{seq}, '{newest}' as #{high}) \
         and DowngradeProtection is on"
    )]
    Manifest {
        name: String,
        seq: u64,
        newest: String,
        high: u64,
    },
    #[error(
        "component {component} would be put on '{to}' (from '{from}'), an Artifact it ran \
         before '{newest}' replaced it (#{seq} < #{high}), and DowngradeProtection is on"
    )]
    Component {
        component: String,
        from: String,
        to: String,
        newest: String,
        seq: u64,
        high: u64,
    },
}

/// What a plan changes, in the ledger's terms: `(changes, components already on their
/// Artifact)`.
pub fn of_plan(plan: &Plan) -> (Vec<Change>, Vec<(String, String)>) {
    let changes = plan
        .components
        .iter()
        .map(|c| Change {
            component: component_key(c.component_type.as_str(), c.id.as_str()),
            from: CurrentArtifact::from_provides(
                &c.component_type,
                &c.interface,
                &c.provides_before,
            )
            .artifact_name,
            to: c.artifact_name.clone(),
        })
        .collect();
    let unchanged = plan
        .skipped
        .iter()
        .map(|s| {
            let key = component_key(s.component_type.as_str(), s.id.as_str());
            (key, s.artifact_name.clone())
        })
        .collect();
    (changes, unchanged)
}

impl Ledger {
    /// Every reason to refuse deploying Manifest `name` with `changes`, the System running
    /// Manifest `current` now.
    pub fn check(&self, name: &str, current: Option<&str>, changes: &[Change]) -> Vec<Downgrade> {
        let mut found = Vec::new();
        if let Some((seq, newest, high)) = self.manifests.older(name, current) {
            found.push(Downgrade::Manifest {
                name: name.into(),
                seq,
                newest,
                high,
            });
        }
        for c in changes {
            let Some(accepted) = self.components.get(&c.component) else {
                continue;
            };
            if let Some((seq, newest, high)) = accepted.older(&c.to, c.from.as_deref()) {
                found.push(Downgrade::Component {
                    component: c.component.clone(),
                    from: c.from.clone().unwrap_or_else(|| "(unknown)".into()),
                    to: c.to.clone(),
                    newest,
                    seq,
                    high,
                });
            }
        }
        found
    }

    /// Records a successful deployment of Manifest `name`: what each changed component ran
    /// before (first, so it ranks below what replaced it) and runs now; `unchanged` are
    /// `(component, Artifact)` pairs that already ran theirs.
    pub fn record(&mut self, name: &str, changes: &[Change], unchanged: &[(String, String)]) {
        self.manifests.accept(name);
        for c in changes {
            let accepted = self.components.entry(c.component.clone()).or_default();
            if let Some(from) = &c.from {
                accepted.accept(from);
            }
            accepted.accept(&c.to);
        }
        for (component, artifact) in unchanged {
            self.components
                .entry(component.clone())
                .or_default()
                .accept(artifact);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(from: &str, to: &str) -> Change {
        Change {
            component: component_key("ecu", "e1"),
            from: Some(from.into()),
            to: to.into(),
        }
    }

    /// v1 then v2 deployed, each moving the ECU forward.
    fn history() -> Ledger {
        let mut l = Ledger::default();
        l.record("v1", &[change("ecu-v0", "ecu-v1")], &[]);
        l.record("v2", &[change("ecu-v1", "ecu-v2")], &[]);
        l
    }

    #[test]
    fn what_counts_as_older() {
        let l = history();
        // (Manifest, current Manifest, change, refused for the Manifest, for the component)
        let table = [
            ("v3", "v2", change("ecu-v2", "ecu-v3"), false, false),
            ("v1", "v2", change("ecu-v2", "ecu-v1"), true, true),
            // A replayed name even with new contents.
            ("v1", "v2", change("ecu-v2", "ecu-v3"), true, false),
            // An old component Artifact under a new Manifest name.
            ("v3", "v2", change("ecu-v2", "ecu-v0"), false, true),
            // Re-applying the current Manifest (drift) is no downgrade.
            ("v2", "v2", change("ecu-v1", "ecu-v2"), false, false),
            // Never accepted: new.
            ("v0.9", "v2", change("ecu-v2", "ecu-v0.9"), false, false),
        ];
        for (name, current, c, manifest, component) in table {
            let found = l.check(name, Some(current), std::slice::from_ref(&c));
            let m = found
                .iter()
                .any(|d| matches!(d, Downgrade::Manifest { .. }));
            let k = found
                .iter()
                .any(|d| matches!(d, Downgrade::Component { .. }));
            assert_eq!((m, k), (manifest, component), "{name} {c:?}: {found:?}");
        }
    }

    #[test]
    fn a_rollback_keeps_the_high_water_mark() {
        let mut l = history();
        // The System went back to v1 (exempt); recording it changes no number.
        l.record("v1", &[change("ecu-v2", "ecu-v1")], &[]);
        assert_eq!(l, history());
        // So v2 may come again, from v1.
        assert!(l
            .check("v2", Some("v1"), &[change("ecu-v1", "ecu-v2")])
            .is_empty());
        // And v1 stays older than v2 while v1 is not current.
        assert_eq!(l.check("v1", Some("v2"), &[]).len(), 1);
    }

    #[test]
    fn messages_name_both_sides() {
        let l = history();
        let found = l.check("v1", Some("v2"), &[change("ecu-v2", "ecu-v1")]);
        let text: Vec<String> = found.iter().map(|d| d.to_string()).collect();
        assert!(text[0].contains("'v1' is older than 'v2'"), "{text:?}");
        assert!(
            text[1].contains("ecu/e1 would be put on 'ecu-v1' (from 'ecu-v2')"),
            "{text:?}"
        );
    }

    #[test]
    fn the_ledger_compacts_and_forgets_nothing() {
        let mut l = Ledger::default();
        let long = "x".repeat(200);
        for i in 0..(FULL + 50) {
            l.record(
                &format!("m{i}-{long}"),
                &[change(&format!("a{i}"), &format!("a{}", i + 1))],
                &[],
            );
        }
        assert_eq!(l.manifests.names.len(), FULL);
        assert_eq!(l.manifests.compacted.len(), 50);
        assert!(
            !l.manifests.names.contains_key(&format!("m0-{long}")),
            "the oldest is compacted"
        );
        // ... and still refused as a replay, as is an old component Artifact.
        let newest = format!("m{}-{long}", FULL + 49);
        let replay = l.check(&format!("m0-{long}"), Some(&newest), &[]);
        assert!(
            matches!(replay.as_slice(), [Downgrade::Manifest { seq: 1, .. }]),
            "{replay:?}"
        );
        let back = change(&format!("a{}", FULL + 50), "a0");
        assert_eq!(l.check("new", Some(&newest), &[back]).len(), 1);
        assert_eq!(l.components[&component_key("ecu", "e1")].names.len(), FULL);
        // The newest still rank above the rest.
        let last = format!("m{}-{long}", FULL + 48);
        assert_eq!(l.check(&last, Some(&newest), &[]).len(), 1);
        // A compacted name costs a few bytes however long it was.
        let json = serde_json::to_string(&l.manifests.compacted).unwrap();
        assert!(json.len() < 50 * 32, "{} bytes", json.len());
        // Accepting a compacted name again keeps its number.
        let before = l.clone();
        l.record(&format!("m3-{long}"), &[], &[]);
        assert_eq!(l, before);
    }
}
