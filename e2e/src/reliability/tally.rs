//! Counting what a test tried: [`Tally`], and the record file the reliability report and
//! e2e/run read (`$BATON_TALLY_FILE`).

use std::fs;
use std::io::Write;

/// Counts the cases a test tries. When the test ends (or panics), one line
/// `tally test=<name> tried=<n> passed=<m>` is appended to `$BATON_TALLY_FILE`, if set:
/// the reliability report reads it. The test's name is libtest's thread name.
pub struct Tally {
    test: String,
    tried: usize,
    passed: usize,
}

impl Tally {
    pub fn new() -> Self {
        let test = current_test();
        Self {
            test,
            tried: 0,
            passed: 0,
        }
    }

    /// A case starts; call [`Tally::pass`] when it passed (a panic in between leaves it
    /// counted as tried and not passed).
    pub fn try_one(&mut self) {
        self.tried += 1;
    }

    pub fn pass(&mut self) {
        self.passed += 1;
        assert!(self.passed <= self.tried, "passed a case never tried");
    }

    /// Runs one case: tried, and passed if `f` returns.
    pub fn case<T>(&mut self, f: impl FnOnce() -> T) -> T {
        self.try_one();
        let v = f();
        self.pass();
        v
    }

    pub fn tried(&self) -> usize {
        self.tried
    }

    /// A figure worth showing in the report next to the counts (`note test=<name> <text>`).
    pub fn note(&self, text: &str) {
        eprintln!("{text}");
        append(&format!(
            "note test={} {}\n",
            self.test,
            text.replace('\n', " ")
        ));
    }
}

/// One line, one O_APPEND write, to `$BATON_TALLY_FILE` when set.
fn append(line: &str) {
    let Some(path) = std::env::var_os("BATON_TALLY_FILE") else {
        return;
    };
    if let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = f.write_all(line.as_bytes());
    }
}

impl Default for Tally {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        // One short write with O_APPEND: lines from parallel tests do not interleave.
        append(&format!(
            "tally test={} tried={} passed={}\n",
            self.test, self.tried, self.passed
        ));
    }
}

/// The running test's name (libtest names each test's thread after it, e.g.
/// `reliability_crash::a_crash_at_every_fault_point_settles_all_old_or_all_new`).
pub fn current_test() -> String {
    std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_string()
}

/// Appends one line to `$BATON_TALLY_FILE`, if set (a skip, from [`crate::need`]).
pub fn record(line: &str) {
    append(&format!("{line}\n"));
}
