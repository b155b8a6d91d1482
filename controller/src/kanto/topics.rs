//! Kanto's MQTT topic names: the prefix rule and the topics of each side of each API.
//!
//! The prefix rule is Kanto's `domainAsTopic`: drop every `-`, then append `update` unless the
//! name already ends with it (`device` -> `deviceupdate`, `self-update` -> `selfupdate`). The
//! same rule names the Update Manager's own topics (from its `Domain`) and each agent's.

/// `domainAsTopic`.
pub fn prefix(domain: &str) -> String {
    let d = domain.replace('-', "");
    if d.ends_with("update") {
        d
    } else {
        d + "update"
    }
}

/// The Update Manager's topics towards its backend, in plain-MQTT mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerTopics {
    /// In: a desired state.
    pub desired_state: String,
    /// In: subscribed by Kanto, and ignored by it; baton logs it.
    pub desired_state_command: String,
    /// In: "publish the current state".
    pub current_state_get: String,
    /// Out, retained: the inventory.
    pub current_state: String,
    /// Out: feedback for an activity.
    pub desired_state_feedback: String,
    /// Out: the consent question.
    pub owner_consent: String,
    /// In: the consent answer.
    pub owner_consent_feedback: String,
}

impl ManagerTopics {
    pub fn new(domain: &str) -> Self {
        let p = prefix(domain);
        Self {
            desired_state: format!("{p}/desiredstate"),
            desired_state_command: format!("{p}/desiredstate/command"),
            current_state_get: format!("{p}/currentstate/get"),
            current_state: format!("{p}/currentstate"),
            desired_state_feedback: format!("{p}/desiredstatefeedback"),
            owner_consent: format!("{p}/ownerconsent"),
            owner_consent_feedback: format!("{p}/ownerconsentfeedback"),
        }
    }

    /// What the manager subscribes to in plain-MQTT mode.
    pub fn inbound(&self) -> Vec<String> {
        vec![
            self.desired_state.clone(),
            self.desired_state_command.clone(),
            self.current_state_get.clone(),
            self.owner_consent_feedback.clone(),
        ]
    }
}

/// One domain agent's topics (the Update Agent API), seen from the manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentTopics {
    /// Out: that domain's slice of the desired state.
    pub desired_state: String,
    /// Out: DOWNLOAD, UPDATE, ACTIVATE, ROLLBACK, CLEANUP.
    pub desired_state_command: String,
    /// Out: "report your current state".
    pub current_state_get: String,
    /// In: the agent's feedback.
    pub desired_state_feedback: String,
    /// In (retained by Kanto's agents): the agent's inventory.
    pub current_state: String,
}

impl AgentTopics {
    pub fn new(domain: &str) -> Self {
        let p = prefix(domain);
        Self {
            desired_state: format!("{p}/desiredstate"),
            desired_state_command: format!("{p}/desiredstate/command"),
            current_state_get: format!("{p}/currentstate/get"),
            desired_state_feedback: format!("{p}/desiredstatefeedback"),
            current_state: format!("{p}/currentstate"),
        }
    }

    /// What the manager subscribes to for this agent.
    pub fn inbound(&self) -> Vec<String> {
        vec![
            self.desired_state_feedback.clone(),
            self.current_state.clone(),
        ]
    }
}

/// The topics of Kanto's "things" mode (the local Ditto/Hono connector).
pub mod things {
    /// Out, empty message: "which thing is this device?"
    pub const EDGE_REQUEST: &str = "edge/thing/request";
    /// In: `{deviceId, tenantId, policyId}`.
    pub const EDGE_RESPONSE: &str = "edge/thing/response";
    /// In: Ditto commands and messages for this device (`command///req/<requestId>/<subject>`).
    pub const COMMANDS: &str = "command///req/#";
    /// Out: Ditto events, twin modifications and outbox messages.
    pub const EVENTS: &str = "e";

    /// The request id of a command topic, if it is one.
    pub fn request_id(topic: &str) -> Option<&str> {
        let rest = topic.strip_prefix("command///req/")?;
        let (id, subject) = rest.split_once('/')?;
        (!id.is_empty() && !subject.is_empty() && !subject.contains('/')).then_some(id)
    }

    /// Where the reply to request `request_id` goes.
    pub fn response(request_id: &str, status: u16) -> String {
        format!("command///res/{request_id}/{status}")
    }
}

/// Whether `topic` matches the subscription `filter` (MQTT 3.1.1 §4.7: `+` one level, `#`
/// the rest).
pub fn matches(filter: &str, topic: &str) -> bool {
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_follows_kantos_rule() {
        for (domain, want) in [
            ("device", "deviceupdate"),
            ("containers", "containersupdate"),
            ("self-update", "selfupdate"),
            ("self-update-x", "selfupdatexupdate"),
            ("deviceupdate", "deviceupdate"),
            ("my-custom-domain", "mycustomdomainupdate"),
        ] {
            assert_eq!(prefix(domain), want, "{domain}");
        }
    }

    #[test]
    fn manager_and_agent_topics() {
        let m = ManagerTopics::new("device");
        assert_eq!(m.desired_state, "deviceupdate/desiredstate");
        assert_eq!(m.desired_state_command, "deviceupdate/desiredstate/command");
        assert_eq!(m.current_state_get, "deviceupdate/currentstate/get");
        assert_eq!(m.current_state, "deviceupdate/currentstate");
        assert_eq!(
            m.desired_state_feedback,
            "deviceupdate/desiredstatefeedback"
        );
        assert_eq!(m.owner_consent, "deviceupdate/ownerconsent");
        assert_eq!(
            m.owner_consent_feedback,
            "deviceupdate/ownerconsentfeedback"
        );
        assert_eq!(m.inbound().len(), 4);
        let a = AgentTopics::new("self-update");
        assert_eq!(a.desired_state, "selfupdate/desiredstate");
        assert_eq!(a.desired_state_command, "selfupdate/desiredstate/command");
        assert_eq!(a.current_state_get, "selfupdate/currentstate/get");
        assert_eq!(a.desired_state_feedback, "selfupdate/desiredstatefeedback");
        assert_eq!(a.current_state, "selfupdate/currentstate");
    }

    #[test]
    fn things_request_ids_and_responses() {
        assert_eq!(things::request_id("command///req/r-1/apply"), Some("r-1"));
        assert_eq!(things::request_id("command///req//apply"), None);
        assert_eq!(things::request_id("command///req/r-1"), None);
        assert_eq!(things::request_id("command///req/r/a/b"), None);
        assert_eq!(things::request_id("deviceupdate/desiredstate"), None);
        assert_eq!(things::response("r-1", 204), "command///res/r-1/204");
    }

    #[test]
    fn filters_match_as_mqtt_says() {
        assert!(matches("command///req/#", "command///req/1/apply"));
        assert!(matches("a/b", "a/b"));
        assert!(!matches("a/b", "a/b/c"));
        assert!(!matches("a/b/c", "a/b"));
        assert!(matches("a/+/c", "a/x/c"));
        assert!(!matches("a/+/c", "a/x/d"));
        assert!(matches("#", "anything/at/all"));
    }
}
