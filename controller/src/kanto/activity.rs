//! One Kanto activity ends once: the bookkeeping of activityIds, pure.
//!
//! As in Kanto, COMPLETED, INCOMPLETE and IDENTIFICATION_FAILED are final for an activityId. A
//! desired state that arrives again with an activityId that already ended is answered with its
//! final feedback again and never re-run; one that arrives again while it runs is ignored; a
//! different one while another runs is refused with Kanto's own words ("Another update
//! activity in progress - <id>"), which is final for it.
//!
//! When an activity whose Manifest was admitted ends in anything but COMPLETED (and was not
//! superseded by a newer desired state), the desired state must go back to what ran before:
//! [`Effect::RestorePrevious`], which the manager hands to `DesiredDoor::restore_previous`.
//!
//! The record is serializable so the daemon may keep it across restarts. No IO here.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::wire::Status;

/// How many ended activities are remembered (oldest forgotten first).
pub const REMEMBERED: usize = 1024;

/// What an arriving desired state is, for the bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrival {
    /// New: it is now the running activity.
    Start,
    /// It already ended: answer with this final feedback again; do not run it.
    Replay(Ended),
    /// It is the running one, again: ignore it.
    Duplicate,
    /// Another activity runs: refuse this one with [`busy_message`] (IDENTIFICATION_FAILED).
    Busy { running: String },
}

/// The final word on an activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ended {
    pub status: Status,
    pub message: String,
}

/// What the daemon must do because an activity ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Put back the desired state that ran before `generation` was admitted.
    RestorePrevious { generation: u64 },
}

/// The running activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Running {
    pub activity_id: String,
    /// The generation its Manifest became, once admitted.
    pub generation: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activities {
    running: Option<Running>,
    ended: VecDeque<(String, Ended)>,
}

/// Kanto's refusal of an overlapping activity.
pub fn busy_message(running: &str) -> String {
    format!("Another update activity in progress - {running}")
}

impl Activities {
    pub fn running(&self) -> Option<&Running> {
        self.running.as_ref()
    }

    /// Classifies an arriving desired state; on [`Arrival::Start`] it becomes the running one,
    /// on [`Arrival::Busy`] it is recorded as ended (IDENTIFICATION_FAILED).
    pub fn arrive(&mut self, activity_id: &str) -> Arrival {
        if let Some(e) = self.ended(activity_id) {
            return Arrival::Replay(e.clone());
        }
        match &self.running {
            Some(r) if r.activity_id == activity_id => Arrival::Duplicate,
            Some(r) => {
                let running = r.activity_id.clone();
                self.remember(
                    activity_id,
                    Ended {
                        status: Status::IdentificationFailed,
                        message: busy_message(&running),
                    },
                );
                Arrival::Busy { running }
            }
            None => {
                self.running = Some(Running {
                    activity_id: activity_id.to_string(),
                    generation: None,
                });
                Arrival::Start
            }
        }
    }

    /// The running activity's Manifest became `generation`.
    pub fn admitted(&mut self, generation: u64) {
        if let Some(r) = &mut self.running {
            r.generation = Some(generation);
        }
    }

    /// The running activity ended with `status` (final) and `message`. `superseded`: a newer
    /// desired state replaced it before it was deployed (then nothing is restored).
    pub fn finish(&mut self, status: Status, message: &str, superseded: bool) -> Vec<Effect> {
        let Some(r) = self.running.take() else {
            return Vec::new();
        };
        self.remember(
            &r.activity_id,
            Ended {
                status,
                message: message.to_string(),
            },
        );
        match r.generation {
            Some(generation) if status != Status::Completed && !superseded => {
                vec![Effect::RestorePrevious { generation }]
            }
            _ => Vec::new(),
        }
    }

    fn ended(&self, activity_id: &str) -> Option<&Ended> {
        self.ended
            .iter()
            .rev()
            .find(|(id, _)| id == activity_id)
            .map(|(_, e)| e)
    }

    fn remember(&mut self, activity_id: &str, ended: Ended) {
        // An empty activityId is refused by the mapping every time; nothing to remember.
        if activity_id.is_empty() {
            return;
        }
        self.ended.push_back((activity_id.to_string(), ended));
        while self.ended.len() > REMEMBERED {
            self.ended.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_activity_ends_once_and_a_replay_is_answered_not_rerun() {
        let mut a = Activities::default();
        assert_eq!(a.arrive("a1"), Arrival::Start);
        assert_eq!(a.arrive("a1"), Arrival::Duplicate);
        a.admitted(7);
        assert_eq!(a.finish(Status::Completed, "", false), vec![]);
        assert_eq!(
            a.arrive("a1"),
            Arrival::Replay(Ended {
                status: Status::Completed,
                message: String::new()
            })
        );
        assert!(a.running().is_none(), "a replay does not start anything");
        assert_eq!(a.arrive("a2"), Arrival::Start);
    }

    #[test]
    fn an_overlapping_activity_is_refused_with_kantos_words_and_that_is_final() {
        let mut a = Activities::default();
        a.arrive("a1");
        assert_eq!(
            a.arrive("a2"),
            Arrival::Busy {
                running: "a1".into()
            }
        );
        assert_eq!(
            busy_message("a1"),
            "Another update activity in progress - a1"
        );
        a.finish(Status::Completed, "", false);
        match a.arrive("a2") {
            Arrival::Replay(e) => {
                assert_eq!(e.status, Status::IdentificationFailed);
                assert_eq!(e.message, busy_message("a1"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_previous_desired_state_comes_back_after_a_failure_of_an_admitted_activity() {
        for (status, admitted, superseded, restore) in [
            (Status::Completed, true, false, false),
            (Status::Incomplete, true, false, true),
            (Status::IdentificationFailed, true, false, true),
            (Status::IdentificationFailed, false, false, false),
            (Status::Incomplete, true, true, false),
        ] {
            let mut a = Activities::default();
            a.arrive("x");
            if admitted {
                a.admitted(3);
            }
            let want = if restore {
                vec![Effect::RestorePrevious { generation: 3 }]
            } else {
                vec![]
            };
            assert_eq!(
                a.finish(status, "m", superseded),
                want,
                "{status:?} {admitted} {superseded}"
            );
        }
    }

    #[test]
    fn memory_is_bounded_and_empty_ids_are_not_remembered() {
        let mut a = Activities::default();
        for i in 0..REMEMBERED + 10 {
            a.arrive(&format!("a{i}"));
            a.finish(Status::Completed, "", false);
        }
        assert_eq!(a.arrive("a0"), Arrival::Start, "the oldest was forgotten");
        a.finish(Status::Completed, "", false);
        assert!(matches!(
            a.arrive(&format!("a{}", REMEMBERED + 9)),
            Arrival::Replay(_)
        ));
        a.arrive("");
        a.finish(Status::IdentificationFailed, "no activityId", false);
        assert_eq!(a.arrive(""), Arrival::Start);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<Activities>(&json).unwrap(), a);
    }
}
