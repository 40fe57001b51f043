//! The distributed event buses of FraiseQL Subscriptions: how an event published by one process
//! reaches the subscribers of every process. No Python here; `cargo test` covers it against real
//! Redis and PostgreSQL servers.
//!
//! - [`RedisConfig`]: Redis Streams. `XADD` with an approximate `MAXLEN`; every process reads the
//!   whole stream from the last id it saw (`XREAD`), so a process whose connection drops resumes
//!   where it stopped.
//! - [`PostgresConfig`]: an outbox table holding the events, `LISTEN`/`NOTIFY` to wake readers, and
//!   a reader that follows the table by id *and* by transaction snapshot, so a row committed late
//!   (by a transaction that took its id earlier) is never skipped.
//!
//! Both: a publisher's events carry its id and a sequence number, so each process drops the
//! duplicates a retried write can leave and delivers each publisher's events in order.
//! [`Bus::publish`] returns once the bus stored the event and (within the publish timeout) this
//! process dispatched it to its own subscribers; a bus that cannot store it in time is an error,
//! never a silent drop. Connections that drop are retried with backoff; the state, the lag and
//! the counters are in [`BusMetrics`], and state changes reach the host as [`BusNote`]s.

mod backoff;
mod dedup;
mod envelope;
mod postgres;
mod redis_bus;
mod runtime;
mod status;
mod writer;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;

pub use envelope::BusEvent;
pub use postgres::{change_trigger_sql, events_table_sql, PostgresConfig};
pub use redis_bus::RedisConfig;
pub use status::{BusMetrics, BusState};

/// Which bus, and where.
#[derive(Debug, Clone, PartialEq)]
pub enum BusConfig {
    Redis(RedisConfig),
    Postgres(PostgresConfig),
}

/// Limits of one bus connection pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BusOptions {
    /// How long start-up may take to connect (and set up) before it fails.
    pub connect_timeout: Duration,
    /// How long a publish may wait for the bus to store its event before it fails.
    pub publish_timeout: Duration,
    /// Events waiting to be written; a publish beyond that fails at once (`PublishTimeout`).
    pub publish_queue: usize,
}

impl Default for BusOptions {
    fn default() -> Self {
        Self { connect_timeout: Duration::from_secs(5), publish_timeout: Duration::from_secs(5), publish_queue: 10_000 }
    }
}

/// Everything a bus can refuse.
#[derive(Debug, Clone, PartialEq)]
pub enum BusError {
    /// Start-up could not connect (a bad URL, a refused connection, bad credentials, a timeout).
    Connect(String),
    /// The bus did not confirm the event in time. It may still have been stored.
    PublishTimeout { seconds: f64, reason: String },
    /// The bus was shut down.
    Closed,
    /// A command of the application failed (installing a change trigger).
    Command(String),
    /// A setting is invalid.
    Config(String),
}

impl std::fmt::Display for BusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BusError::Connect(message) | BusError::Command(message) | BusError::Config(message) => f.write_str(message),
            BusError::PublishTimeout { seconds, reason } => {
                write!(f, "the bus did not store the event within {seconds} s ({reason}); it may still be published")
            }
            BusError::Closed => f.write_str("the bus is shut down"),
        }
    }
}

impl std::error::Error for BusError {}

/// How serious a [`BusNote`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteLevel {
    Info,
    Warning,
    Error,
}

/// Something the host should log: a connection lost or back, events missed.
#[derive(Debug, Clone, PartialEq)]
pub struct BusNote {
    pub level: NoteLevel,
    /// What happened, for structured logs: `bus.disconnected`, `bus.reconnected`, `bus.gap`.
    pub event: &'static str,
    pub message: String,
}

/// Where a bus delivers what it reads. Called on a bus thread, never with a bus lock held; it
/// must not block for long (the engine's publish is the model).
pub trait EventSink: Send + Sync + 'static {
    /// One event, in the bus's order, duplicates removed.
    fn deliver(&self, event: BusEvent);
    /// A state change or a problem worth a log record.
    fn note(&self, note: BusNote);
}

/// What the publisher task is asked to do.
enum Request {
    Publish {
        event: BusEvent,
        deadline: Instant,
        reply: oneshot::Sender<Result<u64, BusError>>,
    },
    /// Run SQL on the publisher's connection (PostgreSQL only).
    Execute {
        sql: String,
        reply: oneshot::Sender<Result<(), BusError>>,
    },
}

/// State shared by the tasks of one bus.
pub(crate) struct Shared {
    /// This process's publisher id (random), carried by every event it publishes.
    pub(crate) id: u64,
    pub(crate) options: BusOptions,
    pub(crate) status: status::Status,
    pub(crate) sink: Arc<dyn EventSink>,
    /// The highest sequence number of this publisher that the reader dispatched here.
    pub(crate) dispatched: watch::Sender<u64>,
}

impl Shared {
    /// Hands an event read from the bus to the sink (unless it is a duplicate).
    pub(crate) fn deliver(&self, dedup: &mut dedup::Dedup, envelope: envelope::Envelope) {
        if let Some((publisher, seq)) = envelope.origin {
            if dedup.seen(publisher, seq) {
                self.status.duplicate();
                return;
            }
        }
        self.status.received();
        self.sink.deliver(envelope.event);
        if let Some((publisher, seq)) = envelope.origin {
            if publisher == self.id {
                self.dispatched.send_if_modified(|highest| {
                    let newer = seq > *highest;
                    if newer {
                        *highest = seq;
                    }
                    newer
                });
            }
        }
    }

    pub(crate) fn note(&self, level: NoteLevel, event: &'static str, message: String) {
        self.sink.note(BusNote { level, event, message });
    }

    /// The name a connection of this bus gives itself (`CLIENT SETNAME`, `application_name`),
    /// so an operator can find it: `fraiseql-<role>-<id>`.
    pub(crate) fn connection_name(&self, role: &str) -> String {
        format!("fraiseql-{role}-{:016x}", self.id)
    }
}

/// A running bus: a publisher task and a reader task on the bus runtime. Dropping it stops them.
pub struct Bus {
    shared: Arc<Shared>,
    requests: mpsc::Sender<Request>,
    tasks: parking_lot::Mutex<Vec<AbortHandle>>,
    describe: String,
}

impl Bus {
    /// Connects, sets up what the bus needs (the PostgreSQL table), and starts reading from now
    /// on. Blocks for at most `options.connect_timeout`; a bad URL, a refused connection or bad
    /// credentials are a [`BusError::Connect`] saying which.
    pub fn start(config: BusConfig, options: BusOptions, sink: Arc<dyn EventSink>) -> Result<Bus, BusError> {
        let (dispatched, _) = watch::channel(0);
        let shared =
            Arc::new(Shared { id: runtime::random_id(), options, status: status::Status::default(), sink, dispatched });
        let (requests, receiver) = mpsc::channel(options.publish_queue.max(1));
        let describe = match &config {
            BusConfig::Redis(redis) => redis.describe(),
            BusConfig::Postgres(postgres) => postgres.describe(),
        };
        let started = {
            let shared = shared.clone();
            runtime::block_on(async move {
                let setup = async {
                    match config {
                        BusConfig::Redis(redis) => redis_bus::start(redis, shared, receiver).await,
                        BusConfig::Postgres(postgres) => postgres::start(postgres, shared, receiver).await,
                    }
                };
                match tokio::time::timeout(options.connect_timeout, setup).await {
                    Ok(started) => started,
                    Err(_) => {
                        Err(BusError::Connect(format!("timed out after {} s", options.connect_timeout.as_secs_f64())))
                    }
                }
            })
        };
        let tasks = started.map_err(|error| match error {
            BusError::Connect(reason) => BusError::Connect(format!("cannot connect to the {describe}: {reason}")),
            other => other,
        })?;
        shared.status.set_connected(true, true);
        Ok(Bus { shared, requests, tasks: parking_lot::Mutex::new(tasks), describe })
    }

    /// What this bus is, for messages (passwords hidden).
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// This process's publisher id, as its connections name themselves (`fraiseql-read-<id>`).
    pub fn id(&self) -> String {
        format!("{:016x}", self.shared.id)
    }

    /// Queues `event` (at once, so publishes keep the caller's order), then the returned future
    /// waits until the bus stored it and (within the publish timeout) this process dispatched it
    /// to its own subscribers. Fails with [`BusError::PublishTimeout`] when the bus could not
    /// store it in time, or when `publish_queue` events already wait.
    pub fn publish(&self, event: BusEvent) -> impl std::future::Future<Output = Result<(), BusError>> + Send + 'static {
        let shared = self.shared.clone();
        let timeout = shared.options.publish_timeout;
        let deadline = Instant::now() + timeout;
        let (reply, stored) = oneshot::channel();
        // Queued now, in the caller's order (the writer numbers events in queue order); a full
        // queue is an error at once rather than a wait that could reorder publishes.
        let queued = self.requests.try_send(Request::Publish { event, deadline, reply });
        async move {
            let expired = |reason: &str| {
                shared.status.publish_timed_out();
                BusError::PublishTimeout { seconds: timeout.as_secs_f64(), reason: reason.to_owned() }
            };
            match queued {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    return Err(expired("too many events are waiting to be written"));
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return Err(BusError::Closed),
            }
            let seq = match tokio::time::timeout_at(deadline.into(), stored).await {
                Ok(Ok(Ok(seq))) => seq,
                Ok(Ok(Err(BusError::PublishTimeout { reason, .. }))) => return Err(expired(&reason)),
                Ok(Ok(Err(error))) => return Err(error),
                Ok(Err(_)) => return Err(BusError::Closed),
                Err(_) => return Err(expired("the bus is unreachable")),
            };
            // Stored: wait (bounded) for our own reader, so local subscribers have it on return.
            let mut dispatched = shared.dispatched.subscribe();
            let _ = tokio::time::timeout_at(deadline.into(), dispatched.wait_for(|highest| *highest >= seq)).await;
            Ok(())
        }
    }

    /// [`Bus::publish`] for a caller outside the bus runtime (a Python thread with the GIL
    /// released): blocks until the publish is settled.
    pub fn publish_blocking(&self, event: BusEvent) -> Result<(), BusError> {
        runtime::block_on(self.publish(event))
    }

    /// Runs `done` with the publish's outcome on a bus thread, when it is settled.
    pub fn publish_then(&self, event: BusEvent, done: impl FnOnce(Result<(), BusError>) + Send + 'static) {
        let publish = self.publish(event);
        runtime::spawn(async move { done(publish.await) });
    }

    /// Runs SQL on the publisher's connection (PostgreSQL buses; installing a change trigger).
    pub fn execute(&self, sql: String) -> Result<(), BusError> {
        let requests = self.requests.clone();
        let timeout = self.shared.options.connect_timeout.max(self.shared.options.publish_timeout);
        runtime::block_on(async move {
            let (reply, done) = oneshot::channel();
            requests.send(Request::Execute { sql, reply }).await.map_err(|_| BusError::Closed)?;
            match tokio::time::timeout(timeout, done).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Err(BusError::Closed),
                Err(_) => {
                    Err(BusError::Command(format!("the command did not finish within {} s", timeout.as_secs_f64())))
                }
            }
        })
    }

    pub fn metrics(&self) -> BusMetrics {
        self.shared.status.snapshot()
    }

    /// Stops the tasks and closes the connections (what dropping the bus does); later
    /// publishes fail with [`BusError::Closed`].
    pub fn shutdown(&self) {
        for task in self.tasks.lock().drain(..) {
            task.abort();
        }
        self.shared.status.stop();
    }
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus").field("bus", &self.describe).field("id", &self.id()).finish()
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        self.shutdown();
    }
}
