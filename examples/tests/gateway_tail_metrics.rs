//! `gateway-tail --metrics-addr`: Prometheus scrapes of the built binary against the sim,
//! through an op 7 that is resumed and an op 9 that ends the session, on both runtimes; and
//! the progress line of a `--shards` start.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use discord_gateway_sim::{Fault, Sim};

const TOKEN: &str = "metrics-test-token";

/// `GET /metrics`, as a Prometheus server asks it.
fn scrape(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    Some(response)
}

/// The value of the sample `series` (name and labels as the exporter writes them).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.trim().parse().ok()
    })
}

/// Scrapes until `check` holds (failing after 20 s with the last scrape and the tail's log).
fn scrape_until(tail: &Tail, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = scrape(tail.port).unwrap_or_default();
        if check(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{what}; last scrape:\n{text}\ngateway-tail's log:\n{}",
            std::fs::read_to_string(&tail.log).unwrap_or_default()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// A running `gateway-tail`: its metrics port, and the file its stderr goes to.
struct Tail {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Drop for Tail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

#[test]
fn metrics_follow_a_reconnect_a_resume_and_an_invalid_session() {
    for runtime in ["tokio", "smol"] {
        let sim = Sim::builder()
            .token(TOKEN)
            .heartbeat_interval(Duration::from_millis(500))
            .start_blocking()
            .unwrap();
        let port = {
            let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            free.local_addr().unwrap().port()
        };
        let log = std::env::temp_dir().join(format!(
            "gateway-tail-metrics-{runtime}-{}.log",
            std::process::id()
        ));
        let tail = Tail {
            child: Command::new(env!("CARGO_BIN_EXE_gateway-tail"))
                .args(["--gateway-url", &sim.url(), "--runtime", runtime])
                .args(["--intents", "GUILDS,GUILD_MESSAGES"])
                .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
                .env("DISCORD_TOKEN", TOKEN)
                .env("RUST_LOG", "info")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap(),
            port,
            log,
        };
        let up = r#"discord_gateway_shard_up{shard="0"}"#;
        let events =
            |name: &str| format!(r#"discord_gateway_events_total{{shard="0",event="{name}"}}"#);
        let reconnects = |cause: &str| {
            format!(r#"discord_gateway_reconnects_total{{shard="0",cause="{cause}"}}"#)
        };

        let live = r#"discord_gateway_shard_state{shard="0",state="live"}"#;
        let identifying = r#"discord_gateway_shard_state{shard="0",state="identifying"}"#;

        // The exporter reads each series at its own moment, so one scrape is no snapshot (one
        // was seen with `shard_up` 0, `state="live"` 1 and no op 9 reconnect yet, read on either
        // side of the op 9): what must hold together is waited for together.
        let text = scrape_until(&tail, "the first session is live", |t| {
            sample(t, up) == Some(1.0) && sample(t, &events("READY")) == Some(1.0)
        });
        assert_eq!(
            sample(&text, &reconnects("op7_reconnect")),
            None,
            "{runtime}"
        );
        assert!(sample(&text, "discord_gateway_bytes_received_total{shard=\"0\"}").unwrap() > 0.0);

        // Op 7: the shard resumes; the reconnect is counted by its cause.
        sim.fault(Fault::Reconnect);
        let text = scrape_until(&tail, "resumed after op 7", |t| {
            sample(t, &events("RESUMED")) == Some(1.0)
                && sample(t, up) == Some(1.0)
                && sample(t, &reconnects("op7_reconnect")) == Some(1.0)
        });
        assert_eq!(sample(&text, &events("READY")), Some(1.0), "{runtime}");

        // Op 9 (false): down while it waits 1-5 s to identify again, then up on a new session.
        sim.fault(Fault::InvalidSession(false));
        scrape_until(&tail, "down after op 9", |t| {
            sample(t, &reconnects("op9_invalid_session")) == Some(1.0) && sample(t, up) == Some(0.0)
        });
        let text = scrape_until(&tail, "a new session after op 9", |t| {
            sample(t, &events("READY")) == Some(2.0)
                && sample(t, up) == Some(1.0)
                && sample(t, live) == Some(1.0)
                && sample(t, identifying) == Some(0.0)
        });
        assert_eq!(
            sample(&text, &reconnects("op7_reconnect")),
            Some(1.0),
            "{runtime}"
        );
        assert!(
            text.contains("# TYPE discord_gateway_reconnects_total counter"),
            "{text}"
        );
    }
}

/// Runs `gateway-tail --shards 0-3/4` against a sim with one identify bucket and a 300 ms
/// window until all four shards are ready, and returns its stderr.
fn start_four_shards(extra: &[&str]) -> String {
    let sim = Sim::builder()
        .token(TOKEN)
        .heartbeat_interval(Duration::from_millis(500))
        .recommended_shards(4)
        .max_concurrency(1)
        .identify_window(Duration::from_millis(300))
        .start_blocking()
        .unwrap();
    let api = format!("{}/api/v10", sim.http_url());
    let mut child = Command::new(env!("CARGO_BIN_EXE_gateway-tail"))
        .args([
            "--shards",
            "0-3/4",
            "--api-url",
            &api,
            "--gateway-url",
            &sim.url(),
        ])
        .args(["--intents", "GUILDS,GUILD_MESSAGES"])
        .args([
            "--identify-window-ms",
            "300",
            "--progress-interval-ms",
            "100",
        ])
        .args(extra)
        .env("DISCORD_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let stderr = thread::spawn(move || {
        let mut text = String::new();
        err.read_to_string(&mut text).unwrap();
        text
    });
    sim.wait_for_blocking(|c| c.readies >= 4, Duration::from_secs(20))
        .unwrap();
    thread::sleep(Duration::from_millis(300));
    let _ = child.kill();
    let _ = child.wait();
    stderr.join().unwrap()
}

#[test]
fn a_sharded_start_prints_its_progress_unless_quiet() {
    let stderr = start_four_shards(&[]);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("gateway-tail: ready "))
        .collect();
    // At least one line while shards waited for their turn, with an estimate, and the last
    // one when every shard was ready.
    assert!(
        lines
            .iter()
            .any(|line| line.contains(" waiting for identify, ~") && line.ends_with(" left")),
        "{stderr}"
    );
    assert_eq!(
        lines.last().copied(),
        Some("gateway-tail: ready 4/4, 0 connecting, 0 waiting for identify"),
        "{stderr}"
    );
    let quiet = start_four_shards(&["--quiet"]);
    assert!(!quiet.contains("gateway-tail: ready "), "{quiet}");
}
