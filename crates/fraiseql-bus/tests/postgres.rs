//! The PostgreSQL bus against a real server (`postgresql://127.0.0.1:5432/test`, or
//! `FRAISEQL_TEST_POSTGRES_URL`). Each test uses a table of its own.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{assert_complete_and_ordered, event, unique, wait_until, Recorder};
use fraiseql_bus::{change_trigger_sql, Bus, BusConfig, BusError, BusOptions, BusState, PostgresConfig};
use serde_json::json;

fn postgres_url() -> String {
    std::env::var("FRAISEQL_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgresql://127.0.0.1:5432/test".to_owned())
}

fn config(table: &str) -> BusConfig {
    BusConfig::Postgres(PostgresConfig {
        dsn: postgres_url(),
        table: table.to_owned(),
        retention: Duration::from_secs(3600),
    })
}

fn start(table: &str) -> (Bus, Arc<Recorder>) {
    let recorder = Recorder::new();
    let bus = Bus::start(config(table), BusOptions::default(), recorder.clone()).expect("the bus starts");
    (bus, recorder)
}

/// A plain client for what the test itself does to the database, on a runtime of the test's own.
struct Admin {
    runtime: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

impl Admin {
    fn connect() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let client = runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&postgres_url(), tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(connection);
            client
        });
        Self { runtime, client }
    }

    fn execute(&self, sql: &str) {
        self.runtime.block_on(self.client.batch_execute(sql)).unwrap_or_else(|error| panic!("{sql}: {error}"));
    }

    fn count(&self, sql: &str) -> i64 {
        self.runtime.block_on(self.client.query_one(sql, &[])).unwrap().get(0)
    }
}

#[test]
fn processes_share_events_each_publisher_in_order_without_duplicates() {
    let table = unique("fraiseql_share");
    let (first, first_seen) = start(&table);
    let (second, second_seen) = start(&table);
    std::thread::scope(|scope| {
        for (bus, who) in [(&first, "a"), (&second, "b")] {
            scope.spawn(move || {
                for n in 0..1000 {
                    bus.publish_blocking(event(who, n)).unwrap();
                }
            });
        }
    });
    for seen in [&first_seen, &second_seen] {
        assert_complete_and_ordered(&seen.wait_for(2000), &["a", "b"], 1000);
    }
    assert_eq!(first.metrics().state, BusState::Connected);
    Admin::connect().execute(&format!("DROP TABLE \"{table}\" CASCADE"));
}

#[test]
fn a_payload_larger_than_notify_allows_goes_through_the_table() {
    let table = unique("fraiseql_large");
    let (bus, seen) = start(&table);
    let mut large = event("big", 0);
    large.data = json!({"who": "big", "n": 0, "blob": "x".repeat(100_000)});
    bus.publish_blocking(large.clone()).unwrap();
    assert_eq!(seen.events(), vec![large]);
    Admin::connect().execute(&format!("DROP TABLE \"{table}\" CASCADE"));
}

#[test]
fn a_row_committed_after_later_rows_is_not_skipped() {
    let table = unique("fraiseql_late");
    let (bus, seen) = start(&table);
    let admin = Admin::connect();
    // This transaction takes an id now and commits after rows with higher ids were read.
    admin.execute(&format!(
        "BEGIN; INSERT INTO \"{table}\" (event) VALUES ('{{\"c\":\"room:lobby\",\"d\":{{\"who\":\"late\",\"n\":0}}}}')"
    ));
    for n in 0..10 {
        bus.publish_blocking(event("early", n)).unwrap();
    }
    assert_eq!(seen.events().len(), 10, "the open transaction's row is not visible yet");
    admin.execute("COMMIT");
    let events = seen.wait_for(11);
    assert_eq!(events.last().unwrap().data["who"], "late");
    bus.publish_blocking(event("early", 10)).unwrap();
    assert_eq!(seen.wait_for(12).len(), 12, "and nothing is read twice");
    admin.execute(&format!("DROP TABLE \"{table}\" CASCADE"));
}

#[test]
fn a_terminated_reader_resumes_where_it_stopped() {
    let table = unique("fraiseql_kill");
    let (publisher, _) = start(&table);
    let (reader, seen) = start(&table);
    let admin = Admin::connect();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for n in 0..2000 {
                publisher.publish_blocking(event("p", n)).unwrap();
            }
        });
        wait_until("some events to arrive", || seen.events().len() >= 200);
        let killed = admin.count(&format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'fraiseql-read-{}'",
            reader.id()
        ));
        assert_eq!(killed, 1);
    });
    assert_complete_and_ordered(&seen.wait_for(2000), &["p"], 2000);
    assert!(reader.metrics().reconnects >= 1);
    assert!(seen.notes().contains(&"bus.reconnected"));
    admin.execute(&format!("DROP TABLE \"{table}\" CASCADE"));
}

#[test]
fn a_change_trigger_publishes_what_plain_sql_writes() {
    let table = unique("fraiseql_changes");
    let orders = unique("orders");
    let (bus, seen) = start(&table);
    let admin = Admin::connect();
    admin.execute(&format!("CREATE TABLE \"{orders}\" (id int PRIMARY KEY, status text, tenant_id text)"));
    bus.execute(change_trigger_sql(&table, &orders, "order:{id}", &["INSERT", "UPDATE", "DELETE"]).unwrap()).unwrap();
    admin.execute(&format!("INSERT INTO \"{orders}\" VALUES (7, 'new', 't1')"));
    admin.execute(&format!("UPDATE \"{orders}\" SET status = 'paid' WHERE id = 7"));
    admin.execute(&format!("DELETE FROM \"{orders}\" WHERE id = 7"));
    let events = seen.wait_for(3);
    let summary: Vec<(String, String, serde_json::Value)> =
        events.iter().map(|e| (e.event_type.clone(), e.channel.clone(), e.data["status"].clone())).collect();
    assert_eq!(
        summary,
        [
            ("INSERT".to_owned(), "order:7".to_owned(), json!("new")),
            ("UPDATE".to_owned(), "order:7".to_owned(), json!("paid")),
            ("DELETE".to_owned(), "order:7".to_owned(), json!("paid")),
        ]
    );
    assert_eq!(events[0].data["tenant_id"], "t1");
    admin.execute(&format!("DROP TABLE \"{orders}\"; DROP TABLE \"{table}\" CASCADE"));
}

#[test]
fn old_events_are_pruned_after_the_retention() {
    let table = unique("fraiseql_prune");
    let recorder = Recorder::new();
    let pg = PostgresConfig { dsn: postgres_url(), table: table.clone(), retention: Duration::from_secs(1) };
    let bus = Bus::start(BusConfig::Postgres(pg), BusOptions::default(), recorder).unwrap();
    bus.publish_blocking(event("old", 0)).unwrap();
    let admin = Admin::connect();
    assert_eq!(admin.count(&format!("SELECT count(*) FROM \"{table}\"")), 1);
    wait_until("the event to be pruned", || admin.count(&format!("SELECT count(*) FROM \"{table}\"")) == 0);
    drop(bus);
    admin.execute(&format!("DROP TABLE \"{table}\" CASCADE"));
}

#[test]
fn start_up_errors_are_clear() {
    let recorder = Recorder::new();
    let start = |dsn: String| {
        let pg = PostgresConfig { dsn, table: "fraiseql_never".to_owned(), retention: Duration::from_secs(60) };
        Bus::start(BusConfig::Postgres(pg), BusOptions::default(), recorder.clone()).map(|_| ())
    };
    let Err(BusError::Connect(message)) = start("postgresql://127.0.0.1:1/test".to_owned()) else { panic!() };
    assert!(message.to_lowercase().contains("refused"), "{message}");
    let Err(BusError::Connect(message)) = start("postgresql://127.0.0.1:5432/fraiseql_no_such_db".to_owned()) else {
        panic!()
    };
    assert!(message.contains("does not exist"), "{message}");
    let Err(BusError::Connect(message)) = start("postgresql://nobody:secret@127.0.0.1:5432/test".to_owned()) else {
        panic!()
    };
    assert!(message.contains("nobody") && !message.contains("secret"), "{message}");
    let refused = start(format!("{}?sslmode=require", postgres_url()));
    assert!(matches!(refused, Err(BusError::Config(ref m)) if m.contains("TLS")), "{refused:?}");
    let bad_table = Bus::start(
        BusConfig::Postgres(PostgresConfig {
            dsn: postgres_url(),
            table: "x; drop".into(),
            retention: Duration::from_secs(1),
        }),
        BusOptions::default(),
        recorder,
    );
    assert!(matches!(bad_table, Err(BusError::Config(_))));
}

#[test]
fn publishes_started_without_waiting_keep_the_caller_s_order() {
    let table = unique("fraiseql_order");
    let (publisher, _) = start(&table);
    let (_reader, seen) = start(&table);
    let (done, finished) = std::sync::mpsc::channel();
    for n in 0..2000 {
        let done = done.clone();
        publisher.publish_then(event("o", n), move |outcome| done.send(outcome).unwrap());
    }
    for _ in 0..2000 {
        finished.recv().unwrap().unwrap();
    }
    assert_complete_and_ordered(&seen.wait_for(2000), &["o"], 2000);
    Admin::connect().execute(&format!("DROP TABLE \"{table}\" CASCADE"));
}

#[test]
fn a_terminated_publishing_connection_is_reopened_by_the_next_publish() {
    let table = unique("fraiseql_repub");
    let (bus, seen) = start(&table);
    bus.publish_blocking(event("r", 0)).unwrap();
    let admin = Admin::connect();
    let killed = admin.count(&format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'fraiseql-publish-{}'",
        bus.id()
    ));
    assert_eq!(killed, 1);
    for n in 1..10 {
        bus.publish_blocking(event("r", n)).unwrap();
    }
    assert_complete_and_ordered(&seen.wait_for(10), &["r"], 10);
    assert!(bus.metrics().reconnects >= 1);
    admin.execute(&format!("DROP TABLE \"{table}\" CASCADE"));
}

#[test]
fn a_row_whose_id_was_drawn_before_its_transaction_had_one_is_not_skipped() {
    let table = unique("fraiseql_unseen");
    let (bus, seen) = start(&table);
    let admin = Admin::connect();
    // The id is drawn first; the transaction gets its own id only when it writes the row: a look
    // in between sees neither the row nor a running transaction that could write it.
    bus.publish_blocking(event("early", 0)).unwrap(); // the sequence has logged ahead: nextval needs no xid now
    admin.execute("BEGIN");
    let drawn = admin.count(&format!("SELECT nextval(pg_get_serial_sequence('\"{table}\"', 'id'))"));
    let has_xid = admin.count("SELECT count(pg_current_xact_id_if_assigned())");
    assert_eq!(has_xid, 0, "the transaction has no id yet");
    for n in 1..10 {
        bus.publish_blocking(event("early", n)).unwrap();
    }
    assert_eq!(seen.events().len(), 10);
    admin.execute(&format!(
        "INSERT INTO \"{table}\" (id, event) VALUES ({drawn}, '{{\"c\":\"room:lobby\",\"d\":{{\"who\":\"late\",\"n\":0}}}}'); COMMIT"
    ));
    assert_eq!(seen.wait_for(11).last().unwrap().data["who"], "late");
    bus.publish_blocking(event("early", 10)).unwrap();
    assert_eq!(seen.wait_for(12).len(), 12, "and nothing is read twice");
    admin.execute(&format!("DROP TABLE \"{table}\" CASCADE"));
}
