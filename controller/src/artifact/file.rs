//! A local Artifact file, read: its header alone (for planning), verified whole, or verified
//! then streamed to a sink (`reader.rs` does the reading; this names the file in errors).

use std::fs::File;
use std::path::Path;

use super::error::ArtifactError;
use super::header::ArtifactHeader;
use super::limits::Limits;
use super::payload::PayloadSink;
use super::reader::{ArtifactReader, Discard, Verified};
use super::signature::VerifyPolicy;

/// Reads only as far as the header: for planning, before any state runs.
pub fn read_header(
    path: &Path,
    policy: &VerifyPolicy,
    limits: &Limits,
) -> Result<ArtifactHeader, ArtifactError> {
    let (file, size) = open_file(path)?;
    let mut header = ArtifactReader::open(file, policy, limits)?.header().clone();
    header.total_size = Some(size);
    Ok(header)
}

/// Reads and verifies a whole Artifact file, discarding the payload.
pub fn verify_file(
    path: &Path,
    policy: &VerifyPolicy,
    limits: &Limits,
) -> Result<(ArtifactHeader, Verified), ArtifactError> {
    let (file, size) = open_file(path)?;
    let reader = ArtifactReader::open(file, policy, limits)?;
    let mut header = reader.header().clone();
    header.total_size = Some(size);
    let verified = reader.stream_payload(&mut Discard)?;
    Ok((header, verified))
}

/// Verifies a local Artifact completely, then streams it to `sink` in a second pass: no
/// payload byte of an invalid Artifact reaches the sink. The second pass verifies again, so
/// a file rewritten between the passes still ends in an error, never in `Ok`.
pub fn verify_then_stream(
    path: &Path,
    policy: &VerifyPolicy,
    limits: &Limits,
    sink: &mut dyn PayloadSink,
) -> Result<(ArtifactHeader, Verified), ArtifactError> {
    verify_file(path, policy, limits)?;
    let (file, size) = open_file(path)?;
    let reader = ArtifactReader::open(file, policy, limits)?;
    let mut header = reader.header().clone();
    header.total_size = Some(size);
    let verified = reader.stream_payload(sink)?;
    Ok((header, verified))
}

fn open_file(path: &Path) -> Result<(File, u64), ArtifactError> {
    let io = |e| ArtifactError::Io {
        member: path.display().to_string(),
        source: e,
    };
    let file = File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(ArtifactError::format(
            &path.display().to_string(),
            "not a regular file",
        ));
    }
    Ok((file, meta.len()))
}
