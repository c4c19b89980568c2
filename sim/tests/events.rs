//! Event scripts: realistic payloads, member chunks, routing and intents, scripted scenarios.

mod common;

use std::time::Duration;

use common::{ready, Client, TOKEN, WAIT};
use discord_gateway_sim::{Fault, Script, Sim, Target};
use serde_json::{json, Value};

const Q: &str = "v=10&encoding=json";

#[tokio::test]
async fn realistic_events_keep_discord_shapes() {
    let sim = common::sim().await;
    let (mut c, _) = ready(&sim, Q).await;
    c.recv_until(0, Some("GUILD_CREATE")).await;
    sim.message_create("hello \"world\" \u{1f980}");
    let m = c.next_text().await.unwrap();
    assert!(m.starts_with(
        r#"{"t":"MESSAGE_CREATE","s":3,"op":0,"d":{"type":19,"tts":false,"timestamp":""#
    ));
    let m: Value = serde_json::from_str(&m).unwrap();
    assert_eq!(m["d"]["content"], "hello \"world\" \u{1f980}");
    assert_eq!(m["d"]["guild_id"], sim.guild_ids()[0].to_string());
    assert!(m["d"]["id"].as_str().unwrap().parse::<u64>().unwrap() > 1 << 40);
    sim.typing_start();
    let t = c.recv().await;
    assert_eq!(t["t"], "TYPING_START");
    assert!(t["d"]["timestamp"].as_u64().unwrap() > 1_700_000_000);
    sim.presence_update();
    assert_eq!(c.recv().await["d"]["status"], "dnd");
    sim.interaction_create();
    let i = c.recv().await;
    assert_eq!(
        (i["t"].as_str(), i["d"]["type"].as_u64()),
        (Some("INTERACTION_CREATE"), Some(2))
    );
    sim.guild_create(500);
    let g = c.recv().await;
    assert_eq!(g["d"]["members"].as_array().unwrap().len(), 500);
    assert_eq!(g["d"]["large"], true);
    assert_eq!(
        sim.dispatch(
            "CHANNEL_PINS_UPDATE",
            &json!({"channel_id": "1", "guild_id": sim.guild_ids()[0].to_string()})
        ),
        1
    );
    assert_eq!(c.recv().await["t"], "CHANNEL_PINS_UPDATE");
    // Raw payloads keep their bytes.
    sim.dispatch_raw(Target::All, "USER_UPDATE", r#"{"z":1,"a":2}"#)
        .unwrap();
    assert!(c
        .next_text()
        .await
        .unwrap()
        .ends_with(r#""d":{"z":1,"a":2}}"#));
    assert!(sim
        .dispatch_raw(Target::All, "USER_UPDATE", "{oops")
        .is_err());
}

#[tokio::test]
async fn events_respect_intents_and_routing() {
    let sim = Sim::builder()
        .token(TOKEN)
        .guilds(2)
        .identify_window(Duration::ZERO)
        .start()
        .await
        .unwrap();
    let guilds = sim.guild_ids();
    let mut shards = Vec::new();
    for shard in 0..2u32 {
        let (mut c, _) = Client::hello(&common::url(&sim, Q)).await;
        // Shard 1 does not ask for GUILD_MESSAGES.
        let intents = if shard == 0 { 1 | 512 } else { 1 };
        c.identify(TOKEN, intents, Some([shard, 2])).await;
        c.recv_until(0, Some("GUILD_CREATE")).await;
        shards.push(c);
    }
    let on_shard = |g: u64| ((g >> 22) % 2) as usize;
    for &g in &guilds {
        let reached = sim.message_create_in(g, 1, "x");
        assert_eq!(reached, usize::from(on_shard(g) == 0), "guild {g}");
    }
    // Events without a guild go to shard 0 only.
    assert_eq!(sim.dispatch("USER_UPDATE", &json!({"id": "1"})), 1);
    // Explicit targets ignore routing (but not intents).
    assert_eq!(
        sim.dispatch_to(Target::All, "INTERACTION_CREATE", &json!({"id": "1"})),
        2
    );
    assert_eq!(
        sim.dispatch_to(Target::Shard(1), "GUILD_UPDATE", &json!({"id": "1"})),
        1
    );
}

#[tokio::test]
async fn request_guild_members_gets_chunks() {
    let sim = Sim::builder()
        .token(TOKEN)
        .guild_members(2500)
        .all_members_rate_limit(Duration::from_secs(30))
        .start()
        .await
        .unwrap();
    let guild = sim.guild_ids()[0].to_string();
    let (mut c, _) = ready(&sim, Q).await;
    c.recv_until(0, Some("GUILD_CREATE")).await;

    c.send(json!({"op": 8, "d": {"guild_id": guild, "query": "fer", "limit": 10, "nonce": "abc"}}))
        .await;
    let chunk = c.recv_until(0, Some("GUILD_MEMBERS_CHUNK")).await;
    assert_eq!(chunk["d"]["nonce"], "abc");
    assert_eq!(
        (
            chunk["d"]["chunk_index"].as_u64(),
            chunk["d"]["chunk_count"].as_u64()
        ),
        (Some(0), Some(1))
    );
    let names: Vec<&str> = chunk["d"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user"]["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["ferrisbot"]);

    c.send(json!({"op": 8, "d": {"guild_id": guild, "user_ids": ["217010734628995077", "1"], "presences": true}})).await;
    let chunk = c.recv_until(0, Some("GUILD_MEMBERS_CHUNK")).await;
    assert_eq!(chunk["d"]["members"].as_array().unwrap().len(), 1);
    assert_eq!(chunk["d"]["not_found"], json!(["1"]));
    assert!(chunk["d"]["presences"].is_array());

    c.send(json!({"op": 8, "d": {"guild_id": guild, "query": "", "limit": 0}}))
        .await;
    let mut total = 0;
    for i in 0..3 {
        let chunk = c.recv_until(0, Some("GUILD_MEMBERS_CHUNK")).await;
        assert_eq!(
            (
                chunk["d"]["chunk_index"].as_u64(),
                chunk["d"]["chunk_count"].as_u64()
            ),
            (Some(i), Some(3))
        );
        total += chunk["d"]["members"].as_array().unwrap().len();
    }
    assert_eq!(total, 2500);
    // A second "all members" request within 30 s is rate limited, the connection stays up.
    c.send(json!({"op": 8, "d": {"guild_id": guild, "query": "", "limit": 0, "nonce": "again"}}))
        .await;
    let limited = c.recv_until(0, Some("RATE_LIMITED")).await;
    assert_eq!(limited["d"]["opcode"], 8);
    assert_eq!(limited["d"]["meta"]["nonce"], "again");
    assert!(limited["d"]["retry_after"].as_f64().unwrap() > 29.0);
    assert_eq!(sim.counters().member_requests, 4);
    // Sent payloads are on record.
    let sent = sim.connections()[0].sent_with_op(8);
    assert_eq!(sent.len(), 4);
    assert_eq!(sent[0]["d"]["query"], "fer");
}

#[tokio::test]
async fn soundboard_and_channel_info_requests_are_answered() {
    let sim = common::sim().await;
    let (mut c, _) = ready(&sim, Q).await;
    c.send(json!({"op": 31, "d": {"guild_ids": ["1", "2"]}}))
        .await;
    for id in ["1", "2"] {
        let e = c.recv_until(0, Some("SOUNDBOARD_SOUNDS")).await;
        assert_eq!(e["d"]["guild_id"], id);
    }
    c.send(json!({"op": 43, "d": {"guild_id": "5", "fields": ["status"]}}))
        .await;
    assert_eq!(
        c.recv_until(0, Some("CHANNEL_INFO")).await["d"]["guild_id"],
        "5"
    );
    c.send(
        json!({"op": 3, "d": {"since": null, "activities": [], "status": "idle", "afk": false}}),
    )
    .await;
    c.heartbeat(None).await;
    assert_eq!(c.recv_until(11, None).await["op"], 11);
}

/// Drives the demo script by hand, the way a correct client would.
#[tokio::test]
async fn demo_script_runs_to_completion_against_a_correct_client() {
    let sim = common::sim().await;
    let script = sim.run_script(Script::demo());
    let (mut c, ready) = ready(&sim, Q).await;
    let sid = ready["d"]["session_id"].as_str().unwrap().to_owned();
    let mut seq = 1;
    let mut contents = Vec::new();
    // Until op 7: events.
    loop {
        let e = c.recv().await;
        if e["op"] == 7 {
            break;
        }
        seq = e["s"].as_u64().unwrap_or(seq);
        if let Some(content) = e["d"]["content"].as_str() {
            contents.push(content.to_owned());
        }
    }
    c.close(4000).await;
    let (mut c, _) = Client::hello(&format!("{}/?{Q}", sim.resume_url())).await;
    c.resume(&sid, seq).await;
    c.recv_until(0, Some("RESUMED")).await;
    // Until op 9 false.
    loop {
        let e = c.recv().await;
        if e["op"] == 9 {
            assert_eq!(e["d"], false);
            break;
        }
        if let Some(content) = e["d"]["content"].as_str() {
            contents.push(content.to_owned());
        }
    }
    c.close(4000).await;
    let (mut c, _) = common::ready(&sim, Q).await;
    while !script.is_finished() {
        tokio::select! {
            e = c.recv() => {
                if let Some(content) = e["d"]["content"].as_str() {
                    contents.push(content.to_owned());
                }
            }
            r = script.finished() => r.unwrap(),
        }
    }
    script.finished().await.unwrap();
    assert_eq!(script.steps_done(), script.total_steps());
    assert!(contents.contains(&"hello from the offline gateway".to_owned()));
    assert!(contents.contains(&"resumed: nothing was lost".to_owned()));
    let counters = sim.counters();
    assert_eq!((counters.readies, counters.resumed), (2, 1));
}

#[tokio::test]
async fn a_script_wait_that_never_happens_fails() {
    let sim = common::sim().await;
    let script = sim.run_script(Script::new().fault(Fault::Reconnect).wait_for_within(
        "a resume nobody will do",
        Duration::from_millis(100),
        |s, n| n.resumed > s.resumed,
    ));
    let err = script.finished().await.unwrap_err();
    assert!(err.to_string().contains("a resume nobody will do"), "{err}");
    assert_eq!(script.steps_done(), 1);
    let _ = WAIT;
}

#[test]
fn handle_works_without_any_async_runtime() {
    let sim = Sim::builder().token(TOKEN).start_blocking().unwrap();
    let script = sim.run_script(
        Script::new()
            .sleep(Duration::from_millis(20))
            .message("nobody listens"),
    );
    script.wait_blocking().unwrap();
    let counters = sim
        .wait_for_blocking(|c| c.connections == 0, Duration::from_secs(1))
        .unwrap();
    assert_eq!(counters.dispatches, 0, "no session, nobody got the message");
    assert!(sim
        .wait_for_blocking(|c| c.connections > 0, Duration::from_millis(50))
        .is_err());
}
