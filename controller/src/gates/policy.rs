//! The update policy: whether an offered Manifest is installed at all (pure).
//!
//! Decided before any Interface call, from the names alone: the offered Manifest against the
//! one the System deployed last. `any` accepts everything (what baton always did); `latest`
//! accepts a Manifest whose version is newer than the deployed one's, and says the System is
//! up to date (reason `NotNewer`) otherwise; `pinned` accepts only the pinned name (reason
//! `NotPinned`). The Manifest already deployed is always accepted (so drift is still
//! corrected), and so is the System's own rollback action (the reconciler does not ask).
//!
//! A version is taken out of the Manifest's name by `VersionPattern` (one capture group;
//! default: the trailing dotted number, `system-v2.10.1` -> `2.10.1`); its numbers (runs of
//! digits) are compared one by one, a missing one counting as 0 (`1.2` = `1.2.0` < `1.10`).

use std::cmp::Ordering;
use std::fmt;

use regex::{Regex, RegexBuilder};

use crate::config::{PolicyMode, UpdatePolicy};
use crate::model::Reason;
use crate::resource::LoadedManifest;

/// The trailing dotted number of a name.
pub const DEFAULT_PATTERN: &str = r"([0-9]+(?:\.[0-9]+)*)$";

/// A compiled pattern stays small whatever the configuration holds.
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// A version: its numbers, in order.
#[derive(Debug, Clone)]
pub struct Version(pub Vec<u64>);

impl Version {
    /// The runs of digits in `text` (`None` when there is none, or one overflows).
    pub fn parse(text: &str) -> Option<Version> {
        let parts: Option<Vec<u64>> = text
            .split(|c: char| !c.is_ascii_digit())
            .filter(|p| !p.is_empty())
            .map(|p| p.parse().ok())
            .collect();
        parts.filter(|p| !p.is_empty()).map(Version)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let n = self.0.len().max(other.0.len());
        let at = |v: &Version, i: usize| v.0.get(i).copied().unwrap_or(0);
        (0..n)
            .map(|i| at(self, i).cmp(&at(other, i)))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}
impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Version {}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u64::to_string).collect();
        f.write_str(&parts.join("."))
    }
}

/// The policy in force.
#[derive(Debug, Clone)]
pub struct Policy {
    mode: PolicyMode,
    pinned: Option<String>,
    pattern: Regex,
    custom_pattern: bool,
}

/// What the policy says about an offered Manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyVerdict {
    Accept,
    /// Not installed: `NotNewer` (up to date) or `NotPinned`.
    Hold {
        reason: Reason,
        message: String,
    },
}

/// A Manifest as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Named<'a> {
    pub name: &'a str,
    pub sha256: &'a str,
}

impl Default for Policy {
    fn default() -> Self {
        Self::from_config(&UpdatePolicy {
            mode: PolicyMode::Any,
            pinned: None,
            version_pattern: None,
        })
        .expect("the default policy is valid")
    }
}

impl Policy {
    /// Checks what a schema cannot: `pinned` needs `Pinned`, and the pattern must compile
    /// with exactly one capture group. Errors name the key.
    pub fn from_config(c: &UpdatePolicy) -> Result<Policy, String> {
        if c.mode == PolicyMode::Pinned && c.pinned.as_deref().is_none_or(str::is_empty) {
            return Err(
                "UpdatePolicy.Pinned: Mode `pinned` needs the Manifest name to accept".into(),
            );
        }
        let text = c.version_pattern.as_deref().unwrap_or(DEFAULT_PATTERN);
        let pattern = RegexBuilder::new(text)
            .size_limit(PATTERN_SIZE_LIMIT)
            .build()
            .map_err(|e| {
                format!("UpdatePolicy.VersionPattern: `{text}` is not a regular expression: {e}")
            })?;
        if pattern.captures_len() != 2 {
            return Err(format!(
                "UpdatePolicy.VersionPattern: `{text}` has {} capture groups (expected exactly one, around the version)",
                pattern.captures_len() - 1
            ));
        }
        Ok(Policy {
            mode: c.mode,
            pinned: c.pinned.clone(),
            pattern,
            custom_pattern: c.version_pattern.is_some(),
        })
    }

    pub fn mode(&self) -> PolicyMode {
        self.mode
    }

    /// The policy in words, as history records it (`any`, `latest`, `pinned: system-v2`).
    pub fn describe(&self) -> String {
        match self.mode {
            PolicyMode::Any => "any".into(),
            PolicyMode::Latest if self.custom_pattern => {
                format!("latest (VersionPattern `{}`)", self.pattern.as_str())
            }
            PolicyMode::Latest => "latest".into(),
            PolicyMode::Pinned => format!("pinned: {}", self.pinned.as_deref().unwrap_or("")),
        }
    }

    /// The version in a Manifest's name.
    pub fn version(&self, name: &str) -> Option<Version> {
        let caps = self.pattern.captures(name)?;
        Version::parse(caps.get(1)?.as_str())
    }

    /// The verdict on `offered`, given the Manifest deployed last (if any).
    pub fn verdict(&self, offered: Named<'_>, deployed: Option<Named<'_>>) -> PolicyVerdict {
        if deployed.is_some_and(|d| d.sha256 == offered.sha256) {
            return PolicyVerdict::Accept;
        }
        match self.mode {
            PolicyMode::Any => PolicyVerdict::Accept,
            PolicyMode::Pinned => {
                let pinned = self.pinned.as_deref().unwrap_or("");
                if offered.name == pinned {
                    PolicyVerdict::Accept
                } else {
                    PolicyVerdict::Hold {
                        reason: Reason::NotPinned,
                        message: format!(
                            "'{}' is not the pinned Manifest '{pinned}' (UpdatePolicy pinned): nothing installed",
                            offered.name
                        ),
                    }
                }
            }
            PolicyMode::Latest => self.latest(offered, deployed),
        }
    }

    /// [`Policy::verdict`] on Manifests as loaded: `Some` with the reason and the words when
    /// the policy holds `offered` back.
    pub fn hold(
        &self,
        offered: &LoadedManifest,
        deployed: Option<&LoadedManifest>,
    ) -> Option<(Reason, String)> {
        fn named(m: &LoadedManifest) -> Named<'_> {
            Named {
                name: &m.manifest.name,
                sha256: &m.sha256,
            }
        }
        match self.verdict(named(offered), deployed.map(named)) {
            PolicyVerdict::Accept => None,
            PolicyVerdict::Hold { reason, message } => Some((reason, message)),
        }
    }

    fn latest(&self, offered: Named<'_>, deployed: Option<Named<'_>>) -> PolicyVerdict {
        let hold = |message: String| PolicyVerdict::Hold {
            reason: Reason::NotNewer,
            message,
        };
        let Some(new) = self.version(offered.name) else {
            return hold(format!(
                "'{}' has no version the UpdatePolicy's pattern `{}` finds: not installed (UpdatePolicy latest)",
                offered.name,
                self.pattern.as_str()
            ));
        };
        // Nothing deployed yet, or a deployed name without a version: anything is newer.
        let Some((old, old_name)) =
            deployed.and_then(|d| self.version(d.name).map(|v| (v, d.name)))
        else {
            return PolicyVerdict::Accept;
        };
        if new > old {
            PolicyVerdict::Accept
        } else {
            hold(format!(
                "'{}' (version {new}) is not newer than the deployed '{old_name}' (version {old}): up to date (UpdatePolicy latest)",
                offered.name
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy(mode: PolicyMode, pinned: Option<&str>, pattern: Option<&str>) -> Policy {
        Policy::from_config(&UpdatePolicy {
            mode,
            pinned: pinned.map(str::to_string),
            version_pattern: pattern.map(str::to_string),
        })
        .unwrap()
    }

    fn n(name: &str) -> Named<'_> {
        Named { name, sha256: name }
    }

    #[test]
    fn versions_compare_number_by_number() {
        let v = |s: &str| Version::parse(s).unwrap();
        assert!(v("1.10") > v("1.9"));
        assert_eq!(v("1.2"), v("1.2.0"));
        assert!(v("2") > v("1.99.99"));
        assert!(v("2024-05") > v("2024-4"));
        assert!(Version::parse("abc").is_none());
        assert!(Version::parse("99999999999999999999999").is_none());
        assert_eq!(v("v01.002").to_string(), "1.2");
    }

    #[test]
    fn the_policy_table() {
        use PolicyMode::*;
        let accept = || PolicyVerdict::Accept;
        type Row<'a> = (&'a str, Policy, &'a str, Option<&'a str>, Option<Reason>);
        let rows: Vec<Row> = vec![
            (
                "any takes an older one",
                policy(Any, None, None),
                "sys-1.0",
                Some("sys-2.0"),
                None,
            ),
            (
                "latest: newer",
                policy(Latest, None, None),
                "sys-1.10",
                Some("sys-1.9"),
                None,
            ),
            (
                "latest: older",
                policy(Latest, None, None),
                "sys-1.9",
                Some("sys-1.10"),
                Some(Reason::NotNewer),
            ),
            (
                "latest: the same version",
                policy(Latest, None, None),
                "other-1.2.0",
                Some("sys-1.2"),
                Some(Reason::NotNewer),
            ),
            (
                "latest: nothing deployed",
                policy(Latest, None, None),
                "sys-0.1",
                None,
                None,
            ),
            (
                "latest: deployed has no version",
                policy(Latest, None, None),
                "sys-0.1",
                Some("factory"),
                None,
            ),
            (
                "latest: offered has no version",
                policy(Latest, None, None),
                "sys-next",
                Some("sys-1"),
                Some(Reason::NotNewer),
            ),
            (
                "latest: the deployed one again (drift)",
                policy(Latest, None, None),
                "sys-1",
                Some("sys-1"),
                None,
            ),
            (
                "latest with a pattern",
                policy(Latest, None, Some(r"^release-(\d+\.\d+)-")),
                "release-2.1-rc3",
                Some("release-2.0-final"),
                None,
            ),
            (
                "pinned: the pinned one",
                policy(Pinned, Some("sys-2"), None),
                "sys-2",
                Some("sys-3"),
                None,
            ),
            (
                "pinned: another",
                policy(Pinned, Some("sys-2"), None),
                "sys-3",
                Some("sys-1"),
                Some(Reason::NotPinned),
            ),
            (
                "pinned: what runs is kept",
                policy(Pinned, Some("sys-2"), None),
                "sys-1",
                Some("sys-1"),
                None,
            ),
        ];
        for (what, p, offered, deployed, want) in rows {
            let got = p.verdict(n(offered), deployed.map(n));
            match (want, &got) {
                (None, v) => assert_eq!(v, &accept(), "{what}"),
                (Some(r), PolicyVerdict::Hold { reason, message }) => {
                    assert_eq!(*reason, r, "{what}");
                    assert!(message.contains(offered), "{what}: {message}");
                }
                (Some(_), v) => panic!("{what}: {v:?}"),
            }
        }
    }

    #[test]
    fn messages_say_why() {
        let p = policy(PolicyMode::Latest, None, None);
        let PolicyVerdict::Hold { message, .. } = p.verdict(n("sys-1.9"), Some(n("sys-1.10")))
        else {
            panic!()
        };
        assert_eq!(message, "'sys-1.9' (version 1.9) is not newer than the deployed 'sys-1.10' (version 1.10): up to date (UpdatePolicy latest)");
        assert_eq!(p.describe(), "latest");
        assert_eq!(
            policy(PolicyMode::Pinned, Some("a"), None).describe(),
            "pinned: a"
        );
    }

    #[test]
    fn bad_settings_name_the_key() {
        let e = |mode, pinned: Option<&str>, pattern: Option<&str>| {
            Policy::from_config(&UpdatePolicy {
                mode,
                pinned: pinned.map(str::to_string),
                version_pattern: pattern.map(str::to_string),
            })
            .unwrap_err()
        };
        assert!(e(PolicyMode::Pinned, None, None).starts_with("UpdatePolicy.Pinned"));
        let two = e(PolicyMode::Latest, None, Some(r"(\d+)\.(\d+)"));
        assert!(two.contains("has 2 capture groups"), "{two}");
        let none = e(PolicyMode::Latest, None, Some(r"\d+"));
        assert!(none.contains("has 0 capture groups"), "{none}");
        let bad = e(PolicyMode::Latest, None, Some("(["));
        assert!(
            bad.starts_with("UpdatePolicy.VersionPattern: `([` is not a regular expression"),
            "{bad}"
        );
    }

    proptest! {
        #[test]
        fn latest_accepts_exactly_the_strictly_newer(a in proptest::collection::vec(0u64..20, 1..4),
                                                     b in proptest::collection::vec(0u64..20, 1..4)) {
            let name = |v: &[u64]| format!("sys-{}", v.iter().map(u64::to_string).collect::<Vec<_>>().join("."));
            let (na, nb) = (name(&a), name(&b));
            let p = policy(PolicyMode::Latest, None, None);
            let accepted = p.verdict(n(&na), Some(n(&nb))) == PolicyVerdict::Accept;
            let newer = Version(a.clone()) > Version(b.clone());
            prop_assert_eq!(accepted, newer || na == nb);
            // Antisymmetric: never both ways, unless the same name.
            let back = p.verdict(n(&nb), Some(n(&na))) == PolicyVerdict::Accept;
            prop_assert!(!(accepted && back) || na == nb);
        }
    }
}
