//! Start time of 1,000 shards in four processes sharing one Redis identify queue, against the
//! identify rule's ideal `ceil(shards / max_concurrency) * window`:
//! `cargo bench -p discord-gateway-redis --bench start`.
//!
//! The window is scaled down (in the sim and the queue together) so the run takes seconds,
//! not Discord's 5 s per round. The four processes are this bench binary run again with
//! `START_BENCH_ROLE=shards` in their environment. Needs `redis-server` on PATH.
#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

#[path = "../tests/common/server.rs"]
#[allow(dead_code, unreachable_pub)]
mod server;

use std::time::{Duration, Instant};

use discord_gateway_redis::RedisIdentifyQueueBuilder;
use discord_gateway_sim::Sim;
use discord_gateway_tokio::{
    Intents, SessionEvent, Shard, ShardEvent, ShardId, StreamExt, Token, Tokio,
};
use futures_util::stream::select_all;
use server::RedisServer;

const SHARDS: u32 = 1_000;
const PROCESSES: u32 = 4;
const MAX_CONCURRENCY: u32 = 16;
const WINDOW: Duration = Duration::from_millis(100);
/// How long the queue holds a bucket past the window (`START_BENCH_GUARD_MS`, default 25):
/// what absorbs one Identify reaching the sim later after its grant than the one before it.
fn guard() -> Duration {
    let ms = std::env::var("START_BENCH_GUARD_MS")
        .ok()
        .and_then(|ms| ms.parse().ok());
    Duration::from_millis(ms.unwrap_or(25))
}
const TOKEN: &str = "start-bench-token";
const ROLE: &str = "START_BENCH_ROLE";

fn main() {
    if std::env::var(ROLE).as_deref() == Ok("shards") {
        return shards();
    }
    if !std::env::args().any(|arg| arg == "--bench") {
        eprintln!("start bench: run with `cargo bench -p discord-gateway-redis --bench start`");
        return;
    }
    if !server::redis_available() {
        return;
    }
    let redis = RedisServer::start().expect("redis-server");
    let sim = Sim::builder()
        .token(TOKEN)
        .max_concurrency(MAX_CONCURRENCY)
        .identify_window(WINDOW)
        .session_start_limit(100_000, 100_000)
        .start_blocking()
        .expect("the sim");
    let guard = guard();
    let per = SHARDS / PROCESSES;
    let started = Instant::now();
    let children: Vec<_> = (0..PROCESSES)
        .map(|n| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .env(ROLE, "shards")
                .env("START_BENCH_REDIS", redis.url())
                .env("START_BENCH_SIM", sim.url())
                .env("START_BENCH_FIRST", (n * per).to_string())
                .env("START_BENCH_END", ((n + 1) * per).to_string())
                .spawn()
                .expect("a shard process")
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success(), "a shard process failed");
    }
    let wall = started.elapsed();

    let mut identifies: Vec<Duration> = sim
        .connections()
        .iter()
        .flat_map(|c| c.payloads.iter().filter(|p| p.op == Some(2)).map(|p| p.at))
        .collect();
    identifies.sort();
    let counters = sim.counters();
    let first = identifies[0];
    let last = *identifies.last().unwrap();
    let rounds = SHARDS.div_ceil(MAX_CONCURRENCY);
    let ideal = WINDOW * rounds;
    // From the first Identify to the end of the last one's window, comparable with the ideal.
    let measured = last - first + WINDOW;
    println!(
        "{SHARDS} shards in {PROCESSES} processes, max_concurrency {MAX_CONCURRENCY}, window {WINDOW:?} \
         (queue guard {guard:?})"
    );
    println!(
        "identify span {measured:?} vs ideal ceil({SHARDS}/{MAX_CONCURRENCY}) x {WINDOW:?} = {ideal:?}: \
         {:.2}x (with the guard the queue's own floor is {:?}, {:.2}x)",
        measured.as_secs_f64() / ideal.as_secs_f64(),
        (WINDOW + guard) * (rounds - 1) + WINDOW,
        measured.as_secs_f64() / ((WINDOW + guard) * (rounds - 1) + WINDOW).as_secs_f64(),
    );
    println!(
        "wall clock from spawning the processes to all READY: {wall:?}; Identifies {}, READY {}, \
         refused as too fast {}",
        counters.identifies, counters.readies, counters.identify_rate_limited
    );
    assert_eq!(counters.readies, u64::from(SHARDS), "every shard started");
}

/// One of the four processes: its share of the shards, merged into one stream, until every
/// one is READY.
fn shards() {
    let var = |name: &str| std::env::var(name).expect("set by the parent");
    let number = |name: &str| var(name).parse::<u32>().expect("a number");
    let client = redis::Client::open(var("START_BENCH_REDIS")).unwrap();
    let sim_url = var("START_BENCH_SIM");
    let token = Token::new(TOKEN).unwrap();
    let queue = RedisIdentifyQueueBuilder::new(client, &token)
        .max_concurrency(MAX_CONCURRENCY)
        .window(WINDOW)
        .guard(guard())
        .build(Tokio);
    let shards: Vec<Shard> = (number("START_BENCH_FIRST")..number("START_BENCH_END"))
        .map(|id| {
            Shard::builder(Token::new(TOKEN).unwrap())
                .configure(|c| {
                    c.gateway_url(&sim_url)
                        .shard(ShardId::new(id, SHARDS).unwrap())
                        .intents(Intents::GUILDS)
                })
                .identify_queue(queue.clone())
                .build()
                .unwrap()
        })
        .collect();
    let count = shards.len();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let mut events = select_all(shards);
            let mut ready = 0;
            while ready < count {
                match events.next().await {
                    Some(Ok(ShardEvent::Session(SessionEvent::Ready, _))) => ready += 1,
                    Some(Ok(_)) => {}
                    Some(Err(error)) => panic!("{error}"),
                    None => panic!("the shards ended"),
                }
            }
        });
}
