//! A simulated Kanto domain update agent, written from the Update Agent API (Kanto's
//! `docs/update-agent-api.md` and the reference digest), not from Kanto's code.
//!
//! It keeps a set of components (`id -> version`), publishes its current state retained on
//! start and after each activation, identifies the actions a desired state needs (new or
//! changed components), and runs DOWNLOAD, UPDATE, ACTIVATE, ROLLBACK and CLEANUP with the
//! statuses the API defines. Every request it receives is logged in order, so tests can check
//! the order baton drives it in. It can be told to fail one command, or never to answer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{json, Value};

/// How the simulated agent behaves.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Components it runs at start.
    pub components: Vec<(String, String)>,
    /// Report the failure of this command (`DOWNLOAD`, `UPDATE`, `ACTIVATE`, ...).
    pub fail: Option<String>,
    /// Receive and log, never answer.
    pub silent: bool,
    /// Requests (`desiredstate`, `currentstate/get`, or a command) received and logged but
    /// never answered; the others are answered.
    pub ignore: Vec<String>,
}

/// Called with each request as it arrives; what it returns is noted beside it (a test's
/// view of the rest of the System at that moment).
pub type Witness = Box<dyn Fn(&str) -> String + Send>;

#[derive(Default)]
struct Inner {
    log: Vec<String>,
    running: BTreeMap<String, String>,
    /// Per activityId: the components to change, and whether a failure or rollback happened.
    desired: BTreeMap<String, (BTreeMap<String, String>, bool)>,
    witness: Option<Witness>,
    notes: Vec<(String, String)>,
}

/// A running simulated agent.
#[derive(Clone)]
pub struct AgentSim {
    pub domain: String,
    inner: Arc<Mutex<Inner>>,
}

/// Kanto's prefix rule.
pub fn prefix(domain: &str) -> String {
    let d = domain.replace('-', "");
    if d.ends_with("update") {
        d
    } else {
        d + "update"
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

impl AgentSim {
    /// Connects to the broker on `port` and serves `domain` until the runtime ends.
    pub async fn start(port: u16, domain: &str, behaviour: Behaviour) -> AgentSim {
        let p = prefix(domain);
        let mut opts = MqttOptions::new(
            super::mqtt::unique_id(&format!("sim-agent-{domain}")),
            "127.0.0.1",
            port,
        );
        opts.set_keep_alive(Duration::from_secs(20));
        let (client, mut eventloop) = AsyncClient::new(opts, 256);
        let inner = Arc::new(Mutex::new(Inner {
            running: behaviour.components.iter().cloned().collect(),
            ..Default::default()
        }));
        let sim = AgentSim {
            domain: domain.to_string(),
            inner: inner.clone(),
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let c = client.clone();
        let subs = [
            format!("{p}/desiredstate"),
            format!("{p}/desiredstate/command"),
            format!("{p}/currentstate/get"),
        ];
        tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        for s in &subs {
                            let _ = c.try_subscribe(s.clone(), QoS::AtLeastOnce);
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(t) = ready.take() {
                            let _ = t.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let _ = tx.send((p.topic.clone(), p.payload.to_vec()));
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), ready_rx)
            .await
            .expect("the simulated agent subscribes")
            .unwrap();
        let agent = Agent {
            client,
            prefix: p,
            domain: domain.to_string(),
            behaviour,
            inner,
        };
        agent.publish_state("").await;
        tokio::spawn(async move {
            while let Some((topic, payload)) = rx.recv().await {
                agent.handle(&topic, &payload).await;
            }
        });
        sim
    }

    /// Every request received, in order: `desiredstate`, `currentstate/get`, or the command.
    pub fn log(&self) -> Vec<String> {
        self.inner.lock().unwrap().log.clone()
    }

    /// Only the commands, in order.
    pub fn commands(&self) -> Vec<String> {
        self.log()
            .into_iter()
            .filter(|l| l.chars().all(|c| c.is_ascii_uppercase()))
            .collect()
    }

    /// From now on, `witness` is asked at each request; see [`AgentSim::notes`].
    pub fn witness(&self, witness: impl Fn(&str) -> String + Send + 'static) {
        self.inner.lock().unwrap().witness = Some(Box::new(witness));
    }

    /// Each request since [`AgentSim::witness`] was set, with what the witness said then.
    pub fn notes(&self) -> Vec<(String, String)> {
        self.inner.lock().unwrap().notes.clone()
    }

    /// What it runs now.
    pub fn running(&self) -> BTreeMap<String, String> {
        self.inner.lock().unwrap().running.clone()
    }
}

struct Agent {
    client: AsyncClient,
    prefix: String,
    domain: String,
    behaviour: Behaviour,
    inner: Arc<Mutex<Inner>>,
}

impl Agent {
    async fn handle(&self, topic: &str, payload: &[u8]) {
        let suffix = topic.strip_prefix(&self.prefix).unwrap_or("");
        // Garbage is the sender's problem: an agent ignores what it cannot read.
        let Ok(env) = serde_json::from_slice::<Value>(payload) else {
            return;
        };
        let activity = env["activityId"].as_str().unwrap_or("").to_string();
        match suffix {
            "/currentstate/get" => {
                self.note("currentstate/get");
                if self.answers("currentstate/get") {
                    self.publish_state(&activity).await;
                }
            }
            "/desiredstate" => {
                self.note("desiredstate");
                let mut want = BTreeMap::new();
                for d in env["payload"]["domains"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                {
                    if d["id"] == self.domain.as_str() {
                        for c in d["components"].as_array().cloned().unwrap_or_default() {
                            want.insert(
                                c["id"].as_str().unwrap_or("").to_string(),
                                c["version"].as_str().unwrap_or("").to_string(),
                            );
                        }
                    }
                }
                // The actions: components that are new or run another version.
                let running = self.inner.lock().unwrap().running.clone();
                want.retain(|k, v| running.get(k) != Some(v));
                let actions = self.actions(&want, "IDENTIFIED", 0);
                self.inner
                    .lock()
                    .unwrap()
                    .desired
                    .insert(activity.clone(), (want, false));
                if !self.answers("desiredstate") {
                    return;
                }
                self.feedback(&activity, "IDENTIFYING", json!([])).await;
                if actions.as_array().unwrap().is_empty() {
                    self.feedback(&activity, "IDENTIFIED", json!([])).await;
                    self.feedback(&activity, "COMPLETED", json!([])).await;
                } else {
                    self.feedback(&activity, "IDENTIFIED", actions).await;
                }
            }
            "/desiredstate/command" => {
                let Some(cmd) = env["payload"]["command"].as_str().map(str::to_string) else {
                    return;
                };
                self.note(&cmd);
                if self.answers(&cmd) {
                    self.command(&activity, &cmd).await;
                }
            }
            _ => {}
        }
    }

    fn note(&self, what: &str) {
        let mut i = self.inner.lock().unwrap();
        i.log.push(what.to_string());
        if let Some(seen) = i.witness.as_ref().map(|w| w(what)) {
            i.notes.push((what.to_string(), seen));
        }
    }

    /// Whether to answer `what` (not when silent, nor when told to ignore it).
    fn answers(&self, what: &str) -> bool {
        !self.behaviour.silent && !self.behaviour.ignore.iter().any(|i| i == what)
    }

    async fn command(&self, activity: &str, cmd: &str) {
        let Some((want, _)) = self.inner.lock().unwrap().desired.get(activity).cloned() else {
            return; // not an activity it identified: nothing to answer
        };
        let (working, ok, bad, action_working, action_ok, action_bad) = match cmd {
            "DOWNLOAD" => (
                "DOWNLOADING",
                "DOWNLOAD_SUCCESS",
                "DOWNLOAD_FAILURE",
                "DOWNLOADING",
                "DOWNLOAD_SUCCESS",
                "DOWNLOAD_FAILURE",
            ),
            "UPDATE" => (
                "UPDATING",
                "UPDATE_SUCCESS",
                "UPDATE_FAILURE",
                "UPDATING",
                "UPDATE_SUCCESS",
                "UPDATE_FAILURE",
            ),
            "ACTIVATE" => (
                "ACTIVATING",
                "ACTIVATION_SUCCESS",
                "ACTIVATION_FAILURE",
                "ACTIVATING",
                "ACTIVATION_SUCCESS",
                "ACTIVATION_FAILURE",
            ),
            "ROLLBACK" => (
                "ROLLBACK",
                "ROLLBACK_SUCCESS",
                "ROLLBACK_FAILURE",
                "UPDATING",
                "UPDATE_FAILURE",
                "UPDATE_FAILURE",
            ),
            "CLEANUP" => ("CLEANUP", "CLEANUP_SUCCESS", "CLEANUP_FAILURE", "", "", ""),
            _ => return,
        };
        self.feedback(activity, working, self.actions(&want, action_working, 50))
            .await;
        let failing = self.behaviour.fail.as_deref() == Some(cmd);
        if failing {
            if let Some(d) = self.inner.lock().unwrap().desired.get_mut(activity) {
                d.1 = true;
            }
            self.feedback(activity, bad, self.actions(&want, action_bad, 0))
                .await;
            return;
        }
        match cmd {
            "ACTIVATE" => {
                let mut i = self.inner.lock().unwrap();
                for (k, v) in &want {
                    i.running.insert(k.clone(), v.clone());
                }
            }
            "ROLLBACK" => {
                if let Some(d) = self.inner.lock().unwrap().desired.get_mut(activity) {
                    d.1 = true;
                }
            }
            _ => {}
        }
        let done = if cmd == "CLEANUP" {
            json!([])
        } else {
            self.actions(&want, action_ok, 0)
        };
        self.feedback(activity, ok, done).await;
        if cmd == "ACTIVATE" {
            self.publish_state("").await;
        }
        if cmd == "CLEANUP" {
            let failed = self
                .inner
                .lock()
                .unwrap()
                .desired
                .remove(activity)
                .is_some_and(|d| d.1);
            self.feedback(
                activity,
                if failed { "INCOMPLETE" } else { "COMPLETED" },
                json!([]),
            )
            .await;
        }
    }

    /// An action per component of `changes`.
    fn actions(&self, changes: &BTreeMap<String, String>, status: &str, progress: u8) -> Value {
        let acts: Vec<Value> = changes
            .iter()
            .map(|(k, v)| json!({"component":{"id": format!("{}:{k}", self.domain), "version": v}, "status": status, "progress": progress}))
            .collect();
        Value::Array(acts)
    }

    async fn feedback(&self, activity: &str, status: &str, actions: Value) {
        let mut payload = json!({"status": status, "actions": actions});
        if !matches!(
            status,
            "IDENTIFYING" | "IDENTIFIED" | "COMPLETED" | "INCOMPLETE"
        ) {
            payload["baseline"] = json!(format!("{}-baseline", self.domain));
        }
        let env = json!({"activityId": activity, "timestamp": now_ms(), "payload": payload});
        let topic = format!("{}/desiredstatefeedback", self.prefix);
        let _ = self
            .client
            .publish(
                topic,
                QoS::AtLeastOnce,
                false,
                serde_json::to_vec(&env).unwrap(),
            )
            .await;
    }

    async fn publish_state(&self, activity: &str) {
        let running = self.inner.lock().unwrap().running.clone();
        let me = format!("{}-update-agent", self.domain);
        let mut nodes = vec![
            json!({"id": me, "version": "0.1-sim", "name": "Simulated Update Agent", "type": "APPLICATION",
            "parameters": [{"key": "domain", "value": self.domain}]}),
        ];
        let mut links = Vec::new();
        for (id, version) in &running {
            let node = format!("{}:{id}", self.domain);
            nodes.push(json!({"id": node, "version": version, "type": "CONTAINER"}));
            links.push(json!({"sourceId": me, "targetId": node}));
        }
        let env = json!({"activityId": activity, "timestamp": now_ms(),
            "payload": {"softwareNodes": nodes, "associations": links}});
        let topic = format!("{}/currentstate", self.prefix);
        let _ = self
            .client
            .publish(
                topic,
                QoS::AtLeastOnce,
                true,
                serde_json::to_vec(&env).unwrap(),
            )
            .await;
    }
}
