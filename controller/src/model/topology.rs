//! The Topology: which components a System has and which Interface updates each.

use serde::{Deserialize, Serialize};

use super::{ComponentType, InterfaceName};

/// A validated Topology (`kind: topology`), with its components resolved from the main file
/// or from the separate Topology components file (exactly one of the two).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    pub system_type: String,
    pub components: Vec<ComponentSpec>,
}

/// One component of the System. Several may share a component type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentSpec {
    pub component_type: ComponentType,
    /// Defaults to the component type when the Topology does not name one.
    pub interface: InterfaceName,
    pub interface_args: Vec<String>,
}
