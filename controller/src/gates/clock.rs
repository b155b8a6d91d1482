//! The wall clock the gates read: maintenance windows are wall-clock by nature, and status
//! shows wall-clock stamps. Every *wait* still runs on tokio's clock (the engine sleeps,
//! the gates measure elapsed time with `tokio::time::Instant`), so a clock step cannot
//! stretch one. Tests use [`TokioWall`], a wall clock that moves with tokio's paused time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

pub trait Clock: Send + Sync {
    fn wall(&self) -> SystemTime;
}

/// The system's clock.
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // windows are wall-clock by nature; waits use tokio's
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Starts at `wall0` and advances with tokio's clock (tests, with paused time).
pub struct TokioWall {
    wall0: SystemTime,
    at0: Instant,
}

impl TokioWall {
    pub fn starting_at(wall0: SystemTime) -> Self {
        Self {
            wall0,
            at0: Instant::now(),
        }
    }
}

impl Clock for TokioWall {
    fn wall(&self) -> SystemTime {
        self.wall0 + self.at0.elapsed()
    }
}

/// Seconds since the epoch (negative before it, as a clock at boot without an RTC may be).
pub fn epoch(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// The time `secs` since the epoch.
pub fn from_epoch(secs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

/// RFC 3339 (UTC, seconds) of a wall time.
pub fn stamp(t: SystemTime) -> String {
    super::calendar::rfc3339(epoch(t))
}
