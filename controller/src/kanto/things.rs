//! Kanto's "things" mode: the Update Manager as the Ditto feature `UpdateManager` of the
//! device's thing, over the local Hono/Ditto connector's MQTT topics. Pure, no IO.
//!
//! The device learns its thing id by publishing an empty message on `edge/thing/request`
//! and reading `{deviceId, tenantId, policyId}` from `edge/thing/response`. Then (Kanto's
//! `things/update_manager_feature.go` on `eclipse/ditto-clients-golang`):
//!
//! - in, on `command///req/<requestId>/<subject>`: Ditto messages to the feature's inbox,
//!   `apply` (`{activityId, timestamp, desiredState}`), `refresh` (`{activityId, timestamp}`)
//!   and `consent` (`{activityId, timestamp, ownerConsentFeedback}`, with the correlation-id
//!   of the question); answered on `command///res/<requestId>/<status>` with 204, or 400
//!   `messages:parameter.invalid` when the request asked for a response;
//! - out, on `e`: the feature itself (definition and `domain`), its properties
//!   (`{activityId, timestamp, domain, inventory}`: the current state), and outbox messages
//!   `feedback` (`{activityId, timestamp, desiredStateFeedback}`) and `consent`
//!   (`{activityId, timestamp, ownerConsent}`, response required, a fresh correlation-id).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::wire::{
    null_default, parse, DesiredState, DesiredStateFeedback, Inventory, OwnerConsent,
    OwnerConsentFeedback, WireError,
};

pub const FEATURE_ID: &str = "UpdateManager";
pub const FEATURE_DEFINITION: &str = "com.bosch.iot.suite.edge.update:UpdateManager:1.0.0";
const JSON: &str = "application/json";

/// `edge/thing/response`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EdgeConfiguration {
    #[serde(default, deserialize_with = "null_default")]
    pub device_id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub tenant_id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub policy_id: String,
}

/// A thing id, `namespace:name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThingId {
    pub namespace: String,
    pub name: String,
}

impl ThingId {
    /// Ditto's `NewNamespacedIDFrom`: split at the first `:`; both parts non-empty.
    pub fn parse(device_id: &str) -> Option<Self> {
        let (ns, name) = device_id.split_once(':')?;
        (!ns.is_empty() && !name.is_empty() && !device_id.contains('/')).then(|| Self {
            namespace: ns.to_string(),
            name: name.to_string(),
        })
    }

    fn topic(&self, rest: &str) -> String {
        format!("{}/{}/things/{rest}", self.namespace, self.name)
    }
}

/// One Ditto protocol message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DittoEnvelope {
    pub topic: String,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Map::is_empty"
    )]
    pub headers: Map<String, Value>,
    #[serde(default, deserialize_with = "null_default")]
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "is_zero"
    )]
    pub status: u16,
}

fn is_zero(n: &u16) -> bool {
    *n == 0
}

impl DittoEnvelope {
    pub fn correlation_id(&self) -> Option<&str> {
        self.headers.get("correlation-id").and_then(Value::as_str)
    }

    /// Ditto sends `true` or `"true"`.
    pub fn response_required(&self) -> bool {
        match self.headers.get("response-required") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
            _ => false,
        }
    }
}

/// `{activityId, timestamp}` plus one payload field, as the feature's messages carry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Apply {
    #[serde(default, deserialize_with = "null_default")]
    pub activity_id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub timestamp: i64,
    #[serde(default)]
    pub desired_state: Option<DesiredState>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Refresh {
    #[serde(default, deserialize_with = "null_default")]
    pub activity_id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub timestamp: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentAnswer {
    #[serde(default, deserialize_with = "null_default")]
    pub activity_id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub timestamp: i64,
    pub owner_consent_feedback: OwnerConsentFeedback,
}

/// What an inbox message asks, already parsed (or why its value could not be).
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Apply(Result<Apply, String>),
    Refresh(Result<Refresh, String>),
    Consent(Result<ConsentAnswer, String>),
}

impl Request {
    /// The operation's name, for the reply.
    pub fn operation(&self) -> &'static str {
        match self {
            Request::Apply(_) => "apply",
            Request::Refresh(_) => "refresh",
            Request::Consent(_) => "consent",
        }
    }
}

/// An inbox message for this thing's `UpdateManager` feature.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbox {
    pub request_id: String,
    pub envelope: DittoEnvelope,
    pub request: Request,
}

/// Reads a message from `command///req/<requestId>/...`: `Ok(None)` when it is for another
/// thing or another feature or operation (Kanto skips those too).
pub fn read_inbox(
    request_id: &str,
    bytes: &[u8],
    thing: &ThingId,
) -> Result<Option<Inbox>, WireError> {
    let envelope: DittoEnvelope = parse("Ditto", bytes)?;
    if envelope.topic.split('/').take(2).collect::<Vec<_>>()
        != [thing.namespace.as_str(), thing.name.as_str()]
    {
        return Ok(None);
    }
    let Some(op) = envelope
        .path
        .strip_prefix(&format!("/features/{FEATURE_ID}/inbox/messages/"))
    else {
        return Ok(None);
    };
    let value = envelope.value.clone().unwrap_or(Value::Null);
    fn typed<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }
    let request = match op {
        "apply" => Request::Apply(typed::<Apply>(value).and_then(|a| {
            if a.desired_state.is_some() {
                Ok(a)
            } else {
                Err("desired state is missing".to_string())
            }
        })),
        "refresh" => Request::Refresh(typed(value)),
        "consent" => Request::Consent(typed(value)),
        _ => return Ok(None),
    };
    Ok(Some(Inbox {
        request_id: request_id.to_string(),
        envelope,
        request,
    }))
}

fn headers(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// The reply to an inbox message: 204, or 400 with Ditto's `messages:parameter.invalid`.
/// `None` when the request did not ask for a response.
pub fn reply(thing: &ThingId, inbox: &Inbox, error: Option<&str>) -> Option<(u16, DittoEnvelope)> {
    if !inbox.envelope.response_required() {
        return None;
    }
    let op = inbox.request.operation();
    let cid = inbox.envelope.correlation_id().unwrap_or_default();
    let mut h = vec![
        ("correlation-id", json!(cid)),
        ("response-required", json!(false)),
    ];
    let (status, value) = match error {
        None => (204, None),
        Some(message) => {
            h.push(("content-type", json!(JSON)));
            (
                400,
                Some(
                    json!({"error": "messages:parameter.invalid", "status": 400, "message": message}),
                ),
            )
        }
    };
    Some((
        status,
        DittoEnvelope {
            topic: thing.topic(&format!("live/messages/{op}")),
            headers: headers(&h),
            path: format!("/features/{FEATURE_ID}/outbox/messages/{op}"),
            value,
            status,
        },
    ))
}

/// Creates (or replaces) the feature on the twin: its definition and `domain`.
pub fn feature(thing: &ThingId, domain: &str) -> DittoEnvelope {
    DittoEnvelope {
        topic: thing.topic("twin/commands/modify"),
        headers: headers(&[("response-required", json!(false))]),
        path: format!("/features/{FEATURE_ID}"),
        value: Some(json!({"definition": [FEATURE_DEFINITION], "properties": {"domain": domain}})),
        status: 0,
    }
}

/// The current state, as the feature's properties.
pub fn properties(
    thing: &ThingId,
    activity_id: &str,
    timestamp: i64,
    domain: &str,
    inventory: &Inventory,
) -> DittoEnvelope {
    DittoEnvelope {
        topic: thing.topic("twin/commands/modify"),
        headers: headers(&[
            ("response-required", json!(false)),
            ("content-type", json!(JSON)),
        ]),
        path: format!("/features/{FEATURE_ID}/properties"),
        value: Some(
            json!({"activityId": activity_id, "timestamp": timestamp, "domain": domain, "inventory": inventory}),
        ),
        status: 0,
    }
}

/// The outbox message `feedback`.
pub fn feedback(
    thing: &ThingId,
    activity_id: &str,
    timestamp: i64,
    fb: &DesiredStateFeedback,
) -> DittoEnvelope {
    outbox(
        thing,
        "feedback",
        json!({"activityId": activity_id, "timestamp": timestamp, "desiredStateFeedback": fb}),
        &[("response-required", json!(false))],
    )
}

/// The outbox message `consent`; its answer must carry `correlation_id`.
pub fn consent(
    thing: &ThingId,
    activity_id: &str,
    timestamp: i64,
    question: &OwnerConsent,
    correlation_id: &str,
) -> DittoEnvelope {
    outbox(
        thing,
        "consent",
        json!({"activityId": activity_id, "timestamp": timestamp, "ownerConsent": question}),
        &[
            ("response-required", json!(true)),
            ("correlation-id", json!(correlation_id)),
        ],
    )
}

fn outbox(thing: &ThingId, subject: &str, value: Value, extra: &[(&str, Value)]) -> DittoEnvelope {
    let mut h = headers(extra);
    h.insert("content-type".into(), json!(JSON));
    DittoEnvelope {
        topic: thing.topic(&format!("live/messages/{subject}")),
        headers: h,
        path: format!("/features/{FEATURE_ID}/outbox/messages/{subject}"),
        value: Some(value),
        status: 0,
    }
}

#[cfg(test)]
#[path = "things_tests.rs"]
mod tests;
