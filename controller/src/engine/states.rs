//! The protocol words the engine schedules, from the Interface room.

pub use crate::interface::protocol::{Query, RebootAnswer, State};
