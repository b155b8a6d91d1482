//! Why an Artifact was refused: one typed variant per kind of problem.
//!
//! Each variant has a stable, bounded `reason()` (a metric label and the word tests match
//! on) and a message that names the member and what was expected.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong reading, verifying or fetching an Artifact.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("{member}: {source}")]
    Io {
        member: String,
        #[source]
        source: io::Error,
    },
    #[error("{member}: the Artifact ends early (truncated)")]
    Truncated { member: String },
    #[error("{member}: {message}")]
    Format { member: String, message: String },
    #[error("member order: expected {expected}, found {found:?}")]
    Order { expected: String, found: String },
    #[error("{member}: {name:?} appears twice")]
    Duplicate { member: String, name: String },
    #[error(
        "{member}: entry {name:?} is not a plain relative name (absolute, '..', '.', NUL or empty)"
    )]
    Traversal { member: String, name: String },
    #[error("{member}: entry {name:?} is a {kind}; links are never accepted")]
    Link {
        member: String,
        name: String,
        kind: &'static str,
    },
    #[error("{member}: entry {name:?} is a {kind}; only regular files are accepted")]
    FileType {
        member: String,
        name: String,
        kind: String,
    },
    #[error("{member}: {what} exceeds the limit of {limit} bytes")]
    SizeLimit {
        member: String,
        what: String,
        limit: u64,
    },
    #[error("{member}: PAX size {pax} disagrees with the ustar header size {ustar}")]
    SizeMismatch {
        member: String,
        pax: u64,
        ustar: u64,
    },
    #[error("{member}: invalid checksum; expected {expected}, actual {actual}")]
    ChecksumMismatch {
        member: String,
        expected: String,
        actual: String,
    },
    #[error("{member}: has no checksum in the manifest")]
    NotInManifest { member: String },
    #[error("files listed in the manifest but not part of the Artifact: {names:?}")]
    MissingFiles { names: Vec<String> },
    #[error("expecting a signed Artifact, but no signature file (manifest.sig) was found")]
    Unsigned,
    #[error(
        "manifest.sig: the signature does not verify with any of the {keys} configured key(s)"
    )]
    SignatureInvalid { keys: usize },
    #[error("verification key {path}: {message}", path = path.display())]
    Key { path: PathBuf, message: String },
    #[error("{what} is not supported")]
    Unsupported { what: String },
    #[error("payload file {name:?}: the consumer failed: {source}")]
    Sink {
        name: String,
        #[source]
        source: io::Error,
    },
}

impl ArtifactError {
    /// A short, stable label: bounded, safe as a metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Io { .. } => "io",
            Self::Truncated { .. } => "truncated",
            Self::Format { .. } => "format",
            Self::Order { .. } => "order",
            Self::Duplicate { .. } => "duplicate",
            Self::Traversal { .. } => "traversal",
            Self::Link { .. } => "link",
            Self::FileType { .. } => "file_type",
            Self::SizeLimit { .. } => "size_limit",
            Self::SizeMismatch { .. } => "size_mismatch",
            Self::ChecksumMismatch { .. } => "checksum_mismatch",
            Self::NotInManifest { .. } => "not_in_manifest",
            Self::MissingFiles { .. } => "missing_files",
            Self::Unsigned => "unsigned",
            Self::SignatureInvalid { .. } => "signature_invalid",
            Self::Key { .. } => "key",
            Self::Unsupported { .. } => "unsupported",
            Self::Sink { .. } => "sink",
        }
    }

    /// The reasons an Artifact is most often refused for: their metric series exist from
    /// the start (any other [`ArtifactError::reason`] is counted when it happens).
    pub const USUAL_VERIFICATION_FAILURES: [&'static str; 8] = [
        "checksum_mismatch",
        "signature_invalid",
        "unsigned",
        "format",
        "truncated",
        "size_mismatch",
        "missing_files",
        "unsupported",
    ];

    /// The verification failure this error stands for, as a metric label; `None` when the
    /// Artifact is not to blame (its consumer, the Interface, stopped reading).
    pub fn verification_failure(&self) -> Option<&'static str> {
        match self {
            Self::Sink { .. } => None,
            other => Some(other.reason()),
        }
    }

    /// Why a deployment refuses this Artifact: its signature, or anything else that does
    /// not verify.
    pub fn as_reason(&self) -> crate::model::Reason {
        match self {
            Self::Unsigned | Self::SignatureInvalid { .. } | Self::Key { .. } => {
                crate::model::Reason::SignatureInvalid
            }
            _ => crate::model::Reason::VerificationFailed,
        }
    }

    pub(crate) fn format(member: &str, message: impl Into<String>) -> Self {
        Self::Format {
            member: member.to_owned(),
            message: message.into(),
        }
    }

    /// Maps a read error in `member`: an early end is a truncation, anything else is IO.
    ///
    /// Decoders report corrupt streams as `InvalidData`/`InvalidInput`: those are format
    /// errors, not IO, so a flipped byte in a compressed member is never blamed on the disk.
    pub(crate) fn read(member: &str, e: io::Error) -> Self {
        if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<Carried>()) {
            return inner
                .0
                .lock()
                .ok()
                .and_then(|mut g| g.take())
                .unwrap_or_else(|| Self::format(member, "error raised twice"));
        }
        match e.kind() {
            io::ErrorKind::UnexpectedEof => Self::Truncated {
                member: member.to_owned(),
            },
            io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => {
                Self::format(member, format!("corrupt compressed stream: {e}"))
            }
            _ => Self::Io {
                member: member.to_owned(),
                source: e,
            },
        }
    }

    /// Wraps this error in an `io::Error` so it can cross a `Read` boundary (a decoder, a
    /// sink) and come back out typed through [`ArtifactError::read`].
    pub(crate) fn into_io(self) -> io::Error {
        io::Error::other(Carried(std::sync::Mutex::new(Some(self))))
    }
}

/// An [`ArtifactError`] travelling inside an `io::Error`.
#[derive(Debug)]
pub(crate) struct Carried(std::sync::Mutex<Option<ArtifactError>>);

impl std::fmt::Display for Carried {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.lock().ok().as_deref() {
            Some(Some(e)) => write!(f, "{e}"),
            _ => f.write_str("artifact error"),
        }
    }
}

impl std::error::Error for Carried {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_consumer_is_not_the_artifacts_fault() {
        let sink = ArtifactError::Sink {
            name: "rootfs".into(),
            source: std::io::Error::other("broken pipe"),
        };
        assert_eq!(sink.verification_failure(), None);
        assert_eq!(
            ArtifactError::Unsigned.verification_failure(),
            Some("unsigned")
        );
        assert_eq!(
            ArtifactError::SignatureInvalid { keys: 1 }.verification_failure(),
            Some("signature_invalid")
        );
    }
}
