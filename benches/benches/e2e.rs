//! Benchmark 5: end to end over loopback.
//!
//! The sim runs in this process, on its own thread, in throughput mode: it streams
//! MESSAGE_CREATEs to one shard as fast as the shard reads them. Each client runs in a child
//! process (`bench-client stream`) on a single-threaded runtime, and measures itself between its
//! first and last MESSAGE_CREATE: wall time, CPU time of its thread and of its whole process,
//! and the heap allocations of its thread. A child process per run gives every contender a
//! fresh heap and keeps the sim's CPU out of its figures.
//!
//! twilight-gateway picks its transport compression when it is compiled, so the bench builds
//! `bench-client` once per compression setting (cached by cargo after the first run).
//!
//! `cargo bench -p discord-gateway-benches --bench e2e`; `E2E_EVENTS` (default 200000) and
//! `E2E_ROUNDS` (default 3; the median is reported) tune it, `E2E_COMPRESS=none,zstd-stream`
//! and `E2E_CLIENTS=ours-tokio,twilight-raw` narrow it.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use discord_gateway_benches::clients::{
    bench_client, Client, Compress, StreamReport, TOKEN, TWILIGHT_TOKEN,
};
use discord_gateway_benches::measure::machine;
use discord_gateway_sim::{Sim, Target};

fn env_list<T: std::str::FromStr + Copy>(name: &str, all: &[T]) -> Vec<T> {
    match std::env::var(name) {
        Ok(list) => list
            .split(',')
            .map(|item| {
                item.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}: unknown {item}"))
            })
            .collect(),
        Err(_) => all.to_vec(),
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One run: a fresh sim, one child client, `count` events.
fn run(exe: &Path, client: Client, compress: Compress, count: u64) -> StreamReport {
    let token = if client.is_twilight() {
        TWILIGHT_TOKEN
    } else {
        TOKEN
    };
    let sim = Sim::builder()
        .token(token)
        .record_payloads(false)
        .start_blocking()
        .expect("sim starts");
    let mut child = Command::new(exe)
        .args([
            "stream",
            client.name(),
            compress.name(),
            &sim.url(),
            &count.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("bench-client starts");
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut report = None;
    for line in lines.by_ref() {
        let line = line.expect("child output");
        if line == "ready" {
            sim.stream_messages(Target::All, count);
        } else if let Some(parsed) = StreamReport::from_line(&line) {
            report = Some(parsed);
            break;
        }
    }
    let status = child.wait().expect("child exits");
    assert!(status.success(), "{client} {compress}: {status}");
    report.unwrap_or_else(|| panic!("{client} {compress}: no result"))
}

fn median(mut values: Vec<StreamReport>, key: impl Fn(&StreamReport) -> f64) -> StreamReport {
    values.sort_by(|a, b| key(a).total_cmp(&key(b)));
    values[values.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; a name filter is not supported (use the variables).
    let count = env_u64("E2E_EVENTS", 200_000);
    let rounds = env_u64("E2E_ROUNDS", 3).max(1);
    let compressions = env_list("E2E_COMPRESS", &Compress::ALL);
    let clients = env_list("E2E_CLIENTS", &Client::ALL);
    let default = PathBuf::from(env!("CARGO_BIN_EXE_bench-client"));

    println!("# e2e: {count} MESSAGE_CREATE over loopback, median of {rounds} rounds");
    println!("machine: {}", machine());
    for compress in compressions {
        let twilight_exe = bench_client(&default, compress);
        let mut results: Vec<(Client, Vec<StreamReport>)> =
            clients.iter().map(|&c| (c, Vec::new())).collect();
        // Rounds interleave the contenders, so a noisy neighbour hits them alike.
        for round in 0..rounds {
            for (client, reports) in &mut results {
                let exe = if client.is_twilight() {
                    &twilight_exe
                } else {
                    &default
                };
                let report = run(exe, *client, compress, count);
                eprintln!(
                    "{compress} round {round} {client}: {:.0} ev/s, {:.0} ev/cpu-s, {:.2} allocs/ev",
                    report.events_per_s(),
                    report.events_per_cpu_s(),
                    report.allocs_per_event()
                );
                reports.push(report);
            }
        }
        println!();
        println!("## compression: {compress}");
        println!();
        println!("| client | events/s | events per CPU-s (process) | CPU-s per 1M events (process) | CPU-s per 1M events (client thread) | allocs/event (client thread) | avg event bytes |");
        println!("|---|---:|---:|---:|---:|---:|---:|");
        let medians: Vec<(Client, StreamReport)> = results
            .into_iter()
            .map(|(client, reports)| (client, median(reports, StreamReport::events_per_cpu_s)))
            .collect();
        for (client, r) in &medians {
            println!(
                "| {client} | {:.0} | {:.0} | {:.3} | {:.3} | {:.2} | {:.0} |",
                r.events_per_s(),
                r.events_per_cpu_s(),
                r.cpu_s_per_million(),
                r.thread_cpu_s * 1e6 / r.events as f64,
                r.allocs_per_event(),
                r.bytes as f64 / r.events as f64
            );
        }
        let find = |wanted: Client| medians.iter().find(|(c, _)| *c == wanted).map(|(_, r)| *r);
        // Raw against raw (ours checks `d`, twilight's raw mode does not look inside), and
        // typed against typed (both end with a `twilight_model` Message per event).
        let pairs = [
            (
                Client::TwilightRaw,
                &[Client::Tokio, Client::Smol, Client::TokioEtf][..],
            ),
            (
                Client::TwilightEvent,
                &[Client::TokioTyped, Client::Tokio, Client::Smol][..],
            ),
            // The cost of the metrics (issue 27: at least 0.97x the events per CPU-second).
            (Client::Tokio, &[Client::TokioMetrics][..]),
        ];
        for (anchor, ours_clients) in pairs {
            let Some(anchor_report) = find(anchor) else {
                continue;
            };
            for &ours in ours_clients {
                if let Some(r) = find(ours) {
                    println!(
                        "ratio {ours} / {anchor}: events/s {:.2}x, events per CPU-s {:.2}x",
                        r.events_per_s() / anchor_report.events_per_s(),
                        r.events_per_cpu_s() / anchor_report.events_per_cpu_s()
                    );
                }
            }
        }
    }
}
