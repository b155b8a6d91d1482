//! Eclipse Kanto: baton as a drop-in for Kanto's Update Manager over MQTT, and Kanto's domain
//! update agents as baton components.
//!
//! A Kanto backend sends a desired state (plain MQTT `deviceupdate/desiredstate`, or the
//! `UpdateManager` Ditto feature's `apply`); baton maps it onto the Topology as one Manifest,
//! admits it through the one admission path as one generation of the desired state, and
//! reports IDENTIFYING ... COMPLETED/INCOMPLETE feedback from its own progress, with the
//! retained current state (inventory) beside it.
//!
//! The pure half (no IO, no async, no clock): [`wire`] and [`things`] (the messages),
//! [`topics`], [`config`], [`mapping`] (desired state -> Manifest), [`activity`] (one activity
//! ends once), [`feedback`] (baton's events -> Kanto feedback), [`inventory`] (observation ->
//! Kanto inventory), [`agent_phase`] (what an agent's feedback means for the phase awaited).
//! The IO half: [`link`] (one MQTT connection: reconnect with backoff, resubscribe, dispatch),
//! [`manager`] (the Update Manager's side of the protocol), [`agent`] (drives one Kanto
//! update agent), [`agent_driver`] (an agent as the engine's external Interface for a
//! `kanto:<domain>` component) and [`slices`] (each agent's slice of a desired state, kept in
//! the datastore for Download).
//!
//! The Update Manager half talks to the rest of baton only through [`edge`]: admission, the
//! system view, the event stream and the consent desk. It never acts on the System itself,
//! never reads the engine's journal and never runs an Interface: a Kanto desired state changes
//! the System only as a generation of the desired state, which the reconciler deploys like
//! any other. The agent half is the other way round: the engine drives it, as it drives an
//! executable, through `interface::external` (the engine never names this room).

pub mod activity;
pub mod agent;
pub mod agent_driver;
pub mod agent_phase;
pub mod backend;
pub mod config;
pub mod edge;
pub mod feedback;
pub mod inventory;
pub mod link;
pub mod manager;
pub mod mapping;
pub mod slices;
pub mod things;
pub mod topics;
pub mod wire;

pub use config::{KantoConfig, KantoConfigError, KantoSettings};
