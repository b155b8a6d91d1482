//! Gates between plan and execute: *when* and *whether* a deployment may go on.
//!
//! The engine asks its [`Gate`] at fixed points of a deployment ([`seam`]); the
//! implementations here answer. Each gate is a pure decision (tables and properties in its
//! tests) with a thin IO edge:
//!
//! - [`windows`] (+ [`cron`], [`calendar`]): maintenance windows and the fit rule;
//! - [`policy`]: the update policy (`any`, `latest`, `pinned`), asked by the reconciler
//!   before any Interface call, not by the engine;
//! - [`locks`]: update locks held with `flock(2)` by applications;
//! - [`consent`]: the owner's consent desk (API, CLI and Kanto answer the same question);
//! - [`health`]: the health soak before the first ArtifactCommit;
//! - [`space`]: the whole plan's disk need against the free space;
//! - [`supersede`]: a newer generation ends a deployment that installed nothing yet;
//! - [`chain`]: [`Gates`], the one `Gate` the engine is given, asking each in order and
//!   telling status what the deployment waits for.
//!
//! This room never runs an Interface, never writes the journal and never decides what a
//! refusal means for the System (the engine does): it only answers.

pub mod calendar;
pub mod cron;
pub mod seam;
pub mod windows;

pub use seam::{
    BoxFuture, Gate, GateComponent, GateContext, GatePhase, GatePoint, NoGate, Verdict,
};
