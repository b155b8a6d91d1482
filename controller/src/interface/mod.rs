//! Interfaces: executables speaking protocol v1, and the File API directory they work in.
//!
//! - [`protocol`] (pure): the states and queries, and strict parsers for the answers.
//! - [`runner`]: one process per call, in its own process group, bounded in time and output.
//! - [`file_api`]: the per-component directory an Interface works in, and the streams and
//!   files trees that carry the payload.
//! - [`download`]: the `Download` state, where an Interface call and the Artifact reader run
//!   together.
//! - [`external`]: the seam for Interfaces that are not processes (a Kanto update agent),
//!   which the engine drives through the same states and queries.
//!
//! This room never decides the order of states or what a failure means for a deployment;
//! the engine does. It never runs an Interface outside its own process group, and never lets
//! an Interface outlive the call that started it.

pub mod download;
pub mod external;
pub mod file_api;
pub mod protocol;
pub mod runner;

pub use download::{download, DownloadError, DownloadMode, DownloadOutcome, PayloadTree};
pub use runner::{CallReport, Exit, InterfaceError, Invocation, Runner, RunnerConfig};
