//! The slow-retrieval defence: a download that makes progress, but too little.
//!
//! The stall timeout catches a server that goes silent; a server that sends one byte a
//! second never trips it and would hold a deployment for days (Uptane's slow retrieval
//! attack). So the transfer is cut into windows, and a window that ends with fewer bytes
//! than the minimum fails the attempt (a transient error: the next attempt resumes with a
//! Range request, and attempts are bounded).

use std::time::{Duration, Instant};

/// Bytes a download must deliver per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinRate {
    pub bytes: u64,
    pub window: Duration,
}

impl MinRate {
    /// 1 KiB/s over 5 minutes: below that a 100 MiB Artifact would take more than a day.
    pub const DEFAULT: MinRate = MinRate {
        bytes: 300 << 10,
        window: Duration::from_secs(300),
    };
}

/// Counts bytes against a [`MinRate`].
pub struct RateCheck {
    min: MinRate,
    started: Instant,
    got: u64,
}

impl RateCheck {
    #[allow(clippy::disallowed_methods)] // a blocking download, outside tokio's clock
    pub fn start(min: MinRate) -> Self {
        Self::start_at(min, Instant::now())
    }

    fn start_at(min: MinRate, now: Instant) -> Self {
        Self {
            min,
            started: now,
            got: 0,
        }
    }

    /// `n` more bytes arrived. `Err` with a message when a window ended short.
    #[allow(clippy::disallowed_methods)]
    pub fn add(&mut self, n: u64) -> Result<(), String> {
        self.add_at(n, Instant::now())
    }

    fn add_at(&mut self, n: u64, now: Instant) -> Result<(), String> {
        self.got += n;
        if now.duration_since(self.started) < self.min.window {
            return Ok(());
        }
        if self.got < self.min.bytes {
            return Err(format!(
                "too slow: {} bytes in {:?}, the minimum is {} bytes per {:?}",
                self.got,
                now.duration_since(self.started),
                self.min.bytes,
                self.min.window
            ));
        }
        // A new window.
        self.started = now;
        self.got = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::disallowed_methods)] // a starting point only: the test passes explicit times
    fn a_window_short_of_bytes_fails() {
        let min = MinRate {
            bytes: 100,
            window: Duration::from_secs(10),
        };
        let t0 = Instant::now();
        let s = |secs| t0 + Duration::from_secs(secs);
        let mut fast = RateCheck::start_at(min, t0);
        for i in 1..=40 {
            fast.add_at(30, s(i)).unwrap();
        }
        let mut slow = RateCheck::start_at(min, t0);
        for i in 1..10 {
            slow.add_at(1, s(i)).unwrap();
        }
        let e = slow.add_at(1, s(10)).unwrap_err();
        assert!(e.contains("10 bytes in 10s"), "{e}");
        // A burst after a slow start still ends a window short.
        let mut bursty = RateCheck::start_at(min, t0);
        bursty.add_at(99, s(10)).unwrap_err();
    }
}
