//! `GET /v1/events`: the status event stream ([`crate::daemon::status::events`]) as
//! Server-Sent Events, for the status page, `baton events` and `baton status --watch`.
//!
//! A follower starts from the id it names (`Last-Event-ID`, or `?since=` for a first
//! connection that cannot set headers) and gets exactly what it missed from the bounded
//! backlog, then what comes next; when the backlog no longer reaches back that far (or the
//! id is not from this process) it is told so with a `resync` event, then given what is
//! still kept. Without an id it starts from now, told the newest id (`hello`). `?follow=false`
//! ends the stream after the replay (a listing).
//!
//! Each follower costs a bounded amount: at most [`MAX_STREAMS`] at once (503 beyond,
//! besides the API's connection limit, which a stream also counts against), a channel of
//! [`BUFFER`] frames between its task and hyper, no in-flight request slot. A follower
//! that cannot take a frame within [`SEND_TIMEOUT`] is dropped (its connection closed); one
//! that falls more than the backlog behind is ended and resumes by reconnecting. A
//! `heartbeat` goes out after [`HEARTBEAT`] without events, so proxies keep the stream
//! open and the page knows the daemon is alive.

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Bytes;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Request, Response};
use tokio::sync::{broadcast, mpsc, OwnedSemaphorePermit};
use tokio_util::sync::CancellationToken;

use super::body::Body;
use super::guard::Refusal;
use super::ApiState;
use crate::daemon::status::Event;
use crate::wire::sse;

/// Event streams served at once.
pub const MAX_STREAMS: usize = 64;
/// Frames queued for one follower.
pub const BUFFER: usize = 64;
/// A follower that cannot take a frame for this long is dropped.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Sent when nothing else was for this long.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// What a browser waits before reconnecting.
const RETRY_MS: u64 = 2000;

/// A connection's controls, put in each request by the connection task: `abort` closes the
/// connection (a follower that stopped reading), `shutdown` is the daemon's.
#[derive(Clone, Default)]
pub struct Lifeline {
    pub abort: CancellationToken,
    pub shutdown: CancellationToken,
}

/// Where a follower starts and whether it stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start {
    /// The last id it saw: `None` from now on; `Some(u64::MAX)` for an id that is not a
    /// number (not one of ours: a resync).
    pub after: Option<u64>,
    pub follow: bool,
}

/// Reads the start from the `Last-Event-ID` header (it wins: a browser's reconnect sends it
/// with the query of its first connection) and the query (pure).
pub fn start_of(last_event_id: Option<&str>, query: Option<&str>) -> Result<Start, Refusal> {
    let bad = |what: String| Refusal {
        status: 400,
        code: "BadRequest",
        message: what,
    };
    let mut start = Start {
        after: None,
        follow: true,
    };
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "since" => {
                start.after = Some(v.parse().map_err(|_| {
                    bad(format!("since: `{v}` is not an event id (a whole number)"))
                })?)
            }
            "follow" => {
                start.follow = match v {
                    "true" | "1" | "" => true,
                    "false" | "0" => false,
                    _ => return Err(bad(format!("follow: `{v}` is not true or false"))),
                }
            }
            _ => {
                return Err(bad(format!(
                    "unknown query parameter `{k}` (since, follow)"
                )))
            }
        }
    }
    if let Some(h) = last_event_id.map(str::trim).filter(|h| !h.is_empty()) {
        start.after = Some(h.parse().unwrap_or(u64::MAX));
    }
    Ok(start)
}

fn event_frame(e: &Event) -> Bytes {
    sse::frame(
        Some(e.id),
        None,
        &serde_json::to_string(e).expect("events serialize"),
    )
}

/// The frames a follower gets first.
fn opening(start: Start, missed: bool, replay: &[Event], newest: u64) -> Vec<Bytes> {
    let mut v = vec![sse::comment("baton events", Some(RETRY_MS))];
    if start.after.is_none() {
        let data = serde_json::json!({ "lastId": newest }).to_string();
        v.push(sse::frame(Some(newest), Some(sse::HELLO), &data));
    }
    if missed {
        let data = serde_json::json!({
            "newest": newest,
            "message": "events after your id are no longer kept: read the status again",
        });
        v.push(sse::frame(None, Some(sse::RESYNC), &data.to_string()));
    }
    v.extend(replay.iter().map(event_frame));
    v
}

/// Answers `GET /v1/events` (the guard has let it through).
pub fn answer<B>(state: &Arc<ApiState>, req: &Request<B>) -> Result<Response<Body>, Refusal> {
    let h = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok());
    let start = start_of(h(sse::LAST_EVENT_ID), req.uri().query())?;
    let slot = state
        .streams
        .clone()
        .try_acquire_owned()
        .map_err(|_| Refusal {
            status: 503,
            code: "Busy",
            message: format!("{MAX_STREAMS} event streams are open; try again later"),
        })?;
    let lifeline = req
        .extensions()
        .get::<Lifeline>()
        .cloned()
        .unwrap_or_default();
    let r = state.handle.board.events().resume_kept(start.after);
    let first = opening(start, r.missed, &r.events, r.newest);
    let (tx, rx) = mpsc::channel(BUFFER);
    tokio::spawn(pump(first, r.rx, start.follow, tx, lifeline, slot));
    let mut resp = Response::new(Body::Stream(rx));
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Reverse proxies (nginx) would otherwise hold the events back.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(resp)
}

/// Why a follower's stream ends.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// It went away (the body was dropped).
    Gone,
    /// It did not take a frame in time.
    Stuck,
}

async fn send(tx: &mpsc::Sender<Bytes>, frame: Bytes) -> Result<(), End> {
    match tokio::time::timeout(SEND_TIMEOUT, tx.send(frame)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(End::Gone),
        Err(_) => Err(End::Stuck),
    }
}

/// Feeds one follower until it goes, lags, stalls or the daemon stops.
async fn pump(
    first: Vec<Bytes>,
    mut rx: broadcast::Receiver<Event>,
    follow: bool,
    tx: mpsc::Sender<Bytes>,
    lifeline: Lifeline,
    _slot: OwnedSemaphorePermit,
) {
    let r = async {
        for f in first {
            send(&tx, f).await?;
        }
        if !follow {
            return Ok(());
        }
        let beat = tokio::time::sleep(HEARTBEAT);
        tokio::pin!(beat);
        loop {
            tokio::select! {
                _ = lifeline.shutdown.cancelled() => return Ok(()),
                _ = tx.closed() => return Err(End::Gone),
                _ = &mut beat => send(&tx, sse::frame(None, Some(sse::HEARTBEAT), "{}")).await?,
                e = rx.recv() => match e {
                    Ok(e) => send(&tx, event_frame(&e)).await?,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        // Ended; it reconnects with its last id and resumes from the backlog.
                        tracing::debug!(missed = n, "API: an event follower fell behind; ending its stream");
                        return Ok(());
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
            }
            beat.as_mut()
                .reset(tokio::time::Instant::now() + HEARTBEAT);
        }
    }
    .await;
    if r == Err(End::Stuck) {
        tracing::info!("API: dropped an event follower that stopped reading");
        lifeline.abort.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::status::events::BACKLOG;
    use crate::daemon::status::{Change, Events};

    fn slot() -> (Arc<tokio::sync::Semaphore>, OwnedSemaphorePermit) {
        let slots = Arc::new(tokio::sync::Semaphore::new(1));
        let p = slots.clone().try_acquire_owned().unwrap();
        (slots, p)
    }

    fn ended() -> Change {
        Change::Deployment { deployment: None }
    }

    #[tokio::test(start_paused = true)]
    async fn a_follower_that_stops_reading_is_dropped_and_its_slot_freed() {
        let ev = Events::new();
        let r = ev.resume_kept(None);
        let (tx, _unread) = mpsc::channel(BUFFER);
        let life = Lifeline::default();
        let (slots, permit) = slot();
        let task = tokio::spawn(pump(vec![], r.rx, true, tx, life.clone(), permit));
        for _ in 0..=BUFFER {
            ev.publish(ended());
        }
        tokio::time::sleep(SEND_TIMEOUT + Duration::from_secs(1)).await;
        task.await.unwrap();
        assert!(life.abort.is_cancelled(), "its connection is closed");
        assert_eq!(slots.available_permits(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_follower_that_fell_behind_is_ended_to_resume_by_reconnecting() {
        let ev = Events::new();
        let r = ev.resume_kept(None);
        for _ in 0..BACKLOG + 10 {
            ev.publish(ended());
        }
        let (tx, mut body) = mpsc::channel(BUFFER);
        let life = Lifeline::default();
        tokio::spawn(pump(vec![], r.rx, true, tx, life.clone(), slot().1));
        assert!(body.recv().await.is_none(), "the stream ends");
        assert!(!life.abort.is_cancelled(), "without closing the connection");
    }

    #[tokio::test(start_paused = true)]
    async fn heartbeats_when_quiet_and_an_end_at_shutdown() {
        let ev = Events::new();
        let r = ev.resume_kept(None);
        let (tx, mut body) = mpsc::channel(BUFFER);
        let life = Lifeline::default();
        tokio::spawn(pump(vec![], r.rx, true, tx, life.clone(), slot().1));
        let t0 = tokio::time::Instant::now();
        let beat = body.recv().await.unwrap();
        assert_eq!(t0.elapsed(), HEARTBEAT);
        assert_eq!(parsed(&[beat])[0].event, "heartbeat");
        ev.publish(ended());
        assert_eq!(
            parsed(&[body.recv().await.unwrap()])[0].id.as_deref(),
            Some("1")
        );
        life.shutdown.cancel();
        assert!(body.recv().await.is_none());
    }

    #[test]
    fn where_a_follower_starts() {
        let s = |after, follow| Ok(Start { after, follow });
        assert_eq!(start_of(None, None), s(None, true));
        assert_eq!(start_of(None, Some("since=5")), s(Some(5), true));
        assert_eq!(start_of(Some("7"), Some("since=5")), s(Some(7), true));
        assert_eq!(start_of(Some(" "), Some("since=5")), s(Some(5), true));
        assert_eq!(start_of(Some("x"), None), s(Some(u64::MAX), true));
        assert_eq!(
            start_of(None, Some("since=0&follow=false")),
            s(Some(0), false)
        );
        assert_eq!(start_of(None, Some("follow=1")), s(None, true));
        for bad in ["since=-1", "since=x", "follow=maybe", "limit=3"] {
            assert_eq!(start_of(None, Some(bad)).unwrap_err().status, 400, "{bad}");
        }
    }

    fn parsed(frames: &[Bytes]) -> Vec<sse::Message> {
        let mut p = sse::Parser::default();
        frames.iter().flat_map(|f| p.feed(f)).collect()
    }

    #[test]
    fn the_opening_says_hello_or_resync_then_replays() {
        let ev = Events::new();
        for _ in 0..3 {
            ev.publish(Change::Deployment { deployment: None });
        }
        let from_now = Start {
            after: None,
            follow: true,
        };
        let r = ev.resume_kept(None);
        let m = parsed(&opening(from_now, r.missed, &r.events, r.newest));
        assert_eq!(m.len(), 1);
        assert_eq!(
            (m[0].event.as_str(), m[0].id.as_deref()),
            ("hello", Some("3"))
        );

        let r = ev.resume_kept(Some(1));
        let after_one = Start {
            after: Some(1),
            follow: true,
        };
        let m = parsed(&opening(after_one, r.missed, &r.events, r.newest));
        let ids: Vec<_> = m.iter().map(|m| m.id.clone().unwrap()).collect();
        assert_eq!(ids, ["2", "3"]);
        let v: serde_json::Value = serde_json::from_str(&m[0].data).unwrap();
        assert_eq!(
            (v["id"].as_u64(), v["change"]["kind"].as_str()),
            (Some(2), Some("deployment"))
        );

        let unknown = Start {
            after: Some(99),
            follow: true,
        };
        let r = ev.resume_kept(Some(99));
        let m = parsed(&opening(unknown, r.missed, &r.events, r.newest));
        assert_eq!(m[0].event, "resync");
        assert_eq!(m.len(), 4, "the resync, then all that is kept");
    }
}
