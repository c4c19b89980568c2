//! Scale: thousands of shards on one sim, and the throughput stream.

// Timings are printed (with --nocapture) for whoever sizes benchmarks; they assert nothing.
#![allow(clippy::print_stderr)]

mod common;

use std::time::{Duration, Instant};

use common::{Client, INTENTS, TOKEN};
use discord_gateway_sim::{Sim, Target};

const SHARDS: u32 = 2000;

/// The soft limit on open files (Linux), if readable.
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_shards_at_once() {
    // Both ends live in this process: two descriptors per shard, plus slack.
    if let Some(limit) = open_file_limit() {
        assert!(
            limit >= u64::from(SHARDS) * 2 + 200,
            "this test needs `ulimit -n` >= {}, the soft limit is {limit}",
            SHARDS * 2 + 200
        );
    }
    let sim = Sim::builder()
        .token(TOKEN)
        .heartbeat_interval(Duration::from_secs(30))
        .max_concurrency(SHARDS)
        .session_start_limit(5000, 5000)
        .guilds(16)
        .start()
        .await
        .unwrap();
    let url = common::url(&sim, "v=10&encoding=json");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for shard in 0..SHARDS {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let (mut c, _) = Client::hello(&url).await;
            c.identify(TOKEN, INTENTS, Some([shard, SHARDS])).await;
            let ready = c.recv_until(0, Some("READY")).await;
            assert_eq!(ready["d"]["shard"][0], shard);
            c
        }));
    }
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await.unwrap());
    }
    let counters = sim.counters();
    assert_eq!(counters.open_connections, u64::from(SHARDS));
    assert_eq!(counters.readies, u64::from(SHARDS));
    assert_eq!(sim.session_count(), SHARDS as usize);
    // One broadcast reaches every shard.
    assert_eq!(
        sim.dispatch_to(
            Target::All,
            "INTERACTION_CREATE",
            &serde_json::json!({"id": "1"})
        ),
        SHARDS as usize
    );
    eprintln!(
        "{SHARDS} shards connected and identified in {:?}",
        started.elapsed()
    );
    drop(clients);
    sim.wait_for(|c| c.open_connections == 0, Duration::from_secs(30))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throughput_stream_runs_at_the_clients_pace() {
    const N: u64 = 5_000;
    // A long interval: this reader does not heartbeat while it drains the stream.
    let sim = Sim::builder()
        .token(TOKEN)
        .heartbeat_interval(Duration::from_secs(30))
        .start()
        .await
        .unwrap();
    let (mut c, _) = common::ready(&sim, "v=10&encoding=json&compress=zlib-stream").await;
    c.recv_until(0, Some("GUILD_CREATE")).await;
    let started = Instant::now();
    assert_eq!(sim.stream_messages(Target::All, N), 1);
    let mut expected = 3;
    for _ in 0..N {
        let text = c.next_text().await.unwrap();
        let s = text
            .split(",\"s\":")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .unwrap();
        assert_eq!(s.parse::<u64>().unwrap(), expected);
        expected += 1;
    }
    let elapsed = started.elapsed();
    eprintln!(
        "{N} MESSAGE_CREATE in {elapsed:?} ({:.0}/s)",
        N as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(sim.counters().streamed, N);
    // The stream is backpressured: the sim never ran far ahead of the reader.
    c.heartbeat(Some(expected - 1)).await;
    assert_eq!(c.recv().await["op"], 11);
    assert_eq!(sim.counters().heartbeat_seq_errors, 0);
}
