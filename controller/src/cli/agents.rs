//! The external Interfaces of the configured System: the Kanto update agents that drive its
//! `interface: kanto:<domain>` components, built on one MQTT connection for `baton run` and
//! the in-process verbs, and handed to the engine (`Engine::with_externals`).
//!
//! Without the `Kanto` key such a Topology is refused at start, naming the component and the
//! key; with it, every agent shares one `Link`. (The daemon's Kanto Update Manager makes its
//! own connection today; `agents_on` takes a `Link`, so the daemon can hand the same one
//! to both.)

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::CliError;
use crate::config::Effective;
use crate::interface::external::Externals;
use crate::kanto::agent::{AgentComponent, KantoAgent};
use crate::kanto::agent_driver::AgentDriver;
use crate::kanto::link::Link;
use crate::kanto::mapping::agent_domain;
use crate::kanto::slices::SliceStore;
use crate::kanto::KantoSettings;
use crate::model::{InterfaceName, Topology};
use crate::resource;

/// The longest a current-state read of an agent waits (Kanto's `readTimeout` default),
/// or `PhaseTimeoutSeconds` when that is lower.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Each `kanto:<domain>` interface of `topology`, with its domain and the first component
/// that names it (for messages).
pub fn agent_interfaces(topology: &Topology) -> BTreeMap<InterfaceName, (String, String)> {
    let mut out = BTreeMap::new();
    for (i, c) in topology.components.iter().enumerate() {
        if let Some(domain) = agent_domain(c.interface.as_str()) {
            out.entry(c.interface.clone()).or_insert_with(|| {
                (
                    domain.to_string(),
                    format!("component #{} of type '{}'", i + 1, c.component_type),
                )
            });
        }
    }
    out
}

/// The Kanto settings an agent Topology needs, or why it cannot be driven.
pub fn settings_for(
    eff: &Effective,
    agents: &BTreeMap<InterfaceName, (String, String)>,
) -> Result<Option<KantoSettings>, CliError> {
    let Some((interface, (_, who))) = agents.iter().next() else {
        return Ok(None);
    };
    let Some(kanto) = &eff.config.kanto else {
        return Err(CliError::Kanto(format!(
            "{who} in {} has interface '{interface}', a Kanto update agent, and the configuration has no `Kanto` key: add \"Kanto\": {{\"Broker\": \"tcp://127.0.0.1:1883\"}} (the broker the agent uses)",
            eff.dirs.topology_file.display()
        )));
    };
    kanto
        .settings()
        .map(Some)
        .map_err(|e| CliError::Kanto(format!("{who} has interface '{interface}': {e}")))
}

/// The agent drivers of `agents` on `link`.
pub async fn agents_on(
    link: &Link,
    settings: &KantoSettings,
    agents: &BTreeMap<InterfaceName, (String, String)>,
    slices: &SliceStore,
) -> Result<Externals, CliError> {
    let mut externals = Externals::new();
    for (interface, (domain, _)) in agents {
        let read = READ_TIMEOUT.min(settings.phase_timeout);
        let agent = KantoAgent::new(link.clone(), domain, settings.phase_timeout, read)
            .await
            .map_err(|e| CliError::Kanto(format!("Kanto update agent '{domain}': {e}")))?;
        let driver = AgentDriver::new(AgentComponent::new(agent), slices.clone());
        externals = externals.with(interface.clone(), driver as Arc<_>);
    }
    Ok(externals)
}

/// The external Interfaces of the configured System: none when the Topology has no
/// `kanto:` component (or cannot be read: the engine reports that itself); else its agents
/// on one new connection, which lives until `shutdown`.
pub async fn externals(
    eff: &Effective,
    shutdown: CancellationToken,
) -> Result<Externals, CliError> {
    let Ok(topology) = resource::load_topology(
        &eff.dirs.topology_file,
        eff.config.topology_components.as_deref(),
    ) else {
        return Ok(Externals::new());
    };
    let agents = agent_interfaces(&topology);
    let Some(settings) = settings_for(eff, &agents)? else {
        return Ok(Externals::new());
    };
    let link = Link::connect(&settings, "baton-agents", shutdown);
    let slices = SliceStore::new(&eff.dirs.datastore_dir);
    agents_on(&link, &settings, &agents, &slices).await
}
