//! The live executor: carries out the driver's steps with real Interfaces, real Artifacts and
//! the real reboot command.
//!
//! Each component gets its File API directory under
//! `<datastore>/work/<deployment>/<component type>/<component id>`, created at its Download
//! (or, after a crash, at its first later state) and removed after its Cleanup. Download
//! streams the Artifact through the strict reader while the Interface reads it; the call
//! succeeds only if the Interface exited 0 *and* the reader's verdict says every checksum
//! matched, so no component reaches ArtifactInstall with unverified bytes.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::Instrument;

use super::driver::Executor;
use super::feed::{feed_whole, CountingSink};
use super::machine::{CallResult, MemberId, QueryResult, Step, StepResult};
use super::plan::PlannedComponent;
use super::progress::{Progress, ProgressSink};
use super::record::DeploymentRecord;
use super::report::ComponentRef;
use super::spans;
use super::states::{Call, Query, State};
use crate::artifact::source::SourceLocations;
use crate::artifact::{self, ArtifactHeader, ArtifactReader, Limits, PayloadSink, VerifyPolicy};
use crate::interface::download::{download, DownloadMode};
use crate::interface::external::{ExternalInterface, Externals};
use crate::interface::file_api::{
    remove_component_dir, retire_tree, sync_filesystem, CurrentArtifact, FileApiDir, HeaderFiles,
};
use crate::interface::runner::{Invocation, Runner};
use crate::metrics::Metrics;
use crate::model::{ComponentSpec, ComponentType};

/// What the live executor needs from the configuration.
#[derive(Clone)]
pub struct ExecSettings {
    pub interfaces_dir: PathBuf,
    /// `<datastore>/work`: File API directories live below it, one tree per deployment.
    pub work_root: PathBuf,
    /// `<datastore>/spare-trees`: each component's last File API directory, kept for its
    /// next deployment (`interface::file_api::retire_tree`). Same filesystem as `work_root`.
    pub spare_trees: PathBuf,
    /// `<datastore>/parked`: each component's streams tree and `files/` directory, kept
    /// empty while the protocol has them out of its File API directory. Same filesystem.
    pub parked: PathBuf,
    pub policy: VerifyPolicy,
    pub limits: Limits,
    /// argv of the command that reboots the host.
    pub reboot_command: Vec<String>,
    /// How long to wait for the reboot to take baton down before calling it failed.
    pub reboot_grace: Duration,
    pub boot_id_path: PathBuf,
    /// Where the Artifact sources keep their files (metrics count bytes by source).
    pub sources: SourceLocations,
    /// Bytes read and Artifacts refused are counted here.
    pub metrics: Metrics,
    /// The components whose Interface is not a process, by their `interface`.
    pub externals: Externals,
}

impl ExecSettings {
    /// Where a finished or interrupted deployment may leave files (see [`super::sweep`]).
    pub fn places(&self, datastore: &Path) -> super::sweep::Places {
        super::sweep::Places {
            work_root: self.work_root.clone(),
            downloads: datastore.join("downloads"),
            bundles: super::bundle::staging_root(datastore),
        }
    }
}

pub struct LiveExecutor {
    inner: Arc<Inner>,
}

struct Inner {
    runner: Runner,
    settings: ExecSettings,
    progress: Arc<dyn ProgressSink>,
    /// Headers read for File API trees, by Artifact path: components that share an Artifact
    /// share one read.
    headers: Mutex<HashMap<PathBuf, Arc<ArtifactHeader>>>,
}

impl LiveExecutor {
    pub fn new(runner: Runner, settings: ExecSettings, progress: Arc<dyn ProgressSink>) -> Self {
        let inner = Inner {
            runner,
            settings,
            progress,
            headers: Mutex::new(HashMap::new()),
        };
        Self {
            inner: Arc::new(inner),
        }
    }
}

/// A path component for a component type (types may hold characters a path cannot).
fn type_dir(t: &ComponentType) -> String {
    let clean: String = t
        .as_str()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean == t.as_str() && !clean.starts_with('.') {
        clean
    } else {
        // Keep two types that sanitize alike apart.
        format!("_{clean}-{:08x}", crc32fast::hash(t.as_str().as_bytes()))
    }
}

/// Where a deployment's File API directories live.
pub fn deployment_work_dir(work_root: &Path, deployment: &str) -> PathBuf {
    work_root.join(deployment)
}

/// Runs blocking filesystem work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(format!("a worker thread failed: {e}")))
}

/// `<base>/<type>/<id>`: `c`'s own place under `base`.
fn component_dir(base: &Path, c: &PlannedComponent) -> PathBuf {
    base.join(type_dir(&c.component_type)).join(c.id.as_str())
}

impl Inner {
    fn root(&self, record: &DeploymentRecord, c: &PlannedComponent) -> PathBuf {
        deployment_work_dir(&self.settings.work_root, &record.id).join(type_dir(&c.component_type))
    }

    /// Where `c`'s File API directory waits between deployments.
    fn spare(&self, c: &PlannedComponent) -> PathBuf {
        component_dir(&self.settings.spare_trees, c)
    }

    /// Where `c`'s streams tree and `files/` wait while not in its File API directory.
    fn parked(&self, c: &PlannedComponent) -> PathBuf {
        component_dir(&self.settings.parked, c)
    }

    fn invocation(&self, record: &DeploymentRecord, c: &PlannedComponent) -> Invocation {
        let spec = ComponentSpec {
            component_type: c.component_type.clone(),
            interface: c.interface.clone(),
            interface_args: c.interface_args.clone(),
        };
        let work_dir = self.root(record, c).join(c.id.as_str());
        Invocation::new(&self.settings.interfaces_dir, &spec, work_dir).with_component(c.id.clone())
    }

    fn artifact(&self, record: &DeploymentRecord, c: &PlannedComponent) -> Result<PathBuf, String> {
        record
            .artifact_path(&c.component_type)
            .cloned()
            .ok_or_else(|| {
                format!(
                    "no Artifact was resolved for component type '{}'",
                    c.component_type
                )
            })
    }

    /// The header of the Artifact at `path`, read once per executor (blocking).
    fn header(&self, path: &Path) -> Result<Arc<ArtifactHeader>, String> {
        let mut headers = self.headers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = headers.get(path) {
            return Ok(h.clone());
        }
        let h = artifact::read_header(path, &self.settings.policy, &self.settings.limits)
            .map_err(|e| format!("Artifact {}: {e}", path.display()))?;
        let h = Arc::new(h);
        headers.insert(path.to_path_buf(), h.clone());
        Ok(h)
    }

    /// Create the component's File API directory from the Artifact's header (a stale one
    /// from an interrupted attempt is replaced). Blocking.
    fn create_tree(&self, record: &DeploymentRecord, c: &PlannedComponent) -> Result<(), String> {
        let header = self.header(&self.artifact(record, c)?)?;
        let root = self.root(record, c);
        remove_component_dir(&root, &c.id).map_err(|e| e.to_string())?;
        let current =
            CurrentArtifact::from_provides(&c.component_type, &c.interface, &c.provides_before);
        FileApiDir::create_reusing(
            &root,
            &c.id,
            &current,
            &header_files(&header),
            &self.spare(c),
        )
        .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// The File API directory for a state after Download; recreated if a crash lost it.
    async fn ensure_tree(
        self: &Arc<Self>,
        record: &Arc<DeploymentRecord>,
        m: MemberId,
    ) -> Result<(), String> {
        let c = &record.plan.components[m];
        if FileApiDir::open(&self.root(record, c), &c.id).is_ok() {
            return Ok(());
        }
        let (me, rec) = (self.clone(), record.clone());
        blocking(move || me.create_tree(&rec, &rec.plan.components[m])).await
    }

    async fn download_one(
        self: &Arc<Self>,
        record: &Arc<DeploymentRecord>,
        m: MemberId,
    ) -> Result<(), String> {
        let (me, rec) = (self.clone(), record.clone());
        blocking(move || me.create_tree(&rec, &rec.plan.components[m])).await?;
        let c = &record.plan.components[m];
        let inv = self.invocation(record, c);
        let whole_artifact = !self
            .runner
            .needs_unpacked(&inv)
            .await
            .map_err(|e| e.to_string())?;
        let with_sizes = self
            .runner
            .provide_sizes(&inv)
            .await
            .map_err(|e| e.to_string())?;
        let mode = DownloadMode {
            with_sizes,
            whole_artifact,
        };
        let path = self.artifact(record, c)?;
        let source = self.settings.sources.kind_of(&path).label();
        let metrics = self.settings.metrics.clone();
        let policy = self.settings.policy.clone();
        let limits = self.settings.limits.clone();
        let progress = self.progress.clone();
        let who = ComponentRef {
            component_type: c.component_type.to_string(),
            id: c.id.to_string(),
        };
        #[allow(clippy::disallowed_methods)] // a progress throttle; nothing waits on it
        let feed = move |sink: &mut dyn PayloadSink| -> Result<artifact::Verified, String> {
            let mut counted = CountingSink {
                inner: sink,
                sent: 0,
                who,
                progress,
                last: Instant::now(),
            };
            let rejected =
                |e: &artifact::ArtifactError| metrics.artifact_rejected(e.verification_failure());
            if whole_artifact {
                feed_whole(&path, &metrics, source, &policy, &limits, &mut counted)
            } else {
                let file = File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                let file = metrics.count_reads(source, file);
                let reader = ArtifactReader::open(file, &policy, &limits)
                    .inspect_err(rejected)
                    .map_err(|e| e.to_string())?;
                reader
                    .stream_payload(&mut counted)
                    .inspect_err(rejected)
                    .map_err(|e| e.to_string())
            }
        };
        download(&self.runner, &inv, mode, Some(&self.parked(c)), feed)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn call_one(
        self: Arc<Self>,
        record: Arc<DeploymentRecord>,
        m: MemberId,
        state: State,
    ) -> CallResult {
        if let Some(driver) = self.external(&record.plan.components[m]) {
            let limit = self.runner.config().state_timeout;
            let c = &record.plan.components[m];
            let progress = self.progress.clone();
            return super::external::run_state(driver, &record.id, c, state, progress, limit).await;
        }
        let result = if state == State::Download {
            self.download_one(&record, m).await
        } else {
            match self.ensure_tree(&record, m).await {
                Err(e) => Err(e),
                Ok(()) => {
                    let c = &record.plan.components[m];
                    let inv = self.invocation(&record, c);
                    let r = self
                        .runner
                        .run_state(&inv, state)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string());
                    if state == State::Cleanup {
                        // The tree is the deployment's, not the Interface's: it goes whatever
                        // Cleanup said, to wait for the component's next deployment.
                        let tree = self.root(&record, c).join(c.id.as_str());
                        if let Err(e) = retire_tree(&tree, &self.spare(c), Some(&self.parked(c))) {
                            tracing::warn!(component = %c.id, error = %e, "could not keep the File API directory for the next deployment");
                        }
                    }
                    r
                }
            }
        };
        match result {
            Ok(()) => CallResult::Ok,
            Err(why) => CallResult::Failed(why),
        }
    }

    async fn query_one(
        self: Arc<Self>,
        record: Arc<DeploymentRecord>,
        m: MemberId,
        query: Query,
    ) -> QueryResult {
        if let Some(driver) = self.external(&record.plan.components[m]) {
            let limit = self.runner.config().query_timeout;
            return super::external::query(&*driver, query, limit).await;
        }
        if let Err(e) = self.ensure_tree(&record, m).await {
            return QueryResult::Failed(e);
        }
        let inv = self.invocation(&record, &record.plan.components[m]);
        match query {
            Query::SupportsRollback => match self.runner.supports_rollback(&inv).await {
                Ok(yes) => QueryResult::SupportsRollback(yes),
                Err(e) => QueryResult::Failed(e.to_string()),
            },
            Query::NeedsArtifactReboot => match self.runner.needs_reboot(&inv).await {
                Ok(a) => QueryResult::NeedsReboot(a),
                Err(e) => QueryResult::Failed(e.to_string()),
            },
            other => QueryResult::Failed(format!("the engine does not schedule {other}")),
        }
    }

    /// The driver of `c` when its Interface is not a process.
    fn external(&self, c: &PlannedComponent) -> Option<Arc<dyn ExternalInterface>> {
        self.settings.externals.get(&c.interface).cloned()
    }

    async fn sync_trees(&self, record: &DeploymentRecord) -> Result<(), String> {
        let dir = deployment_work_dir(&self.settings.work_root, &record.id);
        blocking(move || sync_filesystem(&dir).map_err(|e| e.to_string())).await
    }
}

/// Runs one task per component (member, or index in the Topology), on every worker thread,
/// and returns the results in that order. Dropping the future aborts the tasks (and with
/// them, the Interfaces' groups). Spawning from tasks matters: each spawn blocks its thread
/// until the child has exec'd, and one thread spawning every Interface of a step serializes
/// them.
pub(super) async fn each_member<T: Send + 'static, F>(
    members: &[MemberId],
    f: impl Fn(MemberId) -> F,
) -> Vec<(MemberId, T)>
where
    F: std::future::Future<Output = T> + Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for &m in members {
        let fut = f(m);
        set.spawn(async move { (m, fut.await) });
    }
    let mut out = Vec::with_capacity(members.len());
    while let Some(r) = set.join_next().await {
        match r {
            Ok(pair) => out.push(pair),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    out.sort_by_key(|(m, _)| *m);
    out
}

impl Executor for LiveExecutor {
    async fn run(&self, record: &DeploymentRecord, step: &Step) -> StepResult {
        let inner = &self.inner;
        #[allow(clippy::disallowed_methods)] // the step's duration to report; no wait
        let started = Instant::now();
        let record = Arc::new(record.clone());
        let refs = |ms: &[MemberId]| -> Vec<ComponentRef> {
            ms.iter()
                .map(|&m| {
                    let c = &record.plan.components[m];
                    ComponentRef {
                        component_type: c.component_type.to_string(),
                        id: c.id.to_string(),
                    }
                })
                .collect()
        };
        let (group, members, call) = match step {
            Step::Call {
                group,
                members,
                state,
            } => (*group, members, Call::State(*state)),
            Step::Query {
                group,
                members,
                query,
            } => (*group, members, Call::Query(*query)),
            _ => unreachable!("the driver runs only calls and queries here"),
        };
        let order = record.plan.orders.get(group).map_or(0, |o| o.get());
        inner.progress.emit(Progress::StepStarted {
            order,
            call,
            components: refs(members),
        });
        let result = match step {
            Step::Call { state, members, .. } => {
                let s = *state;
                let mut results = each_member(members, |m| {
                    let span = spans::component(&record.plan.components[m]);
                    inner
                        .clone()
                        .call_one(record.clone(), m, s)
                        .instrument(span)
                })
                .await;
                let trees = members
                    .iter()
                    .any(|&m| inner.external(&record.plan.components[m]).is_none());
                if s == State::Download && trees {
                    // The File API trees and payloads are written unsynced; one filesystem
                    // sync makes the whole group's durable before the step is recorded done.
                    if let Err(e) = inner.sync_trees(&record).await {
                        for (_, r) in &mut results {
                            if *r == CallResult::Ok {
                                *r =
                                    CallResult::Failed(format!("syncing the payload to disk: {e}"));
                            }
                        }
                    }
                }
                StepResult::Calls(results)
            }
            Step::Query { query, members, .. } => {
                let q = *query;
                StepResult::Queries(
                    each_member(members, |m| {
                        let span = spans::component(&record.plan.components[m]);
                        inner
                            .clone()
                            .query_one(record.clone(), m, q)
                            .instrument(span)
                    })
                    .await,
                )
            }
            _ => unreachable!(),
        };
        let failed: Vec<(ComponentRef, String)> = match &result {
            StepResult::Calls(rs) => rs
                .iter()
                .filter_map(|(m, r)| match r {
                    CallResult::Failed(why) => Some((refs(&[*m]).remove(0), why.clone())),
                    CallResult::Ok => None,
                })
                .collect(),
            StepResult::Queries(rs) => rs
                .iter()
                .filter_map(|(m, r)| match r {
                    QueryResult::Failed(why) => Some((refs(&[*m]).remove(0), why.clone())),
                    _ => None,
                })
                .collect(),
            StepResult::HostReboot(_) => vec![],
        };
        inner.progress.emit(Progress::StepFinished {
            order,
            call,
            failed,
            seconds: started.elapsed().as_secs_f64(),
        });
        result
    }

    async fn reboot(&self) -> CallResult {
        let settings = &self.inner.settings;
        self.inner.progress.emit(Progress::Rebooting);
        let Some((program, args)) = settings.reboot_command.split_first() else {
            return CallResult::Failed("RebootCommand is empty".into());
        };
        tracing::warn!(command = ?settings.reboot_command, "rebooting the host");
        let status = tokio::process::Command::new(program)
            .args(args)
            .status()
            .await;
        match status {
            Ok(s) if s.success() => {
                // The reboot takes baton down; still being here after the grace means it
                // did not happen.
                tokio::time::sleep(settings.reboot_grace).await;
                CallResult::Failed(format!(
                    "the host was still up {} s after the reboot command",
                    settings.reboot_grace.as_secs()
                ))
            }
            Ok(s) => CallResult::Failed(format!("the reboot command failed: {s}")),
            Err(e) => CallResult::Failed(format!("the reboot command could not run: {e}")),
        }
    }

    fn boot_id(&self) -> Option<String> {
        read_boot_id(&self.inner.settings.boot_id_path)
    }
}

pub fn read_boot_id(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn header_files(h: &ArtifactHeader) -> HeaderFiles {
    HeaderFiles {
        artifact_group: h.group.clone().unwrap_or_default(),
        artifact_name: h.name.clone(),
        payload_type: h.payload_type.clone().unwrap_or_default(),
        header_info: h.raw.header_info.clone(),
        type_info: h.raw.type_info.clone(),
        meta_data: h.raw.meta_data.clone().unwrap_or_else(|| b"null".to_vec()),
    }
}
