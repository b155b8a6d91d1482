//! Constraints: the combinations of Artifacts a System may rest in and pass through.
//!
//! The original Orchestrator design names two kinds: *end states* (the combinations that make
//! a working System, each a "System version") and *transitions* (further combinations that are
//! acceptable while moving from one end state to another). Both are tables of
//! [`CombinationPattern`]s over component types.
//!
//! Meaning, decided here and documented in `crds/constraints.schema.json`:
//! - A **combination** is what every component type runs: a [`Combination`] maps each type
//!   to the Artifact names its components run ([`Running`]; normally one name, several when
//!   the components of one type disagree, none when unknown).
//! - A component type **left out** of an entry means *any version*: the entry says nothing
//!   about it (whatever its components run, mixed or unknown included).
//! - A value is an Artifact name (`artifact_name` in Provides), or a **pattern** where each
//!   `*` stands for any run of characters, possibly empty (`rtos-v3.*`, `*-hotfix`); no other
//!   character is special. `*` alone is the same as leaving the type out. A pattern other than
//!   `*` matches a type only when *every* component of the type runs a matching Artifact, so a
//!   type whose components disagree matches only where both names fit, and an unknown one
//!   (nothing observed, or a type the System does not have) matches only `*`.
//!
//! Pure: no IO.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::ComponentType;

/// One value of an entry: an Artifact name, or a pattern with `*`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NamePattern {
    text: String,
    /// The text split at each `*`; one part means no `*` (an exact name).
    parts: Vec<String>,
}

impl NamePattern {
    /// Parses a value as written; it must not be empty.
    pub fn new(text: impl Into<String>) -> Result<Self, String> {
        let text = text.into();
        if text.is_empty() {
            return Err("an Artifact name or pattern must not be empty".into());
        }
        let parts = text.split('*').map(str::to_owned).collect();
        Ok(Self { text, parts })
    }

    /// The value as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True for `*`, `**`...: any version, unknown included.
    pub fn is_any(&self) -> bool {
        self.parts.iter().all(String::is_empty)
    }

    /// Whether one Artifact name fits.
    pub fn matches_name(&self, name: &str) -> bool {
        let (first, rest) = self
            .parts
            .split_first()
            .expect("split gives one part at least");
        let Some(last) = rest.last() else {
            return name == first;
        };
        let Some(mut tail) = name.strip_prefix(first.as_str()) else {
            return false;
        };
        // Leftmost match of each middle part keeps the most room for the ones after it.
        for mid in &rest[..rest.len() - 1] {
            match tail.find(mid.as_str()) {
                Some(i) => tail = &tail[i + mid.len()..],
                None => return false,
            }
        }
        tail.len() >= last.len() && tail.ends_with(last.as_str())
    }

    /// Whether a component type running `running` fits (see the module docs).
    pub fn matches(&self, running: &Running) -> bool {
        self.is_any() || (!running.0.is_empty() && running.0.iter().all(|n| self.matches_name(n)))
    }
}

impl TryFrom<String> for NamePattern {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::new(s)
    }
}

impl From<NamePattern> for String {
    fn from(p: NamePattern) -> String {
        p.text
    }
}

impl fmt::Display for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The Artifact names the components of one type run: one normally, several when they
/// disagree, none when unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Running(pub BTreeSet<String>);

impl Running {
    pub fn one(name: impl Into<String>) -> Self {
        Self(BTreeSet::from([name.into()]))
    }
    /// The single name every component runs, if they agree and it is known.
    pub fn single(&self) -> Option<&str> {
        match self.0.len() {
            1 => self.0.first().map(String::as_str),
            _ => None,
        }
    }
}

impl fmt::Display for Running {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.len() {
            0 => f.write_str("(unknown)"),
            1 => f.write_str(self.0.first().map(String::as_str).unwrap_or_default()),
            _ => {
                let names: Vec<&str> = self.0.iter().map(String::as_str).collect();
                write!(f, "[{}]", names.join(" | "))
            }
        }
    }
}

/// What every component type of a System runs (observed, planned or passed through).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Combination(pub BTreeMap<ComponentType, Running>);

impl Combination {
    /// What the components of `t` run; unknown when the System has no such type.
    pub fn running(&self, t: &ComponentType) -> Running {
        self.0.get(t).cloned().unwrap_or_default()
    }

    /// Builds a combination from what each component runs (`(type, artifact_name)` pairs,
    /// one per component; `None` when a component's Artifact is not known).
    pub fn from_components<'a>(
        components: impl IntoIterator<Item = (&'a ComponentType, Option<&'a str>)>,
    ) -> Self {
        let mut out: BTreeMap<ComponentType, Running> = BTreeMap::new();
        let mut unknown: BTreeSet<ComponentType> = BTreeSet::new();
        for (t, name) in components {
            let slot = out.entry(t.clone()).or_default();
            match name {
                Some(n) => {
                    slot.0.insert(n.to_owned());
                }
                None => {
                    unknown.insert(t.clone());
                }
            }
        }
        // One component of unknown software makes its whole type unknown: nothing can be
        // promised about it.
        for t in unknown {
            out.insert(t, Running::default());
        }
        Self(out)
    }
}

/// `gateway=gateway-v1, rtos=rtos-v3`.
fn write_pairs<V: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    pairs: &BTreeMap<ComponentType, V>,
) -> fmt::Result {
    for (i, (t, v)) in pairs.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{t}={v}")?;
    }
    Ok(())
}

impl fmt::Display for Combination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_pairs(f, &self.0)
    }
}

/// One entry of a table: component type -> Artifact name or pattern. Types left out: any.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CombinationPattern(pub BTreeMap<ComponentType, NamePattern>);

impl CombinationPattern {
    pub fn matches(&self, c: &Combination) -> bool {
        self.0.iter().all(|(t, p)| p.matches(&c.running(t)))
    }
}

impl fmt::Display for CombinationPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_pairs(f, &self.0)
    }
}

/// A working combination of the System, named by its System version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndState {
    pub name: String,
    pub artifacts: CombinationPattern,
}

/// A combination acceptable on the way between end states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub artifacts: CombinationPattern,
}

/// A validated constraints document (`kind: constraints`): end state names are unique.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constraints {
    pub end_states: Vec<EndState>,
    pub transitions: Vec<Transition>,
}

impl Constraints {
    /// No entry at all: nothing is constrained.
    pub fn is_empty(&self) -> bool {
        self.end_states.is_empty() && self.transitions.is_empty()
    }

    /// The System version `c` is: the first end state, in file order, that it matches.
    pub fn system_version(&self, c: &Combination) -> Option<&EndState> {
        self.end_states.iter().find(|e| e.artifacts.matches(c))
    }

    /// Every entry a System may pass through: end states, then transitions.
    pub fn passable(&self) -> impl Iterator<Item = &CombinationPattern> {
        self.end_states
            .iter()
            .map(|e| &e.artifacts)
            .chain(self.transitions.iter().map(|t| &t.artifacts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ct(s: &str) -> ComponentType {
        ComponentType::new(s).unwrap()
    }

    fn running(names: &[&str]) -> Running {
        Running(names.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn patterns_match_names_as_documented() {
        let table: &[(&str, &str, bool)] = &[
            ("rtos-v3", "rtos-v3", true),
            ("rtos-v3", "rtos-v30", false),
            ("rtos-v3", "RTOS-v3", false),
            ("*", "", true),
            ("*", "anything", true),
            ("rtos-v3.*", "rtos-v3.1", true),
            ("rtos-v3.*", "rtos-v3.", true),
            ("rtos-v3.*", "rtos-v3", false),
            ("*-hotfix", "gw-2-hotfix", true),
            ("*-hotfix", "gw-2-hotfix-2", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "acb", false),
            ("ab*ba", "aba", false),
            ("ab*ba", "abba", true),
            ("**", "x", true),
            ("x?[y]", "x?[y]", true),
            ("x?[y]", "xa[y]", false),
        ];
        for (pattern, name, want) in table {
            let p = NamePattern::new(*pattern).unwrap();
            assert_eq!(p.matches_name(name), *want, "{pattern:?} vs {name:?}");
        }
        assert!(NamePattern::new("").is_err());
    }

    #[test]
    fn every_component_of_a_type_must_fit_and_unknown_fits_only_any() {
        let exact = NamePattern::new("rtos-v3").unwrap();
        let glob = NamePattern::new("rtos-v3*").unwrap();
        let any = NamePattern::new("*").unwrap();
        let mixed = running(&["rtos-v3", "rtos-v3.1"]);
        assert!(!exact.matches(&mixed));
        assert!(glob.matches(&mixed));
        assert!(!exact.matches(&Running::default()));
        assert!(!glob.matches(&Running::default()));
        assert!(any.matches(&Running::default()));
        assert!(any.matches(&mixed));
    }

    #[test]
    fn an_omitted_type_means_any_version_and_the_first_end_state_names_the_system() {
        let pat = |pairs: &[(&str, &str)]| {
            CombinationPattern(
                pairs
                    .iter()
                    .map(|(t, p)| (ct(t), NamePattern::new(*p).unwrap()))
                    .collect(),
            )
        };
        let c = Constraints {
            end_states: vec![
                EndState {
                    name: "v.1".into(),
                    artifacts: pat(&[("gateway", "gateway-v1"), ("rtos", "rtos-v1")]),
                },
                EndState {
                    name: "v.2".into(),
                    artifacts: pat(&[("gateway", "gateway-v2")]),
                },
            ],
            transitions: vec![],
        };
        let sys = |g: &str, r: &[&str]| {
            Combination(BTreeMap::from([
                (ct("gateway"), Running::one(g)),
                (ct("rtos"), running(r)),
            ]))
        };
        let version = |s: &Combination| c.system_version(s).map(|e| e.name.as_str());
        assert_eq!(version(&sys("gateway-v1", &["rtos-v1"])), Some("v.1"));
        assert_eq!(
            version(&sys("gateway-v2", &["rtos-v9", "rtos-v1"])),
            Some("v.2")
        );
        assert_eq!(version(&sys("gateway-v2", &[])), Some("v.2"));
        assert_eq!(version(&sys("gateway-v1", &["rtos-v1", "rtos-v2"])), None);
        assert_eq!(
            sys("gateway-v1", &["rtos-v1", "rtos-v2"]).to_string(),
            "gateway=gateway-v1, rtos=[rtos-v1 | rtos-v2]"
        );
    }

    #[test]
    fn a_type_with_one_unknown_component_is_unknown() {
        let (g, r) = (ct("gateway"), ct("rtos"));
        let c = Combination::from_components([
            (&g, Some("gateway-v1")),
            (&r, Some("rtos-v1")),
            (&r, None),
        ]);
        assert_eq!(c.running(&g), Running::one("gateway-v1"));
        assert_eq!(c.running(&r), Running::default());
        assert_eq!(c.running(&ct("cam")), Running::default());
    }
}
