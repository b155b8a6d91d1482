//! A simulated Kanto backend (and owner-consent app): publishes desired states, collects
//! feedback and current states, answers consent questions. Plain-MQTT mode speaks the
//! `<prefix>/...` topics; things mode plays the local Ditto/Hono connector (answers
//! `edge/thing/request`, sends `apply`/`refresh`/`consent` to the `UpdateManager` feature's
//! inbox, reads its outbox and twin changes on `e`).

use std::time::Duration;

use serde_json::{json, Value};

use super::agent::prefix;
use super::mqtt::{Received, TestClient};

const FINAL: &[&str] = &[
    "COMPLETED",
    "INCOMPLETE",
    "INCOMPLETE_INCONSISTENT",
    "IDENTIFICATION_FAILED",
];

/// Which of Kanto's modes the simulator speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Plain,
    /// With this `namespace:name` device id.
    Things(String),
}

#[derive(Clone)]
pub struct BackendSim {
    pub client: TestClient,
    pub prefix: String,
    pub mode: Mode,
    requests: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

impl BackendSim {
    /// Connects and subscribes to what the Update Manager of `domain` publishes.
    pub async fn start(port: u16, domain: &str, mode: Mode) -> BackendSim {
        let client = TestClient::connect(port, "sim-backend").await;
        let p = prefix(domain);
        match &mode {
            Mode::Plain => {
                for t in ["desiredstatefeedback", "currentstate", "ownerconsent"] {
                    client.subscribe(&format!("{p}/{t}")).await;
                }
            }
            Mode::Things(device_id) => {
                for t in ["edge/thing/request", "e", "command///res/#"] {
                    client.subscribe(t).await;
                }
                // The connector answers every request for the edge configuration.
                let (c, id) = (client.clone(), device_id.clone());
                tokio::spawn(async move {
                    let mut answered = 0;
                    loop {
                        let asked = c
                            .received()
                            .iter()
                            .filter(|r| r.topic == "edge/thing/request")
                            .count();
                        for _ in answered..asked {
                            c.publish_json(
                                "edge/thing/response",
                                &json!({"deviceId": id, "tenantId": "t1", "policyId": id}),
                            )
                            .await;
                        }
                        answered = asked;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                });
            }
        }
        BackendSim {
            client,
            prefix: p,
            mode,
            requests: Default::default(),
        }
    }

    fn thing(&self) -> (String, String) {
        let Mode::Things(id) = &self.mode else {
            panic!("things mode only")
        };
        let (ns, name) = id.split_once(':').unwrap();
        (ns.to_string(), name.to_string())
    }

    /// Sends an inbox message to the feature (things mode); returns the request id.
    pub async fn inbox(&self, op: &str, value: Value, correlation_id: &str) -> String {
        let (ns, name) = self.thing();
        let n = self
            .requests
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let req = format!("req-{n}");
        let env = json!({"topic": format!("{ns}/{name}/things/live/messages/{op}"),
            "headers": {"correlation-id": correlation_id, "response-required": true, "content-type": "application/json"},
            "path": format!("/features/UpdateManager/inbox/messages/{op}"), "value": value});
        self.client
            .publish_json(&format!("command///req/{req}/{op}"), &env)
            .await;
        req
    }

    /// Sends a desired state for `activity`.
    pub async fn desired_state(&self, activity: &str, desired: Value) {
        match self.mode {
            Mode::Plain => {
                let env =
                    json!({"activityId": activity, "timestamp": now_ms(), "payload": desired});
                self.client
                    .publish_json(&format!("{}/desiredstate", self.prefix), &env)
                    .await;
            }
            Mode::Things(_) => {
                self.inbox(
                    "apply",
                    json!({"activityId": activity, "timestamp": now_ms(), "desiredState": desired}),
                    activity,
                )
                .await;
            }
        }
    }

    /// Asks for the current state.
    pub async fn get_current_state(&self, activity: &str) {
        match self.mode {
            Mode::Plain => {
                let env = json!({"activityId": activity, "timestamp": now_ms(), "payload": null});
                self.client
                    .publish_json(&format!("{}/currentstate/get", self.prefix), &env)
                    .await;
            }
            Mode::Things(_) => {
                self.inbox(
                    "refresh",
                    json!({"activityId": activity, "timestamp": now_ms()}),
                    activity,
                )
                .await;
            }
        }
    }

    /// Publishes raw bytes (garbage tests).
    pub async fn raw(&self, topic: &str, bytes: impl Into<Vec<u8>>) {
        self.client.publish(topic, false, bytes).await;
    }

    fn feedback_of(&self, r: &Received, activity: &str) -> Option<Value> {
        let v = r.json()?;
        match self.mode {
            Mode::Plain if r.topic == format!("{}/desiredstatefeedback", self.prefix) => {
                (v["activityId"] == activity).then(|| v["payload"].clone())
            }
            Mode::Things(_)
                if r.topic == "e"
                    && v["path"] == "/features/UpdateManager/outbox/messages/feedback" =>
            {
                (v["value"]["activityId"] == activity)
                    .then(|| v["value"]["desiredStateFeedback"].clone())
            }
            _ => None,
        }
    }

    /// Every feedback payload for `activity` so far.
    pub fn feedback(&self, activity: &str) -> Vec<Value> {
        self.client
            .received()
            .iter()
            .filter_map(|r| self.feedback_of(r, activity))
            .collect()
    }

    /// The statuses of `activity`'s feedback so far.
    pub fn statuses(&self, activity: &str) -> Vec<String> {
        self.feedback(activity)
            .iter()
            .map(|f| f["status"].as_str().unwrap_or("?").to_string())
            .collect()
    }

    /// Waits for `count` final statuses of `activity`; returns all its feedback.
    pub async fn wait_finals(&self, activity: &str, count: usize, timeout: Duration) -> Vec<Value> {
        let this = self.clone();
        let a = activity.to_string();
        self.client
            .wait_for(
                &format!("{count} final feedback(s) for {activity}"),
                timeout,
                move |rs| {
                    let fb: Vec<Value> =
                        rs.iter().filter_map(|r| this.feedback_of(r, &a)).collect();
                    let finals = fb
                        .iter()
                        .filter(|f| FINAL.contains(&f["status"].as_str().unwrap_or("")))
                        .count();
                    (finals >= count).then_some(fb)
                },
            )
            .await
    }

    /// Waits for the final feedback of `activity`; returns all its feedback.
    pub async fn wait_final(&self, activity: &str, timeout: Duration) -> Vec<Value> {
        self.wait_finals(activity, 1, timeout).await
    }

    /// The current states published so far (inventory payloads), with their activityId and
    /// whether they were retained.
    pub fn current_states(&self) -> Vec<(String, Value, bool)> {
        self.current_states_in(&self.client.received())
    }

    fn current_states_in(&self, rs: &[Received]) -> Vec<(String, Value, bool)> {
        rs.iter()
            .filter_map(|r| {
                let v = r.json()?;
                match self.mode {
                    Mode::Plain if r.topic == format!("{}/currentstate", self.prefix) => Some((
                        v["activityId"].as_str()?.to_string(),
                        v["payload"].clone(),
                        r.retained,
                    )),
                    Mode::Things(_)
                        if r.topic == "e" && v["path"] == "/features/UpdateManager/properties" =>
                    {
                        Some((
                            v["value"]["activityId"].as_str()?.to_string(),
                            v["value"]["inventory"].clone(),
                            false,
                        ))
                    }
                    _ => None,
                }
            })
            .collect()
    }

    /// Waits for a current state whose activityId satisfies `pred`.
    pub async fn wait_current_state(
        &self,
        what: &str,
        pred: impl Fn(&str) -> bool + Send + 'static,
    ) -> Value {
        let this = self.clone();
        self.client
            .wait_for(what, Duration::from_secs(20), move |rs| {
                this.current_states_in(rs)
                    .into_iter()
                    .find(|(a, _, _)| pred(a))
                    .map(|(_, v, _)| v)
            })
            .await
    }

    /// Waits for the consent question of `activity`: `(command, correlation-id)`.
    pub async fn wait_consent(&self, activity: &str) -> (String, String) {
        let (a, plain, p) = (
            activity.to_string(),
            self.mode == Mode::Plain,
            self.prefix.clone(),
        );
        self.client
            .wait_for(
                &format!("a consent question for {activity}"),
                Duration::from_secs(20),
                move |rs| {
                    rs.iter().rev().find_map(|r| {
                        let v = r.json()?;
                        if plain
                            && r.topic == format!("{p}/ownerconsent")
                            && v["activityId"] == a.as_str()
                        {
                            return Some((
                                v["payload"]["command"].as_str()?.to_string(),
                                String::new(),
                            ));
                        }
                        if !plain
                            && r.topic == "e"
                            && v["path"] == "/features/UpdateManager/outbox/messages/consent"
                            && v["value"]["activityId"] == a.as_str()
                        {
                            return Some((
                                v["value"]["ownerConsent"]["command"].as_str()?.to_string(),
                                v["headers"]["correlation-id"].as_str()?.to_string(),
                            ));
                        }
                        None
                    })
                },
            )
            .await
    }

    /// Answers the consent question of `activity` (`APPROVED` or `DENIED`).
    pub async fn answer_consent(&self, activity: &str, status: &str, correlation_id: &str) {
        match self.mode {
            Mode::Plain => {
                let env = json!({"activityId": activity, "timestamp": now_ms(), "payload": {"status": status}});
                self.client
                    .publish_json(&format!("{}/ownerconsentfeedback", self.prefix), &env)
                    .await;
            }
            Mode::Things(_) => {
                let v = json!({"activityId": activity, "timestamp": now_ms(), "ownerConsentFeedback": {"status": status}});
                self.inbox("consent", v, correlation_id).await;
            }
        }
    }

    /// The Ditto replies received (things mode): `(request id, status)`.
    pub fn replies(&self) -> Vec<(String, u16)> {
        self.client
            .received()
            .iter()
            .filter_map(|r| {
                let rest = r.topic.strip_prefix("command///res/")?;
                let (id, status) = rest.split_once('/')?;
                Some((id.to_string(), status.parse().ok()?))
            })
            .collect()
    }
}
