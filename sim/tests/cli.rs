//! The `gateway-sim` binary: documented flags, and a running sim any client can reach.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::Client;

const BIN: &str = env!("CARGO_BIN_EXE_gateway-sim");

#[test]
fn help_documents_flags_and_faults() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "--port",
        "--heartbeat-interval-ms",
        "--event-rate",
        "--zlib-split",
        "--chaos-seed",
        "--reconnect-every-s",
        "--max-concurrency",
        "zstd-stream",
        "WithholdAcks",
        "DropTcp",
        "/api/v10/gateway/bot",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
}

#[tokio::test]
async fn binary_serves_a_client_and_exits_when_asked() {
    let mut child = Command::new(BIN)
        .args([
            "--heartbeat-interval-ms",
            "700",
            "--token",
            "cli-token",
            "--event-rate",
            "50",
            "--exit-after-s",
            "3",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("ws://") && w.contains("encoding=json"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_owned();
    let (mut c, interval) = Client::hello(&url).await;
    assert_eq!(interval, 700);
    c.identify("cli-token", common::INTENTS, None).await;
    c.recv_until(0, Some("READY")).await;
    // --event-rate streams MESSAGE_CREATE on its own.
    c.recv_until(0, Some("MESSAGE_CREATE")).await;
    let status = child.wait().unwrap();
    assert!(status.success());
    let report: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        report.iter().any(|l| l.contains("readies: 1")),
        "{report:?}"
    );
}
