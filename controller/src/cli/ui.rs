//! `baton ui-url [--write]`: the address of the status page with a one-time login code.
//!
//! The daemon makes the code (over its Unix socket: only its local callers may); the page is
//! served on its TCP listener (`Api.Tcp`), where the code, used once within its lifetime,
//! opens a browser session of read scope (with `--write`: one that may also act).

use std::io::Write;

use clap::Args;

use super::view;
use super::{exit, GlobalArgs};
use crate::daemon::client::block_on;
use crate::daemon::wire::LoginCode;

#[derive(Debug, Args)]
pub struct UiUrlArgs {
    /// A session that may also act (suspend, retry, revert, answer consent), not only read
    #[arg(long)]
    pub write: bool,
}

/// The URL for `code`, or why there is none.
pub fn url(code: &LoginCode) -> Result<String, String> {
    match &code.tcp {
        Some(addr) => Ok(format!("http://{addr}{}", code.path)),
        None => Err(
            "the status page is served on the API's TCP listener, and this daemon has none: \
set Api.Tcp (e.g. \"127.0.0.1:7373\") and Api.TokenFile or Api.ReadTokenFile in the configuration, \
then restart `baton run`"
                .into(),
        ),
    }
}

pub fn run(global: &GlobalArgs, args: &UiUrlArgs, out: &mut dyn Write) -> std::io::Result<u8> {
    let r = block_on(async {
        let c = view::daemon(global).await?;
        c.login_code(args.write).await.map_err(|e| {
            eprintln!("baton ui-url: {e}");
            exit::INVALID
        })
    });
    let code = match r {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    match url(&code) {
        Ok(u) => {
            writeln!(out, "{u}")?;
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
        Err(why) => {
            eprintln!("baton ui-url: {why}");
            Ok(exit::INVALID)
        }
    }
}
