//! Why no Artifact could be resolved: typed, each with its bounded label, the [`Reason`] a
//! condition, a history entry and a metric get, and whether another attempt may help.
//!
//! Messages name the file, the URL (never a signed link's query) or the component type and
//! Release; none ever holds a token.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::SourceKind;
use crate::artifact::ArtifactError;
use crate::model::Reason;

/// Why no Artifact could be resolved.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("no Manifest entry names an artifact_path or an artifact_name")]
    NoLocator,
    #[error("Artifact {name:?} not found (tried: {})", tried.join(", "))]
    NotFound { name: String, tried: Vec<String> },
    #[error("{}: {source}", path.display())]
    Artifact {
        path: PathBuf,
        #[source]
        source: ArtifactError,
    },
    #[error("{url}: {message}")]
    Http {
        url: String,
        message: String,
        transient: bool,
    },
    #[error("{url}: larger than the limit of {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("{origin}: holds Artifact {found:?}, expected {expected:?}")]
    NameMismatch {
        origin: String,
        expected: String,
        found: String,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("source configuration: {message}")]
    Config { message: String },
    #[error(transparent)]
    Server(#[from] Box<ServerError>),
}

/// A failure of the Mender Server source, for one component type and Release.
#[derive(Debug, thiserror::Error)]
#[error("Mender Server, component type {component_type:?}, release {release:?}: {failure}")]
pub struct ServerError {
    pub component_type: String,
    pub release: String,
    pub failure: ServerFailure,
}

/// What went wrong with the Mender Server.
#[derive(Debug, thiserror::Error)]
pub enum ServerFailure {
    #[error(
        "no mender-auth on the system bus: the Mender client must run in daemon mode ({detail})"
    )]
    NoMenderAuth { detail: String },
    #[error("mender-auth refused: {detail}")]
    AuthDenied { detail: String },
    #[error("mender-auth gave no token within {waited:?} (is the device accepted on the server?)")]
    NoToken { waited: Duration },
    #[error("the server refused the device's token again after a fresh one was fetched")]
    Unauthorized,
    #[error("server unreachable: {detail}")]
    Unreachable { detail: String },
    #[error("the server answered {what}")]
    Protocol { what: String },
    #[error("release not found: the server lists no Artifact of this release for this component type (upload one whose device type is the component type)")]
    ReleaseNotFound,
    #[error("no Artifact of the release fits the components: {}", why.join("; "))]
    NoCompatible { why: Vec<String> },
    #[error("several Artifacts of the release fit the components ({}): remove all but one from the server", ids.join(", "))]
    Ambiguous { ids: Vec<String> },
    #[error("the download link expired {renewals} times in a row")]
    LinkExpired { renewals: usize },
    #[error("downloading Artifact {id}: {source}")]
    Download {
        id: String,
        #[source]
        source: Box<SourceError>,
    },
}

impl ServerError {
    /// A [`SourceError`] for `failure` of `release` for `component_type`.
    pub fn failed(component_type: &str, release: &str, failure: ServerFailure) -> SourceError {
        SourceError::Server(Box::new(ServerError {
            component_type: component_type.to_owned(),
            release: release.to_owned(),
            failure,
        }))
    }
}

impl ServerFailure {
    fn label(&self) -> &'static str {
        match self {
            Self::NoMenderAuth { .. } => "no_mender_auth",
            Self::AuthDenied { .. } => "auth_denied",
            Self::NoToken { .. } => "no_token",
            Self::Unauthorized => "unauthorized",
            Self::Unreachable { .. } => "unreachable",
            Self::Protocol { .. } => "protocol",
            Self::ReleaseNotFound => "release_not_found",
            Self::NoCompatible { .. } => "incompatible",
            Self::Ambiguous { .. } => "ambiguous",
            Self::LinkExpired { .. } => "link_expired",
            Self::Download { source, .. } => source.reason(),
        }
    }

    fn condition_reason(&self) -> Reason {
        match self {
            Self::ReleaseNotFound => Reason::ArtifactNotFound,
            Self::NoCompatible { .. } | Self::Ambiguous { .. } => Reason::Incompatible,
            Self::Download { source, .. } => source.condition_reason(),
            Self::NoMenderAuth { .. }
            | Self::AuthDenied { .. }
            | Self::NoToken { .. }
            | Self::Unauthorized
            | Self::Unreachable { .. }
            | Self::Protocol { .. }
            | Self::LinkExpired { .. } => Reason::DownloadFailed,
        }
    }
}

impl SourceError {
    /// Every [`Reason`] [`SourceError::condition_reason`] gives (metric label sets start at 0).
    pub const REASONS: [Reason; 6] = [
        Reason::ArtifactNotFound,
        Reason::Incompatible,
        Reason::DownloadFailed,
        Reason::VerificationFailed,
        Reason::SignatureInvalid,
        Reason::EngineError,
    ];

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }

    /// A bounded label for logs and tests (finer than [`SourceError::condition_reason`]).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoLocator => "no_locator",
            Self::NotFound { .. } => "not_found",
            Self::Artifact { source, .. } => source.reason(),
            Self::Http { .. } => "http",
            Self::TooLarge { .. } => "size_limit",
            Self::NameMismatch { .. } => "name_mismatch",
            Self::Io { .. } => "io",
            Self::Config { .. } => "config",
            Self::Server(e) => e.failure.label(),
        }
    }

    /// The [`Reason`] this failure gives a condition, a history entry and the
    /// `baton_artifact_fetch_failures_total` metric.
    pub fn condition_reason(&self) -> Reason {
        match self {
            Self::NoLocator | Self::NotFound { .. } => Reason::ArtifactNotFound,
            Self::Artifact { source, .. } => source.as_reason(),
            Self::NameMismatch { .. } => Reason::VerificationFailed,
            Self::Http { .. } | Self::TooLarge { .. } | Self::Io { .. } => Reason::DownloadFailed,
            Self::Config { .. } => Reason::EngineError,
            Self::Server(e) => e.failure.condition_reason(),
        }
    }

    /// The kind of source that failed, when one did (a local `artifact_path` is `Path`).
    pub fn source_kind(&self) -> Option<SourceKind> {
        match self {
            Self::Server(_) => Some(SourceKind::MenderServer),
            Self::Http { .. } | Self::TooLarge { .. } => Some(SourceKind::Url),
            _ => None,
        }
    }

    /// Worth another attempt (network trouble), as opposed to a definite answer.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Http {
                transient: true,
                ..
            }
        )
    }

    /// Whether this says "this source does not have it" (the next source is asked).
    pub(crate) fn is_absent(&self) -> bool {
        match self {
            Self::NotFound { .. } => true,
            Self::Server(e) => matches!(e.failure, ServerFailure::ReleaseNotFound),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_server_failure_names_component_type_and_release_and_has_a_reason() {
        let cases = [
            (
                ServerFailure::NoMenderAuth {
                    detail: "org.freedesktop.DBus.Error.ServiceUnknown".into(),
                },
                Reason::DownloadFailed,
                "daemon mode",
            ),
            (
                ServerFailure::NoToken {
                    waited: Duration::from_secs(30),
                },
                Reason::DownloadFailed,
                "no token",
            ),
            (
                ServerFailure::Unreachable {
                    detail: "connection refused".into(),
                },
                Reason::DownloadFailed,
                "unreachable",
            ),
            (
                ServerFailure::ReleaseNotFound,
                Reason::ArtifactNotFound,
                "release not found",
            ),
            (
                ServerFailure::NoCompatible {
                    why: vec!["a1: depends on x".into()],
                },
                Reason::Incompatible,
                "a1: depends on x",
            ),
            (
                ServerFailure::Ambiguous {
                    ids: vec!["a1".into(), "a2".into()],
                },
                Reason::Incompatible,
                "a1, a2",
            ),
            (
                ServerFailure::LinkExpired { renewals: 3 },
                Reason::DownloadFailed,
                "expired 3 times",
            ),
        ];
        for (failure, reason, words) in cases {
            let e = ServerError::failed("rtos", "rtos-v2", failure);
            let text = e.to_string();
            assert!(
                text.contains("\"rtos\"") && text.contains("\"rtos-v2\""),
                "{text}"
            );
            assert!(text.contains(words), "{text}");
            assert_eq!(e.condition_reason(), reason, "{text}");
            assert_eq!(e.source_kind(), Some(SourceKind::MenderServer));
            assert!(!e.is_transient());
        }
        let absent = ServerError::failed("rtos", "r", ServerFailure::ReleaseNotFound);
        assert!(absent.is_absent());
        assert_eq!(absent.reason(), "release_not_found");
    }

    #[test]
    fn each_local_failure_has_the_reason_a_deployment_refuses_for() {
        let table = [
            (
                SourceError::NotFound {
                    name: "a".into(),
                    tried: vec![],
                },
                Reason::ArtifactNotFound,
            ),
            (SourceError::NoLocator, Reason::ArtifactNotFound),
            (
                SourceError::Artifact {
                    path: "/a".into(),
                    source: ArtifactError::Unsigned,
                },
                Reason::SignatureInvalid,
            ),
            (
                SourceError::Artifact {
                    path: "/a".into(),
                    source: ArtifactError::Truncated { member: "x".into() },
                },
                Reason::VerificationFailed,
            ),
            (
                SourceError::NameMismatch {
                    origin: "u".into(),
                    expected: "a".into(),
                    found: "b".into(),
                },
                Reason::VerificationFailed,
            ),
            (
                SourceError::Http {
                    url: "u".into(),
                    message: "m".into(),
                    transient: true,
                },
                Reason::DownloadFailed,
            ),
            (
                SourceError::Config {
                    message: "m".into(),
                },
                Reason::EngineError,
            ),
        ];
        for (e, want) in table {
            assert_eq!(e.condition_reason(), want, "{e}");
            assert!(SourceError::REASONS.contains(&want), "{want}");
        }
    }
}
