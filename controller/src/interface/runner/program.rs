//! Any program run with the Interfaces' process machinery: its own process group, the
//! Interfaces' clean environment, a timeout (SIGTERM to the group, SIGKILL after the grace),
//! output capped. The health gate's checks run this way, so a check behaves, and is
//! sandboxed, exactly as an Interface would be.

use std::path::Path;
use std::time::Duration;

use super::process::{self, Ending, Limits};
use super::{Exit, Runner};

/// How one program run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramRun {
    pub exit: Exit,
    pub timed_out: bool,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub duration: Duration,
}

impl ProgramRun {
    pub fn succeeded(&self) -> bool {
        !self.timed_out && self.exit == Exit::Code(0)
    }
}

impl Runner {
    /// Runs `argv` (program, then arguments) in `dir` for at most `timeout`. Fails only when
    /// it cannot be started.
    pub async fn run_program(
        &self,
        argv: &[String],
        dir: &Path,
        timeout: Duration,
    ) -> std::io::Result<ProgramRun> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| std::io::Error::other("an empty command"))?;
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .current_dir(dir)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        let limits = Limits {
            timeout,
            grace: self.config.kill_grace,
            eof_wait: self.config.eof_wait,
            cap: self.config.output_cap,
        };
        let f = process::run(cmd, limits, None).await?;
        Ok(ProgramRun {
            exit: f.exit,
            timed_out: f.ending == Ending::TimedOut,
            stdout: f.stdout.bytes,
            stderr: f.stderr.bytes,
            duration: f.duration,
        })
    }
}
