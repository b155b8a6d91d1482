//! Which of a Release's Artifacts a component type gets (pure).
//!
//! The server lists the Release's Artifacts for `device_type` = the component type. The one
//! chosen must fit every component of that type: the type among its compatible types and
//! every depends met by each component's Provides (Mender's rules, as for any other
//! source: [`check_depends_on`]). None fitting, or several, is an error that names what did
//! not match; the choice is never a guess.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::super::ServerFailure;
use crate::artifact::check_depends_on;
use crate::model::Provides;

/// One Artifact of a Release, as the device API lists it (fields baton does not use are
/// ignored).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ServerArtifact {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub device_types_compatible: Vec<String>,
    /// Keys to a string or a list of strings; `artifact_name` and `artifact_group` are
    /// checked against the Provides keys of the same names.
    #[serde(default)]
    pub artifact_depends: BTreeMap<String, Value>,
    #[serde(default)]
    pub size: Option<u64>,
}

impl ServerArtifact {
    /// The compatible types: `device_types_compatible`, else `artifact_depends.device_type`.
    fn device_types(&self) -> Vec<String> {
        if self.device_types_compatible.is_empty() {
            self.artifact_depends
                .get("device_type")
                .map(strings)
                .unwrap_or_default()
        } else {
            self.device_types_compatible.clone()
        }
    }

    /// Every depends but the device type, as (Provides key, accepted values).
    fn depends(&self) -> Vec<(String, Vec<String>)> {
        self.artifact_depends
            .iter()
            .filter(|(k, _)| k.as_str() != "device_type")
            .map(|(k, v)| (k.clone(), strings(v)))
            .collect()
    }

    /// Why it does not fit a component of `component_type` reporting `provides`.
    fn misfit(&self, component_type: &str, provides: &Provides) -> Vec<String> {
        let depends = self.depends();
        let view: Vec<(&str, &[String])> = depends
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
        match check_depends_on(&self.device_types(), &view, component_type, provides) {
            Ok(()) => vec![],
            Err(problems) => problems.iter().map(|p| p.to_string()).collect(),
        }
    }
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        other => vec![other.to_string()],
    }
}

/// The one Artifact of `release` in `listed` that fits every component of `component_type`
/// (`provides`: one entry per observed component).
pub fn choose<'a>(
    listed: &'a [ServerArtifact],
    release: &str,
    component_type: &str,
    provides: &[Provides],
) -> Result<&'a ServerArtifact, ServerFailure> {
    let listed: Vec<&ServerArtifact> = listed.iter().filter(|a| a.name == release).collect();
    if listed.is_empty() {
        return Err(ServerFailure::ReleaseNotFound);
    }
    let mut fitting = Vec::new();
    let mut why = Vec::new();
    for a in listed {
        let mut misfits: Vec<String> = Vec::new();
        let any = Provides::default();
        let each: Vec<&Provides> = if provides.is_empty() {
            vec![&any]
        } else {
            provides.iter().collect()
        };
        for (i, p) in each.iter().enumerate() {
            for m in a.misfit(component_type, p) {
                let who = if provides.len() > 1 {
                    format!("component {} of the type: ", i + 1)
                } else {
                    String::new()
                };
                misfits.push(format!("{who}{m}"));
            }
        }
        if misfits.is_empty() {
            fitting.push(a);
        } else {
            why.push(format!("Artifact {}: {}", a.id, misfits.join(", ")));
        }
    }
    match fitting.as_slice() {
        [one] => Ok(one),
        [] => Err(ServerFailure::NoCompatible { why }),
        many => Err(ServerFailure::Ambiguous {
            ids: many.iter().map(|a| a.id.clone()).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn artifact(id: &str, types: &[&str], depends: Value) -> ServerArtifact {
        serde_json::from_value(json!({
            "id": id, "name": "rtos-v2", "device_types_compatible": types,
            "artifact_depends": depends, "size": 10, "signed": false, "description": ""
        }))
        .unwrap()
    }

    fn provides(pairs: &[(&str, &str)]) -> Provides {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_artifact_whose_depends_every_component_meets_is_chosen() {
        let listed = [
            artifact("a-revA", &["rtos"], json!({"hw.rev": "A"})),
            artifact("a-revB", &["rtos"], json!({"hw.rev": ["B", "C"]})),
        ];
        let b = [provides(&[("hw.rev", "B")]), provides(&[("hw.rev", "C")])];
        assert_eq!(choose(&listed, "rtos-v2", "rtos", &b).unwrap().id, "a-revB");
        let a = [provides(&[("hw.rev", "A")])];
        assert_eq!(choose(&listed, "rtos-v2", "rtos", &a).unwrap().id, "a-revA");
    }

    #[test]
    fn none_fitting_names_each_artifact_and_what_did_not_match() {
        let listed = [
            artifact(
                "a1",
                &["rtos"],
                json!({"hw.rev": "A", "artifact_name": ["rtos-v1"]}),
            ),
            artifact("a2", &["gateway"], json!({})),
        ];
        let mixed = [provides(&[("hw.rev", "A"), ("artifact_name", "rtos-v0")])];
        match choose(&listed, "rtos-v2", "rtos", &mixed) {
            Err(ServerFailure::NoCompatible { why }) => {
                let text = why.join("; ");
                assert!(text.contains("Artifact a1: depends on artifact_name in [\"rtos-v1\"], but the component provides artifact_name=rtos-v0"), "{text}");
                assert!(text.contains("Artifact a2: component type \"rtos\" is not in the Artifact's compatible types [\"gateway\"]"), "{text}");
            }
            other => panic!("{other:?}"),
        }
        // Two components of the type, one of which misses a depends: no fit.
        let two = [provides(&[("hw.rev", "A")]), provides(&[("hw.rev", "B")])];
        let listed = [artifact("a1", &["rtos"], json!({"hw.rev": "A"}))];
        let Err(ServerFailure::NoCompatible { why }) = choose(&listed, "rtos-v2", "rtos", &two)
        else {
            panic!()
        };
        assert!(why[0].contains("component 2 of the type"), "{why:?}");
    }

    #[test]
    fn several_fitting_is_ambiguous_and_an_empty_release_is_not_found() {
        let listed = [
            artifact("a1", &["rtos"], json!({})),
            artifact("a2", &["rtos", "gateway"], json!({})),
        ];
        let p = [provides(&[])];
        assert!(matches!(
            choose(&listed, "rtos-v2", "rtos", &p),
            Err(ServerFailure::Ambiguous { ids }) if ids == ["a1", "a2"]
        ));
        assert!(matches!(
            choose(&[], "rtos-v2", "rtos", &p),
            Err(ServerFailure::ReleaseNotFound)
        ));
        // An Artifact of another name is not the Release's, whatever the server says.
        assert!(matches!(
            choose(&listed, "rtos-v3", "rtos", &p),
            Err(ServerFailure::ReleaseNotFound)
        ));
    }

    #[test]
    fn the_device_type_may_come_from_the_depends() {
        let listed = [artifact("a1", &[], json!({"device_type": ["rtos"]}))];
        assert_eq!(choose(&listed, "rtos-v2", "rtos", &[]).unwrap().id, "a1");
    }
}
