//! Events per CPU-second into a Redis Stream: `cargo bench -p discord-gateway-redis --bench stream`.
//!
//! Four shards push a real MESSAGE_CREATE (the fixture, minified) through one
//! [`RedisStreamSink`] into a redis-server started for the run, the writer on the same
//! current-thread tokio runtime, so the process's CPU time is the sink's whole cost. Redis's own
//! CPU time is measured too. The baseline is the least a client can do for the same entries:
//! plain pipelined `XADD`s, no numbering, no retry, no dedupe script.
//!
//! Linux only (CPU time from `/proc`); needs `redis-server` on PATH.
#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

#[path = "../tests/common/server.rs"]
#[allow(dead_code, unreachable_pub)]
mod server;

use std::time::{Duration, Instant};

use discord_gateway_redis::RedisStreamSink;
use discord_gateway_tokio::{ShardId, Tokio};
use server::{Persistence, RedisServer};

const SHARDS: u32 = 4;
const EVENTS: u64 = 200_000;
const KEY: &str = "bench-events";
const MAX_LEN: u64 = 50_000;

fn event() -> Vec<u8> {
    let text = include_str!("../../../fixtures/payload-examples/message_create.json");
    let value: serde_json::Value = serde_json::from_str(text).expect("the fixture is JSON");
    serde_json::to_vec(&value).expect("JSON")
}

/// CPU time (user + system) of process `pid` so far.
fn cpu_time(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc (Linux only)");
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64)
}

fn clock_ticks() -> u64 {
    let output = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("getconf");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or(100)
}

struct Figures {
    wall: Duration,
    client: Duration,
    redis: Duration,
}

fn measure(persistence: Persistence, run: impl FnOnce(redis::Client)) -> Figures {
    let redis = RedisServer::start_with(persistence).expect("redis-server on PATH");
    let redis_pid = redis.pid().unwrap().to_string();
    let (client_before, redis_before) = (cpu_time("self"), cpu_time(&redis_pid));
    let started = Instant::now();
    run(redis.client());
    let figures = Figures {
        wall: started.elapsed(),
        client: cpu_time("self") - client_before,
        redis: cpu_time(&redis_pid) - redis_before,
    };
    let mut connection = redis.client().get_connection().unwrap();
    let info: std::collections::HashMap<String, redis::Value> = redis::cmd("XINFO")
        .arg("STREAM")
        .arg(KEY)
        .query(&mut connection)
        .unwrap();
    assert_eq!(
        info.get("entries-added"),
        Some(&redis::Value::Int(EVENTS as i64)),
        "every event was added once"
    );
    figures
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn sink(client: redis::Client, event: &[u8]) {
    runtime().block_on(async {
        let (sink, writer) = RedisStreamSink::builder(client, KEY)
            .max_len(MAX_LEN)
            .build(Tokio);
        let writing = tokio::spawn(writer.run());
        let mut shards = Vec::new();
        for shard in 0..SHARDS {
            let mut sink = sink.clone();
            let event = bytes::Bytes::copy_from_slice(event);
            shards.push(tokio::spawn(async move {
                let id = ShardId::new(shard, SHARDS).unwrap();
                for _ in 0..EVENTS / u64::from(SHARDS) {
                    // A cheap clone, as a shard hands on `Dispatch::message()`.
                    sink.push(id, event.clone()).await.unwrap();
                }
                sink.flush().await.unwrap();
            }));
        }
        drop(sink);
        for shard in shards {
            shard.await.unwrap();
        }
        writing.await.unwrap();
    });
}

fn plain_pipeline(client: redis::Client, event: &[u8]) {
    runtime().block_on(async {
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let per_batch = discord_gateway_redis::DEFAULT_BATCH as u64;
        let mut sent = 0;
        while sent < EVENTS {
            let mut pipe = redis::pipe();
            for n in sent..(sent + per_batch).min(EVENTS) {
                pipe.cmd("XADD")
                    .arg(KEY)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(MAX_LEN)
                    .arg("*")
                    .arg("shard")
                    .arg(n % u64::from(SHARDS))
                    .arg("event")
                    .arg(event)
                    .ignore();
            }
            pipe.query_async::<()>(&mut connection).await.unwrap();
            sent = (sent + per_batch).min(EVENTS);
        }
    });
}

fn report(name: &str, figures: &Figures) {
    let per = |time: Duration| EVENTS as f64 / time.as_secs_f64();
    println!(
        "{name:<44} {:>9.0} events/s wall | {:>9.0} per client CPU-s | {:>9.0} per client+Redis CPU-s \
         (client {:.2} s, Redis {:.2} s)",
        per(figures.wall),
        per(figures.client),
        per(figures.client + figures.redis),
        figures.client.as_secs_f64(),
        figures.redis.as_secs_f64(),
    );
}

fn main() {
    // `cargo test` runs benches with --bench absent; this one is only worth its minutes when
    // asked for.
    if !std::env::args().any(|arg| arg == "--bench") {
        eprintln!("stream bench: run with `cargo bench -p discord-gateway-redis --bench stream`");
        return;
    }
    if !server::redis_available() {
        return;
    }
    let event = event();
    println!(
        "{EVENTS} events of {} bytes from {SHARDS} shards, MAXLEN ~ {MAX_LEN}, batches of {}",
        event.len(),
        discord_gateway_redis::DEFAULT_BATCH
    );
    for (label, persistence) in [
        ("no persistence", Persistence::None),
        ("AOF, fsync every second", Persistence::AppendEverySec),
    ] {
        let figures = measure(persistence, |client| sink(client, &event));
        report(&format!("RedisStreamSink, {label}"), &figures);
        let figures = measure(persistence, |client| plain_pipeline(client, &event));
        report(&format!("plain pipelined XADD, {label}"), &figures);
    }
}
