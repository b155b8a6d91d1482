//! Where a desired state came from.
//!
//! The controller's rules differ by origin: the rollback action may return to an older
//! Manifest (DowngradeProtection lets the System's own way back through), and a Kanto
//! desired state is not retried in the background (its backend decides). Code asks the
//! [`Origin`], never a string. Its persisted form is the short word `desired.json` has always
//! held (`api`, `watch:<file>`, `update-module`, `rollback`), so a controller file written
//! before this type existed still reads.

use serde::{Deserialize, Serialize};

/// One source of a desired state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Origin {
    /// A file dropped into the watched directory (its name, without the directory).
    WatchDir { file: String },
    /// `PUT /v1/manifest` on the local API (`baton apply`).
    Api,
    /// Installed through the Update Module hand-off (`baton install` while the daemon runs,
    /// which is how the Mender client's Update Module calls it); adopted as desired once it
    /// succeeded.
    UpdateModule,
    /// A person's `baton install` through the daemon. The hand-off cannot tell it from the
    /// Update Module today (both call the same verb), so nothing produces it yet.
    Cli,
    /// `POST /v1/actions/rollback`: the last good Manifest, desired again.
    RollbackAction,
    /// An Eclipse Kanto desired-state message (its `activityId`).
    Kanto { activity: String },
}

impl Origin {
    /// A failed desired state of this origin is retried after a backoff, in the background.
    /// Kanto's backend decides itself whether to send a desired state again (an activity
    /// ends once, as in Kanto's Update Manager); every other door keeps today's rule.
    pub fn retried_in_background(&self) -> bool {
        !matches!(self, Origin::Kanto { .. })
    }

    /// The deployment may install what DowngradeProtection would call older: only the
    /// rollback action, the System's own return to its last good Manifest.
    pub fn allows_downgrade(&self) -> bool {
        matches!(self, Origin::RollbackAction)
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::WatchDir { file } => write!(f, "watch:{file}"),
            Origin::Api => f.write_str("api"),
            Origin::UpdateModule => f.write_str("update-module"),
            Origin::Cli => f.write_str("cli"),
            Origin::RollbackAction => f.write_str("rollback"),
            Origin::Kanto { activity } => write!(f, "kanto:{activity}"),
        }
    }
}

impl std::str::FromStr for Origin {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(file) = s.strip_prefix("watch:") {
            return Ok(Origin::WatchDir { file: file.into() });
        }
        if let Some(activity) = s.strip_prefix("kanto:") {
            return Ok(Origin::Kanto {
                activity: activity.into(),
            });
        }
        match s {
            "api" => Ok(Origin::Api),
            "update-module" => Ok(Origin::UpdateModule),
            "cli" => Ok(Origin::Cli),
            "rollback" => Ok(Origin::RollbackAction),
            _ => Err(format!(
                "unknown origin `{s}` (expected api, watch:<file>, update-module, cli, rollback or kanto:<activity>)"
            )),
        }
    }
}

impl From<Origin> for String {
    fn from(o: Origin) -> String {
        o.to_string()
    }
}

impl TryFrom<String> for Origin {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_persisted_words_of_before_still_read_and_every_origin_round_trips() {
        // What desired.json held before the type existed.
        for (word, origin) in [
            ("api", Origin::Api),
            (
                "watch:system-v2.yaml",
                Origin::WatchDir {
                    file: "system-v2.yaml".into(),
                },
            ),
            ("update-module", Origin::UpdateModule),
            ("rollback", Origin::RollbackAction),
        ] {
            let parsed: Origin = serde_json::from_str(&format!("\"{word}\"")).unwrap();
            assert_eq!(parsed, origin);
            assert_eq!(
                serde_json::to_string(&origin).unwrap(),
                format!("\"{word}\"")
            );
        }
        for o in [
            Origin::Cli,
            Origin::Kanto {
                activity: "a-1:x".into(),
            },
            Origin::WatchDir { file: "".into() },
        ] {
            assert_eq!(o.to_string().parse::<Origin>().unwrap(), o);
        }
        assert!("ftp".parse::<Origin>().is_err());
    }

    #[test]
    fn only_the_rollback_action_downgrades_and_only_kanto_is_not_retried() {
        let all = [
            Origin::WatchDir { file: "f".into() },
            Origin::Api,
            Origin::UpdateModule,
            Origin::Cli,
            Origin::RollbackAction,
            Origin::Kanto {
                activity: "a".into(),
            },
        ];
        for o in &all {
            assert_eq!(o.allows_downgrade(), *o == Origin::RollbackAction, "{o}");
            assert_eq!(
                o.retried_in_background(),
                !matches!(o, Origin::Kanto { .. }),
                "{o}"
            );
        }
    }
}
