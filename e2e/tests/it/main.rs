//! The end-to-end tests, in one binary: each module is one former test file, run against the
//! real `baton` binary and the real tools. What several share is in the e2e library: the
//! fixtures (`e2e::fixture`) and what a test needs from the machine (`e2e::need`).

// Real processes, sockets and servers, waited for and timed by the wall clock; tokio's
// pausable clock is the controller's (clippy.toml).
#![allow(clippy::disallowed_methods)]

mod artifact_agreement;
mod artifact_cli;
mod artifact_sources;
mod artifact_tls;
mod bench_quick;
mod bundle_cli;
mod controller_run;
mod controller_verbs;
mod engine_cli;
mod engine_crash;
mod engine_ordering;
mod gates;
mod kanto_agents;
mod kanto_daemon;
mod kanto_room;
mod mender_inventory;
mod mender_module;
mod mender_module_calls;
mod mender_official;
mod mender_server;
mod mender_server_failures;
mod mender_server_resolver;
mod observability_logs;
mod observability_prometheus;
mod package_deb;
mod package_files;
mod package_yocto;
mod plan_bundles;
mod read_verbs_daemon;
mod reliability_artifacts;
mod reliability_crash;
mod reliability_daemon;
mod reliability_download;
mod reliability_fuzz;
mod reliability_interfaces;
mod reliability_journal;
mod reliability_manifests;
mod reliability_powerloss;
mod reliability_release;
mod reliability_resources;
mod security_api;
mod ui_page;
mod update_module_bridge;
mod validate_cli;
