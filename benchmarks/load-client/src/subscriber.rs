//! One graphql-transport-ws connection with one subscription, and what it measured.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Each connection's read buffer: frames here are a few hundred bytes, and tungstenite zeroes the
/// free part of the buffer on every read.
const READ_BUFFER_BYTES: usize = 8 * 1024;

use crate::report::now_seconds;

const PROTOCOL: &str = "graphql-transport-ws";

pub type Socket = WebSocketStream<TcpStream>;

/// What every subscriber shares with the controller.
#[derive(Default)]
pub struct Totals {
    finished: AtomicUsize,
    failed: AtomicBool,
    /// `f64` bits of the latest receive time (seconds since the epoch).
    last_receive: AtomicU64,
    changed: Notify,
}

impl Totals {
    /// Resolves once `count` subscribers have finished (all frames received, or failed).
    pub async fn all_finished(&self, count: usize) {
        loop {
            let notified = self.changed.notified();
            if self.finished.load(Ordering::Acquire) >= count {
                return;
            }
            notified.await;
        }
    }

    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    pub fn last_receive(&self) -> f64 {
        f64::from_bits(self.last_receive.load(Ordering::Relaxed))
    }

    fn finish(&self, failed: bool) {
        if failed {
            self.failed.store(true, Ordering::Relaxed);
        }
        self.finished.fetch_add(1, Ordering::AcqRel);
        self.changed.notify_waiters();
    }
}

/// What one subscriber measured.
#[derive(Debug, Default)]
pub struct Outcome {
    pub index: usize,
    pub received: u64,
    pub out_of_order: u64,
    pub errors: Vec<String>,
    /// Seconds from the server's `at` to the read.
    pub latencies: Vec<f64>,
    /// The event (sequence number) of each latency, to find each event's last frame.
    pub sequences: Vec<i64>,
    /// Seconds from the event's scheduled publish time to the read (with `--rate`).
    pub schedule_latencies: Vec<f64>,
    pub first_at: f64,
    pub last_receive: f64,
}

pub struct Subscriber {
    outcome: Outcome,
    expected: u64,
    rate: f64,
    schedule_base: Option<f64>,
    last_sequence: i64,
    finished: bool,
    totals: Arc<Totals>,
}

#[derive(Deserialize)]
struct Incoming {
    #[serde(rename = "type")]
    kind: String,
    payload: Option<Payload>,
}

#[derive(Deserialize)]
struct Payload {
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "messageAdded")]
    message_added: Option<Item>,
}

#[derive(Deserialize)]
struct Item {
    id: Sequence,
    at: f64,
}

/// The message id: the publisher sends the sequence number as a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Sequence {
    Text(String),
    Number(i64),
}

impl Sequence {
    fn value(&self) -> Option<i64> {
        match self {
            Self::Text(text) => text.parse().ok(),
            Self::Number(number) => Some(*number),
        }
    }
}

impl Subscriber {
    pub fn new(index: usize, expected: u64, rate: f64, totals: Arc<Totals>) -> Self {
        Self {
            outcome: Outcome { index, first_at: f64::INFINITY, ..Outcome::default() },
            expected,
            rate,
            schedule_base: None,
            last_sequence: -1,
            finished: false,
            totals,
        }
    }

    /// Connects and initialises: returns once the server sent `connection_ack`.
    pub async fn handshake(self, url: &str) -> Result<(Self, Socket), String> {
        let index = self.outcome.index;
        let fail = |what: &str, error: &dyn std::fmt::Display| format!("connection #{index}: {what}: {error}");
        let mut request = url.into_client_request().map_err(|error| fail("invalid URL", &error))?;
        request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static(PROTOCOL));
        let host = request.uri().host().unwrap_or("127.0.0.1").trim_matches(['[', ']']).to_owned();
        let port = request.uri().port_u16().unwrap_or(80);
        let stream = TcpStream::connect((host.as_str(), port)).await.map_err(|error| fail("connect", &error))?;
        stream.set_nodelay(true).map_err(|error| fail("TCP_NODELAY", &error))?;
        // tungstenite's default read buffer (128 KiB) is zeroed as it is filled: with thousands
        // of connections each receiving one small frame, clearing it was most of the client's
        // CPU (perf: memset), so the client, not the server, set the last-frame time.
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
        let (mut socket, response) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
            .await
            .map_err(|error| fail("handshake", &error))?;
        let selected = response.headers().get("Sec-WebSocket-Protocol").and_then(|value| value.to_str().ok());
        if selected != Some(PROTOCOL) {
            return Err(format!("connection #{index}: server selected subprotocol {selected:?}"));
        }
        let send = |text: String| Message::text(text);
        socket
            .send(send(r#"{"type":"connection_init","payload":{}}"#.to_owned()))
            .await
            .map_err(|error| fail("send", &error))?;
        loop {
            let message = socket
                .next()
                .await
                .ok_or_else(|| format!("connection #{index}: closed before connection_ack"))?
                .map_err(|error| fail("read", &error))?;
            let text = match message {
                Message::Text(text) => text,
                Message::Close(frame) => {
                    let reason = frame.map_or_else(
                        || "no close frame".to_owned(),
                        |f| format!("code {} {:?}", u16::from(f.code), f.reason.as_str()),
                    );
                    return Err(format!("connection #{index}: closed before connection_ack ({reason})"));
                }
                _ => continue,
            };
            let incoming: Incoming = serde_json::from_str(&text).map_err(|error| fail("invalid JSON", &error))?;
            match incoming.kind.as_str() {
                "connection_ack" => break,
                "ping" => socket.send(send(r#"{"type":"pong"}"#.to_owned())).await.map_err(|e| fail("send", &e))?,
                other => return Err(format!("connection #{index}: unexpected {other:?} before connection_ack")),
            }
        }
        Ok((self, socket))
    }

    /// Subscribes (subscription id `"1"`) on an acknowledged connection.
    pub async fn subscribe(&self, socket: &mut Socket, query: &str) -> Result<(), String> {
        let subscribe = serde_json::json!({"id": "1", "type": "subscribe", "payload": {"query": query}});
        socket
            .send(Message::text(subscribe.to_string()))
            .await
            .map_err(|error| format!("connection #{}: send: {error}", self.outcome.index))
    }

    /// Receives until told to stop (or the connection ends); returns what was measured.
    pub async fn receive(mut self, mut socket: Socket, mut stop: watch::Receiver<bool>) -> Outcome {
        loop {
            tokio::select! {
                biased;
                _ = stop.changed() => break,
                message = socket.next() => match message {
                    Some(Ok(Message::Text(text))) => {
                        let now = now_seconds();
                        if let Some(reply) = self.on_message(&text, now) {
                            if let Err(error) = socket.send(Message::text(reply)).await {
                                self.fail(format!("send: {error}"));
                            }
                        }
                    }
                    Some(Ok(Message::Binary(data))) => self.fail(format!("unexpected binary frame of {} bytes", data.len())),
                    Some(Ok(Message::Close(frame))) => {
                        let reason = frame.map_or_else(|| "no close frame".to_owned(), |f| format!("code {} {:?}", u16::from(f.code), f.reason.as_str()));
                        self.fail(format!("connection closed ({reason})"));
                        break;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => {
                        self.fail(format!("connection closed ({error})"));
                        break;
                    }
                    None => {
                        self.fail("connection closed".to_owned());
                        break;
                    }
                },
            }
        }
        let _ = socket.close(None).await;
        self.outcome
    }

    /// Handles one text message; returns a reply to send, if any.
    fn on_message(&mut self, text: &str, now: f64) -> Option<String> {
        let incoming: Incoming = match serde_json::from_str(text) {
            Ok(incoming) => incoming,
            Err(_) => {
                self.fail(format!("unexpected message: {}", truncated(text)));
                return None;
            }
        };
        match incoming.kind.as_str() {
            "next" => {
                let item = incoming.payload.and_then(|payload| payload.data).and_then(|data| data.message_added);
                let Some((at, sequence)) = item.and_then(|item| Some((item.at, item.id.value()?))) else {
                    self.fail(format!("unexpected next message: {}", truncated(text)));
                    return None;
                };
                self.on_next(at, sequence, now);
                None
            }
            "ping" => Some(r#"{"type":"pong"}"#.to_owned()),
            "pong" => None,
            _ => {
                self.fail(format!("unexpected message: {}", truncated(text)));
                None
            }
        }
    }

    fn on_next(&mut self, at: f64, sequence: i64, now: f64) {
        let outcome = &mut self.outcome;
        outcome.latencies.push(now - at);
        outcome.sequences.push(sequence);
        if self.rate > 0.0 {
            let base = *self.schedule_base.get_or_insert(at - sequence as f64 / self.rate);
            outcome.schedule_latencies.push(now - base - sequence as f64 / self.rate);
        }
        outcome.received += 1;
        outcome.last_receive = now;
        self.totals.last_receive.store(now.to_bits(), Ordering::Relaxed);
        outcome.first_at = outcome.first_at.min(at);
        if sequence <= self.last_sequence {
            outcome.out_of_order += 1;
        }
        self.last_sequence = sequence;
        if outcome.received >= self.expected && !self.finished {
            self.finished = true;
            self.totals.finish(false);
        }
    }

    fn fail(&mut self, error: String) {
        if self.finished {
            return;
        }
        self.outcome.errors.push(error);
        self.finished = true;
        self.totals.finish(true);
    }
}

fn truncated(text: &str) -> &str {
    let mut end = text.len().min(300);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
