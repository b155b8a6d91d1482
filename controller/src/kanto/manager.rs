//! `KantoUpdateManager`: the Update Manager's side of Kanto's protocol, as one task.
//!
//! desired state in -> [`Activities`] (one activity ends once) -> IDENTIFYING -> the System's
//! snapshot -> [`mapping::map`] -> [`DesiredDoor::admit`] -> feedback from baton's events
//! ([`Tracker`]) -> the final status -> "restore previous" when it failed -> the current
//! state. `currentstate/get` (or `refresh`) -> the current state. A consent question from
//! baton's gate, while a Kanto activity deploys -> `ownerconsent` with that activityId ->
//! the answer (or, after `OwnerConsentTimeoutSeconds`, a denial) -> [`ConsentDesk::answer`].
//!
//! Bad input never stops it: every message that cannot be read is logged with its topic and
//! dropped, and the next one is read as if nothing happened.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::activity::{busy_message, Activities, Arrival, Effect};
use super::backend::{Backend, Inbound};
use super::config::KantoSettings;
use super::edge::{
    BatonEvent, ConsentAnswer, ConsentDesk, DesiredDoor, EventFeed, KantoOrigin, SystemView,
};
use super::feedback::{Report, Tracker};
use super::inventory::inventory;
use super::link::{now_ms, Link, LinkError};
use super::mapping;
use super::slices::SliceStore;
use super::wire::{
    Component, ConsentCommand, ConsentStatus, DesiredState, DesiredStateFeedback, Status,
};

/// What the manager needs from the rest of baton (see [`super::edge`]).
pub struct Edges {
    pub door: Arc<dyn DesiredDoor>,
    pub view: Arc<dyn SystemView>,
    pub consent: Arc<dyn ConsentDesk>,
    pub events: Box<dyn EventFeed>,
}

/// A consent question forwarded to the owner.
struct Pending {
    question: u64,
    command: ConsentCommand,
    activity_id: String,
    deadline: Instant,
}

/// The running activity's feedback.
struct Current {
    activity_id: String,
    tracker: Tracker,
}

pub struct KantoUpdateManager {
    settings: KantoSettings,
    backend: Backend,
    link: Link,
    door: Arc<dyn DesiredDoor>,
    view: Arc<dyn SystemView>,
    consent: Arc<dyn ConsentDesk>,
    events: Option<Box<dyn EventFeed>>,
    activities: Activities,
    current: Option<Current>,
    pending: Option<Pending>,
    /// Where the agents' slices go before their Manifest is admitted (`with_slices`).
    slices: Option<SliceStore>,
}

/// How a current-state get that Kanto makes by itself is named (`initial-current-state-<ms>`).
fn initial_activity() -> String {
    format!("initial-current-state-{}", now_ms())
}

impl KantoUpdateManager {
    /// The manager of `settings.domain` on `link` (which may be shared with agent drivers).
    pub fn new(settings: KantoSettings, link: Link, edges: Edges) -> Self {
        let backend = Backend::new(link.clone(), &settings.domain, settings.things_enabled);
        Self {
            settings,
            backend,
            link,
            door: edges.door,
            view: edges.view,
            consent: edges.consent,
            events: Some(edges.events),
            activities: Activities::default(),
            current: None,
            pending: None,
            slices: None,
        }
    }

    /// This manager, writing each Kanto update agent's slice of a desired state to `slices`
    /// before it admits the Manifest naming it, so the engine's agent driver finds it at
    /// Download (also after a restart). Without it, a desired state for a `kanto:<domain>`
    /// component is refused (IDENTIFICATION_FAILED).
    pub fn with_slices(mut self, slices: SliceStore) -> Self {
        self.slices = Some(slices);
        self
    }

    /// Serves until `shutdown`, or until the event feed ends. Fails only when the MQTT
    /// connection's task is gone.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), LinkError> {
        let mut events = self.events.take().expect("run once");
        let mut inbound = self.link.subscribe(self.backend.filters()).await?;
        let mut connections = self.link.connections();
        // A connection made before we looked counts too.
        connections.mark_changed();
        tracing::info!(
            broker = self.link.broker(),
            domain = %self.settings.domain,
            things = self.settings.things_enabled,
            "Kanto: Update Manager serving"
        );
        loop {
            let tick = self.current.as_ref().and_then(|c| c.tracker.due());
            let deadline = self.pending.as_ref().map(|p| p.deadline.into_std());
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                changed = connections.changed() => {
                    if changed.is_err() {
                        return Err(LinkError { broker: self.link.broker().to_string(), detail: "the connection task stopped".into() });
                    }
                    if *connections.borrow_and_update() > 0 && self.backend.connected().await? {
                        self.publish_current_state(&initial_activity()).await?;
                    }
                }
                msg = inbound.recv() => {
                    let Some(msg) = msg else {
                        return Err(LinkError { broker: self.link.broker().to_string(), detail: "the subscription closed".into() });
                    };
                    if let Some(req) = self.backend.read(&msg).await? {
                        self.on_inbound(req).await?;
                    }
                }
                ev = events.next() => {
                    let Some(ev) = ev else {
                        tracing::info!("Kanto: baton's event stream ended; the Update Manager stops");
                        return Ok(());
                    };
                    self.on_event(ev).await?;
                }
                _ = sleep_until(tick) => {
                    let report = self.current.as_mut().and_then(|c| c.tracker.tick(Instant::now().into_std()));
                    if let Some(r) = report {
                        self.send(r).await?;
                    }
                }
                _ = sleep_until(deadline) => {
                    if let Some(p) = self.pending.take() {
                        self.backend.consent_settled();
                        let reason = format!(
                            "no answer from the owner to {} within {} s (activity {})",
                            p.command.as_str(),
                            self.settings.owner_consent_timeout.as_secs(),
                            p.activity_id
                        );
                        tracing::warn!("Kanto: consent: {reason}");
                        self.consent.answer(p.question, ConsentAnswer::Denied { reason });
                    }
                }
            }
        }
    }

    async fn on_inbound(&mut self, req: Inbound) -> Result<(), LinkError> {
        match req {
            Inbound::DesiredState {
                activity_id,
                timestamp,
                desired,
            } => self.on_desired_state(activity_id, timestamp, desired).await,
            Inbound::CurrentStateGet { activity_id } => {
                self.publish_current_state(&activity_id).await
            }
            Inbound::ThingReady => self.publish_current_state(&initial_activity()).await,
            Inbound::Consent {
                activity_id,
                status,
            } => {
                match self.pending.take() {
                    Some(p) if p.activity_id == activity_id => {
                        self.backend.consent_settled();
                        let answer = match status {
                            ConsentStatus::Approved => ConsentAnswer::Approved,
                            ConsentStatus::Denied => ConsentAnswer::Denied {
                                reason: format!(
                                    "the owner denied {} (activity {activity_id})",
                                    p.command.as_str()
                                ),
                            },
                        };
                        tracing::info!(
                            activity_id,
                            command = p.command.as_str(),
                            ?answer,
                            "Kanto: owner consent"
                        );
                        self.consent.answer(p.question, answer);
                    }
                    other => {
                        tracing::warn!(activity_id, "Kanto: consent answer ignored: no question is awaited for that activity");
                        self.pending = other;
                    }
                }
                Ok(())
            }
        }
    }

    async fn on_desired_state(
        &mut self,
        activity_id: String,
        timestamp: i64,
        desired: DesiredState,
    ) -> Result<(), LinkError> {
        match self.activities.arrive(&activity_id) {
            Arrival::Replay(ended) => {
                tracing::info!(activity_id, status = ?ended.status, "Kanto: activity already ended; answered again, not run again");
                let fb = DesiredStateFeedback::new(ended.status, ended.message, vec![]);
                return self.backend.feedback(&activity_id, &fb).await;
            }
            Arrival::Duplicate => {
                tracing::info!(
                    activity_id,
                    "Kanto: desired state for the running activity received again; ignored"
                );
                return Ok(());
            }
            Arrival::Busy { running } => {
                tracing::warn!(
                    activity_id,
                    running,
                    "Kanto: desired state refused: another activity runs"
                );
                let fb = DesiredStateFeedback::new(
                    Status::IdentificationFailed,
                    busy_message(&running),
                    vec![],
                );
                return self.backend.feedback(&activity_id, &fb).await;
            }
            Arrival::Start => {}
        }
        tracing::info!(
            activity_id,
            domains = desired.domains.len(),
            "Kanto: desired state received"
        );
        let (tracker, identifying) = Tracker::start(self.settings.report_feedback_interval);
        self.current = Some(Current {
            activity_id: activity_id.clone(),
            tracker,
        });
        self.send(identifying).await?;
        let mapped = match self.view.snapshot().await {
            Ok(s) => mapping::map(&activity_id, &desired, &s),
            Err(e) => Err(vec![format!(
                "baton could not read the System's state: {e}"
            )]),
        };
        let mapped = match mapped.and_then(|m| self.keep_slices(m)) {
            Ok(m) => m,
            Err(problems) => return self.refuse(&problems).await,
        };
        let origin = KantoOrigin {
            activity_id: activity_id.clone(),
            domain: self.settings.domain.clone(),
            timestamp,
        };
        match self.door.admit(mapped.manifest_yaml.clone(), origin).await {
            Ok(generation) => {
                tracing::info!(
                    activity_id,
                    generation,
                    manifest = mapped.name,
                    "Kanto: desired state admitted"
                );
                self.activities.admitted(generation);
                let agents: BTreeMap<String, Vec<Component>> = mapped
                    .agents
                    .iter()
                    .map(|a| {
                        let cs = a
                            .components
                            .iter()
                            .map(|c| {
                                Component::new(format!("{}:{}", a.domain, c.id), c.version.clone())
                            })
                            .collect();
                        (a.component_type.clone(), cs)
                    })
                    .collect();
                if let Some(c) = &mut self.current {
                    c.tracker.admitted(generation, agents);
                }
                Ok(())
            }
            Err(problems) => self.refuse(&problems.0).await,
        }
    }

    /// Writes every agent slice of `m` (before admission: a Manifest is never admitted
    /// naming a slice the agent driver cannot read).
    fn keep_slices(&self, m: mapping::Mapped) -> Result<mapping::Mapped, Vec<String>> {
        if m.agents.is_empty() {
            return Ok(m);
        }
        let Some(store) = &self.slices else {
            return Err(vec![format!(
                "domain '{}' is a Kanto update agent's, and this Update Manager keeps no agent slices",
                m.agents[0].component_type
            )]);
        };
        let problems: Vec<String> = m
            .agents
            .iter()
            .filter_map(|a| {
                store
                    .write(a)
                    .err()
                    .map(|e| format!("domain '{}': keeping its slice: {e}", a.component_type))
            })
            .collect();
        if problems.is_empty() {
            Ok(m)
        } else {
            Err(problems)
        }
    }

    async fn refuse(&mut self, problems: &[String]) -> Result<(), LinkError> {
        let Some(c) = &mut self.current else {
            return Ok(());
        };
        tracing::warn!(
            activity_id = c.activity_id,
            problems = problems.join("; "),
            "Kanto: IDENTIFICATION_FAILED"
        );
        let report = c.tracker.refused(problems);
        self.send(report).await
    }

    async fn on_event(&mut self, ev: BatonEvent) -> Result<(), LinkError> {
        match &ev {
            BatonEvent::ConsentRequested { question, command } => {
                let deploying = self.current.as_ref().map(|c| c.activity_id.clone());
                match deploying {
                    Some(activity_id) => {
                        tracing::info!(
                            activity_id,
                            command = command.as_str(),
                            "Kanto: asking the owner for consent"
                        );
                        self.backend.ask_consent(&activity_id, *command).await?;
                        self.pending = Some(Pending {
                            question: *question,
                            command: *command,
                            activity_id,
                            deadline: Instant::now() + self.settings.owner_consent_timeout,
                        });
                    }
                    None => tracing::debug!(
                        question,
                        "Kanto: consent question not for a Kanto activity"
                    ),
                }
                return Ok(());
            }
            BatonEvent::ConsentSettled { question } => {
                if self
                    .pending
                    .as_ref()
                    .is_some_and(|p| p.question == *question)
                {
                    self.pending = None;
                    self.backend.consent_settled();
                }
                return Ok(());
            }
            _ => {}
        }
        let now = Instant::now().into_std();
        let kanto_activity = self.current.is_some();
        let reports = match &mut self.current {
            Some(c) => c.tracker.on_event(&ev, now),
            None => Vec::new(),
        };
        for r in reports {
            self.send(r).await?;
        }
        // After every deployment, whoever asked for it (a Kanto activity's end publishes it
        // with its activityId in `send`).
        if matches!(ev, BatonEvent::Ended { .. }) && !kanto_activity {
            self.publish_current_state("").await?;
        }
        Ok(())
    }

    /// Sends one report; a final one ends the activity (and may restore the previous desired
    /// state), then the current state follows, as Kanto publishes it after every activity.
    async fn send(&mut self, r: Report) -> Result<(), LinkError> {
        let Some(activity_id) = self.current.as_ref().map(|c| c.activity_id.clone()) else {
            return Ok(());
        };
        self.backend.feedback(&activity_id, &r.feedback).await?;
        if !r.last {
            return Ok(());
        }
        let status = r.feedback.status.unwrap_or(Status::Incomplete);
        tracing::info!(
            activity_id,
            ?status,
            message = r.feedback.message,
            "Kanto: activity ended"
        );
        self.current = None;
        if self.pending.take().is_some() {
            self.backend.consent_settled();
        }
        for effect in self
            .activities
            .finish(status, &r.feedback.message, r.superseded)
        {
            let Effect::RestorePrevious { generation } = effect;
            if let Err(e) = self.door.restore_previous(generation).await {
                tracing::error!(activity_id, generation, error = %e, "Kanto: could not restore the previous desired state");
            }
        }
        self.publish_current_state(&activity_id).await
    }

    async fn publish_current_state(&mut self, activity_id: &str) -> Result<(), LinkError> {
        match self.view.snapshot().await {
            Ok(s) => {
                let inv = inventory(&self.settings.domain, &s);
                self.backend.current_state(activity_id, &inv).await
            }
            Err(e) => {
                tracing::warn!(error = %e, "Kanto: current state not published: baton could not read the System's state");
                Ok(())
            }
        }
    }
}

async fn sleep_until(at: Option<std::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}
