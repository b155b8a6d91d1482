//! The deployment engine: plan, execute and journal one deployment from a Manifest.
//!
//! The pure core ([`machine`], [`plan`]) decides; the edges ([`journal`], [`store`],
//! [`lock`]) persist. Nothing here talks to an Interface directly.

pub mod accepted;
pub mod api;
pub mod bundle;
pub mod downgrade;
pub mod driver;
pub mod exec;
pub mod journal;
pub mod live;
pub mod machine;
#[cfg(any(test, feature = "testkit"))]
pub mod oracle;
pub mod plan;
pub mod progress;
mod spans;
pub mod states;
pub mod store;
pub mod sweep;

pub use api::Deployer;
pub use live::Engine;

#[cfg(test)]
mod driver_tests;
#[cfg(test)]
mod machine_tests;
