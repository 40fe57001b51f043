//! The Redis bus: one stream per application, written with `XADD` and read whole by every
//! process with `XREAD`.
//!
//! Every process reads every entry (fan-out), from the last id it saw: after a dropped
//! connection it resumes there, so events published meanwhile arrive after the reconnection, in
//! order. This is not a Redis consumer group (which hands each entry to one consumer only). The
//! stream is bounded with `XADD ... MAXLEN ~ <max_len>`; a process cut off for longer than that
//! window misses what was trimmed, which it detects after reconnecting and reports as a gap: the
//! stream's `entries-added` counter (`XINFO STREAM`) says how many entries came after the ones it
//! read, and its length how many are left.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, RedisError, Value};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::backoff::Backoff;
use crate::dedup::Dedup;
use crate::envelope;
use crate::writer::{self, Pending};
use crate::{BusError, NoteLevel, Request, Shared};

/// Entries read per `XREAD`, and events written per pipeline.
const BATCH: usize = 512;
/// `XREAD BLOCK` milliseconds: an idle reader re-issues its read this often (events still arrive
/// at once: Redis answers a blocked read as soon as an entry is added).
const BLOCK_MS: u64 = 5_000;

/// A Redis bus.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisConfig {
    /// `redis://[user:password@]host[:port][/db]` or `rediss://` (TLS).
    pub url: String,
    /// The application: processes with the same URL and group share events, through the stream
    /// `fraiseql:<group>:events`; processes of different groups share nothing.
    pub group: String,
    /// The stream keeps about this many events (`XADD ... MAXLEN ~`): how far behind a process
    /// may fall (cut off from Redis) and still catch up.
    pub max_len: u64,
    /// PEM file of the certificate authority of a `rediss://` server whose certificate is not
    /// signed by one of the system's (a private CA).
    pub tls_ca_file: Option<PathBuf>,
}

impl RedisConfig {
    pub fn stream_key(&self) -> String {
        format!("fraiseql:{}:events", self.group)
    }

    pub(crate) fn describe(&self) -> String {
        format!("Redis bus at {} (stream {})", redact(&self.url), self.stream_key())
    }

    fn client(&self) -> Result<Client, BusError> {
        let opened = match &self.tls_ca_file {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|error| {
                    BusError::Config(format!("cannot read the TLS CA file {}: {error}", path.display()))
                })?;
                let certificates = redis::TlsCertificates { client_tls: None, root_cert: Some(pem) };
                Client::build_with_tls(self.url.as_str(), certificates)
            }
            None => Client::open(self.url.as_str()),
        };
        opened.map_err(|error| BusError::Config(format!("invalid Redis URL {}: {error}", redact(&self.url))))
    }
}

/// The URL with its password replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_owned() };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme_end + 3], &rest[at..])
        }
        None => url.to_owned(),
    }
}

/// Why a command failed, in a few words (the full Redis error is in the note).
fn reason(error: &RedisError) -> String {
    error.to_string()
}

async fn connect(
    client: &Client,
    name: &str,
    connect_timeout: Duration,
    response_timeout: Duration,
) -> Result<MultiplexedConnection, RedisError> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(connect_timeout))
        .set_response_timeout(Some(response_timeout));
    let mut connection = client.get_multiplexed_async_connection_with_config(&config).await?;
    redis::cmd("CLIENT").arg("SETNAME").arg(name).query_async::<()>(&mut connection).await?;
    Ok(connection)
}

/// Connects both connections, finds where the stream ends, and starts the tasks.
pub(crate) async fn start(
    config: RedisConfig,
    shared: Arc<Shared>,
    requests: mpsc::Receiver<Request>,
) -> Result<Vec<AbortHandle>, BusError> {
    let client = config.client()?;
    let options = shared.options;
    let connect_error = |error: RedisError| BusError::Connect(reason(&error));
    let publisher =
        connect(&client, &shared.connection_name("publish"), options.connect_timeout, options.publish_timeout)
            .await
            .map_err(connect_error)?;
    let mut reader = connect(&client, &shared.connection_name("read"), options.connect_timeout, read_timeout())
        .await
        .map_err(connect_error)?;
    let key = config.stream_key();
    let start = last_entry_id(&mut reader, &key).await.map_err(connect_error)?;
    let added_before = stream_counts(&mut reader, &key).await.map_or(0, |(_, added)| added);
    let write = Writer { client: client.clone(), key: key.clone(), max_len: config.max_len, shared: shared.clone() };
    let read = Reader { client, key, shared, last_id: start, dedup: Dedup::default(), added_before, read: 0 };
    Ok(vec![
        crate::runtime::spawn(write.run(publisher, requests)).abort_handle(),
        crate::runtime::spawn(read.run(reader)).abort_handle(),
    ])
}

fn read_timeout() -> Duration {
    Duration::from_millis(BLOCK_MS) + Duration::from_secs(5)
}

/// The id of the stream's last entry (`0-0` when it is empty): reading starts after it.
async fn last_entry_id(connection: &mut MultiplexedConnection, key: &str) -> Result<String, RedisError> {
    let reply: Value =
        redis::cmd("XREVRANGE").arg(key).arg("+").arg("-").arg("COUNT").arg(1).query_async(connection).await?;
    Ok(entries(&reply).first().map(|(id, _)| id.clone()).unwrap_or_else(|| "0-0".to_owned()))
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(text) => Some(text.clone()),
        _ => None,
    }
}

fn items(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) | Value::Set(items) => items.iter().collect(),
        Value::Map(pairs) => pairs.iter().flat_map(|(key, value)| [key, value]).collect(),
        _ => Vec::new(),
    }
}

/// `(length, entries-added)` of the stream (`XINFO STREAM`); an error for a stream that does not
/// exist yet.
async fn stream_counts(connection: &mut MultiplexedConnection, key: &str) -> Result<(u64, u64), RedisError> {
    let info: Value = redis::cmd("XINFO").arg("STREAM").arg(key).query_async(connection).await?;
    let fields = items(&info);
    let number = |name: &str| {
        fields.chunks(2).find_map(|pair| match (text(pair[0]).as_deref() == Some(name), pair.get(1)) {
            (true, Some(Value::Int(value))) => u64::try_from(*value).ok(),
            _ => None,
        })
    };
    Ok((number("length").unwrap_or(0), number("entries-added").unwrap_or(0)))
}

/// `[[id, [field, value, ...]], ...]` as `(id, the "e" field)`.
fn entries(value: &Value) -> Vec<(String, Option<Vec<u8>>)> {
    items(value)
        .into_iter()
        .filter_map(|entry| {
            let parts = items(entry);
            let id = text(parts.first()?)?;
            let fields = parts.get(1).map(|fields| items(fields)).unwrap_or_default();
            let payload = fields.chunks(2).find_map(|pair| match (pair.first().and_then(|f| text(f)), pair.get(1)) {
                (Some(name), Some(Value::BulkString(bytes))) if name == "e" => Some(bytes.clone()),
                _ => None,
            });
            Some((id, payload))
        })
        .collect()
}

/// The milliseconds part of a stream id (`<ms>-<seq>`).
fn id_millis(id: &str) -> Option<u64> {
    id.split('-').next()?.parse().ok()
}

fn now_millis() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Writes the events of this process, in order, on one connection (pipelined in batches).
struct Writer {
    client: Client,
    key: String,
    max_len: u64,
    shared: Arc<Shared>,
}

impl Writer {
    async fn run(self, connection: MultiplexedConnection, mut requests: mpsc::Receiver<Request>) {
        let mut connection = Some(connection);
        let mut backoff = Backoff::default();
        let mut next_seq = 0u64;
        while let Some(first) = requests.recv().await {
            let (batch, commands) = writer::take_batch(first, &mut requests, &self.shared, &mut next_seq, BATCH);
            for command in commands {
                let _ = command.reply.send(Err(BusError::Command("commands run on PostgreSQL buses only".to_owned())));
            }
            self.write(&mut connection, &mut backoff, batch).await;
        }
    }

    /// Writes a batch, reconnecting and retrying until it is stored or its deadlines pass.
    async fn write(
        &self,
        connection: &mut Option<MultiplexedConnection>,
        backoff: &mut Backoff,
        mut batch: Vec<Pending>,
    ) {
        loop {
            batch = writer::drop_expired(batch, &self.shared, "Redis");
            if batch.is_empty() {
                return;
            }
            if connection.is_none() {
                let name = self.shared.connection_name("publish");
                let options = self.shared.options;
                match connect(&self.client, &name, options.connect_timeout, options.publish_timeout).await {
                    Ok(fresh) => {
                        *connection = Some(fresh);
                        writer::reconnected(&self.shared, "Redis");
                        backoff.reset();
                    }
                    Err(_) => {
                        tokio::time::sleep(backoff.next_delay()).await;
                        continue;
                    }
                }
            }
            let Some(live_connection) = connection.as_mut() else { continue };
            let mut pipe = redis::pipe();
            for pending in &batch {
                pipe.cmd("XADD")
                    .arg(&self.key)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(self.max_len)
                    .arg("*")
                    .arg("e")
                    .arg(&pending.payload);
            }
            match pipe.query_async::<Vec<Value>>(live_connection).await {
                Ok(_) => return writer::stored(batch, &self.shared),
                Err(error) => {
                    *connection = None;
                    writer::write_failed(&self.shared, "Redis", reason(&error));
                    tokio::time::sleep(backoff.next_delay()).await;
                }
            }
        }
    }
}

/// Reads the whole stream, from the last id seen, and delivers each event once.
struct Reader {
    client: Client,
    key: String,
    shared: Arc<Shared>,
    last_id: String,
    dedup: Dedup,
    /// The stream's `entries-added` when reading started, and the entries read since.
    added_before: u64,
    read: u64,
}

impl Reader {
    async fn run(mut self, connection: MultiplexedConnection) {
        let mut connection = Some(connection);
        let mut backoff = Backoff::default();
        loop {
            let Some(live) = connection.as_mut() else {
                let name = self.shared.connection_name("read");
                match connect(&self.client, &name, self.shared.options.connect_timeout, read_timeout()).await {
                    Ok(mut fresh) => {
                        self.check_for_gap(&mut fresh).await;
                        connection = Some(fresh);
                        self.shared.status.reader(true);
                        self.shared.status.reconnected();
                        self.shared.note(
                            NoteLevel::Info,
                            "bus.reconnected",
                            format!("Redis bus: reading again from entry {}", self.last_id),
                        );
                        backoff.reset();
                    }
                    Err(_) => tokio::time::sleep(backoff.next_delay()).await,
                }
                continue;
            };
            let read = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(BATCH)
                .arg("BLOCK")
                .arg(BLOCK_MS)
                .arg("STREAMS")
                .arg(&self.key)
                .arg(&self.last_id)
                .query_async::<Value>(live)
                .await;
            match read {
                Ok(reply) => self.deliver(&reply),
                Err(error) => {
                    connection = None;
                    self.shared.status.reader(false);
                    self.shared.note(
                        NoteLevel::Warning,
                        "bus.disconnected",
                        format!(
                            "Redis bus: reading failed after entry {}, reconnecting: {}",
                            self.last_id,
                            reason(&error)
                        ),
                    );
                    tokio::time::sleep(backoff.next_delay()).await;
                }
            }
        }
    }

    fn deliver(&mut self, reply: &Value) {
        // {key: [[id, fields], ...]} (a map in RESP3, [[key, entries]] in RESP2); nil when idle.
        let streams = items(reply);
        let Some(stream) = streams.first() else { return };
        let entries = match stream {
            Value::Array(pair) => pair.get(1).map(entries).unwrap_or_default(),
            other => streams.get(1).map(|entries_value| entries(entries_value)).unwrap_or_else(|| entries(other)),
        };
        for (id, payload) in entries {
            match payload.as_deref().map(envelope::decode) {
                Some(Ok(envelope)) => self.shared.deliver(&mut self.dedup, envelope),
                Some(Err(_)) | None => self.shared.status.malformed(),
            }
            if let Some(millis) = id_millis(&id) {
                self.shared.status.lag(now_millis().saturating_sub(millis) as f64 / 1000.0);
            }
            self.last_id = id;
            self.read += 1;
        }
    }

    /// After a reconnection: were entries this reader had not read trimmed meanwhile? Entries
    /// are trimmed from the oldest, so some were when fewer are left than came after ours (or
    /// when the stream was deleted and made again: its counter went back).
    async fn check_for_gap(&self, connection: &mut MultiplexedConnection) {
        let Ok((length, added)) = stream_counts(connection, &self.key).await else { return };
        let after_ours = added.checked_sub(self.added_before + self.read);
        if after_ours.is_none_or(|after_ours| length < after_ours) {
            self.shared.status.gap();
            self.shared.note(
                NoteLevel::Error,
                "bus.gap",
                format!(
                    "Redis bus: events after entry {} were trimmed (MAXLEN) or deleted before this process read \
                     them: they are lost for its subscribers",
                    self.last_id
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(redact("redis://:secret@host:6379/0"), "redis://:***@host:6379/0");
        assert_eq!(redact("rediss://user:p@ss@host/1"), "rediss://user:***@host/1");
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
    }

    #[test]
    fn stream_ids_carry_their_time() {
        assert_eq!(id_millis("1700000000000-3"), Some(1_700_000_000_000));
    }
}
