//! `GET /v1/status` under load, three ways (see [`StatusLoad`]): one client alone, many
//! clients in an open and a closed loop on persistent connections, and a burst of new
//! connections at once.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::{fig, Options, STATUS_P99_MS};
use crate::bench::measure::{load_average, repeat};
use crate::bench::report::{Row, Target, Unit};
use crate::bench::stats::{quantile, Summary};

const GET_STATUS: &[u8] = b"GET /v1/status HTTP/1.1\r\nHost: localhost\r\n\r\n";
const GET_STATUS_CLOSE: &[u8] =
    b"GET /v1/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

/// The length of the complete HTTP response at the start of `buf`: `None` while its head or
/// body is incomplete; an error for anything but `200` with a `Content-Length`.
fn response_len(buf: &[u8]) -> Option<Result<usize, String>> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]);
    if !head.starts_with("HTTP/1.1 200") {
        return Some(Err(head.lines().next().unwrap_or("").to_string()));
    }
    let length = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    });
    match length {
        None => Some(Err("a response without Content-Length".into())),
        Some(n) if buf.len() >= end + 4 + n => Some(Ok(end + 4 + n)),
        Some(_) => None,
    }
}

/// One `GET /v1/status` on a persistent connection; `buf` keeps what was read ahead.
async fn get(c: &mut UnixStream, buf: &mut Vec<u8>) -> Result<(), String> {
    c.write_all(GET_STATUS).await.map_err(|e| e.to_string())?;
    let mut chunk = [0u8; 16 << 10];
    loop {
        if let Some(r) = response_len(buf) {
            let n = r?;
            buf.drain(..n);
            return Ok(());
        }
        let n = c.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the daemon closed the connection".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// How a status load run sends its requests.
#[derive(Debug, Clone, Copy)]
pub enum StatusLoad {
    /// Every client sends its next request as soon as the last is answered: the daemon's
    /// capacity. With C clients the latency is C / throughput (Little's law): it measures
    /// the queue the clients build, not the service.
    ClosedLoop,
    /// Every client sends on a fixed schedule, `rate` requests/s in all; a request's latency
    /// counts from its scheduled time, so a late answer delays no measurement (no
    /// coordinated omission). What a user sees under a sustained load.
    OpenLoop { rate: f64 },
}

/// One run: `clients` persistent connections for `seconds` (after 0.5 s unrecorded);
/// returns every recorded latency (ms) and the throughput (requests/s).
fn load_run(
    socket: &Path,
    clients: usize,
    seconds: f64,
    load: StatusLoad,
) -> Result<(Vec<f64>, f64), String> {
    runtime().block_on(async {
        let mut conns = Vec::with_capacity(clients);
        for _ in 0..clients {
            conns.push(
                UnixStream::connect(socket)
                    .await
                    .map_err(|e| e.to_string())?,
            );
        }
        let start = tokio::time::Instant::now() + Duration::from_millis(50);
        let record_from = start + Duration::from_millis(500);
        let end = record_from + Duration::from_secs_f64(seconds);
        let tasks: Vec<_> = conns
            .into_iter()
            .enumerate()
            .map(|(i, mut c)| {
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut lat = Vec::new();
                    let period = match load {
                        StatusLoad::ClosedLoop => Duration::ZERO,
                        StatusLoad::OpenLoop { rate } => {
                            Duration::from_secs_f64(clients as f64 / rate)
                        }
                    };
                    // Clients start spread over one period, not all at once.
                    let mut next = start + period.mul_f64(i as f64 / clients as f64);
                    let mut answered = start;
                    loop {
                        let scheduled = match load {
                            StatusLoad::ClosedLoop => tokio::time::Instant::now(),
                            StatusLoad::OpenLoop { .. } => {
                                tokio::time::sleep_until(next).await;
                                next
                            }
                        };
                        if scheduled >= end {
                            return Ok::<_, String>(lat);
                        }
                        let sent = tokio::time::Instant::now();
                        get(&mut c, &mut buf).await?;
                        // Held back by the daemon (the last answer came after this request
                        // was due): from when it was due. On time: from when it was sent, as
                        // tokio's timer wakes up to a millisecond late.
                        let from = if answered > scheduled {
                            scheduled
                        } else {
                            sent
                        };
                        answered = tokio::time::Instant::now();
                        if scheduled >= record_from {
                            lat.push((answered - from).as_secs_f64() * 1e3);
                        }
                        next += period;
                    }
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.map_err(|e| e.to_string())??);
        }
        let throughput = all.len() as f64 / seconds;
        Ok((all, throughput))
    })
}

/// `n` requests at once, each on a new connection, each timed from its own connect: the
/// previous benchmark's figure, kept as the hardest case (a thundering herd).
fn burst(socket: &Path, n: usize) -> Result<Vec<f64>, String> {
    runtime().block_on(async {
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let s = socket.to_path_buf();
                tokio::spawn(async move {
                    let t = Instant::now();
                    let mut c = UnixStream::connect(&s).await.map_err(|e| e.to_string())?;
                    c.write_all(GET_STATUS_CLOSE)
                        .await
                        .map_err(|e| e.to_string())?;
                    let mut out = Vec::new();
                    c.read_to_end(&mut out).await.map_err(|e| e.to_string())?;
                    match response_len(&out) {
                        Some(Ok(_)) => Ok::<_, String>(t.elapsed().as_secs_f64() * 1e3),
                        Some(Err(e)) => Err(e),
                        None => Err("an incomplete response".into()),
                    }
                })
            })
            .collect();
        let mut v = Vec::with_capacity(n);
        for t in tasks {
            v.push(t.await.map_err(|e| e.to_string())??);
        }
        Ok(v)
    })
}

fn p(v: &[f64], q: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    quantile(&v, q)
}

pub(super) fn status_rows(socket: &Path, opts: &Options) -> (Vec<Row>, Vec<String>) {
    eprintln!("bench: status latency");
    let c = opts.clients;
    let runs = opts.runs.max(2);
    let secs = opts.load_seconds;
    let load = load_average();
    // Alone: one client, one persistent connection, one request at a time.
    let alone = repeat(0, runs, || {
        load_run(socket, 1, secs.min(1.0), StatusLoad::ClosedLoop)
    })
    .and_then(|r| {
        let p50: Vec<f64> = r.iter().map(|(lat, _)| p(lat, 0.5)).collect();
        fig("1 client alone, p50", &p50, Unit::Millis)
    });
    let closed = repeat(0, runs, || {
        load_run(socket, c, secs, StatusLoad::ClosedLoop)
    });
    let capacity = closed
        .as_ref()
        .ok()
        .and_then(|r| Summary::of(&r.iter().map(|x| x.1).collect::<Vec<_>>()))
        .map(|s| s.median);
    let rate = capacity.map_or(1000.0, |x| (x / 2.0).round().max(1.0));
    let open = repeat(0, runs, || {
        load_run(socket, c, secs, StatusLoad::OpenLoop { rate })
    });
    let bursts = repeat(0, runs, || burst(socket, c));
    let each = |r: &Result<Vec<(Vec<f64>, f64)>, String>, q: Option<f64>, unit| {
        r.clone().and_then(|runs| {
            let v: Vec<f64> = runs
                .iter()
                .map(|(lat, tput)| q.map_or(*tput, |q| p(lat, q)))
                .collect();
            fig("", &v, unit)
        })
    };
    let burst_p99 = bursts.and_then(|b| {
        fig(
            "",
            &b.iter().map(|l| p(l, 0.99)).collect::<Vec<_>>(),
            Unit::Millis,
        )
    });
    let open_name = format!("status, {c} clients, open loop at {rate:.0} req/s");
    let closed_name = format!("status, {c} clients, closed loop");
    let rows = vec![
        Row::new(
            format!("{open_name}: p50"),
            each(&open, Some(0.5), Unit::Millis),
        )
        .against(alone.clone()),
        Row::new(
            format!("{open_name}: p99"),
            each(&open, Some(0.99), Unit::Millis),
        )
        .against(alone.clone())
        .target(Target::below(STATUS_P99_MS)),
        Row::new(
            format!("{closed_name}: throughput"),
            each(&closed, None, Unit::PerSecond),
        ),
        Row::new(
            format!("{closed_name}: p99"),
            each(&closed, Some(0.99), Unit::Millis),
        )
        .against(alone.clone())
        .target(Target::below(STATUS_P99_MS).informational()),
        Row::new(
            format!("status, {c} new connections at once: p99"),
            burst_p99,
        )
        .against(alone)
        .target(Target::below(STATUS_P99_MS).informational()),
    ];
    let notes = vec![format!(
        "**How status latency is measured.** All clients run on one thread of the benchmark \
         (tokio, current-thread) over the Unix socket, on the same {cores} cores as the \
         daemon; each run lasts {secs} s after 0.5 s unrecorded, {runs} runs; each row is the \
         median (and range) over runs of that run's percentile of every request. *Open loop* \
         is the judged figure: {c} clients keep persistent connections and together send \
         {rate:.0} requests/s, half the capacity the closed loop measured, each on a fixed \
         schedule; a request held back by a late answer counts from the moment it was due, \
         not from when it could be sent (no coordinated omission; a request sent on time \
         counts from its sending, as the client's timer wakes up to 1 ms late). That is what a user of the endpoint sees while the daemon is busy. \
         *Closed loop* ({c} clients, each sending again as soon as it is answered) measures \
         the capacity; its latency is the queue the clients themselves build, {c} / \
         throughput by Little's law, whatever the daemon does. *New connections at once* is \
         the earlier benchmark's figure, {c} connects in the same instant (a thundering herd \
         through the accept queue), kept as the hardest case. Load average at the start: \
         {load:.2}.",
        cores = std::thread::available_parallelism().map_or(0, |n| n.get()),
    )];
    (rows, notes)
}

#[cfg(test)]
mod tests {
    use super::response_len;

    #[test]
    fn a_response_is_complete_once_its_body_is() {
        let head =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 5\r\n\r\n";
        assert_eq!(response_len(&head[..20]), None);
        let mut r = head.to_vec();
        r.extend_from_slice(b"{}\n");
        assert_eq!(response_len(&r), None);
        r.extend_from_slice(b"\n\nHTTP/1.1");
        assert_eq!(response_len(&r), Some(Ok(head.len() + 5)));
    }

    #[test]
    fn errors_and_missing_lengths_are_refused() {
        let busy = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(
            response_len(busy),
            Some(Err("HTTP/1.1 503 Service Unavailable".into()))
        );
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
        assert!(matches!(response_len(chunked), Some(Err(_))));
    }
}
