//! The resources baton reads, as typed values.
//!
//! Once a Topology or Manifest has been accepted by [`crate::resource`] it is one of these
//! types, and every invariant the schema and the semantic checks promise holds by construction
//! (an [`Order`] is 1..=100, an [`InterfaceName`] cannot hold `/`). Later code never re-checks.
//! This module does no IO.

mod constraints;
mod manifest;
mod names;
mod origin;
mod provides;
mod reason;
mod status;
mod topology;

pub use constraints::{
    Combination, CombinationPattern, Constraints, EndState, NamePattern, Running, Transition,
};
pub use manifest::{ComponentTarget, Manifest};
pub use names::{ComponentId, ComponentType, InterfaceName, NameError, Order};
pub use origin::Origin;
pub use provides::Provides;
pub use reason::Reason;
pub use status::{
    ComponentStatus, Condition, ConditionStatus, ConditionType, DeploymentComponent,
    DeploymentStatus, HistoryComponent, HistoryEntry, Outcome, Status,
};
pub use topology::{ComponentSpec, Topology};

/// The `api_version` every resource carries.
pub const API_VERSION: &str = "mender/v1";

/// The `api_version` of baton's own resources (constraints), which Mender does not define.
pub const BATON_API_VERSION: &str = "baton/v1";
