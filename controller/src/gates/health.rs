//! The health gate: a soak of health checks across the whole System before the commit.
//!
//! At `BeforeCommit` (every component installed, and rebooted where it had to be) every
//! check runs at the soak's start, then every `IntervalSeconds`, and once more when
//! `SoakSeconds` have passed; every run of every check must exit 0 within `TimeoutSeconds`.
//! The first failure refuses the commit (reason `HealthCheckFailed`, naming the check, the
//! run, and the end of its output): the engine rolls the whole System back. Between runs the
//! gate answers `Wait` (reason `HealthSoak`) until the next one, so the wait shows in status.
//!
//! Checks run through the Interface runner's process machinery ([`Runner::run_program`]):
//! their own process group, the Interfaces' clean environment, killed on timeout, output
//! capped; and as children of baton they share the service's sandbox, like Interfaces.
//! [`Soak`] is the pure schedule.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use tokio::time::Instant;

use super::clock::Clock;
use super::seam::{deployment_of, BoxFuture, Gate, GateContext, GatePoint, Verdict};
use crate::interface::runner::{Exit, Runner};
use crate::model::Reason;

/// Bytes of a failed check's output kept in the message (the end of it).
pub const OUTPUT_KEPT: usize = 1024;

/// The runs of one soak (pure): at 0, every `interval`, and at `soak`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Soak {
    soak: Duration,
    interval: Duration,
    /// Runs done so far.
    done: u32,
}

impl Soak {
    pub fn new(soak: Duration, interval: Duration) -> Self {
        Self {
            soak,
            interval: interval.max(Duration::from_secs(1)),
            done: 0,
        }
    }

    /// How many runs the soak has.
    pub fn runs(&self) -> u32 {
        let every = self.soak.as_secs() / self.interval.as_secs();
        let tail = u32::from(!self.soak.as_secs().is_multiple_of(self.interval.as_secs()));
        every as u32 + 1 + tail
    }

    /// When (after the soak's start) run number `done` (from 0) is due; `None` when over.
    pub fn next_due(&self) -> Option<Duration> {
        (self.done < self.runs()).then(|| (self.interval * self.done).min(self.soak))
    }

    /// A run passed.
    pub fn ran(&mut self) {
        self.done += 1;
    }

    pub fn done(&self) -> u32 {
        self.done
    }
}

/// One soak in progress.
struct Session {
    deployment: String,
    started: Instant,
    soak: Soak,
}

/// The health gate (`BeforeCommit`).
pub struct HealthGate {
    runner: Runner,
    checks: Vec<Vec<String>>,
    soak: Duration,
    interval: Duration,
    timeout: Duration,
    clock: Arc<dyn Clock>,
    session: Mutex<Option<Session>>,
}

impl HealthGate {
    pub fn new(
        runner: Runner,
        checks: Vec<Vec<String>>,
        soak_seconds: u64,
        interval_seconds: u64,
        timeout_seconds: u64,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            clock,
            runner,
            checks,
            soak: Duration::from_secs(soak_seconds),
            interval: Duration::from_secs(interval_seconds.max(1)),
            timeout: Duration::from_secs(timeout_seconds.max(1)),
            session: Mutex::new(None),
        }
    }

    pub fn finished(&self, deployment: &str) {
        let mut s = self.session.lock().unwrap_or_else(|p| p.into_inner());
        if s.as_ref().is_some_and(|s| s.deployment == deployment) {
            *s = None;
        }
    }

    /// Runs every check once, in parallel; the first failure in words.
    async fn run_all(&self) -> Result<(), String> {
        let runs = self.checks.iter().map(|argv| async move {
            let shown = argv.join(" ");
            match self
                .runner
                .run_program(argv, &PathBuf::from("/"), self.timeout)
                .await
            {
                Err(e) => Err(format!("`{shown}` could not be started: {e}")),
                Ok(r) if r.succeeded() => Ok(()),
                Ok(r) => {
                    let how = if r.timed_out {
                        format!("did not end within {} s", self.timeout.as_secs())
                    } else {
                        match r.exit {
                            Exit::Code(c) => format!("exited with {c}"),
                            Exit::Signal(s) => format!("was killed by signal {s}"),
                            Exit::Unknown => "ended unknown".into(),
                        }
                    };
                    let mut out = r.stdout.clone();
                    out.extend_from_slice(&r.stderr);
                    Err(format!("`{shown}` {how}: {}", tail(&out)))
                }
            }
        });
        join_all(runs)
            .await
            .into_iter()
            .find_map(Result::err)
            .map_or(Ok(()), Err)
    }

    async fn decide(&self, ctx: &GateContext) -> Verdict {
        if self.checks.is_empty() {
            return Verdict::Proceed;
        }
        let (started, mut soak) = {
            let mut s = self.session.lock().unwrap_or_else(|p| p.into_inner());
            match &*s {
                Some(x) if x.deployment == deployment_of(ctx) => (x.started, x.soak),
                _ => {
                    let fresh = Session {
                        deployment: deployment_of(ctx).to_string(),
                        started: Instant::now(),
                        soak: Soak::new(self.soak, self.interval),
                    };
                    let r = (fresh.started, fresh.soak);
                    *s = Some(fresh);
                    r
                }
            }
        };
        let elapsed = started.elapsed();
        if let Some(due) = soak.next_due().filter(|d| *d <= elapsed) {
            if let Err(why) = self.run_all().await {
                self.finished(deployment_of(ctx));
                return Verdict::Refuse {
                    reason: Reason::HealthCheckFailed,
                    message: format!(
                        "health check {why} (run {} of {}, {} s into the soak)",
                        soak.done() + 1,
                        soak.runs(),
                        due.as_secs()
                    ),
                };
            }
            soak.ran();
            if let Some(s) = &mut *self.session.lock().unwrap_or_else(|p| p.into_inner()) {
                s.soak = soak;
            }
        }
        match soak.next_due() {
            None => {
                self.finished(deployment_of(ctx));
                Verdict::Proceed
            }
            Some(next) => Verdict::Wait {
                reason: Reason::HealthSoak,
                until: Some(self.clock.wall() + next.saturating_sub(started.elapsed())),
                message: format!(
                    "health soak: {} of {} runs of {} checks passed; {} s to go",
                    soak.done(),
                    soak.runs(),
                    self.checks.len(),
                    self.soak.saturating_sub(started.elapsed()).as_secs()
                ),
            },
        }
    }
}

/// The end of a check's output, as one line.
fn tail(out: &[u8]) -> String {
    let start = out.len().saturating_sub(OUTPUT_KEPT);
    let text = String::from_utf8_lossy(&out[start..]);
    let text = text.trim().replace('\n', " | ");
    if text.is_empty() {
        "no output".into()
    } else if start > 0 {
        format!("...{text}")
    } else {
        text
    }
}

impl Gate for HealthGate {
    fn check<'a>(&'a self, ctx: &'a GateContext) -> BoxFuture<'a, Verdict> {
        Box::pin(async move {
            match ctx.point {
                GatePoint::BeforeCommit => self.decide(ctx).await,
                _ => Verdict::Proceed,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(soak: u64, interval: u64) -> Vec<u64> {
        let mut s = Soak::new(Duration::from_secs(soak), Duration::from_secs(interval));
        let mut v = vec![];
        while let Some(d) = s.next_due() {
            v.push(d.as_secs());
            s.ran();
        }
        assert_eq!(v.len() as u32, s.runs());
        v
    }

    #[test]
    fn the_runs_of_a_soak() {
        assert_eq!(offsets(0, 10), [0]);
        assert_eq!(offsets(30, 10), [0, 10, 20, 30]);
        assert_eq!(offsets(25, 10), [0, 10, 20, 25]);
        assert_eq!(offsets(5, 10), [0, 5]);
        assert_eq!(
            offsets(3, 0),
            [0, 1, 2, 3],
            "an interval of 0 counts as 1 s"
        );
    }

    #[test]
    fn output_tails() {
        assert_eq!(tail(b""), "no output");
        assert_eq!(tail(b"a\nb\n"), "a | b");
        let long = vec![b'x'; OUTPUT_KEPT + 10];
        let t = tail(&long);
        assert!(
            t.starts_with("...") && t.len() == OUTPUT_KEPT + 3,
            "{}",
            t.len()
        );
    }
}
