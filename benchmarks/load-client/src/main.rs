//! The benchmarks' load client, compiled: the same command line and the same JSON report as
//! `benchmarks/load_client.py`, at a fraction of its CPU per frame, so that on a small machine
//! the server, not the client, is what saturates.
//!
//! Opens `--connections` WebSockets (graphql-transport-ws), each sends `connection_init`, waits
//! for `connection_ack` and subscribes to
//! `subscription { messageAdded(room: "<room>") { id text at } }`; then prints `ready` and
//! receives until every connection got `--expected` frames, `--timeout` seconds passed, or no
//! frame arrived for `--idle-timeout` seconds after the first. For each `next` it records the
//! wall-clock time of the read minus the message's `at` (the server's `time.time()` right before
//! its publish; same machine, same clock). Everything runs on one thread: the client takes at
//! most one core. Its CPU time while receiving is in the report (`client_cpu_s`).

mod report;
mod subscriber;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Semaphore};

use crate::report::{now_seconds, process_cpu_seconds, Report};
use crate::subscriber::{Subscriber, Totals};

#[derive(Debug, Clone)]
struct Options {
    url: String,
    connections: usize,
    expected: u64,
    room: String,
    rate: f64,
    timeout: f64,
    idle_timeout: f64,
    connect_timeout: f64,
}

fn parse_options() -> Result<Options, lexopt::Error> {
    use lexopt::prelude::*;
    let mut url = None;
    let mut expected = None;
    let mut options = Options {
        url: String::new(),
        connections: 100,
        expected: 0,
        room: "bench".to_owned(),
        rate: 0.0,
        timeout: 120.0,
        idle_timeout: 10.0,
        connect_timeout: 20.0,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(argument) = parser.next()? {
        match argument {
            Long("url") => url = Some(parser.value()?.string()?),
            Long("connections") => options.connections = parser.value()?.parse()?,
            Long("expected") => expected = Some(parser.value()?.parse()?),
            Long("room") => options.room = parser.value()?.string()?,
            Long("rate") => options.rate = parser.value()?.parse()?,
            Long("timeout") => options.timeout = parser.value()?.parse()?,
            Long("idle-timeout") => options.idle_timeout = parser.value()?.parse()?,
            Long("connect-timeout") => options.connect_timeout = parser.value()?.parse()?,
            Long("help") => {
                println!(
                    "usage: fraiseql-load-client --url ws://127.0.0.1:PORT/graphql --expected N \
                     [--connections 100] [--room bench] [--rate 0] [--timeout 120] \
                     [--idle-timeout 10] [--connect-timeout 20]"
                );
                std::process::exit(0);
            }
            _ => return Err(argument.unexpected()),
        }
    }
    options.url = url.ok_or("--url is required")?;
    options.expected = expected.ok_or("--expected is required")?;
    let loopback = ["ws://127.0.0.1:", "ws://localhost:", "ws://[::1]:"];
    if !loopback.iter().any(|prefix| options.url.starts_with(prefix)) {
        return Err("only ws:// URLs on loopback are allowed".into());
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("fraiseql-load-client: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    match runtime.block_on(run(options)) {
        Ok(report) => {
            println!("{}", serde_json::to_string(&report).expect("the report is JSON"));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("fraiseql-load-client: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: Options) -> Result<Report, String> {
    let query = format!("subscription {{ messageAdded(room: \"{}\") {{ id text at }} }}", options.room);
    let totals = Arc::new(Totals::default());
    let (stop, stopped) = watch::channel(false);
    // At most 20 handshakes at a time, as the Python client does.
    let handshakes = Arc::new(Semaphore::new(20));
    let connect_timeout = Duration::from_secs_f64(options.connect_timeout);
    let mut connecting = Vec::with_capacity(options.connections);
    for index in 0..options.connections {
        let subscriber = Subscriber::new(index, options.expected, options.rate, totals.clone());
        let (url, query, handshakes) = (options.url.clone(), query.clone(), handshakes.clone());
        connecting.push(tokio::spawn(async move {
            let _permit = handshakes.acquire_owned().await.map_err(|error| error.to_string())?;
            tokio::time::timeout(connect_timeout, subscriber.connect(&url, &query))
                .await
                .map_err(|_| format!("connection #{index}: not subscribed within {connect_timeout:?}"))?
        }));
    }
    let mut connected = Vec::with_capacity(options.connections);
    for task in connecting {
        connected.push(task.await.map_err(|error| error.to_string())??);
    }
    println!("ready");

    let cpu_start = process_cpu_seconds();
    let receiving: Vec<_> = connected
        .into_iter()
        .map(|(subscriber, socket)| tokio::spawn(subscriber.receive(socket, stopped.clone())))
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(options.timeout);
    let stop_reason = loop {
        // The controller wakes four times a second to check the deadlines; the subscribers are
        // woken by their sockets only.
        let finished = tokio::select! {
            () = totals.all_finished(options.connections) => true,
            () = tokio::time::sleep(Duration::from_millis(250)) => false,
        };
        if finished {
            break if totals.failed() { "every connection finished or failed" } else { "all frames received" }
                .to_owned();
        }
        if tokio::time::Instant::now() >= deadline {
            break format!("timeout ({} s)", options.timeout);
        }
        let last = totals.last_receive();
        if last > 0.0 && now_seconds() - last > options.idle_timeout {
            break format!("no frame for {} s", options.idle_timeout);
        }
    };
    let cpu_used = process_cpu_seconds() - cpu_start;
    let _ = stop.send(true);
    let mut results = Vec::with_capacity(receiving.len());
    for task in receiving {
        results.push(task.await.map_err(|error| error.to_string())?);
    }
    Ok(Report::new(options.connections, options.expected, &results, stop_reason, cpu_used))
}
