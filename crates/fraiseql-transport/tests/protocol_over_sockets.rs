//! The graphql-transport-ws rules, over real loopback sockets, against a fake host that
//! registers subscriptions in a real engine.

mod common;

use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use common::{test_config, Client, TestServer, MESSAGES};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Error as WsError;

#[tokio::test]
async fn the_handshake_selects_graphql_transport_ws() {
    let server = TestServer::start(test_config()).await;
    let request = server.url("/graphql").into_client_request().unwrap();
    let mut request = request;
    request.headers_mut().insert("sec-websocket-protocol", "graphql-ws, graphql-transport-ws".parse().unwrap());
    let stream = common::tcp_to(&server.url("/graphql"), None).await;
    let (_socket, response) = tokio_tungstenite::client_async(request, stream).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "graphql-transport-ws");
}

#[tokio::test]
async fn a_client_offering_no_subprotocol_is_served() {
    let server = TestServer::start(test_config()).await;
    let mut client = Client::connect(&server.url("/graphql"), &[]).await;
    client.send(json!({"type": "connection_init"})).await;
    assert_eq!(client.receive().await, json!({"type": "connection_ack"}));
}

#[tokio::test]
async fn other_subprotocols_only_are_accepted_then_closed_4406() {
    let server = TestServer::start(test_config()).await;
    // By hand: a client library refuses an answer without the subprotocol it offered.
    let (mut tcp, head) = common::raw_upgrade(&server.url("/graphql"), "graphql-ws").await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(!head.to_ascii_lowercase().contains("sec-websocket-protocol"), "{head}");
    assert_eq!(common::raw_close_frame(&mut tcp).await, (4406, "Subprotocol not acceptable".into()));
    server.wait_until_empty().await;
}

#[tokio::test]
async fn the_upgrade_answer_names_its_headers_in_their_usual_case() {
    let server = TestServer::start(test_config()).await;
    // gql reads the selected subprotocol as `Sec-WebSocket-Protocol`, case and all.
    let (_tcp, head) = common::raw_upgrade(&server.url("/graphql"), "graphql-ws, graphql-transport-ws").await;
    assert!(head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{head}");
    assert!(head.contains("\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n"), "{head}");
    // RFC 6455's example key and its accept value.
    assert!(head.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), "{head}");
}

#[tokio::test]
async fn requests_that_are_no_websocket_upgrade_get_an_http_answer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start(test_config()).await;
    let url = server.url("/graphql");
    for (request, status) in [
        ("GET /graphql HTTP/1.1\r\nHost: x\r\n\r\n", "426"),
        ("POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", "400"),
        (
            "GET /graphql HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n",
            "400",
        ),
        (
            "GET /graphql HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            "426",
        ),
        ("NOT HTTP\r\n\r\n", "400"),
    ] {
        let mut tcp = common::tcp_to(&url, None).await;
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(common::PATIENCE, tcp.read_to_end(&mut answer)).await.unwrap().unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with(&format!("HTTP/1.1 {status} ")), "{request:?} -> {answer}");
    }
    server.wait_until_empty().await;
}

#[tokio::test]
async fn another_path_is_404() {
    let server = TestServer::start(test_config()).await;
    let refused = Client::try_connect(&server.url("/elsewhere"), &["graphql-transport-ws"], None).await;
    match refused {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 404),
        Err(other) => panic!("expected 404, got {other:?}"),
        Ok(_) => panic!("expected 404, got a WebSocket"),
    }
    server.wait_until_empty().await;
}

#[tokio::test]
async fn init_ack_with_payload_and_ping_pong() {
    let server = TestServer::start(test_config()).await;
    let mut client = server.client().await;
    client.send(json!({"type": "connection_init", "payload": {"ack": {"hello": "ann"}}})).await;
    assert_eq!(client.receive().await, json!({"type": "connection_ack", "payload": {"hello": "ann"}}));
    client.send(json!({"type": "ping", "payload": {"n": 1}})).await;
    assert_eq!(client.receive().await, json!({"type": "pong", "payload": {"n": 1}}));
    client.send(json!({"type": "ping"})).await;
    assert_eq!(client.receive().await, json!({"type": "pong"}));
    client.send(json!({"type": "pong"})).await;
    assert!(client.round_trip().await.is_empty(), "a pong gets no answer");
}

#[tokio::test]
async fn published_events_arrive_as_next_frames_in_order() {
    let server = TestServer::start(test_config()).await;
    let mut client = server.ready_client().await;
    client.subscribe("s1", MESSAGES).await;
    client.round_trip().await;
    for n in 0..200 {
        server.publish("messageAdded", json!({"id": n, "text": format!("m{n}"), "secret": "x"}));
    }
    for n in 0..200 {
        let frame = client.receive().await;
        let expected = json!({"id": "s1", "type": "next", "payload": {"data": {"messageAdded": {"id": n, "text": format!("m{n}")}}}});
        assert_eq!(frame, expected);
    }
    assert!(server.handle.stats().frames_sent >= 200);
}

#[tokio::test]
async fn frames_waiting_together_leave_in_one_write() {
    let server = TestServer::start(test_config()).await;
    let mut client = server.ready_client().await;
    client.subscribe("s1", MESSAGES).await;
    client.round_trip().await;
    let before = server.handle.stats();
    // One runtime thread: all 100 are queued before the connection's task runs again.
    for n in 0..100 {
        server.publish("messageAdded", json!({"id": n, "text": "t"}));
    }
    for _ in 0..100 {
        client.receive().await;
    }
    let after = server.handle.stats();
    assert_eq!(after.frames_sent - before.frames_sent, 100);
    assert_eq!(after.frame_writes - before.frame_writes, 1, "{after:?}");
}

#[tokio::test]
async fn complete_stops_the_stream_and_frees_it() {
    let server = TestServer::start(test_config()).await;
    let mut client = server.ready_client().await;
    client.subscribe("s1", MESSAGES).await;
    client.round_trip().await;
    assert_eq!(server.engine().metrics().active_subscriptions, 1);
    client.send(json!({"type": "complete", "id": "s1"})).await;
    client.send(json!({"type": "complete", "id": "unknown"})).await;
    assert!(client.round_trip().await.is_empty(), "nothing is sent back for a complete");
    assert_eq!(server.engine().metrics().active_subscriptions, 0);
    assert_eq!(server.host.completed.load(SeqCst), 1);
    server.publish("messageAdded", json!({"id": 1, "text": "late"}));
    assert!(client.round_trip().await.is_empty(), "a completed subscription gets nothing");
    client.subscribe("s1", MESSAGES).await;
    client.round_trip().await;
    server.publish("messageAdded", json!({"id": 2, "text": "again"}));
    assert_eq!(client.receive().await["payload"]["data"]["messageAdded"]["id"], 2, "the id was reused");
}

#[tokio::test]
async fn an_invalid_document_gets_an_error_message_and_the_socket_stays_open() {
    let server = TestServer::start(test_config()).await;
    let mut client = server.ready_client().await;
    client.subscribe("bad", "subscription { ").await;
    let error = client.receive().await;
    assert_eq!(error["id"], "bad");
    assert_eq!(error["type"], "error");
    assert!(error["payload"][0]["message"].is_string(), "{error}");
    assert!(client.round_trip().await.is_empty(), "no complete after an error");
    client.subscribe("bad", MESSAGES).await;
    assert!(client.round_trip().await.is_empty(), "the id is free again");
}

#[tokio::test]
async fn too_many_subscriptions_get_an_error_and_the_connection_goes_on() {
    let mut config = test_config();
    config.protocol.max_subscriptions_per_connection = 1;
    let server = TestServer::start(config).await;
    let mut client = server.ready_client().await;
    client.subscribe("1", MESSAGES).await;
    client.subscribe("2", MESSAGES).await;
    let error = client.receive().await;
    assert_eq!(error["id"], "2");
    assert_eq!(error["payload"][0]["extensions"]["code"], "TOO_MANY_SUBSCRIPTIONS");
    server.publish("messageAdded", json!({"id": 1, "text": "still here"}));
    assert_eq!(client.receive().await["id"], "1");
}

#[tokio::test]
async fn a_duplicate_id_closes_4409() {
    let server = TestServer::start(test_config()).await;
    let mut client = server.ready_client().await;
    client.subscribe("s1", MESSAGES).await;
    client.subscribe("s1", MESSAGES).await;
    assert_eq!(client.closed().await, (4409, "Subscriber for s1 already exists".into()));
    server.wait_until_empty().await;
}

#[tokio::test]
async fn subscribe_before_ack_closes_4401() {
    let server = TestServer::start(test_config()).await;
    let mut client = server.client().await;
    client.subscribe("s1", MESSAGES).await;
    assert_eq!(client.closed().await, (4401, "Unauthorized".into()));

    let mut client = server.client().await;
    client.send(json!({"type": "connection_init", "payload": {"delay_ms": 300}})).await;
    client.subscribe("s1", MESSAGES).await;
    assert_eq!(client.closed().await, (4401, "Unauthorized".into()), "while on_connect runs");
    server.wait_until_empty().await;
}

#[tokio::test]
async fn a_second_init_closes_4429() {
    let server = TestServer::start(test_config()).await;
    let mut client = server.client().await;
    client.send(json!({"type": "connection_init", "payload": {"delay_ms": 300}})).await;
    client.send(json!({"type": "connection_init"})).await;
    assert_eq!(client.closed().await, (4429, "Too many initialisation requests".into()));
}

#[tokio::test]
async fn invalid_messages_close_4400() {
    let server = TestServer::start(test_config()).await;
    let cases = [
        ("not json", "Invalid message received: not JSON"),
        ("[1]", "Invalid message received: not a JSON object"),
        (r#"{"type":"nope"}"#, "Invalid message received: unknown or missing type"),
        (
            r#"{"type":"subscribe","id":"a","payload":{"query":1}}"#,
            "Invalid message received: \"payload.query\" must be a string",
        ),
    ];
    for (text, reason) in cases {
        let mut client = server.client().await;
        client.send_text(text).await;
        assert_eq!(client.closed().await, (4400, reason.into()), "{text}");
    }
    let mut client = server.client().await;
    client.send_binary(b"{}").await;
    assert_eq!(client.closed().await, (4400, "Binary messages are not supported".into()));
    server.wait_until_empty().await;
}

#[tokio::test]
async fn a_refusal_closes_4403_and_a_host_panic_4500_without_harming_the_server() {
    let server = TestServer::start(test_config()).await;
    let mut client = server.client().await;
    client.send(json!({"type": "connection_init", "payload": {"refuse": "bad token"}})).await;
    assert_eq!(client.closed().await, (4403, "Forbidden: bad token".into()));
    let mut client = server.client().await;
    client.send(json!({"type": "connection_init", "payload": {"panic": true}})).await;
    assert_eq!(client.closed().await, (4500, "Internal server error".into()));
    server.ready_client().await;
}

#[tokio::test]
async fn a_message_over_the_limit_is_refused_1009_from_its_header() {
    let mut config = test_config();
    config.protocol.max_message_size = 1024;
    let server = TestServer::start(config).await;
    let client = server.client().await;
    let mut tcp = client.socket.into_inner();
    // A masked text frame announcing 16 MiB, and not one byte of it: only the header can
    // have been read when the close comes.
    let mut header = vec![0x81, 0x80 | 127];
    header.extend_from_slice(&(16u64 << 20).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    tcp.write_all(&header).await.unwrap();
    assert_eq!(common::raw_close_frame(&mut tcp).await, (1009, "Message larger than 1024 bytes".into()));
    server.wait_until_empty().await;
}

#[tokio::test]
async fn a_text_message_just_under_the_limit_is_read() {
    let mut config = test_config();
    config.protocol.max_message_size = 1024;
    let server = TestServer::start(config).await;
    let mut client = server.client().await;
    let padding = "x".repeat(900);
    client.send(json!({"type": "ping", "payload": {"padding": padding}})).await;
    assert_eq!(client.receive().await["type"], "pong");
}

#[tokio::test]
async fn no_init_in_time_closes_4408() {
    let mut config = test_config();
    config.protocol.connection_init_timeout = Duration::from_millis(200);
    let server = TestServer::start(config).await;
    let mut client = server.client().await;
    assert_eq!(client.closed().await, (4408, "Connection initialisation timeout".into()));
    server.wait_until_empty().await;
}

#[tokio::test]
async fn keepalive_pings_and_closes_4504_when_no_pong_comes() {
    let mut config = test_config();
    config.protocol.keepalive_interval = Some(Duration::from_millis(100));
    config.protocol.keepalive_timeout = Duration::from_millis(300);
    let server = TestServer::start(config).await;
    let mut client = server.ready_client().await;
    for _ in 0..2 {
        assert_eq!(client.receive().await, json!({"type": "ping"}));
        client.send(json!({"type": "pong"})).await;
    }
    assert_eq!(client.receive().await, json!({"type": "ping"}));
    assert_eq!(client.closed().await, (4504, "Keep-alive timeout: no pong".into()));
    server.wait_until_empty().await;
}
