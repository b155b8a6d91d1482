//! `baton bundle create`: a Manifest and its Artifacts as one Mender Artifact; and the
//! bundle side of `baton artifact verify`.
//!
//! `-t` is baton's global `--topology-components`, so the compatible types are given with
//! `--system-type`/`-s` (the long name Mender's manifest generator uses).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::artifact::bundle::{
    by_artifact_path, create_bundle, is_bundle, verify_bundle, BundleSpec,
};
use crate::artifact::write::Signer;
use crate::artifact::{read_header, Limits, VerifyPolicy};
use crate::resource;

/// `baton bundle ...`
#[derive(Debug, clap::Subcommand)]
pub enum BundleCommand {
    /// Gather a Manifest and the Artifacts it names into one Mender Artifact (payload type
    /// mender-orchestrator-manifest), installable with no Artifact source.
    Create(CreateArgs),
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The Manifest; each component type's Artifact is its artifact_path.
    #[arg(short = 'f', long = "file", value_name = "MANIFEST")]
    pub manifest: PathBuf,
    /// Compatible system type(s) [default: the Manifest's system_types_compatible].
    #[arg(short = 's', long = "system-type", value_name = "TYPE")]
    pub system_types: Vec<String>,
    /// Private key (PEM: RSA or EC P-256) to sign the bundle with.
    #[arg(short = 'k', long = "key", value_name = "PEM")]
    pub key: Option<PathBuf>,
    /// Where to write the bundle.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
}

/// Runs one `bundle` verb; returns the process exit code.
pub fn run(cmd: &BundleCommand, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    match cmd {
        BundleCommand::Create(a) => create(a, out, err),
    }
}

fn create(args: &CreateArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let fail = |err: &mut dyn Write, what: String| {
        let _ = writeln!(err, "baton: bundle create: {what}");
        super::exit::INVALID
    };
    let manifest = match resource::load_manifest(&args.manifest) {
        Ok(m) => m,
        Err(d) => return fail(err, format!("the Manifest is invalid:\n{d}")),
    };
    let signer = match &args.key {
        Some(k) => match std::fs::read_to_string(k)
            .map_err(|e| e.to_string())
            .and_then(|pem| Signer::from_pem(&pem))
        {
            Ok(s) => Some(s),
            Err(e) => return fail(err, format!("signing key {}: {e}", k.display())),
        },
        None => None,
    };
    let resolve = by_artifact_path(&manifest);
    let spec = BundleSpec {
        manifest: &manifest,
        compatible: args.system_types.clone(),
        signer,
        resolve: &resolve,
        policy: &VerifyPolicy::none(),
        limits: &Limits::default(),
    };
    match create_bundle(&spec, &args.output) {
        Ok(b) => {
            let _ = writeln!(
                out,
                "Bundle '{}' written to {} ({} bytes, {}): compatible with [{}]",
                b.name,
                args.output.display(),
                b.bytes,
                if b.signed { "signed" } else { "unsigned" },
                b.compatible.join(", ")
            );
            let _ = writeln!(out, "  Manifest: {}", b.index.manifest);
            for (t, f) in &b.index.artifacts {
                let _ = writeln!(out, "  {t}: {f}");
            }
            super::exit::OK
        }
        Err(e) => fail(err, e.to_string()),
    }
}

/// `baton artifact verify` on a bundle: the bundle and every Artifact inside it. `None` when
/// `file` is not a bundle (or its header cannot be read): the plain verification then speaks.
pub fn verify(
    file: &Path,
    keys: &[PathBuf],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Option<u8> {
    let policy = VerifyPolicy::load(keys).ok()?;
    let limits = Limits::default();
    let header = read_header(file, &policy, &limits).ok()?;
    if !is_bundle(&header) {
        return None;
    }
    Some(match verify_bundle(file, &policy, &limits) {
        Ok(r) => {
            let _ = writeln!(
                out,
                "Bundle file '{}' validated successfully (signature: {}): Manifest {} ({}), {} \
                 Artifact(s)",
                file.display(),
                r.header.signature,
                r.manifest_file,
                r.manifest_name,
                r.artifacts.len()
            );
            for (t, (f, h)) in &r.artifacts {
                let _ = writeln!(out, "  {t}: {f} ({}, signature: {})", h.name, h.signature);
            }
            super::exit::OK
        }
        Err(e) => {
            let reason = match &e {
                crate::artifact::bundle::BundleError::Artifact { source, .. } => source.reason(),
                _ => "bundle",
            };
            let _ = writeln!(err, "{}: invalid ({reason}): {e}", file.display());
            super::exit::INVALID
        }
    })
}
