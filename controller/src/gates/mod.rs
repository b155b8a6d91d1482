//! Gates between plan and execute: *when* and *whether* a deployment may go on.
//!
//! The engine asks its [`Gate`] at fixed points of a deployment ([`seam`]: the engine's
//! `engine::api` seam, re-exported); the implementations here answer. Each gate is a pure
//! decision (tables and properties in its tests) with a thin IO edge:
//!
//! - [`windows`] (+ [`cron`], [`calendar`], the IO edge [`window_gate`]): maintenance
//!   windows and the fit rule;
//! - [`policy`]: the update policy (`any`, `latest`, `pinned`), asked before any Interface
//!   call by the reconciler (and by an in-process `baton install`), not by the engine;
//! - [`locks`]: update locks held with `flock(2)` by applications;
//! - [`consent`]: the owner's consent desk (API, CLI and Kanto answer the same question);
//! - [`health`]: the health soak before the first ArtifactCommit;
//! - [`space`]: the whole plan's disk need against the free space;
//! - [`supersede`]: a newer generation ends a deployment that installed nothing yet;
//! - [`chain`]: [`Gates`], the one `Gate` the engine is given, asking each in order and
//!   telling status what the deployment waits for;
//! - [`settings`]: the configuration keys, checked; [`clock`]: the wall clock tests move.
//!
//! This room never runs an Interface, never writes the journal and never decides what a
//! refusal means for the System (the engine does): it only answers. It reaches the engine
//! only through `engine::api`.

pub mod calendar;
pub mod chain;
pub mod clock;
pub mod consent;
pub mod cron;
pub mod health;
pub mod locks;
pub mod policy;
pub mod seam;
pub mod settings;
pub mod space;
pub mod supersede;
pub mod window_gate;
pub mod windows;

pub use chain::{GateParts, Gates};
pub use seam::{BoxFuture, Gate, GateContext, GatePhase, GatePoint, Open, Verdict, REASK};
pub use settings::GateSettings;
