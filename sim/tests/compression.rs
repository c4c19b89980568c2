//! Transport compression: zlib-stream (shared context, sync flush, split payloads) and
//! zstd-stream (one frame for the connection, one message per payload).

mod common;

use std::time::Duration;

use common::{ready, Client, TOKEN};
use discord_gateway_sim::Sim;

async fn sim(split: Option<usize>) -> Sim {
    Sim::builder()
        .token(TOKEN)
        .heartbeat_interval(Duration::from_millis(500))
        .identify_window(Duration::ZERO)
        .zlib_split(split)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn zlib_stream_uses_one_context_and_sync_flushes() {
    let sim = sim(None).await;
    let (mut c, ready) = ready(&sim, "v=10&encoding=json&compress=zlib-stream").await;
    assert_eq!(ready["t"], "READY");
    let g = c.recv_until(0, Some("GUILD_CREATE")).await;
    assert_eq!(g["d"]["members"].as_array().unwrap().len(), 42);
    // Hello, READY, GUILD_CREATE: one websocket message each when not split.
    assert_eq!(c.messages, 3);
    for i in 0..20 {
        sim.message_create(&format!("m{i}"));
        let m = c.recv().await;
        assert_eq!(m["d"]["content"], format!("m{i}"));
    }
    assert_eq!(
        sim.connections()[0].compress.as_deref(),
        Some("zlib-stream")
    );
}

#[tokio::test]
async fn zlib_stream_can_split_a_payload_over_many_messages() {
    let sim = sim(Some(1000)).await;
    let (mut c, _) = ready(&sim, "v=10&encoding=json&compress=zlib-stream").await;
    let before = c.messages;
    let g = c.recv_until(0, Some("GUILD_CREATE")).await;
    assert_eq!(g["d"]["member_count"], 42);
    assert!(
        c.messages - before > 3,
        "GUILD_CREATE came in {} messages",
        c.messages - before
    );
    c.heartbeat(Some(2)).await;
    assert_eq!(c.recv().await["op"], 11);
}

#[tokio::test]
async fn zstd_stream_one_message_per_payload() {
    let sim = sim(None).await;
    let (mut c, _) = ready(&sim, "v=10&encoding=json&compress=zstd-stream").await;
    c.recv_until(0, Some("GUILD_CREATE")).await;
    assert_eq!(c.messages, 3);
    for i in 0..10 {
        sim.message_create(&format!("z{i}"));
        assert_eq!(c.recv().await["d"]["content"], format!("z{i}"));
    }
    assert_eq!(c.messages, 13);
}

#[tokio::test]
async fn a_fresh_context_per_connection() {
    let sim = sim(None).await;
    for query in [
        "v=10&encoding=json&compress=zlib-stream",
        "v=10&encoding=json&compress=zstd-stream",
    ] {
        for _ in 0..2 {
            // A new client-side context must decode the new connection's first payload.
            let (_c, interval) = Client::hello(&common::url(&sim, query)).await;
            assert_eq!(interval, 500);
        }
    }
}

#[tokio::test]
async fn huge_guild_create_through_both_compressions() {
    let sim = sim(Some(64 * 1024)).await;
    for query in [
        "v=10&encoding=json&compress=zlib-stream",
        "v=10&encoding=json&compress=zstd-stream",
        "v=10&encoding=json",
    ] {
        let (mut c, _) = ready(&sim, query).await;
        c.recv_until(0, Some("GUILD_CREATE")).await;
        sim.guild_create_sized(12_000_000);
        let text = c.next_text().await.unwrap();
        assert!(text.len() >= 12_000_000, "{}", text.len());
        assert!(text.starts_with(r#"{"t":"GUILD_CREATE","s":3,"op":0,"d":{"id":"#));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(v["d"]["members"].as_array().unwrap().len() > 20_000);
        c.close(4000).await;
    }
}
