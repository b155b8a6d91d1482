//! How the controller's client verbs print: text for people, JSON or YAML for tools, and
//! the connection to the daemon they share.

use std::io::Write;

use clap::ValueEnum;
use serde::Serialize;

use super::{settings, CliError, GlobalArgs};
use crate::client::handshake::{self, Daemon};
use crate::client::Client;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum View {
    #[default]
    Text,
    Json,
    Yaml,
}

/// Prints `value` as JSON or YAML; `false` for text (the caller prints it).
pub fn structured<T: Serialize>(
    view: View,
    value: &T,
    out: &mut dyn Write,
) -> std::io::Result<bool> {
    match view {
        View::Text => Ok(false),
        View::Json => {
            serde_json::to_writer_pretty(&mut *out, value)?;
            writeln!(out)?;
            Ok(true)
        }
        View::Yaml => {
            let text = serde_saphyr::to_string(value).map_err(std::io::Error::other)?;
            out.write_all(text.as_bytes())?;
            if !text.ends_with('\n') {
                writeln!(out)?;
            }
            Ok(true)
        }
    }
}

/// The daemon named by the configuration, when it serves this configuration's datastore
/// (a daemon of another datastore is never asked to act on its System for this one).
pub async fn daemon(global: &GlobalArgs) -> Result<Client, CliError> {
    let eff = settings::effective(global)?;
    let socket = &eff.config.api.socket;
    let ours = handshake::canonical(&eff.dirs.datastore_dir);
    match handshake::find(socket, &ours).await {
        Daemon::Same(c) => Ok(c),
        Daemon::Other { socket, theirs } => {
            Err(CliError::OtherDaemon(Box::new(super::error::Elsewhere {
                socket,
                theirs: theirs.datastore,
                ours,
            })))
        }
        Daemon::None => Err(CliError::NoDaemon(socket.clone())),
    }
}

/// A fixed-width table.
pub fn table(out: &mut dyn Write, header: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        s.trim_end().to_string()
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for r in rows {
        writeln!(out, "{}", line(r.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}
