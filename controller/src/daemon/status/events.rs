//! The status event stream: every change of the status document and every progress event of
//! the deployment in flight, numbered, for whoever follows the System live.
//!
//! The board publishes; followers subscribe (a `tokio::sync::broadcast`). Each event has an
//! id one higher than the one before, and the last [`BACKLOG`] events are kept, so a follower
//! that reconnects with the last id it saw (Server-Sent Events' `Last-Event-ID`) gets exactly
//! what it missed, or is told it missed too much and should read the whole status again.
//! Publishing never waits for a follower: a follower that falls behind the channel's capacity
//! is told it lagged (and resumes from the backlog like a reconnect).
//!
//! Ids count from 1 in each process: an id from before a restart is "newer than anything
//! here", which [`Events::resume`] answers with [`Replay::Gap`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

pub use crate::wire::events::{Change, Event};

/// How many events are kept for followers that reconnect.
pub const BACKLOG: usize = 256;

/// What a follower that reconnects missed.
#[derive(Debug, PartialEq)]
pub enum Replay {
    /// Every event after the id it gave, in order (maybe none).
    Events(Vec<Event>),
    /// More than the backlog holds, or an id this process never gave: read the status again.
    Gap,
}

/// The stream. One per board.
pub struct Events {
    tx: broadcast::Sender<Event>,
    /// The newest events, oldest first, and the last id given. Publishing and resuming both
    /// hold it, so a resume's replay and its subscription neither miss nor repeat an event.
    kept: Mutex<(VecDeque<Event>, u64)>,
}

impl Default for Events {
    fn default() -> Self {
        Self::new()
    }
}

impl Events {
    pub fn new() -> Self {
        Self {
            tx: broadcast::channel(BACKLOG).0,
            kept: Mutex::new((VecDeque::with_capacity(BACKLOG), 0)),
        }
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, (VecDeque<Event>, u64)> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes a change; returns its id. Never blocks on followers.
    pub fn publish(&self, change: Change) -> u64 {
        let mut kept = self.kept();
        kept.1 += 1;
        let event = Event {
            id: kept.1,
            change: Arc::new(change),
        };
        if kept.0.len() == BACKLOG {
            kept.0.pop_front();
        }
        kept.0.push_back(event.clone());
        // No follower: nothing to do (the backlog has it).
        let _ = self.tx.send(event);
        kept.1
    }

    /// The id of the newest event (0: none yet).
    pub fn last_id(&self) -> u64 {
        self.kept().1
    }

    /// Follows from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// Follows from after `last_seen` (none: from now on): what was missed, and the
    /// subscription for what comes next, with no event lost or repeated in between.
    pub fn resume(&self, last_seen: Option<u64>) -> (Replay, broadcast::Receiver<Event>) {
        let r = self.resume_kept(last_seen);
        let replay = if r.missed {
            Replay::Gap
        } else {
            Replay::Events(r.events)
        };
        (replay, r.rx)
    }

    /// [`Events::resume`] for a follower that also wants, after a gap, the events still
    /// kept (a listing), and the newest id at the moment of subscribing (where a follower
    /// that starts from now stands).
    pub fn resume_kept(&self, last_seen: Option<u64>) -> Resumed {
        let kept = self.kept();
        let rx = self.tx.subscribe();
        let newest = kept.1;
        let (missed, after) = match last_seen {
            None => (false, newest),
            Some(id) if id > newest => (true, 0),
            Some(id) => {
                let oldest = kept.0.front().map_or(newest + 1, |e| e.id);
                // Complete only if the event right after `id` is still kept.
                (id + 1 < oldest, id)
            }
        };
        Resumed {
            missed,
            events: kept.0.iter().filter(|e| e.id > after).cloned().collect(),
            rx,
            newest,
        }
    }
}

/// What [`Events::resume_kept`] answers.
pub struct Resumed {
    /// Some events after the follower's id are no longer kept (or the id is not from here):
    /// it should read the whole status again.
    pub missed: bool,
    /// The events after its id, in order; after a gap, every event still kept.
    pub events: Vec<Event>,
    /// What comes next.
    pub rx: broadcast::Receiver<Event>,
    /// The newest id when it subscribed (0: none yet).
    pub newest: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::api::Progress;

    fn change(n: u64) -> Change {
        Change::Progress {
            progress: Progress::Bytes {
                component: crate::engine::api::ComponentRef {
                    component_type: "rtos".into(),
                    id: "A".into(),
                },
                bytes: n,
                total: None,
            },
        }
    }

    fn ids(r: &Replay) -> Vec<u64> {
        match r {
            Replay::Events(e) => e.iter().map(|e| e.id).collect(),
            Replay::Gap => panic!("a gap"),
        }
    }

    #[test]
    fn ids_grow_by_one_and_a_resume_gets_exactly_what_was_missed() {
        let ev = Events::new();
        assert_eq!(ev.resume(Some(0)).0, Replay::Events(vec![]));
        for n in 1..=5 {
            assert_eq!(ev.publish(change(n)), n);
        }
        assert_eq!(ev.last_id(), 5);
        assert_eq!(ids(&ev.resume(Some(2)).0), [3, 4, 5]);
        assert_eq!(ids(&ev.resume(Some(0)).0), [1, 2, 3, 4, 5]);
        assert_eq!(ids(&ev.resume(Some(5)).0), Vec::<u64>::new());
        assert_eq!(ids(&ev.resume(None).0), Vec::<u64>::new());
        // An id from another process (or made up): read everything again.
        assert_eq!(ev.resume(Some(6)).0, Replay::Gap);
    }

    #[test]
    fn the_backlog_is_bounded_and_an_older_id_is_a_gap() {
        let ev = Events::new();
        let total = BACKLOG as u64 + 10;
        for n in 1..=total {
            ev.publish(change(n));
        }
        // Events 1..=10 are gone: after 10 the replay is still complete, after 9 it is not.
        let after_ten = ids(&ev.resume(Some(10)).0);
        assert_eq!(after_ten.len(), BACKLOG);
        assert_eq!(after_ten.first(), Some(&11));
        assert_eq!(after_ten.last(), Some(&total));
        assert_eq!(ev.resume(Some(9)).0, Replay::Gap);
        assert_eq!(ev.resume(Some(0)).0, Replay::Gap);
    }

    #[test]
    fn after_a_gap_the_kept_events_are_still_given_and_the_newest_id_is_said() {
        let ev = Events::new();
        let r = ev.resume_kept(None);
        assert_eq!((r.missed, r.events.len(), r.newest), (false, 0, 0));
        let total = BACKLOG as u64 + 3;
        for n in 1..=total {
            ev.publish(change(n));
        }
        let r = ev.resume_kept(Some(1));
        assert!(r.missed);
        assert_eq!(r.events.len(), BACKLOG);
        assert_eq!(r.events.first().map(|e| e.id), Some(4));
        assert_eq!(r.newest, total);
        let r = ev.resume_kept(Some(total - 2));
        assert!(!r.missed);
        assert_eq!(
            r.events.iter().map(|e| e.id).collect::<Vec<_>>(),
            [total - 1, total]
        );
        // From now on: nothing replayed, the newest id said.
        let r = ev.resume_kept(None);
        assert_eq!((r.missed, r.events.len(), r.newest), (false, 0, total));
        // An id from another process.
        let r = ev.resume_kept(Some(total + 1));
        assert!(r.missed && r.events.len() == BACKLOG);
    }

    #[tokio::test]
    async fn a_follower_that_resumes_then_listens_misses_nothing_and_sees_nothing_twice() {
        let ev = Arc::new(Events::new());
        for n in 1..=3 {
            ev.publish(change(n));
        }
        let (replay, mut rx) = ev.resume(Some(1));
        let publisher = {
            let ev = ev.clone();
            std::thread::spawn(move || {
                for n in 4..=50 {
                    ev.publish(change(n));
                }
            })
        };
        let mut seen = ids(&replay);
        while seen.last() != Some(&50) {
            seen.push(rx.recv().await.unwrap().id);
        }
        publisher.join().unwrap();
        assert_eq!(seen, (2..=50).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_follower_that_falls_behind_is_told_and_can_resume_from_the_backlog() {
        let ev = Events::new();
        let mut rx = ev.subscribe();
        for n in 1..=(BACKLOG as u64 + 5) {
            ev.publish(change(n));
        }
        let lagged = match rx.recv().await {
            Err(broadcast::error::RecvError::Lagged(n)) => n,
            other => panic!("{other:?}"),
        };
        assert_eq!(lagged, 5);
        // It saw nothing yet: everything since the oldest kept event is still there.
        assert_eq!(ids(&ev.resume(Some(5)).0).len(), BACKLOG);
    }
}
