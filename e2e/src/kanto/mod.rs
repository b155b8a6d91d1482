//! Eclipse Kanto test parts: a real broker ([`broker::Mosquitto`]), a simulated backend and
//! owner-consent app ([`backend::BackendSim`], plain and things modes) and a simulated domain
//! update agent ([`agent::AgentSim`], written from the Update Agent API), over a small MQTT
//! client of their own ([`mqtt::TestClient`], not baton's connection code).
//!
//! They run on the caller's tokio runtime and need nothing of baton, so the same parts serve
//! tests of the `kanto` room directly and tests of `baton run` configured with `Kanto`.

pub mod agent;
pub mod backend;
pub mod broker;
pub mod mqtt;
