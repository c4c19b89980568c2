//! Heartbeats: ACKs, the `d` check, missed heartbeats, zombies and server heartbeat requests.

mod common;

use std::time::{Duration, Instant};

use common::{ready, Client, Closed, TOKEN, WAIT};
use discord_gateway_sim::{Fault, Sim, Target};
use serde_json::json;

async fn short_sim(interval_ms: u64) -> Sim {
    Sim::builder()
        .token(TOKEN)
        .heartbeat_interval(Duration::from_millis(interval_ms))
        .identify_window(Duration::ZERO)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn heartbeats_are_acked_with_null_d() {
    let sim = short_sim(500).await;
    let (mut c, _) = Client::hello(&common::url(&sim, "v=10&encoding=json")).await;
    c.heartbeat(None).await;
    let text = c.next_text().await.unwrap();
    assert_eq!(text, r#"{"t":null,"s":null,"op":11,"d":null}"#);
    let counters = sim.counters();
    assert_eq!((counters.heartbeats, counters.heartbeat_acks), (1, 1));
}

#[tokio::test]
async fn heartbeat_d_is_checked_against_the_last_seq_sent() {
    let sim = short_sim(500).await;
    let (mut c, _) = ready(&sim, "v=10&encoding=json").await;
    // READY (1) and one GUILD_CREATE (2) were sent.
    c.recv_until(0, Some("GUILD_CREATE")).await;
    c.heartbeat(Some(2)).await;
    c.recv_until(11, None).await;
    assert_eq!(sim.counters().heartbeat_seq_errors, 0);
    c.heartbeat(Some(7)).await;
    c.recv_until(11, None).await;
    assert_eq!(sim.counters().heartbeat_seq_errors, 1);
    let beats: Vec<_> = sim.connections()[0]
        .payloads
        .iter()
        .filter(|p| p.op == Some(1))
        .map(|p| p.last_seq_sent)
        .collect();
    assert_eq!(beats, vec![Some(2), Some(2)]);
    // A heartbeat whose d is not a sequence number is a decode error.
    c.send(json!({"op": 1, "d": "seven"})).await;
    assert_eq!(c.closed().await, Closed::Code(4002));
}

#[tokio::test]
async fn a_client_that_stops_heartbeating_is_closed() {
    let sim = Sim::builder()
        .token(TOKEN)
        .heartbeat_interval(Duration::from_millis(100))
        .heartbeat_grace(Duration::from_millis(50))
        .start()
        .await
        .unwrap();
    let (mut c, _) = Client::hello(&common::url(&sim, "v=10&encoding=json")).await;
    let started = Instant::now();
    // Two beats on time keep it open...
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(80)).await;
        c.heartbeat(None).await;
        c.recv_until(11, None).await;
    }
    // ...then silence: closed after interval + grace.
    assert_eq!(c.closed().await, Closed::Code(4009));
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(sim.counters().server_closed(4009), 1);
}

#[tokio::test]
async fn missed_heartbeat_close_code_is_configurable() {
    let sim = Sim::builder()
        .heartbeat_interval(Duration::from_millis(50))
        .missed_heartbeat_close_code(4000)
        .start()
        .await
        .unwrap();
    let (mut c, _) = Client::hello(&common::url(&sim, "v=10&encoding=json")).await;
    assert_eq!(c.closed().await, Closed::Code(4000));
}

#[tokio::test]
async fn withheld_acks_make_a_zombie_that_still_delivers_events() {
    let sim = short_sim(500).await;
    let (mut c, _) = ready(&sim, "v=10&encoding=json").await;
    c.recv_until(0, Some("GUILD_CREATE")).await;
    assert_eq!(sim.fault(Fault::WithholdAcks), 1);
    sim.wait_for(|c| c.faults >= 1, WAIT).await.unwrap();
    c.heartbeat(Some(2)).await;
    sim.wait_for(|c| c.heartbeats >= 1, WAIT).await.unwrap();
    sim.message_create("still flowing");
    let msg = c.recv().await;
    assert_eq!(msg["t"], "MESSAGE_CREATE", "no ACK came first: {msg}");
    assert_eq!(sim.counters().heartbeat_acks, 0);
}

#[tokio::test]
async fn server_can_request_a_heartbeat() {
    let sim = short_sim(500).await;
    let (mut c, _) = Client::hello(&common::url(&sim, "v=10&encoding=json")).await;
    sim.fault_to(Target::All, Fault::RequestHeartbeat);
    let req = c.next_text().await.unwrap();
    assert_eq!(req, r#"{"t":null,"s":null,"op":1,"d":null}"#);
    c.heartbeat(None).await;
    assert_eq!(c.recv().await["op"], 11);
    assert_eq!(sim.counters().heartbeat_requests_sent, 1);
}
