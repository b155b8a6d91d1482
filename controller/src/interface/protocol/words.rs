//! The states and queries of protocol v1, spelled as the Interface sees them on its command line.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A word that is not one of the protocol's states or queries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {word:?}")]
pub struct UnknownWord {
    pub kind: &'static str,
    pub word: String,
}

// The variant identifiers *are* the protocol spellings, so Display, FromStr and serde cannot
// drift apart: all three come from `stringify!` and serde's default variant naming.
macro_rules! protocol_words {
    ($(#[$meta:meta])* $name:ident, $kind:literal { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every word, in protocol order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The exact spelling passed as the Interface's first argument.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => stringify!($variant)),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownWord;
            fn from_str(s: &str) -> Result<Self, UnknownWord> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|w| w.as_str() == s)
                    .ok_or_else(|| UnknownWord { kind: $kind, word: s.to_owned() })
            }
        }
    };
}

protocol_words! {
    /// A state of one component's installation, in the order the protocol lists them.
    State, "state" {
        /// Streams the payload (`NeedsUnpackedArtifact`/`ProvidePayloadFileSizes` asked first).
        Download,
        /// `Download` for an Interface that answered `ProvidePayloadFileSizes: Yes`.
        DownloadWithFileSizes,
        ArtifactInstall,
        ArtifactReboot,
        ArtifactVerifyReboot,
        ArtifactCommit,
        /// Always runs last, whatever happened before.
        Cleanup,
        ArtifactRollback,
        ArtifactRollbackReboot,
        ArtifactVerifyRollbackReboot,
        ArtifactFailure,
    }
}

protocol_words! {
    /// A question to an Interface, answered on stdout.
    Query, "query" {
        /// `id=<ID>`: the component's ID, asked before anything else.
        Identity,
        /// `key=value` lines, unique keys.
        Provides,
        /// `key=value` lines, a repeated key is a list.
        Inventory,
        SupportsRollback,
        /// Asked after `ArtifactInstall`.
        NeedsArtifactReboot,
        NeedsUnpackedArtifact,
        ProvidePayloadFileSizes,
    }
}

/// Every protocol word, states then queries (the `state` label of metrics).
pub fn all_words() -> impl Iterator<Item = &'static str> {
    State::ALL
        .iter()
        .map(|s| s.as_str())
        .chain(Query::ALL.iter().map(|q| q.as_str()))
}

/// The protocol word `s` is, if it is one (exact spelling).
pub fn word(s: &str) -> Option<&'static str> {
    all_words().find(|w| *w == s)
}

impl State {
    /// The states that stream a payload (the streams tree exists only during these).
    pub const fn is_download(self) -> bool {
        matches!(self, State::Download | State::DownloadWithFileSizes)
    }
}

/// One invocation's first argument: a state or a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Call {
    State(State),
    Query(Query),
}

impl Call {
    pub const fn as_str(self) -> &'static str {
        match self {
            Call::State(s) => s.as_str(),
            Call::Query(q) => q.as_str(),
        }
    }

    /// `"state"` or `"query"`: a bounded label for logs and metrics.
    pub const fn kind(self) -> &'static str {
        match self {
            Call::State(_) => "state",
            Call::Query(_) => "query",
        }
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<State> for Call {
    fn from(s: State) -> Self {
        Call::State(s)
    }
}

impl From<Query> for Call {
    fn from(q: Query) -> Self {
        Call::Query(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_words_are_bounded_to_the_protocol() {
        assert_eq!(all_words().count(), State::ALL.len() + Query::ALL.len());
        assert_eq!(word("ArtifactCommit"), Some("ArtifactCommit"));
        assert_eq!(word("Provides"), Some("Provides"));
        assert_eq!(word("Rebooting"), None);
        assert_eq!(word("artifactcommit"), None);
    }

    #[test]
    fn spellings_are_the_protocols() {
        let states: Vec<&str> = State::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            states,
            [
                "Download",
                "DownloadWithFileSizes",
                "ArtifactInstall",
                "ArtifactReboot",
                "ArtifactVerifyReboot",
                "ArtifactCommit",
                "Cleanup",
                "ArtifactRollback",
                "ArtifactRollbackReboot",
                "ArtifactVerifyRollbackReboot",
                "ArtifactFailure",
            ]
        );
        let queries: Vec<&str> = Query::ALL.iter().map(|q| q.as_str()).collect();
        assert_eq!(
            queries,
            [
                "Identity",
                "Provides",
                "Inventory",
                "SupportsRollback",
                "NeedsArtifactReboot",
                "NeedsUnpackedArtifact",
                "ProvidePayloadFileSizes",
            ]
        );
    }

    #[test]
    fn display_fromstr_and_serde_agree() {
        for &s in State::ALL {
            assert_eq!(s.to_string().parse::<State>(), Ok(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
            assert_eq!(
                serde_json::from_str::<State>(&format!("\"{s}\"")).unwrap(),
                s
            );
            assert_eq!(Call::from(s).to_string(), s.as_str());
        }
        for &q in Query::ALL {
            assert_eq!(q.to_string().parse::<Query>(), Ok(q));
            assert_eq!(serde_json::to_string(&q).unwrap(), format!("\"{q}\""));
            assert_eq!(Call::from(q).to_string(), q.as_str());
        }
    }

    #[test]
    fn near_misses_are_unknown() {
        for bad in [
            "download",
            "Download ",
            "ArtifactInstal",
            "",
            "Provides\n",
            "Identity=1",
        ] {
            assert!(bad.parse::<State>().is_err(), "{bad:?}");
            assert!(bad.parse::<Query>().is_err(), "{bad:?}");
        }
        let err = "Reboot".parse::<State>().unwrap_err();
        assert_eq!(err.to_string(), "unknown state \"Reboot\"");
    }

    #[test]
    fn only_the_two_download_states_stream() {
        let streaming: Vec<State> = State::ALL
            .iter()
            .copied()
            .filter(|s| s.is_download())
            .collect();
        assert_eq!(streaming, [State::Download, State::DownloadWithFileSizes]);
    }
}
