//! The PostgreSQL bus: an outbox table holds the events, `NOTIFY` wakes the readers.
//!
//! Payloads live in the table (so events above `NOTIFY`'s 8000-byte limit work, and a process
//! that reconnects reads what it missed); the notification only says "look". Each row records
//! the transaction that wrote it (`xid`, from `pg_current_xact_id()`). Ids are taken when a row
//! is written but become visible when its transaction commits, so a row can appear *behind*
//! rows already read. A reader therefore follows two things: the highest id it read, and what
//! its last look could not see: the transactions still running then (its snapshot's `xip` list)
//! and those that had no transaction id yet (`xid` at or above the snapshot's `xmax`: a row's id
//! is drawn from the sequence a moment before its transaction gets its id). Rows with a lower id
//! can only come from those, and it asks for them by `xid`. Nothing is skipped, nothing is read
//! twice. Old rows are deleted after `retention`.
//!
//! Needs PostgreSQL 14 or later (`xid8`, `pg_current_snapshot()`, `CREATE OR REPLACE TRIGGER`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Notify};
use tokio::task::AbortHandle;
use tokio_postgres::config::SslMode;
use tokio_postgres::{AsyncMessage, Client, NoTls, Statement};

use crate::backoff::Backoff;
use crate::dedup::Dedup;
use crate::envelope;
use crate::writer::{self, Pending};
use crate::{BusError, NoteLevel, Request, Shared};

/// Rows read per query.
const BATCH: i64 = 1000;

/// A PostgreSQL bus.
#[derive(Debug, Clone, PartialEq)]
pub struct PostgresConfig {
    /// `postgresql://user:password@host:port/database` (or a `key=value` connection string).
    pub dsn: String,
    /// The events table, `name` or `schema.name` (created on first use).
    pub table: String,
    /// How long events are kept: how long a process may be cut off and still catch up.
    pub retention: Duration,
}

/// A validated, possibly schema-qualified, table name.
#[derive(Debug, Clone)]
struct TableName {
    schema: Option<String>,
    name: String,
}

impl TableName {
    fn parse(text: &str) -> Result<Self, BusError> {
        let valid = |part: &str| {
            !part.is_empty()
                && part.len() <= 63
                && part.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        let parts: Vec<&str> = text.split('.').collect();
        match parts.as_slice() {
            [name] if valid(name) => Ok(Self { schema: None, name: (*name).to_owned() }),
            [schema, name] if valid(schema) && valid(name) => {
                Ok(Self { schema: Some((*schema).to_owned()), name: (*name).to_owned() })
            }
            _ => Err(BusError::Config(format!(
                "invalid table name {text:?}: use letters, digits and underscores (name or schema.name)"
            ))),
        }
    }

    /// `"schema"."name"`, quoted.
    fn quoted(&self) -> String {
        match &self.schema {
            Some(schema) => format!("\"{schema}\".\"{}\"", self.name),
            None => format!("\"{}\"", self.name),
        }
    }

    /// A name beside the table (its index, its function): same schema, `<table>_<suffix>`.
    fn sibling(&self, suffix: &str) -> String {
        match &self.schema {
            Some(schema) => format!("\"{schema}\".\"{}_{suffix}\"", self.name),
            None => format!("\"{}_{suffix}\"", self.name),
        }
    }

    /// The `NOTIFY` channel of the table.
    fn channel(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{schema}.{}", self.name),
            None => self.name.clone(),
        }
    }
}

impl PostgresConfig {
    pub(crate) fn describe(&self) -> String {
        format!("PostgreSQL bus at {} (table {})", crate::redis_bus::redact(&self.dsn), self.table)
    }

    fn connect_config(&self, role: &str, shared: &Shared) -> Result<tokio_postgres::Config, BusError> {
        let mut config: tokio_postgres::Config = self.dsn.parse().map_err(|error| {
            BusError::Config(format!(
                "invalid PostgreSQL connection string {}: {error}",
                crate::redis_bus::redact(&self.dsn)
            ))
        })?;
        if config.get_ssl_mode() == SslMode::Require {
            return Err(BusError::Config(
                "sslmode=require: TLS to PostgreSQL is not built in; connect over a Unix socket, or through a \
                 local TLS proxy"
                    .to_owned(),
            ));
        }
        config.application_name(shared.connection_name(role));
        config.connect_timeout(shared.options.connect_timeout);
        Ok(config)
    }
}

/// The SQL that creates the events table, its indexes and its notification trigger (what a
/// bus runs on first use; idempotent).
pub fn events_table_sql(table: &str) -> Result<String, BusError> {
    let table = TableName::parse(table)?;
    let quoted = table.quoted();
    let notify = table.sibling("notify");
    let channel = table.channel().replace('\'', "''");
    let publish_change = publish_change_function(&table);
    Ok(format!(
        "CREATE TABLE IF NOT EXISTS {quoted} (\n\
         \x20   id bigserial PRIMARY KEY,\n\
         \x20   xid xid8 NOT NULL DEFAULT pg_current_xact_id(),\n\
         \x20   published_at timestamptz NOT NULL DEFAULT clock_timestamp(),\n\
         \x20   event json NOT NULL\n\
         );\n\
         CREATE INDEX IF NOT EXISTS \"{name}_xid\" ON {quoted} (xid);\n\
         CREATE INDEX IF NOT EXISTS \"{name}_published_at\" ON {quoted} (published_at);\n\
         CREATE OR REPLACE FUNCTION {notify}() RETURNS trigger LANGUAGE plpgsql AS $fraiseql$\n\
         BEGIN\n\
         \x20   PERFORM pg_notify('{channel}', '');\n\
         \x20   RETURN NULL;\n\
         END $fraiseql$;\n\
         CREATE OR REPLACE TRIGGER \"{name}_notify\" AFTER INSERT ON {quoted}\n\
         \x20   FOR EACH STATEMENT EXECUTE FUNCTION {notify}();\n\
         CREATE OR REPLACE FUNCTION {publish_change}() RETURNS trigger LANGUAGE plpgsql AS $fraiseql$\n\
         DECLARE\n\
         \x20   row_data json;\n\
         \x20   channel text := TG_ARGV[0];\n\
         \x20   placeholder text;\n\
         BEGIN\n\
         \x20   IF TG_OP = 'DELETE' THEN row_data := row_to_json(OLD); ELSE row_data := row_to_json(NEW); END IF;\n\
         \x20   FOR placeholder IN SELECT (regexp_matches(TG_ARGV[0], '\\{{([A-Za-z_][A-Za-z0-9_]*)\\}}', 'g'))[1] LOOP\n\
         \x20       channel := replace(channel, '{{' || placeholder || '}}', coalesce(row_data ->> placeholder, ''));\n\
         \x20   END LOOP;\n\
         \x20   INSERT INTO {quoted} (event) VALUES (json_build_object('t', TG_OP, 'c', channel, 'd', row_data));\n\
         \x20   RETURN NULL;\n\
         END $fraiseql$;\n",
        name = table.name,
    ))
}

fn publish_change_function(table: &TableName) -> String {
    table.sibling("publish_change")
}

/// The SQL that makes every insert, update and delete of `table` an event on `channel` (a
/// channel name, where `{column}` stands for that column of the row), written to the events
/// table `events_table` by a row trigger. `operations`: some of `INSERT`, `UPDATE`, `DELETE`.
pub fn change_trigger_sql(
    events_table: &str,
    table: &str,
    channel: &str,
    operations: &[&str],
) -> Result<String, BusError> {
    let events = TableName::parse(events_table)?;
    let watched = TableName::parse(table)?;
    if operations.is_empty() {
        return Err(BusError::Config("operations must name at least one of INSERT, UPDATE, DELETE".to_owned()));
    }
    let mut names = Vec::new();
    for operation in operations {
        let upper = operation.to_ascii_uppercase();
        if !["INSERT", "UPDATE", "DELETE"].contains(&upper.as_str()) {
            return Err(BusError::Config(format!("unknown operation {operation:?}: use INSERT, UPDATE or DELETE")));
        }
        if !names.contains(&upper) {
            names.push(upper);
        }
    }
    if channel.is_empty() || channel.contains('\0') {
        return Err(BusError::Config("the channel must be a non-empty text".to_owned()));
    }
    Ok(format!(
        "CREATE OR REPLACE TRIGGER \"fraiseql_publish_changes\" AFTER {operations} ON {watched}\n\
         \x20   FOR EACH ROW EXECUTE FUNCTION {function}('{channel}');\n",
        operations = names.join(" OR "),
        watched = watched.quoted(),
        function = publish_change_function(&events),
        channel = channel.replace('\'', "''"),
    ))
}

/// Connects a client and drives its connection; `lost` is set (and `wake` notified) when the
/// connection ends, and each notification notifies `wake`.
async fn connect(
    config: &tokio_postgres::Config,
    wake: Arc<Notify>,
    lost: Arc<AtomicBool>,
) -> Result<Client, tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    crate::runtime::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(_))) => wake.notify_one(),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            }
        }
        lost.store(true, Ordering::SeqCst);
        wake.notify_one();
    });
    Ok(client)
}

/// The database's own words for an error (`password authentication failed for user ...`).
fn reason(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => {
            let mut text = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(inner) = source {
                text = format!("{text}: {inner}");
                source = inner.source();
            }
            text
        }
    }
}

/// A client, the flag its driver sets when the connection is gone, and its prepared statements
/// (prepared once per connection: an unprepared query costs a second round trip every time).
struct Link {
    client: Client,
    lost: Arc<AtomicBool>,
    statements: parking_lot::Mutex<std::collections::HashMap<String, Statement>>,
}

impl Link {
    async fn open(config: &tokio_postgres::Config, wake: Arc<Notify>) -> Result<Self, tokio_postgres::Error> {
        let lost = Arc::new(AtomicBool::new(false));
        let client = connect(config, wake, lost.clone()).await?;
        Ok(Self { client, lost, statements: parking_lot::Mutex::default() })
    }

    async fn statement(&self, sql: &str) -> Result<Statement, tokio_postgres::Error> {
        if let Some(statement) = self.statements.lock().get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql).await?;
        self.statements.lock().insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst) || self.client.is_closed()
    }
}

/// Connects both connections, creates the table if needed, and starts the tasks.
pub(crate) async fn start(
    config: PostgresConfig,
    shared: Arc<Shared>,
    requests: mpsc::Receiver<Request>,
) -> Result<Vec<AbortHandle>, BusError> {
    let table = TableName::parse(&config.table)?;
    let publish_config = config.connect_config("publish", &shared)?;
    let read_config = config.connect_config("read", &shared)?;
    let connect_error = |error: tokio_postgres::Error| BusError::Connect(reason(&error));
    let publisher = Link::open(&publish_config, Arc::new(Notify::new())).await.map_err(connect_error)?;
    set_up(&publisher.client, &table).await.map_err(connect_error)?;
    let wake = Arc::new(Notify::new());
    let reader_link = Link::open(&read_config, wake.clone()).await.map_err(connect_error)?;
    reader_link.client.batch_execute(&format!("LISTEN \"{}\"", table.channel())).await.map_err(connect_error)?;
    let row = reader_link
        .client
        .query_one(
            &format!(
                "SELECT coalesce(max(id), 0), ARRAY(SELECT x::text FROM pg_snapshot_xip(pg_current_snapshot()) AS x), \
                 pg_snapshot_xmax(pg_current_snapshot())::text FROM {}",
                table.quoted()
            ),
            &[],
        )
        .await
        .map_err(connect_error)?;
    let reader = Reader {
        config: read_config,
        query: read_query(&table),
        listen: format!("LISTEN \"{}\"", table.channel()),
        shared: shared.clone(),
        max_id: row.get(0),
        pending: row.get(1),
        unseen_from: row.get(2),
        dedup: Dedup::default(),
        last_read: Instant::now(),
        retention: config.retention,
        wake,
    };
    let writer = Writer {
        config: publish_config,
        insert: format!("INSERT INTO {} (event) SELECT e::json FROM unnest($1::text[]) AS e", table.quoted()),
        prune: format!(
            "DELETE FROM {} WHERE published_at < clock_timestamp() - make_interval(secs => $1)",
            table.quoted()
        ),
        retention: config.retention,
        shared,
    };
    Ok(vec![
        crate::runtime::spawn(writer.run(publisher, requests)).abort_handle(),
        crate::runtime::spawn(reader.run(reader_link)).abort_handle(),
    ])
}

/// Creates the table, its indexes and functions; serialized by an advisory lock, since
/// `CREATE ... IF NOT EXISTS` races when several processes start at once.
async fn set_up(client: &Client, table: &TableName) -> Result<(), tokio_postgres::Error> {
    let sql = events_table_sql(&table.channel()).expect("a parsed table name is valid");
    client
        .batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock(hashtext('fraiseql-bus:' || {channel})); {sql} COMMIT;",
            channel = quote_literal(&table.channel()),
        ))
        .await
}

fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// In one snapshot: the rows at or below the highest id read that the last look could not see
/// (`$2`: the transactions running then, `$3`: its `xmax`), all of them, then the rows above it
/// (at most a batch); with what this look cannot see (for the next one) and each row's age.
fn read_query(table: &TableName) -> String {
    format!(
        "WITH snapshot AS (SELECT pg_current_snapshot() AS s) \
         SELECT e.id, e.event::text, extract(epoch FROM clock_timestamp() - e.published_at)::float8, \
                ARRAY(SELECT x::text FROM pg_snapshot_xip(snapshot.s) AS x), pg_snapshot_xmax(snapshot.s)::text, \
                e.late \
         FROM snapshot LEFT JOIN LATERAL ( \
             (SELECT id, event, published_at, true AS late FROM {table} \
              WHERE id <= $1 AND (xid = ANY($2::text[]::xid8[]) OR xid >= $3::text::xid8)) \
             UNION ALL \
             (SELECT id, event, published_at, false FROM {table} WHERE id > $1 ORDER BY id LIMIT {BATCH}) \
         ) AS e ON true \
         ORDER BY e.id",
        table = table.quoted()
    )
}

/// Writes this process's events, in order, one multi-row `INSERT` per batch; prunes old rows.
struct Writer {
    config: tokio_postgres::Config,
    insert: String,
    prune: String,
    retention: Duration,
    shared: Arc<Shared>,
}

impl Writer {
    async fn run(self, link: Link, mut requests: mpsc::Receiver<Request>) {
        let mut link = Some(link);
        let mut backoff = Backoff::default();
        let mut next_seq = 0u64;
        let prune_every = (self.retention / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
        let mut prune = tokio::time::interval(prune_every);
        prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let first = tokio::select! {
                request = requests.recv() => match request {
                    Some(request) => request,
                    None => return,
                },
                _ = prune.tick() => {
                    if let Some(live) = link.as_ref().filter(|live| !live.is_lost()) {
                        if let Ok(prune) = live.statement(&self.prune).await {
                            let _ = live.client.execute(&prune, &[&self.retention.as_secs_f64()]).await;
                        }
                    }
                    continue;
                }
            };
            let (batch, commands) =
                writer::take_batch(first, &mut requests, &self.shared, &mut next_seq, BATCH as usize);
            for command in commands {
                let result = match self.ensure(&mut link, &mut backoff).await {
                    Some(live) => {
                        live.client.batch_execute(&command.sql).await.map_err(|error| BusError::Command(reason(&error)))
                    }
                    None => Err(BusError::Command("PostgreSQL is unreachable".to_owned())),
                };
                let _ = command.reply.send(result);
            }
            self.write(&mut link, &mut backoff, batch).await;
        }
    }

    /// The live connection, reconnecting once if it was lost.
    async fn ensure<'a>(&self, link: &'a mut Option<Link>, backoff: &mut Backoff) -> Option<&'a Link> {
        if link.as_ref().is_some_and(Link::is_lost) {
            *link = None;
            self.shared.status.publisher(false);
        }
        if link.is_none() {
            match Link::open(&self.config, Arc::new(Notify::new())).await {
                Ok(fresh) => {
                    *link = Some(fresh);
                    writer::reconnected(&self.shared, "PostgreSQL");
                    backoff.reset();
                }
                Err(error) => {
                    self.shared.note(
                        NoteLevel::Warning,
                        "bus.disconnected",
                        format!("PostgreSQL bus: cannot connect to publish, retrying: {}", reason(&error)),
                    );
                    return None;
                }
            }
        }
        link.as_ref()
    }

    /// Writes a batch (one multi-row `INSERT`), reconnecting and retrying until it is stored or
    /// its deadlines pass.
    async fn write(&self, link: &mut Option<Link>, backoff: &mut Backoff, mut batch: Vec<Pending>) {
        loop {
            batch = writer::drop_expired(batch, &self.shared, "PostgreSQL");
            if batch.is_empty() {
                return;
            }
            let Some(connected) = self.ensure(link, backoff).await else {
                tokio::time::sleep(backoff.next_delay()).await;
                continue;
            };
            let payloads: Vec<&str> = batch.iter().map(|pending| pending.payload.as_str()).collect();
            let inserted = match connected.statement(&self.insert).await {
                Ok(insert) => connected.client.execute(&insert, &[&payloads]).await,
                Err(error) => Err(error),
            };
            match inserted {
                Ok(_) => return writer::stored(batch, &self.shared),
                Err(error) => {
                    *link = None;
                    writer::write_failed(&self.shared, "PostgreSQL", reason(&error));
                    tokio::time::sleep(backoff.next_delay()).await;
                }
            }
        }
    }
}

/// Follows the table (see the module's documentation) and delivers each event once.
struct Reader {
    config: tokio_postgres::Config,
    query: String,
    listen: String,
    shared: Arc<Shared>,
    /// The highest id read.
    max_id: i64,
    /// What the last look could not see: rows at or below `max_id` can only come from the
    /// transactions running then, or from those with an `xid` from `unseen_from` on.
    pending: Vec<String>,
    unseen_from: String,
    dedup: Dedup,
    last_read: Instant,
    retention: Duration,
    wake: Arc<Notify>,
}

impl Reader {
    async fn run(mut self, link: Link) {
        let mut link = Some(link);
        let mut backoff = Backoff::default();
        loop {
            let Some(live) = link.as_ref().filter(|live| !live.is_lost()) else {
                if link.take().is_some() {
                    self.shared.status.reader(false);
                    self.shared.note(
                        NoteLevel::Warning,
                        "bus.disconnected",
                        format!(
                            "PostgreSQL bus: the reading connection dropped after event {}, reconnecting",
                            self.max_id
                        ),
                    );
                }
                match self.reconnect().await {
                    Ok(fresh) => {
                        link = Some(fresh);
                        backoff.reset();
                    }
                    Err(_) => tokio::time::sleep(backoff.next_delay()).await,
                }
                continue;
            };
            match self.read_all(live).await {
                Ok(()) => self.wake.notified().await,
                Err(_) => {
                    // The driver sees the connection end too; make sure the next turn notices.
                    if let Some(live) = link.as_ref() {
                        live.lost.store(true, Ordering::SeqCst);
                    }
                }
            }
        }
    }

    async fn reconnect(&mut self) -> Result<Link, tokio_postgres::Error> {
        let fresh = Link::open(&self.config, self.wake.clone()).await?;
        fresh.client.batch_execute(&self.listen).await?;
        if self.last_read.elapsed() > self.retention {
            self.shared.status.gap();
            self.shared.note(
                NoteLevel::Error,
                "bus.gap",
                format!(
                    "PostgreSQL bus: cut off for longer than the retention ({} s): events after {} may have been \
                     pruned before this process read them",
                    self.retention.as_secs_f64(),
                    self.max_id
                ),
            );
        }
        self.shared.status.reader(true);
        self.shared.status.reconnected();
        self.shared.note(
            NoteLevel::Info,
            "bus.reconnected",
            format!("PostgreSQL bus: reading again after event {}", self.max_id),
        );
        // Whatever was published while it was away is read now, without waiting for a notification.
        self.wake.notify_one();
        Ok(fresh)
    }

    /// Reads until no row is left.
    async fn read_all(&mut self, link: &Link) -> Result<(), tokio_postgres::Error> {
        let query = link.statement(&self.query).await?;
        loop {
            let rows = link.client.query(&query, &[&self.max_id, &self.pending, &self.unseen_from]).await?;
            self.last_read = Instant::now();
            let mut read = 0;
            for row in &rows {
                let Some(id) = row.get::<_, Option<i64>>(0) else { continue };
                if !row.get::<_, bool>(5) {
                    read += 1;
                }
                let text: Option<String> = row.get(1);
                match text.as_deref().map(|text| envelope::decode(text.as_bytes())) {
                    Some(Ok(envelope)) => self.shared.deliver(&mut self.dedup, envelope),
                    Some(Err(_)) | None => self.shared.status.malformed(),
                }
                if let Some(age) = row.get::<_, Option<f64>>(2) {
                    self.shared.status.lag(age);
                }
                self.max_id = self.max_id.max(id);
            }
            if let Some(row) = rows.first() {
                self.pending = row.get(3);
                self.unseen_from = row.get(4);
            }
            if read < BATCH {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_validated_and_quoted() {
        assert_eq!(TableName::parse("events").unwrap().quoted(), "\"events\"");
        assert_eq!(TableName::parse("app.events").unwrap().quoted(), "\"app\".\"events\"");
        assert_eq!(TableName::parse("app.events").unwrap().sibling("notify"), "\"app\".\"events_notify\"");
        for bad in ["", "1a", "a-b", "a.b.c", "a;drop", "\"x\""] {
            assert!(TableName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn change_trigger_sql_is_checked() {
        let sql = change_trigger_sql("fraiseql_events", "orders", "order:{id}", &["insert", "UPDATE"]).unwrap();
        assert!(sql.contains("AFTER INSERT OR UPDATE ON \"orders\""), "{sql}");
        assert!(sql.contains("\"fraiseql_events_publish_change\"('order:{id}')"), "{sql}");
        assert!(change_trigger_sql("e", "t", "it's", &["DELETE"]).unwrap().contains("'it''s'"));
        assert!(change_trigger_sql("e", "t", "c", &["TRUNCATE"]).is_err());
        assert!(change_trigger_sql("e", "t", "c", &[]).is_err());
        assert!(change_trigger_sql("e", "t; drop", "c", &["INSERT"]).is_err());
    }
}
