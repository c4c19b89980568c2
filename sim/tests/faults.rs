//! Fault injection, aimed at all connections, one shard, one connection or the next one.

mod common;

use std::time::{Duration, Instant};

use common::{ready, Client, Closed, INTENTS, TOKEN, WAIT};
use discord_gateway_sim::{ChaosConfig, Fault, Sim, Target};
use serde_json::json;

async fn sim() -> Sim {
    common::sim().await
}

const Q: &str = "v=10&encoding=json";

#[tokio::test]
async fn op7_and_op9() {
    let sim = sim().await;
    let (mut c, _) = ready(&sim, Q).await;
    c.recv_until(0, Some("GUILD_CREATE")).await;
    sim.fault(Fault::Reconnect);
    assert_eq!(
        c.recv().await,
        json!({"t": null, "s": null, "op": 7, "d": null})
    );
    sim.fault(Fault::InvalidSession(true));
    assert_eq!(
        c.recv().await,
        json!({"t": null, "s": null, "op": 9, "d": true})
    );
    assert_eq!(sim.session_count(), 1);
    sim.fault(Fault::InvalidSession(false));
    assert_eq!(
        c.recv().await,
        json!({"t": null, "s": null, "op": 9, "d": false})
    );
    assert_eq!(sim.session_count(), 0, "op 9 false ends the session");
    let counters = sim.counters();
    assert_eq!(
        (
            counters.reconnects_sent,
            counters.invalid_sessions_resumable,
            counters.invalid_sessions_not_resumable
        ),
        (1, 1, 1)
    );
    // After op 9 false the client may identify again, even on the same connection.
    c.identify(TOKEN, INTENTS, None).await;
    c.recv_until(0, Some("READY")).await;
}

#[tokio::test]
async fn reconnect_is_followed_by_a_close_if_configured() {
    let sim = Sim::builder()
        .reconnect_close_after(Some(Duration::from_millis(50)))
        .start()
        .await
        .unwrap();
    let (mut c, _) = Client::hello(&common::url(&sim, Q)).await;
    sim.fault(Fault::Reconnect);
    assert_eq!(c.recv().await["op"], 7);
    assert_eq!(c.closed().await, Closed::Code(4000));
}

#[tokio::test]
async fn any_close_code_and_its_effect_on_the_session() {
    let sim = sim().await;
    let (mut a, _) = ready(&sim, Q).await;
    sim.fault(Fault::Close(4000));
    assert_eq!(a.closed().await, Closed::Code(4000));
    sim.wait_for(|c| c.open_connections == 0, WAIT)
        .await
        .unwrap();
    assert_eq!(sim.session_count(), 1, "4000 keeps the session resumable");
    let (mut b, _) = ready(&sim, Q).await;
    sim.fault_to(Target::Connection(1), Fault::Close(4009));
    assert_eq!(b.closed().await, Closed::Code(4009));
    sim.wait_for(|c| c.open_connections == 0, WAIT)
        .await
        .unwrap();
    assert_eq!(sim.session_count(), 1, "4009 ends the session");
    let (mut c, _) = Client::hello(&common::url(&sim, Q)).await;
    sim.fault(Fault::Close(3999));
    assert_eq!(c.closed().await, Closed::Code(3999));
    let counters = sim.counters();
    assert_eq!(
        (
            counters.server_closed(4000),
            counters.server_closed(4009),
            counters.server_closed(3999)
        ),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn drop_tcp_sends_no_close_frame() {
    let sim = sim().await;
    let (mut c, _) = ready(&sim, Q).await;
    sim.fault(Fault::DropTcp);
    assert_eq!(c.closed().await, Closed::Dropped);
    sim.wait_for(|c| c.tcp_drops == 1 && c.open_connections == 0, WAIT)
        .await
        .unwrap();
    assert_eq!(sim.session_count(), 1);
}

#[tokio::test]
async fn faults_aim_at_one_shard() {
    let sim = sim().await;
    let mut clients = Vec::new();
    for shard in 0..3 {
        let (mut c, _) = Client::hello(&common::url(&sim, Q)).await;
        c.identify(TOKEN, INTENTS, Some([shard, 3])).await;
        c.recv_until(0, Some("READY")).await;
        clients.push(c);
    }
    assert_eq!(sim.fault_to(Target::Shard(1), Fault::Close(4000)), 1);
    assert_eq!(clients[1].closed().await, Closed::Code(4000));
    sim.fault(Fault::RequestHeartbeat);
    for i in [0, 2] {
        assert_eq!(clients[i].recv_until(1, None).await["op"], 1);
    }
}

#[tokio::test]
async fn malformed_and_unknown_frames() {
    let sim = sim().await;
    let (mut c, _) = ready(&sim, Q).await;
    c.recv_until(0, Some("GUILD_CREATE")).await;
    sim.fault(Fault::Malformed);
    let text = c.next_text().await.unwrap();
    assert!(
        serde_json::from_str::<serde_json::Value>(&text).is_err(),
        "{text}"
    );
    sim.fault(Fault::UnknownOpcode(42));
    assert_eq!(
        c.recv().await,
        json!({"t": null, "s": null, "op": 42, "d": null})
    );
    sim.fault(Fault::UnknownEvent);
    let e = c.recv().await;
    assert_eq!(
        (e["t"].as_str(), e["s"].as_u64()),
        (Some("SIM_UNKNOWN_EVENT"), Some(3))
    );
    sim.fault(Fault::RawText("not even close".into()));
    assert_eq!(c.next_text().await.unwrap(), "not even close");
    sim.fault(Fault::RawBinary(vec![0xde, 0xad]));
    let msg = c.ws_next_binary().await;
    assert_eq!(msg, vec![0xde, 0xad]);
}

#[tokio::test]
async fn delay_holds_output_and_keeps_order() {
    let sim = sim().await;
    let (mut c, _) = ready(&sim, Q).await;
    c.recv_until(0, Some("GUILD_CREATE")).await;
    sim.fault(Fault::Delay(Duration::from_millis(300)));
    sim.wait_for(|c| c.faults == 1, WAIT).await.unwrap();
    let started = Instant::now();
    sim.message_create("late 1");
    sim.message_create("late 2");
    assert_eq!(c.recv().await["d"]["content"], "late 1");
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(c.recv().await["d"]["content"], "late 2");
}

#[tokio::test]
async fn freeze_stops_everything_but_resume_recovers_it() {
    let sim = sim().await;
    let (mut c, ready) = ready(&sim, Q).await;
    c.recv_until(0, Some("GUILD_CREATE")).await;
    sim.fault(Fault::Freeze);
    sim.wait_for(|c| c.faults == 1, WAIT).await.unwrap();
    sim.message_create("frozen");
    c.heartbeat(Some(2)).await;
    c.silent_for(Duration::from_millis(200)).await;
    let (mut r, _) = Client::hello(&format!("{}/?{Q}", sim.resume_url())).await;
    r.resume(ready["d"]["session_id"].as_str().unwrap(), 2)
        .await;
    assert_eq!(r.recv().await["d"]["content"], "frozen");
    r.recv_until(0, Some("RESUMED")).await;
}

#[tokio::test]
async fn burst_and_huge_events_take_sequence_numbers() {
    let sim = sim().await;
    let (mut c, _) = ready(&sim, Q).await;
    c.recv_until(0, Some("GUILD_CREATE")).await;
    sim.fault(Fault::Burst(50));
    for s in 3..53 {
        let e = c.recv().await;
        assert_eq!(
            (e["t"].as_str(), e["s"].as_u64()),
            (Some("MESSAGE_CREATE"), Some(s))
        );
    }
    sim.fault(Fault::HugeGuildCreate(2_000_000));
    let text = c.next_text().await.unwrap();
    assert!(text.len() >= 2_000_000);
    assert!(text.starts_with(r#"{"t":"GUILD_CREATE","s":53,"#));
}

#[tokio::test]
async fn next_connection_faults_come_before_hello() {
    let sim = sim().await;
    sim.fault_to(Target::NextConnection, Fault::Reconnect);
    let mut c = Client::connect(&common::url(&sim, Q)).await;
    assert_eq!(c.recv().await["op"], 7, "op 7 before Hello");
    assert_eq!(c.recv().await["op"], 10);
    sim.fault_to(Target::NextConnection, Fault::Close(4000));
    let mut c = Client::connect(&common::url(&sim, Q)).await;
    assert_eq!(c.closed().await, Closed::Code(4000));
    sim.fault_to(
        Target::NextConnection,
        Fault::Delay(Duration::from_millis(200)),
    );
    let started = Instant::now();
    let (_c, _) = Client::hello(&common::url(&sim, Q)).await;
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn chaos_is_seeded_and_logged() {
    let run = |seed| async move {
        let sim = Sim::builder()
            .token(TOKEN)
            .heartbeat_interval(Duration::from_secs(5))
            .start()
            .await
            .unwrap();
        let mut clients = Vec::new();
        for _ in 0..3 {
            clients.push(Client::hello(&common::url(&sim, Q)).await.0);
        }
        // Only faults that leave connections open, so the target set stays the same.
        let faults = vec![
            Fault::RequestHeartbeat,
            Fault::UnknownOpcode(99),
            Fault::Reconnect,
            Fault::WithholdAcks,
        ];
        sim.start_chaos(
            ChaosConfig::new(seed, Duration::from_millis(5))
                .steps(12)
                .faults(faults),
        );
        sim.wait_until(|| sim.chaos_log().len() == 12, WAIT)
            .await
            .unwrap();
        sim.chaos_log()
            .into_iter()
            .map(|e| (e.conn, e.fault))
            .collect::<Vec<_>>()
    };
    let a = run(7).await;
    assert_eq!(a, run(7).await);
    assert_ne!(a, run(8).await);
}

#[tokio::test]
async fn chaos_with_the_default_mix_keeps_the_sim_serving() {
    let sim = sim().await;
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(ready(&sim, Q).await.0);
    }
    sim.start_chaos(ChaosConfig::new(1, Duration::from_millis(2)).steps(40));
    sim.wait_until(
        || sim.chaos_log().len() == 40 || sim.open_connections().is_empty(),
        WAIT,
    )
    .await
    .unwrap();
    sim.stop_chaos();
    // Whatever happened, a new client still gets a session.
    let (_c, ready) = ready(&sim, Q).await;
    assert_eq!(ready["t"], "READY");
}

#[tokio::test]
async fn a_fragmented_text_arrives_as_one_message_and_pings_are_answered() {
    let sim = sim().await;
    let (mut c, _) = ready(&sim, Q).await;
    c.recv_until(0, Some("GUILD_CREATE")).await;
    let text = r#"{"t":null,"s":null,"op":11,"d":null}"#;
    sim.fault(Fault::FragmentedText(text.into(), 3));
    assert_eq!(c.next_text().await.unwrap(), text);
    sim.fault(Fault::Ping(b"are you there".to_vec()));
    // Something to read after the ping, so the client's automatic pong is flushed.
    sim.fault(Fault::Reconnect);
    c.recv_until(7, None).await;
    sim.wait_for(|c| c.pongs == 1, WAIT).await.unwrap();
    assert_eq!(sim.counters().last_pong, b"are you there");
}

#[tokio::test]
async fn a_silent_handshake_answers_heartbeats_but_never_identify_or_resume() {
    let sim = sim().await;
    sim.fault_to(Target::NextConnection, Fault::SilentHandshake);
    let (mut c, _) = Client::hello(&common::url(&sim, Q)).await;
    c.identify(TOKEN, INTENTS, None).await;
    c.heartbeat(None).await;
    assert_eq!(
        c.recv().await["op"],
        11,
        "heartbeats are still acknowledged"
    );
    c.silent_for(Duration::from_millis(300)).await;
    assert_eq!(sim.session_count(), 0, "no session was started");
    assert_eq!(sim.counters().identifies, 1);
    // The next connection is served as usual.
    let (mut c, _) = ready(&sim, Q).await;
    c.recv_until(0, Some("GUILD_CREATE")).await;
}
