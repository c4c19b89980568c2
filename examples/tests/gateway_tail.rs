//! End-to-end: the built `gateway-tail` binary against the sim, on both runtimes.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use discord_gateway_sim::{Fault, Sim, Target};
use serde_json::Value;

const TOKEN: &str = "tail-test-token";
const RUNTIMES: [&str; 2] = ["tokio", "smol"];

fn sim() -> Sim {
    Sim::builder()
        .token(TOKEN)
        .heartbeat_interval(Duration::from_millis(500))
        .start_blocking()
        .unwrap()
}

/// A running `gateway-tail` whose stdout and stderr are collected.
struct Tail {
    child: Child,
    stdout: thread::JoinHandle<String>,
    stderr: thread::JoinHandle<String>,
}

fn spawn(sim: &Sim, runtime: &str, extra: &[&str], token: &str) -> Tail {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gateway-tail"))
        .args([
            "--gateway-url",
            &sim.url(),
            "--runtime",
            runtime,
            "--intents",
            "GUILDS,GUILD_MESSAGES",
        ])
        .args(extra)
        .env("DISCORD_TOKEN", token)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let stdout = thread::spawn(move || {
        let mut text = String::new();
        out.read_to_string(&mut text).unwrap();
        text
    });
    let stderr = thread::spawn(move || {
        let mut text = String::new();
        err.read_to_string(&mut text).unwrap();
        text
    });
    Tail {
        child,
        stdout,
        stderr,
    }
}

impl Tail {
    /// Waits for the process to exit (failing the test after `limit`).
    fn finish(mut self, limit: Duration) -> (i32, String, String) {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "gateway-tail did not exit within {limit:?}: {}",
                    self.stderr.join().unwrap()
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        (
            status.code().unwrap_or(-1),
            self.stdout.join().unwrap(),
            self.stderr.join().unwrap(),
        )
    }
}

fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

fn wait_ready(sim: &Sim, readies: u64) {
    sim.wait_for_blocking(|c| c.readies >= readies, Duration::from_secs(20))
        .unwrap();
}

#[test]
fn dispatch_data_is_passed_through_byte_for_byte() {
    // Odd spacing, escapes and key order that a re-serializer would change.
    let raw = r#"{ "content" : "caf\u00e9 \ud83e\udd80 \"quoted\" \/ slash",  "id":"1", "guild_id" :"584799433523331074", "nested":{"b":1,"a":[1 , 2]} }"#;
    for runtime in RUNTIMES {
        let sim = sim();
        let tail = spawn(
            &sim,
            runtime,
            &["--events", "READY,MESSAGE_CREATE", "--max-events", "2"],
            TOKEN,
        );
        wait_ready(&sim, 1);
        sim.dispatch_raw(Target::All, "MESSAGE_CREATE", raw)
            .unwrap();
        let (code, stdout, stderr) = tail.finish(Duration::from_secs(30));
        assert_eq!(code, 0, "{runtime}: {stderr}");
        let last = stdout.lines().last().unwrap();
        let head: String = last.chars().take(200).collect();
        assert!(last.starts_with(r#"{"shard":0,"seq":"#), "{head}");
        assert!(
            last.ends_with(&format!(r#","t":"MESSAGE_CREATE","d":{raw}}}"#)),
            "{runtime}: {head}"
        );
        assert_eq!(lines(&stdout)[0]["t"], "READY");
    }
}

#[test]
fn a_reconnect_is_resumed_with_nothing_lost_or_repeated() {
    for runtime in RUNTIMES {
        let sim = sim();
        let total = 40;
        // READY, the sim's GUILD_CREATE for its guild, then the messages.
        let tail = spawn(
            &sim,
            runtime,
            &[
                "--events",
                "MESSAGE_CREATE",
                "--max-events",
                &total.to_string(),
            ],
            TOKEN,
        );
        wait_ready(&sim, 1);
        for i in 0..total {
            if i == total / 2 {
                sim.fault(Fault::Reconnect);
            }
            sim.message_create(&format!("message {i}"));
        }
        let (code, stdout, stderr) = tail.finish(Duration::from_secs(30));
        assert_eq!(code, 0, "{runtime}: {stderr}");
        let events = lines(&stdout);
        let contents: Vec<String> = events
            .iter()
            .map(|e| e["d"]["content"].as_str().unwrap().to_owned())
            .collect();
        let expected: Vec<String> = (0..total).map(|i| format!("message {i}")).collect();
        assert_eq!(contents, expected, "{runtime}");
        let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        assert!(seqs.windows(2).all(|w| w[1] > w[0]), "{runtime}: {seqs:?}");
        assert_eq!(sim.counters().resumed, 1, "{runtime}");
    }
}

#[test]
fn a_bad_token_exits_non_zero_with_one_clear_line() {
    for runtime in RUNTIMES {
        let sim = sim();
        let tail = spawn(&sim, runtime, &[], "not-the-right-token");
        let (code, stdout, stderr) = tail.finish(Duration::from_secs(30));
        assert_eq!(code, 2, "{runtime}");
        assert!(stdout.is_empty());
        let last = stderr.lines().last().unwrap();
        assert_eq!(
            last, "gateway-tail: authentication failed (4004): check the bot token (DISCORD_TOKEN)",
            "{runtime}"
        );
        assert!(
            !stderr.contains("not-the-right-token"),
            "the token leaked into the logs"
        );
    }
}

#[test]
fn a_session_file_resumes_across_runs() {
    for runtime in RUNTIMES {
        let sim = sim();
        let dir =
            std::env::temp_dir().join(format!("gateway-tail-{}-{runtime}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("session.json");
        let _ = std::fs::remove_file(&file);
        let path = file.to_str().unwrap();

        let first = spawn(
            &sim,
            runtime,
            &[
                "--events",
                "MESSAGE_CREATE",
                "--max-events",
                "2",
                "--session-file",
                path,
            ],
            TOKEN,
        );
        wait_ready(&sim, 1);
        sim.message_create("first 0");
        sim.message_create("first 1");
        let (code, stdout, stderr) = first.finish(Duration::from_secs(30));
        assert_eq!(code, 0, "{runtime}: {stderr}");
        assert_eq!(lines(&stdout).len(), 2);
        assert!(Path::new(path).exists(), "{runtime}: session not saved");
        let saved: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert!(saved["state"]["session_id"].is_string(), "{saved}");

        // Events while no process runs are replayed to the next one.
        sim.wait_for_blocking(|c| c.open_connections == 0, Duration::from_secs(10))
            .unwrap();
        sim.message_create("while away");
        let second = spawn(
            &sim,
            runtime,
            &[
                "--events",
                "MESSAGE_CREATE",
                "--max-events",
                "2",
                "--session-file",
                path,
            ],
            TOKEN,
        );
        sim.wait_for_blocking(|c| c.resumed >= 1, Duration::from_secs(20))
            .unwrap();
        sim.message_create("second");
        let (code, stdout, stderr) = second.finish(Duration::from_secs(30));
        assert_eq!(code, 0, "{runtime}: {stderr}");
        let contents: Vec<Value> = lines(&stdout)
            .iter()
            .map(|e| e["d"]["content"].clone())
            .collect();
        assert_eq!(contents, ["while away", "second"], "{runtime}");
        assert_eq!(
            sim.counters().identifies,
            1,
            "{runtime}: the second run resumed instead of identifying"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn compressed_transports_tail_the_same() {
    for runtime in RUNTIMES {
        for compress in ["zlib-stream", "zstd-stream"] {
            let sim = sim();
            let tail = spawn(
                &sim,
                runtime,
                &[
                    "--compress",
                    compress,
                    "--events",
                    "MESSAGE_CREATE",
                    "--max-events",
                    "20",
                ],
                TOKEN,
            );
            wait_ready(&sim, 1);
            for i in 0..20 {
                sim.message_create(&format!("{compress} {i}"));
            }
            let (code, stdout, stderr) = tail.finish(Duration::from_secs(30));
            assert_eq!(code, 0, "{runtime} {compress}: {stderr}");
            let events = lines(&stdout);
            assert_eq!(events.len(), 20);
            assert_eq!(events[19]["d"]["content"], format!("{compress} 19"));
            assert!(
                sim.connections()
                    .iter()
                    .all(|c| c.compress.as_deref() == Some(compress)),
                "{runtime} {compress}"
            );
        }
    }
}

#[test]
fn without_a_token_or_url_it_runs_the_offline_demo_and_exits_0() {
    let child = Command::new(env!("CARGO_BIN_EXE_gateway-tail"))
        .env_remove("DISCORD_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.lines().next().unwrap().contains("offline demo"));
    let events = lines(&String::from_utf8_lossy(&output.stdout));
    let names: Vec<&str> = events.iter().map(|e| e["t"].as_str().unwrap()).collect();
    assert_eq!(
        names.iter().filter(|n| **n == "READY").count(),
        2,
        "a second session after the invalid session"
    );
    assert!(names.contains(&"RESUMED"));
    assert!(events
        .iter()
        .any(|e| e["d"]["content"] == "sent while the client was away: replayed on resume"));
    assert_eq!(
        events.last().unwrap()["d"]["content"],
        "a new session after an invalid session"
    );
}

#[test]
fn shards_run_in_one_process_and_each_line_names_its_shard() {
    for runtime in RUNTIMES {
        let sim = Sim::builder()
            .token(TOKEN)
            .heartbeat_interval(Duration::from_millis(500))
            .max_concurrency(4)
            .start_blocking()
            .unwrap();
        let api = format!("{}/api/v10", sim.http_url());
        let tail = spawn(
            &sim,
            runtime,
            &[
                "--shards",
                "0-3/4",
                "--api-url",
                &api,
                "--events",
                "MESSAGE_CREATE",
                "--max-events",
                "8",
            ],
            TOKEN,
        );
        wait_ready(&sim, 4);
        for round in 0..2 {
            for shard in 0..4 {
                message_to(&sim, shard, &format!("{shard}:{round}"));
            }
        }
        let (code, stdout, stderr) = tail.finish(Duration::from_secs(30));
        assert_eq!(code, 0, "{runtime}: {stderr}");
        let lines = lines(&stdout);
        assert_eq!(
            lines.len(),
            8,
            "{runtime}: --max-events counts every shard's"
        );
        for line in &lines {
            let content = line["d"]["content"].as_str().unwrap();
            let (shard, _) = content.split_once(':').unwrap();
            assert_eq!(line["shard"].to_string(), shard, "{runtime}: {line}");
        }
        let counters = sim.counters();
        assert_eq!(counters.identifies, 4, "{runtime}: {counters:?}");
        assert!(counters.http_requests >= 1, "discovery asked the sim");
    }
}

#[test]
fn a_session_store_resumes_every_shard_across_runs() {
    let sim = Sim::builder()
        .token(TOKEN)
        .heartbeat_interval(Duration::from_millis(500))
        .max_concurrency(2)
        .start_blocking()
        .unwrap();
    let api = format!("{}/api/v10", sim.http_url());
    let path = std::env::temp_dir().join(format!("gateway-tail-store-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let store = format!("file:{}", path.display());
    let message = |shard: u32, n: u32| message_to(&sim, shard, &format!("{shard}:{n}"));
    let flags = |max: &'static str| {
        [
            "--shards",
            "0-1/2",
            "--api-url",
            api.as_str(),
            "--session-store",
            store.as_str(),
            "--events",
            "MESSAGE_CREATE",
            "--max-events",
            max,
        ]
        .map(str::to_owned)
    };
    let first = flags("2");
    let first: Vec<&str> = first.iter().map(String::as_str).collect();
    let tail = spawn(&sim, "tokio", &first, TOKEN);
    wait_ready(&sim, 2);
    message(0, 0);
    message(1, 0);
    let (code, _, stderr) = tail.finish(Duration::from_secs(30));
    assert_eq!(code, 0, "{stderr}");
    let saved: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(saved["sessions"].as_object().unwrap().len(), 2, "{saved}");

    // Generated while no process runs the shards: replayed on resume.
    message(0, 1);
    message(1, 1);
    let second = flags("2");
    let second: Vec<&str> = second.iter().map(String::as_str).collect();
    let tail = spawn(&sim, "smol", &second, TOKEN);
    let (code, stdout, stderr) = tail.finish(Duration::from_secs(30));
    assert_eq!(code, 0, "{stderr}");
    let mut contents: Vec<String> = lines(&stdout)
        .iter()
        .map(|line| line["d"]["content"].as_str().unwrap().to_owned())
        .collect();
    contents.sort();
    assert_eq!(contents, ["0:1", "1:1"]);
    let counters = sim.counters();
    assert_eq!(
        counters.identifies, 2,
        "the second run resumed: {counters:?}"
    );
    assert_eq!(counters.resumed, 2, "{counters:?}");
    let _ = std::fs::remove_file(&path);
}

// --- Redis: the identify queue, the session store and the stream, against a real redis-server.

/// The Redis adapter's own test server (one copy of the logic): a redis-server on a free port,
/// or `None` with a notice when none is installed (unless DISCORD_GATEWAY_REQUIRE_REDIS=1).
#[path = "../../adapters/redis/tests/common/server.rs"]
#[allow(dead_code, unreachable_pub)]
mod redis_server;

use redis_server::RedisServer;

/// Discord's 5 s identify window, scaled down in the sim and in gateway-tail's queue together.
const WINDOW: Duration = Duration::from_millis(500);
/// How long gateway-tail's Redis queue holds a bucket past the window: two processes on a
/// loaded machine may send their Identifies this much apart after Redis granted them.
const GUARD_MS: &str = "200";

fn redis_sim(max_concurrency: u32) -> Sim {
    Sim::builder()
        .token(TOKEN)
        .heartbeat_interval(Duration::from_millis(500))
        .max_concurrency(max_concurrency)
        .identify_window(WINDOW)
        .start_blocking()
        .unwrap()
}

fn message_to(sim: &Sim, shard: u32, content: &str) {
    let d = serde_json::json!({
        "id": "1",
        "guild_id": "584799433523331074",
        "channel_id": "584799433523331074",
        "content": content,
    });
    assert_eq!(
        sim.dispatch_to(Target::Shard(shard), "MESSAGE_CREATE", &d),
        1,
        "shard {shard} is connected"
    );
}

/// The key `rest` under the default prefix of `token`'s bot: `{discord-gateway:BOT}:rest`.
fn redis_key(token: &str, rest: &str) -> String {
    let token = discord_gateway::Token::new(token).unwrap();
    let bot = discord_gateway_driver::SessionSeal::new(&token)
        .bot()
        .to_owned();
    format!("{{discord-gateway:{bot}}}:{rest}")
}

fn owned(flags: &[&str]) -> Vec<String> {
    flags.iter().map(|flag| (*flag).to_owned()).collect()
}

fn spawn_owned(sim: &Sim, runtime: &str, flags: &[String]) -> Tail {
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    spawn(sim, runtime, &flags, TOKEN)
}

#[test]
fn two_processes_sharing_a_redis_identify_queue_never_use_a_bucket_twice_in_a_window() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let max_concurrency = 2;
    let sim = redis_sim(max_concurrency);
    let api = format!("{}/api/v10", sim.http_url());
    let window_ms = WINDOW.as_millis().to_string();
    let flags = |range: &str| {
        owned(&[
            "--shards",
            range,
            "--api-url",
            &api,
            "--identify-queue",
            &redis.url(),
            "--identify-window-ms",
            &window_ms,
            "--identify-guard-ms",
            GUARD_MS,
            "--events",
            "MESSAGE_CREATE",
            "--max-events",
            "4",
        ])
    };
    // One on each runtime: the queue is the same Redis script on both.
    let first = spawn_owned(&sim, "tokio", &flags("0-3/8"));
    let second = spawn_owned(&sim, "smol", &flags("4-7/8"));
    sim.wait_for_blocking(|c| c.readies >= 8, Duration::from_secs(60))
        .unwrap();
    for shard in 0..8 {
        message_to(&sim, shard, &format!("{shard}"));
    }
    for (tail, range) in [(first, 0..4), (second, 4..8)] {
        let (code, stdout, stderr) = tail.finish(Duration::from_secs(30));
        assert_eq!(code, 0, "{stderr}");
        let mut shards: Vec<u64> = lines(&stdout)
            .iter()
            .map(|line| line["shard"].as_u64().unwrap())
            .collect();
        shards.sort_unstable();
        assert_eq!(shards, range.collect::<Vec<u64>>());
    }

    // Every Identify the sim received, by arrival: no bucket twice within a window.
    let mut identifies: Vec<(Duration, u32)> = Vec::new();
    for connection in sim.connections() {
        for payload in connection.payloads.iter().filter(|p| p.op == Some(2)) {
            let shard = payload.json().unwrap()["d"]["shard"][0].as_u64().unwrap();
            identifies.push((payload.at, shard as u32));
        }
    }
    identifies.sort_unstable();
    assert_eq!(
        identifies.len(),
        8,
        "one Identify per shard: {identifies:?}"
    );
    let mut last = std::collections::BTreeMap::new();
    for (at, shard) in &identifies {
        let bucket = shard % max_concurrency;
        if let Some(previous) = last.insert(bucket, *at) {
            assert!(
                *at - previous >= WINDOW,
                "bucket {bucket} identified at {previous:?} and again at {at:?}: {identifies:?}"
            );
        }
    }
    let counters = sim.counters();
    assert_eq!(counters.identify_rate_limited, 0, "{counters:?}");
    assert_eq!(counters.readies, 8, "{counters:?}");
}

#[test]
fn redis_stream_gets_every_printed_dispatch_with_its_shard() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let sim = redis_sim(2);
    let api = format!("{}/api/v10", sim.http_url());
    let key = "tail-events";
    let flags = owned(&[
        "--shards",
        "0-1/2",
        "--api-url",
        &api,
        "--redis-stream",
        key,
        "--redis-url",
        &redis.url(),
        "--events",
        "MESSAGE_CREATE",
        "--max-events",
        "6",
    ]);
    let tail = spawn_owned(&sim, "tokio", &flags);
    wait_ready(&sim, 2);
    for n in 0..3 {
        message_to(&sim, 0, &format!("0:{n}"));
        message_to(&sim, 1, &format!("1:{n}"));
    }
    let (code, stdout, stderr) = tail.finish(Duration::from_secs(30));
    assert_eq!(code, 0, "{stderr}");
    let printed = lines(&stdout);
    assert_eq!(printed.len(), 6);

    let mut connection = redis.client().get_connection().unwrap();
    let len: usize = redis::cmd("XLEN").arg(key).query(&mut connection).unwrap();
    assert_eq!(len, 6);
    let entries: Vec<(String, std::collections::HashMap<String, String>)> = redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query(&mut connection)
        .unwrap();
    assert_eq!(entries.len(), printed.len());
    for ((_, fields), line) in entries.iter().zip(&printed) {
        assert_eq!(fields.len(), 2, "{fields:?}");
        let shard: u64 = fields["shard"].parse().unwrap();
        let event: Value = serde_json::from_str(&fields["event"]).unwrap();
        assert_eq!(Some(shard), line["shard"].as_u64(), "{line}");
        assert_eq!(event["op"], 0, "the whole dispatch payload: {event}");
        assert_eq!(event["t"], line["t"], "{event}");
        assert_eq!(event["s"], line["seq"], "{event}");
        assert_eq!(event["d"], line["d"], "{event}");
    }
}

#[test]
fn a_redis_session_store_resumes_every_shard_across_runs() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let sim = redis_sim(2);
    let api = format!("{}/api/v10", sim.http_url());
    let flags = owned(&[
        "--shards",
        "0-1/2",
        "--api-url",
        &api,
        "--session-store",
        &redis.url(),
        "--events",
        "MESSAGE_CREATE",
        "--max-events",
        "2",
    ]);
    let tail = spawn_owned(&sim, "tokio", &flags);
    wait_ready(&sim, 2);
    message_to(&sim, 0, "0:0");
    message_to(&sim, 1, "1:0");
    let (code, _, stderr) = tail.finish(Duration::from_secs(30));
    assert_eq!(code, 0, "{stderr}");
    let mut connection = redis.client().get_connection().unwrap();
    let saved: Vec<Option<String>> = redis::cmd("MGET")
        .arg(redis_key(TOKEN, "session:2:0"))
        .arg(redis_key(TOKEN, "session:2:1"))
        .query(&mut connection)
        .unwrap();
    assert!(saved.iter().all(Option::is_some), "{saved:?}");

    // Generated while no process runs the shards: replayed on resume.
    sim.wait_for_blocking(|c| c.open_connections == 0, Duration::from_secs(10))
        .unwrap();
    message_to(&sim, 0, "0:1");
    message_to(&sim, 1, "1:1");
    let tail = spawn_owned(&sim, "smol", &flags);
    let (code, stdout, stderr) = tail.finish(Duration::from_secs(30));
    assert_eq!(code, 0, "{stderr}");
    let mut contents: Vec<String> = lines(&stdout)
        .iter()
        .map(|line| line["d"]["content"].as_str().unwrap().to_owned())
        .collect();
    contents.sort();
    assert_eq!(contents, ["0:1", "1:1"]);
    let counters = sim.counters();
    assert_eq!(
        counters.identifies, 2,
        "the second run resumed: {counters:?}"
    );
    assert_eq!(counters.resumed, 2, "{counters:?}");
}

#[test]
fn an_unreachable_redis_stops_the_start_with_one_clear_line() {
    let sim = redis_sim(1);
    let api = format!("{}/api/v10", sim.http_url());
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}/3");
    let flags = owned(&[
        "--shards",
        "0-1/2",
        "--api-url",
        &api,
        "--identify-queue",
        &url,
    ]);
    let tail = spawn_owned(&sim, "tokio", &flags);
    let (code, stdout, stderr) = tail.finish(Duration::from_secs(30));
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.is_empty());
    let last = stderr.lines().last().unwrap();
    assert!(
        last.starts_with(&format!(
            "gateway-tail: cannot reach the Redis for the identify queue at 127.0.0.1:{port}/3: "
        )),
        "{last}"
    );
    assert!(!stderr.contains(TOKEN), "the token leaked into the logs");
    assert_eq!(sim.counters().identifies, 0);
}

/// One sim, two tails on it (JSON and ETF) receiving the same broadcast dispatches: the ETF
/// tail prints what the JSON tail prints, for each transport compression.
#[test]
fn etf_prints_what_json_prints_under_every_compression() {
    etf_prints_what_json_prints("tokio", "smol");
}

/// The same with the runtimes swapped, so ETF runs under every compression on both.
#[test]
fn etf_on_tokio_prints_what_json_on_smol_prints() {
    etf_prints_what_json_prints("smol", "tokio");
}

/// The sim reads the ETF tail's commands with an ETF implementation of its own and closes with
/// 4002 on any term erlpack would not write; it sends snowflakes as integers, which the ETF
/// tail prints as the strings the JSON tail prints.
fn etf_prints_what_json_prints(json_runtime: &str, etf_runtime: &str) {
    for compress in ["none", "zlib-stream", "zstd-stream"] {
        let sim = sim();
        let events = [
            "--events",
            "MESSAGE_CREATE,TYPING_START,PRESENCE_UPDATE,INTERACTION_CREATE,GUILD_CREATE",
            "--compress",
            compress,
            "--max-events",
            "7",
        ];
        let json = spawn(
            &sim,
            json_runtime,
            &[&events[..], &["--encoding", "json"]].concat(),
            TOKEN,
        );
        wait_ready(&sim, 1);
        let etf = spawn(
            &sim,
            etf_runtime,
            &[&events[..], &["--encoding", "etf"]].concat(),
            TOKEN,
        );
        wait_ready(&sim, 2);
        let script = discord_gateway_sim::Script::new()
            .step_timeout(Duration::from_secs(20))
            .guild_create(5)
            .message("caf\u{e9} \u{1f980} \"quoted\" \\ back\nslash")
            .typing_start()
            .presence_update()
            .interaction_create()
            .message("last");
        sim.run_script(script).wait_blocking().unwrap();
        // The second connection spoke ETF: it asked for it, and its Identify came as binary.
        let records = sim.connections();
        assert!(
            records[1].query.contains("encoding=etf"),
            "{}",
            records[1].query
        );
        assert!(!records[0].query.contains("encoding=etf"));
        // The first payload that is not a heartbeat: the first heartbeat is due at a random
        // fraction of the interval and may go out while Identify waits for its permit.
        let first = |i: usize| {
            records[i]
                .payloads
                .iter()
                .find(|p| p.op != Some(1))
                .map(|p| (p.op, p.binary))
        };
        assert_eq!(first(1), Some((Some(2), true)), "{:?}", records[1]);
        assert_eq!(first(0), Some((Some(2), false)));
        // The sim's own GUILD_CREATE after READY, then the six scripted dispatches.
        let (json_code, json_out, json_err) = json.finish(Duration::from_secs(30));
        let (etf_code, etf_out, etf_err) = etf.finish(Duration::from_secs(30));
        assert_eq!(json_code, 0, "{compress}: {json_err}");
        assert_eq!(etf_code, 0, "{compress}: {etf_err}");
        let json_lines: Vec<&str> = json_out.lines().collect();
        let etf_lines: Vec<&str> = etf_out.lines().collect();
        assert_eq!(json_lines.len(), 7, "{compress}: {json_err}");
        assert_eq!(etf_lines.len(), 7, "{compress}: {etf_err}");
        for (json, etf) in json_lines.iter().zip(&etf_lines) {
            let json: Value = serde_json::from_str(json).unwrap();
            let etf: Value = serde_json::from_str(etf).unwrap();
            assert_eq!(etf["t"], json["t"], "{compress}");
            assert_eq!(etf["d"], json["d"], "{compress}: {}", json["t"]);
        }
        // The scripted dispatches are one serialisation sent to both: byte for byte the same.
        assert_eq!(etf_lines[1..], json_lines[1..], "{compress}");
        assert_eq!(sim.counters().server_closed(4002), 0, "{compress}");
    }
}

// --- Saved sessions are bound to their shard and bot (issue 22, items 1 and 6).

/// A temporary folder for one test, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("gateway-tail-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn file(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_session_file_saved_by_another_shard_is_not_resumed() {
    let sim = sim();
    let dir = TempDir::new("other-shard");
    let path = dir.file("session.json");
    let run = |shard: &str| {
        spawn(
            &sim,
            "tokio",
            &[
                "--shard",
                shard,
                "--events",
                "MESSAGE_CREATE",
                "--max-events",
                "1",
                "--session-file",
                &path,
            ],
            TOKEN,
        )
    };
    let first = run("1/2");
    wait_ready(&sim, 1);
    message_to(&sim, 1, "to shard 1");
    let (code, _, stderr) = first.finish(Duration::from_secs(30));
    assert_eq!(code, 0, "{stderr}");
    assert!(Path::new(&path).exists(), "shard 1's session was saved");
    sim.wait_for_blocking(|c| c.open_connections == 0, Duration::from_secs(10))
        .unwrap();

    // The same file, another shard: shard 1's session is not resumed as shard 0.
    let second = run("0/2");
    wait_ready(&sim, 2);
    message_to(&sim, 0, "to shard 0");
    let (code, _, stderr) = second.finish(Duration::from_secs(30));
    assert_eq!(code, 0, "{stderr}");
    let counters = sim.counters();
    assert_eq!(counters.resumes, 0, "{counters:?}");
    assert_eq!(counters.readies, 2, "{counters:?}");
    assert!(
        stderr.contains("belongs to shard 1/2"),
        "the warning says why: {stderr}"
    );
    let resumes: usize = sim
        .connections()
        .iter()
        .flat_map(|connection| &connection.payloads)
        .filter(|payload| payload.op == Some(6))
        .count();
    assert_eq!(resumes, 0, "no Resume was sent");
}

#[test]
fn one_corrupt_entry_in_a_session_store_costs_only_its_shard_an_identify() {
    let sim = Sim::builder()
        .token(TOKEN)
        .heartbeat_interval(Duration::from_millis(500))
        .max_concurrency(2)
        .start_blocking()
        .unwrap();
    let api = format!("{}/api/v10", sim.http_url());
    let dir = TempDir::new("corrupt-entry");
    let path = dir.file("sessions.json");
    let store = format!("file:{path}");
    let flags = owned(&[
        "--shards",
        "0-1/2",
        "--api-url",
        &api,
        "--session-store",
        &store,
        "--events",
        "MESSAGE_CREATE",
        "--max-events",
        "2",
    ]);
    let tail = spawn_owned(&sim, "tokio", &flags);
    wait_ready(&sim, 2);
    message_to(&sim, 0, "0:0");
    message_to(&sim, 1, "1:0");
    let (code, _, stderr) = tail.finish(Duration::from_secs(30));
    assert_eq!(code, 0, "{stderr}");
    sim.wait_for_blocking(|c| c.open_connections == 0, Duration::from_secs(10))
        .unwrap();

    // Shard 1's entry is damaged (by hand, by a disk): shard 0 still resumes.
    let mut saved: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    saved["sessions"]["1/2"] = Value::String("damaged".into());
    std::fs::write(&path, saved.to_string()).unwrap();
    message_to(&sim, 0, "0:1");
    let tail = spawn_owned(&sim, "tokio", &flags);
    // Shard 1's second READY (shard 0 resumes: RESUMED, not READY).
    wait_ready(&sim, 3);
    let d = serde_json::json!({"id": "1", "channel_id": "1", "content": "1:1"});
    // To the new session of shard 1 (and to the old one, detached and never resumed).
    assert!(sim.dispatch_to(Target::Shard(1), "MESSAGE_CREATE", &d) >= 1);
    let (code, stdout, stderr) = tail.finish(Duration::from_secs(30));
    assert_eq!(code, 0, "the start goes on: {stderr}");
    let mut contents: Vec<String> = lines(&stdout)
        .iter()
        .map(|line| line["d"]["content"].as_str().unwrap().to_owned())
        .collect();
    contents.sort();
    assert_eq!(contents, ["0:1", "1:1"]);
    let counters = sim.counters();
    assert_eq!(counters.resumed, 1, "shard 0 resumed: {counters:?}");
    assert_eq!(
        counters.readies, 3,
        "shard 1 identified again: {counters:?}"
    );
    assert!(
        stderr.contains("shard 1/2 is not resumed"),
        "a warning names the shard: {stderr}"
    );
}

// --- Secrets on the command line (issue 22, item 5).

/// Runs gateway-tail with `flags` and `env`, no sim needed (it stops before connecting).
fn run_alone(flags: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_gateway-tail"))
        .args(flags)
        .env("DISCORD_TOKEN", TOKEN)
        .env_remove("REDIS_URL")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn no_error_prints_a_redis_password() {
    const PASSWORD: &str = "hunter2-secret";
    let url = format!("redis://:{PASSWORD}@db.example:63x9");
    for flag in ["--session-store", "--identify-queue"] {
        let (code, stderr) = run_alone(&["--shards", "0-1/2", flag, &url], &[]);
        assert_eq!(code, 2, "{stderr}");
        assert!(!stderr.contains(PASSWORD), "{flag}: {stderr}");
        assert!(stderr.contains(flag), "the flag is named: {stderr}");
    }
    let (code, stderr) = run_alone(
        &[
            "--shards",
            "0-1/2",
            "--redis-stream",
            "events",
            "--redis-url",
            &url,
        ],
        &[],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    // Given as `--flag=value` to a flag that does not exist: still not shown.
    let (code, stderr) = run_alone(
        &["--shards", "0-1/2", &format!("--sesion-store={url}")],
        &[],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
}

#[test]
fn the_redis_url_can_come_from_redis_url_and_is_shown_without_its_password() {
    const PASSWORD: &str = "hunter2-secret";
    let sim = redis_sim(1);
    let api = format!("{}/api/v10", sim.http_url());
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://:{PASSWORD}@127.0.0.1:{port}/2");
    let (code, stderr) = run_alone(
        &[
            "--shards",
            "0-1/2",
            "--api-url",
            &api,
            "--session-store",
            "redis",
        ],
        &[("REDIS_URL", &url)],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("the session store at 127.0.0.1:{port}/2")),
        "{stderr}"
    );
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    // A typo in REDIS_URL: named, not printed.
    let bad = format!("redis://:{PASSWORD}@127.0.0.1:x");
    let (code, stderr) = run_alone(
        &["--shards", "0-1/2", "--identify-queue", "redis"],
        &[("REDIS_URL", &bad)],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("REDIS_URL"), "{stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    // `redis` without REDIS_URL says what is missing.
    let (code, stderr) = run_alone(&["--shards", "0-1/2", "--session-store", "redis"], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("REDIS_URL"), "{stderr}");
}

#[test]
fn help_says_a_password_in_a_flag_shows_in_ps() {
    let output = Command::new(env!("CARGO_BIN_EXE_gateway-tail"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(
        help.contains("a password in a redis:// flag shows in `ps`") && help.contains("REDIS_URL"),
        "{help}"
    );
}

// --- What a stop leaves behind (issue 22, item 10).

/// The session keys in `redis`, whatever their layout.
fn session_keys(redis: &RedisServer) -> Vec<String> {
    let mut connection = redis.client().get_connection().unwrap();
    redis::cmd("KEYS")
        .arg("*session*")
        .query(&mut connection)
        .unwrap()
}

#[test]
fn sessions_are_saved_only_after_the_stream_has_every_event_they_cover() {
    let Some(store) = RedisServer::start() else {
        return;
    };
    // Kept on disk: it is restarted mid-test, and must keep the event it already has.
    let Some(mut stream) = RedisServer::start_with(redis_server::Persistence::AppendAlways) else {
        return;
    };
    let sim = redis_sim(1);
    let api = format!("{}/api/v10", sim.http_url());
    let flags = owned(&[
        "--shards",
        "0-0/1",
        "--api-url",
        &api,
        "--session-store",
        &store.url(),
        "--redis-stream",
        "events",
        "--redis-url",
        &stream.url(),
        "--events",
        "MESSAGE_CREATE",
        "--max-events",
        "2",
    ]);
    let tail = spawn_owned(&sim, "tokio", &flags);
    wait_ready(&sim, 1);
    message_to(&sim, 0, "first");
    let xlen = |redis: &RedisServer| -> u64 {
        let mut connection = redis.client().get_connection().unwrap();
        redis::cmd("XLEN")
            .arg("events")
            .query(&mut connection)
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while xlen(&stream) < 1 {
        assert!(
            Instant::now() < deadline,
            "the first event never reached the stream"
        );
        thread::sleep(Duration::from_millis(20));
    }
    // The stream's Redis goes away: the second event is printed, the tail stops (max 2), and
    // the flush waits for that Redis. The session must not be saved meanwhile: it covers an
    // event the stream does not have.
    stream.kill();
    message_to(&sim, 0, "second");
    let watch_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < watch_until {
        let keys = session_keys(&store);
        assert!(
            keys.is_empty(),
            "saved before the stream got its events: {keys:?}"
        );
        thread::sleep(Duration::from_millis(50));
    }
    // Back: the flush completes, then the session is saved, and the tail exits.
    stream.start_again();
    let (code, stdout, stderr) = tail.finish(Duration::from_secs(30));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(lines(&stdout).len(), 2, "{stdout}");
    assert_eq!(xlen(&stream), 2, "every printed event is in the stream");
    assert_eq!(session_keys(&store).len(), 1, "then the session was saved");
}

// --- A fleet in one Redis (issue 22, "done when"): two bots, and two processes of one bot
// with overlapping ranges.

/// One `XRANGE` entry: its id and its fields.
type StreamEntry = (String, Vec<(String, Vec<u8>)>);

#[test]
fn two_bots_and_two_overlapping_processes_share_one_redis_without_trampling() {
    const TOKEN_B: &str = "tail-test-token-bot-b";
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let sim_for = |token: &str| {
        Sim::builder()
            .token(token)
            .heartbeat_interval(Duration::from_millis(500))
            .recommended_shards(4)
            .max_concurrency(4)
            .identify_window(WINDOW)
            .start_blocking()
            .unwrap()
    };
    let (sim_a, sim_b) = (sim_for(TOKEN), sim_for(TOKEN_B));
    let flags = |sim: &Sim, range: &str, stream: &str, max: &str| {
        owned(&[
            "--shards",
            range,
            "--api-url",
            &format!("{}/api/v10", sim.http_url()),
            "--identify-queue",
            &redis.url(),
            "--session-store",
            &redis.url(),
            "--redis-stream",
            stream,
            "--identify-window-ms",
            "500",
            "--identify-guard-ms",
            GUARD_MS,
            "--events",
            "MESSAGE_CREATE",
            "--max-events",
            max,
        ])
    };
    // Bot A: the first process takes shards 0-2; the second, given 1-3, finds 1 and 2 leased.
    let first = spawn_owned(&sim_a, "tokio", &flags(&sim_a, "0-2/4", "events-a", "3"));
    wait_ready(&sim_a, 3);
    let second = spawn_owned(&sim_a, "smol", &flags(&sim_a, "1-3/4", "events-a", "1"));
    wait_ready(&sim_a, 4);
    // Bot B, in the same Redis, all four shards.
    let flags_b = flags(&sim_b, "0-3/4", "events-b", "4");
    let flags_b: Vec<&str> = flags_b.iter().map(String::as_str).collect();
    let bot_b = spawn(&sim_b, "tokio", &flags_b, TOKEN_B);
    wait_ready(&sim_b, 4);

    for (sim, bot) in [(&sim_a, "a"), (&sim_b, "b")] {
        for shard in 0..4 {
            // Exactly one session per shard: dispatch_to counts the sessions it reached.
            message_to(sim, shard, &format!("{bot}:{shard}"));
        }
    }
    let (code, _, first_err) = first.finish(Duration::from_secs(30));
    assert_eq!(code, 0, "{first_err}");
    let (code, _, second_err) = second.finish(Duration::from_secs(30));
    assert_eq!(code, 0, "{second_err}");
    let (code, _, bot_b_err) = bot_b.finish(Duration::from_secs(30));
    assert_eq!(code, 0, "{bot_b_err}");
    for shard in [1, 2] {
        assert!(
            second_err.contains(&format!("shard {shard}/4 is already run by pid ")),
            "the second process names the shard and its holder: {second_err}"
        );
    }
    assert_eq!(sim_a.counters().readies, 4, "each shard of bot A ran once");

    // Each stream holds each of its bot's events once.
    let mut connection = redis.client().get_connection().unwrap();
    for (stream, bot) in [("events-a", "a"), ("events-b", "b")] {
        let entries: Vec<StreamEntry> = redis::cmd("XRANGE")
            .arg(stream)
            .arg("-")
            .arg("+")
            .query(&mut connection)
            .unwrap();
        let mut contents: Vec<String> = entries
            .iter()
            .map(|(_, fields)| {
                let event = &fields.iter().find(|(name, _)| name == "event").unwrap().1;
                let event: Value = serde_json::from_slice(event).unwrap();
                event["d"]["content"].as_str().unwrap().to_owned()
            })
            .collect();
        contents.sort();
        let expected: Vec<String> = (0..4).map(|shard| format!("{bot}:{shard}")).collect();
        assert_eq!(contents, expected, "{stream}");
    }

    // Neither bot sees the other's keys: each bot's queue, sessions and leases are under its
    // own prefix, and each saved all four of its sessions there.
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut connection).unwrap();
    let prefix_a = redis_key(TOKEN, "");
    let prefix_b = redis_key(TOKEN_B, "");
    assert_ne!(prefix_a, prefix_b);
    for key in &keys {
        let ours = key.starts_with(&prefix_a)
            || key.starts_with(&prefix_b)
            || key.starts_with("events-")
            || key.starts_with("{events-");
        assert!(ours, "a key outside both namespaces: {key} in {keys:?}");
    }
    for prefix in [&prefix_a, &prefix_b] {
        let sessions = keys
            .iter()
            .filter(|key| key.starts_with(prefix.as_str()) && key.contains(":session:4:"))
            .count();
        assert_eq!(sessions, 4, "{prefix}: {keys:?}");
        let leases = keys
            .iter()
            .filter(|key| key.starts_with(prefix.as_str()) && key.contains(":lease:"))
            .count();
        assert_eq!(leases, 0, "{prefix}: released on shutdown: {keys:?}");
    }
}

#[test]
fn redis_prefix_replaces_the_bot_namespace_of_every_key() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let sim = redis_sim(1);
    let api = format!("{}/api/v10", sim.http_url());
    let flags = owned(&[
        "--shards",
        "0-0/1",
        "--api-url",
        &api,
        "--identify-queue",
        &redis.url(),
        "--session-store",
        &redis.url(),
        "--redis-prefix",
        "my-bot",
        "--events",
        "MESSAGE_CREATE",
        "--max-events",
        "1",
    ]);
    let tail = spawn_owned(&sim, "tokio", &flags);
    wait_ready(&sim, 1);
    message_to(&sim, 0, "one");
    let (code, _, stderr) = tail.finish(Duration::from_secs(30));
    assert_eq!(code, 0, "{stderr}");
    let mut connection = redis.client().get_connection().unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut connection).unwrap();
    assert!(
        keys.contains(&"{my-bot}:session:1:0".to_owned()),
        "{keys:?}"
    );
    assert!(
        keys.iter().any(|key| key.starts_with("{my-bot}:identify:")),
        "{keys:?}"
    );
    assert!(
        keys.iter().all(|key| key.starts_with("{my-bot}:")),
        "{keys:?}"
    );
}
/// Issue 22, item 1: a session file whose resume URL was rewritten to another host (anyone who
/// can write the file) never sends the token there; the run resumes at the configured gateway
/// and says so. A listener on 127.0.0.2 plays that host and must see no connection.
#[test]
fn a_resume_url_planted_in_the_session_file_never_gets_the_token() {
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let listener = TcpListener::bind("127.0.0.2:0").expect("a listener on 127.0.0.2");
    let port = listener.local_addr().unwrap().port();
    let attacker_connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&attacker_connections);
    thread::spawn(move || {
        for socket in listener.incoming() {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    for runtime in RUNTIMES {
        let sim = sim();
        let dir = std::env::temp_dir().join(format!(
            "gateway-tail-planted-{}-{runtime}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("session.json");
        let _ = std::fs::remove_file(&file);
        let path = file.to_str().unwrap();
        let flags = [
            "--events",
            "MESSAGE_CREATE",
            "--max-events",
            "1",
            "--session-file",
            path,
        ];
        let first = spawn(&sim, runtime, &flags, TOKEN);
        wait_ready(&sim, 1);
        sim.message_create("first");
        let (code, _, stderr) = first.finish(Duration::from_secs(30));
        assert_eq!(code, 0, "{runtime}: {stderr}");

        // The session gateway-tail saved, with the resume URL pointed elsewhere and sealed
        // again with the bot's own key: the worst case, a writer that knows the token, so what
        // stops it here is the URL rule, not the seal.
        let seal =
            discord_gateway_driver::SessionSeal::new(&discord_gateway::Token::new(TOKEN).unwrap());
        let shard = discord_gateway::ShardId::new(0, 1).unwrap();
        let saved = discord_gateway_driver::SealedSession::from_stored(
            std::fs::read_to_string(path).unwrap(),
        );
        let mut state = seal.open(shard, &saved).expect("the saved session opens");
        state.resume_gateway_url = format!("ws://127.0.0.2:{port}/resume")
            .as_str()
            .try_into()
            .unwrap();
        std::fs::write(path, seal.seal(shard, &state).as_str()).unwrap();

        sim.wait_for_blocking(|c| c.open_connections == 0, Duration::from_secs(10))
            .unwrap();
        let second = spawn(&sim, runtime, &flags, TOKEN);
        sim.wait_for_blocking(|c| c.resumed >= 1, Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("{runtime}: the sim saw no Resume"));
        sim.message_create("second");
        let (code, stdout, stderr) = second.finish(Duration::from_secs(30));
        assert_eq!(code, 0, "{runtime}: {stderr}");
        assert_eq!(lines(&stdout)[0]["d"]["content"], "second", "{runtime}");
        assert_eq!(
            attacker_connections.load(Ordering::SeqCst),
            0,
            "{runtime}: the planted host was dialled"
        );
        assert_eq!(
            sim.counters().identifies,
            1,
            "{runtime}: resumed, not identified"
        );
        assert!(
            stderr.contains("does not vouch for"),
            "{runtime}: no warning: {stderr}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// `--ca-file` with the sim's CA (PEM on tokio, DER on smol): the tail reads a session over
/// the sim's `wss://`, and the sim saw a TLS connection. A file that is no certificate stops the
/// start with one line.
#[test]
fn a_ca_file_lets_the_tail_read_a_wss_gateway_signed_by_a_private_ca() {
    let dir = std::env::temp_dir().join(format!("gateway-tail-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (runtime, pem) in [("tokio", true), ("smol", false)] {
        let ca = discord_gateway_sim::TestCa::generate().unwrap();
        let sim = Sim::builder()
            .token(TOKEN)
            .heartbeat_interval(Duration::from_millis(500))
            .tls(&ca)
            .start_blocking()
            .unwrap();
        let path = dir.join(if pem { "ca.pem" } else { "ca.der" });
        if pem {
            std::fs::write(&path, ca.ca_pem()).unwrap();
        } else {
            std::fs::write(&path, ca.ca_der()).unwrap();
        }
        let path = path.to_str().unwrap();
        let tail = spawn(
            &sim,
            runtime,
            &[
                "--ca-file",
                path,
                "--events",
                "READY,MESSAGE_CREATE",
                "--max-events",
                "2",
            ],
            TOKEN,
        );
        wait_ready(&sim, 1);
        sim.message_create("over tls");
        let (code, stdout, stderr) = tail.finish(Duration::from_secs(30));
        assert_eq!(code, 0, "{runtime}: {stderr}");
        let printed = lines(&stdout);
        assert_eq!(printed[1]["d"]["content"], "over tls", "{runtime}");
        assert_eq!(
            sim.connections()[0].tls_version.as_deref(),
            Some("TLSv1_3"),
            "{runtime}"
        );

        // `--shards auto` asks the sim's https:// API, behind the same CA, for the shard count.
        let sim = Sim::builder()
            .token(TOKEN)
            .heartbeat_interval(Duration::from_millis(500))
            .recommended_shards(2)
            .tls(&ca)
            .start_blocking()
            .unwrap();
        let api = format!("{}/api/v10", sim.http_url());
        assert!(api.starts_with("https://"), "{api}");
        let tail = spawn(
            &sim,
            runtime,
            &[
                "--ca-file",
                path,
                "--shards",
                "auto",
                "--api-url",
                &api,
                "--events",
                "MESSAGE_CREATE",
                "--max-events",
                "2",
            ],
            TOKEN,
        );
        wait_ready(&sim, 2);
        for shard in 0..2 {
            message_to(&sim, shard, &format!("shard {shard}"));
        }
        let (code, stdout, stderr) = tail.finish(Duration::from_secs(30));
        assert_eq!(code, 0, "{runtime} --shards: {stderr}");
        assert_eq!(lines(&stdout).len(), 2, "{runtime} --shards: {stdout}");
    }
    let bogus = dir.join("bogus.pem");
    std::fs::write(
        &bogus,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let sim = sim();
    let tail = spawn(
        &sim,
        "tokio",
        &["--ca-file", bogus.to_str().unwrap()],
        TOKEN,
    );
    let (code, stdout, stderr) = tail.finish(Duration::from_secs(30));
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(
        stderr.starts_with("error: invalid value for '--ca-file <PATH>': CA certificate #0"),
        "{stderr}"
    );
    assert_eq!(sim.counters().connections, 0);
    let _ = std::fs::remove_dir_all(&dir);
}
