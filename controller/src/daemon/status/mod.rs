//! What users see: the status document and its event stream.
//!
//! The reconciler says what it is doing ([`conditions::Phase`]) and what happened
//! ([`history`]); the engine's progress comes through [`board::BoardSink`]; the
//! [`board::Board`] holds the one [`crate::model::Status`] and publishes every change as an
//! [`events::Event`]. Nothing here acts on the System or decides anything: it only records
//! and tells.

pub mod board;
pub mod components;
pub mod conditions;
pub mod events;
pub mod history;
pub mod progress;

pub use board::{Board, BoardSink};
pub use events::{Change, Event, Events, Replay};
