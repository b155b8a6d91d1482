//! Drives one Kanto domain update agent over MQTT with the Update Agent API, so that an
//! existing agent (Kanto's container agent, a self-update agent) is one component of baton's
//! ordered, all-or-nothing System (Topology `interface: kanto:<domain>`).
//!
//! The agent is driven the way Kanto's Update Manager drives it: the domain's slice of the
//! desired state on `<prefix>/desiredstate`, then commands on `<prefix>/desiredstate/command`,
//! each step awaited on `<prefix>/desiredstatefeedback` for the same activityId, within
//! `PhaseTimeoutSeconds`; the current state on `<prefix>/currentstate/get` ->
//! `<prefix>/currentstate`. An agent that does not answer in time fails the step with a reason
//! that names the domain, the step and the topic it was awaited on.
//!
//! baton's states, as [`AgentComponent::run_state`] maps them:
//!
//! | baton state | Kanto update agent |
//! |---|---|
//! | Download | `desiredstate` (identification), then DOWNLOAD; nothing more when the agent identifies no actions |
//! | ArtifactInstall | UPDATE (installed, not yet active) |
//! | ArtifactReboot, ArtifactVerifyReboot | nothing: `NeedsArtifactReboot` is `No` |
//! | ArtifactCommit | ACTIVATE: Kanto's point of no return (its ROLLBACK is only offered before it), as ArtifactCommit is baton's |
//! | ArtifactRollback | ROLLBACK (`SupportsRollback` is `Yes`: agents accept it after DOWNLOAD or UPDATE) |
//! | ArtifactRollbackReboot, ArtifactVerifyRollbackReboot, ArtifactFailure | nothing |
//! | Cleanup | CLEANUP (always runs last, as Kanto sends it after activation or rollback) |
//!
//! The consequence to know: an agent's new software becomes active at ArtifactCommit, after
//! every component of every order group has installed (and rebooted and verified), so a
//! failure of ACTIVATE cannot roll back components already committed; Kanto has the same
//! limit.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tokio::sync::{mpsc, Mutex};
use tokio::time::Instant;

use super::agent_phase::{judge, Awaited, Verdict};
use super::link::{now_ms, Link, LinkError, Message};
use super::topics::AgentTopics;
use super::wire::{
    parse, Action, Command, DesiredState, DesiredStateCommand, DesiredStateFeedback, Envelope,
    Inventory, SoftwareType, Status, Trigger,
};
use crate::interface::protocol::State;

/// Why a step with an agent failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    #[error("the Kanto update agent for domain '{domain}' did not answer {step} within {seconds} s (nothing on {topic} for activity {activity_id})")]
    Timeout {
        domain: String,
        step: &'static str,
        seconds: u64,
        topic: String,
        activity_id: String,
    },
    #[error(
        "the Kanto update agent for domain '{domain}' reported {status:?} for {step}: {message}"
    )]
    Failed {
        domain: String,
        step: &'static str,
        status: Status,
        message: String,
    },
    #[error(transparent)]
    Link(#[from] LinkError),
}

/// What identification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identified {
    /// The agent already runs the desired state.
    NothingToDo,
    /// What it will do.
    Actions(Vec<Action>),
}

/// A client of one agent.
pub struct KantoAgent {
    domain: String,
    topics: AgentTopics,
    link: Link,
    inbox: Mutex<mpsc::Receiver<Message>>,
    phase_timeout: Duration,
    read_timeout: Duration,
}

impl KantoAgent {
    /// Subscribes to the agent's feedback and current state. `phase_timeout` bounds each
    /// step (`PhaseTimeoutSeconds`), `read_timeout` a current-state read.
    pub async fn new(
        link: Link,
        domain: &str,
        phase_timeout: Duration,
        read_timeout: Duration,
    ) -> Result<Self, LinkError> {
        let topics = AgentTopics::new(domain);
        let inbox = link.subscribe(topics.inbound()).await?;
        Ok(Self {
            domain: domain.to_string(),
            topics,
            link,
            inbox: Mutex::new(inbox),
            phase_timeout,
            read_timeout,
        })
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Asks for the agent's current state and waits for the answer to that request.
    pub async fn current_state(&self, activity_id: &str) -> Result<Inventory, AgentError> {
        let mut inbox = self.inbox.lock().await;
        let get = Envelope::new(activity_id, now_ms(), Trigger::default());
        self.publish(&self.topics.current_state_get.clone(), &get)
            .await?;
        let deadline = Instant::now() + self.read_timeout;
        loop {
            let msg = self
                .next(
                    &mut inbox,
                    deadline,
                    "current state",
                    &self.topics.current_state,
                    activity_id,
                    self.read_timeout,
                )
                .await?;
            if msg.topic != self.topics.current_state {
                continue;
            }
            match parse::<Envelope<Inventory>>("current state", &msg.payload) {
                Ok(env) if env.activity_id == activity_id => return Ok(env.payload),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(domain = self.domain, topic = %msg.topic, error = %e, "Kanto agent: ignored")
                }
            }
        }
    }

    /// Sends the domain's slice of the desired state and waits for identification.
    pub async fn identify(
        &self,
        activity_id: &str,
        desired: &DesiredState,
    ) -> Result<Identified, AgentError> {
        let env = Envelope::new(activity_id, now_ms(), desired);
        let topic = self.topics.desired_state.clone();
        match self
            .step(
                activity_id,
                Awaited::Identification,
                &topic,
                &env,
                &mut |_| {},
            )
            .await?
        {
            Verdict::NothingToDo => Ok(Identified::NothingToDo),
            Verdict::Done(actions) => Ok(Identified::Actions(actions)),
            other => unreachable!("step returns only final verdicts: {other:?}"),
        }
    }

    /// Sends `command` and waits until the agent reports its success (the actions) or its
    /// failure. `progress` sees every intermediate report.
    pub async fn command(
        &self,
        activity_id: &str,
        command: Command,
        progress: &mut (dyn FnMut(&[Action]) + Send),
    ) -> Result<Vec<Action>, AgentError> {
        let body = DesiredStateCommand {
            command: Some(command),
            baseline: String::new(),
        };
        let env = Envelope::new(activity_id, now_ms(), body);
        let topic = self.topics.desired_state_command.clone();
        match self
            .step(
                activity_id,
                Awaited::Command(command),
                &topic,
                &env,
                progress,
            )
            .await?
        {
            Verdict::Done(actions) => Ok(actions),
            Verdict::NothingToDo => Ok(Vec::new()),
            other => unreachable!("step returns only final verdicts: {other:?}"),
        }
    }

    async fn step<T: serde::Serialize>(
        &self,
        activity_id: &str,
        awaited: Awaited,
        topic: &str,
        body: &Envelope<T>,
        progress: &mut (dyn FnMut(&[Action]) + Send),
    ) -> Result<Verdict, AgentError> {
        let mut inbox = self.inbox.lock().await;
        // Whatever arrived before this step is about earlier ones.
        while inbox.try_recv().is_ok() {}
        self.publish(topic, body).await?;
        let deadline = Instant::now() + self.phase_timeout;
        loop {
            let msg = self
                .next(
                    &mut inbox,
                    deadline,
                    awaited.label(),
                    &self.topics.desired_state_feedback,
                    activity_id,
                    self.phase_timeout,
                )
                .await?;
            if msg.topic != self.topics.desired_state_feedback {
                continue;
            }
            let env = match parse::<Envelope<DesiredStateFeedback>>(
                "desired state feedback",
                &msg.payload,
            ) {
                Ok(env) => env,
                Err(e) => {
                    tracing::warn!(domain = self.domain, topic = %msg.topic, error = %e, "Kanto agent: ignored");
                    continue;
                }
            };
            if env.activity_id != activity_id {
                continue;
            }
            match judge(awaited, &env.payload) {
                None => {}
                Some(Verdict::Progress(actions)) => progress(&actions),
                Some(Verdict::Failed { status, message }) => {
                    return Err(AgentError::Failed {
                        domain: self.domain.clone(),
                        step: awaited.label(),
                        status,
                        message,
                    })
                }
                Some(done) => return Ok(done),
            }
        }
    }

    async fn next(
        &self,
        inbox: &mut mpsc::Receiver<Message>,
        deadline: Instant,
        step: &'static str,
        topic: &str,
        activity_id: &str,
        limit: Duration,
    ) -> Result<Message, AgentError> {
        match tokio::time::timeout_at(deadline, inbox.recv()).await {
            Ok(Some(m)) => Ok(m),
            Ok(None) => Err(AgentError::Link(LinkError {
                broker: self.link.broker().to_string(),
                detail: "the subscription closed".into(),
            })),
            Err(_) => Err(AgentError::Timeout {
                domain: self.domain.clone(),
                step,
                seconds: limit.as_secs(),
                topic: topic.to_string(),
                activity_id: activity_id.to_string(),
            }),
        }
    }

    async fn publish<T: serde::Serialize>(&self, topic: &str, body: &T) -> Result<(), LinkError> {
        let bytes = serde_json::to_vec(body).expect("Kanto messages serialize");
        self.link.publish(topic, false, bytes).await
    }
}

/// A Kanto update agent as a baton component: what the engine asks of an Interface.
pub struct AgentComponent {
    agent: KantoAgent,
    /// Per activity: whether identification found work (unknown after a restart: assume so).
    work: std::sync::Mutex<HashMap<String, bool>>,
}

impl AgentComponent {
    pub fn new(agent: KantoAgent) -> Self {
        Self {
            agent,
            work: Default::default(),
        }
    }

    pub fn agent(&self) -> &KantoAgent {
        &self.agent
    }

    /// `Identity`: the agent's own node in its current state (the APPLICATION node with
    /// `domain=<domain>`, as Kanto's Update Manager finds it), else the domain; made a valid
    /// component ID.
    pub async fn identity(&self, activity_id: &str) -> Result<String, AgentError> {
        let inv = self.agent.current_state(activity_id).await?;
        let id = agent_node(&inv, &self.agent.domain)
            .unwrap_or(&self.agent.domain)
            .to_string();
        Ok(id
            .chars()
            .map(|c| {
                if c == '/' || c.is_whitespace() || c.is_control() {
                    '-'
                } else {
                    c
                }
            })
            .collect::<String>()
            .trim_start_matches('.')
            .to_string())
    }

    /// `Provides`: `kanto.<node id>=<version>` for every other software node of its current
    /// state. (The Manifest's `artifact_name` for an agent is a digest of the desired slice,
    /// see `mapping.rs`; whether the agent runs it is the agent's own identification.)
    pub async fn provides(
        &self,
        activity_id: &str,
    ) -> Result<BTreeMap<String, String>, AgentError> {
        let inv = self.agent.current_state(activity_id).await?;
        let me = agent_node(&inv, &self.agent.domain).map(str::to_string);
        Ok(inv
            .software_nodes
            .iter()
            .filter(|n| Some(&n.node.id) != me.as_ref() && !n.node.id.is_empty())
            .map(|n| (format!("kanto.{}", n.node.id), n.node.version.clone()))
            .collect())
    }

    /// `NeedsArtifactReboot`.
    pub fn needs_reboot(&self) -> bool {
        false
    }

    /// `SupportsRollback`.
    pub fn supports_rollback(&self) -> bool {
        true
    }

    /// Runs baton's `state` for `activity_id` (the table in the module docs). `slice` is the
    /// agent's part of the desired state, needed by Download.
    pub async fn run_state(
        &self,
        activity_id: &str,
        state: State,
        slice: &DesiredState,
        progress: &mut (dyn FnMut(&[Action]) + Send),
    ) -> Result<(), AgentError> {
        let command = match state {
            State::Download | State::DownloadWithFileSizes => {
                let found = self.agent.identify(activity_id, slice).await?;
                let work = matches!(found, Identified::Actions(_));
                self.work
                    .lock()
                    .expect("work lock")
                    .insert(activity_id.to_string(), work);
                if !work {
                    tracing::info!(
                        domain = self.agent.domain,
                        activity_id,
                        "Kanto agent: already runs the desired state"
                    );
                    return Ok(());
                }
                Command::Download
            }
            State::ArtifactInstall => Command::Update,
            State::ArtifactCommit => Command::Activate,
            State::ArtifactRollback => Command::Rollback,
            State::Cleanup => Command::Cleanup,
            State::ArtifactReboot
            | State::ArtifactVerifyReboot
            | State::ArtifactRollbackReboot
            | State::ArtifactVerifyRollbackReboot
            | State::ArtifactFailure => return Ok(()),
        };
        let work = self
            .work
            .lock()
            .expect("work lock")
            .get(activity_id)
            .copied()
            .unwrap_or(true);
        if !work && command != Command::Download {
            if command == Command::Cleanup {
                self.work.lock().expect("work lock").remove(activity_id);
            }
            return Ok(());
        }
        let result = self
            .agent
            .command(activity_id, command, progress)
            .await
            .map(|_| ());
        if command == Command::Cleanup {
            self.work.lock().expect("work lock").remove(activity_id);
        }
        result
    }
}

/// Kanto's `findDomainSoftwareNode`: the APPLICATION node with parameter `domain=<domain>`.
fn agent_node<'a>(inv: &'a Inventory, domain: &str) -> Option<&'a str> {
    inv.software_nodes
        .iter()
        .find(|n| {
            n.kind == Some(SoftwareType::Application)
                && n.node
                    .parameters
                    .iter()
                    .any(|p| p.key == "domain" && p.value == domain)
        })
        .map(|n| n.node.id.as_str())
}
