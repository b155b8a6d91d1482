//! A small MQTT client for the simulators (rumqttc, independent of baton's own connection
//! code): QoS 1, every received message kept in arrival order.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;

/// `id` with this process's id and a counter.
pub fn unique_id(id: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{id}-{}-{n}", std::process::id())
}

/// A received message.
#[derive(Debug, Clone)]
pub struct Received {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retained: bool,
}

impl Received {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.payload).ok()
    }
}

/// A connected client; its event loop runs on the caller's tokio runtime.
#[derive(Clone)]
pub struct TestClient {
    client: AsyncClient,
    received: Arc<Mutex<Vec<Received>>>,
    notify: Arc<tokio::sync::Notify>,
}

impl TestClient {
    /// Connects to `127.0.0.1:port` as `id` (made unique: a broker drops the older of two
    /// clients with one id) and waits for the CONNACK.
    pub async fn connect(port: u16, id: &str) -> TestClient {
        let mut opts = MqttOptions::new(unique_id(id), "127.0.0.1", port);
        opts.set_keep_alive(Duration::from_secs(20))
            .set_max_packet_size(16 << 20, 16 << 20);
        let (client, mut eventloop) = AsyncClient::new(opts, 256);
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let notify = Arc::new(tokio::sync::Notify::new());
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (r, n) = (received.clone(), notify.clone());
        tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        if let Some(t) = ready.take() {
                            let _ = t.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => n.notify_waiters(),
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        r.lock().unwrap().push(Received {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                            retained: p.retain,
                        });
                        n.notify_waiters();
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), ready_rx)
            .await
            .expect("the test client connects within 10 s")
            .unwrap();
        TestClient {
            client,
            received,
            notify,
        }
    }

    /// Subscribes and waits for the SUBACK (so what is published next is seen).
    pub async fn subscribe(&self, filter: &str) {
        let acked = self.notify.notified();
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .unwrap();
        let _ = tokio::time::timeout(Duration::from_secs(5), acked).await;
    }

    pub async fn publish(&self, topic: &str, retain: bool, payload: impl Into<Vec<u8>>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload.into())
            .await
            .unwrap();
    }

    pub async fn publish_json(&self, topic: &str, v: &Value) {
        self.publish(topic, false, serde_json::to_vec(v).unwrap())
            .await;
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `done` holds for what was received (checked at every arrival), or panics
    /// after `timeout` with `what` and everything received. `done` sees the messages under
    /// a lock: it must not call back into this client.
    pub async fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&[Received]) -> Option<T>,
    ) -> T {
        let until = Instant::now() + timeout;
        loop {
            let arrived = self.notify.notified();
            if let Some(v) = done(&self.received.lock().unwrap()) {
                return v;
            }
            if Instant::now() >= until {
                let seen: Vec<String> = self
                    .received()
                    .iter()
                    .map(|r| format!("{} {}", r.topic, String::from_utf8_lossy(&r.payload)))
                    .collect();
                panic!(
                    "timed out after {timeout:?} waiting for {what}; received:\n{}",
                    seen.join("\n")
                );
            }
            // Woken by an arrival, or every 200 ms to look at the clock.
            let _ = tokio::time::timeout(Duration::from_millis(200), arrived).await;
        }
    }
}
