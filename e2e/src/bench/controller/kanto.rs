//! A Kanto desired state to the first Interface call: `baton run` configured as Kanto's
//! Update Manager (plain MQTT) on Debian's mosquitto, the desired state published by the
//! simulated backend, timed from just before the publish to the first call the served
//! System's wrapper notes (as the Manifest landing row is timed from the rename).

use std::time::{Duration, Instant};

use serde_json::json;

use super::{direct_starts, fig, now_ns, starts};
use crate::bench::report::{Row, Unit};
use crate::fixture::System;
use crate::kanto::backend::{BackendSim, Mode};
use crate::kanto::broker::Mosquitto;

const NAME: &str = "Kanto desired state (MQTT) -> first Interface call";
const WAIT: Duration = Duration::from_secs(60);

pub fn mqtt_row(drops: usize, env: &[(String, String)]) -> Row {
    eprintln!("bench: Kanto desired state -> first Interface call");
    let Some(broker) = Mosquitto::start() else {
        return Row::new(NAME, Err("mosquitto is missing".into()));
    };
    let kanto = json!({"Kanto": {"Broker": broker.url(), "ThingsEnabled": false}});
    let Some(sys) = System::served(kanto) else {
        return Row::new(NAME, Err("mender-artifact is missing".into()));
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return Row::new(NAME, Err(e.to_string())),
    };
    let backend = rt.block_on(BackendSim::start(broker.port, "device", Mode::Plain));
    let d = sys.start_with(&[], env);
    rt.block_on(
        backend.wait_current_state("the initial current state", |a| {
            a.starts_with("initial-current-state-")
        }),
    );
    let mut took = Vec::new();
    for i in 0..drops {
        let v = if i % 2 == 0 { "v2" } else { "v3" };
        let desired = json!({"domains": [
            {"id": "rtos", "components": [{"id": "rtos", "version": format!("rtos-{v}")}]},
            {"id": "gateway", "components": [{"id": "gateway", "version": format!("gateway-{v}")}]},
        ]});
        let activity = format!("bench-{i}");
        let before = starts(&sys).len();
        let t0 = now_ns();
        rt.block_on(backend.desired_state(&activity, desired));
        let deadline = Instant::now() + Duration::from_secs(30);
        let first = loop {
            if let Some(t) = starts(&sys).get(before) {
                break *t;
            }
            if Instant::now() > deadline {
                return Row::new(NAME, Err("no Interface call after 30 s".into()));
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        took.push(first.saturating_sub(t0) as f64 / 1e6);
        let fb = rt.block_on(backend.wait_final(&activity, WAIT));
        if fb
            .last()
            .map(|f| f["status"] != "COMPLETED")
            .unwrap_or(true)
        {
            return Row::new(NAME, Err(format!("{activity} did not complete: {fb:?}")));
        }
    }
    let direct = direct_starts(&sys, drops.max(5));
    // Stopped as the unit stops it (SIGTERM), so it exits as it would on a device.
    let _ = d.terminate(Duration::from_secs(10));
    Row::new(NAME, fig("", &took, Unit::Millis)).against(fig(
        "start the Interface directly",
        &direct,
        Unit::Millis,
    ))
}
