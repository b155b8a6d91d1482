//! What the reliability suite checks after every fault, and how it counts.
//!
//! - [`Tally`]: a test that tries many cases (every crash point, every truncation length)
//!   counts them, so `RELIABILITY.md` shows cases, not test functions.
//! - [`check_protocol`]: the Interface call sequence a System saw is a legal one (a
//!   per-component automaton plus the order-group barriers), from the start and end events
//!   a logging Interface wrapper wrote ([`CallLog`]).
//! - [`stray_processes`], [`kill_strays`], [`stray_files`]: what a crash may leave behind.
//! - [`Namespace`]: a private mount namespace for a tiny tmpfs or a read-only mount.

mod namespace;
mod protocol;
mod strays;
mod tally;

pub use namespace::Namespace;
pub use protocol::{check_protocol, parse_events, CallLog, CompSpec, Event, HOST};
pub use strays::{kill_strays, stray_files, stray_processes};
pub use tally::{current_test, record, Tally};

/// `n` incompressible bytes from `seed` (xorshift): a payload that takes its full size on
/// disk and in a compressed Artifact.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
