//! Benchmark 8: scale-out.
//!
//! 1,000 shards in one `ShardManager` (one process, `bench-client managed`), started against
//! the loopback sim as fast as the identify rule allows: `max_concurrency` 16, Discord's 5 s
//! window scaled down to 200 ms in the queue and the sim together. Reported: the time from
//! building the manager to the last READY against the rule's ideal `ceil(shards /
//! max_concurrency) * window`, the span of Identifies the sim recorded against the rule's floor,
//! Identifies the sim refused (op 9: they cost a retry and a session start), and the resident memory the process gained per
//! shard (heap trimmed before both readings; the sim runs in this process and is not counted).
//!
//! `cargo bench -p discord-gateway-benches --bench scale`; `SCALE_SHARDS` (default 1000),
//! `SCALE_MAX_CONCURRENCY` (16) and `SCALE_WINDOW_MS` (200) tune it. About 15 s.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use discord_gateway_benches::clients::TOKEN;
use discord_gateway_benches::measure::{machine, raise_fd_limit};
use discord_gateway_benches::scale::ManagedReport;
use discord_gateway_sim::Sim;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    raise_fd_limit();
    let shards = u32::try_from(env("SCALE_SHARDS", 1000)).expect("shard count");
    let max_concurrency = u32::try_from(env("SCALE_MAX_CONCURRENCY", 16)).expect("buckets");
    let window = Duration::from_millis(env("SCALE_WINDOW_MS", 200));
    // The sim timestamps an Identify when its thread gets to it; with 1,000 connections on it,
    // one can reach it a few milliseconds after the next (tests/manager.rs explains the 10 %).
    let sim = Sim::builder()
        .token(TOKEN)
        .max_concurrency(max_concurrency)
        .identify_window(window - window / 10)
        .session_start_limit(1_000_000, 1_000_000)
        .guilds(0)
        .start_blocking()
        .expect("sim starts");
    let output = Command::new(env!("CARGO_BIN_EXE_bench-client"))
        .args([
            "managed",
            &sim.url(),
            &shards.to_string(),
            &max_concurrency.to_string(),
            &window.as_millis().to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("bench-client starts")
        .wait_with_output()
        .expect("bench-client exits");
    assert!(output.status.success(), "bench-client: {}", output.status);
    let report = BufReader::new(output.stdout.as_slice())
        .lines()
        .map_while(Result::ok)
        .find_map(|line| ManagedReport::from_line(&line))
        .expect("a managed line");
    eprintln!("{report:?}");

    let mut identified: Vec<Duration> = sim
        .connections()
        .iter()
        .flat_map(|c| c.payloads.iter().filter(|p| p.op == Some(2)).map(|p| p.at))
        .collect();
    identified.sort();
    let span = identified.last().copied().unwrap_or_default()
        - identified.first().copied().unwrap_or_default();
    let per_bucket = shards.div_ceil(max_concurrency);
    let ideal = window * per_bucket;
    let floor = window * (per_bucket - 1);
    let counters = sim.counters();

    println!("# scale-out: {shards} shards in one process, one ShardManager (tokio)");
    println!("machine: {}", machine());
    println!();
    println!("| shards READY | max_concurrency | window | ideal start | measured start | measured / ideal | Identify span (floor) | refused Identifies | RSS before | RSS after | per shard |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {max_concurrency} | {} ms | {:.2} s | {:.2} s | {:.3} | {:.2} s ({:.2} s) | {} | {:.1} MiB | {:.1} MiB | {:.1} KiB |",
        report.shards,
        window.as_millis(),
        ideal.as_secs_f64(),
        report.start_s,
        report.start_s / ideal.as_secs_f64(),
        span.as_secs_f64(),
        floor.as_secs_f64(),
        counters.identify_rate_limited,
        report.rss_before as f64 / 1048576.0,
        report.rss_after as f64 / 1048576.0,
        report.per_shard() / 1024.0,
    );
    assert_eq!(report.shards, shards, "not every shard got READY");
    assert!(
        span >= floor - window / 10,
        "identified faster than the rule allows"
    );
}
