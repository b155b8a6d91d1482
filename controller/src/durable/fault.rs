//! Named persistence points where the fault-injection tests kill baton.
//!
//! Active only in a debug build with the `fault-injection` cargo feature (the e2e crate turns
//! it on, so the binary `cargo build --workspace` makes has them). A release build never has
//! them, whatever features cargo unified: [`point`] is then an empty inline function and the
//! names are never formatted. `e2e/tests/it/reliability_release.rs` checks the release binary.
//!
//! `BATON_FAULT=crash@<point>#<n>` sends SIGKILL to this process at the n-th time the named
//! point is reached (n defaults to 1); `<point>` may end in `*` to match a prefix.
//! `BATON_FAULT=list` prints every point reached, one `fault-point <name>` line on stderr
//! each, so a test can enumerate them.
//!
//! A point is one line, `fault::point("journal.synced")` or
//! `fault::point(format_args!("intent.before:{name}"))`; it must never change what baton does
//! when no fault is planned.

use std::fmt::Display;

#[cfg(all(feature = "fault-injection", debug_assertions))]
mod enabled {
    use std::fmt::Display;
    use std::sync::{Mutex, OnceLock};

    /// What `BATON_FAULT` asks for, read once.
    enum Plan {
        List,
        Crash { pattern: String, nth: u32 },
    }

    fn plan() -> Option<&'static Plan> {
        static PLAN: OnceLock<Option<Plan>> = OnceLock::new();
        PLAN.get_or_init(|| {
            let spec = std::env::var("BATON_FAULT").ok()?;
            if spec == "list" {
                return Some(Plan::List);
            }
            let rest = spec.strip_prefix("crash@")?;
            let (pattern, nth) = match rest.rsplit_once('#') {
                Some((p, n)) => (p.to_string(), n.parse().unwrap_or(1)),
                None => (rest.to_string(), 1),
            };
            Some(Plan::Crash { pattern, nth })
        })
        .as_ref()
    }

    fn matches(pattern: &str, name: &str) -> bool {
        match pattern.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => pattern == name,
        }
    }

    pub fn point(name: &dyn Display) {
        static HITS: Mutex<u32> = Mutex::new(0);
        match plan() {
            None => {}
            Some(Plan::List) => eprintln!("fault-point {name}"),
            Some(Plan::Crash { pattern, nth }) => {
                let name = name.to_string();
                if !matches(pattern, &name) {
                    return;
                }
                let mut hits = HITS.lock().unwrap_or_else(|e| e.into_inner());
                *hits += 1;
                if *hits == *nth {
                    eprintln!("fault-injection: crashing at {name} (hit {hits})");
                    let _ = rustix::process::kill_process(
                        rustix::process::getpid(),
                        rustix::process::Signal::KILL,
                    );
                    // SIGKILL cannot be caught; this line is never reached.
                    std::process::abort();
                }
            }
        }
    }
}

/// Mark a persistence point. Free (nothing formatted) in builds without fault injection.
#[inline(always)]
pub fn point(_name: impl Display) {
    #[cfg(all(feature = "fault-injection", debug_assertions))]
    enabled::point(&_name);
}
