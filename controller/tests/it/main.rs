//! The baton crate's integration tests, in one binary (one link, one process start).
//!
//! Each module is one former test file; `*_support` hold what several share.

#![allow(dead_code)] // the support modules serve several test modules, each a part

mod daemon_api;
mod daemon_events;
mod daemon_reads;
mod daemon_reconciler;
mod daemon_support;
mod daemon_watch;
mod interface_bench;
mod interface_directory;
mod interface_download;
mod interface_file_api;
mod interface_flood;
mod interface_mock;
mod interface_runner;
mod interface_support;
mod resource_corpus;
mod resource_hostile;
mod resource_schema_agreement;
mod rooms;
