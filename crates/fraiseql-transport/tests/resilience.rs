//! Limits and lifecycle over real sockets: stalled readers, connection limits, handshake
//! timeouts, waves of connections, graceful shutdown. Counts must return to zero.

mod common;

use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use common::{test_config, wait_for, Client, TestServer, MESSAGES, PATIENCE};
use serde_json::json;
use tokio::io::AsyncReadExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_aborted_and_others_go_on() {
    let mut config = test_config();
    config.write_timeout = Duration::from_millis(500);
    let server = TestServer::start(config).await;
    let mut healthy = server.ready_client().await;
    healthy.subscribe("h", "subscription { other { id } }").await;
    healthy.round_trip().await;

    // A small receive buffer, and it never reads again after subscribing.
    let mut stalled =
        Client::try_connect(&server.url("/graphql"), &["graphql-transport-ws"], Some(4096)).await.unwrap();
    stalled.send(json!({"type": "connection_init"})).await;
    assert_eq!(stalled.receive().await["type"], "connection_ack");
    stalled.subscribe("s", MESSAGES).await;
    stalled.round_trip().await;

    let text = "x".repeat(32 * 1024);
    let mut published = 0;
    wait_for("the stalled client aborted", || {
        // Far more than the socket buffers hold; the engine's queue drops the oldest beyond 1000.
        if published < 2000 {
            for _ in 0..50 {
                server.publish("messageAdded", json!({"id": published, "text": text}));
                published += 1;
            }
        }
        server.handle.stats().write_timeouts == 1
    })
    .await;
    wait_for("its engine connection freed", || server.engine().metrics().active_connections == 1).await;
    assert_eq!(server.engine().metrics().active_subscriptions, 1, "only the healthy one is left");

    server.publish("other", json!({"id": 7}));
    assert_eq!(healthy.receive().await["payload"]["data"]["other"]["id"], 7);
    drop(stalled);
    drop(healthy);
    server.wait_until_empty().await;
}

#[tokio::test]
async fn one_connection_over_the_limit_is_closed_1013() {
    let config = common::ServerConfig { max_connections: 1, ..test_config() };
    let server = TestServer::start(config).await;
    let _first = server.ready_client().await;
    let mut second = server.client().await;
    assert_eq!(second.closed().await, (1013, "Try again later: too many connections".into()));
    assert_eq!(server.handle.stats().refused_max_connections, 1);
    drop(_first);
    server.wait_until_empty().await;
    server.ready_client().await;
}

#[tokio::test]
async fn connections_per_address_are_bounded_with_a_503() {
    let config = common::ServerConfig { max_connections_per_address: Some(1), ..test_config() };
    let server = TestServer::start(config).await;
    let first = server.ready_client().await;
    let mut tcp = common::tcp_to(&server.url("/graphql"), None).await;
    let mut answer = String::new();
    tokio::time::timeout(PATIENCE, tcp.read_to_string(&mut answer)).await.unwrap().unwrap();
    assert!(answer.starts_with("HTTP/1.1 503 Service Unavailable"), "{answer}");
    assert!(answer.ends_with("Too many connections from your address"), "{answer}");
    drop(first);
    server.wait_until_empty().await;
    server.ready_client().await;
}

#[tokio::test]
async fn a_silent_tcp_connection_is_closed_after_the_handshake_timeout() {
    let config = common::ServerConfig { handshake_timeout: Duration::from_millis(200), ..test_config() };
    let server = TestServer::start(config).await;
    let mut tcp = common::tcp_to(&server.url("/graphql"), None).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut answer)).await.expect("closed in time");
    assert!(read.is_ok_and(|read| read == 0) || answer.is_empty());
    assert_eq!(server.handle.stats().handshake_timeouts, 1);
    server.wait_until_empty().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waves_of_connections_leave_nothing_behind() {
    let server = TestServer::start(test_config()).await;
    for wave in 0..5 {
        let mut clients = Vec::new();
        for n in 0..40 {
            let mut client = server.ready_client().await;
            client.subscribe(&format!("s{n}"), MESSAGES).await;
            client.subscribe("shared-id", MESSAGES).await;
            clients.push(client);
        }
        for client in &mut clients {
            client.round_trip().await;
        }
        assert_eq!(server.engine().metrics().active_subscriptions, 80, "wave {wave}");
        server.publish("messageAdded", json!({"id": wave, "text": "hi"}));
        for client in &mut clients {
            let first = client.receive().await;
            let second = client.receive().await;
            assert_eq!(first["payload"], second["payload"]);
        }
        // Half close politely, half vanish without a close frame.
        for (n, mut client) in clients.into_iter().enumerate() {
            if n % 2 == 0 {
                let _ = client.socket.close(None).await;
            }
        }
        server.wait_until_empty().await;
    }
    let closed = server.host.closed.load(SeqCst);
    assert_eq!(closed, 200, "the host heard of every connection's end");
    assert_eq!(server.host.closed_with_context.load(SeqCst), 200);
    assert_eq!(server.handle.stats().connection_panics, 0);
}

#[tokio::test]
async fn shutdown_closes_every_connection_with_1001() {
    let server = TestServer::start(test_config()).await;
    let mut clients = Vec::new();
    for n in 0..5 {
        let mut client = server.ready_client().await;
        client.subscribe(&format!("s{n}"), MESSAGES).await;
        client.round_trip().await;
        clients.push(client);
    }
    let silent = server.client().await;
    let common::TestServer { handle, host } = server;
    let shutdown = tokio::spawn(handle.shutdown());
    for client in &mut clients {
        assert_eq!(client.closed().await, (1001, "Going away".into()));
    }
    drop(clients);
    drop(silent);
    tokio::time::timeout(PATIENCE, shutdown).await.expect("shutdown in time").unwrap();
    let metrics = host.engine.metrics();
    assert_eq!((metrics.active_connections, metrics.active_subscriptions), (0, 0));
}
