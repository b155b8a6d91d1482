//! Mender Artifacts, format v3: a strict streaming reader, signatures, sources and the cache.
//!
//! This room is the first to touch untrusted bytes. It never extracts a tar into the
//! filesystem, never follows or creates links, never holds a payload in memory, and never
//! hands a payload byte on before the header and the signature have been checked. Every
//! size it reads is capped by [`Limits`].
//!
//! Code map: [`tar`](self) (strict tar parser) -> [`compression`](self) (bounded decoders)
//! -> [`read_ahead`](self) (the decoder on its own thread) -> [`reader`](self) ([`ArtifactReader`]: header, then payload, then [`Verified`]);
//! [`manifest`](self) and [`header`](self) are pure parsers, [`signature`](self) holds the
//! key policy, [`compat`](self) the pure "installed?" and "compatible?" rules;
//! [`bundle`] writes and opens Orchestrator bundles (a Manifest and its Artifacts in one).

pub mod bundle;
pub mod cache;
mod compat;
mod compression;
mod error;
mod file;
mod gzip;
mod header;
mod limits;
mod manifest;
mod payload;
mod read_ahead;
mod reader;
mod signature;
pub mod source;
mod store;
mod tar;
pub mod write;
/// The name tests know the writer by.
pub use write as testkit;

pub use compat::{check_depends, check_depends_on, is_installed, DependsProblem};
pub use compression::Compression;
pub use error::ArtifactError;
pub use file::{read_header, verify_file, verify_then_stream};
pub use header::{ArtifactHeader, PayloadFile, ProvideValue, RawHeader};
pub use limits::Limits;
pub use manifest::{to_hex, ArtifactManifest, Digest};
pub use payload::{widen_pipe, PayloadSink};
pub use reader::{verify_whole, ArtifactReader, Discard, Verified};
pub use signature::{SignatureStatus, VerifyKey, VerifyPolicy};
pub use store::DirectorySink;

#[cfg(test)]
mod reader_tests;
