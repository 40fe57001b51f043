//! The HTTP upgrade: path check (404), subprotocol selection, the request as the host sees it,
//! and the framing limits every connection gets.

use std::net::SocketAddr;

use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{header, HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{accept_hdr_async_with_config, WebSocketStream};

use super::config::ServerConfig;
use crate::host::RequestInfo;
use crate::protocol::SUBPROTOCOL;

pub(crate) type Socket = WebSocketStream<TcpStream>;

/// Subprotocols kept from one request (the rest are ignored): the request itself is bounded
/// by the handshake reader, this bounds what a connection keeps of it.
const MAX_OFFERED_SUBPROTOCOLS: usize = 16;

pub(crate) enum Upgrade {
    Accepted(Box<Socket>, RequestInfo),
    /// Not a WebSocket upgrade, the wrong path (answered 404), or the peer went away.
    Failed,
    TimedOut,
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

// The callback's `Result<Response, ErrorResponse>` is tungstenite's signature.
#[allow(clippy::result_large_err)]
pub(crate) async fn upgrade(stream: TcpStream, peer: SocketAddr, config: &ServerConfig) -> Upgrade {
    let mut request_info = None;
    let callback = |request: &Request, response: Response| {
        let answer = answer(request, response, &config.path);
        if answer.is_ok() {
            request_info = Some(describe(request, peer));
        }
        answer
    };
    let handshake =
        accept_hdr_async_with_config(stream, callback, Some(websocket_config(config.protocol.max_message_size)));
    match timeout(config.handshake_timeout, handshake).await {
        Err(_) => Upgrade::TimedOut,
        Ok(Err(_)) => Upgrade::Failed,
        Ok(Ok(socket)) => match request_info {
            Some(info) => Upgrade::Accepted(Box::new(socket), info),
            None => Upgrade::Failed,
        },
    }
}

#[allow(clippy::result_large_err)]
fn answer(request: &Request, mut response: Response, path: &str) -> Result<Response, ErrorResponse> {
    if request.uri().path() != path {
        return Err(not_found());
    }
    if offered_subprotocols(request).iter().any(|offered| offered == SUBPROTOCOL) {
        response.headers_mut().insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(SUBPROTOCOL));
    }
    Ok(response)
}

fn not_found() -> ErrorResponse {
    let body = "Not Found";
    let mut response = ErrorResponse::new(Some(body.to_owned()));
    *response.status_mut() = StatusCode::NOT_FOUND;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

fn offered_subprotocols(request: &Request) -> Vec<String> {
    request
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|offered| !offered.is_empty())
        .take(MAX_OFFERED_SUBPROTOCOLS)
        .map(str::to_owned)
        .collect()
}

fn describe(request: &Request, peer: SocketAddr) -> RequestInfo {
    RequestInfo {
        path: request.uri().path().to_owned(),
        query: request.uri().query().map(str::to_owned),
        headers: request
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect(),
        client: Some(peer),
        subprotocols: offered_subprotocols(request),
    }
}
