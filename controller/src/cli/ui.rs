//! `baton ui-url [--write]`: the address of the status page with a one-time login code.
//!
//! The daemon makes the code (over its Unix socket: only its local callers may); the page is
//! served on its TCP listener (`Api.Tcp`), where the code, used once within its lifetime,
//! opens a browser session of read scope (with `--write`: one that may also act).

use std::io::Write;

use clap::Args;

use super::view;
use super::{exit, CliError, GlobalArgs};
use crate::wire::LoginCode;

#[derive(Debug, Args)]
pub struct UiUrlArgs {
    /// A session that may also act (suspend, retry, revert, answer consent), not only read
    #[arg(long)]
    pub write: bool,
}

/// The URL for `code`; none when the daemon has no TCP listener.
pub fn url(code: &LoginCode) -> Result<String, CliError> {
    match &code.tcp {
        Some(addr) => Ok(format!("http://{addr}{}", code.path)),
        None => Err(CliError::NoStatusPage),
    }
}

pub async fn run(
    global: &GlobalArgs,
    args: &UiUrlArgs,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    let c = view::daemon(global).await?;
    let code = c.login_code(args.write).await?;
    writeln!(out, "{}", url(&code)?)?;
    eprintln!(
        "Open it within {} s; it works once and opens a {} session.",
        code.expires_in_seconds,
        if code.write {
            "read and write"
        } else {
            "read-only"
        }
    );
    Ok(exit::OK)
}
