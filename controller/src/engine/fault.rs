//! Named persistence points where the fault-injection tests kill baton.
//!
//! Built only with the `fault-injection` cargo feature; in every other build [`point`] is an
//! empty inline function. `BATON_FAULT=crash@<point>#<n>` sends SIGKILL to this process at the
//! n-th time the named point is reached (n defaults to 1); `<point>` may end in `*` to match a
//! prefix. `BATON_FAULT=list` prints every point reached, one per line on stderr, so a test
//! can enumerate them.

#[cfg(feature = "fault-injection")]
mod enabled {
    use std::collections::HashMap;
    use std::sync::Mutex;

    static HITS: Mutex<Option<HashMap<String, u32>>> = Mutex::new(None);

    struct Plan {
        pattern: String,
        nth: u32,
    }

    fn plan() -> Option<Plan> {
        let spec = std::env::var("BATON_FAULT").ok()?;
        let rest = spec.strip_prefix("crash@")?;
        let (pattern, nth) = match rest.rsplit_once('#') {
            Some((p, n)) => (p.to_string(), n.parse().unwrap_or(1)),
            None => (rest.to_string(), 1),
        };
        Some(Plan { pattern, nth })
    }

    fn matches(pattern: &str, name: &str) -> bool {
        match pattern.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => pattern == name,
        }
    }

    pub fn point(name: &str) {
        if std::env::var("BATON_FAULT").as_deref() == Ok("list") {
            eprintln!("fault-point {name}");
            return;
        }
        let Some(plan) = plan() else { return };
        if !matches(&plan.pattern, name) {
            return;
        }
        let mut hits = HITS.lock().unwrap_or_else(|e| e.into_inner());
        let count = hits
            .get_or_insert_with(HashMap::new)
            .entry(plan.pattern.clone())
            .or_insert(0);
        *count += 1;
        if *count == plan.nth {
            eprintln!("fault-injection: crashing at {name} (hit {count})");
            let _ = rustix::process::kill_process(
                rustix::process::getpid(),
                rustix::process::Signal::KILL,
            );
            // SIGKILL cannot be caught; this line is never reached.
            std::process::abort();
        }
    }
}

/// Mark a persistence point. Free in builds without the `fault-injection` feature.
#[inline(always)]
pub fn point(_name: &str) {
    #[cfg(feature = "fault-injection")]
    enabled::point(_name);
}
