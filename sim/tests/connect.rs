//! Connecting: Hello, URL checks, the REST endpoints on the same port, Identify and READY.

mod common;

use std::time::Duration;

use common::{http_get, ready, sim, url, Client, Closed, INTENTS, TOKEN, WAIT};
use discord_gateway_sim::{Endpoint, Sim};
use serde_json::{json, Value};

#[tokio::test]
async fn hello_carries_the_configured_interval_in_discord_key_order() {
    let sim = Sim::builder()
        .heartbeat_interval(Duration::from_millis(1234))
        .start()
        .await
        .unwrap();
    let mut c = Client::connect(&url(&sim, "v=10&encoding=json")).await;
    let text = c.next_text().await.unwrap();
    assert!(
        text.starts_with(r#"{"t":null,"s":null,"op":10,"d":{"heartbeat_interval":1234"#),
        "{text}"
    );
}

#[tokio::test]
async fn bad_version_encoding_or_compression_are_closed_with_discord_codes() {
    let sim = sim().await;
    for (query, code) in [
        ("v=8&encoding=json", 4012),
        ("v=abc&encoding=json", 4012),
        ("encoding=json", 4012), // no v: Discord's default (6) is not served
        ("v=10&encoding=msgpack", 4002),
        ("v=10&encoding=xml", 4002),
        ("v=10&encoding=json&compress=brotli", 4002),
    ] {
        let mut c = Client::connect(&url(&sim, query)).await;
        assert_eq!(c.closed().await, Closed::Code(code), "{query}");
    }
    assert_eq!(sim.counters().server_closed(4012), 3);
    assert_eq!(sim.counters().server_closed(4002), 3);
    // v=9 is still available, and encoding defaults to json.
    let (_c, interval) = Client::hello(&url(&sim, "v=9")).await;
    assert_eq!(interval, 500);
}

/// `encoding=etf`: Hello arrives as one ETF term in a binary frame, an Identify in ETF with
/// binary keys is answered with READY in ETF, and one keyed by atoms is closed with 4002.
#[tokio::test]
async fn etf_clients_are_served_in_etf() {
    use discord_gateway::codec::etf;

    let sim = sim().await;
    let mut c = Client::connect(&url(&sim, "v=10&encoding=etf")).await;
    let hello: Value = etf::from_message(&c.ws_next_binary().await).unwrap();
    assert_eq!(hello["op"], 10);
    assert_eq!(hello["d"]["heartbeat_interval"], 500);
    let identify = json!({"op": 2, "d": {"token": TOKEN, "intents": INTENTS,
        "properties": {"os": "linux", "browser": "t", "device": "t"}}});
    let mut buf = [0u8; 512];
    let len = etf::to_slice(&identify, &mut buf).unwrap();
    let binary = async_tungstenite::tungstenite::Message::binary(buf[..len].to_vec());
    c.ws.send(binary).await.unwrap();
    let ready: Value = etf::from_message(&c.ws_next_binary().await).unwrap();
    assert_eq!(ready["t"], "READY");
    assert!(ready["d"]["session_id"].is_string());

    // Atom keys, as the sim's own encoder writes them: Discord refuses them from clients.
    let mut c = Client::connect(&url(&sim, "v=10&encoding=etf")).await;
    c.ws_next_binary().await;
    let atoms = discord_gateway_sim::etf::from_json(&identify.to_string()).unwrap();
    c.ws.send(async_tungstenite::tungstenite::Message::binary(atoms))
        .await
        .unwrap();
    assert_eq!(c.closed().await, Closed::Code(4002));
}

#[tokio::test]
async fn gateway_bot_needs_the_bot_token_and_reports_limits() {
    let sim = Sim::builder()
        .token(TOKEN)
        .recommended_shards(4)
        .max_concurrency(16)
        .session_start_limit(1000, 998)
        .start()
        .await
        .unwrap();
    let (status, _) = http_get(&sim, "/api/v10/gateway/bot", None).await;
    assert_eq!(status, 401);
    let (status, _) = http_get(&sim, "/api/v10/gateway/bot", Some("Bot wrong")).await;
    assert_eq!(status, 401);
    let (status, _) = http_get(&sim, "/api/v10/gateway/bot", Some(TOKEN)).await;
    assert_eq!(status, 401, "the token alone, without `Bot `, is refused");
    let (status, body) =
        http_get(&sim, "/api/v10/gateway/bot", Some(&format!("Bot {TOKEN}"))).await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["url"], sim.url());
    assert_eq!(v["shards"], 4);
    assert_eq!(v["session_start_limit"]["total"], 1000);
    assert_eq!(v["session_start_limit"]["remaining"], 998);
    assert_eq!(v["session_start_limit"]["max_concurrency"], 16);
    assert!(v["session_start_limit"]["reset_after"].as_u64().unwrap() > 0);

    let (status, body) = http_get(&sim, "/api/v10/gateway", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["url"],
        sim.url()
    );
    assert_eq!(http_get(&sim, "/api/v10/users/@me", None).await.0, 404);
    assert_eq!(sim.counters().http_requests, 6);
}

#[tokio::test]
async fn identify_gets_ready_then_guild_create_with_fresh_session() {
    let sim = Sim::builder()
        .token(TOKEN)
        .guilds(3)
        .identify_window(Duration::ZERO)
        .start()
        .await
        .unwrap();
    let (mut c, _) = Client::hello(&url(&sim, "v=10&encoding=json")).await;
    c.identify(TOKEN, INTENTS, Some([0, 1])).await;
    let text = c.next_text().await.unwrap();
    assert!(
        text.starts_with(r#"{"t":"READY","s":1,"op":0,"d":{"v":10,"#),
        "{}",
        &text[..80]
    );
    let first: Value = serde_json::from_str(&text).unwrap();
    let d = &first["d"];
    let session = d["session_id"].as_str().unwrap();
    assert_eq!(session.len(), 32);
    assert_eq!(d["resume_gateway_url"], sim.resume_url());
    assert_ne!(d["resume_gateway_url"], sim.url());
    assert_eq!(d["shard"], json!([0, 1]));
    assert_eq!(d["guilds"].as_array().unwrap().len(), 3);
    assert!(d["guilds"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["unavailable"] == true));
    for s in 2..=4 {
        let g = c.recv().await;
        assert_eq!(
            (g["t"].as_str(), g["s"].as_u64()),
            (Some("GUILD_CREATE"), Some(s))
        );
        assert_eq!(g["d"]["members"].as_array().unwrap().len(), 42);
    }
    // A second session gets a different id.
    let (_c2, ready2) = ready(&sim, "v=10&encoding=json").await;
    assert_ne!(ready2["d"]["session_id"], session);
    let counters = sim.counters();
    assert_eq!((counters.identifies, counters.readies), (2, 2));
    let records = sim.connections();
    assert!(records[0].identified);
    assert_eq!(records[0].endpoint, Endpoint::Main);
    assert_eq!(records[0].session_id.as_deref(), Some(session));
    assert_eq!(records[0].sent_with_op(2).len(), 1);
}

#[tokio::test]
async fn ready_omits_shard_when_identify_did_not_send_one() {
    let sim = sim().await;
    let (_c, ready) = ready(&sim, "v=10&encoding=json").await;
    assert!(ready["d"].get("shard").is_none());
}

#[tokio::test]
async fn shards_get_only_their_guilds() {
    let sim = Sim::builder()
        .token(TOKEN)
        .guilds(4)
        .identify_window(Duration::ZERO)
        .start()
        .await
        .unwrap();
    let ids = sim.guild_ids();
    for shard in 0..2u32 {
        let (mut c, _) = Client::hello(&url(&sim, "v=10&encoding=json")).await;
        c.identify(TOKEN, INTENTS, Some([shard, 2])).await;
        let ready = c.recv_until(0, Some("READY")).await;
        let got: Vec<u64> = ready["d"]["guilds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["id"].as_str().unwrap().parse().unwrap())
            .collect();
        let expected: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|id| (id >> 22) % 2 == u64::from(shard))
            .collect();
        assert_eq!(got, expected);
        assert_eq!(got.len(), 2);
    }
}

#[tokio::test]
async fn identify_is_checked_like_discord() {
    let sim = Sim::builder()
        .token(TOKEN)
        .disallowed_intents(discord_gateway::protocol::Intents::GUILD_PRESENCES)
        .identify_window(Duration::ZERO)
        .start()
        .await
        .unwrap();
    let q = "v=10&encoding=json";
    let cases: Vec<(Value, u16)> = vec![
        (
            json!({"op": 2, "d": {"token": "nope", "properties": {}, "intents": 1}}),
            4004,
        ),
        (
            json!({"op": 2, "d": {"token": TOKEN, "properties": {}, "intents": 1u64 << 18}}),
            4013,
        ),
        (
            json!({"op": 2, "d": {"token": TOKEN, "properties": {}, "intents": 256}}),
            4014,
        ),
        (
            json!({"op": 2, "d": {"token": TOKEN, "properties": {}, "intents": 1, "shard": [2, 2]}}),
            4010,
        ),
        (
            json!({"op": 2, "d": {"token": TOKEN, "properties": {}, "intents": 1, "shard": [0, 0]}}),
            4010,
        ),
        (
            json!({"op": 2, "d": {"token": TOKEN, "properties": {}}}),
            4002,
        ),
        (
            json!({"op": 8, "d": {"guild_id": "1", "query": "", "limit": 0}}),
            4003,
        ),
        (
            json!({"op": 3, "d": {"since": null, "activities": [], "status": "online", "afk": false}}),
            4003,
        ),
        (json!({"op": 5, "d": null}), 4001),
        (json!({"op": 11, "d": null}), 4001),
        (json!({"d": null}), 4002),
    ];
    for (payload, code) in cases {
        let (mut c, _) = Client::hello(&url(&sim, q)).await;
        c.send(payload.clone()).await;
        assert_eq!(c.closed().await, Closed::Code(code), "{payload}");
    }
    // Garbage and an oversized payload.
    let (mut c, _) = Client::hello(&url(&sim, q)).await;
    c.send_text("{not json".to_owned()).await;
    assert_eq!(c.closed().await, Closed::Code(4002));
    let (mut c, _) = Client::hello(&url(&sim, q)).await;
    c.send(json!({"op": 1, "d": null, "pad": "x".repeat(4097)}))
        .await;
    assert_eq!(c.closed().await, Closed::Code(4002));
    // Exactly 4096 bytes is fine.
    let (mut c, _) = Client::hello(&url(&sim, q)).await;
    let base = json!({"op": 1, "d": null, "pad": ""}).to_string().len();
    let payload = json!({"op": 1, "d": null, "pad": "x".repeat(4096 - base)}).to_string();
    assert_eq!(payload.len(), 4096);
    c.send_text(payload).await;
    assert_eq!(c.recv().await["op"], 11);
}

#[tokio::test]
async fn second_identify_on_a_connection_is_4005() {
    let sim = sim().await;
    let (mut c, _) = ready(&sim, "v=10&encoding=json").await;
    c.identify(TOKEN, INTENTS, None).await;
    assert_eq!(c.closed().await, Closed::Code(4005));
    let (mut c, ready) = ready(&sim, "v=10&encoding=json").await;
    c.resume(ready["d"]["session_id"].as_str().unwrap(), 1)
        .await;
    assert_eq!(c.closed().await, Closed::Code(4005));
}

#[tokio::test]
async fn identify_concurrency_buckets_answer_op9_false() {
    let sim = Sim::builder()
        .token(TOKEN)
        .max_concurrency(2)
        .identify_window(Duration::from_millis(300))
        .start()
        .await
        .unwrap();
    let q = "v=10&encoding=json";
    let (mut a, _) = Client::hello(&url(&sim, q)).await;
    a.identify(TOKEN, INTENTS, Some([0, 4])).await;
    a.recv_until(0, Some("READY")).await;
    // Shard 1 has its own bucket (1 % 2).
    let (mut b, _) = Client::hello(&url(&sim, q)).await;
    b.identify(TOKEN, INTENTS, Some([1, 4])).await;
    b.recv_until(0, Some("READY")).await;
    // Shard 2 shares shard 0's bucket within the window.
    let (mut c, _) = Client::hello(&url(&sim, q)).await;
    c.identify(TOKEN, INTENTS, Some([2, 4])).await;
    assert_eq!(
        c.recv().await,
        json!({"t": null, "s": null, "op": 9, "d": false})
    );
    assert_eq!(sim.counters().identify_rate_limited, 1);
    // After the window the same connection may try again.
    tokio::time::sleep(Duration::from_millis(350)).await;
    c.identify(TOKEN, INTENTS, Some([2, 4])).await;
    c.recv_until(0, Some("READY")).await;
}

#[tokio::test]
async fn spent_session_start_budget_is_fatal_and_visible_over_rest() {
    let sim = Sim::builder()
        .token(TOKEN)
        .session_start_limit(2, 2)
        .identify_window(Duration::ZERO)
        .start()
        .await
        .unwrap();
    let q = "v=10&encoding=json";
    let _a = ready(&sim, q).await;
    let _b = ready(&sim, q).await;
    let (_, body) = http_get(&sim, "/api/v10/gateway/bot", Some(&format!("Bot {TOKEN}"))).await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["session_start_limit"]["remaining"],
        0
    );
    let (mut c, _) = Client::hello(&url(&sim, q)).await;
    c.identify(TOKEN, INTENTS, None).await;
    assert_eq!(c.closed().await, Closed::Code(4004));
}

#[tokio::test]
async fn more_than_120_payloads_a_minute_is_4008() {
    let sim = sim().await;
    let (mut c, _) = ready(&sim, "v=10&encoding=json").await;
    // Identify was payload 1; 119 heartbeats make 120, all fine.
    for _ in 0..119 {
        c.heartbeat(Some(1)).await;
    }
    for _ in 0..119 {
        let ack = c.recv_until(11, None).await;
        assert_eq!(ack["d"], Value::Null);
    }
    c.heartbeat(Some(1)).await;
    assert_eq!(c.closed().await, Closed::Code(4008));
    assert_eq!(sim.counters().server_closed(4008), 1);
    let _ = WAIT;
}

#[tokio::test]
async fn rate_limit_window_is_configurable_and_slides() {
    let sim = Sim::builder()
        .token(TOKEN)
        .rate_limit(3, Duration::from_millis(300))
        .start()
        .await
        .unwrap();
    let (mut c, _) = Client::hello(&url(&sim, "v=10&encoding=json")).await;
    for _ in 0..3 {
        c.heartbeat(None).await;
        c.recv_until(11, None).await;
    }
    tokio::time::sleep(Duration::from_millis(350)).await;
    for _ in 0..3 {
        c.heartbeat(None).await;
        c.recv_until(11, None).await;
    }
    c.heartbeat(None).await;
    assert_eq!(c.closed().await, Closed::Code(4008));
}

/// Issue 23: erlpack-based servers refuse atoms in `SMALL_ATOM_UTF8_EXT` (tag 119) with 4002 and
/// answer the same Identify with `SMALL_ATOM_EXT` (tag 115) atoms with READY; so does the sim,
/// which reads commands with `eetf` after checking them against erlpack's encoding.
#[tokio::test]
async fn etf_identify_with_utf8_atoms_is_refused_as_erlpack_refuses_it() {
    fn identify(atom_tag: u8) -> Vec<u8> {
        let bin = |text: &str| {
            [
                &[109][..],
                &(text.len() as u32).to_be_bytes(),
                text.as_bytes(),
            ]
            .concat()
        };
        let intents = u32::try_from(INTENTS).unwrap();
        [
            vec![131, 116, 0, 0, 0, 2],
            bin("op"),
            vec![97, 2],
            bin("d"),
            vec![116, 0, 0, 0, 4],
            bin("token"),
            bin(TOKEN),
            bin("properties"),
            vec![116, 0, 0, 0, 3],
            bin("os"),
            bin("linux"),
            bin("browser"),
            bin("t"),
            bin("device"),
            bin("t"),
            bin("compress"),
            vec![atom_tag, 5, b'f', b'a', b'l', b's', b'e'],
            bin("intents"),
            [&[98][..], &intents.to_be_bytes()].concat(),
        ]
        .concat()
    }
    let sim = sim().await;
    let mut c = Client::connect(&url(&sim, "v=10&encoding=etf")).await;
    c.ws_next_binary().await;
    c.ws.send(async_tungstenite::tungstenite::Message::binary(identify(
        119,
    )))
    .await
    .unwrap();
    assert_eq!(c.closed().await, Closed::Code(4002));
    let mut c = Client::connect(&url(&sim, "v=10&encoding=etf")).await;
    c.ws_next_binary().await;
    c.ws.send(async_tungstenite::tungstenite::Message::binary(identify(
        115,
    )))
    .await
    .unwrap();
    let ready = c.ws_next_binary().await;
    assert!(ready.windows(5).any(|w| w == b"READY"), "{ready:?}");
    assert_eq!(sim.counters().server_closed(4002), 1);
}
