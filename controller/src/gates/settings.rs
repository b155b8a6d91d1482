//! The gate keys of the configuration, checked and typed (pure).
//!
//! The schema checks shapes; this checks meanings a schema cannot (a cron expression, a time
//! zone, a regular expression, the name `pinned` needs, absolute check programs) and names
//! the key of every problem, all of them at once. `baton run` refuses to start on any.

use std::path::PathBuf;

use super::cron::Cron;
use super::policy::Policy;
use super::seam::GatePhase;
use super::windows::{TimeZone, Window, Windows};
use crate::config::{Config, ConsentPhase, OnTimeout};

#[derive(Debug, Clone)]
pub struct GateSettings {
    pub windows: Windows,
    pub policy: Policy,
    pub locks_dir: PathBuf,
    pub lock_timeout_seconds: u64,
    pub consent_before: Vec<GatePhase>,
    pub consent_timeout_seconds: u64,
    pub consent_on_timeout: OnTimeout,
    pub health_checks: Vec<Vec<String>>,
    pub soak_seconds: u64,
    pub interval_seconds: u64,
    pub check_timeout_seconds: u64,
    pub min_free_bytes: u64,
}

fn phase(p: ConsentPhase) -> GatePhase {
    match p {
        ConsentPhase::Download => GatePhase::Download,
        ConsentPhase::Install => GatePhase::Install,
        ConsentPhase::Activate => GatePhase::Activate,
    }
}

impl GateSettings {
    pub fn from_config(c: &Config) -> Result<GateSettings, Vec<String>> {
        let mut problems = Vec::new();
        let mut windows = Vec::new();
        for (i, w) in c.maintenance_windows.iter().enumerate() {
            let cron = Cron::parse(&w.schedule)
                .map_err(|e| problems.push(format!("MaintenanceWindows[{i}].Schedule: {e}")));
            let zone = TimeZone::parse(&w.time_zone)
                .map_err(|e| problems.push(format!("MaintenanceWindows[{i}].TimeZone: {e}")));
            if let (Ok(cron), Ok(zone)) = (cron, zone) {
                windows.push(Window {
                    cron,
                    duration: w.duration_seconds as i64,
                    zone,
                });
            }
        }
        let policy = Policy::from_config(&c.update_policy).unwrap_or_else(|e| {
            problems.push(e);
            Policy::default()
        });
        let h = &c.health_gate;
        for (i, argv) in h.checks.iter().enumerate() {
            match argv.first() {
                None => problems.push(format!("HealthGate.Checks[{i}]: an empty command")),
                Some(p) if !p.starts_with('/') => problems.push(format!(
                    "HealthGate.Checks[{i}]: `{p}` is not an absolute path (checks run with the Interfaces' clean environment)"
                )),
                Some(_) => {}
            }
        }
        let mut before: Vec<GatePhase> =
            c.owner_consent.before.iter().copied().map(phase).collect();
        // One consent gate: Kanto's `OwnerConsentCommands` add their phases to
        // `OwnerConsent.Before` (the union), for every deployment, so the local API, the CLI
        // and Kanto's consent app all answer the same question.
        if let Some(k) = &c.kanto {
            match crate::kanto::config::consent_commands(&k.owner_consent_commands) {
                Ok(cs) => before.extend(cs.into_iter().map(super::consent::phase_of_kanto)),
                Err(e) => problems.push(e.to_string()),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        before.sort();
        before.dedup();
        Ok(GateSettings {
            windows: Windows(windows),
            policy,
            locks_dir: c.update_locks.dir.clone(),
            lock_timeout_seconds: c.update_locks.timeout_seconds,
            consent_before: before,
            consent_timeout_seconds: c.owner_consent.timeout_seconds,
            consent_on_timeout: c.owner_consent.on_timeout,
            health_checks: h.checks.clone(),
            soak_seconds: h.soak_seconds,
            interval_seconds: h.interval_seconds,
            check_timeout_seconds: h.timeout_seconds,
            min_free_bytes: c.min_free_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{MaintenanceWindow, PolicyMode};

    #[test]
    fn every_problem_is_named_by_its_key() {
        let mut c = Config {
            maintenance_windows: vec![
                MaintenanceWindow {
                    schedule: "0 2 * * *".into(),
                    duration_seconds: 3600,
                    time_zone: "UTC".into(),
                },
                MaintenanceWindow {
                    schedule: "61 * * * *".into(),
                    duration_seconds: 3600,
                    time_zone: "Europe/Berlin".into(),
                },
            ],
            ..Config::default()
        };
        c.update_policy.mode = PolicyMode::Pinned;
        c.health_gate.checks = vec![vec!["check-disk".into()], vec![]];
        let e = GateSettings::from_config(&c).unwrap_err();
        assert_eq!(e.len(), 5, "{e:#?}");
        assert!(
            e[0].starts_with("MaintenanceWindows[1].Schedule: `61 * * * *`: minute 61"),
            "{}",
            e[0]
        );
        assert!(
            e[1].starts_with(
                "MaintenanceWindows[1].TimeZone: `Europe/Berlin` is an IANA zone name"
            ),
            "{}",
            e[1]
        );
        assert!(e[2].starts_with("UpdatePolicy.Pinned"), "{}", e[2]);
        assert!(
            e[3].contains("HealthGate.Checks[0]: `check-disk` is not an absolute path"),
            "{}",
            e[3]
        );
        assert_eq!(e[4], "HealthGate.Checks[1]: an empty command");
    }

    #[test]
    fn the_defaults_are_valid_and_open() {
        let s = GateSettings::from_config(&Config::default()).unwrap();
        assert!(s.windows.is_empty() && s.consent_before.is_empty() && s.health_checks.is_empty());
        assert_eq!(s.policy.describe(), "any");
        assert_eq!(s.locks_dir, PathBuf::from("/run/baton/locks"));
    }

    #[test]
    fn kantos_consent_commands_join_owner_consent_before() {
        let mut c = Config::default();
        c.owner_consent.before = vec![ConsentPhase::Activate];
        c.kanto = Some(crate::config::KantoConfig {
            owner_consent_commands: vec!["download".into(), "ACTIVATE".into()],
            ..Default::default()
        });
        let s = GateSettings::from_config(&c).unwrap();
        assert_eq!(
            s.consent_before,
            [GatePhase::Download, GatePhase::Activate],
            "the union, each phase once"
        );
        c.kanto = Some(crate::config::KantoConfig {
            owner_consent_commands: vec!["UPDATE".into()],
            ..Default::default()
        });
        let s = GateSettings::from_config(&c).unwrap();
        assert_eq!(s.consent_before, [GatePhase::Install, GatePhase::Activate]);
        c.kanto = Some(crate::config::KantoConfig {
            owner_consent_commands: vec!["ROLLBACK".into()],
            ..Default::default()
        });
        let e = GateSettings::from_config(&c).unwrap_err();
        assert!(
            e[0].starts_with("Kanto.OwnerConsentCommands: unknown command `ROLLBACK`"),
            "{e:?}"
        );
    }
}
