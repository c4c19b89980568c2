//! Sessions outlive connections: replay on Resume, RESUMED, and every way a Resume fails.

mod common;

use std::time::Duration;

use common::{ready, Client, Closed, INTENTS, TOKEN, WAIT};
use discord_gateway_sim::{Endpoint, Fault, Sim, Target};
use serde_json::{json, Value};

async fn sim_with(backlog: usize, timeout: Duration) -> Sim {
    Sim::builder()
        .token(TOKEN)
        .heartbeat_interval(Duration::from_millis(500))
        .identify_window(Duration::ZERO)
        .backlog_size(backlog)
        .session_timeout(timeout)
        .start()
        .await
        .unwrap()
}

fn session(ready: &Value) -> String {
    ready["d"]["session_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn events_sent_while_away_are_replayed_in_order_then_resumed() {
    let sim = sim_with(100, Duration::from_secs(60)).await;
    let (mut c, ready) = ready(&sim, "v=10&encoding=json").await;
    let sid = session(&ready);
    let resume_url = ready["d"]["resume_gateway_url"]
        .as_str()
        .unwrap()
        .to_owned();
    c.recv_until(0, Some("GUILD_CREATE")).await; // s = 2
    c.close(4000).await;
    sim.wait_for(|c| c.open_connections == 0, WAIT)
        .await
        .unwrap();
    for i in 0..3 {
        assert_eq!(sim.message_create(&format!("missed {i}")), 1);
    }
    let (mut c, _) = Client::hello(&format!("{resume_url}/?v=10&encoding=json")).await;
    c.resume(&sid, 2).await;
    for (i, s) in (3..=5).enumerate() {
        let e = c.recv().await;
        assert_eq!(
            (e["t"].as_str(), e["s"].as_u64()),
            (Some("MESSAGE_CREATE"), Some(s))
        );
        assert_eq!(e["d"]["content"], format!("missed {i}"));
    }
    let resumed = c.recv().await;
    assert_eq!(
        (resumed["t"].as_str(), resumed["s"].as_u64()),
        (Some("RESUMED"), Some(6))
    );
    // New events continue the same sequence on the new connection.
    sim.message_create("after");
    assert_eq!(c.recv().await["s"], 7);
    let counters = sim.counters();
    assert_eq!(
        (counters.resumes, counters.resumed, counters.replayed),
        (1, 1, 3)
    );
    assert_eq!(counters.resume_url_connections, 1);
    assert_eq!(counters.resumed_on_main_url, 0);
    assert_eq!(counters.client_closed(4000), 1);
    let records = sim.connections();
    assert_eq!(records[1].endpoint, Endpoint::Resume);
    assert!(records[1].resumed && !records[1].identified);
}

#[tokio::test]
async fn resume_with_an_older_seq_replays_what_the_client_lacks() {
    let sim = sim_with(100, Duration::from_secs(60)).await;
    let (mut c, ready) = ready(&sim, "v=10&encoding=json").await;
    c.recv_until(0, Some("GUILD_CREATE")).await;
    sim.message_create("seen by the client but not acknowledged");
    c.recv_until(0, Some("MESSAGE_CREATE")).await;
    drop(c); // TCP goes away without a close frame
    sim.wait_for(|c| c.client_drops == 1, WAIT).await.unwrap();
    let (mut c, _) = Client::hello(&format!("{}/?v=10&encoding=json", sim.resume_url())).await;
    c.resume(&session(&ready), 1).await;
    let seqs: Vec<(String, u64)> = [c.recv().await, c.recv().await, c.recv().await]
        .iter()
        .map(|e| {
            (
                e["t"].as_str().unwrap().to_owned(),
                e["s"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seqs,
        vec![
            ("GUILD_CREATE".into(), 2),
            ("MESSAGE_CREATE".into(), 3),
            ("RESUMED".into(), 4)
        ]
    );
}

#[tokio::test]
async fn resume_on_the_main_url_works_but_is_counted() {
    let sim = sim_with(100, Duration::from_secs(60)).await;
    let (mut c, ready) = ready(&sim, "v=10&encoding=json").await;
    c.close(4000).await;
    let (mut c, _) = Client::hello(&common::url(&sim, "v=10&encoding=json")).await;
    c.resume(&session(&ready), 1).await;
    c.recv_until(0, Some("RESUMED")).await;
    assert_eq!(sim.counters().resumed_on_main_url, 1);
}

#[tokio::test]
async fn unknown_session_gets_op9_false() {
    let sim = sim_with(100, Duration::from_secs(60)).await;
    let (mut c, _) = Client::hello(&format!("{}/?v=10&encoding=json", sim.resume_url())).await;
    c.resume("0123456789abcdef0123456789abcdef", 5).await;
    assert_eq!(
        c.recv().await,
        json!({"t": null, "s": null, "op": 9, "d": false})
    );
    // The connection stays usable for an Identify.
    c.identify(TOKEN, INTENTS, None).await;
    c.recv_until(0, Some("READY")).await;
}

#[tokio::test]
async fn seq_ahead_of_the_session_is_4007() {
    let sim = sim_with(100, Duration::from_secs(60)).await;
    let (mut c, ready) = ready(&sim, "v=10&encoding=json").await;
    c.close(4000).await;
    let (mut c, _) = Client::hello(&format!("{}/?v=10&encoding=json", sim.resume_url())).await;
    c.resume(&session(&ready), 99).await;
    assert_eq!(c.closed().await, Closed::Code(4007));
    // 4007 ends the session: a later Resume is refused.
    let (mut c, _) = Client::hello(&format!("{}/?v=10&encoding=json", sim.resume_url())).await;
    c.resume(&session(&ready), 1).await;
    assert_eq!(c.recv().await["op"], 9);
}

#[tokio::test]
async fn too_old_for_the_backlog_is_op9_false() {
    let sim = sim_with(2, Duration::from_secs(60)).await;
    let (mut c, ready) = ready(&sim, "v=10&encoding=json").await;
    c.close(4000).await;
    for i in 0..3 {
        sim.message_create(&format!("{i}"));
    }
    let (mut c, _) = Client::hello(&format!("{}/?v=10&encoding=json", sim.resume_url())).await;
    c.resume(&session(&ready), 1).await;
    assert_eq!(c.recv().await["d"], false);
    assert_eq!(sim.session_count(), 0);
}

#[tokio::test]
async fn sessions_expire_after_the_timeout() {
    let sim = sim_with(100, Duration::from_millis(100)).await;
    let (mut c, ready) = ready(&sim, "v=10&encoding=json").await;
    c.close(4000).await;
    sim.wait_until(|| sim.session_count() == 0, WAIT)
        .await
        .unwrap();
    let (mut c, _) = Client::hello(&format!("{}/?v=10&encoding=json", sim.resume_url())).await;
    c.resume(&session(&ready), 1).await;
    assert_eq!(c.recv().await["d"], false);
}

#[tokio::test]
async fn client_close_1000_ends_the_session_other_codes_keep_it() {
    let sim = sim_with(100, Duration::from_secs(60)).await;
    let (mut a, ready_a) = ready(&sim, "v=10&encoding=json").await;
    let (mut b, ready_b) = ready(&sim, "v=10&encoding=json").await;
    a.close(1000).await;
    b.close(4999).await;
    sim.wait_for(|c| c.open_connections == 0, WAIT)
        .await
        .unwrap();
    assert_eq!(sim.session_count(), 1);
    let (mut c, _) = Client::hello(&format!("{}/?v=10&encoding=json", sim.resume_url())).await;
    c.resume(&session(&ready_a), 1).await;
    assert_eq!(c.recv().await["d"], false);
    let (mut c, _) = Client::hello(&format!("{}/?v=10&encoding=json", sim.resume_url())).await;
    c.resume(&session(&ready_b), 1).await;
    c.recv_until(0, Some("RESUMED")).await;
}

#[tokio::test]
async fn resuming_elsewhere_closes_the_old_connection() {
    let sim = sim_with(100, Duration::from_secs(60)).await;
    let (mut old, ready) = ready(&sim, "v=10&encoding=json").await;
    old.recv_until(0, Some("GUILD_CREATE")).await;
    let (mut new, _) = Client::hello(&format!("{}/?v=10&encoding=json", sim.resume_url())).await;
    new.resume(&session(&ready), 2).await;
    new.recv_until(0, Some("RESUMED")).await;
    assert_eq!(old.closed().await, Closed::Code(4000));
    // The session is still the new connection's.
    sim.message_create("to the new one");
    assert_eq!(new.recv().await["t"], "MESSAGE_CREATE");
}

#[tokio::test]
async fn bad_resume_token_is_4004() {
    let sim = sim_with(100, Duration::from_secs(60)).await;
    let (mut c, ready) = ready(&sim, "v=10&encoding=json").await;
    c.close(4000).await;
    let (mut c, _) = Client::hello(&format!("{}/?v=10&encoding=json", sim.resume_url())).await;
    c.send(json!({"op": 6, "d": {"token": "x", "session_id": session(&ready), "seq": 1}}))
        .await;
    assert_eq!(c.closed().await, Closed::Code(4004));
}

#[tokio::test]
async fn reconnect_then_resume_loses_nothing() {
    let sim = sim_with(100, Duration::from_secs(60)).await;
    let (mut c, ready) = ready(&sim, "v=10&encoding=json").await;
    c.recv_until(0, Some("GUILD_CREATE")).await;
    sim.fault_to(Target::All, Fault::Reconnect);
    assert_eq!(
        c.recv().await,
        json!({"t": null, "s": null, "op": 7, "d": null})
    );
    sim.message_create("in flight during the reconnect");
    c.close(4000).await;
    let (mut c, _) = Client::hello(&format!("{}/?v=10&encoding=json", sim.resume_url())).await;
    c.resume(&session(&ready), 2).await;
    // The message was sent before the close (s = 3) but the client never read it: replayed.
    let e = c.recv().await;
    assert_eq!(
        (e["t"].as_str(), e["s"].as_u64()),
        (Some("MESSAGE_CREATE"), Some(3))
    );
    c.recv_until(0, Some("RESUMED")).await;
}
