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
        assert!(saved["session_id"].is_string());

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
                let d = serde_json::json!({
                    "id": "1",
                    "guild_id": "584799433523331074",
                    "channel_id": "584799433523331074",
                    "content": format!("{shard}:{round}"),
                });
                assert_eq!(
                    sim.dispatch_to(Target::Shard(shard), "MESSAGE_CREATE", &d),
                    1
                );
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
    let message = |shard: u32, n: u32| {
        let d = serde_json::json!({
            "id": "1",
            "guild_id": "584799433523331074",
            "channel_id": "584799433523331074",
            "content": format!("{shard}:{n}"),
        });
        assert_eq!(
            sim.dispatch_to(Target::Shard(shard), "MESSAGE_CREATE", &d),
            1
        );
    };
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
        .arg("discord-gateway:session:2:0")
        .arg("discord-gateway:session:2:1")
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
            "tokio",
            &[&events[..], &["--encoding", "json"]].concat(),
            TOKEN,
        );
        wait_ready(&sim, 1);
        let etf = spawn(
            &sim,
            "smol",
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
        let first = |i: usize| records[i].payloads.first().map(|p| (p.op, p.binary));
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
    }
}
