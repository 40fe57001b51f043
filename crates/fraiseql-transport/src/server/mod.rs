//! The tokio WebSocket server: an accept loop, one task per connection, graceful shutdown.

mod config;
mod connection;
mod handshake;
mod limits;
mod outbound;
mod stats;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use fraiseql_engine::Engine;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::watch;
use tokio::task::{JoinError, JoinSet};

pub use config::ServerConfig;
pub use stats::{ServerStats, StatsSnapshot};

use self::connection::Connection;
use self::handshake::Upgrade;
use self::limits::{Limits, PendingPlace, Permit};
use crate::host::Host;
use crate::protocol::{close, ProtocolConfig, SUBPROTOCOL};

/// Written to a connection over its address's limit, then closed (the Python guard's answer):
/// a client that sends its request anyway reads a plain answer instead of a reset.
const SERVICE_UNAVAILABLE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
Content-Length: 36\r\nRetry-After: 5\r\nConnection: close\r\n\r\nToo many connections from your address";

/// When accepting fails (out of file descriptors), wait this long before accepting again,
/// giving connections time to close.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Engine connection ids are unique in the process, whatever the number of servers.
static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

/// What every connection task of one server shares.
pub(crate) struct Shared<H: Host> {
    pub(crate) engine: Engine,
    pub(crate) host: Arc<H>,
    pub(crate) config: ServerConfig,
    pub(crate) protocol: Arc<ProtocolConfig>,
    pub(crate) stats: Arc<ServerStats>,
    limits: Arc<Limits>,
}

/// A running server. [`ServerHandle::shutdown`] closes every connection with 1001 and waits
/// for them; dropping the handle starts the same shutdown without waiting.
pub struct ServerHandle {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    accept_loop: tokio::task::JoinHandle<()>,
    stats: Arc<ServerStats>,
    limits: Arc<Limits>,
}

impl ServerHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Upgraded connections being served now.
    pub fn open_connections(&self) -> usize {
        self.limits.open_connections()
    }

    /// TCP connections held now, upgraded or still in their handshake.
    pub fn tcp_connections(&self) -> usize {
        self.limits.tcp_connections()
    }

    /// TCP connections still in their handshake now.
    pub fn pending_connections(&self) -> usize {
        self.limits.pending_connections()
    }

    /// Client addresses with at least one TCP connection now.
    pub fn tracked_addresses(&self) -> usize {
        self.limits.tracked_addresses()
    }

    /// Stops accepting, closes every connection with 1001 "Going away", and returns once all
    /// are gone (each close is bounded by the write timeout and the close linger).
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.accept_loop.await;
    }
}

/// Binds `address` and serves on it (see [`serve`]).
pub async fn bind<H: Host>(
    address: impl ToSocketAddrs,
    engine: Engine,
    host: Arc<H>,
    config: ServerConfig,
) -> io::Result<ServerHandle> {
    serve(TcpListener::bind(address).await?, engine, host, config)
}

/// Serves graphql-transport-ws on `listener`, on the current tokio runtime (call it from
/// inside one).
pub fn serve<H: Host>(
    listener: TcpListener,
    engine: Engine,
    host: Arc<H>,
    config: ServerConfig,
) -> io::Result<ServerHandle> {
    let local_addr = listener.local_addr()?;
    let stats = Arc::new(ServerStats::default());
    let limits = Arc::new(Limits::default());
    let shared = Arc::new(Shared {
        engine,
        host,
        protocol: Arc::new(config.protocol.clone()),
        config,
        stats: stats.clone(),
        limits: limits.clone(),
    });
    let (shutdown, shutdown_requested) = watch::channel(false);
    let accept_loop = tokio::spawn(accept_loop(shared, listener, shutdown_requested));
    Ok(ServerHandle { local_addr, shutdown, accept_loop, stats, limits })
}

async fn accept_loop<H: Host>(shared: Arc<Shared<H>>, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            // A request, or the handle dropped: stop accepting.
            _ = shutdown.changed() => break,
            Some(finished) = tasks.join_next(), if !tasks.is_empty() => note_panic(&shared.stats, finished),
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => admit(&shared, &mut tasks, stream, peer, &shutdown),
                Err(_) => tokio::time::sleep(ACCEPT_BACKOFF).await,
            },
        }
    }
    drop(listener);
    while let Some(finished) = tasks.join_next().await {
        note_panic(&shared.stats, finished);
    }
}

/// A panic ends its own connection only (its permits and engine connection are freed as the
/// task unwinds); it is counted.
fn note_panic(stats: &ServerStats, finished: Result<(), JoinError>) {
    if finished.is_err_and(|error| error.is_panic()) {
        ServerStats::bump(&stats.connection_panics);
    }
}

fn admit<H: Host>(
    shared: &Arc<Shared<H>>,
    tasks: &mut JoinSet<()>,
    stream: TcpStream,
    peer: SocketAddr,
    shutdown: &watch::Receiver<bool>,
) {
    let config = &shared.config;
    let stats = &shared.stats;
    let Some((address, evicted)) = shared.limits.address(peer.ip(), config.max_connections_per_address) else {
        ServerStats::bump(&stats.refused_per_address);
        tasks.spawn(refuse_busy_address(stream, config.write_timeout));
        return;
    };
    let (pending, evicted_for_room) = shared.limits.pending(peer.ip(), config.max_pending_connections);
    stats.evicted.fetch_add(u64::from(evicted) + evicted_for_room as u64, Relaxed);
    tasks.spawn(serve_connection(shared.clone(), stream, peer, pending, address, shutdown.clone()));
}

async fn refuse_busy_address(mut stream: TcpStream, write_timeout: Duration) {
    let _ = tokio::time::timeout(write_timeout, stream.write_all(SERVICE_UNAVAILABLE)).await;
}

async fn serve_connection<H: Host>(
    shared: Arc<Shared<H>>,
    stream: TcpStream,
    peer: SocketAddr,
    pending: PendingPlace,
    _address: Permit,
    shutdown: watch::Receiver<bool>,
) {
    // Frames are batched by the writer itself: no need for Nagle's delay on top.
    let _ = stream.set_nodelay(true);
    let config = &shared.config;
    let upgrade = handshake::upgrade(stream, peer, config, &pending.evicted).await;
    drop(pending);
    let (mut socket, request) = match upgrade {
        Upgrade::Accepted(socket, request) => (*socket, request),
        Upgrade::TimedOut => return ServerStats::bump(&shared.stats.handshake_timeouts),
        Upgrade::Failed | Upgrade::Evicted => return,
    };
    let (write_timeout, linger) = (config.write_timeout, config.close_linger);
    let offered = &request.subprotocols;
    if !offered.is_empty() && !offered.iter().any(|offered| offered == SUBPROTOCOL) {
        // Accepted without a subprotocol, then closed, so the client sees why.
        let reason = close::REASON_SUBPROTOCOL.to_owned();
        return outbound::close(&mut socket, close::SUBPROTOCOL_NOT_ACCEPTABLE, reason, write_timeout, linger).await;
    }
    let Some(_open) = shared.limits.open(config.max_connections) else {
        ServerStats::bump(&shared.stats.refused_max_connections);
        let reason = close::REASON_TOO_MANY_CONNECTIONS.to_owned();
        return outbound::close(&mut socket, close::TRY_AGAIN_LATER, reason, write_timeout, linger).await;
    };
    let connection_id: Arc<str> = Arc::from(format!("native-{}", NEXT_CONNECTION.fetch_add(1, Relaxed)));
    ServerStats::bump(&shared.stats.connections_accepted);
    Connection::open(shared.clone(), socket, request, connection_id, shutdown).run().await;
}
