//! Everything before the first state: the Topology, what every component runs, every
//! Artifact resolved and its header checked, the plan, downgrade protection and the bundle
//! verified. Any problem is a [`Problem`] with its [`Reason`]; nothing is touched here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::Semaphore;

use super::ending::now;
use super::exec::each_member;
use super::header_memo::{self, HeaderMemo, MemoKey};
use super::live::Engine;
use super::plan::{self, Candidate, Observed, Plan};
use super::problem::Problem;
use super::record::DeploymentRecord;
use super::report::{ComponentObservation, Observation};
use super::store::Slot;
use super::{accepted, constrain, downgrade};
use crate::artifact::source::ArtifactLocator;
use crate::artifact::{self, ArtifactHeader};
use crate::interface::runner::{query_work_dir, Invocation};
use crate::model::{ComponentType, Provides, Reason, Topology};
use crate::planner::Verdict;
use crate::resource::{self, LoadedManifest};

/// Interfaces asked at once while observing the System.
const OBSERVE_PARALLELISM: usize = 16;

/// What a deployment needs, found: the plan, each component type's Artifact, and the
/// constraints' verdict on it.
pub(super) struct Prepared {
    pub plan: Plan,
    pub artifacts: Vec<(ComponentType, PathBuf)>,
    pub verdict: Verdict,
    /// The constraints file the verdict comes from, when there is one.
    pub constraints_file: Option<PathBuf>,
    pub topology: Topology,
    /// What every component of the Topology answered, in its order.
    pub observed: Vec<Result<Observed, String>>,
}

impl Prepared {
    /// The constraints' refusal as problems (none when they accept).
    pub fn refusal(&self) -> Vec<Problem> {
        constrain::problems(self.constraints_file.as_deref(), &self.verdict)
    }
}

/// An observation from what the components answered.
pub(super) fn observation_of(
    topology: &Topology,
    observed: Vec<Result<Observed, String>>,
    system_version: Option<String>,
) -> Observation {
    let components = topology
        .components
        .iter()
        .zip(observed)
        .enumerate()
        .map(|(index, (spec, o))| {
            let (id, provides, error) = match o {
                Ok(o) => (Some(o.id.to_string()), o.provides, None),
                Err(e) => (None, Provides::default(), Some(e)),
            };
            ComponentObservation {
                index,
                component_type: spec.component_type.to_string(),
                interface: spec.interface.to_string(),
                id,
                provides,
                error,
            }
        })
        .collect();
    Observation {
        system_type: topology.system_type.clone(),
        components,
        taken_at: now(),
        live: true,
        system_version,
    }
}

impl Engine {
    pub(super) fn topology(&self) -> Result<Topology, super::error::EngineError> {
        resource::load_topology(
            &self.eff.dirs.topology_file,
            self.eff.config.topology_components.as_deref(),
        )
        .inspect(|t| self.metrics.topology_loaded(t))
        .map_err(super::error::EngineError::Topology)
    }

    /// `Identity` then `Provides` for every component, a bounded number at a time; what
    /// they answered is kept as the last observation.
    pub(super) async fn observe_topology(
        &self,
        topology: &Topology,
    ) -> Vec<Result<Observed, String>> {
        let gate = Arc::new(Semaphore::new(OBSERVE_PARALLELISM));
        let datastore = &self.eff.dirs.datastore_dir;
        let all: Vec<usize> = (0..topology.components.len()).collect();
        let asks = each_member(&all, |i| {
            let spec = &topology.components[i];
            let gate = gate.clone();
            let runner = self.runner.clone();
            let external = self.settings.externals.get(&spec.interface).cloned();
            let work = query_work_dir(datastore, &spec.interface);
            let inv = Invocation::new(&self.settings.interfaces_dir, spec, work);
            async move {
                let _permit = gate.acquire().await.expect("semaphore never closes");
                if let Some(driver) = external {
                    let limit = runner.config().query_timeout;
                    return super::external::observe(&*driver, limit).await;
                }
                let id = runner.identity(&inv).await.map_err(|e| e.to_string())?;
                let inv = inv.with_component(id.clone());
                let provides = runner.provides(&inv).await.map_err(|e| e.to_string())?;
                Ok(Observed { id, provides })
            }
        });
        let observed: Vec<_> = asks.await.into_iter().map(|(_, o)| o).collect();
        self.keep(&self.observation(topology, observed.clone()));
        observed
    }

    /// The observation of what the components answered, with the System version the
    /// constraints give it.
    pub(super) fn observation(
        &self,
        topology: &Topology,
        observed: Vec<Result<Observed, String>>,
    ) -> Observation {
        let version = constrain::system_version(&self.eff, topology, &observed);
        observation_of(topology, observed, version)
    }

    /// Resolve every component type's Artifact and read its header (signature checked). A
    /// source is told the observed Provides of the components of each type.
    /// With `memo` (a preview), a downloaded Artifact's header read by the last preview for
    /// the same lookup is used again instead of a new download (its path is then empty: a
    /// preview installs nothing).
    async fn resolve(
        &self,
        m: &LoadedManifest,
        provides: BTreeMap<ComponentType, Vec<Provides>>,
        memo: Option<&HeaderMemo>,
        external: &BTreeSet<ComponentType>,
    ) -> BTreeMap<ComponentType, Result<(Checked, PathBuf), Problem>> {
        let resolver = self.resolver.clone();
        let mut m = m.clone();
        // An external Interface's type has no Artifact file: no source is asked for it.
        m.manifest
            .component_types
            .retain(|t, _| !external.contains(t));
        // Named lookups only: a path or a bundle's own file costs no download.
        let keys: BTreeMap<ComponentType, MemoKey> = m
            .manifest
            .component_types
            .iter()
            .filter_map(
                |(t, target)| match (&target.artifact_path, &target.artifact_name) {
                    (None, Some(name)) => Some((
                        t.clone(),
                        MemoKey::new(t, name, provides.get(t).map_or(&[], Vec::as_slice)),
                    )),
                    _ => None,
                },
            )
            .collect();
        let mut known: BTreeMap<ComponentType, ArtifactHeader> = memo
            .map(|memo| {
                keys.iter()
                    .filter_map(|(t, k)| Some((t.clone(), memo.get(k)?)))
                    .collect()
            })
            .unwrap_or_default();
        // A staged bundle's Manifest: each type's Artifact is the bundle's own.
        let root = super::bundle::staging_root(&self.eff.dirs.datastore_dir);
        let bundled = m
            .base_dir
            .as_deref()
            .and_then(|dir| artifact::bundle::staged_artifacts(&root, dir))
            .unwrap_or_default();
        let resolved = tokio::task::spawn_blocking(move || {
            m.manifest
                .component_types
                .iter()
                .map(|(t, target)| {
                    if let Some(header) = known.remove(t) {
                        let checked = Checked {
                            header,
                            expected_name: target.artifact_name.clone(),
                        };
                        return (t.clone(), Ok((checked, PathBuf::new())), true);
                    }
                    let loc = ArtifactLocator {
                        artifact_path: bundled
                            .get(t)
                            .map(PathBuf::as_path)
                            .or(target.artifact_path.as_deref()),
                        artifact_name: target.artifact_name.as_deref(),
                        base_dir: m.base_dir.as_deref(),
                        component_type: Some(t),
                        provides: provides.get(t).map_or(&[], Vec::as_slice),
                    };
                    let found = resolver
                        .resolve(&loc)
                        .map_err(|e| Problem::new(e.condition_reason(), e.to_string()))
                        .and_then(|mut v| {
                            if v.is_empty() {
                                return Err(Problem::new(
                                    Reason::ArtifactNotFound,
                                    "no Artifact found",
                                ));
                            }
                            let r = v.remove(0);
                            let worth = header_memo::downloaded(&r.origin);
                            let checked = Checked {
                                header: r.header,
                                expected_name: target.artifact_name.clone(),
                            };
                            Ok(((checked, r.path), worth))
                        });
                    match found {
                        Ok((found, worth)) => (t.clone(), Ok(found), worth),
                        Err(e) => (t.clone(), Err(e), false),
                    }
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        if let Some(memo) = memo {
            memo.replace(
                resolved
                    .iter()
                    .filter(|(_, _, worth)| *worth)
                    .filter_map(|(t, r, _)| {
                        let (c, _) = r.as_ref().ok()?;
                        Some((keys.get(t)?.clone(), c.header.clone()))
                    })
                    .collect(),
            );
        }
        resolved.into_iter().map(|(t, r, _)| (t, r)).collect()
    }

    /// Observe, resolve, plan and check the plan against the constraints. `Err` carries
    /// every problem; a refusal by the constraints is in the verdict ([`Prepared::refusal`]).
    pub(super) async fn prepare(&self, m: &LoadedManifest) -> Result<Prepared, Vec<Problem>> {
        self.prepare_with(m, None).await
    }

    /// [`Engine::prepare`], for a preview with its header memo.
    pub(super) async fn prepare_with(
        &self,
        m: &LoadedManifest,
        memo: Option<&HeaderMemo>,
    ) -> Result<Prepared, Vec<Problem>> {
        let topology = self
            .topology()
            .map_err(|e| vec![Problem::new(e.reason(), e.to_string())])?;
        let against = m.check_against(&topology);
        if !against.is_empty() {
            return Err(against
                .iter()
                .map(|d| Problem::new(Reason::InvalidManifest, d.to_string()))
                .collect());
        }
        let (external, mixed) =
            super::external::external_types(&topology, &self.settings.externals);
        if !mixed.is_empty() {
            return Err(mixed
                .into_iter()
                .map(|p| Problem::new(Reason::InvalidManifest, p))
                .collect());
        }
        let constraints = constrain::load(&self.eff, &topology);
        let observations = self.observe_topology(&topology).await;
        let mut provides: BTreeMap<ComponentType, Vec<Provides>> = BTreeMap::new();
        for (spec, o) in topology.components.iter().zip(&observations) {
            if let Ok(o) = o {
                let of_type = provides.entry(spec.component_type.clone()).or_default();
                of_type.push(o.provides.clone());
            }
        }
        let resolved = self.resolve(m, provides, memo, &external).await;
        let mut candidates = self.external_targets(m, &topology, &external);
        let mut artifacts = Vec::new();
        for (t, r) in resolved {
            match r {
                Ok((c, p)) => {
                    artifacts.push((t.clone(), p));
                    candidates.insert(t, Ok(Target::File(Box::new(c))));
                }
                Err(e) => {
                    candidates.insert(t, Err(e));
                }
            }
        }
        match plan::plan(&topology, &m.manifest, &observations, &candidates) {
            Ok(plan) => {
                let loaded = constraints.map_err(|p| vec![p])?;
                let current = constrain::current(&topology, &observations);
                let verdict = constrain::check(loaded.as_ref(), &m.manifest, &plan, current);
                Ok(Prepared {
                    plan,
                    artifacts,
                    verdict,
                    constraints_file: loaded.map(|l| l.file),
                    topology,
                    observed: observations,
                })
            }
            Err(problems) => {
                let mut all: Vec<Problem> = problems.iter().map(|p| p.to_problem()).collect();
                all.extend(constraints.err());
                Err(all)
            }
        }
    }

    /// What each external Interface's component type is moved to: the Manifest's
    /// `artifact_name`, which its driver must know ([`ExternalInterface::target`]).
    ///
    /// [`ExternalInterface::target`]: crate::interface::external::ExternalInterface::target
    fn external_targets(
        &self,
        m: &LoadedManifest,
        topology: &Topology,
        external: &BTreeSet<ComponentType>,
    ) -> BTreeMap<ComponentType, Result<Target, Problem>> {
        let mut out = BTreeMap::new();
        for (t, entry) in &m.manifest.component_types {
            if !external.contains(t) {
                continue;
            }
            let Some(name) = entry.artifact_name.clone() else {
                let why = format!("component type '{t}' is driven by an external Interface: its Manifest entry must name an artifact_name (it has no Artifact file)");
                out.insert(t.clone(), Err(Problem::new(Reason::InvalidManifest, why)));
                continue;
            };
            let known = topology
                .components
                .iter()
                .filter(|c| &c.component_type == t)
                .filter_map(|c| self.settings.externals.get(&c.interface))
                .try_for_each(|d| d.target(&name));
            let r = match known {
                Ok(()) => Ok(Target::External(super::external::ExternalTarget {
                    artifact_name: name,
                })),
                Err(why) => Err(Problem::new(Reason::ArtifactNotFound, why)),
            };
            out.insert(t.clone(), r);
        }
        out
    }

    /// Why a prepared deployment may not start, from the first check that finds anything:
    /// the reviewed plan (`--plan-hash`: what changed says more than what the changed plan
    /// would run into), the constraints, `DowngradeProtection`, every Artifact verified.
    pub(super) async fn refusals(
        &self,
        m: &LoadedManifest,
        p: &Prepared,
        opts: &super::driver::RunOptions,
    ) -> Vec<Problem> {
        let reviewed = opts.plan_hash.as_deref();
        let mut problems: Vec<Problem> = reviewed
            .and_then(|h| self.plan_changed(m, p, h))
            .into_iter()
            .collect();
        if problems.is_empty() {
            problems = p.refusal();
        }
        if problems.is_empty() {
            problems = self.downgrades(m, &p.plan, opts.allow_downgrade);
        }
        if problems.is_empty() {
            problems = self.verify_bundle(&p.plan, &p.artifacts).await;
        }
        problems
    }

    /// Why `DowngradeProtection` refuses `m` (see [`super::downgrade`]); nothing when the
    /// option is off or `allow_downgrade` (the System's own rollback).
    pub(super) fn downgrades(
        &self,
        m: &LoadedManifest,
        plan: &Plan,
        allow_downgrade: bool,
    ) -> Vec<Problem> {
        if !self.eff.config.downgrade_protection || allow_downgrade {
            return vec![];
        }
        // Protection fails closed: an unreadable ledger refuses the deployment.
        let unreadable =
            |e: &dyn std::fmt::Display| vec![Problem::new(Reason::EngineError, e.to_string())];
        let ledger = match accepted::load(&self.eff.dirs.datastore_dir) {
            Ok(l) => l,
            Err(e) => return unreadable(&e),
        };
        let current = match self.store.get(Slot::Current) {
            Ok(c) => c.map(|c| c.meta.name),
            Err(e) => return unreadable(&e),
        };
        let (changes, _) = downgrade::of_plan(plan);
        ledger
            .check(&m.manifest.name, current.as_deref(), &changes)
            .iter()
            .map(|d| Problem::new(Reason::Downgrade, d.to_string()))
            .collect()
    }

    /// Adds a successful deployment to the downgrade ledger. The deployment has succeeded
    /// whatever happens here, so a failure is only logged (an unreadable ledger is left for
    /// a person to inspect).
    pub(super) fn remember_accepted(&self, record: &DeploymentRecord) {
        let datastore = &self.eff.dirs.datastore_dir;
        let result = accepted::load(datastore).and_then(|mut ledger| {
            let (changes, unchanged) = downgrade::of_plan(&record.plan);
            ledger.record(&record.manifest.name, &changes, &unchanged);
            accepted::save(datastore, &ledger)
        });
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not record the deployment in the downgrade ledger");
        }
    }

    /// Every Artifact the plan installs after its first order group, verified to its end
    /// ([`super::bundle`]; the first group's are verified as they stream in Download).
    pub(super) async fn verify_bundle(
        &self,
        plan: &Plan,
        artifacts: &[(ComponentType, PathBuf)],
    ) -> Vec<Problem> {
        let planned = super::bundle::checked_before_the_first_state(plan);
        let artifacts = artifacts.to_vec();
        let (policy, limits) = (self.settings.policy.clone(), self.settings.limits.clone());
        tokio::task::spawn_blocking(move || {
            super::bundle::verify_all(&artifacts, |t| planned.contains(t), &policy, &limits)
        })
        .await
        .unwrap_or_else(|e| {
            vec![Problem::new(
                Reason::VerificationFailed,
                format!("verifying the Artifacts failed: {e}"),
            )]
        })
    }
}

/// What a component type is moved to: an Artifact file, or what an external Interface
/// installs.
enum Target {
    File(Box<Checked>),
    External(super::external::ExternalTarget),
}

impl Candidate for Target {
    fn artifact_name(&self) -> &str {
        match self {
            Target::File(c) => c.artifact_name(),
            Target::External(e) => e.artifact_name(),
        }
    }
    fn is_installed(&self, provides: &Provides) -> bool {
        match self {
            Target::File(c) => c.is_installed(provides),
            Target::External(e) => e.is_installed(provides),
        }
    }
    fn check_compatible(&self, t: &ComponentType, provides: &Provides) -> Result<(), Vec<String>> {
        match self {
            Target::File(c) => c.check_compatible(t, provides),
            Target::External(e) => e.check_compatible(t, provides),
        }
    }
}

/// An Artifact header checked for one Manifest entry: what the planner needs.
struct Checked {
    header: ArtifactHeader,
    /// The Manifest's `artifact_name`, which the header must carry (mix-and-match defence).
    expected_name: Option<String>,
}

impl Candidate for Checked {
    fn artifact_name(&self) -> &str {
        &self.header.name
    }
    fn is_installed(&self, provides: &Provides) -> bool {
        artifact::is_installed(&self.header, provides)
    }
    fn check_compatible(
        &self,
        component_type: &ComponentType,
        provides: &Provides,
    ) -> Result<(), Vec<String>> {
        let mut reasons: Vec<String> =
            match artifact::check_depends(&self.header, component_type.as_str(), provides) {
                Ok(()) => vec![],
                Err(problems) => problems.iter().map(|p| p.to_string()).collect(),
            };
        if let Some(expected) = &self.expected_name {
            if *expected != self.header.name {
                reasons.push(format!(
                    "the Manifest names Artifact '{expected}' but the file holds '{}'",
                    self.header.name
                ));
            }
        }
        if self.header.payload_type.is_none() {
            reasons.push("it is a bootstrap Artifact with no payload".into());
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons)
        }
    }
}
