//! The live executor: carries out the driver's steps with real Interfaces, real Artifacts and
//! the real reboot command.
//!
//! Each component gets its File API directory under
//! `<datastore>/work/<deployment>/<component type>/<component id>`, created at its Download
//! (or, after a crash, at its first later state) and removed after its Cleanup. Download
//! streams the Artifact through the strict reader while the Interface reads it; the call
//! succeeds only if the Interface exited 0 *and* the reader's verdict says every checksum
//! matched, so no component reaches ArtifactInstall with unverified bytes.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use super::api::{ComponentRef, Progress, ProgressSink};
use super::driver::{step_name, DeploymentRecord, Executor};
use super::machine::{CallResult, MemberId, QueryResult, Step, StepResult};
use super::plan::PlannedComponent;
use super::states::{Query, State};
use crate::artifact::{self, ArtifactHeader, ArtifactReader, Limits, PayloadSink, VerifyPolicy};
use crate::interface::download::{download, DownloadMode};
use crate::interface::file_api::{
    remove_component_dir, CurrentArtifact, FileApiDir, HeaderFiles, WHOLE_ARTIFACT_NAME,
};
use crate::interface::runner::{Invocation, Runner};
use crate::model::{ComponentSpec, ComponentType};

/// What the live executor needs from the configuration.
#[derive(Clone)]
pub struct ExecSettings {
    pub interfaces_dir: PathBuf,
    /// `<datastore>/work`: File API directories live below it, one tree per deployment.
    pub work_root: PathBuf,
    pub policy: VerifyPolicy,
    pub limits: Limits,
    /// argv of the command that reboots the host.
    pub reboot_command: Vec<String>,
    /// How long to wait for the reboot to take baton down before calling it failed.
    pub reboot_grace: Duration,
    pub boot_id_path: PathBuf,
}

pub struct LiveExecutor {
    pub runner: Runner,
    pub settings: ExecSettings,
    pub progress: Arc<dyn ProgressSink>,
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

impl LiveExecutor {
    fn root(&self, record: &DeploymentRecord, c: &PlannedComponent) -> PathBuf {
        deployment_work_dir(&self.settings.work_root, &record.id).join(type_dir(&c.component_type))
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

    /// Create the component's File API directory from the Artifact's header (a stale one
    /// from an interrupted attempt is replaced).
    fn create_tree(
        &self,
        record: &DeploymentRecord,
        c: &PlannedComponent,
    ) -> Result<ArtifactHeader, String> {
        let path = self.artifact(record, c)?;
        let header = artifact::read_header(&path, &self.settings.policy, &self.settings.limits)
            .map_err(|e| format!("Artifact {}: {e}", path.display()))?;
        let root = self.root(record, c);
        remove_component_dir(&root, &c.id).map_err(|e| e.to_string())?;
        let current =
            CurrentArtifact::from_provides(&c.component_type, &c.interface, &c.provides_before);
        FileApiDir::create(&root, &c.id, &current, &header_files(&header))
            .map_err(|e| e.to_string())?;
        Ok(header)
    }

    /// The File API directory for a state after Download; recreated if a crash lost it.
    fn ensure_tree(&self, record: &DeploymentRecord, c: &PlannedComponent) -> Result<(), String> {
        match FileApiDir::open(&self.root(record, c), &c.id) {
            Ok(_) => Ok(()),
            Err(_) => self.create_tree(record, c).map(|_| ()),
        }
    }

    async fn download_one(
        &self,
        record: &DeploymentRecord,
        c: &PlannedComponent,
    ) -> Result<(), String> {
        self.create_tree(record, c)?;
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
        let policy = self.settings.policy.clone();
        let limits = self.settings.limits.clone();
        let progress = self.progress.clone();
        let who = ComponentRef {
            component_type: c.component_type.to_string(),
            id: c.id.to_string(),
        };
        let feed = move |sink: &mut dyn PayloadSink| -> Result<artifact::Verified, String> {
            let mut counted = CountingSink {
                inner: sink,
                sent: 0,
                who,
                progress,
                last: Instant::now(),
            };
            if whole_artifact {
                feed_whole(&path, &policy, &limits, &mut counted)
            } else {
                let file = File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                let reader =
                    ArtifactReader::open(file, &policy, &limits).map_err(|e| e.to_string())?;
                reader
                    .stream_payload(&mut counted)
                    .map_err(|e| e.to_string())
            }
        };
        download(&self.runner, &inv, mode, feed)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn call_one(
        &self,
        record: &DeploymentRecord,
        c: &PlannedComponent,
        state: State,
    ) -> Result<(), String> {
        if state == State::Download {
            return self.download_one(record, c).await;
        }
        self.ensure_tree(record, c)?;
        let inv = self.invocation(record, c);
        let result = self
            .runner
            .run_state(&inv, state)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string());
        if state == State::Cleanup {
            // The tree is the deployment's, not the Interface's: it goes whatever Cleanup said.
            if let Err(e) = remove_component_dir(&self.root(record, c), &c.id) {
                tracing::warn!(component = %c.id, error = %e, "could not remove the File API directory");
            }
        }
        result
    }

    async fn query_one(
        &self,
        record: &DeploymentRecord,
        c: &PlannedComponent,
        query: Query,
    ) -> QueryResult {
        if let Err(e) = self.ensure_tree(record, c) {
            return QueryResult::Failed(e);
        }
        let inv = self.invocation(record, c);
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
}

impl Executor for LiveExecutor {
    async fn run(&self, record: &DeploymentRecord, step: &Step) -> StepResult {
        let started = Instant::now();
        let member = |m: MemberId| &record.plan.components[m];
        let refs = |ms: &[MemberId]| -> Vec<ComponentRef> {
            ms.iter()
                .map(|&m| ComponentRef {
                    component_type: member(m).component_type.to_string(),
                    id: member(m).id.to_string(),
                })
                .collect()
        };
        let (group, members) = match step {
            Step::Call { group, members, .. } | Step::Query { group, members, .. } => {
                (*group, members)
            }
            _ => unreachable!("the driver runs only calls and queries here"),
        };
        let order = record.plan.orders.get(group).map_or(0, |o| o.get());
        let state = step_name(step);
        self.progress.emit(Progress::StepStarted {
            order,
            state: state.clone(),
            components: refs(members),
        });
        let result = match step {
            Step::Call { state, members, .. } => {
                let calls = members.iter().map(|&m| async move {
                    let r = match self.call_one(record, member(m), *state).await {
                        Ok(()) => CallResult::Ok,
                        Err(why) => CallResult::Failed(why),
                    };
                    (m, r)
                });
                StepResult::Calls(join_all(calls).await)
            }
            Step::Query { query, members, .. } => {
                let asks = members
                    .iter()
                    .map(|&m| async move { (m, self.query_one(record, member(m), *query).await) });
                StepResult::Queries(join_all(asks).await)
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
        self.progress.emit(Progress::StepFinished {
            order,
            state,
            failed,
            seconds: started.elapsed().as_secs_f64(),
        });
        result
    }

    async fn reboot(&self) -> CallResult {
        self.progress.emit(Progress::Rebooting);
        let Some((program, args)) = self.settings.reboot_command.split_first() else {
            return CallResult::Failed("RebootCommand is empty".into());
        };
        tracing::warn!(command = ?self.settings.reboot_command, "rebooting the host");
        let status = tokio::process::Command::new(program)
            .args(args)
            .status()
            .await;
        match status {
            Ok(s) if s.success() => {
                // The reboot takes baton down; still being here after the grace means it
                // did not happen.
                tokio::time::sleep(self.settings.reboot_grace).await;
                CallResult::Failed(format!(
                    "the host was still up {} s after the reboot command",
                    self.settings.reboot_grace.as_secs()
                ))
            }
            Ok(s) => CallResult::Failed(format!("the reboot command failed: {s}")),
            Err(e) => CallResult::Failed(format!("the reboot command could not run: {e}")),
        }
    }

    fn boot_id(&self) -> Option<String> {
        read_boot_id(&self.settings.boot_id_path)
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

/// Streams the whole Artifact file to the sink as `artifact.mender`, verifying it in the
/// same pass: a second thread reads and verifies, and hands the raw bytes over a pipe.
fn feed_whole(
    path: &Path,
    policy: &VerifyPolicy,
    limits: &Limits,
    sink: &mut dyn PayloadSink,
) -> Result<artifact::Verified, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let size = file
        .metadata()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    let (mut rx, tx) = io::pipe().map_err(|e| format!("pipe: {e}"))?;
    let (policy, limits) = (policy.clone(), limits.clone());
    let verifier = std::thread::spawn(move || {
        let mut tx = tx;
        artifact::verify_whole(file, &policy, &limits, &mut tx).map(|(_, v)| v)
    });
    let sent = sink.file(WHOLE_ARTIFACT_NAME, size, &mut rx);
    // Whatever the sink left unread: the verifier must still see the end of its input.
    let _ = io::copy(&mut rx, &mut io::sink());
    drop(rx);
    let verdict = verifier
        .join()
        .map_err(|_| "the Artifact verifier panicked".to_string())?;
    sent.map_err(|e| e.to_string())?;
    verdict.map_err(|e| e.to_string())
}

/// Counts payload bytes handed to an Interface and reports them now and then.
struct CountingSink<'a> {
    inner: &'a mut dyn PayloadSink,
    sent: u64,
    who: ComponentRef,
    progress: Arc<dyn ProgressSink>,
    last: Instant,
}

impl PayloadSink for CountingSink<'_> {
    fn file(&mut self, name: &str, size: u64, content: &mut dyn Read) -> io::Result<()> {
        let CountingSink {
            inner,
            sent,
            who,
            progress,
            last,
        } = self;
        let mut reader = CountingRead {
            inner: content,
            sent,
            who,
            progress: &**progress,
            last,
        };
        let r = inner.file(name, size, &mut reader);
        progress.emit(Progress::Bytes {
            component: who.clone(),
            bytes: *sent,
            total: None,
        });
        r
    }
}

struct CountingRead<'a> {
    inner: &'a mut dyn Read,
    sent: &'a mut u64,
    who: &'a ComponentRef,
    progress: &'a dyn ProgressSink,
    last: &'a mut Instant,
}

impl Read for CountingRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        *self.sent += n as u64;
        if self.last.elapsed() >= Duration::from_millis(250) {
            *self.last = Instant::now();
            self.progress.emit(Progress::Bytes {
                component: self.who.clone(),
                bytes: *self.sent,
                total: None,
            });
        }
        Ok(n)
    }
}
