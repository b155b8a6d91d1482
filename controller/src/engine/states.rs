//! The protocol words the engine schedules, from the Interface room.

pub use crate::interface::protocol::{Call, Query, RebootAnswer, State};
