//! `baton status [--watch]`: where the controller stands, once or as it changes.
//!
//! With `--watch` it prints the status, then again after every change the daemon's event
//! stream reports (a burst of changes is one redraw), like `kubectl get -w`: on a terminal
//! the text view is redrawn in place; otherwise (and for `-o json|yaml`) each new view is
//! printed after the last (JSON: one document per line; YAML: `---` between documents).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use clap::Args;

use super::inspect::{self, print_status};
use super::view::{self, View};
use super::{CliError, GlobalArgs};
use crate::client::Client;
use crate::model::Status;
use crate::wire::sse;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Output format
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub output: View,
    /// Keep printing the status as it changes (until interrupted)
    #[arg(short = 'w', long)]
    pub watch: bool,
}

/// Changes closer together than this are one redraw.
const SETTLE: Duration = Duration::from_millis(150);

pub async fn status(
    global: &GlobalArgs,
    args: &StatusArgs,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    let view_args = inspect::ViewArgs {
        output: args.output,
    };
    if !args.watch {
        return inspect::status(global, &view_args, out).await;
    }
    let tty = args.output == View::Text && std::io::stdout().is_terminal();
    let c = view::daemon(global).await?;
    watch(&c, args.output, tty, out).await
}

fn render(s: &Status, view: View) -> std::io::Result<String> {
    let mut buf = Vec::new();
    match view {
        View::Text => print_status(s, &mut buf)?,
        View::Json => {
            serde_json::to_writer(&mut buf, s)?;
            buf.push(b'\n');
        }
        View::Yaml => {
            buf.extend_from_slice(b"---\n");
            let text = serde_saphyr::to_string(s).map_err(std::io::Error::other)?;
            buf.extend_from_slice(text.as_bytes());
        }
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

async fn watch(c: &Client, view: View, tty: bool, out: &mut dyn Write) -> Result<u8, CliError> {
    let mut shown = String::new();
    loop {
        // Subscribe first, then read: a change in between is an event, so never missed.
        let mut events = c.events(None, true).await?;
        loop {
            let s = c.status().await?;
            let now = render(&s, view)?;
            if now != shown {
                if tty && !shown.is_empty() {
                    // Up over the previous view, clear to the end of the screen.
                    write!(out, "\x1b[{}A\x1b[J", shown.lines().count())?;
                } else if view == View::Text && !shown.is_empty() {
                    writeln!(out)?;
                }
                out.write_all(now.as_bytes())?;
                out.flush()?;
                shown = now;
            }
            // Wait for a change (heartbeats are not changes), then let a burst settle.
            let ended = loop {
                match events.next().await {
                    None | Some(Err(_)) => break true,
                    Some(Ok(m)) if m.event == sse::HEARTBEAT || m.event == sse::HELLO => {}
                    Some(Ok(_)) => break false,
                }
            };
            if ended {
                break;
            }
            let _ = tokio::time::timeout(SETTLE, async {
                while let Some(Ok(_)) = events.next().await {}
            })
            .await;
        }
        // The stream ended (the daemon restarts, or this watcher fell behind): start over.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
