//! One upgraded connection: a single task that reads client messages, runs the protocol core,
//! calls the host, and writes the engine's frames.
//!
//! One task for both directions is what gives backpressure: while a write waits for the peer,
//! nothing is read (so a client that stops reading cannot make the server queue more answers),
//! and a write that waits longer than the write timeout aborts the connection. The engine wakes
//! the task through the connection's own waker (a `Notify`): no polling.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use fraiseql_engine::{ConnectionWaker, Engine, SubscriptionRef, WaitState};
use futures_util::future::OptionFuture;
use futures_util::{FutureExt, StreamExt};
use serde_json::Value;
use tokio::sync::{watch, Notify};
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::handshake::Socket;
use super::outbound::{self, WriteError};
use super::stats::ServerStats;
use super::Shared;
use crate::host::{ConnectDecision, ConnectionRef, Host, RequestInfo, ServerClose, SubscribeRequest};
use crate::protocol::{close, Action, ConnectOutcome, JsonString, Session};

/// A host call in flight (at most one per connection).
type HostCall<C> = Pin<Box<dyn Future<Output = HostReply<C>> + Send>>;

enum HostReply<C> {
    Connect(ConnectDecision<C>),
    Subscribe(JsonString, Result<(), Vec<Value>>),
    /// The host's future panicked.
    Panicked,
}

/// How the connection ended, for the stats.
enum Ending {
    Closed {
        code: u16,
        reason: String,
    },
    /// The peer went away, or the socket failed.
    Gone,
    WriteTimedOut,
}

/// Frees the connection in the engine and tells the host, however the task ends (a panic too).
struct Registration<H: Host> {
    engine: Engine,
    host: Arc<H>,
    connection_id: Arc<str>,
    context: Option<Arc<H::Context>>,
    /// Whether the engine connection is ours to close.
    opened: bool,
}

impl<H: Host> Registration<H> {
    /// Frees the connection in the engine and tells the host (once), with the server's close
    /// if there is one.
    fn release(&mut self, closed_by_server: Option<ServerClose<'_>>) {
        if std::mem::take(&mut self.opened) {
            self.engine.close_connection(&self.connection_id);
            self.host.connection_closed(&self.connection_id, self.context.as_deref(), closed_by_server);
        }
    }
}

impl<H: Host> Drop for Registration<H> {
    fn drop(&mut self) {
        self.release(None);
    }
}

pub(crate) struct Connection<H: Host> {
    shared: Arc<Shared<H>>,
    socket: Socket,
    session: Session,
    request: Arc<RequestInfo>,
    registration: Registration<H>,
    wake: Arc<Notify>,
    pending: Option<HostCall<H::Context>>,
    shutdown: watch::Receiver<bool>,
}

impl<H: Host> Connection<H> {
    /// Opens the connection in the engine, with a waker for this task only. If the engine
    /// refuses (the id is taken, which unique ids make impossible), it closes 4500 when run.
    pub(crate) fn open(
        shared: Arc<Shared<H>>,
        socket: Socket,
        request: RequestInfo,
        connection_id: Arc<str>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let wake = Arc::new(Notify::new());
        let waker = {
            let wake = wake.clone();
            ConnectionWaker::new(move || wake.notify_one())
        };
        let opened = shared.engine.open_connection_with_waker(&connection_id, waker).is_ok();
        if opened {
            shared.host.connection_opened(&connection_id);
        }
        let mut session = Session::new(shared.protocol.clone(), Instant::now());
        if !opened {
            session.internal_error();
        }
        let registration = Registration {
            engine: shared.engine.clone(),
            host: shared.host.clone(),
            connection_id,
            context: None,
            opened,
        };
        Self { session, shared, socket, request: Arc::new(request), registration, wake, pending: None, shutdown }
    }

    pub(crate) async fn run(mut self) {
        let ending = self.serve().await;
        // Nothing more is delivered: free the engine's side before the close handshake lingers.
        let closed_by_server = match &ending {
            // The WebSocket layer's own closes: the Python integrations' servers send them
            // without the protocol handler hearing of it, so the host is not told either.
            Ending::Closed { code: close::PROTOCOL_ERROR | close::INVALID_PAYLOAD, .. } => None,
            Ending::Closed { code, reason } => Some(ServerClose { code: *code, reason }),
            Ending::Gone | Ending::WriteTimedOut => None,
        };
        self.registration.release(closed_by_server);
        let config = &self.shared.config;
        match ending {
            Ending::Closed { code, reason } => {
                outbound::close(&mut self.socket, code, reason, config.write_timeout, config.close_linger).await;
            }
            Ending::WriteTimedOut => ServerStats::bump(&self.shared.stats.write_timeouts),
            Ending::Gone => {}
        }
        // Dropping the socket closes it (aborts it, if bytes are still unsent).
    }

    async fn serve(&mut self) -> Ending {
        // Shutdown may have been requested while this connection was in its handshake.
        if *self.shutdown.borrow() {
            self.session.shutdown();
        }
        loop {
            if let Some(ending) = self.carry_out_actions().await {
                return ending;
            }
            match self.shared.engine.arm(&self.registration.connection_id) {
                Ok(WaitState::Ready) => {
                    if let Err(error) = self.write_engine_frames().await {
                        return gone(error);
                    }
                    continue;
                }
                Ok(WaitState::Armed) => {}
                // Closed in the engine by someone else (the host shutting down): going away.
                Ok(WaitState::Closed) | Err(_) => {
                    if self.session.is_closed() {
                        return Ending::Gone;
                    }
                    self.session.shutdown();
                    continue;
                }
            }
            let deadline = self.session.next_deadline().map(tokio::time::Instant::from_std);
            let reading = self.session.wants_input();
            tokio::select! {
                biased;
                _ = self.shutdown.changed() => self.session.shutdown(),
                Some(reply) = OptionFuture::from(self.pending.as_mut()), if self.pending.is_some() => {
                    self.pending = None;
                    self.apply(reply);
                }
                _ = self.wake.notified() => {}
                _ = sleep_until(deadline), if deadline.is_some() => self.session.handle_timeout(Instant::now()),
                message = self.socket.next(), if reading => {
                    if let Some(ending) = self.read(message).await {
                        return ending;
                    }
                }
            }
        }
    }

    /// Carries out the session's actions; the texts it asked for go out in one write.
    async fn carry_out_actions(&mut self) -> Option<Ending> {
        let mut texts = Vec::new();
        let mut close = None;
        while let Some(action) = self.session.poll_action() {
            match action {
                Action::Send(text) => texts.push(text),
                Action::Close { code, reason } => close = Some(Ending::Closed { code, reason }),
                Action::Authenticate { payload } => self.call_on_connect(payload),
                Action::Subscribe { id, payload } => self.call_subscribe(id, payload),
                Action::Complete { id } => self.complete(&id),
                Action::Report(cause) => self.shared.host.report(&self.registration.connection_id, cause),
            }
        }
        if !texts.is_empty() {
            if let Err(error) = outbound::send_texts(&mut self.socket, texts, self.shared.config.write_timeout).await {
                return Some(gone(error));
            }
        }
        close
    }

    fn call_on_connect(&mut self, payload: Option<crate::protocol::RawJson>) {
        let host = self.shared.host.clone();
        let request = self.request.clone();
        let connection_id = self.registration.connection_id.clone();
        let call = async move { host.on_connect(&connection_id, payload, &request).await };
        self.start(AssertUnwindSafe(call).catch_unwind().map(|decision| match decision {
            Ok(decision) => HostReply::Connect(decision),
            Err(_) => HostReply::Panicked,
        }));
    }

    fn call_subscribe(&mut self, id: JsonString, payload: crate::protocol::SubscribePayload) {
        let Some(context) = self.registration.context.clone() else {
            // The session asks for subscribes only once acknowledged, which sets the context.
            return self.session.internal_error();
        };
        let host = self.shared.host.clone();
        let request = SubscribeRequest {
            connection_id: self.registration.connection_id.clone(),
            context,
            id: id.clone(),
            payload,
        };
        let call = async move { host.subscribe(request).await };
        self.start(AssertUnwindSafe(call).catch_unwind().map(move |result| match result {
            Ok(result) => HostReply::Subscribe(id, result),
            Err(_) => HostReply::Panicked,
        }));
    }

    fn start(&mut self, call: impl Future<Output = HostReply<H::Context>> + Send + 'static) {
        if self.pending.is_some() {
            // The session never asks for two host calls at once; if it did, refuse to queue.
            return self.session.internal_error();
        }
        self.pending = Some(Box::pin(call));
    }

    fn apply(&mut self, reply: HostReply<H::Context>) {
        let now = Instant::now();
        match reply {
            HostReply::Connect(ConnectDecision::Accept { context, ack_payload, expires_in }) => {
                self.registration.context = Some(Arc::new(context));
                self.session.connect_decided(ConnectOutcome::Accept { ack_payload, expires_in }, now);
            }
            HostReply::Connect(ConnectDecision::Refuse { reason }) => {
                self.session.connect_decided(ConnectOutcome::Refuse { reason }, now);
            }
            HostReply::Connect(ConnectDecision::Close { code, reason }) => {
                self.session.connect_decided(ConnectOutcome::Close { code, reason }, now);
            }
            HostReply::Connect(ConnectDecision::Failed) => self.session.connect_decided(ConnectOutcome::Failed, now),
            HostReply::Subscribe(JsonString::Text(id), result) => self.session.subscribe_decided(&id, result),
            HostReply::Subscribe(JsonString::NotUnicode(id), result) => {
                self.session.not_unicode_subscribe_decided(id.as_str(), result);
            }
            HostReply::Panicked => self.session.internal_error(),
        }
    }

    fn complete(&mut self, id: &str) {
        let registration = &self.registration;
        let subscription = SubscriptionRef { subscription_id: id, connection_id: Some(&registration.connection_id) };
        // Already ended by the engine (an `error` frame): nothing left to free.
        let _ = self.shared.engine.complete(subscription);
        if let Some(context) = &registration.context {
            let connection = ConnectionRef { connection_id: &registration.connection_id, context: &**context };
            self.shared.host.complete(connection, id);
        }
    }

    /// Drains the engine's queue for this connection into the socket, several frames per write.
    async fn write_engine_frames(&mut self) -> Result<(), WriteError> {
        let config = &self.shared.config;
        let batch = config.max_frames_per_write.max(1);
        loop {
            let Ok(frames) = self.shared.engine.drain_at_most(&self.registration.connection_id, batch) else {
                return Ok(());
            };
            if frames.is_empty() {
                return Ok(());
            }
            let sent = outbound::send_frames(&mut self.socket, &frames, config.write_timeout).await?;
            self.shared.stats.frames_sent.fetch_add(sent as u64, Relaxed);
            ServerStats::bump(&self.shared.stats.frame_writes);
            for frame in frames.iter().filter(|frame| frame.is_terminal()) {
                self.session.subscription_ended(frame.id());
            }
            if frames.len() < batch {
                return Ok(());
            }
        }
    }

    async fn read(&mut self, message: Option<Result<Message, WsError>>) -> Option<Ending> {
        match message {
            Some(Ok(Message::Text(text))) => self.session.handle_text(text.as_str(), Instant::now()),
            Some(Ok(Message::Binary(_))) => self.session.handle_binary(),
            // The WebSocket layer queued the pong (or the close answer): send it now.
            Some(Ok(Message::Ping(_))) => {
                if let Err(error) = outbound::flush(&mut self.socket, self.shared.config.write_timeout).await {
                    return Some(gone(error));
                }
            }
            Some(Ok(Message::Close(_))) => {
                let _ = outbound::flush(&mut self.socket, self.shared.config.write_timeout).await;
                return Some(Ending::Gone);
            }
            Some(Ok(Message::Pong(_) | Message::Frame(_))) => {}
            // Refused from its header, before the payload was read.
            Some(Err(WsError::Capacity(_))) => self.session.handle_oversized(),
            // As the Python integrations' WebSocket servers do: a close frame, not a drop.
            Some(Err(WsError::Utf8(_))) => self.session.close(close::INVALID_PAYLOAD, close::REASON_INVALID_UTF8),
            Some(Err(WsError::Protocol(error))) if !matches!(error, ProtocolError::ResetWithoutClosingHandshake) => {
                self.session.close(close::PROTOCOL_ERROR, close::REASON_PROTOCOL_ERROR);
            }
            Some(Err(_)) | None => return Some(Ending::Gone),
        }
        None
    }
}

fn gone(error: WriteError) -> Ending {
    match error {
        WriteError::TimedOut => Ending::WriteTimedOut,
        WriteError::Failed => Ending::Gone,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
