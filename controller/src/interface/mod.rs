//! Interfaces: executables speaking protocol v1, and the File API directory they work in.
//!
//! - [`protocol`] (pure): the states and queries, and strict parsers for the answers.
//! - [`runner`]: one process per call, in its own process group, bounded in time and output.
//!
//! This room never decides the order of states or what a failure means for a deployment;
//! the engine does. It never runs an Interface outside its own process group, and never lets
//! an Interface outlive the call that started it.

pub mod protocol;
pub mod runner;

pub use runner::{CallReport, Exit, InterfaceError, Invocation, Runner, RunnerConfig};
