//! The baton crate's integration tests, in one binary (one link, one process start).
//!
//! Each module is one former test file; `*_support` hold what several share.

#![allow(dead_code)] // the support modules serve several test modules, each a part

// Blocking clients on real sockets, timed by the wall clock (slow bodies, slowloris).
#[allow(clippy::disallowed_methods)]
mod daemon_api;
mod daemon_events;
// Real flock(1) holders polled by the wall clock beside the paused-time scenarios.
#[allow(clippy::disallowed_methods)]
mod daemon_gates;
mod daemon_reads;
mod daemon_reconciler;
// Stamps the fake Deployer's reports with the wall clock, as the engine does.
#[allow(clippy::disallowed_methods)]
mod daemon_support;
mod daemon_watch;
// Real processes (flock, lockf, health checks), timed by the wall clock.
#[allow(clippy::disallowed_methods)]
mod gates_processes;
// Figures: what real processes and pipes cost, measured by the wall clock.
#[allow(clippy::disallowed_methods)]
mod interface_bench;
mod interface_directory;
mod interface_download;
mod interface_file_api;
mod interface_flood;
mod interface_mock;
mod interface_runner;
mod interface_support;
mod resource_corpus;
// Prints how long a refusal took (a figure, not a bound).
#[allow(clippy::disallowed_methods)]
mod resource_hostile;
mod resource_schema_agreement;
mod rooms;
