//! One connection's graphql-transport-ws state machine, without sockets, tasks or clocks.
//!
//! The driver (the native server, later the Python adapters) feeds it what happened — a client
//! message, a host decision, the time — and takes the resulting [`Action`]s with
//! [`Session::poll_action`]. Timers are deadlines the core keeps itself: the driver sleeps until
//! [`Session::next_deadline`] and calls [`Session::handle_timeout`]; a late or spurious call is
//! harmless, so no timer ever needs cancelling.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use fraiseql_engine::rate::TokenBucket;
use serde_json::Value;

use super::action::{Action, Cause, ConnectOutcome};
use super::close;
use super::config::ProtocolConfig;
use super::message::{BadRequest, ClientMessage, JsonString, SubscribePayload};
use super::outgoing;

/// Where a client's subscription id stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    /// Asked of the host, no answer yet.
    Pending,
    /// Completed by the client (or ended by the engine) while pending: freed when the host
    /// answers, nothing sent.
    Cancelled,
    Active,
}

#[derive(Debug)]
pub struct Session {
    config: Arc<ProtocolConfig>,
    actions: VecDeque<Action>,
    closed: bool,
    init_received: bool,
    awaiting_connect: bool,
    acknowledged: bool,
    /// Every id in use, pending ones included (so at most `max_subscriptions_per_connection`).
    operations: HashMap<String, Operation>,
    pending: usize,
    messages: Option<TokenBucket>,
    subscribes: Option<TokenBucket>,
    init_deadline: Option<Instant>,
    ping_deadline: Option<Instant>,
    pong_deadline: Option<Instant>,
    expiry_deadline: Option<Instant>,
}

/// Python's buckets: `rate` per second, bursts of twice as many.
fn bucket(rate: Option<f64>) -> Option<TokenBucket> {
    rate.map(|rate| TokenBucket::new(rate, 2.0 * rate))
}

impl Session {
    /// A connection just accepted at `now`: the init timer runs from here.
    pub fn new(config: Arc<ProtocolConfig>, now: Instant) -> Self {
        Self {
            messages: bucket(config.max_messages_per_second),
            subscribes: bucket(config.max_subscribes_per_second),
            init_deadline: Some(now + config.connection_init_timeout),
            config,
            actions: VecDeque::new(),
            closed: false,
            init_received: false,
            awaiting_connect: false,
            acknowledged: false,
            operations: HashMap::new(),
            pending: 0,
            ping_deadline: None,
            pong_deadline: None,
            expiry_deadline: None,
        }
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    pub fn is_acknowledged(&self) -> bool {
        self.acknowledged
    }

    /// False while a subscribe waits for the host (and once closed): the driver reads no more
    /// client messages until then, which bounds what one connection can ask at once. Also
    /// false while `on_connect` is decided, unless `read_while_connecting`.
    pub fn wants_input(&self) -> bool {
        !self.closed && self.pending == 0 && (self.config.read_while_connecting || !self.awaiting_connect)
    }

    /// Subscriptions in use by the client (pending ones included).
    pub fn active_subscriptions(&self) -> usize {
        self.operations.values().filter(|operation| **operation != Operation::Cancelled).count()
    }

    /// Whether `id` is a subscription of the client's (registered, or asked of the host).
    pub fn has_subscription(&self, id: &str) -> bool {
        matches!(self.operations.get(id), Some(Operation::Active | Operation::Pending))
    }

    /// The earliest moment [`Session::handle_timeout`] has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        [self.init_deadline, self.expiry_deadline, self.pong_deadline, self.ping_deadline].into_iter().flatten().min()
    }

    /// A text message from the client.
    pub fn handle_text(&mut self, text: &str, now: Instant) {
        if self.closed {
            return;
        }
        if self.messages.as_ref().is_some_and(|bucket| !bucket.try_take_at(now)) {
            return self.close_for(
                Cause::MessagesPerSecond,
                close::TOO_MANY_INITIALISATION_REQUESTS,
                close::REASON_TOO_MANY_MESSAGES,
            );
        }
        if text.len() > self.config.max_message_size {
            return self.handle_oversized();
        }
        match ClientMessage::parse(text) {
            Ok(message) => self.handle_message(message, now),
            Err(BadRequest(reason)) => self.close(close::BAD_REQUEST, reason),
        }
    }

    /// A binary message from the client.
    pub fn handle_binary(&mut self) {
        self.close(close::BAD_REQUEST, close::REASON_BINARY);
    }

    /// The framing layer refused a message over `max_message_size` (from its header).
    pub fn handle_oversized(&mut self) {
        let reason = close::message_too_big(self.config.max_message_size);
        self.close_for(Cause::MessageSize, close::MESSAGE_TOO_BIG, &reason);
    }

    /// The host's answer to [`Action::Authenticate`].
    pub fn connect_decided(&mut self, outcome: ConnectOutcome, now: Instant) {
        if self.closed || !std::mem::take(&mut self.awaiting_connect) {
            return;
        }
        match outcome {
            ConnectOutcome::Accept { ack_payload, expires_in } => {
                if expires_in.is_some_and(|expires_in| expires_in.is_zero()) {
                    return self.close_for(
                        Cause::CredentialsExpired,
                        close::FORBIDDEN,
                        close::REASON_CREDENTIALS_EXPIRED,
                    );
                }
                self.expiry_deadline = expires_in.map(|expires_in| now + expires_in);
                // Acknowledged before the ack is sent: a subscribe right behind it is accepted.
                self.acknowledged = true;
                self.actions.push_back(Action::Send(outgoing::connection_ack(ack_payload.as_ref())));
                self.ping_deadline = self.config.keepalive_interval.map(|interval| now + interval);
            }
            ConnectOutcome::Refuse { reason: Some(reason) } if !reason.is_empty() => {
                self.close(close::FORBIDDEN, &format!("{}: {reason}", close::REASON_FORBIDDEN));
            }
            ConnectOutcome::Refuse { .. } => self.close(close::FORBIDDEN, close::REASON_FORBIDDEN),
            ConnectOutcome::Close { code, reason } => self.close(code, &reason),
            ConnectOutcome::Failed => self.internal_error(),
        }
    }

    /// The host's answer to [`Action::Subscribe`]: `Err` holds the GraphQL formatted errors of
    /// the `error` message.
    pub fn subscribe_decided(&mut self, id: &str, result: Result<(), Vec<Value>>) {
        if self.closed {
            return;
        }
        let Some(operation) = self.operations.get_mut(id) else { return };
        match (*operation, result) {
            (Operation::Pending, Ok(())) => *operation = Operation::Active,
            (Operation::Pending, Err(errors)) => {
                self.operations.remove(id);
                self.actions.push_back(Action::Send(outgoing::error(id, &errors)));
            }
            (Operation::Cancelled, result) => {
                self.operations.remove(id);
                if result.is_ok() {
                    // Registered after the client completed it: free it, send nothing.
                    self.actions.push_back(Action::Complete { id: id.to_owned() });
                }
            }
            (Operation::Active, _) => return,
        }
        self.pending -= 1;
    }

    /// The host's answer to [`Action::Subscribe`] for an id that is not Unicode text (lone
    /// surrogates): never a subscription of the engine, whose ids are text, so only a refusal
    /// says something (its `error` message); an acceptance frees nothing and sends nothing.
    pub fn not_unicode_subscribe_decided(&mut self, literal: &str, result: Result<(), Vec<Value>>) {
        if self.closed || self.pending == 0 {
            return;
        }
        self.pending -= 1;
        if let Err(errors) = result {
            self.actions.push_back(Action::Send(outgoing::error_for_literal(literal, &errors)));
        }
    }

    /// The engine ended a subscription with an `error` frame (now sent): its id is free again
    /// (once the host has answered, if the subscribe is still pending).
    pub fn subscription_ended(&mut self, id: &str) {
        match self.operations.get_mut(id) {
            Some(Operation::Active) => {
                self.operations.remove(id);
            }
            Some(operation @ Operation::Pending) => *operation = Operation::Cancelled,
            Some(Operation::Cancelled) | None => {}
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        let due = |deadline: Option<Instant>| deadline.is_some_and(|deadline| deadline <= now);
        if due(self.init_deadline) {
            self.close(close::CONNECTION_INITIALISATION_TIMEOUT, close::REASON_INIT_TIMEOUT);
        } else if due(self.expiry_deadline) {
            self.close_for(Cause::CredentialsExpired, close::FORBIDDEN, close::REASON_CREDENTIALS_EXPIRED);
        } else if due(self.pong_deadline) {
            self.close(close::KEEPALIVE_TIMEOUT, close::REASON_KEEPALIVE);
        } else if due(self.ping_deadline) {
            self.ping_deadline = None;
            self.pong_deadline = Some(now + self.config.keepalive_timeout);
            self.actions.push_back(Action::Send(outgoing::PING.to_owned()));
        }
    }

    /// Server shutdown: close 1001 "Going away".
    pub fn shutdown(&mut self) {
        self.close(close::GOING_AWAY, close::REASON_GOING_AWAY);
    }

    /// An unexpected failure of the driver or the host: close 4500.
    pub fn internal_error(&mut self) {
        self.close(close::INTERNAL_SERVER_ERROR, close::REASON_INTERNAL);
    }

    /// Closes with `code` and `reason` (cut to what a close frame can carry); then the core
    /// produces nothing more.
    pub fn close(&mut self, code: u16, reason: &str) {
        if std::mem::replace(&mut self.closed, true) {
            return;
        }
        self.actions.push_back(Action::Close { code, reason: close::truncate_reason(reason) });
    }

    /// [`Session::close`], reported as `cause`'s.
    fn close_for(&mut self, cause: Cause, code: u16, reason: &str) {
        if !self.closed {
            self.actions.push_back(Action::Report(cause));
        }
        self.close(code, reason);
    }

    fn handle_message(&mut self, message: ClientMessage, now: Instant) {
        match message {
            ClientMessage::ConnectionInit { payload } => {
                if std::mem::replace(&mut self.init_received, true) {
                    return self.close(close::TOO_MANY_INITIALISATION_REQUESTS, close::REASON_TOO_MANY_INITS);
                }
                // The init timer stops here: a slow `on_connect` never triggers it.
                self.init_deadline = None;
                self.awaiting_connect = true;
                self.actions.push_back(Action::Authenticate { payload });
            }
            ClientMessage::Ping { payload } => self.actions.push_back(Action::Send(outgoing::pong(payload.as_ref()))),
            ClientMessage::Pong => {
                if self.pong_deadline.take().is_some() {
                    self.ping_deadline = self.config.keepalive_interval.map(|interval| now + interval);
                }
            }
            ClientMessage::Subscribe { id, payload } => self.subscribe(id, payload, now),
            // Not Unicode text: no subscription's id, so unknown.
            ClientMessage::Complete { id: None } => {}
            ClientMessage::Complete { id: Some(id) } => match self.operations.get_mut(&id) {
                Some(Operation::Active) => {
                    self.operations.remove(&id);
                    self.actions.push_back(Action::Complete { id });
                }
                Some(operation @ Operation::Pending) => *operation = Operation::Cancelled,
                // Unknown, finished or already completed: ignored.
                Some(Operation::Cancelled) | None => {}
            },
        }
    }

    fn subscribe(&mut self, id: JsonString, payload: SubscribePayload, now: Instant) {
        if !self.acknowledged {
            return self.close(close::UNAUTHORIZED, close::REASON_UNAUTHORIZED);
        }
        if self.subscribes.as_ref().is_some_and(|bucket| !bucket.try_take_at(now)) {
            return self.close_for(
                Cause::SubscribesPerSecond,
                close::TOO_MANY_INITIALISATION_REQUESTS,
                close::REASON_TOO_MANY_SUBSCRIBES,
            );
        }
        if let JsonString::Text(text) = &id {
            if self.operations.contains_key(text) {
                return self.close(close::SUBSCRIBER_ALREADY_EXISTS, &close::subscriber_exists(text));
            }
        }
        let limit = self.config.max_subscriptions_per_connection;
        if self.operations.len() >= limit {
            let error = outgoing::error_for_literal(&id.to_json(), &[outgoing::too_many_subscriptions(limit)]);
            self.actions.push_back(Action::Report(Cause::SubscriptionsPerConnection { id }));
            self.actions.push_back(Action::Send(error));
            return;
        }
        if let JsonString::Text(text) = &id {
            self.operations.insert(text.clone(), Operation::Pending);
        }
        self.pending += 1;
        self.actions.push_back(Action::Subscribe { id, payload });
    }
}
