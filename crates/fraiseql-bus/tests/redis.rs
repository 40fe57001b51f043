//! The Redis bus against a real Redis (127.0.0.1:6379, or `FRAISEQL_TEST_REDIS_URL`), and
//! private `redis-server` processes for outages and TLS.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::{assert_complete_and_ordered, event, unique, wait_until, Recorder};
use fraiseql_bus::{Bus, BusConfig, BusError, BusOptions, BusState, RedisConfig};

fn redis_url() -> String {
    std::env::var("FRAISEQL_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".to_owned())
}

fn config(url: &str, group: &str) -> BusConfig {
    BusConfig::Redis(RedisConfig { url: url.to_owned(), group: group.to_owned(), max_len: 100_000, tls_ca_file: None })
}

fn start(url: &str, group: &str) -> (Bus, Arc<Recorder>) {
    let recorder = Recorder::new();
    let bus = Bus::start(config(url, group), BusOptions::default(), recorder.clone()).expect("the bus starts");
    (bus, recorder)
}

/// A plain connection for what the test itself does to Redis.
fn admin(url: &str) -> redis::Connection {
    redis::Client::open(url).unwrap().get_connection().unwrap()
}

/// Kills the connections whose name starts with `prefix` (`CLIENT KILL`); returns how many.
fn kill_clients(url: &str, prefix: &str) -> usize {
    let mut connection = admin(url);
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut connection).unwrap();
    let ids: Vec<String> = list
        .lines()
        .filter(|line| {
            line.split(' ').any(|field| field.strip_prefix("name=").is_some_and(|name| name.starts_with(prefix)))
        })
        .filter_map(|line| line.split(' ').find_map(|field| field.strip_prefix("id=")).map(str::to_owned))
        .collect();
    for id in &ids {
        let _: redis::Value = redis::cmd("CLIENT").arg("KILL").arg("ID").arg(id).query(&mut connection).unwrap();
    }
    ids.len()
}

#[test]
fn processes_share_events_each_publisher_in_order_without_duplicates() {
    let group = unique("share");
    let (first, first_seen) = start(&redis_url(), &group);
    let (second, second_seen) = start(&redis_url(), &group);
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
    assert_eq!(first.metrics().events_published, 1000);
    assert_eq!(second.metrics().events_received, 2000);
    assert_eq!(first.metrics().state, BusState::Connected);
}

#[test]
fn a_publish_returns_once_this_process_dispatched_it() {
    let (bus, seen) = start(&redis_url(), &unique("local"));
    for n in 0..50 {
        bus.publish_blocking(event("me", n)).unwrap();
        assert_eq!(seen.events().len(), n + 1, "dispatched here before publish returned");
    }
}

#[test]
fn groups_do_not_share_events() {
    let (mine, _) = start(&redis_url(), &unique("mine"));
    let (theirs, theirs_seen) = start(&redis_url(), &unique("theirs"));
    mine.publish_blocking(event("me", 0)).unwrap();
    // Read in order: had the groups shared a stream, "me" would come before this marker.
    theirs.publish_blocking(event("marker", 0)).unwrap();
    let seen = theirs_seen.wait_for(1);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].data["who"], "marker");
}

#[test]
fn a_killed_reader_resumes_where_it_stopped() {
    let group = unique("kill");
    let (publisher, _) = start(&redis_url(), &group);
    let (reader, seen) = start(&redis_url(), &group);
    let name = format!("fraiseql-read-{}", reader.id());
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for n in 0..2000 {
                publisher.publish_blocking(event("p", n)).unwrap();
            }
        });
        wait_until("some events to arrive", || seen.events().len() >= 200);
        assert_eq!(kill_clients(&redis_url(), &name), 1);
    });
    assert_complete_and_ordered(&seen.wait_for(2000), &["p"], 2000);
    assert!(reader.metrics().reconnects >= 1);
    let notes = seen.notes();
    assert!(notes.contains(&"bus.disconnected") && notes.contains(&"bus.reconnected"), "{notes:?}");
}

#[test]
fn start_up_errors_are_clear_and_hide_the_password() {
    let recorder = Recorder::new();
    let refused = Bus::start(config("redis://:hunter2@127.0.0.1:1/0", "g"), BusOptions::default(), recorder.clone());
    let Err(BusError::Connect(message)) = refused else { panic!("expected a connection error") };
    assert!(message.contains("refused"), "{message}");
    assert!(message.contains("redis://:***@127.0.0.1:1/0") && !message.contains("hunter2"), "{message}");

    let group = unique("acl");
    let user = unique("fraiseql_user");
    let mut connection = admin(&redis_url());
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg(&user)
        .arg("on")
        .arg(">right")
        .arg("~*")
        .arg("+@all")
        .query(&mut connection)
        .unwrap();
    let wrong = format!("redis://{user}:wrong@127.0.0.1:6379/0");
    let Err(BusError::Connect(message)) = Bus::start(config(&wrong, &group), BusOptions::default(), recorder.clone())
    else {
        panic!("expected a connection error")
    };
    assert!(message.to_lowercase().contains("password"), "{message}");
    assert!(!message.contains(":wrong@"), "{message}");
    let right = format!("redis://{user}:right@127.0.0.1:6379/0");
    let bus =
        Bus::start(config(&right, &group), BusOptions::default(), recorder.clone()).expect("the right password works");
    bus.publish_blocking(event("acl", 0)).unwrap();
    let _: () = redis::cmd("ACL").arg("DELUSER").arg(&user).query(&mut connection).unwrap();

    let invalid = Bus::start(config("http://nope", "g"), BusOptions::default(), recorder);
    assert!(matches!(invalid, Err(BusError::Config(_))), "{invalid:?}");
}

/// A `redis-server` of the test's own on a free port (killed when dropped).
struct PrivateRedis {
    child: Child,
    port: u16,
}

impl PrivateRedis {
    fn start(port: u16, extra: &[&str]) -> Self {
        let port_text = port.to_string();
        let mut args = vec!["--port", &port_text, "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"];
        args.extend_from_slice(extra);
        let child = Command::new("redis-server").args(&args).stdout(Stdio::null()).spawn().expect("redis-server runs");
        let server = Self { child, port };
        wait_until("the private redis-server to listen", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        server
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn during_an_outage_publish_fails_in_bounded_time_then_the_bus_recovers() {
    let port = free_port();
    let server = PrivateRedis::start(port, &[]);
    let recorder = Recorder::new();
    let options = BusOptions { publish_timeout: Duration::from_millis(500), ..BusOptions::default() };
    let bus = Bus::start(config(&server.url(), "outage"), options, recorder.clone()).unwrap();
    bus.publish_blocking(event("o", 0)).unwrap();
    drop(server);
    let failed = bus.publish_blocking(event("o", 1));
    assert!(matches!(failed, Err(BusError::PublishTimeout { .. })), "{failed:?}");
    assert!(failed.unwrap_err().to_string().contains("may still be published"));
    assert_eq!(bus.metrics().publish_timeouts, 1);
    wait_until("the bus to notice", || bus.metrics().state == BusState::Reconnecting);
    let _server = PrivateRedis::start(port, &[]);
    wait_until("a publish to succeed again", || bus.publish_blocking(event("o", 2)).is_ok());
    wait_until("the reader to be back", || bus.metrics().state == BusState::Connected);
    bus.publish_blocking(event("o", 3)).unwrap();
    let numbers: Vec<u64> = recorder.events().iter().map(|event| event.data["n"].as_u64().unwrap()).collect();
    assert_eq!(numbers.first(), Some(&0));
    assert_eq!(numbers.last(), Some(&3));
}

#[test]
fn events_trimmed_while_a_reader_was_away_are_reported_as_a_gap() {
    let group = unique("gap");
    let user = unique("fraiseql_gap");
    let mut connection = admin(&redis_url());
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg(&user)
        .arg("on")
        .arg(">pw")
        .arg("~*")
        .arg("+@all")
        .query(&mut connection)
        .unwrap();
    let url = format!("redis://{user}:pw@127.0.0.1:6379/0");
    let (reader, seen) = start(&url, &group);
    let (publisher, _) = start(&redis_url(), &group);
    publisher.publish_blocking(event("g", 0)).unwrap();
    seen.wait_for(1);
    // The reader cannot log in again until the events it has not read are trimmed.
    let _: () = redis::cmd("ACL").arg("SETUSER").arg(&user).arg("off").query(&mut connection).unwrap();
    assert_eq!(kill_clients(&redis_url(), &format!("fraiseql-read-{}", reader.id())), 1);
    for n in 1..20 {
        publisher.publish_blocking(event("g", n)).unwrap();
    }
    let key = format!("fraiseql:{group}:events");
    let _: i64 = redis::cmd("XTRIM").arg(&key).arg("MAXLEN").arg(0).query(&mut connection).unwrap();
    let _: () = redis::cmd("ACL").arg("SETUSER").arg(&user).arg("on").query(&mut connection).unwrap();
    wait_until("the gap to be reported", || reader.metrics().gaps == 1);
    assert!(seen.notes().contains(&"bus.gap"));
    publisher.publish_blocking(event("g", 20)).unwrap();
    let last = seen.wait_for(2).last().cloned().unwrap();
    assert_eq!(last.data["n"], 20, "reading goes on after the gap");
    let _: () = redis::cmd("ACL").arg("DELUSER").arg(&user).query(&mut connection).unwrap();
}

#[test]
fn rediss_with_a_private_certificate_authority() {
    let dir = std::env::temp_dir().join(unique("fraiseql_tls"));
    std::fs::create_dir_all(&dir).unwrap();
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl").args(args).current_dir(&dir).stderr(Stdio::null()).status();
        assert!(status.is_ok_and(|status| status.success()), "openssl {args:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(dir.join("ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext",
    ]);
    let port = free_port();
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let (cert, key, ca) = (path("server.crt"), path("server.key"), path("ca.crt"));
    let plain_port = free_port().to_string();
    let port_text = port.to_string();
    let _server = PrivateRedis::start(
        plain_port.parse().unwrap(),
        &[
            "--tls-port",
            &port_text,
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca,
            "--tls-auth-clients",
            "no",
        ],
    );
    wait_until("the TLS port to listen", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    let url = format!("rediss://localhost:{port}/0");
    let recorder = Recorder::new();
    let untrusted = Bus::start(config(&url, "tls"), BusOptions::default(), recorder.clone());
    let Err(BusError::Connect(message)) = untrusted else { panic!("a certificate of an unknown CA is refused") };
    assert!(message.to_lowercase().contains("certificate"), "{message}");
    let trusted = RedisConfig { url, group: "tls".to_owned(), max_len: 1000, tls_ca_file: Some(dir.join("ca.crt")) };
    let bus = Bus::start(BusConfig::Redis(trusted), BusOptions::default(), recorder.clone()).expect("TLS with the CA");
    bus.publish_blocking(event("tls", 0)).unwrap();
    assert_eq!(recorder.events().len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn publishes_started_without_waiting_keep_the_caller_s_order() {
    let group = unique("order");
    let (publisher, _) = start(&redis_url(), &group);
    let (_reader, seen) = start(&redis_url(), &group);
    let (done, finished) = std::sync::mpsc::channel();
    for n in 0..2000 {
        let done = done.clone();
        publisher.publish_then(event("o", n), move |outcome| done.send(outcome).unwrap());
    }
    for _ in 0..2000 {
        finished.recv().unwrap().unwrap();
    }
    assert_complete_and_ordered(&seen.wait_for(2000), &["o"], 2000);
}
