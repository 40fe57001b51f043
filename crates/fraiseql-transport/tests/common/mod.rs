//! A fake host over a real engine, a server on a loopback port, and a WebSocket client.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use fraiseql_engine::{Engine, EngineError, EventScope, Registration};
use fraiseql_transport::protocol::{JsonObject, RawJson};
pub use fraiseql_transport::ServerConfig;
use fraiseql_transport::{
    ConnectDecision, ConnectionRef, Host, RequestInfo, ServerClose, ServerHandle, SubscribeRequest,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// An upper bound for anything a test waits for: never a speed assertion.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub const MESSAGES: &str = "subscription { messageAdded { id text } }";

/// Accepts every connection unless its payload says otherwise: `{"refuse": "why"}` refuses,
/// `{"panic": true}` panics, `{"delay_ms": n}` decides later, `{"ack": {...}}` is the ack's payload.
#[derive(Default)]
pub struct FakeHost {
    pub engine: Engine,
    pub completed: AtomicUsize,
    pub closed: AtomicUsize,
    pub closed_with_context: AtomicUsize,
}

impl Host for FakeHost {
    type Context = String;

    async fn on_connect(
        &self,
        _connection_id: &str,
        payload: Option<RawJson>,
        request: &RequestInfo,
    ) -> ConnectDecision<String> {
        let payload = payload.and_then(|payload| payload.to_object()).unwrap_or_default();
        if let Some(delay) = payload.get("delay_ms").and_then(Value::as_u64) {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if payload.get("panic").is_some() {
            panic!("a host bug");
        }
        if let Some(reason) = payload.get("refuse").and_then(Value::as_str) {
            return ConnectDecision::Refuse { reason: Some(reason.to_owned()) };
        }
        let user = request.header("x-user").unwrap_or("anonymous").to_owned();
        ConnectDecision::Accept { context: user, ack_payload: payload.get("ack").cloned(), expires_in: None }
    }

    async fn subscribe(&self, request: SubscribeRequest<String>) -> Result<(), Vec<Value>> {
        let payload = &request.payload;
        let not_text = || vec![json!({"message": "not Unicode text", "extensions": {"code": "BAD_USER_INPUT"}})];
        let subscription_id = request.id.as_text().ok_or_else(not_text)?;
        let query = payload.query.as_text().ok_or_else(not_text)?;
        let operation_name = match &payload.operation_name {
            Some(name) => Some(name.as_text().ok_or_else(not_text)?),
            None => None,
        };
        let variables = match &payload.variables {
            Some(variables) => variables.to_object().ok_or_else(not_text)?,
            None => JsonObject::default(),
        };
        let registration = Registration {
            connection_id: &request.connection_id,
            subscription_id,
            query,
            operation_name,
            variables,
            ..Default::default()
        };
        match self.engine.register(registration) {
            Ok(_) => Ok(()),
            Err(EngineError::Document(errors)) => Err(errors.iter().map(|error| error.to_json()).collect()),
            Err(other) => Err(vec![json!({"message": other.to_string()})]),
        }
    }

    fn complete(&self, _connection: ConnectionRef<'_, String>, _id: &str) {
        self.completed.fetch_add(1, SeqCst);
    }

    fn connection_closed(&self, _connection_id: &str, context: Option<&String>, _closed: Option<ServerClose<'_>>) {
        self.closed.fetch_add(1, SeqCst);
        if context.is_some() {
            self.closed_with_context.fetch_add(1, SeqCst);
        }
    }
}

/// Short timers, so the tests that wait for them end quickly.
pub fn test_config() -> ServerConfig {
    let mut config = ServerConfig { close_linger: Duration::from_millis(500), ..ServerConfig::default() };
    config.protocol.max_messages_per_second = None;
    config.protocol.max_subscribes_per_second = None;
    config
}

pub struct TestServer {
    pub handle: ServerHandle,
    pub host: Arc<FakeHost>,
}

impl TestServer {
    pub async fn start(config: ServerConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = Arc::new(FakeHost::default());
        let handle = fraiseql_transport::serve(listener, host.engine.clone(), host.clone(), config).unwrap();
        Self { handle, host }
    }

    pub fn engine(&self) -> &Engine {
        &self.host.engine
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.handle.local_addr())
    }

    pub fn publish(&self, channel: &str, data: Value) {
        self.engine().publish("event", channel, data, EventScope::default()).unwrap();
    }

    /// Waits (bounded) until the engine and the server hold nothing of any connection.
    pub async fn wait_until_empty(&self) {
        wait_for("every connection freed", || {
            let metrics = self.engine().metrics();
            metrics.active_connections == 0
                && metrics.active_subscriptions == 0
                && self.handle.open_connections() == 0
                && self.handle.tracked_addresses() == 0
        })
        .await;
    }

    pub async fn client(&self) -> Client {
        Client::connect(&self.url("/graphql"), &["graphql-transport-ws"]).await
    }

    /// A client past `connection_ack`.
    pub async fn ready_client(&self) -> Client {
        let mut client = self.client().await;
        client.send(json!({"type": "connection_init"})).await;
        assert_eq!(client.receive().await, json!({"type": "connection_ack"}));
        client
    }
}

/// Checks `condition` until it holds; fails after [`PATIENCE`].
pub async fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub struct Client {
    pub socket: WebSocketStream<TcpStream>,
}

pub async fn tcp_to(url: &str, receive_buffer: Option<u32>) -> TcpStream {
    let address = url.trim_start_matches("ws://").split('/').next().unwrap().parse().unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    if let Some(size) = receive_buffer {
        socket.set_recv_buffer_size(size).unwrap();
    }
    socket.connect(address).await.unwrap()
}

impl Client {
    pub async fn connect(url: &str, subprotocols: &[&str]) -> Self {
        Self::try_connect(url, subprotocols, None).await.expect("handshake")
    }

    pub async fn try_connect(
        url: &str,
        subprotocols: &[&str],
        receive_buffer: Option<u32>,
    ) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        let mut request = url.into_client_request().unwrap();
        if !subprotocols.is_empty() {
            let offered = HeaderValue::from_str(&subprotocols.join(", ")).unwrap();
            request.headers_mut().insert("sec-websocket-protocol", offered);
        }
        request.headers_mut().insert("x-user", HeaderValue::from_static("ann"));
        let stream = tcp_to(url, receive_buffer).await;
        let (socket, _) = tokio_tungstenite::client_async(request, stream).await?;
        Ok(Self { socket })
    }

    pub async fn send(&mut self, message: Value) {
        self.send_text(&message.to_string()).await;
    }

    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.socket.send(Message::Binary(bytes.to_vec().into())).await.unwrap();
    }

    pub async fn send_text(&mut self, text: &str) {
        self.socket.send(Message::Text(text.into())).await.unwrap();
    }

    /// The next text message, as JSON (fails on a close or after [`PATIENCE`]).
    pub async fn receive(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.socket.next()).await.expect("a message in time");
            match message {
                Some(Ok(Message::Text(text))) => return serde_json::from_str(text.as_str()).unwrap(),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    /// Reads until the server's close frame: its code and reason (text messages before it are
    /// skipped).
    pub async fn closed(&mut self) -> (u16, String) {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.socket.next()).await.expect("a close in time");
            match message {
                Some(Ok(Message::Close(Some(frame)))) => return (u16::from(frame.code), frame.reason.to_string()),
                Some(Ok(Message::Close(None))) => return (u16::from(CloseCode::Status), String::new()),
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }

    pub async fn subscribe(&mut self, id: &str, query: &str) {
        self.send(json!({"type": "subscribe", "id": id, "payload": {"query": query}})).await;
    }

    /// A ping/pong round trip: everything the server sent before its pong has arrived.
    pub async fn round_trip(&mut self) -> Vec<Value> {
        self.send(json!({"type": "ping", "payload": {"marker": true}})).await;
        let mut before = Vec::new();
        loop {
            let message = self.receive().await;
            if message == json!({"type": "pong", "payload": {"marker": true}}) {
                return before;
            }
            before.push(message);
        }
    }
}

/// An upgrade written by hand (for what a WebSocket client library refuses to do): the socket
/// and the response's head.
pub async fn raw_upgrade(url: &str, subprotocols: &str) -> (TcpStream, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tcp_to(url, None).await;
    let request = format!(
        "GET /graphql HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: {subprotocols}\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        tokio::time::timeout(PATIENCE, tcp.read_exact(&mut byte)).await.unwrap().unwrap();
        head.push(byte[0]);
    }
    (tcp, String::from_utf8(head).unwrap())
}

/// Reads raw server frames until the close frame: its code and reason.
pub async fn raw_close_frame(tcp: &mut TcpStream) -> (u16, String) {
    use tokio::io::AsyncReadExt;
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut answer)).await.expect("closed in time").unwrap();
    assert_eq!(answer[0], 0x88, "a close frame first: {answer:?}");
    let length = usize::from(answer[1]);
    let code = u16::from_be_bytes([answer[2], answer[3]]);
    (code, String::from_utf8(answer[4..2 + length].to_vec()).unwrap())
}
