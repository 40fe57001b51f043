//! The HTTP upgrade: the request read and checked (RFC 6455 §4.2.1), the path (404), the
//! subprotocol, the request as the host sees it, and the framing limits every connection gets.
//!
//! The request is parsed with `httparse` (tungstenite's own parser) and the answer written here
//! rather than by tungstenite's `accept`: tungstenite writes header names in lower case, and
//! clients exist (gql's `websockets` transport) that look the selected subprotocol up as
//! `Sec-WebSocket-Protocol`, case and all. The framing after the upgrade is tungstenite's.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use super::config::ServerConfig;
use crate::host::RequestInfo;
use crate::protocol::SUBPROTOCOL;

pub(crate) type Socket = WebSocketStream<TcpStream>;

/// Subprotocols kept from one request (the rest are ignored): the request itself is bounded
/// by [`MAX_REQUEST_BYTES`], this bounds what a connection keeps of it.
const MAX_OFFERED_SUBPROTOCOLS: usize = 16;
/// The request line and headers, at most (h11's default, as on the Python path).
const MAX_REQUEST_BYTES: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;

pub(crate) enum Upgrade {
    Accepted(Box<Socket>, RequestInfo),
    /// Not a WebSocket upgrade, the wrong path (each answered), or the peer went away.
    Failed,
    TimedOut,
    /// Closed, still silent, to make room for a newer connection.
    Evicted,
}

/// Small buffers (an idle connection's memory is mostly these), frame and message limits
/// checked from each frame's header, before its payload is read.
pub(crate) fn websocket_config(max_message_size: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(64 * 1024)
        .max_message_size(Some(max_message_size))
        .max_frame_size(Some(max_message_size))
}

/// Reads the request and answers it, within the handshake timeout, unless `evicted` is
/// notified first (the socket is then dropped).
pub(crate) async fn upgrade(stream: TcpStream, peer: SocketAddr, config: &ServerConfig, evicted: &Notify) -> Upgrade {
    tokio::select! {
        biased;
        () = evicted.notified() => Upgrade::Evicted,
        answered = timeout(config.handshake_timeout, answer(stream, peer, config)) => answered.unwrap_or(Upgrade::TimedOut),
    }
}

async fn answer(mut stream: TcpStream, peer: SocketAddr, config: &ServerConfig) -> Upgrade {
    let (request, head_length, mut buffer) = match read_request(&mut stream).await {
        Ok(read) => read,
        Err(Some(refusal)) => return refuse(stream, refusal).await,
        Err(None) => return Upgrade::Failed,
    };
    let (info, key) = match check(&request, peer, &config.path) {
        Ok(checked) => checked,
        Err(refusal) => return refuse(stream, refusal).await,
    };
    let mut response = String::with_capacity(256);
    response.push_str("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
    response.push_str("Sec-WebSocket-Accept: ");
    response.push_str(&derive_accept_key(key.as_bytes()));
    response.push_str("\r\n");
    if info.subprotocols.iter().any(|offered| offered == SUBPROTOCOL) {
        response.push_str("Sec-WebSocket-Protocol: ");
        response.push_str(SUBPROTOCOL);
        response.push_str("\r\n");
    }
    response.push_str("\r\n");
    if stream.write_all(response.as_bytes()).await.is_err() {
        return Upgrade::Failed;
    }
    // Bytes a client sent right behind its request belong to the WebSocket stream.
    let early = buffer.split_off(head_length);
    let config = websocket_config(config.protocol.max_message_size);
    let socket = WebSocketStream::from_partially_read(stream, early, Role::Server, Some(config)).await;
    Upgrade::Accepted(Box::new(socket), info)
}

/// What the handshake needs of a request, owned.
struct UpgradeRequest {
    method: String,
    target: String,
    http_1_1: bool,
    headers: Vec<(String, String)>,
}

impl UpgradeRequest {
    fn header<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Whether a comma-separated header holds `token` (case-insensitive).
    fn has_token(&self, name: &str, token: &str) -> bool {
        self.header(name).flat_map(|value| value.split(',')).any(|item| item.trim().eq_ignore_ascii_case(token))
    }
}

/// An answer other than 101, then the connection is closed.
struct Refusal {
    status: &'static str,
    body: &'static str,
    extra_header: Option<&'static str>,
}

const NOT_FOUND: Refusal = Refusal { status: "404 Not Found", body: "Not Found", extra_header: None };
const BAD_REQUEST: Refusal = Refusal { status: "400 Bad Request", body: "Bad Request", extra_header: None };
const TOO_LARGE: Refusal = Refusal {
    status: "431 Request Header Fields Too Large",
    body: "Request Header Fields Too Large",
    extra_header: None,
};
const UPGRADE_REQUIRED: Refusal = Refusal {
    status: "426 Upgrade Required",
    body: "WebSocket upgrade expected",
    extra_header: Some("Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"),
};

/// The request head, its length in `buffer`, and `buffer` (which may hold more). `Err(None)`:
/// the peer went away.
async fn read_request(stream: &mut TcpStream) -> Result<(UpgradeRequest, usize, Vec<u8>), Option<Refusal>> {
    let mut buffer = Vec::with_capacity(1024);
    loop {
        if buffer.len() >= MAX_REQUEST_BYTES {
            return Err(Some(TOO_LARGE));
        }
        let mut chunk = (&mut *stream).take((MAX_REQUEST_BYTES - buffer.len()) as u64);
        match chunk.read_buf(&mut buffer).await {
            Ok(0) | Err(_) => return Err(None),
            Ok(_) => {}
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(&buffer) {
            Ok(httparse::Status::Partial) => continue,
            Ok(httparse::Status::Complete(length)) => {
                let headers: Vec<(String, String)> = parsed
                    .headers
                    .iter()
                    .map(|header| {
                        (header.name.to_ascii_lowercase(), String::from_utf8_lossy(header.value).into_owned())
                    })
                    .collect();
                let request = UpgradeRequest {
                    method: parsed.method.unwrap_or_default().to_owned(),
                    target: parsed.path.unwrap_or_default().to_owned(),
                    http_1_1: parsed.version == Some(1),
                    headers,
                };
                return Ok((request, length, buffer));
            }
            Err(httparse::Error::TooManyHeaders) => return Err(Some(TOO_LARGE)),
            Err(_) => return Err(Some(BAD_REQUEST)),
        }
    }
}

/// RFC 6455 §4.2.1's checks; the request as the host sees it, and the client's key.
fn check(request: &UpgradeRequest, peer: SocketAddr, path: &str) -> Result<(RequestInfo, String), Refusal> {
    let (request_path, query) = match request.target.split_once('?') {
        Some((request_path, query)) => (request_path, Some(query.to_owned())),
        None => (request.target.as_str(), None),
    };
    if request_path != path {
        return Err(NOT_FOUND);
    }
    if request.method != "GET" || !request.http_1_1 {
        return Err(BAD_REQUEST);
    }
    if !request.has_token("upgrade", "websocket") || !request.has_token("connection", "upgrade") {
        return Err(UPGRADE_REQUIRED);
    }
    if !request.header("sec-websocket-version").any(|version| version.trim() == "13") {
        return Err(UPGRADE_REQUIRED);
    }
    let mut keys = request.header("sec-websocket-key");
    let (Some(key), None) = (keys.next(), keys.next()) else { return Err(BAD_REQUEST) };
    if !is_websocket_key(key.trim()) {
        return Err(BAD_REQUEST);
    }
    let subprotocols = request
        .header("sec-websocket-protocol")
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|offered| !offered.is_empty())
        .take(MAX_OFFERED_SUBPROTOCOLS)
        .map(str::to_owned)
        .collect();
    let info = RequestInfo {
        path: request_path.to_owned(),
        query,
        headers: request.headers.clone(),
        client: Some(peer),
        subprotocols,
    };
    Ok((info, key.trim().to_owned()))
}

/// A key is 16 bytes in base64: 22 characters and `==`.
fn is_websocket_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    bytes.len() == 24
        && bytes.ends_with(b"==")
        && bytes[..22].iter().all(|byte| byte.is_ascii_alphanumeric() || *byte == b'+' || *byte == b'/')
}

async fn refuse(mut stream: TcpStream, refusal: Refusal) -> Upgrade {
    let Refusal { status, body, extra_header } = refusal;
    let answer = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n{body}",
        body.len(),
        extra_header.unwrap_or(""),
    );
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
    Upgrade::Failed
}
