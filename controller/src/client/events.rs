//! The client's side of the status event stream (`GET /v1/events`): `baton events`,
//! `baton status --watch` and the demo follow the daemon with it. The framing is
//! [`crate::wire::sse`], the events' JSON [`crate::wire::events`].

use std::collections::VecDeque;

use http_body_util::BodyExt;
use hyper::Method;

use super::{decode, Client, ClientError};
use crate::wire::paths;
use crate::wire::sse::{Message, Parser, LAST_EVENT_ID};

impl Client {
    /// Follows the status events after `since` (none: from now); `follow: false` ends after
    /// what is kept.
    pub async fn events(
        &self,
        since: Option<u64>,
        follow: bool,
    ) -> Result<EventStream, ClientError> {
        let headers: Vec<(&str, String)> = since
            .map(|id| vec![(LAST_EVENT_ID, id.to_string())])
            .unwrap_or_default();
        let path = format!("{}?follow={follow}", paths::EVENTS);
        let resp = self.open(Method::GET, &path, &headers, Vec::new()).await?;
        if !resp.status().is_success() {
            let status = resp.status();
            let bytes = resp.into_body().collect().await?.to_bytes();
            return Err(decode::<()>(status, &bytes).unwrap_err());
        }
        Ok(EventStream {
            body: resp.into_body(),
            parser: Parser::default(),
            ready: VecDeque::new(),
        })
    }
}

/// The events of `GET /v1/events` as they arrive.
pub struct EventStream {
    body: hyper::body::Incoming,
    parser: Parser,
    ready: VecDeque<Message>,
}

impl EventStream {
    /// The next event; `None` when the daemon ended the stream.
    pub async fn next(&mut self) -> Option<Result<Message, ClientError>> {
        loop {
            if let Some(m) = self.ready.pop_front() {
                return Some(Ok(m));
            }
            match self.body.frame().await? {
                Err(e) => return Some(Err(e.into())),
                Ok(f) => {
                    if let Some(data) = f.data_ref() {
                        self.ready.extend(self.parser.feed(data));
                    }
                }
            }
        }
    }
}
