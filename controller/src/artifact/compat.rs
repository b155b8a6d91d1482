//! Is an Artifact already installed on a component, and may it be installed there?
//!
//! Pure functions the planner calls, following Mender's "Artifact selection" and
//! "Compatibility checks" documentation:
//! - installed: applying the Artifact's provides and `clears_artifact_provides` to the
//!   component's Provides would change nothing. Keys the Artifact does not clear are kept;
//!   an Artifact without `clears_artifact_provides` clears every key; `artifact_name` is
//!   left out of the comparison unless it is the only key on either side.
//! - compatible: the component type is in `artifact_depends.device_type`; every other
//!   depends key is present in the Provides with one of the listed values; the header-info
//!   `artifact_name` / `artifact_group` depends are checked against the Provides keys
//!   `artifact_name` / `artifact_group`.

use std::collections::BTreeMap;

use crate::model::Provides;

use super::header::ArtifactHeader;

/// One unmet dependency, with what was expected and what the component has.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum DependsProblem {
    /// The component type is not among the Artifact's compatible types.
    DeviceType {
        component_type: String,
        compatible: Vec<String>,
    },
    /// Provides lacks `key`, or has it with a value not in `accepted`.
    Provides {
        key: String,
        accepted: Vec<String>,
        found: Option<String>,
    },
}

impl std::fmt::Display for DependsProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::DeviceType { component_type, compatible } => write!(
                f,
                "component type {component_type:?} is not in the Artifact's compatible types {compatible:?}"
            ),
            Self::Provides { key, accepted, found: None } => {
                write!(f, "depends on {key} in {accepted:?}, but the component does not provide {key}")
            }
            Self::Provides { key, accepted, found: Some(v) } => {
                write!(f, "depends on {key} in {accepted:?}, but the component provides {key}={v}")
            }
        }
    }
}

/// The keys an installed Artifact writes: `artifact_name`, `artifact_group` (if any) and the
/// type-info provides. A list-valued provide is kept as its values joined by `,`: Provides
/// holds single strings only.
fn artifact_provides(header: &ArtifactHeader) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = header
        .provides
        .iter()
        .map(|(k, v)| (k.clone(), v.values().join(",")))
        .collect();
    m.insert("artifact_name".into(), header.name.clone());
    if let Some(g) = &header.group {
        m.insert("artifact_group".into(), g.clone());
    }
    m
}

/// `*` matches any run of characters (possibly empty); everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Whether the component already runs this Artifact (see the module docs).
pub fn is_installed(header: &ArtifactHeader, provides: &Provides) -> bool {
    let new = artifact_provides(header);
    let clears = |key: &str| match &header.clears_provides {
        None => true,
        Some(patterns) => patterns.iter().any(|p| glob(p, key)),
    };
    let mut after: BTreeMap<String, String> = provides
        .iter()
        .filter(|(k, _)| !clears(k))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    after.extend(new.clone());
    let before: BTreeMap<String, String> = provides
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let only_name = |m: &BTreeMap<String, String>| m.len() == 1 && m.contains_key("artifact_name");
    let keep_name = only_name(&new) || only_name(&before);
    let strip = |mut m: BTreeMap<String, String>| {
        if !keep_name {
            m.remove("artifact_name");
        }
        m
    };
    strip(after) == strip(before)
}

/// Whether the Artifact may be installed on a component of `component_type` that reports
/// `provides`; every unmet dependency otherwise.
pub fn check_depends(
    header: &ArtifactHeader,
    component_type: &str,
    provides: &Provides,
) -> Result<(), Vec<DependsProblem>> {
    let mut depends: Vec<(&str, &[String])> = Vec::new();
    if !header.depends_artifact_names.is_empty() {
        depends.push(("artifact_name", &header.depends_artifact_names));
    }
    if !header.depends_groups.is_empty() {
        depends.push(("artifact_group", &header.depends_groups));
    }
    for (key, value) in &header.depends {
        depends.push((key, value.values()));
    }
    check_depends_on(&header.device_types, &depends, component_type, provides)
}

/// [`check_depends`] on an Artifact described by its compatible types and its depends
/// (`artifact_name` and `artifact_group` as Provides keys), e.g. as a server lists it.
pub fn check_depends_on(
    device_types: &[String],
    depends: &[(&str, &[String])],
    component_type: &str,
    provides: &Provides,
) -> Result<(), Vec<DependsProblem>> {
    let mut problems = Vec::new();
    if !device_types.iter().any(|t| t == component_type) {
        problems.push(DependsProblem::DeviceType {
            component_type: component_type.to_owned(),
            compatible: device_types.to_vec(),
        });
    }
    for (key, accepted) in depends {
        let found = provides.get(key);
        if !found.is_some_and(|v| accepted.iter().any(|a| a == v)) {
            problems.push(DependsProblem::Provides {
                key: (*key).to_owned(),
                accepted: accepted.to_vec(),
                found: found.map(str::to_owned),
            });
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::header::ProvideValue;
    use crate::artifact::testkit::sample_header;

    fn provides(pairs: &[(&str, &str)]) -> Provides {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn glob_matches_runs() {
        let t = [
            ("rootfs-image.rtos.*", "rootfs-image.rtos.version", true),
            ("rootfs-image.rtos.*", "rootfs-image.rtos.", true),
            ("rootfs-image.rtos.*", "rootfs-image.other.version", false),
            ("*", "anything", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("*.version", "x.version", true),
            ("a*a", "a", false),
        ];
        for (p, s, want) in t {
            assert_eq!(glob(p, s), want, "{p} vs {s}");
        }
    }

    /// The table from Mender's "Artifact selection" page: rtos-v2 depends on rtos-v1.
    #[test]
    fn mender_docs_selection_example() {
        let mut h = sample_header("rtos-v2", "rtos-interface", &["rtos"]);
        h.depends.insert(
            "rootfs-image.rtos-interface.version".into(),
            ProvideValue::Many(vec!["rtos-v1".into()]),
        );
        let key = "rootfs-image.rtos-interface.version";
        let r123 = provides(&[(key, "rtos-v1")]);
        let r456 = provides(&[(key, "rtos-v2")]);
        let r789 = provides(&[(key, "rtos-v0")]);
        assert!(!is_installed(&h, &r123));
        assert!(check_depends(&h, "rtos", &r123).is_ok());
        assert!(is_installed(&h, &r456));
        assert!(!is_installed(&h, &r789));
        let problems = check_depends(&h, "rtos", &r789).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].to_string().contains("rtos-v0"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn installed_table() {
        let key = "rootfs-image.rtos-interface.version";
        let h = sample_header("rtos-v2", "rtos-interface", &["rtos"]);
        let mut no_clears = h.clone();
        no_clears.clears_provides = None;
        let mut only_name = h.clone();
        only_name.provides.clear();
        let mut grouped = h.clone();
        grouped.group = Some("g1".into());
        let cases: Vec<(&str, &ArtifactHeader, Provides, bool)> = vec![
            ("same version", &h, provides(&[(key, "rtos-v2")]), true),
            ("other version", &h, provides(&[(key, "rtos-v1")]), false),
            ("nothing provided", &h, provides(&[]), false),
            (
                "uncleared extra key kept",
                &h,
                provides(&[(key, "rtos-v2"), ("hw.rev", "3")]),
                true,
            ),
            (
                "cleared extra key would go",
                &h,
                provides(&[(key, "rtos-v2"), ("rootfs-image.rtos-interface.extra", "x")]),
                false,
            ),
            (
                "no clears: every key cleared",
                &no_clears,
                provides(&[(key, "rtos-v2"), ("hw.rev", "3")]),
                false,
            ),
            (
                "no clears, same keys",
                &no_clears,
                provides(&[(key, "rtos-v2")]),
                true,
            ),
            (
                "artifact_name ignored",
                &h,
                provides(&[(key, "rtos-v2"), ("artifact_name", "old")]),
                true,
            ),
            (
                "only artifact_name on the artifact",
                &only_name,
                provides(&[("artifact_name", "rtos-v2")]),
                true,
            ),
            (
                "only artifact_name, other value",
                &only_name,
                provides(&[("artifact_name", "rtos-v1")]),
                false,
            ),
            (
                "only artifact_name on the component",
                &h,
                provides(&[("artifact_name", "rtos-v2")]),
                false,
            ),
            (
                "group must be provided",
                &grouped,
                provides(&[(key, "rtos-v2")]),
                false,
            ),
            (
                "group provided",
                &grouped,
                provides(&[(key, "rtos-v2"), ("artifact_group", "g1")]),
                true,
            ),
        ];
        for (what, h, p, want) in cases {
            assert_eq!(is_installed(h, &p), want, "{what}");
        }
    }

    #[test]
    fn depends_table() {
        let mut h = sample_header("rtos-v2", "rtos-interface", &["rtos", "rtos-b"]);
        h.depends_artifact_names = vec!["rtos-v1".into(), "rtos-v1b".into()];
        h.depends_groups = vec!["stable".into()];
        h.depends
            .insert("hw.rev".into(), ProvideValue::One("3".into()));
        let good = provides(&[
            ("artifact_name", "rtos-v1b"),
            ("artifact_group", "stable"),
            ("hw.rev", "3"),
        ]);
        assert!(check_depends(&h, "rtos-b", &good).is_ok());
        let problems = check_depends(&h, "gateway", &provides(&[("hw.rev", "4")])).unwrap_err();
        let keys: Vec<String> = problems
            .iter()
            .map(|p| match p {
                DependsProblem::DeviceType { .. } => "device_type".into(),
                DependsProblem::Provides { key, .. } => key.clone(),
            })
            .collect();
        assert_eq!(
            keys,
            ["device_type", "artifact_name", "artifact_group", "hw.rev"]
        );
    }
}
