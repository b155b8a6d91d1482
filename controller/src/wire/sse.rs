//! Server-Sent Events framing, both sides: the API writes `GET /v1/events` with [`frame`]
//! and [`comment`]; the CLI (`baton events`, `status --watch`, the demo) reads it with
//! [`Parser`] (through [`crate::client`]). Shared, so the two cannot disagree. Pure.
//!
//! What the stream carries (crds/api.md): every status change as an unnamed event (type
//! `message`) whose `id` is the change's number and whose data is the JSON of
//! [`super::events::Event`]; and named events that carry no change: `hello` (the newest id
//! when a follower starts from now), `resync` (events were missed: read the status again)
//! and `heartbeat` (the daemon is alive; sent when nothing else was).

use hyper::body::Bytes;

/// The named events.
pub const HELLO: &str = "hello";
pub const RESYNC: &str = "resync";
pub const HEARTBEAT: &str = "heartbeat";

/// The header a reconnecting follower names the last id it saw with.
pub const LAST_EVENT_ID: &str = "last-event-id";

/// One event: `id:` when given, `event:` when named, the data (one `data:` line per line).
pub fn frame(id: Option<u64>, event: Option<&str>, data: &str) -> Bytes {
    let mut s = String::with_capacity(data.len() + 32);
    if let Some(id) = id {
        s.push_str(&format!("id: {id}\n"));
    }
    if let Some(e) = event {
        s.push_str(&format!("event: {e}\n"));
    }
    for line in data.split('\n') {
        s.push_str("data: ");
        s.push_str(line.strip_suffix('\r').unwrap_or(line));
        s.push('\n');
    }
    s.push('\n');
    Bytes::from(s)
}

/// A comment line (ignored by readers; keeps proxies from timing the stream out), and the
/// reconnection delay a browser should use.
pub fn comment(text: &str, retry_ms: Option<u64>) -> Bytes {
    let mut s = format!(": {}\n", text.replace(['\n', '\r'], " "));
    if let Some(ms) = retry_ms {
        s.push_str(&format!("retry: {ms}\n"));
    }
    s.push('\n');
    Bytes::from(s)
}

/// One event as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The `id:` field of this event, if it had one.
    pub id: Option<String>,
    /// `message` unless named.
    pub event: String,
    pub data: String,
}

/// Reads a stream of bytes into events, however the bytes are split.
#[derive(Debug, Default)]
pub struct Parser {
    /// Bytes of an unfinished line.
    partial: Vec<u8>,
    id: Option<String>,
    event: Option<String>,
    data: Option<String>,
}

impl Parser {
    /// Feeds bytes; returns the events they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Message> {
        let mut out = Vec::new();
        for &b in bytes {
            if b != b'\n' {
                self.partial.push(b);
                continue;
            }
            let mut line = std::mem::take(&mut self.partial);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8_lossy(&line).into_owned();
            if let Some(m) = self.line(&line) {
                out.push(m);
            }
        }
        out
    }

    fn line(&mut self, line: &str) -> Option<Message> {
        if line.is_empty() {
            // The end of an event; one without data is no event (the spec's rule).
            let data = self.data.take();
            let (id, event) = (self.id.take(), self.event.take());
            return data.map(|data| Message {
                id,
                event: event.unwrap_or_else(|| "message".into()),
                data,
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "id" => self.id = Some(value.to_string()),
            "event" => self.event = Some(value.to_string()),
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_is_read_back_however_it_is_split() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&comment("baton events", Some(2000)));
        bytes.extend_from_slice(&frame(Some(7), None, r#"{"id":7}"#));
        bytes.extend_from_slice(&frame(None, Some(HEARTBEAT), "{}"));
        bytes.extend_from_slice(&frame(Some(9), Some(RESYNC), "two\nlines"));
        let want = vec![
            Message {
                id: Some("7".into()),
                event: "message".into(),
                data: r#"{"id":7}"#.into(),
            },
            Message {
                id: None,
                event: "heartbeat".into(),
                data: "{}".into(),
            },
            Message {
                id: Some("9".into()),
                event: "resync".into(),
                data: "two\nlines".into(),
            },
        ];
        for chunk in [1, 2, 3, 7, bytes.len()] {
            let mut p = Parser::default();
            let got: Vec<Message> = bytes.chunks(chunk).flat_map(|c| p.feed(c)).collect();
            assert_eq!(got, want, "chunks of {chunk}");
        }
    }

    #[test]
    fn the_spec_s_corner_cases() {
        let mut p = Parser::default();
        // CRLF lines, a field without a colon, unknown fields, an event without data.
        let got = p.feed(b"event: x\r\nfoo: bar\r\n\r\ndata\r\n\r\ndata:no-space\n\n");
        assert_eq!(
            got,
            vec![
                Message {
                    id: None,
                    event: "message".into(),
                    data: String::new()
                },
                Message {
                    id: None,
                    event: "message".into(),
                    data: "no-space".into()
                },
            ]
        );
        // A comment never becomes data, and a newline in a comment cannot end a frame.
        assert_eq!(&comment("a\nb", None)[..], b": a b\n\n");
    }
}
