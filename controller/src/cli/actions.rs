//! The controller's actions as verbs: `baton suspend`, `unsuspend`, `retry`, `revert`.
//!
//! Each asks the running daemon (`POST /v1/actions/*`), prints what it did, and when the
//! daemon refuses, says its reason and exits 1.

use std::io::Write;

use clap::Args;

use super::view::{self, structured, View};
use super::{exit, CliError, GlobalArgs};

/// A verb and the API action it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// Start no new deployment (one that runs still finishes).
    Suspend,
    /// Undo `suspend`.
    Unsuspend,
    /// Forget the failures of the desired generation and try now (also leaves Stalled).
    Retry,
    /// Make the last good Manifest desired again (a new generation).
    Revert,
}

impl Verb {
    /// The action's name in `POST /v1/actions/<name>`.
    pub fn action(self) -> &'static str {
        match self {
            Verb::Suspend => "suspend",
            Verb::Unsuspend => "resume",
            Verb::Retry => "retry",
            Verb::Revert => "rollback",
        }
    }

    fn word(self) -> &'static str {
        match self {
            Verb::Suspend => "suspend",
            Verb::Unsuspend => "unsuspend",
            Verb::Retry => "retry",
            Verb::Revert => "revert",
        }
    }
}

#[derive(Debug, Args)]
pub struct ActionArgs {
    /// Output format
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub output: View,
}

pub async fn run(
    global: &GlobalArgs,
    verb: Verb,
    args: &ActionArgs,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    let c = view::daemon(global).await?;
    let reply = c
        .action(verb.action())
        .await
        .map_err(|source| CliError::Refused {
            verb: verb.word(),
            source,
        })?;
    if !structured(args.output, &reply, out)? {
        writeln!(
            out,
            "{} (desired generation {})",
            reply.message, reply.generation
        )?;
    }
    Ok(exit::OK)
}
