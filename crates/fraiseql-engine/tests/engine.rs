//! The engine through its public API: registry, channel index, visibility, groups, resolver
//! jobs, queues and cleanup.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use fraiseql_engine::{
    ConnectionWaker, Engine, EngineConfig, EngineError, EventScope, OverflowPolicy, Registration, ResolverErrorPolicy,
    ResolverOutcome, SecurityContext, SubscriptionRef, WaitState,
};
use serde_json::{json, Value};

fn ctx(user: Option<&str>, tenant: Option<&str>) -> SecurityContext {
    SecurityContext { user: user.map(Arc::from), tenant: tenant.map(Arc::from) }
}

fn register(engine: &Engine, connection: &str, id: &str, query: &str, context: SecurityContext) {
    engine
        .register(Registration { connection_id: connection, subscription_id: id, query, context, ..Default::default() })
        .unwrap();
}

fn sub<'a>(id: &'a str) -> SubscriptionRef<'a> {
    SubscriptionRef { subscription_id: id, connection_id: None }
}

fn next(engine: &Engine, id: &str) -> Option<Value> {
    engine.next_frame(sub(id)).unwrap().map(|frame| serde_json::from_slice(&frame.to_vec()).unwrap())
}

#[test]
fn seed_example_delivers_exactly_the_selected_fields() {
    let engine = Engine::default();
    register(&engine, "conn1", "sub1", "subscription { users { id } }", ctx(Some("user1"), Some("tenant1")));
    let data = json!({"id": "123", "name": "Alice", "user_id": "user1", "tenant_id": "tenant1"});
    engine.publish("userCreated", "users", data, EventScope::default()).unwrap();
    let frame = engine.next_frame(sub("sub1")).unwrap().unwrap();
    assert_eq!(frame.to_vec(), br#"{"id":"sub1","type":"next","payload":{"data":{"users":{"id":"123"}}}}"#);
    assert!(engine.next_frame(sub("sub1")).unwrap().is_none());
}

#[test]
fn duplicate_ids_are_refused_per_connection_only() {
    let engine = Engine::default();
    register(&engine, "c1", "s", "subscription { a }", ctx(None, None));
    let again = engine.register(Registration {
        connection_id: "c1",
        subscription_id: "s",
        query: "subscription { a }",
        ..Default::default()
    });
    assert!(matches!(again, Err(EngineError::DuplicateSubscription { .. })));
    register(&engine, "c2", "s", "subscription { a }", ctx(None, None));
    assert!(matches!(engine.next_frame(sub("s")), Err(EngineError::AmbiguousSubscription { connections: 2, .. })));
    let on_c2 = SubscriptionRef { subscription_id: "s", connection_id: Some("c2") };
    engine.complete(on_c2).unwrap();
    engine.complete(sub("s")).unwrap();
    register(&engine, "c1", "s", "subscription { a }", ctx(None, None));
}

#[test]
fn publishing_reaches_only_the_channel() {
    let engine = Engine::default();
    register(&engine, "c", "users", "subscription { users { id } }", ctx(None, None));
    register(&engine, "c", "orders", "subscription { orders { id } }", ctx(None, None));
    let outcome = engine.publish("e", "users", json!({"id": 1}), EventScope::default()).unwrap();
    assert_eq!(outcome.frames_queued, 1);
    assert!(next(&engine, "orders").is_none());
    assert_eq!(next(&engine, "users").unwrap()["payload"], json!({"data": {"users": {"id": 1}}}));
}

#[test]
fn channel_override() {
    let engine = Engine::default();
    engine
        .register(Registration {
            connection_id: "c",
            subscription_id: "s",
            query: "subscription { messageAdded { id } }",
            channel: Some("room:1"),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(&*engine.channel_of(sub("s")).unwrap(), "room:1");
    engine.publish("e", "messageAdded", json!({"id": 1}), EventScope::default()).unwrap();
    assert!(next(&engine, "s").is_none());
    engine.publish("e", "room:1", json!({"id": 2}), EventScope::default()).unwrap();
    assert!(next(&engine, "s").is_some());
}

#[test]
fn tenants_and_users_are_filtered_fail_closed() {
    let engine = Engine::default();
    register(&engine, "c1", "t1u1", "subscription { a { id } }", ctx(Some("u1"), Some("t1")));
    register(&engine, "c2", "t1u2", "subscription { a { id } }", ctx(Some("u2"), Some("t1")));
    register(&engine, "c3", "t2u3", "subscription { a { id } }", ctx(Some("u3"), Some("t2")));

    engine.publish("e", "a", json!({"id": 1, "tenant_id": "t1"}), EventScope::default()).unwrap();
    assert!(next(&engine, "t1u1").is_some() && next(&engine, "t1u2").is_some());
    assert!(next(&engine, "t2u3").is_none());

    engine.publish("e", "a", json!({"id": 2}), EventScope::default()).unwrap();
    assert!(next(&engine, "t1u1").is_none(), "no tenant on the event: not delivered to tenants");

    engine.publish("e", "a", json!({"id": 3}), EventScope { global: true, ..Default::default() }).unwrap();
    assert!(next(&engine, "t1u1").is_some() && next(&engine, "t2u3").is_some());

    engine.publish("e", "a", json!({"id": 4, "tenant_id": "t1", "user_id": "u2"}), EventScope::default()).unwrap();
    assert!(next(&engine, "t1u1").is_none());
    assert!(next(&engine, "t1u2").is_some());
    assert!(engine.metrics().events_filtered_out >= 5);
}

#[test]
fn identical_subscriptions_share_one_serialization() {
    let engine = Engine::default();
    for index in 0..50 {
        register(&engine, &format!("c{index}"), &format!("s{index}"), "subscription { a { id } }", ctx(None, None));
    }
    register(&engine, "other", "different", "subscription { a { id name } }", ctx(None, None));
    let before = engine.metrics().payloads_serialized;
    let outcome = engine.publish("e", "a", json!({"id": 1, "name": "n"}), EventScope::default()).unwrap();
    assert_eq!(outcome.frames_queued, 51);
    assert_eq!(engine.metrics().payloads_serialized - before, 2);
    assert_eq!(engine.metrics().active_groups, 2);
}

#[test]
fn resolver_jobs_run_once_per_group_and_deliver_in_publish_order() {
    let engine = Engine::default();
    for index in 0..3 {
        register(&engine, &format!("c{index}"), &format!("s{index}"), "subscription { a { v } }", ctx(None, None));
        engine.set_resolver(sub(&format!("s{index}")), Some(7)).unwrap();
    }
    let first = engine.publish("e", "a", json!({"v": 1}), EventScope::default()).unwrap();
    let second = engine.publish("e", "a", json!({"v": 2}), EventScope::default()).unwrap();
    assert_eq!(first.jobs.len(), 1, "one job for the three identical subscriptions");
    let (first_job, second_job) = (first.jobs.into_iter().next().unwrap(), second.jobs.into_iter().next().unwrap());
    assert_eq!(first_job.resolver, 7);
    second_job.finish(ResolverOutcome::Value(json!({"v": 20, "hidden": 1})));
    assert!(next(&engine, "s0").is_none(), "the later event waits for the earlier one");
    first_job.finish(ResolverOutcome::Value(json!({"v": 10})));
    for index in 0..3 {
        let id = format!("s{index}");
        assert_eq!(next(&engine, &id).unwrap()["payload"]["data"]["a"]["v"], 10);
        assert_eq!(next(&engine, &id).unwrap()["payload"]["data"]["a"], json!({"v": 20}));
    }
    assert_eq!(engine.metrics().resolver_calls, 2);
}

fn ending_streams() -> Engine {
    Engine::new(EngineConfig { resolver_errors: ResolverErrorPolicy::EndStream, ..Default::default() })
}

#[test]
fn failing_resolver_is_a_field_error_of_that_event_only() {
    let engine = Engine::default();
    register(&engine, "c", "s", "subscription { renamed: a { v } }", ctx(None, None));
    engine.set_resolver(sub("s"), Some(1)).unwrap();
    let job = engine.publish("e", "a", json!({"v": 1}), EventScope::default()).unwrap().jobs.pop().unwrap();
    job.finish(ResolverOutcome::failed("boom"));
    let frame = next(&engine, "s").expect("a next frame carrying the error");
    assert_eq!(frame["type"], "next");
    assert_eq!(
        frame["payload"],
        json!({"data": {"renamed": null}, "errors": [{
            "message": "boom",
            "locations": [{"line": 1, "column": 16}],
            "path": ["renamed"],
            "extensions": {"code": "RESOLVER_ERROR"},
        }]})
    );
    let job = engine.publish("e", "a", json!({"v": 2}), EventScope::default()).unwrap().jobs.pop();
    job.expect("the subscription goes on").finish(ResolverOutcome::Value(json!({"v": 2})));
    assert_eq!(next(&engine, "s").unwrap()["payload"], json!({"data": {"renamed": {"v": 2}}}));
    let job = engine.publish("e", "a", json!({"v": 3}), EventScope::default()).unwrap().jobs.pop().unwrap();
    job.finish(ResolverOutcome::TimedOut { seconds: 0.5 });
    let frame = next(&engine, "s").unwrap();
    assert_eq!(frame["payload"]["errors"][0]["extensions"]["code"], "RESOLVER_TIMEOUT");
    let metrics = engine.metrics();
    assert_eq!((metrics.active_subscriptions, metrics.resolver_errors, metrics.resolver_timeouts), (1, 1, 1));
}

#[test]
fn a_field_error_keeps_the_application_s_extensions_and_is_shared_by_the_group() {
    let engine = Engine::default();
    for id in ["s1", "s2"] {
        let registration = Registration {
            connection_id: id,
            subscription_id: id,
            query: "subscription { a { v } }",
            resolver: Some(7),
            ..Default::default()
        };
        engine.register(registration).unwrap();
    }
    let job = engine.publish("e", "a", json!({}), EventScope::default()).unwrap().jobs.pop().unwrap();
    let extensions = json!({"code": "NOT_FOUND", "id": 3}).as_object().unwrap().clone();
    job.finish(ResolverOutcome::Failed { message: "No such order".into(), extensions });
    for id in ["s1", "s2"] {
        let error = &next(&engine, id).unwrap()["payload"]["errors"][0];
        assert_eq!(error["extensions"], json!({"code": "NOT_FOUND", "id": 3}));
    }
    assert_eq!(engine.metrics().payloads_serialized, 1, "one serialization for the group");
}

#[test]
fn failing_resolver_sends_error_and_ends_the_subscription() {
    let engine = ending_streams();
    register(&engine, "c", "s", "subscription { a { v } }", ctx(None, None));
    register(&engine, "c", "plain", "subscription { a { v } }", ctx(None, None));
    engine.set_resolver(sub("s"), Some(1)).unwrap();
    let job = engine.publish("e", "a", json!({"v": 1}), EventScope::default()).unwrap().jobs.pop().unwrap();
    job.finish(ResolverOutcome::failed("Resolver for \"a\" raised ValueError: boom"));
    assert_eq!(engine.drain("c").unwrap().len(), 2, "the plain subscription got its frame");
    let job = engine.publish("e", "a", json!({"v": 2}), EventScope::default()).unwrap().jobs.pop();
    assert!(job.is_none(), "an ended subscription gets no more work");
    register(&engine, "c", "s2", "subscription { a { v } }", ctx(None, None));
    engine.set_resolver(sub("s2"), Some(1)).unwrap();
    engine.complete(sub("plain")).unwrap();
    let job = engine.publish("e", "a", json!({"v": 3}), EventScope::default()).unwrap().jobs.pop().unwrap();
    job.finish(ResolverOutcome::failed("Resolver for \"a\" raised ValueError: boom"));
    let frame = engine.next_frame(sub("s2")).unwrap().expect("the error frame");
    let frame: Value = serde_json::from_slice(&frame.to_vec()).unwrap();
    assert_eq!(frame["type"], "error");
    assert_eq!(frame["id"], "s2");
    assert_eq!(frame["payload"][0]["extensions"]["code"], "RESOLVER_ERROR");
    assert_eq!(frame["payload"][0]["path"], json!(["a"]));
    assert!(
        matches!(engine.complete(sub("s2")), Err(EngineError::SubscriptionNotFound { .. })),
        "taking the error frame freed it"
    );
    assert!(matches!(engine.complete(sub("s")), Err(EngineError::SubscriptionNotFound { .. })));
    assert_eq!(engine.take_released_resolvers(), vec![1, 1]);
    assert_eq!(engine.metrics().resolver_errors, 2);
    assert_eq!(engine.metrics().active_subscriptions, 0);
}

#[test]
fn dropped_job_counts_as_cancelled_and_does_not_stall_order() {
    let engine = Engine::default();
    register(&engine, "c", "s", "subscription { a { v } }", ctx(None, None));
    engine.set_resolver(sub("s"), Some(1)).unwrap();
    let first = engine.publish("e", "a", json!({"v": 1}), EventScope::default()).unwrap();
    drop(first);
    let frame: Value = serde_json::from_slice(&engine.drain("c").unwrap()[0].to_vec()).unwrap();
    assert_eq!(frame["payload"]["errors"][0]["extensions"]["code"], "RESOLVER_CANCELLED");
}

#[test]
fn overflow_policy_is_applied_and_counted() {
    let engine =
        Engine::new(EngineConfig { max_queued_frames: 3, overflow: OverflowPolicy::DropOldest, ..Default::default() });
    register(&engine, "c", "s", "subscription { a }", ctx(None, None));
    for value in 0..5 {
        engine.publish("e", "a", json!(value), EventScope::default()).unwrap();
    }
    let values: Vec<Value> =
        engine.drain("c").unwrap().iter().map(|f| serde_json::from_slice::<Value>(&f.to_vec()).unwrap()).collect();
    assert_eq!(
        values.iter().map(|v| v["payload"]["data"]["a"].clone()).collect::<Vec<_>>(),
        [json!(2), json!(3), json!(4)]
    );
    assert_eq!(engine.metrics().frames_dropped_overflow, 2);
}

#[test]
fn writer_is_woken_through_the_notifier() {
    let engine = Engine::default();
    let wakes = Arc::new(AtomicUsize::new(0));
    let counter = wakes.clone();
    engine.set_ready_notifier(Some(Arc::new(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    })));
    engine.open_connection("c");
    register(&engine, "c", "s", "subscription { a }", ctx(None, None));
    assert_eq!(engine.arm("c").unwrap(), WaitState::Armed);
    engine.publish("e", "a", json!(1), EventScope::default()).unwrap();
    engine.publish("e", "a", json!(2), EventScope::default()).unwrap();
    assert_eq!(wakes.load(Ordering::SeqCst), 1);
    let ready: Vec<String> = engine.take_ready().iter().map(|c| c.id.to_string()).collect();
    assert_eq!(ready, ["c"]);
    assert_eq!(engine.drain("c").unwrap().len(), 2);
    assert_eq!(engine.arm("c").unwrap(), WaitState::Armed);
    assert_eq!(engine.close_connection("c"), 1);
    assert_eq!(wakes.load(Ordering::SeqCst), 2, "closing wakes the waiting writer");
    assert!(matches!(engine.arm("c"), Err(EngineError::ConnectionNotFound { .. })));
}

#[test]
fn a_connection_with_its_own_waker_bypasses_the_ready_list() {
    let engine = Engine::default();
    let notified = Arc::new(AtomicUsize::new(0));
    let counter = notified.clone();
    engine.set_ready_notifier(Some(Arc::new(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    })));
    let woken = Arc::new(AtomicUsize::new(0));
    let counter = woken.clone();
    let waker = ConnectionWaker::new(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    engine.open_connection_with_waker("native", waker.clone()).unwrap();
    register(&engine, "native", "s", "subscription { a }", ctx(None, None));
    register(&engine, "python", "s", "subscription { a }", ctx(None, None));
    assert_eq!(engine.arm("native").unwrap(), WaitState::Armed);
    assert_eq!(engine.arm("python").unwrap(), WaitState::Armed);
    engine.publish("e", "a", json!(1), EventScope::default()).unwrap();
    engine.publish("e", "a", json!(2), EventScope::default()).unwrap();
    assert_eq!(woken.load(Ordering::SeqCst), 1, "one wake per wait");
    assert_eq!(notified.load(Ordering::SeqCst), 1, "the other connection still uses the notifier");
    let ready: Vec<String> = engine.take_ready().iter().map(|c| c.id.to_string()).collect();
    assert_eq!(ready, ["python"], "the native connection is not on the ready list");
    let frames = engine.drain("native").unwrap();
    assert_eq!(frames.iter().map(|frame| frame.id().to_owned()).collect::<Vec<_>>(), ["s", "s"]);
    assert_eq!(engine.arm("native").unwrap(), WaitState::Armed);
    assert_eq!(engine.close_connection("native"), 1);
    assert_eq!(woken.load(Ordering::SeqCst), 2, "closing wakes the waiting writer");
    assert!(engine.take_ready().is_empty());
    assert!(matches!(engine.arm("native"), Err(EngineError::ConnectionNotFound { .. })));
}

#[test]
fn a_connection_keeps_its_first_waker() {
    let engine = Engine::default();
    let first = Arc::new(AtomicUsize::new(0));
    let counter = first.clone();
    engine
        .open_connection_with_waker(
            "c",
            ConnectionWaker::new(move || {
                counter.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .unwrap();
    let second = engine.open_connection_with_waker("c", ConnectionWaker::new(|| panic!("replaced waker called")));
    assert!(matches!(second, Err(EngineError::Config(_))));
    register(&engine, "c", "s", "subscription { a }", ctx(None, None));
    assert_eq!(engine.arm("c").unwrap(), WaitState::Armed);
    engine.publish("e", "a", json!(1), EventScope::default()).unwrap();
    assert_eq!(first.load(Ordering::SeqCst), 1);
    engine.close_connection("c");
    assert_eq!(engine.metrics().active_connections, 0);
}

#[test]
fn a_waker_added_to_an_implicit_connection_keeps_it_open_when_empty() {
    let engine = Engine::default();
    register(&engine, "c", "s", "subscription { a }", ctx(None, None));
    engine.open_connection_with_waker("c", ConnectionWaker::new(|| {})).unwrap();
    engine.complete(sub("s")).unwrap();
    assert_eq!(engine.arm("c").unwrap(), WaitState::Armed, "opened explicitly: stays until closed");
    assert_eq!(engine.close_connection("c"), 0);
    assert_eq!(engine.metrics().active_connections, 0);
}

#[test]
fn everything_is_freed_after_completion() {
    let engine = Engine::default();
    for index in 0..2000 {
        let connection = format!("c{}", index % 100);
        let query = if index % 2 == 0 { "subscription { a { id } }" } else { "subscription { b { id } }" };
        register(&engine, &connection, &format!("s{index}"), query, ctx(Some(&format!("u{index}")), None));
        if index % 3 == 0 {
            engine
                .set_resolver(
                    SubscriptionRef { subscription_id: &format!("s{index}"), connection_id: Some(&connection) },
                    Some(index),
                )
                .unwrap();
        }
    }
    engine.publish("e", "a", json!({"id": 1}), EventScope::default()).unwrap();
    for index in 0..2000 {
        if index % 7 == 0 {
            continue;
        }
        engine.complete(sub(&format!("s{index}"))).unwrap();
    }
    for connection in 0..100 {
        engine.close_connection(&format!("c{connection}"));
    }
    let metrics = engine.metrics();
    assert_eq!((metrics.active_connections, metrics.active_subscriptions, metrics.active_groups), (0, 0, 0));
    assert_eq!(engine.take_released_resolvers().len(), (0..2000).filter(|i| i % 3 == 0).count());
}

#[test]
fn document_errors_carry_graphql_messages() {
    let engine = Engine::default();
    let error = engine
        .register(Registration {
            connection_id: "c",
            subscription_id: "s",
            query: "subscription {",
            ..Default::default()
        })
        .unwrap_err();
    let EngineError::Document(errors) = error else { panic!("{error:?}") };
    assert!(errors[0].message.contains("expected"), "{:?}", errors[0]);
    assert_eq!(engine.metrics().active_connections, 0, "a refused registration leaves nothing behind");
}

#[test]
fn concurrent_publishing_while_subscriptions_come_and_go() {
    let engine = Engine::default();
    for index in 0..100 {
        register(&engine, "stable", &format!("stable{index}"), "subscription { a { id } }", ctx(None, None));
    }
    std::thread::scope(|scope| {
        for publisher in 0..3 {
            let engine = &engine;
            scope.spawn(move || {
                for n in 0..300 {
                    engine.publish("e", "a", json!({"id": publisher * 1000 + n}), EventScope::default()).unwrap();
                }
            });
        }
        let engine = &engine;
        scope.spawn(move || {
            for n in 0..500 {
                let id = format!("churn{n}");
                register(engine, &format!("churn{}", n % 10), &id, "subscription { a { id } }", ctx(None, None));
                engine.complete(sub(&id)).unwrap();
            }
        });
    });
    let frames = engine.drain("stable").unwrap();
    let metrics = engine.metrics();
    assert_eq!(frames.len() as u64 + metrics.frames_dropped_overflow, 900 * 100);
    assert_eq!(metrics.active_subscriptions, 100);
}

#[test]
fn one_resolver_call_per_group_whoever_the_members_are() {
    let engine = Engine::default();
    for index in 0..100 {
        engine
            .register(Registration {
                connection_id: &format!("c{index}"),
                subscription_id: "s",
                query: "subscription { a { v } }",
                context: ctx(Some(&format!("user{index}")), Some("t")),
                resolver: Some(9),
                ..Default::default()
            })
            .unwrap();
    }
    let scope = EventScope { tenant: Some(Arc::from("t")), ..Default::default() };
    let outcome = engine.publish("e", "a", json!({"v": 1}), scope).unwrap();
    assert_eq!(outcome.jobs.len(), 1, "the resolver sees only (event, variables): one call");
    assert_eq!(engine.metrics().active_groups, 1);
}

#[test]
fn an_error_frame_survives_overflow_and_frees_its_subscription() {
    for policy in [OverflowPolicy::DropOldest, OverflowPolicy::DropNewest] {
        let engine = Engine::new(EngineConfig {
            max_queued_frames: 2,
            overflow: policy,
            resolver_errors: ResolverErrorPolicy::EndStream,
            ..Default::default()
        });
        register(&engine, "c", "plain", "subscription { a }", ctx(None, None));
        engine
            .register(Registration {
                connection_id: "c",
                subscription_id: "failing",
                query: "subscription { a }",
                resolver: Some(1),
                ..Default::default()
            })
            .unwrap();
        let job = engine.publish("e", "a", json!(1), EventScope::default()).unwrap().jobs.pop().unwrap();
        engine.publish("e", "a", json!(2), EventScope::default()).unwrap();
        job.finish(ResolverOutcome::failed("boom"));
        engine.publish("e", "a", json!(3), EventScope::default()).unwrap();
        let frames = engine.drain("c").unwrap();
        assert!(frames.iter().any(|frame| frame.is_terminal()), "{policy:?}: the error frame was kept");
        let metrics = engine.metrics();
        assert_eq!(metrics.active_subscriptions, 1, "{policy:?}: taking the error freed the subscription");
        assert!(metrics.frames_dropped_overflow >= 1);
    }
}

#[test]
fn resolver_results_waiting_for_a_slow_one_are_bounded() {
    let engine = Engine::new(EngineConfig { max_queued_frames: 10, ..Default::default() });
    engine
        .register(Registration {
            connection_id: "c",
            subscription_id: "s",
            query: "subscription { a }",
            resolver: Some(1),
            ..Default::default()
        })
        .unwrap();
    let mut jobs = Vec::new();
    for n in 0..50 {
        jobs.extend(engine.publish("e", "a", json!(n), EventScope::default()).unwrap().jobs);
    }
    assert_eq!(jobs.len(), 10, "no more jobs in flight than a connection may queue");
    assert_eq!(engine.metrics().frames_dropped_overflow, 40);
    for job in jobs.into_iter().rev() {
        job.finish(ResolverOutcome::Value(json!("v")));
    }
    assert_eq!(engine.drain("c").unwrap().len(), 10);
    assert_eq!(engine.publish("e", "a", json!(99), EventScope::default()).unwrap().jobs.len(), 1);
}

#[test]
fn frames_left_unsent_by_a_completion_or_a_close_are_counted() {
    let engine = Engine::default();
    register(&engine, "c1", "s", "subscription { a }", ctx(None, None));
    register(&engine, "c2", "s", "subscription { a }", ctx(None, None));
    for value in 0..3 {
        engine.publish("e", "a", json!(value), EventScope::default()).unwrap();
    }
    engine.complete(SubscriptionRef { subscription_id: "s", connection_id: Some("c1") }).unwrap();
    assert_eq!(engine.metrics().frames_dropped_unsent, 3);
    assert_eq!(engine.close_connection("c2"), 1);
    assert_eq!(engine.metrics().frames_dropped_unsent, 6);
}

fn filtered(engine: &Engine, connection: &str, spec: Value, context: Value, arguments: Value) {
    let filter = Arc::new(fraiseql_engine::Filter::compile(&spec).unwrap());
    let inputs = Arc::new(fraiseql_engine::filter::inputs(context, arguments));
    engine
        .register(Registration {
            connection_id: connection,
            subscription_id: "s",
            query: "subscription { a { n author } }",
            filter: Some((filter, inputs)),
            ..Default::default()
        })
        .unwrap();
}

#[test]
fn filters_decide_per_subscriber_and_keep_one_serialization() {
    let engine = Engine::default();
    let not_mine = json!({"ne": ["event.author", "context.user_id"]});
    filtered(&engine, "ann", not_mine.clone(), json!({"user_id": "ann"}), json!({}));
    filtered(&engine, "bob", not_mine, json!({"user_id": "bob"}), json!({}));
    register(&engine, "all", "s", "subscription { a { n author } }", ctx(None, None));
    engine.publish("e", "a", json!({"n": 1, "author": "ann"}), EventScope::default()).unwrap();
    assert_eq!(engine.drain("ann").unwrap().len(), 0, "ann does not get her own message");
    assert_eq!(engine.drain("bob").unwrap().len(), 1);
    assert_eq!(engine.drain("all").unwrap().len(), 1);
    let metrics = engine.metrics();
    assert_eq!(metrics.payloads_serialized, 1, "the filter does not split the group");
    assert_eq!(metrics.events_filtered_by_filter, 1);
}

#[test]
fn a_filter_applies_to_resolver_groups_and_tenants_still_apply_first() {
    let engine = Engine::default();
    let spec = json!({"eq": ["event.room", "args.room"]});
    for (connection, tenant) in [("t1", "t1"), ("t2", "t2")] {
        engine
            .register(Registration {
                connection_id: connection,
                subscription_id: "s",
                query: "subscription { a { n } }",
                context: ctx(None, Some(tenant)),
                resolver: Some(1),
                filter: Some((
                    Arc::new(fraiseql_engine::Filter::compile(&spec).unwrap()),
                    Arc::new(fraiseql_engine::filter::inputs(json!({}), json!({"room": "lobby"}))),
                )),
                ..Default::default()
            })
            .unwrap();
    }
    let scope = EventScope { tenant: Some(Arc::from("t1")), ..Default::default() };
    let other_room = engine.publish("e", "a", json!({"n": 1, "room": "x"}), scope.clone()).unwrap();
    assert!(other_room.jobs.is_empty(), "no resolver call for an event nobody may see");
    let mut outcome = engine.publish("e", "a", json!({"n": 2, "room": "lobby"}), scope).unwrap();
    outcome.jobs.pop().unwrap().finish(ResolverOutcome::Value(json!({"n": 2})));
    assert_eq!(engine.drain("t1").unwrap().len(), 1);
    assert_eq!(engine.drain("t2").unwrap().len(), 0);
}

#[test]
fn a_skipped_result_sends_nothing_and_keeps_order() {
    let engine = Engine::default();
    engine
        .register(Registration {
            connection_id: "c",
            subscription_id: "s",
            query: "subscription { a { n } }",
            resolver: Some(1),
            ..Default::default()
        })
        .unwrap();
    let first = engine.publish("e", "a", json!({"n": 1}), EventScope::default()).unwrap().jobs.pop().unwrap();
    let second = engine.publish("e", "a", json!({"n": 2}), EventScope::default()).unwrap().jobs.pop().unwrap();
    second.finish(ResolverOutcome::Value(json!({"n": 2})));
    first.finish(ResolverOutcome::Skip);
    let frames = engine.drain("c").unwrap();
    assert_eq!(frames.len(), 1);
    assert_eq!(next_of(&frames[0])["payload"]["data"]["a"]["n"], 2);
}

fn next_of(frame: &fraiseql_engine::QueuedFrame) -> Value {
    serde_json::from_slice(&frame.to_vec()).unwrap()
}

#[test]
fn frames_per_subscription_are_rate_limited_and_counted() {
    // A rate so low that no token comes back during the test: the burst of one, then nothing.
    let engine = Engine::new(EngineConfig { max_frames_per_second: Some(1e-6), ..Default::default() });
    register(&engine, "c", "s", "subscription { a }", ctx(None, None));
    register(&engine, "d", "s", "subscription { a }", ctx(None, None));
    for n in 0..10 {
        engine.publish("e", "a", json!(n), EventScope::default()).unwrap();
    }
    assert_eq!(engine.drain("c").unwrap().len(), 1);
    assert_eq!(engine.drain("d").unwrap().len(), 1, "each subscription has its own bucket");
    assert_eq!(engine.metrics().frames_dropped_rate, 18);
}
