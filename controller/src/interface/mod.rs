//! Interfaces: executables speaking protocol v1, and the File API directory they work in.
//!
//! - [`protocol`] (pure): the states and queries, and strict parsers for the answers.
//!
//! This room never decides the order of states or what a failure means for a deployment;
//! the engine does.

pub mod protocol;
