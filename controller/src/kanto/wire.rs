//! Kanto's JSON messages, field for field as its Update Manager and agents put them on the wire
//! (`api/types/*.go` of eclipse-kanto/update-manager; where its docs disagree, the code wins).
//!
//! Reading follows Go's `encoding/json` as Kanto uses it: unknown fields are ignored, a missing
//! or `null` field is its empty value, a value of the wrong JSON type is an error. Writing
//! follows its `omitempty` tags: empty strings, empty lists, zero progress are left out, while
//! the envelope's three keys are always written. Statuses and commands are closed enums: a word
//! Kanto does not define is refused here, so later code never meets one.
//!
//! Every payload is parsed through [`parse`], which refuses anything over
//! [`MAX_PAYLOAD_BYTES`] before reading a byte of it. No IO here.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

/// The largest message baton parses. Kanto's own messages are a few KiB; a desired state for
/// hundreds of containers stays well under this. Bigger ones are dropped with a log line.
pub const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;

/// Why a message was not understood. Says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("payload of {size} bytes is over the {max}-byte limit")]
    TooLarge { size: usize, max: usize },
    #[error("not a Kanto {what} message: {detail}")]
    Malformed { what: &'static str, detail: String },
}

/// Parses one message of kind `what` (used in the error), refusing oversized input first.
pub fn parse<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, WireError> {
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return Err(WireError::TooLarge {
            size: bytes.len(),
            max: MAX_PAYLOAD_BYTES,
        });
    }
    serde_json::from_slice(bytes).map_err(|e| WireError::Malformed {
        what,
        detail: e.to_string(),
    })
}

/// Go decodes `null` into a field as "leave it empty"; serde would refuse it.
pub(crate) fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

/// `{activityId, timestamp, payload}`: every message on every Kanto topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "P: Deserialize<'de> + Default"))]
pub struct Envelope<P> {
    #[serde(rename = "activityId", default, deserialize_with = "null_default")]
    pub activity_id: String,
    /// Milliseconds since the epoch.
    #[serde(default, deserialize_with = "null_default")]
    pub timestamp: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub payload: P,
}

impl<P> Envelope<P> {
    pub fn new(activity_id: impl Into<String>, timestamp: i64, payload: P) -> Self {
        Self {
            activity_id: activity_id.into(),
            timestamp,
            payload,
        }
    }
}

/// The payload of `currentstate/get`: Kanto sends `null`; anything is accepted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trigger(pub Option<serde_json::Value>);

/// `{key, value}`: Kanto's configuration entries (an array, not an object, whatever its docs say).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub key: String,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub value: String,
}

impl KeyValue {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// The desired state of the whole device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredState {
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub baselines: Vec<Baseline>,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub domains: Vec<Domain>,
}

impl DesiredState {
    /// What Kanto's Update Manager sends one domain's agent (`SplitPerDomains`): that domain's
    /// entry, and the baselines cut to its `<domain>:` components (empty ones dropped).
    pub fn slice_for(&self, domain: &Domain) -> DesiredState {
        let prefix = format!("{}:", domain.id);
        let baselines = self
            .baselines
            .iter()
            .filter_map(|b| {
                let components: Vec<String> = b
                    .components
                    .iter()
                    .filter(|c| c.starts_with(&prefix))
                    .cloned()
                    .collect();
                (!components.is_empty()).then(|| Baseline {
                    components,
                    ..b.clone()
                })
            })
            .collect();
        DesiredState {
            baselines,
            domains: vec![domain.clone()],
        }
    }
}

/// A set of components updated together (`"<domain>:<componentId>"`). Kanto forwards
/// `preconditions` and never evaluates it; neither does baton.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub title: String,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub description: String,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub preconditions: String,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub components: Vec<String>,
}

/// One domain of the desired state: in baton, a component type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Domain {
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub id: String,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub config: Vec<KeyValue>,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub components: Vec<ComponentWithConfig>,
}

impl Domain {
    /// The value of the last `config` entry named `key` (Go's loops let the last one win).
    pub fn config_value(&self, key: &str) -> Option<&str> {
        self.config
            .iter()
            .rev()
            .find(|kv| kv.key == key)
            .map(|kv| kv.value.as_str())
    }
}

/// `{id, version}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Component {
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub id: String,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub version: String,
}

impl Component {
    pub fn new(id: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            version: version.into(),
        }
    }
}

/// `{id, version, config}`: a component of a domain in the desired state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentWithConfig {
    #[serde(flatten)]
    pub component: Component,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub config: Vec<KeyValue>,
}

/// A phase command for one domain's agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Command {
    Download,
    Update,
    Activate,
    Rollback,
    Cleanup,
}

impl Command {
    pub const fn as_str(self) -> &'static str {
        match self {
            Command::Download => "DOWNLOAD",
            Command::Update => "UPDATE",
            Command::Activate => "ACTIVATE",
            Command::Rollback => "ROLLBACK",
            Command::Cleanup => "CLEANUP",
        }
    }
}

/// `{command, baseline}`. Kanto's Update Manager never sets `baseline` (a command covers the
/// whole domain), and neither does baton.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredStateCommand {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub baseline: String,
}

/// The overall status of an activity, and the phase statuses an agent reports per baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Identifying,
    Identified,
    IdentificationFailed,
    Running,
    Completed,
    Incomplete,
    IncompleteInconsistent,
    Superseded,
    Downloading,
    DownloadSuccess,
    DownloadFailure,
    Rollback,
    RollbackSuccess,
    RollbackFailure,
    Updating,
    UpdateSuccess,
    UpdateFailure,
    Activating,
    ActivationSuccess,
    ActivationFailure,
    Cleanup,
    CleanupSuccess,
    CleanupFailure,
}

impl Status {
    /// The statuses that end an activity for the backend.
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            Status::Completed
                | Status::Incomplete
                | Status::IncompleteInconsistent
                | Status::IdentificationFailed
        )
    }
}

/// The status of one component's action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActionStatus {
    Identified,
    Downloading,
    DownloadSuccess,
    DownloadFailure,
    Updating,
    UpdateSuccess,
    UpdateFailure,
    Activating,
    ActivationSuccess,
    ActivationFailure,
    Removing,
    RemovalSuccess,
    RemovalFailure,
}

impl ActionStatus {
    /// Kanto's Update Manager shows the backend no activation statuses
    /// (`util.FixActivationActionStatus`): ACTIVATING is UPDATING, and so on.
    pub const fn for_backend(self) -> ActionStatus {
        match self {
            ActionStatus::Activating => ActionStatus::Updating,
            ActionStatus::ActivationSuccess => ActionStatus::UpdateSuccess,
            ActionStatus::ActivationFailure => ActionStatus::UpdateFailure,
            other => other,
        }
    }

    pub const fn is_failure(self) -> bool {
        matches!(
            self,
            ActionStatus::DownloadFailure
                | ActionStatus::UpdateFailure
                | ActionStatus::ActivationFailure
                | ActionStatus::RemovalFailure
        )
    }
}

/// What happens to one component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    #[serde(default)]
    pub component: Component,
    pub status: ActionStatus,
    /// Percent, 0..=100.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "is_zero"
    )]
    pub progress: u8,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub message: String,
}

/// `desiredstatefeedback`: from an agent to the manager, and from the manager to the backend.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredStateFeedback {
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub baseline: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub message: String,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub actions: Vec<Action>,
}

impl DesiredStateFeedback {
    pub fn new(status: Status, message: impl Into<String>, actions: Vec<Action>) -> Self {
        Self {
            baseline: String::new(),
            status: Some(status),
            message: message.into(),
            actions,
        }
    }
}

/// The current state: a graph of hardware and software nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub hardware_nodes: Vec<HardwareNode>,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub software_nodes: Vec<SoftwareNode>,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub associations: Vec<Association>,
}

/// What hardware and software nodes share.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryNode {
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub id: String,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub version: String,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub parameters: Vec<KeyValue>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardwareNode {
    #[serde(flatten)]
    pub node: InventoryNode,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub addressable: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoftwareNode {
    #[serde(flatten)]
    pub node: InventoryNode,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<SoftwareType>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SoftwareType {
    Image,
    Raw,
    Data,
    Application,
    Container,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Association {
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub source_id: String,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub target_id: String,
}

/// The phases owner consent can be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConsentCommand {
    Download,
    Update,
    Activate,
}

impl ConsentCommand {
    pub const ALL: [ConsentCommand; 3] = [
        ConsentCommand::Download,
        ConsentCommand::Update,
        ConsentCommand::Activate,
    ];
    pub const fn as_str(self) -> &'static str {
        match self {
            ConsentCommand::Download => "DOWNLOAD",
            ConsentCommand::Update => "UPDATE",
            ConsentCommand::Activate => "ACTIVATE",
        }
    }
}

/// `ownerconsent`: the question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerConsent {
    pub command: ConsentCommand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConsentStatus {
    Approved,
    Denied,
}

/// `ownerconsentfeedback`: the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerConsentFeedback {
    pub status: ConsentStatus,
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
