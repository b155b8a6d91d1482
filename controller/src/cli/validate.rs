//! `baton validate FILE... [--topology FILE] [-o json]`.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::{exit, Format, GlobalArgs};
use crate::model::Topology;
use crate::resource::{self, Diagnostic, Diagnostics, Kind};

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Files to check: Topologies, Topology components files, Manifests, constraints
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Also check each Manifest and constraints file against this Topology (with
    /// --topology-components if split)
    #[arg(long, value_name = "FILE")]
    pub topology: Option<PathBuf>,
    /// Output format
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    pub output: Format,
}

#[derive(Debug, Serialize)]
struct Report {
    valid: bool,
    files: Vec<FileReport>,
}

#[derive(Debug, Serialize)]
struct FileReport {
    file: String,
    kind: Option<Kind>,
    valid: bool,
    diagnostics: Vec<Diagnostic>,
}

pub fn run(global: &GlobalArgs, args: &ValidateArgs, out: &mut dyn Write) -> std::io::Result<u8> {
    let mut files = Vec::new();
    let components = match &global.topology_components {
        Some(p) => match resource::read_file(p) {
            Ok(b) => Some((p.display().to_string(), b)),
            Err(d) => {
                files.push(FileReport {
                    file: p.display().to_string(),
                    kind: Some(Kind::TopologyComponents),
                    valid: false,
                    diagnostics: vec![d],
                });
                None
            }
        },
        None => None,
    };
    let components_ref = components.as_ref().map(|(o, b)| (o.as_str(), b.as_slice()));
    let topology: Option<Topology> = match &args.topology {
        Some(p) => {
            let origin = p.display().to_string();
            let read = resource::read_file(p).map_err(|d| Diagnostics(vec![d]));
            match read.and_then(|b| resource::parse_topology(&origin, &b, components_ref)) {
                Ok(t) => Some(t),
                Err(d) => {
                    files.push(FileReport {
                        file: p.display().to_string(),
                        kind: Some(Kind::Topology),
                        valid: false,
                        diagnostics: d.0,
                    });
                    None
                }
            }
        }
        None => None,
    };
    for path in &args.files {
        let origin = path.display().to_string();
        let report = match resource::read_file(path) {
            Ok(bytes) => {
                let v = resource::validate(&origin, &bytes, topology.as_ref(), components_ref);
                FileReport {
                    file: origin,
                    kind: v.kind,
                    valid: v.diagnostics.is_empty(),
                    diagnostics: v.diagnostics.0,
                }
            }
            Err(d) => FileReport {
                file: origin,
                kind: None,
                valid: false,
                diagnostics: vec![d],
            },
        };
        files.push(report);
    }
    let report = Report {
        valid: files.iter().all(|f| f.valid),
        files,
    };
    match args.output {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &report)?;
            writeln!(out)?;
        }
        Format::Text => {
            for f in &report.files {
                if f.valid {
                    let kind = f.kind.map(Kind::as_str).unwrap_or("document");
                    writeln!(out, "{}: valid {kind}", f.file)?;
                }
                for d in &f.diagnostics {
                    writeln!(out, "{d}")?;
                }
            }
            let bad = report.files.iter().filter(|f| !f.valid).count();
            if bad > 0 {
                let problems: usize = report.files.iter().map(|f| f.diagnostics.len()).sum();
                writeln!(
                    out,
                    "{bad} of {} file(s) invalid, {problems} problem(s)",
                    report.files.len()
                )?;
            }
        }
    }
    Ok(if report.valid {
        exit::OK
    } else {
        exit::INVALID
    })
}
