//! Everything the server writes, each write bounded by the write timeout: a peer that stops
//! reading makes a write time out, and the connection is aborted (nothing else is read from it
//! meanwhile, since one task both reads and writes).

use std::time::Duration;

use fraiseql_engine::QueuedFrame;
use futures_util::SinkExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::handshake::Socket;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteError {
    /// The peer did not take the bytes in time.
    TimedOut,
    /// The socket failed or closed.
    Failed,
}

async fn bounded<F>(write_timeout: Duration, write: F) -> Result<(), WriteError>
where
    F: std::future::Future<Output = Result<(), tokio_tungstenite::tungstenite::Error>>,
{
    match timeout(write_timeout, write).await {
        Err(_) => Err(WriteError::TimedOut),
        Ok(Err(_)) => Err(WriteError::Failed),
        Ok(Ok(())) => Ok(()),
    }
}

/// Sends the messages in one write (they are buffered, then flushed once).
pub(crate) async fn send_texts(
    socket: &mut Socket,
    texts: Vec<String>,
    write_timeout: Duration,
) -> Result<(), WriteError> {
    bounded(write_timeout, async {
        for text in texts {
            socket.feed(Message::Text(Utf8Bytes::from(text))).await?;
        }
        socket.flush().await
    })
    .await
}

/// Sends engine frames as text messages, in one write; returns how many were sent. A frame
/// that is not UTF-8 (never made by the engine) is skipped rather than sent as something else.
pub(crate) async fn send_frames(
    socket: &mut Socket,
    frames: &[QueuedFrame],
    write_timeout: Duration,
) -> Result<usize, WriteError> {
    let mut sent = 0;
    bounded(write_timeout, async {
        for frame in frames {
            if let Ok(text) = Utf8Bytes::try_from(frame.to_vec()) {
                socket.feed(Message::Text(text)).await?;
                sent += 1;
            }
        }
        socket.flush().await
    })
    .await?;
    Ok(sent)
}

/// Sends what the WebSocket layer queued by itself (the pong of a client's ping, the answer
/// to its close).
pub(crate) async fn flush(socket: &mut Socket, write_timeout: Duration) -> Result<(), WriteError> {
    bounded(write_timeout, socket.flush()).await
}

/// Bytes read and discarded after the close, at most: what a well-behaved client may still
/// have in flight. Beyond, the client is sending a message it was refused (a 1009 from its
/// header) and is cut off rather than read to its end.
const MAX_DISCARDED_AFTER_CLOSE: usize = 1024 * 1024;

/// Sends the close frame, ends our side of the TCP connection, and reads (discarding) until
/// the client closes its side, `linger` ends, or [`MAX_DISCARDED_AFTER_CLOSE`] bytes came: a
/// socket closed with unread bytes is reset, and a reset can destroy the close frame before
/// the client reads it.
pub(crate) async fn close(socket: &mut Socket, code: u16, reason: String, write_timeout: Duration, linger: Duration) {
    let frame = CloseFrame { code: CloseCode::from(code), reason: Utf8Bytes::from(reason) };
    if bounded(write_timeout, socket.close(Some(frame))).await.is_err() {
        return;
    }
    let tcp = socket.get_mut();
    if tcp.shutdown().await.is_err() {
        return;
    }
    let _ = timeout(linger, async {
        let mut discard = [0u8; 4096];
        let mut discarded = 0;
        while let Ok(read) = tcp.read(&mut discard).await {
            discarded += read;
            if read == 0 || discarded > MAX_DISCARDED_AFTER_CLOSE {
                break;
            }
        }
    })
    .await;
}
