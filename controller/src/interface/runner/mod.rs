//! Calling Interfaces: one process per state or query, bounded in time and output.
//!
//! An Interface is called as `<program> <State|Query> <abs work dir> <component_type>
//! [interface_args...]`, with the work directory as its current directory, stdin null, a
//! clean environment (see [`env`]) and its own process group. States get
//! `InterfaceTimeoutSeconds` (Mender's default: 4 hours); queries get a short timeout of
//! their own, because a query that hangs blocks every deployment. On timeout the whole group
//! gets SIGTERM, then SIGKILL after a grace period, grandchildren included.
//!
//! Work directories: states run in the component's File API directory, which must exist
//! (the engine creates it with [`crate::interface::file_api`]). Queries asked during a
//! deployment run there too. `Identity`, `Provides` and `Inventory` are also asked outside any
//! deployment, before the component's ID is even known; they run in a scratch directory per
//! Interface, [`query_work_dir`], which the runner creates when absent.
//!
//! This room never decides what a failure means for a deployment (the engine does), and
//! never lets a call outlive its future: dropping a call SIGKILLs its process group.

mod capture;
pub mod env;
pub(crate) mod group;
mod leader;
mod process;
mod program;
mod report;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use program::ProgramRun;
pub use report::{result_label, CallContext, CallReport, Exit, InterfaceError, USUAL_RESULTS};

use crate::interface::protocol::{
    self, BadAnswer, Call, Inventory, Query, RebootAnswer, State, VersionKey, YesNo,
};
use crate::metrics::Metrics;
use crate::model::{ComponentId, ComponentSpec, ComponentType, InterfaceName, Provides};
use process::{Ending, Limits};

/// Where Interfaces live under the data directory: `<datadir>/interfaces/v1/`.
pub fn interfaces_dir(datadir: &Path) -> PathBuf {
    datadir.join("interfaces").join("v1")
}

/// The scratch work directory for queries asked outside a deployment:
/// `<datastore>/work/query/<interface>`.
pub fn query_work_dir(datastore: &Path, interface: &InterfaceName) -> PathBuf {
    datastore
        .join("work")
        .join("query")
        .join(interface.as_str())
}

/// Timeouts and limits. The defaults are Mender's where Mender has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerConfig {
    /// `InterfaceTimeoutSeconds`: the limit for one state.
    pub state_timeout: Duration,
    /// The limit for one query.
    pub query_timeout: Duration,
    /// Between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
    /// After the Interface exits, how long its stdout and stderr may stay open (held by a
    /// process it left behind) before its group is terminated.
    pub eof_wait: Duration,
    /// Bytes kept of each of stdout and stderr.
    pub output_cap: usize,
    /// More environment variables to pass through by name (see [`env::interface_env`]).
    pub pass_env: Vec<String>,
}

impl RunnerConfig {
    pub const DEFAULT_STATE_TIMEOUT: Duration = Duration::from_secs(14_400);
    pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(60);
    pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(10);
    pub const DEFAULT_EOF_WAIT: Duration = Duration::from_secs(2);
    pub const DEFAULT_OUTPUT_CAP: usize = 64 * 1024;
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            state_timeout: Self::DEFAULT_STATE_TIMEOUT,
            query_timeout: Self::DEFAULT_QUERY_TIMEOUT,
            kill_grace: Self::DEFAULT_KILL_GRACE,
            eof_wait: Self::DEFAULT_EOF_WAIT,
            output_cap: Self::DEFAULT_OUTPUT_CAP,
            pass_env: Vec::new(),
        }
    }
}

/// Which Interface to call for which component, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub interface: InterfaceName,
    /// The executable, normally `<datadir>/interfaces/v1/<interface>`.
    pub program: PathBuf,
    /// Absolute. Passed as the second argument and used as the current directory.
    pub work_dir: PathBuf,
    pub component_type: ComponentType,
    /// Known once `Identity` has answered; used for logs and errors only.
    pub component: Option<ComponentId>,
    /// The Topology's `interface_args`, passed after the component type.
    pub args: Vec<String>,
}

impl Invocation {
    /// The call of `spec`'s Interface from `interfaces_dir` (see [`interfaces_dir`]).
    pub fn new(interfaces_dir: &Path, spec: &ComponentSpec, work_dir: PathBuf) -> Self {
        Self {
            interface: spec.interface.clone(),
            program: interfaces_dir.join(spec.interface.as_str()),
            work_dir,
            component_type: spec.component_type.clone(),
            component: None,
            args: spec.interface_args.clone(),
        }
    }

    pub fn with_component(mut self, id: ComponentId) -> Self {
        self.component = Some(id);
        self
    }

    pub fn with_work_dir(mut self, work_dir: PathBuf) -> Self {
        self.work_dir = work_dir;
        self
    }

    fn context(&self, call: Call) -> Box<CallContext> {
        Box::new(CallContext {
            interface: self.interface.clone(),
            component_type: self.component_type.clone(),
            component: self.component.clone(),
            call,
        })
    }
}

/// Calls Interfaces. Cheap to clone; the environment is computed once.
#[derive(Debug, Clone)]
pub struct Runner {
    config: Arc<RunnerConfig>,
    env: Arc<[(OsString, OsString)]>,
    /// Every call is counted here ([`Metrics::interface_call`]).
    metrics: Metrics,
}

impl Runner {
    /// A runner whose Interfaces get an environment derived from baton's own.
    pub fn new(config: RunnerConfig) -> Self {
        Self::with_parent_env(config, std::env::vars_os())
    }

    /// A runner deriving the Interface environment from `parent` instead of baton's.
    pub fn with_parent_env<I>(config: RunnerConfig, parent: I) -> Self
    where
        I: IntoIterator<Item = (OsString, OsString)>,
    {
        let env = env::interface_env(parent, &config.pass_env);
        Self {
            config: Arc::new(config),
            env: env.into(),
            metrics: Metrics::default(),
        }
    }

    /// This runner, counting its calls in `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn config(&self) -> &RunnerConfig {
        &self.config
    }

    /// The environment every Interface gets.
    pub fn interface_env(&self) -> &[(OsString, OsString)] {
        &self.env
    }

    /// Runs a state. A non-zero exit is an error.
    pub async fn run_state(
        &self,
        inv: &Invocation,
        state: State,
    ) -> Result<CallReport, InterfaceError> {
        self.call(inv, Call::State(state), None).await
    }

    /// Runs a state that baton may abandon: when `cancel` fires, the Interface's group is
    /// terminated gracefully (SIGTERM, grace, SIGKILL) and the call ends with
    /// [`InterfaceError::Cancelled`].
    pub async fn run_state_cancellable(
        &self,
        inv: &Invocation,
        state: State,
        cancel: &CancellationToken,
    ) -> Result<CallReport, InterfaceError> {
        self.call(inv, Call::State(state), Some(cancel)).await
    }

    /// Asks a query and returns the raw report. A non-zero exit is an error; the answer is
    /// not parsed (see the typed helpers below).
    pub async fn query(
        &self,
        inv: &Invocation,
        query: Query,
    ) -> Result<CallReport, InterfaceError> {
        self.call(inv, Call::Query(query), None).await
    }

    /// `Identity`: the component's ID.
    pub async fn identity(&self, inv: &Invocation) -> Result<ComponentId, InterfaceError> {
        self.answer(inv, Query::Identity, |out| {
            protocol::parse_identity(&inv.interface, out)
        })
        .await
    }

    /// `Provides`, checked: unique keys, no `device_type`, and a version key
    /// (see [`protocol::provides_version`] for why a missing one is an error).
    pub async fn provides(&self, inv: &Invocation) -> Result<Provides, InterfaceError> {
        let provides = self.provides_unchecked(inv).await?;
        match protocol::provides_version(&inv.interface, &provides) {
            Ok(VersionKey::Both) => {
                tracing::warn!(
                    interface = %inv.interface,
                    component_type = %inv.component_type,
                    "Provides carries both rootfs-image.version and rootfs-image.{}.version; Mender prohibits the pair",
                    inv.interface
                );
                Ok(provides)
            }
            Ok(_) => Ok(provides),
            Err(answer) => Err(InterfaceError::BadAnswer {
                ctx: inv.context(Call::Query(Query::Provides)),
                answer,
            }),
        }
    }

    /// `Provides` without the version-key check: for reporting what a component says
    /// (`show-provides`) even when its Interface forgot the key.
    pub async fn provides_unchecked(&self, inv: &Invocation) -> Result<Provides, InterfaceError> {
        self.answer(inv, Query::Provides, |out| {
            protocol::parse_provides(&inv.interface, out)
        })
        .await
    }

    /// `Inventory`.
    pub async fn inventory(&self, inv: &Invocation) -> Result<Inventory, InterfaceError> {
        self.answer(inv, Query::Inventory, |out| {
            protocol::parse_inventory(&inv.interface, out)
        })
        .await
    }

    /// `SupportsRollback` (empty = No).
    pub async fn supports_rollback(&self, inv: &Invocation) -> Result<bool, InterfaceError> {
        self.yes_no(inv, Query::SupportsRollback, YesNo::No).await
    }

    /// `NeedsArtifactReboot` (empty = No).
    pub async fn needs_reboot(&self, inv: &Invocation) -> Result<RebootAnswer, InterfaceError> {
        self.answer(inv, Query::NeedsArtifactReboot, |out| {
            protocol::parse_reboot(&inv.interface, out)
        })
        .await
    }

    /// `NeedsUnpackedArtifact` (empty = Yes: payload files streamed one by one).
    pub async fn needs_unpacked(&self, inv: &Invocation) -> Result<bool, InterfaceError> {
        self.yes_no(inv, Query::NeedsUnpackedArtifact, YesNo::Yes)
            .await
    }

    /// `ProvidePayloadFileSizes` (empty = No).
    pub async fn provide_sizes(&self, inv: &Invocation) -> Result<bool, InterfaceError> {
        self.yes_no(inv, Query::ProvidePayloadFileSizes, YesNo::No)
            .await
    }

    async fn yes_no(
        &self,
        inv: &Invocation,
        query: Query,
        default: YesNo,
    ) -> Result<bool, InterfaceError> {
        let answer = self.answer(inv, query, |out| {
            protocol::parse_yes_no(&inv.interface, query, default, out)
        });
        Ok(answer.await?.is_yes())
    }

    async fn answer<T>(
        &self,
        inv: &Invocation,
        query: Query,
        parse: impl FnOnce(&[u8]) -> Result<T, BadAnswer>,
    ) -> Result<T, InterfaceError> {
        let report = self.query(inv, query).await?;
        let bad = |answer| InterfaceError::BadAnswer {
            ctx: inv.context(Call::Query(query)),
            answer,
        };
        if report.stdout_dropped > 0 {
            let problem = protocol::AnswerProblem::Truncated {
                cap: self.config.output_cap,
            };
            return Err(bad(BadAnswer::new(
                &inv.interface,
                query,
                problem,
                &report.stdout,
            )));
        }
        parse(&report.stdout).map_err(bad)
    }

    async fn call(
        &self,
        inv: &Invocation,
        call: Call,
        cancel: Option<&CancellationToken>,
    ) -> Result<CallReport, InterfaceError> {
        let span = tracing::info_span!(
            "interface",
            interface = %inv.interface,
            component_type = %inv.component_type,
            component = tracing::field::Empty,
            call = %call,
        );
        if let Some(id) = &inv.component {
            span.record("component", tracing::field::display(id));
        }
        let result = self
            .call_inner(inv, call, cancel)
            .instrument(span.clone())
            .await;
        let took = match &result {
            Ok(report) => Some(report.duration),
            // A call that never started (no such Interface) has no duration to tell.
            Err(e) => e.report().map(|r| r.duration),
        };
        self.metrics
            .interface_call(&inv.interface, call.as_str(), result_label(&result), took);
        let _entered = span.enter();
        match &result {
            // States are a deployment's milestones; queries are asked on every observation
            // pass, so their successes stay at debug.
            Ok(report) if matches!(call, Call::State(_)) => tracing::info!(
                duration_ms = report.duration.as_millis() as u64,
                result = "ok",
                "Interface call finished"
            ),
            Ok(report) => tracing::debug!(
                duration_ms = report.duration.as_millis() as u64,
                result = "ok",
                "Interface call finished"
            ),
            Err(e) => tracing::warn!(
                duration_ms = e.report().map(|r| r.duration.as_millis() as u64),
                result = e.reason(),
                error = %e,
                "Interface call failed"
            ),
        }
        result
    }

    async fn call_inner(
        &self,
        inv: &Invocation,
        call: Call,
        cancel: Option<&CancellationToken>,
    ) -> Result<CallReport, InterfaceError> {
        let ctx = || inv.context(call);
        check_program(&inv.program).map_err(|e| match e {
            ProgramProblem::NotFound => InterfaceError::NotFound {
                ctx: ctx(),
                path: inv.program.clone(),
            },
            ProgramProblem::NotExecutable => InterfaceError::NotExecutable {
                ctx: ctx(),
                path: inv.program.clone(),
            },
        })?;
        prepare_work_dir(&inv.work_dir, matches!(call, Call::Query(_))).map_err(|detail| {
            InterfaceError::WorkDir {
                ctx: ctx(),
                path: inv.work_dir.clone(),
                detail,
            }
        })?;

        let mut cmd = tokio::process::Command::new(&inv.program);
        cmd.arg(call.as_str())
            .arg(&inv.work_dir)
            .arg(inv.component_type.as_str())
            .args(&inv.args)
            .current_dir(&inv.work_dir)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        let timeout = match call {
            Call::State(_) => self.config.state_timeout,
            Call::Query(_) => self.config.query_timeout,
        };
        let limits = Limits {
            timeout,
            grace: self.config.kill_grace,
            eof_wait: self.config.eof_wait,
            cap: self.config.output_cap,
        };
        crate::durable::fault::point(format_args!("interface.before:{call}"));
        let finished = process::run(cmd, limits, cancel).await;
        crate::durable::fault::point(format_args!("interface.after:{call}"));
        let finished = finished.map_err(|source| match source.kind() {
            std::io::ErrorKind::PermissionDenied => InterfaceError::NotExecutable {
                ctx: ctx(),
                path: inv.program.clone(),
            },
            _ if source.raw_os_error() == Some(rustix::io::Errno::NOEXEC.raw_os_error()) => {
                InterfaceError::NotExecutable {
                    ctx: ctx(),
                    path: inv.program.clone(),
                }
            }
            _ => InterfaceError::Spawn { ctx: ctx(), source },
        })?;
        let report = Box::new(CallReport {
            exit: finished.exit,
            stdout: finished.stdout.bytes,
            stderr: finished.stderr.bytes,
            stdout_dropped: finished.stdout.dropped,
            stderr_dropped: finished.stderr.dropped,
            duration: finished.duration,
            strays_terminated: finished.strays_terminated,
        });
        match (finished.ending, report.exit) {
            (Ending::TimedOut, _) => Err(InterfaceError::Timeout {
                ctx: ctx(),
                after: timeout,
                report,
            }),
            (Ending::Cancelled, _) => Err(InterfaceError::Cancelled { ctx: ctx(), report }),
            (Ending::Exited, Exit::Code(0)) => Ok(*report),
            (Ending::Exited, Exit::Code(code)) => Err(InterfaceError::Failed {
                ctx: ctx(),
                code,
                report,
            }),
            (Ending::Exited, Exit::Signal(signal)) => Err(InterfaceError::Killed {
                ctx: ctx(),
                signal,
                report,
            }),
            (Ending::Exited, Exit::Unknown) => Err(InterfaceError::Failed {
                ctx: ctx(),
                code: -1,
                report,
            }),
        }
    }
}

enum ProgramProblem {
    NotFound,
    NotExecutable,
}

/// Checked before spawning so that the two commonest mistakes get their own error, naming
/// the path, rather than an errno from exec.
fn check_program(program: &Path) -> Result<(), ProgramProblem> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(program) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ProgramProblem::NotFound),
        Err(_) => Err(ProgramProblem::NotExecutable),
        Ok(m) if !m.is_file() || m.permissions().mode() & 0o111 == 0 => {
            Err(ProgramProblem::NotExecutable)
        }
        Ok(_) => Ok(()),
    }
}

/// States need their File API directory to exist already; queries get theirs created.
fn prepare_work_dir(dir: &Path, create: bool) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    if !dir.is_absolute() {
        return Err("must be an absolute path".into());
    }
    if create {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| e.to_string())?;
    }
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err("is not a directory".into()),
        Err(e) => Err(e.to_string()),
    }
}
