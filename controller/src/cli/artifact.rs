//! `baton artifact inspect` and `baton artifact verify`: the Artifact reader on the command
//! line.
//!
//! `inspect` shows what `mender-artifact read` shows (name, compatible types, provides,
//! depends, clears, meta-data, files with sizes and checksums); `-o json` for tools.
//! `verify` reads the whole Artifact and exits 0 when it is valid, 1 otherwise with the
//! reason. Both read the payload (sizes and checksums need it) and fail closed: a key that
//! cannot be loaded, or that does not verify the signature, is a failure, never a warning.

use std::io::Write;
use std::path::PathBuf;

use crate::artifact::{
    to_hex, verify_file, ArtifactError, ArtifactHeader, Limits, SignatureStatus, Verified,
    VerifyPolicy,
};

/// `baton artifact ...`
#[derive(Debug, clap::Subcommand)]
pub enum ArtifactCommand {
    /// Show the header and files of an Artifact (like `mender-artifact read`).
    Inspect(InspectArgs),
    /// Check an Artifact completely (a bundle: with every Artifact in it): exit 0 if valid,
    /// 1 if not (with the reason).
    Verify(VerifyArgs),
}

/// Output format of `inspect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The Artifact file (`.mender`).
    pub file: PathBuf,
    /// Public key(s) (PEM) to verify the signature with.
    #[arg(short = 'k', long = "key", value_name = "PEM")]
    pub keys: Vec<PathBuf>,
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: Output,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The Artifact file (`.mender`).
    pub file: PathBuf,
    /// Public key(s) (PEM); when given, an unsigned Artifact is invalid and any key may
    /// verify the signature (Mender's `ArtifactVerifyKeys`).
    #[arg(short = 'k', long = "key", value_name = "PEM")]
    pub keys: Vec<PathBuf>,
}

/// Runs one `artifact` verb; returns the process exit code.
pub fn run(cmd: &ArtifactCommand, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    match cmd {
        ArtifactCommand::Inspect(a) => inspect(a, out, err),
        ArtifactCommand::Verify(a) => verify(a, out, err),
    }
}

fn check(
    file: &std::path::Path,
    keys: &[PathBuf],
) -> Result<(ArtifactHeader, Verified), ArtifactError> {
    let policy = VerifyPolicy::load(keys)?;
    verify_file(file, &policy, &Limits::default())
}

fn fail(err: &mut dyn Write, file: &std::path::Path, e: &ArtifactError) -> u8 {
    let _ = writeln!(err, "{}: invalid ({}): {e}", file.display(), e.reason());
    1
}

/// `baton artifact verify FILE [--key PEM]...`; a bundle is checked with every Artifact in it.
pub fn verify(args: &VerifyArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    if let Some(code) = super::bundle::verify(&args.file, &args.keys, out, err) {
        return code;
    }
    match check(&args.file, &args.keys) {
        Ok((h, _)) => {
            let _ = writeln!(
                out,
                "Artifact file '{}' validated successfully (signature: {})",
                args.file.display(),
                h.signature
            );
            0
        }
        Err(e) => fail(err, &args.file, &e),
    }
}

/// `baton artifact inspect FILE [-o json] [--key PEM]...`
pub fn inspect(args: &InspectArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let (h, v) = match check(&args.file, &args.keys) {
        Ok(x) => x,
        Err(e) => return fail(err, &args.file, &e),
    };
    let written = match args.output {
        Output::Json => serde_json::to_writer_pretty(&mut *out, &json(&h, &v))
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out)),
        Output::Text => out.write_all(text(&h, &v).as_bytes()),
    };
    match written {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "baton: cannot write the output: {e}");
            1
        }
    }
}

fn json(h: &ArtifactHeader, v: &Verified) -> serde_json::Value {
    let sizes: std::collections::BTreeMap<&str, u64> =
        v.files().iter().map(|(n, s)| (n.as_str(), *s)).collect();
    let files: Vec<_> = h
        .payload_files
        .iter()
        .map(|f| {
            serde_json::json!({
                "name": f.name,
                "size": sizes.get(f.name.as_str()),
                "sha256": to_hex(&f.sha256),
            })
        })
        .collect();
    let mut doc = serde_json::to_value(h).unwrap_or_default();
    if let Some(m) = doc.as_object_mut() {
        m.insert("format".into(), "mender".into());
        m.insert("version".into(), 3.into());
        m.insert("payload_files".into(), files.into());
        m.insert("payload_bytes".into(), v.payload_bytes().into());
        m.insert("verified".into(), true.into());
    }
    doc
}

fn text(h: &ArtifactHeader, v: &Verified) -> String {
    use std::fmt::Write as _;
    let list = |v: &[String]| format!("[{}]", v.join(", "));
    let mut s = String::new();
    let _ = writeln!(s, "Mender Artifact:");
    let _ = writeln!(s, "  Name: {}", h.name);
    let _ = writeln!(s, "  Format: mender");
    let _ = writeln!(s, "  Version: 3");
    let _ = match &h.signature {
        SignatureStatus::Verified { key } => {
            writeln!(s, "  Signature: {} (key {key})", h.signature)
        }
        other => writeln!(s, "  Signature: {other}"),
    };
    let _ = writeln!(s, "  Compatible types: {}", list(&h.device_types));
    let _ = writeln!(s, "  Provides group: {}", h.group.as_deref().unwrap_or(""));
    let _ = writeln!(
        s,
        "  Depends on one of artifact(s): {}",
        list(&h.depends_artifact_names)
    );
    let _ = writeln!(
        s,
        "  Depends on one of group(s): {}",
        list(&h.depends_groups)
    );
    let _ = writeln!(s, "  State scripts: {}", list(&h.scripts));
    let _ = writeln!(
        s,
        "  Compression: header {}, data {}",
        h.header_compression,
        h.data_compression
            .map_or("none (no data member)".to_string(), |c| c.to_string())
    );
    let _ = writeln!(s, "\nUpdates:");
    let _ = writeln!(
        s,
        "  - Type: {}",
        h.payload_type
            .as_deref()
            .unwrap_or("(empty: bootstrap Artifact)")
    );
    let _ = writeln!(s, "    Provides:");
    for (k, val) in &h.provides {
        let _ = writeln!(s, "      {k}: {}", val.values().join(", "));
    }
    let _ = writeln!(s, "    Depends:");
    for (k, val) in &h.depends {
        let _ = writeln!(s, "      {k}: {}", list(val.values()));
    }
    match &h.clears_provides {
        Some(c) => {
            let _ = writeln!(s, "    Clears Provides: {}", list(c));
        }
        None => {
            let _ = writeln!(s, "    Clears Provides: (not set: all)");
        }
    }
    let meta = h.meta_data.as_ref().map_or("{}".to_string(), |m| {
        serde_json::to_string(m).unwrap_or_default()
    });
    let _ = writeln!(s, "    Metadata: {meta}");
    let _ = writeln!(s, "    Files:");
    for (name, size) in v.files() {
        let sum = h
            .payload_files
            .iter()
            .find(|f| f.name == *name)
            .map(|f| to_hex(&f.sha256))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "      - name: {name}\n        size: {size}\n        checksum: {sum}"
        );
    }
    s
}
