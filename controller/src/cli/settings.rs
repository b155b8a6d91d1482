//! Configuration loading for every verb: the global flags over the environment, the main
//! and fallback files and the defaults (`config::load`), and logging set up from it.

use super::{CliError, GlobalArgs};
use crate::config::{self, Effective, ProcessEnv};

/// The effective configuration; logging is set up with its level.
pub fn effective(global: &GlobalArgs) -> Result<Effective, CliError> {
    let e = config::load(&global.overrides(), &ProcessEnv)?;
    crate::telemetry::init(
        global.log_level.unwrap_or(e.config.log_level),
        global.log_format,
    );
    Ok(e)
}
