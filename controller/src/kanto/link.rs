//! One MQTT connection to the local broker, shared by the Update Manager and the agent
//! drivers: QoS 1, clean session (as Kanto), reconnect with exponential backoff (backon),
//! every subscription renewed on every (re)connection, messages routed to their subscribers.
//!
//! Nothing here blocks the connection's task: a subscriber that falls behind loses messages
//! (with a log line) rather than stalling the others. Messages over
//! [`super::wire::MAX_PAYLOAD_BYTES`] are dropped here with a log line; the client refuses
//! packets over [`MAX_PACKET_BYTES`] (the connection is then re-established).
//!
//! Ordering is what makes "subscribed" observable without waiting for SUBACKs: requests go
//! out on the one connection in the order they are made, and the broker handles them in that
//! order, so a message published after [`Link::subscribe`] returns is answered only after the
//! subscription is in place.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, SubscribeFilter};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::config::KantoSettings;
use super::topics::matches;
use super::wire::MAX_PAYLOAD_BYTES;

/// The largest packet the client accepts before it drops the connection (a broker should
/// be configured with a lower `message_size_limit`).
pub const MAX_PACKET_BYTES: usize = 8 * 1024 * 1024;
/// Queued messages per subscriber before new ones are dropped.
const ROUTE_CAPACITY: usize = 256;
/// Requests (publish, subscribe) queued towards the connection.
const REQUEST_CAPACITY: usize = 256;

/// A message received on a subscribed topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retained: bool,
}

/// Why a publish or subscribe could not be queued: the connection's task has stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the MQTT connection to {broker} is closed: {detail}")]
pub struct LinkError {
    pub broker: String,
    pub detail: String,
}

struct Route {
    filters: Vec<String>,
    tx: mpsc::Sender<Message>,
}

/// A handle on the connection; cheap to clone.
#[derive(Clone)]
pub struct Link {
    client: AsyncClient,
    routes: Arc<Mutex<Vec<Route>>>,
    connections: watch::Receiver<u64>,
    broker: String,
}

impl Link {
    /// Starts connecting to the configured broker (in the background; it retries forever
    /// with backoff until `shutdown`). `who` names this client in its client id and logs.
    pub fn connect(settings: &KantoSettings, who: &str, shutdown: CancellationToken) -> Link {
        let broker = format!("{}:{}", settings.host, settings.port);
        let mut opts = MqttOptions::new(client_id(who), settings.host.clone(), settings.port);
        opts.set_keep_alive(settings.keep_alive)
            .set_clean_session(true)
            .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES)
            .set_request_channel_capacity(REQUEST_CAPACITY);
        if let Some((user, password)) = &settings.credentials {
            opts.set_credentials(user.clone(), password.clone());
        }
        let (client, eventloop) = AsyncClient::new(opts, REQUEST_CAPACITY);
        let routes: Arc<Mutex<Vec<Route>>> = Arc::default();
        let (epoch_tx, connections) = watch::channel(0u64);
        tokio::spawn(drive(
            eventloop,
            client.clone(),
            routes.clone(),
            epoch_tx,
            broker.clone(),
            shutdown,
        ));
        Link {
            client,
            routes,
            connections,
            broker,
        }
    }

    /// Subscribes to `filters` (QoS 1) for as long as the receiver lives, renewed on every
    /// reconnection.
    pub async fn subscribe(
        &self,
        filters: Vec<String>,
    ) -> Result<mpsc::Receiver<Message>, LinkError> {
        let (tx, rx) = mpsc::channel(ROUTE_CAPACITY);
        // Under the lock the connection's task takes to renew subscriptions and count the
        // connection, so a route is either renewed by it or subscribed here, never neither.
        let connected = {
            let mut routes = self.routes.lock().expect("routes lock");
            routes.push(Route {
                filters: filters.clone(),
                tx,
            });
            *self.connections.borrow() > 0
        };
        if connected {
            self.client
                .subscribe_many(
                    filters
                        .into_iter()
                        .map(|f| SubscribeFilter::new(f, QoS::AtLeastOnce)),
                )
                .await
                .map_err(|e| self.error(e))?;
        }
        Ok(rx)
    }

    /// Publishes with QoS 1 (queued; delivered once connected).
    pub async fn publish(
        &self,
        topic: &str,
        retain: bool,
        payload: Vec<u8>,
    ) -> Result<(), LinkError> {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload)
            .await
            .map_err(|e| self.error(e))
    }

    /// Counts connections: 0 before the first, +1 at each (re)connection, after the
    /// subscriptions were renewed.
    pub fn connections(&self) -> watch::Receiver<u64> {
        self.connections.clone()
    }

    pub fn broker(&self) -> &str {
        &self.broker
    }

    fn error(&self, e: rumqttc::ClientError) -> LinkError {
        LinkError {
            broker: self.broker.clone(),
            detail: e.to_string(),
        }
    }
}

/// Wall-clock milliseconds since the epoch: Kanto's envelope timestamps (a stamp, never a
/// wait).
#[allow(clippy::disallowed_methods)] // a wall-clock stamp on the wire
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A random-enough client id (Kanto uses a random UUID): brokers drop an older session with
/// the same id, so two baton processes must never share one.
#[allow(clippy::disallowed_methods)] // the clock's nanoseconds as a little randomness, not time
fn client_id(who: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("baton-{who}-{}-{nanos:08x}", std::process::id())
}

fn backoff() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(30))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
}

/// The connection's task: polls the event loop, routes messages, renews subscriptions at
/// every CONNACK, sleeps with backoff after an error (the next poll reconnects).
async fn drive(
    mut eventloop: rumqttc::EventLoop,
    client: AsyncClient,
    routes: Arc<Mutex<Vec<Route>>>,
    epoch: watch::Sender<u64>,
    broker: String,
    shutdown: CancellationToken,
) {
    let mut delays = backoff();
    let mut failures = 0u32;
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => break,
            e = eventloop.poll() => e,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                if failures > 0 {
                    tracing::info!(broker, "Kanto: MQTT connection re-established");
                } else {
                    tracing::info!(broker, "Kanto: MQTT connected");
                }
                delays = backoff();
                failures = 0;
                let mut r = routes.lock().expect("routes lock");
                r.retain(|route| !route.tx.is_closed());
                let filters: Vec<SubscribeFilter> = r
                    .iter()
                    .flat_map(|route| route.filters.iter())
                    .map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce))
                    .collect();
                if !filters.is_empty() {
                    if let Err(e) = client.try_subscribe_many(filters) {
                        tracing::warn!(broker, error = %e, "Kanto: could not renew the MQTT subscriptions");
                    }
                }
                epoch.send_modify(|n| *n += 1);
                drop(r);
            }
            Ok(Event::Incoming(Packet::Publish(p))) => route(&routes, p, &broker),
            Ok(_) => {}
            Err(e) => {
                failures += 1;
                let wait = delays.next().unwrap_or(Duration::from_secs(30));
                // The first failure is worth a warning; a broker that stays away, a line per
                // attempt at debug level, so the log is not flooded.
                if failures == 1 {
                    tracing::warn!(broker, error = %e, "Kanto: MQTT connection failed; retrying with backoff");
                } else {
                    tracing::debug!(broker, error = %e, failures, "Kanto: MQTT connection still failing");
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
    let _ = client.try_disconnect();
}

fn route(routes: &Mutex<Vec<Route>>, p: rumqttc::Publish, broker: &str) {
    if p.payload.len() > MAX_PAYLOAD_BYTES {
        tracing::warn!(
            broker,
            topic = %p.topic,
            bytes = p.payload.len(),
            max = MAX_PAYLOAD_BYTES,
            "Kanto: message dropped: payload over the limit"
        );
        return;
    }
    let msg = Message {
        topic: p.topic,
        payload: p.payload.to_vec(),
        retained: p.retain,
    };
    let r = routes.lock().expect("routes lock");
    for route in r
        .iter()
        .filter(|r| r.filters.iter().any(|f| matches(f, &msg.topic)))
    {
        if let Err(mpsc::error::TrySendError::Full(_)) = route.tx.try_send(msg.clone()) {
            tracing::warn!(broker, topic = %msg.topic, "Kanto: message dropped: its reader is behind");
        }
    }
}
