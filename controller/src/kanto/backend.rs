//! The Update Manager's wire towards its backend, in either of Kanto's modes: plain MQTT
//! (`<prefix>/desiredstate` ...) or things (the `UpdateManager` Ditto feature). Turns what
//! arrives into [`Inbound`] requests and sends feedback, current state and consent questions
//! the way the configured mode spells them. Replies Ditto requests itself (204 / 400).

use super::link::{now_ms, Link, LinkError, Message};
use super::things::{self, EdgeConfiguration, Request, ThingId};
use super::topics::{self, ManagerTopics};
use super::wire::{
    parse, ConsentCommand, ConsentStatus, DesiredState, DesiredStateCommand, DesiredStateFeedback,
    Envelope, Inventory, OwnerConsent, OwnerConsentFeedback, Trigger,
};

/// A request from the backend (or the owner), in either mode.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    DesiredState {
        activity_id: String,
        timestamp: i64,
        desired: DesiredState,
    },
    CurrentStateGet {
        activity_id: String,
    },
    /// The owner's answer; in plain mode for the activityId it names, in things mode already
    /// matched to the question by its correlation-id.
    Consent {
        activity_id: String,
        status: ConsentStatus,
    },
    /// The device's thing is known (things mode): publish the current state.
    ThingReady,
}

enum Mode {
    Plain(ManagerTopics),
    Things {
        thing: Option<ThingId>,
        /// The correlation-id of the consent question awaiting its answer.
        consent_cid: Option<String>,
        questions: u64,
    },
}

pub struct Backend {
    link: Link,
    domain: String,
    mode: Mode,
}

impl Backend {
    pub fn new(link: Link, domain: &str, things_enabled: bool) -> Self {
        let mode = if things_enabled {
            Mode::Things {
                thing: None,
                consent_cid: None,
                questions: 0,
            }
        } else {
            Mode::Plain(ManagerTopics::new(domain))
        };
        Self {
            link,
            domain: domain.to_string(),
            mode,
        }
    }

    /// What this mode listens to.
    pub fn filters(&self) -> Vec<String> {
        match &self.mode {
            Mode::Plain(t) => t.inbound(),
            Mode::Things { .. } => vec![
                topics::things::EDGE_RESPONSE.to_string(),
                topics::things::COMMANDS.to_string(),
            ],
        }
    }

    /// After each (re)connection. Plain: `true`, publish the current state now. Things: asks
    /// which thing this device is; the answer brings [`Inbound::ThingReady`].
    pub async fn connected(&mut self) -> Result<bool, LinkError> {
        match &self.mode {
            Mode::Plain(_) => Ok(true),
            Mode::Things { .. } => {
                self.link
                    .publish(topics::things::EDGE_REQUEST, false, Vec::new())
                    .await?;
                Ok(false)
            }
        }
    }

    /// Reads one message. Problems are logged here, with the topic; the caller gets only
    /// what is well-formed.
    pub async fn read(&mut self, msg: &Message) -> Result<Option<Inbound>, LinkError> {
        match &self.mode {
            Mode::Plain(t) => Ok(read_plain(t, msg)),
            Mode::Things { .. } => self.read_things(msg).await,
        }
    }

    async fn read_things(&mut self, msg: &Message) -> Result<Option<Inbound>, LinkError> {
        if msg.topic == topics::things::EDGE_RESPONSE {
            let edge: EdgeConfiguration = match parse("edge configuration", &msg.payload) {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(topic = %msg.topic, error = %e, "Kanto: ignored");
                    return Ok(None);
                }
            };
            let Some(id) = ThingId::parse(&edge.device_id) else {
                tracing::warn!(device_id = %edge.device_id, "Kanto: ignored edge configuration: deviceId is not `namespace:name`");
                return Ok(None);
            };
            let Mode::Things { thing, .. } = &mut self.mode else {
                unreachable!()
            };
            if thing.as_ref() == Some(&id) {
                return Ok(None);
            }
            tracing::info!(device_id = %edge.device_id, "Kanto: things mode: serving the UpdateManager feature");
            *thing = Some(id.clone());
            let feature = things::feature(&id, &self.domain);
            self.send(topics::things::EVENTS, &feature).await?;
            return Ok(Some(Inbound::ThingReady));
        }
        let Some(request_id) = topics::things::request_id(&msg.topic) else {
            return Ok(None);
        };
        let Mode::Things {
            thing: Some(id), ..
        } = &self.mode
        else {
            tracing::debug!(topic = %msg.topic, "Kanto: ignored: the thing id is not known yet");
            return Ok(None);
        };
        let id = id.clone();
        let inbox = match things::read_inbox(request_id, &msg.payload, &id) {
            Ok(Some(i)) => i,
            Ok(None) => return Ok(None),
            Err(e) => {
                tracing::warn!(topic = %msg.topic, error = %e, "Kanto: ignored");
                return Ok(None);
            }
        };
        let (error, inbound) = match &inbox.request {
            Request::Apply(Ok(a)) => (
                None,
                Some(Inbound::DesiredState {
                    activity_id: a.activity_id.clone(),
                    timestamp: a.timestamp,
                    desired: a.desired_state.clone().unwrap_or_default(),
                }),
            ),
            Request::Refresh(Ok(r)) => (
                None,
                Some(Inbound::CurrentStateGet {
                    activity_id: r.activity_id.clone(),
                }),
            ),
            Request::Consent(Ok(c)) => {
                let Mode::Things { consent_cid, .. } = &mut self.mode else {
                    unreachable!()
                };
                match (consent_cid.as_deref(), inbox.envelope.correlation_id()) {
                    (Some(want), Some(got)) if want == got => {
                        *consent_cid = None;
                        (
                            None,
                            Some(Inbound::Consent {
                                activity_id: c.activity_id.clone(),
                                status: c.owner_consent_feedback.status,
                            }),
                        )
                    }
                    (None, _) => (Some("no owner consent is awaited".to_string()), None),
                    _ => (Some("correlation id mismatch".to_string()), None),
                }
            }
            Request::Apply(Err(e)) | Request::Refresh(Err(e)) | Request::Consent(Err(e)) => {
                tracing::warn!(topic = %msg.topic, operation = inbox.request.operation(), error = %e, "Kanto: refused");
                (Some(e.clone()), None)
            }
        };
        if let Some((status, reply)) = things::reply(&id, &inbox, error.as_deref()) {
            self.send(&topics::things::response(request_id, status), &reply)
                .await?;
        }
        Ok(inbound)
    }

    /// Feedback for an activity.
    pub async fn feedback(
        &self,
        activity_id: &str,
        fb: &DesiredStateFeedback,
    ) -> Result<(), LinkError> {
        match &self.mode {
            Mode::Plain(t) => {
                let env = Envelope::new(activity_id, now_ms(), fb);
                self.send(&t.desired_state_feedback, &env).await
            }
            Mode::Things { thing, .. } => match thing {
                Some(id) => {
                    let env = things::feedback(id, activity_id, now_ms(), fb);
                    self.send(topics::things::EVENTS, &env).await
                }
                None => {
                    tracing::warn!(
                        activity_id,
                        "Kanto: feedback dropped: the thing id is not known yet"
                    );
                    Ok(())
                }
            },
        }
    }

    /// The current state: retained on `currentstate`, or the feature's properties.
    pub async fn current_state(&self, activity_id: &str, inv: &Inventory) -> Result<(), LinkError> {
        match &self.mode {
            Mode::Plain(t) => {
                let env = Envelope::new(activity_id, now_ms(), inv);
                let bytes = serde_json::to_vec(&env).expect("an inventory serializes");
                self.link.publish(&t.current_state, true, bytes).await
            }
            Mode::Things {
                thing: Some(id), ..
            } => {
                let env = things::properties(id, activity_id, now_ms(), &self.domain, inv);
                self.send(topics::things::EVENTS, &env).await
            }
            Mode::Things { thing: None, .. } => Ok(()),
        }
    }

    /// Asks the owner for consent to `command` in `activity_id`.
    pub async fn ask_consent(
        &mut self,
        activity_id: &str,
        command: ConsentCommand,
    ) -> Result<(), LinkError> {
        let question = OwnerConsent { command };
        match &mut self.mode {
            Mode::Plain(t) => {
                let env = Envelope::new(activity_id, now_ms(), &question);
                let topic = t.owner_consent.clone();
                self.send(&topic, &env).await
            }
            Mode::Things {
                thing,
                consent_cid,
                questions,
            } => {
                let Some(id) = thing.clone() else {
                    tracing::warn!(
                        activity_id,
                        "Kanto: consent question dropped: the thing id is not known yet"
                    );
                    return Ok(());
                };
                *questions += 1;
                let cid = format!("baton-consent-{}-{questions}", std::process::id());
                *consent_cid = Some(cid.clone());
                let env = things::consent(&id, activity_id, now_ms(), &question, &cid);
                self.send(topics::things::EVENTS, &env).await
            }
        }
    }

    /// The question was answered or withdrawn: a late answer is refused.
    pub fn consent_settled(&mut self) {
        if let Mode::Things { consent_cid, .. } = &mut self.mode {
            *consent_cid = None;
        }
    }

    async fn send<T: serde::Serialize>(&self, topic: &str, body: &T) -> Result<(), LinkError> {
        let bytes = serde_json::to_vec(body).expect("Kanto messages serialize");
        self.link.publish(topic, false, bytes).await
    }
}

fn read_plain(t: &ManagerTopics, msg: &Message) -> Option<Inbound> {
    let warn = |e: &dyn std::fmt::Display| {
        tracing::warn!(topic = %msg.topic, error = %e, "Kanto: ignored");
    };
    if msg.topic == t.desired_state {
        match parse::<Envelope<DesiredState>>("desired state", &msg.payload) {
            Ok(env) => Some(Inbound::DesiredState {
                activity_id: env.activity_id,
                timestamp: env.timestamp,
                desired: env.payload,
            }),
            Err(e) => {
                warn(&e);
                None
            }
        }
    } else if msg.topic == t.current_state_get {
        match parse::<Envelope<Trigger>>("current state get", &msg.payload) {
            Ok(env) => Some(Inbound::CurrentStateGet {
                activity_id: env.activity_id,
            }),
            Err(e) => {
                warn(&e);
                None
            }
        }
    } else if msg.topic == t.owner_consent_feedback {
        match parse::<Envelope<Option<OwnerConsentFeedback>>>(
            "owner consent feedback",
            &msg.payload,
        ) {
            Ok(Envelope {
                activity_id,
                payload: Some(fb),
                ..
            }) => Some(Inbound::Consent {
                activity_id,
                status: fb.status,
            }),
            Ok(_) => {
                warn(&"no consent status");
                None
            }
            Err(e) => {
                warn(&e);
                None
            }
        }
    } else if msg.topic == t.desired_state_command {
        match parse::<Envelope<DesiredStateCommand>>("desired state command", &msg.payload) {
            Ok(env) => tracing::info!(
                topic = %msg.topic,
                activity_id = %env.activity_id,
                "Kanto: desired state command ignored (Kanto's Update Manager ignores it too)"
            ),
            Err(e) => warn(&e),
        }
        None
    } else {
        None
    }
}
