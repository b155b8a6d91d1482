//! Running the tests behind the rows: one `cargo test` per test binary (a package's library
//! tests, or its integration test binary `it` filtered to the listed tests), reading
//! libtest's verdicts and what the tests recorded in `$BATON_TALLY_FILE` (cases tried and
//! passed, notes, and skips: see `e2e::need`).

use std::collections::BTreeMap;
use std::process::Command;

use super::rows::ROWS;

/// What the run found for one test.
#[derive(Default, Clone)]
pub struct Outcome {
    /// libtest's verdict: `ok`, `FAILED`, `ignored`; none if the test never ran.
    pub verdict: Option<String>,
    pub tried: usize,
    pub passed: usize,
    pub tallied: bool,
    pub notes: Vec<String>,
    /// Why the test could not run: it returned without checking anything.
    pub skipped: Vec<String>,
}

/// `cargo` in the repository, without the variables `cargo run` set for this binary: build
/// scripts (ring's, for one) rerun when CARGO_PKG_NAME or CARGO_MANIFEST_DIR change, so
/// under them every build of the report recompiled what e2e/run had built, and back.
pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(e2e::repo_root());
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        let set_by_cargo_run = [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|p| k.starts_with(p))
            || k == "CARGO_PRIMARY_PACKAGE";
        if set_by_cargo_run {
            c.env_remove(k.as_ref());
        }
    }
    c
}

/// Runs `c`, saying what it does; stops the report if it fails.
pub fn must(c: &mut Command, what: &str) {
    eprintln!("reliability-report: {what}");
    let ok = c.status().is_ok_and(|s| s.success());
    assert!(ok, "reliability-report: {what} failed");
}

/// A test's id (`package:module:path`) split into the binary that holds it (`lib` or
/// `it`) and the name libtest knows it by.
fn locate(id: &str) -> (&str, &'static str, String) {
    let mut p = id.splitn(3, ':');
    let (pkg, module, path) = (p.next().unwrap(), p.next().unwrap(), p.next().unwrap());
    if module == "lib" {
        (pkg, "lib", path.to_string())
    } else {
        (pkg, "it", format!("{module}::{path}"))
    }
}

/// Runs every test the rows list, one `cargo test` per binary; returns what each found,
/// by test id.
pub fn run_all(long: bool) -> BTreeMap<String, Outcome> {
    // (package, binary) -> (libtest name -> test id)
    let mut binaries: BTreeMap<(String, &str), BTreeMap<String, String>> = BTreeMap::new();
    for id in ROWS.iter().flat_map(|r| r.tests.iter()) {
        let (pkg, binary, name) = locate(id);
        binaries
            .entry((pkg.to_string(), binary))
            .or_default()
            .insert(name, id.to_string());
    }
    let mut found = BTreeMap::new();
    for ((pkg, binary), names) in &binaries {
        run_binary(pkg, binary, names, long, &mut found);
    }
    found
}

/// Runs the listed tests of one binary (`names`: libtest name -> test id); fills `found`
/// from libtest's output and the tally file.
fn run_binary(
    pkg: &str,
    binary: &str,
    names: &BTreeMap<String, String>,
    long: bool,
    found: &mut BTreeMap<String, Outcome>,
) {
    let tally =
        std::env::temp_dir().join(format!("baton-tally-{}-{pkg}-{binary}", std::process::id()));
    let _ = std::fs::remove_file(&tally);
    let mut c = cargo();
    c.args(["test", "-p", pkg]);
    if pkg == "baton" {
        // The features the workspace build gives it (through e2e): cargo also rebuilds the
        // baton binary for baton's own integration tests, and the end-to-end tests need that
        // binary with its fault points.
        c.args(["--features", "testkit,fault-injection"]);
    }
    if binary == "lib" {
        c.arg("--lib");
    } else {
        c.args(["--test", binary]);
    }
    c.arg("--").args(names.keys()).arg("--exact");
    c.env("BATON_TALLY_FILE", &tally);
    if long {
        c.env("BATON_RELIABILITY_LONG", "1")
            .env("BATON_FUZZ_SECONDS", "300");
    }
    eprintln!(
        "reliability-report: {pkg} {binary}: {} test(s)",
        names.len()
    );
    let out = c.output().expect("cargo runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let id_of = |name: &str| names.get(name).cloned();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("test ") else {
            continue;
        };
        let Some((name, verdict)) = rest.rsplit_once(" ... ") else {
            continue;
        };
        if let Some(id) = id_of(name) {
            found.entry(id).or_default().verdict = Some(verdict.trim().to_string());
        }
    }
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        eprintln!("{text}");
    }
    let recorded = std::fs::read_to_string(&tally).unwrap_or_default();
    read_record(&recorded, &id_of, found);
    let _ = std::fs::remove_file(&tally);
}

/// Reads the tally file's lines (`<kind> test=<libtest name> <rest>`) into `found`.
fn read_record(
    text: &str,
    id_of: &dyn Fn(&str) -> Option<String>,
    found: &mut BTreeMap<String, Outcome>,
) {
    for line in text.lines() {
        let mut words = line.splitn(3, ' ');
        let (kind, test, rest) = (words.next(), words.next(), words.next().unwrap_or(""));
        let Some(id) = test.and_then(|t| t.strip_prefix("test=")).and_then(id_of) else {
            continue;
        };
        let o = found.entry(id).or_default();
        match kind {
            Some("tally") => {
                let num = |k: &str| {
                    rest.split(' ')
                        .find_map(|w| w.strip_prefix(k))
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0)
                };
                o.tallied = true;
                o.tried += num("tried=");
                o.passed += num("passed=");
            }
            Some("note") => o.notes.push(rest.to_string()),
            Some("skip") => o.skipped.push(rest.to_string()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_locate_their_binary_and_libtest_name() {
        assert_eq!(
            locate("e2e:reliability_crash:a_crash"),
            ("e2e", "it", "reliability_crash::a_crash".to_string())
        );
        assert_eq!(
            locate("baton:lib:engine::lock::tests::a_second"),
            ("baton", "lib", "engine::lock::tests::a_second".to_string())
        );
    }

    #[test]
    fn a_skip_is_recorded_against_its_test() {
        let names: BTreeMap<String, String> = [
            ("m::a".to_string(), "e2e:m:a".to_string()),
            ("m::b".to_string(), "e2e:m:b".to_string()),
        ]
        .into();
        let id_of = |n: &str| names.get(n).cloned();
        let mut found = BTreeMap::new();
        read_record(
            "tally test=m::a tried=3 passed=2\nskip test=m::b `x` is not installed\n\
             note test=m::a 5 ms\nskip test=other::c y\n",
            &id_of,
            &mut found,
        );
        let a = &found["e2e:m:a"];
        assert!(a.tallied && a.tried == 3 && a.passed == 2 && a.skipped.is_empty());
        assert_eq!(a.notes, vec!["5 ms"]);
        assert_eq!(found["e2e:m:b"].skipped, vec!["`x` is not installed"]);
        assert_eq!(found.len(), 2, "a test no row lists is ignored");
    }
}
