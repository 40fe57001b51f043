//! The benchmark's Rust peer: async-graphql on axum, graphql-transport-ws at `/graphql`, one
//! `messageAdded(room)` subscription fed by a tokio broadcast channel per room (a receiver that
//! falls 1,024 messages behind loses the oldest, counted by the load client as lost). The HTTP
//! endpoints are those of the Python benchmark apps (benchmarks/publisher.py): `GET /health`,
//! `GET /stats`, `POST /publish_loop`.
//!
//! Usage: `bench-peer-async-graphql-axum --host 127.0.0.1 --port 8000`

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_graphql::{Context, EmptyMutation, Object, Schema, SimpleObject, Subscription, ID};
use async_graphql_axum::GraphQLSubscription;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_stream::wrappers::BroadcastStream;

#[derive(SimpleObject, Clone)]
struct Message {
    id: ID,
    room: String,
    text: String,
    author: String,
    at: f64,
}

/// Rooms and their broadcast channels, and how many subscriptions are open.
#[derive(Default)]
struct Hub {
    rooms: Mutex<HashMap<String, broadcast::Sender<Message>>>,
    subscribers: Arc<AtomicUsize>,
}

impl Hub {
    fn sender(&self, room: &str) -> broadcast::Sender<Message> {
        let mut rooms = self.rooms.lock().expect("the rooms lock");
        rooms.entry(room.to_owned()).or_insert_with(|| broadcast::channel(1024).0).clone()
    }
}

/// Counts a subscription while its stream lives.
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Query;

#[Object]
impl Query {
    async fn rooms(&self, context: &Context<'_>) -> Vec<String> {
        let hub = context.data_unchecked::<Arc<Hub>>();
        hub.rooms.lock().expect("the rooms lock").keys().cloned().collect()
    }
}

struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    async fn message_added(&self, context: &Context<'_>, room: String) -> impl Stream<Item = Message> {
        let hub = context.data_unchecked::<Arc<Hub>>();
        let counted = Counted::new(&hub.subscribers);
        BroadcastStream::new(hub.sender(&room).subscribe()).filter_map(move |received| {
            let _alive = &counted;
            async move { received.ok() }
        })
    }
}

type BenchSchema = Schema<Query, EmptyMutation, SubscriptionRoot>;

#[derive(Deserialize)]
struct PublishRequest {
    #[serde(default = "default_room")]
    room: String,
    #[serde(default = "one")]
    count: u64,
    #[serde(default)]
    rate: f64,
    duration: Option<f64>,
    #[serde(default = "default_text")]
    text: String,
    /// With `rooms > 0`, event `i` goes to room `<room>-<i mod rooms>` (one subscriber per room).
    #[serde(default)]
    rooms: u64,
}

fn default_room() -> String {
    "bench".to_owned()
}

fn one() -> u64 {
    1
}

fn default_text() -> String {
    "hello from the benchmark".to_owned()
}

fn now_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

/// The same loop as benchmarks/publisher.py's `run_publish` (without overlap).
async fn publish_loop(State(hub): State<Arc<Hub>>, Json(request): Json<PublishRequest>) -> Json<Value> {
    let count = match request.duration {
        Some(duration) => (request.rate * duration).round() as u64,
        None => request.count,
    };
    let senders: Vec<(String, broadcast::Sender<Message>)> = if request.rooms > 0 {
        (0..request.rooms)
            .map(|index| format!("{}-{index}", request.room))
            .map(|room| (room.clone(), hub.sender(&room)))
            .collect()
    } else {
        vec![(request.room.clone(), hub.sender(&request.room))]
    };
    let start = Instant::now();
    let mut max_lag = 0.0_f64;
    let mut published = 0_u64;
    for sequence in 0..count {
        if request.rate > 0.0 {
            let due = start + Duration::from_secs_f64(sequence as f64 / request.rate);
            let now = Instant::now();
            if due > now {
                tokio::time::sleep_until(due).await;
            } else {
                max_lag = max_lag.max((now - due).as_secs_f64());
            }
        }
        let (room, sender) = &senders[(sequence % senders.len() as u64) as usize];
        let message = Message {
            id: ID(sequence.to_string()),
            room: room.clone(),
            text: request.text.clone(),
            author: "bench".to_owned(),
            at: now_seconds(),
        };
        // No receiver yet is not an error for a publisher.
        let _ = sender.send(message);
        published += 1;
        let behind = start.elapsed().as_secs_f64() >= (sequence + 1) as f64 / request.rate;
        if request.rate <= 0.0 || behind {
            tokio::task::yield_now().await;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    Json(json!({
        "published": published,
        "elapsed_s": elapsed,
        "achieved_rate": if elapsed > 0.0 { published as f64 / elapsed } else { 0.0 },
        "max_lag_ms": max_lag * 1000.0,
        "finished_at": now_seconds(),
    }))
}

async fn stats(State(hub): State<Arc<Hub>>) -> Json<Value> {
    Json(json!({ "subscribers": hub.subscribers.load(Ordering::Relaxed) }))
}

#[tokio::main]
async fn main() {
    let mut host = "127.0.0.1".to_owned();
    let mut port = "8000".to_owned();
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        match argument.as_str() {
            "--host" => host = arguments.next().expect("--host needs a value"),
            "--port" => port = arguments.next().expect("--port needs a value"),
            other => panic!("unknown argument {other:?} (usage: --host HOST --port PORT)"),
        }
    }
    let hub = Arc::new(Hub::default());
    let schema: BenchSchema = Schema::build(Query, EmptyMutation, SubscriptionRoot).data(hub.clone()).finish();
    let app = Router::new()
        .route_service("/graphql", GraphQLSubscription::new(schema))
        .route("/health", get(|| async { Json(json!({ "ok": true })) }))
        .route("/stats", get(stats))
        .route("/publish_loop", post(publish_loop))
        .route("/publish", post(publish_loop))
        .with_state(hub);
    let listener = tokio::net::TcpListener::bind(format!("{host}:{port}")).await.expect("the address to bind");
    axum::serve(listener, app).await.expect("the server to run");
}
