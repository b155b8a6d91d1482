//! What a deployment would do now (`baton plan`), and the check that a deployment runs the
//! plan that was reviewed (`--plan-hash`).
//!
//! The description is made from what planning finds, the same step a deployment takes before
//! its first state: the components are asked `Identity` and `Provides` (queries only, no
//! state), the Artifacts resolved and their headers read, the plan made, the constraints
//! checked ([`super::constrain`]). Its `planHash` is [`crate::planner::plan_hash`]; a
//! deployment given a hash makes the description again, before anything is touched, and is
//! refused with `PlanChanged` when the hashes differ.
//!
//! Every description the engine gives is kept in `<datastore>/plans/<hex>.json` (the newest
//! [`KEEP`]), so a refusal can say *what* changed; a hash that is not kept (another device,
//! or long ago) is refused with the plan as it is now.

use std::path::{Path, PathBuf};

use super::error::EngineError;
use super::live::Engine;
use super::prepare::Prepared;
use super::problem::Problem;
use crate::durable;
use crate::model::Reason;
use crate::planner::{self, ManifestRef, PlanComponent, PlanDescription, PlanGroup};
use crate::resource::LoadedManifest;

/// How many reviewed plans are kept.
pub const KEEP: usize = 16;
const DIR: &str = "plans";

/// What `baton plan` shows: the plan, when one could be made, and every reason the deployment
/// would be refused now (the constraints' included).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanReport {
    pub plan: Option<PlanDescription>,
    pub problems: Vec<Problem>,
}

impl PlanReport {
    /// A deployment of it now would be refused.
    pub fn refused(&self) -> bool {
        !self.problems.is_empty()
            || self
                .plan
                .as_ref()
                .is_none_or(|p| p.constraints.is_refused())
    }
}

/// The description of a prepared deployment: per order group, every component of the
/// Topology with what it runs, its target, whether it is skipped and the bytes its Download
/// streams; `cached` when the Artifact is on the device already (nothing is fetched for it:
/// the cache, a directory source, a path, a bundle). No estimate: the caller adds one.
pub(super) fn describe(m: &LoadedManifest, p: &Prepared, downloads: &Path) -> PlanDescription {
    let mut groups: Vec<PlanGroup> = Vec::new();
    for (index, (spec, o)) in p.topology.components.iter().zip(&p.observed).enumerate() {
        let t = &spec.component_type;
        let Some(target) = m.manifest.component_types.get(t) else {
            continue;
        };
        let observed = o.as_ref().ok();
        let planned = p.plan.components.iter().find(|c| c.index == index);
        let skipped = p.plan.skipped.iter().find(|c| c.index == index);
        let artifact = p
            .artifacts
            .iter()
            .find(|(at, _)| at == t)
            .map(|(_, path)| path);
        let component = PlanComponent {
            component_type: t.clone(),
            id: observed.map(|o| o.id.to_string()),
            current_artifact: observed
                .and_then(|o| o.provides.artifact(spec.interface.as_str()))
                .map(str::to_owned),
            target_artifact: planned
                .map(|c| c.artifact_name.clone())
                .or_else(|| skipped.map(|c| c.artifact_name.clone()))
                .unwrap_or_default(),
            skipped: skipped.is_some(),
            download_bytes: planned
                .and(artifact)
                .and_then(|a| std::fs::metadata(a).ok())
                .map(|md| md.len()),
            cached: artifact.is_some_and(|a| !a.starts_with(downloads)),
        };
        match groups.iter_mut().find(|g| g.order == target.order) {
            Some(g) => g.components.push(component),
            None => groups.push(PlanGroup {
                order: target.order,
                components: vec![component],
                expected_seconds: None,
            }),
        }
    }
    PlanDescription::new(
        ManifestRef {
            name: m.manifest.name.clone(),
            sha256: m.sha256.clone(),
        },
        groups,
        p.verdict.clone(),
        None,
    )
}

fn file_of(datastore: &Path, hash: &str) -> Option<PathBuf> {
    let hex = hash.strip_prefix("sha256:")?;
    let plain = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    plain.then(|| datastore.join(DIR).join(format!("{hex}.json")))
}

/// Keeps `plan` for a later refusal to say what changed; the oldest beyond [`KEEP`] go. A
/// failure costs only that explanation.
fn keep(datastore: &Path, plan: &PlanDescription) {
    let Some(file) = file_of(datastore, &plan.plan_hash) else {
        return;
    };
    let dir = datastore.join(DIR);
    let bytes = serde_json::to_vec_pretty(plan).expect("plans serialize");
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if let Err(e) =
        std::fs::create_dir_all(&dir).and_then(|()| durable::replace_cache(&dir, name, &bytes))
    {
        tracing::debug!(error = %e, "cannot keep the plan in the datastore");
        return;
    }
    let mut kept: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
                .collect()
        })
        .unwrap_or_default();
    kept.sort();
    let excess = kept.len().saturating_sub(KEEP);
    for (_, old) in kept.into_iter().take(excess) {
        let _ = std::fs::remove_file(old);
    }
}

/// A plan this datastore described, by its hash.
fn reviewed(datastore: &Path, hash: &str) -> Option<PlanDescription> {
    let bytes = std::fs::read(file_of(datastore, hash)?).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The refusal of a deployment whose plan is not the reviewed one (`expected`), saying what
/// changed; `None` when it is the same plan.
pub fn stale(datastore: &Path, expected: &str, now: &PlanDescription) -> Option<Problem> {
    if now.plan_hash == expected {
        return None;
    }
    let what = match reviewed(datastore, expected) {
        Some(before) => {
            let changes = planner::changes(&before, now);
            if changes.is_empty() {
                "the hash differs, every decision is the same (a plan of another baton version?)"
                    .into()
            } else {
                changes.join("; ")
            }
        }
        None => format!(
            "the reviewed plan is not known here (baton keeps its last {KEEP}); the plan now \
             changes {}",
            summary(now)
        ),
    };
    Some(Problem::new(
        Reason::PlanChanged,
        format!(
            "the plan is no longer the one reviewed ({expected}); it is {} now: {what}. \
             Review it again with `baton plan`",
            now.plan_hash
        ),
    ))
}

/// `gateway G1 gateway-v1 -> gateway-v2, ...` (the components that would change).
fn summary(plan: &PlanDescription) -> String {
    let changing: Vec<String> = plan
        .groups
        .iter()
        .flat_map(|g| &g.components)
        .filter(|c| !c.skipped)
        .map(|c| {
            format!(
                "{} {} {} -> {}",
                c.component_type,
                c.id.as_deref().unwrap_or("(no ID)"),
                c.current_artifact.as_deref().unwrap_or("(unknown)"),
                c.target_artifact
            )
        })
        .collect();
    if changing.is_empty() {
        "nothing".into()
    } else {
        changing.join(", ")
    }
}

impl Engine {
    /// `baton plan`: what deploying `m` would do now. Runs queries only; never waits for a
    /// deployment (refuses while one is in flight or in the journal).
    pub(super) async fn plan_now(&self, m: LoadedManifest) -> Result<PlanReport, EngineError> {
        let busy = |b: Option<super::report::InFlight>| match b {
            Some(f) => EngineError::InProgress {
                manifest: f.manifest,
                position: f.position,
            },
            None => EngineError::Busy("the engine is deploying".into()),
        };
        let Some(books) = self.books_for_a_read().await else {
            return Err(busy(self.snapshot.get().1));
        };
        if let Some(r) = &books.record {
            return Err(busy(Some(super::ending::in_flight_of(r))));
        }
        let datastore = &self.eff.dirs.datastore_dir;
        let report = match self.prepare(&m).await {
            Err(problems) => PlanReport {
                plan: None,
                problems,
            },
            Ok(p) => {
                let plan = describe(&m, &p, &self.settings.places(datastore).downloads);
                let mut problems = p.refusal();
                problems.extend(self.downgrades(&m, &p.plan, false));
                keep(datastore, &plan);
                PlanReport {
                    plan: Some(plan),
                    problems,
                }
            }
        };
        // What was fetched to read a header is of no use until a deployment.
        super::sweep::sweep(&self.settings.places(datastore), &self.store, None);
        Ok(report)
    }

    /// The refusal of `p` when its plan is not the reviewed `expected` one.
    pub(super) fn plan_changed(
        &self,
        m: &LoadedManifest,
        p: &Prepared,
        expected: &str,
    ) -> Option<Problem> {
        let now = describe(
            m,
            p,
            &self.settings.places(&self.eff.dirs.datastore_dir).downloads,
        );
        stale(&self.eff.dirs.datastore_dir, expected, &now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ComponentType, Order};
    use crate::planner::Verdict;

    fn plan(rtos_now: &str) -> PlanDescription {
        PlanDescription::new(
            ManifestRef {
                name: "m".into(),
                sha256: "00".into(),
            },
            vec![PlanGroup {
                order: Order::new(1).unwrap(),
                components: vec![PlanComponent {
                    component_type: ComponentType::new("rtos").unwrap(),
                    id: Some("R1".into()),
                    current_artifact: Some(rtos_now.into()),
                    target_artifact: "rtos-v2".into(),
                    skipped: false,
                    download_bytes: Some(10),
                    cached: true,
                }],
                expected_seconds: None,
            }],
            Verdict::Unconstrained,
            None,
        )
    }

    #[test]
    fn a_stale_hash_is_refused_saying_what_changed() {
        let d = tempfile::tempdir().unwrap();
        let reviewed = plan("rtos-v1");
        let now = plan("rtos-v0");
        assert!(stale(d.path(), &reviewed.plan_hash, &reviewed).is_none());
        // Not kept: refused, with the plan as it is now.
        let p = stale(d.path(), &reviewed.plan_hash, &now).unwrap();
        assert_eq!(p.reason, Reason::PlanChanged);
        assert!(
            p.message.contains("not known here")
                && p.message.contains("rtos R1 rtos-v0 -> rtos-v2"),
            "{}",
            p.message
        );
        keep(d.path(), &reviewed);
        let p = stale(d.path(), &reviewed.plan_hash, &now).unwrap();
        assert!(
            p.message
                .contains("rtos R1: runs rtos-v0 now, rtos-v1 when reviewed")
                && p.message.contains(&now.plan_hash),
            "{}",
            p.message
        );
        // A hash that is not one (a path, say) is never read as a file name.
        assert!(file_of(d.path(), "sha256:../../etc/passwd").is_none());
        assert!(stale(d.path(), "nonsense", &now).is_some());
    }

    #[test]
    fn only_the_newest_plans_are_kept() {
        let d = tempfile::tempdir().unwrap();
        for i in 0..KEEP + 3 {
            keep(d.path(), &plan(&format!("rtos-v{i}")));
        }
        let n = std::fs::read_dir(d.path().join(DIR)).unwrap().count();
        assert_eq!(n, KEEP);
    }
}
