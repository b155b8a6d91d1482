//! The deployment engine: plan, execute and journal one deployment from a Manifest.
//!
//! The rest of baton uses it only through [`api`] (and [`Engine`] and [`DatastoreReader`],
//! which implement [`api::Deployer`]). The pure core ([`machine`], [`plan`]) decides; the edges
//! ([`journal`], [`store`]) persist; [`driver`] runs the machine's steps through an
//! executor with the journal written before and after each; [`live`] is the engine over
//! the datastore. Nothing here talks to an Interface except through `interface::runner`.

mod accepted;
pub mod api;
mod bundle;
mod constrain;
mod downgrade;
mod driver;
mod ending;
mod error;
mod exec;
mod external;
mod feed;
mod gate;
mod header_memo;
mod journal;
mod kept;
mod live;
mod machine;
mod plan;
mod prepare;
mod problem;
mod progress;
mod read;
mod reader;
mod record;
mod report;
mod review;
mod spans;
mod states;
mod store;
mod sweep;

pub use api::Deployer;
pub use live::Engine;
pub use reader::DatastoreReader;

#[cfg(test)]
mod driver_tests;
#[cfg(test)]
mod machine_tests;
#[cfg(test)]
mod read_tests;
