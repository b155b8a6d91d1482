//! Crash consistency: baton SIGKILLed at every named fault point of a three-group deployment
//! (one component needs a host reboot, one a peripheral reboot), restarted until it settles.
//!
//! The points are enumerated, not listed by hand: a clean deployment runs with
//! `BATON_FAULT=list` and every point it reaches is a crash site, at its first, second and
//! last hit, and at every hit for the journal's own points. After each crash the test plays
//! the supervisor: it kills what the dead baton left running (as systemd's
//! `KillMode=control-group` does) and runs `baton resume` until baton ends by itself. Then it
//! checks the invariants of reliability.md §9: baton starts and has nothing left in progress,
//! no panic; every component is on the old or on the new Manifest, as the report says; the
//! Interface calls form a legal sequence (`e2e::reliability::check_protocol`); nothing stray
//! is left (work directories, temporary files, processes); a following deployment succeeds.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Mutex;

use e2e::fixture::{killed, Component, System};
use e2e::reliability::{
    check_protocol, kill_strays, stray_files, stray_processes, CallLog, CompSpec, Tally, HOST,
};
use e2e::{stderr, stdout};

const NEW: [&str; 4] = ["gateway-v2", "ecu-v2", "ecu-v2", "mcu-v2"];
const OLD: [&str; 4] = ["gateway-v1", "ecu-v1", "ecu-v1", "mcu-v1"];
const NEXT: [&str; 4] = ["gateway-v3", "ecu-v3", "ecu-v3", "mcu-v3"];
/// Restarts allowed before a crash counts as not settling (reliability.md: at most 5 per
/// injected crash; the deployment's own host reboot adds one).
const MAX_RESTARTS: usize = 6;

fn comps() -> Vec<Component> {
    vec![
        Component::new("gw", "gateway", 10).reboot("Automatic"),
        Component::new("e1", "ecu", 20).reboot("Yes"),
        Component::new("e2", "ecu", 20),
        Component::new("m1", "mcu", 30),
    ]
}

/// A scratch System whose Interface calls are logged in one global order.
struct Rig {
    s: System,
    log: CallLog,
    specs: Vec<CompSpec>,
    v2: PathBuf,
    v3: PathBuf,
}

impl Rig {
    fn new() -> Self {
        let comps = comps();
        let specs = comps
            .iter()
            .map(|c| CompSpec {
                name: c.name.clone(),
                order: c.order,
                reboot: c.reboot.clone(),
                supports_rollback: c.supports_rollback,
            })
            .collect();
        let s = System::new(comps);
        let real = s.wrap_mock();
        let log = CallLog::install(&s.mock(), &real, &s.root().join("calls.global"));
        // The host's reboot: logged in the same order as the calls, then as System's.
        let reboot = s.root().join("reboot");
        let script = fs::read_to_string(&reboot).unwrap().replacen(
            "#!/bin/sh\n",
            &format!(
                "#!/bin/sh\necho 'start {HOST} Reboot' >> '{}'\n",
                log.path.display()
            ),
            1,
        );
        fs::write(&reboot, script).unwrap();
        let v2 = s.release("v2");
        let v3 = s.release("v3");
        Self {
            s,
            log,
            specs,
            v2,
            v3,
        }
    }

    fn baton(&self, args: &[&str], fault: Option<&str>) -> Output {
        let mut cmd = self.s.baton();
        cmd.args(args).env_remove("BATON_FAULT");
        if let Some(f) = fault {
            cmd.env("BATON_FAULT", f);
        }
        cmd.output().expect("baton runs")
    }

    /// The `i`-th invocation of a deployment of `manifest`: `install`, then `resume`.
    fn invoke(&self, i: usize, manifest: &Path, fault: Option<&str>) -> Output {
        if i == 0 {
            self.baton(
                &["install", "-o", "json", manifest.to_str().unwrap()],
                fault,
            )
        } else {
            self.baton(&["resume", "-o", "json"], fault)
        }
    }

    fn datastore(&self) -> PathBuf {
        self.s.datastore()
    }
}

/// How a deployment settled.
struct Settled {
    /// The last report's `end.result`, if an invocation reported one.
    end: Option<String>,
    restarts: usize,
    /// Everything baton printed, for messages.
    transcript: String,
}

fn no_panic(o: &Output, transcript: &str) -> Result<(), String> {
    let err = stderr(o);
    if err.contains("panicked") || o.status.code() == Some(101) {
        return Err(format!("baton panicked:\n{err}\n{transcript}"));
    }
    Ok(())
}

/// After `first` (an invocation that may have been killed), restart baton with `resume`
/// until it ends by itself, killing what each dead baton left running.
fn settle(rig: &Rig, first: Output) -> Result<Settled, String> {
    let mut transcript = String::new();
    let mut out = first;
    let mut restarts = 0;
    let mut end = None;
    loop {
        transcript.push_str(&format!(
            "--- exit {:?}\n{}{}",
            out.status,
            stdout(&out),
            stderr(&out)
        ));
        no_panic(&out, &transcript)?;
        if let Ok(report) = serde_json::from_slice::<serde_json::Value>(&out.stdout) {
            end = report["end"]["result"].as_str().map(str::to_string);
        }
        if !killed(out.status) {
            break;
        }
        kill_strays(rig.s.root());
        restarts += 1;
        if restarts > MAX_RESTARTS {
            return Err(format!(
                "not settled after {restarts} restarts\n{transcript}"
            ));
        }
        out = rig.invoke(1, &rig.v2, None);
    }
    match out.status.code() {
        Some(0..=2) => {}
        other => return Err(format!("ended with {other:?}\n{transcript}")),
    }
    // I1: baton starts, and nothing is left in progress.
    let again = rig.baton(&["resume"], None);
    no_panic(&again, &transcript)?;
    if again.status.code() != Some(2) {
        return Err(format!(
            "still something to resume ({:?}): {}\n{transcript}",
            again.status,
            stderr(&again)
        ));
    }
    Ok(Settled {
        end,
        restarts,
        transcript,
    })
}

/// The invariants after a deployment of `want` settled, with `old` as the alternative.
fn check_settled(
    rig: &Rig,
    settled: &Settled,
    want: &[&str],
    old: &[&str],
) -> Result<bool, String> {
    let t = &settled.transcript;
    // I2: all new or all old, and the report agrees.
    let v = rig.s.versions();
    let new = v == want;
    if !new && v != old {
        return Err(format!("mixed System {v:?}\n{t}"));
    }
    match (&settled.end, new) {
        (Some(e), true) if e != "success" => return Err(format!("System new, report {e}\n{t}")),
        (Some(e), false) if e != "rolledBack" => {
            return Err(format!("System old, report {e}\n{t}"))
        }
        _ => {}
    }
    // I3: a legal Interface call sequence.
    if let Err(bad) = check_protocol(&rig.specs, &rig.log.events()) {
        return Err(format!(
            "illegal call sequence:\n  {}\n{}\n{t}",
            bad.join("\n  "),
            fs::read_to_string(&rig.log.path).unwrap_or_default()
        ));
    }
    // I5: nothing stray.
    let files = stray_files(&rig.datastore());
    if !files.is_empty() {
        return Err(format!("stray files {files:?}\n{t}"));
    }
    let procs = stray_processes(rig.s.root());
    if !procs.is_empty() {
        return Err(format!("stray processes {procs:?}\n{t}"));
    }
    Ok(new)
}

/// Every fault point each invocation of a clean deployment reaches, in order.
fn enumerate() -> Vec<Vec<String>> {
    let rig = Rig::new();
    let mut per_invocation = Vec::new();
    for i in 0..=MAX_RESTARTS {
        let out = rig.invoke(i, &rig.v2, Some("list"));
        per_invocation.push(
            stderr(&out)
                .lines()
                .filter_map(|l| l.strip_prefix("fault-point "))
                .map(str::to_string)
                .collect(),
        );
        if !killed(out.status) {
            assert_eq!(
                out.status.code(),
                Some(0),
                "the clean deployment failed: {}",
                stderr(&out)
            );
            break;
        }
    }
    assert_eq!(rig.s.versions(), NEW, "the clean deployment");
    per_invocation
}

/// One crash site: the `nth` hit of `point` in the `invocation`-th baton process.
#[derive(Debug, Clone)]
struct Site {
    invocation: usize,
    point: String,
    nth: usize,
}

/// Whether the long variant runs (`BATON_RELIABILITY_LONG=1`): every hit of the journal's
/// points, not only the first, second and last.
fn long() -> bool {
    std::env::var("BATON_RELIABILITY_LONG").is_ok_and(|v| v == "1")
}

fn sites(per_invocation: &[Vec<String>]) -> Vec<Site> {
    let mut sites = Vec::new();
    for (invocation, points) in per_invocation.iter().enumerate() {
        let mut hits: BTreeMap<&str, usize> = BTreeMap::new();
        for p in points {
            *hits.entry(p).or_default() += 1;
        }
        for (point, h) in hits {
            let nths: Vec<usize> = if long() && point.starts_with("journal.") {
                (1..=h).collect()
            } else {
                let mut v = vec![1, 2.min(h), h];
                v.dedup();
                v
            };
            for nth in nths {
                sites.push(Site {
                    invocation,
                    point: point.to_string(),
                    nth,
                });
            }
        }
    }
    sites
}

/// Crash at `site`, settle, check; then deploy v3 and check again.
fn crash_at(site: &Site) -> Result<bool, String> {
    let rig = Rig::new();
    for i in 0..site.invocation {
        let out = rig.invoke(i, &rig.v2, None);
        assert!(killed(out.status), "invocation {i} ends in a host reboot");
        kill_strays(rig.s.root());
    }
    let fault = format!("crash@{}#{}", site.point, site.nth);
    let out = rig.invoke(site.invocation, &rig.v2, Some(&fault));
    let marker = format!("crashing at {} (hit {})", site.point, site.nth);
    if !killed(out.status) || !stderr(&out).contains(&marker) {
        return Err(format!("{site:?} was not reached: {}", stderr(&out)));
    }
    let settled = settle(&rig, out)?;
    let new = check_settled(&rig, &settled, &NEW, &OLD)?;
    // I4: a following deployment succeeds.
    rig.log.clear();
    let out = rig.invoke(0, &rig.v3, None);
    let next = settle(&rig, out)?;
    let want_old: &[&str] = if new { &NEW } else { &OLD };
    if !check_settled(&rig, &next, &NEXT, want_old)? {
        return Err(format!("the next deployment failed\n{}", next.transcript));
    }
    let _ = settled.restarts;
    Ok(new)
}

/// Runs `f` over `items` on a few threads; returns the results in order.
fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = Mutex::new(0usize);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 4);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    let i = *n;
                    *n += 1;
                    i
                };
                if i >= items.len() {
                    break;
                }
                let r = f(&items[i]);
                results.lock().unwrap()[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

#[test]
fn a_crash_at_every_fault_point_settles_all_old_or_all_new() {
    let per_invocation = enumerate();
    let all: Vec<&String> = per_invocation.iter().flatten().collect();
    assert!(
        all.iter().any(|p| p.starts_with("journal.synced")),
        "the baton binary reports no fault points: build it with `cargo build --workspace --bins`"
    );
    let mut sites = sites(&per_invocation);
    eprintln!("{} crash sites", sites.len());
    // For debugging one kind of site: BATON_CRASH_FILTER=<part of a point's name>.
    if let Ok(f) = std::env::var("BATON_CRASH_FILTER") {
        sites.retain(|s| s.point.contains(&f));
        eprintln!("BATON_CRASH_FILTER={f}: {} sites", sites.len());
    }
    let results = parallel(&sites, crash_at);
    let mut tally = Tally::new();
    let mut failures = Vec::new();
    let (mut rolled_back, mut rolled_forward) = (0, 0);
    for (site, r) in sites.iter().zip(results) {
        tally.try_one();
        match r {
            Ok(new) => {
                tally.pass();
                if new {
                    rolled_forward += 1;
                } else {
                    rolled_back += 1;
                }
            }
            Err(e) => failures.push(format!("{site:?}: {e}")),
        }
    }
    tally.note(&format!(
        "{} crash sites in {} baton processes: {rolled_back} settled on the old Manifest, {rolled_forward} on the new",
        sites.len(),
        per_invocation.len()
    ));
    assert!(
        failures.is_empty(),
        "{} of {} crash sites failed:\n{}",
        failures.len(),
        sites.len(),
        failures.join("\n\n")
    );
}
