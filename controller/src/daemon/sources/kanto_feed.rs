//! baton's status events as Kanto's Update Manager reads them: the daemon's implementation
//! of [`EventFeed`].
//!
//! [`Translate`] (pure) turns the status board's [`Change`]s and the consent desk's open
//! question into [`BatonEvent`]s: a deployment's start, steps and bytes from the engine's
//! progress (its generation from the `deployment` change before it), how a generation was
//! settled from [`Change::Settled`], a generation replaced before it was started from the
//! summary's generation moving on, consent questions asked and settled.
//!
//! A pump task reads the broadcast as it comes (it does nothing else, so it keeps up) and
//! queues for the manager, which may be slow (a broker that does not answer). The queue
//! never drops what ends or starts something (`Started`, `Ended`, `InSync`, `Superseded`,
//! consent); progress beyond [`PROGRESS_CAP`] queued events is dropped (bytes first
//! coalesced per component). If the pump itself falls behind the broadcast, it resumes from
//! the board's backlog; if even that was overrun, it reads the status document for how the
//! generations it was following ended.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, watch, Notify};

use crate::daemon::status::Board;
use crate::engine::api::{ComponentRef, End, GatePhase, Progress};
use crate::gates::consent::kanto_command;
use crate::kanto::edge::{
    BatonEvent, BoxFuture, ComponentKey, DeploymentEnd, EventFeed, PlannedComponent,
};
use crate::model::{ConsentQuestion, Outcome, Reason, Status};
use crate::wire::events::{Change, Event, Settled};

/// Progress events queued for the manager beyond which new ones are dropped.
pub const PROGRESS_CAP: usize = 1024;

fn key(c: &ComponentRef) -> ComponentKey {
    ComponentKey::new(c.component_type.clone(), c.id.clone())
}

/// How a deployment's end reads for Kanto (`None`: not an end: paused, awaiting a reboot).
pub fn deployment_end(end: &End) -> Option<DeploymentEnd> {
    Some(match end {
        End::Success => DeploymentEnd::Success,
        End::RolledBack {
            failed_at, message, ..
        } => DeploymentEnd::RolledBack {
            failed_at: failed_at.clone(),
            reason: message.clone(),
        },
        End::Inconsistent {
            failed_at,
            message,
            components,
            ..
        } => DeploymentEnd::Inconsistent {
            failed_at: failed_at.clone(),
            reason: message.clone(),
            lost: components.iter().map(key).collect(),
        },
        // The owner said no (or nobody answered) before anything was installed: for Kanto
        // an INCOMPLETE activity, as when consent is denied later (not an identification
        // failure).
        End::Rejected { problems }
            if problems.iter().any(|p| p.reason == Reason::ConsentDenied) =>
        {
            DeploymentEnd::RolledBack {
                failed_at: "owner consent".into(),
                reason: problems
                    .iter()
                    .map(|p| p.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
            }
        }
        End::Rejected { problems } => DeploymentEnd::Rejected {
            problems: problems.iter().map(|p| p.message.clone()).collect(),
        },
        End::Paused { .. } | End::AwaitingReboot => return None,
    })
}

/// The translation's memory (pure).
#[derive(Debug, Default)]
pub struct Translate {
    /// The generation of the deployment in flight.
    in_flight: Option<u64>,
    /// The newest desired generation a summary showed.
    newest: u64,
    /// The newest generation, while nothing started or settled it.
    open: Option<u64>,
    /// The consent question last seen open.
    question: Option<u64>,
}

impl Translate {
    pub fn change(&mut self, c: &Change) -> Vec<BatonEvent> {
        match c {
            Change::Summary { generation, .. } if *generation > self.newest => {
                let mut out = Vec::new();
                if let Some(o) = self.open.filter(|o| self.in_flight != Some(*o)) {
                    out.push(BatonEvent::Superseded {
                        generation: o,
                        by: *generation,
                    });
                }
                self.newest = *generation;
                self.open = Some(*generation);
                out
            }
            Change::Deployment { deployment } => {
                self.in_flight = deployment.as_ref().map(|d| d.generation);
                if self.open.is_some() && self.open == self.in_flight {
                    self.open = None;
                }
                Vec::new()
            }
            Change::Progress { progress } => self.progress(progress).into_iter().collect(),
            Change::Settled {
                generation,
                settled,
            } => {
                if self.open == Some(*generation) {
                    self.open = None;
                }
                let generation = *generation;
                let end = match settled {
                    Settled::InSync => return vec![BatonEvent::InSync { generation }],
                    Settled::Refused { message, .. } => DeploymentEnd::Rejected {
                        problems: vec![message.clone()],
                    },
                    Settled::Deployed { end } => match deployment_end(end) {
                        Some(e) => e,
                        None => return Vec::new(),
                    },
                };
                vec![BatonEvent::Ended { generation, end }]
            }
            _ => Vec::new(),
        }
    }

    fn progress(&self, p: &Progress) -> Option<BatonEvent> {
        Some(match p {
            Progress::Started { components, .. } => BatonEvent::Started {
                generation: self.in_flight.unwrap_or(self.newest),
                components: components
                    .iter()
                    .map(|c| PlannedComponent {
                        component: key(&c.component),
                        order: c.order,
                        to_artifact: c.to_artifact.clone(),
                    })
                    .collect(),
            },
            Progress::StepStarted {
                order,
                call,
                components,
            } => BatonEvent::StepStarted {
                order: *order,
                call: *call,
                components: components.iter().map(key).collect(),
            },
            Progress::StepFinished {
                order,
                call,
                failed,
                ..
            } => BatonEvent::StepFinished {
                order: *order,
                call: *call,
                failed: failed
                    .iter()
                    .map(|(c, why)| (key(c), why.clone()))
                    .collect(),
            },
            Progress::Bytes {
                component,
                bytes,
                total,
            } => BatonEvent::Bytes {
                component: key(component),
                bytes: *bytes,
                total: *total,
            },
            // An agent's own percentage: as bytes out of 100, which the feedback turns back
            // into the same percentage.
            Progress::Percent { component, percent } => BatonEvent::Bytes {
                component: key(component),
                bytes: u64::from(*percent),
                total: Some(100),
            },
            Progress::Rebooting | Progress::Waiting { .. } => return None,
        })
    }

    /// The consent desk's open question changed.
    pub fn consent(&mut self, open: Option<&ConsentQuestion>) -> Vec<BatonEvent> {
        let mut out = Vec::new();
        let now = open.map(|q| q.id);
        if now == self.question {
            return out;
        }
        if let Some(old) = self.question.take() {
            out.push(BatonEvent::ConsentSettled { question: old });
        }
        if let Some(q) = open {
            self.question = Some(q.id);
            match GatePhase::ALL.into_iter().find(|p| p.as_str() == q.phase) {
                Some(p) => out.push(BatonEvent::ConsentRequested {
                    question: q.id,
                    command: kanto_command(p),
                }),
                None => tracing::warn!(phase = q.phase, "Kanto: consent for an unknown phase"),
            }
        }
        out
    }

    /// Events were lost beyond the backlog: how the generations followed ended, from the
    /// status document (the history's entries; in sync when observed).
    pub fn after_gap(&mut self, s: &Status) -> Vec<BatonEvent> {
        let mut out = Vec::new();
        let followed = [self.in_flight, self.open];
        for g in followed.into_iter().flatten() {
            if s.deployment.as_ref().is_some_and(|d| d.generation == g) {
                continue; // still running: its end will come
            }
            let end = s.history.iter().find(|h| h.generation == g).map(|h| {
                let message = h.message.clone().unwrap_or_default();
                match h.outcome {
                    Outcome::Succeeded | Outcome::UpToDate if h.reason.is_none() => {
                        DeploymentEnd::Success
                    }
                    Outcome::RolledBack => DeploymentEnd::RolledBack {
                        failed_at: "the deployment".into(),
                        reason: message,
                    },
                    Outcome::Failed => DeploymentEnd::Inconsistent {
                        failed_at: "the deployment".into(),
                        reason: message,
                        lost: Vec::new(),
                    },
                    _ => DeploymentEnd::Rejected {
                        problems: vec![message],
                    },
                }
            });
            match end {
                Some(end) => out.push(BatonEvent::Ended { generation: g, end }),
                None if s.observed_generation >= g => {
                    out.push(BatonEvent::InSync { generation: g })
                }
                None => {}
            }
        }
        self.in_flight = s.deployment.as_ref().map(|d| d.generation);
        self.open = None;
        out
    }
}

/// What the pump hands the manager, in order.
#[derive(Default)]
pub struct Queue {
    events: Mutex<(VecDeque<BatonEvent>, bool)>,
    ready: Notify,
}

fn is_progress(e: &BatonEvent) -> bool {
    matches!(
        e,
        BatonEvent::Bytes { .. } | BatonEvent::StepStarted { .. } | BatonEvent::StepFinished { .. }
    )
}

impl Queue {
    pub fn push(&self, e: BatonEvent) {
        let mut q = self.events.lock().unwrap_or_else(|p| p.into_inner());
        if let (BatonEvent::Bytes { component, .. }, Some(BatonEvent::Bytes { component: c, .. })) =
            (&e, q.0.back())
        {
            if component == c {
                q.0.pop_back();
            }
        }
        if is_progress(&e) && q.0.iter().filter(|e| is_progress(e)).count() >= PROGRESS_CAP {
            tracing::debug!("Kanto: progress event dropped: the Update Manager is behind");
            return;
        }
        q.0.push_back(e);
        drop(q);
        self.ready.notify_one();
    }

    /// No more events will come.
    pub fn close(&self) {
        self.events.lock().unwrap_or_else(|p| p.into_inner()).1 = true;
        self.ready.notify_one();
    }

    async fn pop(&self) -> Option<BatonEvent> {
        loop {
            {
                let mut q = self.events.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(e) = q.0.pop_front() {
                    return Some(e);
                }
                if q.1 {
                    return None;
                }
            }
            // `notify_one` keeps a permit when nobody waits: a push between the check and
            // here is not lost.
            self.ready.notified().await;
        }
    }
}

/// The manager's end of the queue.
pub struct Feed(pub Arc<Queue>);

impl EventFeed for Feed {
    fn next(&mut self) -> BoxFuture<'_, Option<BatonEvent>> {
        Box::pin(self.0.pop())
    }
}

/// Follows the board and the consent desk into `queue` until the board's stream closes.
/// `rx` must be subscribed before anything the manager waits for can happen.
pub async fn pump(
    board: Arc<Board>,
    mut rx: broadcast::Receiver<Event>,
    mut consent: watch::Receiver<Option<ConsentQuestion>>,
    queue: Arc<Queue>,
) {
    let mut t = Translate::default();
    let mut last_id = board.events().last_id();
    let push_all = |events: Vec<BatonEvent>| events.into_iter().for_each(|e| queue.push(e));
    push_all(t.consent(consent.borrow_and_update().as_ref()));
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Ok(ev) => {
                    last_id = ev.id;
                    push_all(t.change(&ev.change));
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "Kanto: fell behind baton's events; resuming from the backlog");
                    let r = board.events().resume_kept(Some(last_id));
                    rx = r.rx;
                    if r.missed {
                        // What is still kept is older than the status read now: only what
                        // follows the subscription counts.
                        tracing::warn!("Kanto: baton's event backlog was overrun; reading the status instead");
                        last_id = r.newest;
                        push_all(t.after_gap(&board.get()));
                    } else {
                        for ev in r.events {
                            last_id = ev.id;
                            push_all(t.change(&ev.change));
                        }
                    }
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            changed = consent.changed() => {
                if changed.is_err() {
                    break;
                }
                push_all(t.consent(consent.borrow_and_update().as_ref()));
            }
        }
    }
    queue.close();
}

#[cfg(test)]
#[path = "kanto_feed_tests.rs"]
mod tests;
