//! The state machine, input by input, on a synthetic clock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::*;

const SUBSCRIPTION: &str = r#"{"type":"subscribe","id":"a","payload":{"query":"subscription { x }"}}"#;

fn config() -> ProtocolConfig {
    ProtocolConfig {
        connection_init_timeout: Duration::from_secs(3),
        keepalive_interval: Some(Duration::from_secs(15)),
        keepalive_timeout: Duration::from_secs(10),
        max_subscriptions_per_connection: 2,
        max_message_size: 1024,
        max_messages_per_second: None,
        max_subscribes_per_second: None,
        read_while_connecting: true,
    }
}

fn actions(session: &mut Session) -> Vec<Action> {
    std::iter::from_fn(|| session.poll_action()).collect()
}

fn closed_with(session: &mut Session) -> (u16, String) {
    match actions(session).pop() {
        Some(Action::Close { code, reason }) => (code, reason),
        other => panic!("expected a close, got {other:?}"),
    }
}

fn subscribe(id: &str) -> String {
    json!({"type": "subscribe", "id": id, "payload": {"query": "subscription { x }"}}).to_string()
}

/// A session past `connection_ack`, its actions taken.
fn acknowledged(config: ProtocolConfig, now: Instant) -> Session {
    let mut session = Session::new(Arc::new(config), now);
    session.handle_text(r#"{"type":"connection_init"}"#, now);
    assert_eq!(actions(&mut session), [Action::Authenticate { payload: None }]);
    session.connect_decided(ConnectOutcome::Accept { ack_payload: None, expires_in: None }, now);
    assert_eq!(actions(&mut session), [Action::Send(r#"{"type":"connection_ack"}"#.into())]);
    session
}

#[test]
fn init_ack_subscribe_complete() {
    let now = Instant::now();
    let mut session = acknowledged(config(), now);
    assert!(session.is_acknowledged());
    session.handle_text(SUBSCRIPTION, now);
    let subscribe = actions(&mut session);
    assert!(
        matches!(&subscribe[..], [Action::Subscribe { id, payload }] if id == "a" && payload.query == "subscription { x }")
    );
    assert!(!session.wants_input(), "one subscribe at a time");
    session.subscribe_decided("a", Ok(()));
    assert!(session.wants_input());
    session.handle_text(r#"{"type":"complete","id":"a"}"#, now);
    assert_eq!(actions(&mut session), [Action::Complete { id: "a".into() }]);
    session.handle_text(r#"{"type":"complete","id":"a"}"#, now);
    session.handle_text(r#"{"type":"complete","id":"unknown"}"#, now);
    assert!(actions(&mut session).is_empty(), "unknown or finished ids are ignored");
    session.handle_text(SUBSCRIPTION, now);
    assert!(matches!(&actions(&mut session)[..], [Action::Subscribe { .. }]), "an id may be reused");
}

#[test]
fn ack_carries_the_host_payload() {
    let now = Instant::now();
    let mut session = Session::new(Arc::new(config()), now);
    session.handle_text(r#"{"type":"connection_init","payload":{"token":"t"}}"#, now);
    assert_eq!(
        actions(&mut session),
        [Action::Authenticate { payload: Some(crate::protocol::RawJson::new(r#"{"token":"t"}"#)) }]
    );
    session
        .connect_decided(ConnectOutcome::Accept { ack_payload: Some(json!({"user": "ann"})), expires_in: None }, now);
    assert_eq!(actions(&mut session), [Action::Send(r#"{"type":"connection_ack","payload":{"user":"ann"}}"#.into())]);
}

#[test]
fn ping_gets_pong_echoing_its_payload_and_pong_gets_nothing() {
    let now = Instant::now();
    let mut session = Session::new(Arc::new(config()), now);
    session.handle_text(r#"{"type":"ping"}"#, now);
    session.handle_text(r#"{"type":"ping","payload":{"n":1}}"#, now);
    session.handle_text(r#"{"type":"pong"}"#, now);
    assert_eq!(
        actions(&mut session),
        [Action::Send(r#"{"type":"pong"}"#.into()), Action::Send(r#"{"type":"pong","payload":{"n":1}}"#.into())]
    );
}

#[test]
fn subscribe_before_ack_is_unauthorized_even_while_on_connect_runs() {
    let now = Instant::now();
    let mut session = Session::new(Arc::new(config()), now);
    session.handle_text(r#"{"type":"connection_init"}"#, now);
    actions(&mut session);
    session.handle_text(SUBSCRIPTION, now);
    assert_eq!(closed_with(&mut session), (4401, "Unauthorized".into()));
    session.connect_decided(ConnectOutcome::Accept { ack_payload: None, expires_in: None }, now);
    assert!(actions(&mut session).is_empty(), "nothing after the close");
}

#[test]
fn invalid_subscribe_is_a_bad_request_before_it_is_unauthorized() {
    let now = Instant::now();
    let mut session = Session::new(Arc::new(config()), now);
    session.handle_text(r#"{"type":"subscribe","id":"","payload":{"query":"q"}}"#, now);
    assert_eq!(closed_with(&mut session), (4400, "Invalid message received: \"id\" must be a non-empty string".into()));
}

#[test]
fn a_second_init_is_refused_even_while_the_first_is_decided() {
    let now = Instant::now();
    let mut session = Session::new(Arc::new(config()), now);
    session.handle_text(r#"{"type":"connection_init"}"#, now);
    session.handle_text(r#"{"type":"connection_init"}"#, now);
    assert_eq!(closed_with(&mut session), (4429, "Too many initialisation requests".into()));
}

#[test]
fn duplicate_ids_close_4409_and_long_reasons_are_cut() {
    let now = Instant::now();
    let mut session = acknowledged(config(), now);
    session.handle_text(SUBSCRIPTION, now);
    session.subscribe_decided("a", Ok(()));
    actions(&mut session);
    session.handle_text(SUBSCRIPTION, now);
    assert_eq!(closed_with(&mut session), (4409, "Subscriber for a already exists".into()));

    let mut session = acknowledged(config(), now);
    let long_id = "x".repeat(200);
    session.handle_text(&subscribe(&long_id), now);
    session.subscribe_decided(&long_id, Ok(()));
    actions(&mut session);
    session.handle_text(&subscribe(&long_id), now);
    let (code, reason) = closed_with(&mut session);
    assert_eq!(code, 4409);
    assert!(reason.len() <= 123 && reason.ends_with("..."), "{reason}");
}

#[test]
fn over_the_subscription_limit_gets_an_error_and_the_connection_goes_on() {
    let now = Instant::now();
    let mut session = acknowledged(config(), now);
    for id in ["1", "2"] {
        session.handle_text(&subscribe(id), now);
        session.subscribe_decided(id, Ok(()));
    }
    actions(&mut session);
    session.handle_text(&subscribe("3"), now);
    let sent = actions(&mut session);
    let [Action::Report(Cause::SubscriptionsPerConnection { id }), Action::Send(text)] = &sent[..] else {
        panic!("{sent:?}")
    };
    assert_eq!(id, "3", "the report comes first, for the driver's counters and logs");
    let error: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(
        error,
        json!({"id": "3", "type": "error", "payload": [{
            "message": "Too many subscriptions on this connection (the limit is 2).",
            "extensions": {"code": "TOO_MANY_SUBSCRIPTIONS"},
        }]})
    );
    assert!(!session.is_closed());
    session.handle_text(r#"{"type":"complete","id":"1"}"#, now);
    session.handle_text(&subscribe("3"), now);
    assert!(matches!(&actions(&mut session)[..], [Action::Complete { .. }, Action::Subscribe { .. }]));
}

#[test]
fn a_refused_subscribe_gets_the_host_errors_and_frees_its_id() {
    let now = Instant::now();
    let mut session = acknowledged(config(), now);
    session.handle_text(SUBSCRIPTION, now);
    actions(&mut session);
    session.subscribe_decided("a", Err(vec![json!({"message": "Forbidden", "extensions": {"code": "FORBIDDEN"}})]));
    assert_eq!(
        actions(&mut session),
        [Action::Send(
            r#"{"id":"a","type":"error","payload":[{"extensions":{"code":"FORBIDDEN"},"message":"Forbidden"}]}"#.into()
        )]
    );
    assert_eq!(session.active_subscriptions(), 0);
    session.handle_text(SUBSCRIPTION, now);
    assert!(matches!(&actions(&mut session)[..], [Action::Subscribe { .. }]));
}

#[test]
fn completing_a_pending_subscribe_frees_it_once_registered_and_sends_nothing() {
    let now = Instant::now();
    let mut session = acknowledged(config(), now);
    session.handle_text(SUBSCRIPTION, now);
    actions(&mut session);
    session.handle_text(r#"{"type":"complete","id":"a"}"#, now);
    assert!(actions(&mut session).is_empty());
    session.subscribe_decided("a", Ok(()));
    assert_eq!(actions(&mut session), [Action::Complete { id: "a".into() }]);
    assert!(session.wants_input());

    session.handle_text(SUBSCRIPTION, now);
    session.handle_text(r#"{"type":"complete","id":"a"}"#, now);
    actions(&mut session);
    session.subscribe_decided("a", Err(vec![json!({"message": "no"})]));
    assert!(actions(&mut session).is_empty(), "no error for a completed operation");
}

#[test]
fn an_engine_error_frees_the_id() {
    let now = Instant::now();
    let mut session = acknowledged(config(), now);
    session.handle_text(SUBSCRIPTION, now);
    session.subscribe_decided("a", Ok(()));
    session.subscription_ended("a");
    actions(&mut session);
    session.handle_text(SUBSCRIPTION, now);
    assert!(matches!(&actions(&mut session)[..], [Action::Subscribe { .. }]));
}

#[test]
fn host_refusals_and_failures_close() {
    let now = Instant::now();
    let cases = [
        (ConnectOutcome::Refuse { reason: None }, 4403, "Forbidden"),
        (ConnectOutcome::Refuse { reason: Some(String::new()) }, 4403, "Forbidden"),
        (ConnectOutcome::Refuse { reason: Some("bad token".into()) }, 4403, "Forbidden: bad token"),
        (ConnectOutcome::Failed, 4500, "Internal server error"),
        (
            ConnectOutcome::Close { code: 4429, reason: "Too many connections for this user".into() },
            4429,
            "Too many connections for this user",
        ),
        (
            ConnectOutcome::Accept { ack_payload: None, expires_in: Some(Duration::ZERO) },
            4403,
            "Forbidden: credentials expired",
        ),
    ];
    for (outcome, code, reason) in cases {
        let mut session = Session::new(Arc::new(config()), now);
        session.handle_text(r#"{"type":"connection_init"}"#, now);
        actions(&mut session);
        session.connect_decided(outcome.clone(), now);
        assert_eq!(closed_with(&mut session), (code, reason.into()), "{outcome:?}");
    }
}

#[test]
fn init_timeout_closes_4408_unless_init_arrived() {
    let now = Instant::now();
    let mut session = Session::new(Arc::new(config()), now);
    assert_eq!(session.next_deadline(), Some(now + Duration::from_secs(3)));
    session.handle_timeout(now + Duration::from_secs(1));
    assert!(actions(&mut session).is_empty(), "too early: nothing");
    session.handle_timeout(now + Duration::from_secs(3));
    assert_eq!(closed_with(&mut session), (4408, "Connection initialisation timeout".into()));
    assert_eq!(session.next_deadline(), None);

    let mut session = Session::new(Arc::new(config()), now);
    session.handle_text(r#"{"type":"connection_init"}"#, now);
    actions(&mut session);
    assert_eq!(session.next_deadline(), None, "a slow on_connect never triggers it");
    session.handle_timeout(now + Duration::from_secs(60));
    assert!(!session.is_closed());
}

#[test]
fn keepalive_pings_and_closes_4504_without_pong() {
    let now = Instant::now();
    let mut session = acknowledged(config(), now);
    let ping_at = now + Duration::from_secs(15);
    assert_eq!(session.next_deadline(), Some(ping_at));
    session.handle_timeout(ping_at);
    assert_eq!(actions(&mut session), [Action::Send(r#"{"type":"ping"}"#.into())]);
    let answered = ping_at + Duration::from_secs(1);
    session.handle_text(r#"{"type":"pong"}"#, answered);
    assert_eq!(session.next_deadline(), Some(answered + Duration::from_secs(15)), "the next ping");
    session.handle_timeout(answered + Duration::from_secs(15));
    actions(&mut session);
    session.handle_timeout(answered + Duration::from_secs(25));
    assert_eq!(closed_with(&mut session), (4504, "Keep-alive timeout: no pong".into()));
}

#[test]
fn no_keepalive_when_disabled() {
    let now = Instant::now();
    let session = acknowledged(ProtocolConfig { keepalive_interval: None, ..config() }, now);
    assert_eq!(session.next_deadline(), None);
}

#[test]
fn credentials_expire_with_4403() {
    let now = Instant::now();
    let mut session = Session::new(Arc::new(ProtocolConfig { keepalive_interval: None, ..config() }), now);
    session.handle_text(r#"{"type":"connection_init"}"#, now);
    session
        .connect_decided(ConnectOutcome::Accept { ack_payload: None, expires_in: Some(Duration::from_secs(5)) }, now);
    actions(&mut session);
    assert_eq!(session.next_deadline(), Some(now + Duration::from_secs(5)));
    session.handle_timeout(now + Duration::from_secs(5));
    assert_eq!(closed_with(&mut session), (4403, "Forbidden: credentials expired".into()));
}

#[test]
fn size_binary_and_json_checks() {
    let now = Instant::now();
    let mut session = Session::new(Arc::new(config()), now);
    session.handle_text(&format!(r#"{{"type":"ping","payload":{{"x":"{}"}}}}"#, "y".repeat(1024)), now);
    assert_eq!(closed_with(&mut session), (1009, "Message larger than 1024 bytes".into()));

    let mut session = Session::new(Arc::new(config()), now);
    session.handle_binary();
    assert_eq!(closed_with(&mut session), (4400, "Binary messages are not supported".into()));

    let mut session = Session::new(Arc::new(config()), now);
    session.handle_text("not json", now);
    assert_eq!(closed_with(&mut session), (4400, "Invalid message received: not JSON".into()));
    session.handle_text(r#"{"type":"ping"}"#, now);
    assert!(actions(&mut session).is_empty(), "nothing after the close");
}

#[test]
fn message_and_subscribe_rates_close_4429() {
    let now = Instant::now();
    let limited = ProtocolConfig { max_messages_per_second: Some(2.0), ..config() };
    let mut session = Session::new(Arc::new(limited), now);
    for _ in 0..4 {
        session.handle_text(r#"{"type":"ping"}"#, now);
    }
    assert_eq!(actions(&mut session).len(), 4, "a burst of twice the rate");
    session.handle_text(r#"{"type":"ping"}"#, now);
    assert_eq!(closed_with(&mut session), (4429, "Too many messages".into()));

    let limited =
        ProtocolConfig { max_subscribes_per_second: Some(1.0), max_subscriptions_per_connection: 10, ..config() };
    let mut session = acknowledged(limited, now);
    for id in ["1", "2"] {
        session.handle_text(&subscribe(id), now);
        session.subscribe_decided(id, Ok(()));
    }
    session.handle_text(&subscribe("3"), now);
    assert_eq!(closed_with(&mut session), (4429, "Too many subscribe attempts".into()));
}

#[test]
fn shutdown_and_internal_errors() {
    let now = Instant::now();
    let mut session = acknowledged(config(), now);
    session.shutdown();
    session.internal_error();
    assert_eq!(actions(&mut session), [Action::Close { code: 1001, reason: "Going away".into() }], "one close only");
    let mut session = Session::new(Arc::new(config()), now);
    session.internal_error();
    assert_eq!(closed_with(&mut session), (4500, "Internal server error".into()));
}

#[test]
fn reading_can_pause_while_the_host_decides_on_connect() {
    let now = Instant::now();
    let paused = ProtocolConfig { read_while_connecting: false, ..config() };
    let mut session = Session::new(Arc::new(paused), now);
    assert!(session.wants_input());
    session.handle_text(r#"{"type":"connection_init"}"#, now);
    assert!(matches!(actions(&mut session)[..], [Action::Authenticate { .. }]));
    assert!(!session.wants_input(), "nothing is read until the decision");
    session.connect_decided(ConnectOutcome::Accept { ack_payload: None, expires_in: None }, now);
    assert!(session.wants_input());
    // What the client sent meanwhile is read now, acknowledged: a subscribe is accepted.
    session.handle_text(SUBSCRIPTION, now);
    let after = actions(&mut session);
    assert!(matches!(after.last(), Some(Action::Subscribe { .. })), "{after:?}");
}

/// The actions of `session`, reports first: `(causes reported, the close)`.
fn reported_close(session: &mut Session) -> (Vec<&'static str>, Option<u16>) {
    let mut causes = Vec::new();
    let mut close = None;
    for action in actions(session) {
        match action {
            Action::Report(cause) => {
                assert!(close.is_none(), "a report precedes its close");
                causes.push(cause.name());
            }
            Action::Close { code, .. } => close = Some(code),
            _ => {}
        }
    }
    (causes, close)
}

#[test]
fn limits_and_expiry_are_reported_before_their_close() {
    let now = Instant::now();
    let mut session = Session::new(Arc::new(config()), now);
    session.handle_oversized();
    assert_eq!(reported_close(&mut session), (vec!["message_size"], Some(1009)));

    let mut session = Session::new(Arc::new(ProtocolConfig { max_messages_per_second: Some(0.5), ..config() }), now);
    for _ in 0..2 {
        session.handle_text(r#"{"type":"ping"}"#, now);
    }
    assert_eq!(reported_close(&mut session), (vec!["messages_per_second"], Some(4429)));

    let mut session = acknowledged(ProtocolConfig { max_subscribes_per_second: Some(0.5), ..config() }, now);
    session.handle_text(&subscribe("1"), now);
    session.subscribe_decided("1", Ok(()));
    session.handle_text(&subscribe("2"), now);
    assert_eq!(reported_close(&mut session), (vec!["subscribes_per_second"], Some(4429)));

    let mut session = Session::new(Arc::new(config()), now);
    session.handle_text(r#"{"type":"connection_init"}"#, now);
    session.connect_decided(ConnectOutcome::Accept { ack_payload: None, expires_in: Some(Duration::ZERO) }, now);
    assert_eq!(reported_close(&mut session), (vec!["credentials_expired"], Some(4403)));

    let mut session = Session::new(Arc::new(config()), now);
    session.handle_text(r#"{"type":"connection_init"}"#, now);
    let expires_in = Some(Duration::from_secs(1));
    session.connect_decided(ConnectOutcome::Accept { ack_payload: None, expires_in }, now);
    actions(&mut session);
    session.handle_timeout(now + Duration::from_secs(1));
    assert_eq!(reported_close(&mut session), (vec!["credentials_expired"], Some(4403)));

    // Closes no limit stands for are not reported; nothing is reported once closed.
    let mut session = Session::new(Arc::new(config()), now);
    session.handle_binary();
    session.handle_oversized();
    assert_eq!(reported_close(&mut session), (vec![], Some(4400)));
}
