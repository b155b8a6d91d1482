//! baton: an on-device reconciliation controller for multi-component updates.
//!
//! Data flows one way through a few rooms (see ARCHITECTURE.md):
//! sources -> desired-state store -> reconciler (observe, plan, execute) -> Interfaces and
//! Artifacts -> journal, status and metrics.

pub mod artifact;
pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod durable;
pub mod engine;
pub mod interface;
pub mod kanto;
pub mod metrics;
pub mod model;
pub mod planner;
pub mod resource;
pub mod signed_manifest;
pub mod telemetry;
pub mod wire;
