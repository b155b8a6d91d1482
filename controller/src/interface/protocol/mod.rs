//! Protocol v1 as data: the words baton says to an Interface and the answers it accepts.
//!
//! This room is pure: no IO, no async, no clock. It names every state and query with the
//! protocol's exact spelling and turns an Interface's raw stdout into typed answers, strictly:
//! anything the protocol does not allow is a [`BadAnswer`] naming the Interface, the query and
//! the output. It never guesses what a sloppy Interface meant.

mod answer;
mod words;

pub use answer::{
    parse_identity, parse_inventory, parse_provides, parse_reboot, parse_yes_no, provides_version,
    AnswerProblem, BadAnswer, Inventory, RebootAnswer, VersionKey, YesNo, OUTPUT_EXCERPT_CHARS,
};
pub use words::{all_words, word, Call, Query, State, UnknownWord};
