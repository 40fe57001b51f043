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
//!
//! Beyond the Python client's options, for the scenarios of `benchmarks/bench_suite.py`:
//! `--rooms N` subscribes connection `i` to room `<room>-<i mod N>` (many rooms, each event
//! for one subscriber); `--handshakes N` sets how many connections handshake at once (a
//! subscribe storm opens them all at once); `--keep-going` counts a connection that fails to
//! connect or subscribe as an error instead of giving up; `--subscribe-on-stdin` stops after
//! every `connection_ack`, prints `acked` and subscribes once a line arrives on stdin (the
//! memory scenario measures the server between the two). The report adds the connect timings
//! (`connect`) and, per event, the latency of its last frame (`event_last_frame_ms`). The soft
//! limit on open files is raised to the hard one: 10,000 connections need 10,000 descriptors.

mod report;
mod subscriber;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Semaphore};

use crate::report::{now_seconds, process_cpu_seconds, ConnectTimings, Report};
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
    rooms: usize,
    handshakes: usize,
    keep_going: bool,
    subscribe_on_stdin: bool,
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
        rooms: 0,
        handshakes: 20,
        keep_going: false,
        subscribe_on_stdin: false,
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
            Long("rooms") => options.rooms = parser.value()?.parse()?,
            Long("handshakes") => options.handshakes = parser.value()?.parse()?,
            Long("keep-going") => options.keep_going = true,
            Long("subscribe-on-stdin") => options.subscribe_on_stdin = true,
            Long("help") => {
                println!(
                    "usage: fraiseql-load-client --url ws://127.0.0.1:PORT/graphql --expected N \
                     [--connections 100] [--room bench] [--rate 0] [--timeout 120] \
                     [--idle-timeout 10] [--connect-timeout 20] [--rooms 0] [--handshakes 20] \
                     [--keep-going] [--subscribe-on-stdin]"
                );
                std::process::exit(0);
            }
            _ => return Err(argument.unexpected()),
        }
    }
    options.url = url.ok_or("--url is required")?;
    options.expected = expected.ok_or("--expected is required")?;
    if options.handshakes == 0 {
        return Err("--handshakes must be at least 1".into());
    }
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

/// Raises the soft limit on open files to the hard limit (one descriptor per connection).
fn raise_open_files_limit() -> Result<u64, String> {
    // SAFETY: getrlimit and setrlimit read and write the struct they are given only.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(format!("getrlimit: {}", std::io::Error::last_os_error()));
    }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(format!("setrlimit: {}", std::io::Error::last_os_error()));
        }
    }
    Ok(limit.rlim_cur)
}

fn query_for(options: &Options, index: usize) -> String {
    let room =
        if options.rooms > 0 { format!("{}-{}", options.room, index % options.rooms) } else { options.room.clone() };
    format!("subscription {{ messageAdded(room: \"{room}\") {{ id text at }} }}")
}

/// Waits for one line on stdin (the harness's go-ahead), without blocking the runtime's thread.
async fn wait_for_stdin_line() -> Result<(), String> {
    let line = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    });
    line.await.map_err(|error| error.to_string())?.map_err(|error| format!("stdin: {error}"))?;
    Ok(())
}

async fn run(options: Options) -> Result<Report, String> {
    let open_files = raise_open_files_limit()?;
    if options.connections as u64 + 64 > open_files {
        return Err(format!("{} connections need more open files than the limit ({open_files})", options.connections));
    }
    let totals = Arc::new(Totals::default());
    let (stop, stopped) = watch::channel(false);
    let handshakes = Arc::new(Semaphore::new(options.handshakes));
    let connect_timeout = Duration::from_secs_f64(options.connect_timeout);
    let subscribe_at_once = !options.subscribe_on_stdin;
    let mut timings = ConnectTimings { started_at: now_seconds(), ..ConnectTimings::default() };
    let started = tokio::time::Instant::now();
    let mut connecting = Vec::with_capacity(options.connections);
    for index in 0..options.connections {
        let subscriber = Subscriber::new(index, options.expected, options.rate, totals.clone());
        let (url, query, handshakes) = (options.url.clone(), query_for(&options, index), handshakes.clone());
        connecting.push(tokio::spawn(async move {
            let _permit = handshakes.acquire_owned().await.map_err(|error| error.to_string())?;
            let connected = async {
                let (subscriber, mut socket) = subscriber.handshake(&url).await?;
                if subscribe_at_once {
                    subscriber.subscribe(&mut socket, &query).await?;
                }
                Ok::<_, String>((subscriber, socket, query))
            };
            tokio::time::timeout(connect_timeout, connected)
                .await
                .map_err(|_| format!("connection #{index}: not connected within {connect_timeout:?}"))?
        }));
    }
    let mut connected = Vec::with_capacity(options.connections);
    for task in connecting {
        match task.await.map_err(|error| error.to_string())? {
            Ok(ready) => connected.push(ready),
            Err(error) if options.keep_going => timings.record_error(error),
            Err(error) => return Err(error),
        }
    }
    timings.connected_s = started.elapsed().as_secs_f64();
    if options.subscribe_on_stdin {
        println!("acked");
        wait_for_stdin_line().await?;
        let subscribing = tokio::time::Instant::now();
        let mut subscribed = Vec::with_capacity(connected.len());
        for (subscriber, mut socket, query) in connected {
            match subscriber.subscribe(&mut socket, &query).await {
                Ok(()) => subscribed.push((subscriber, socket, query)),
                Err(error) if options.keep_going => timings.record_error(error),
                Err(error) => return Err(error),
            }
        }
        connected = subscribed;
        timings.subscribed_s = Some(subscribing.elapsed().as_secs_f64());
    }
    timings.subscribed_connections = connected.len();
    println!("ready");

    let cpu_start = process_cpu_seconds();
    let subscribed = connected.len();
    let receiving: Vec<_> = connected
        .into_iter()
        .map(|(subscriber, socket, _)| tokio::spawn(subscriber.receive(socket, stopped.clone())))
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(options.timeout);
    let stop_reason = loop {
        // The controller wakes four times a second to check the deadlines; the subscribers are
        // woken by their sockets only.
        let finished = tokio::select! {
            () = totals.all_finished(subscribed) => true,
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
    Ok(Report::new(options.connections, options.expected, &results, stop_reason, cpu_used, timings))
}
