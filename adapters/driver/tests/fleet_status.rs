//! A 32-shard manager started on the manual clock: `ShardManager::status()` and the progress
//! line follow the identify queue, one Identify per 5 s, to the last READY.

mod common;

use std::time::Duration;

use common::{ack, builder, hello, ready, SESSION_ID};
use discord_gateway_driver::discord_gateway::session::State;
use discord_gateway_driver::testing::{TestRuntime, TestServer};
use discord_gateway_driver::{
    LocalIdentifyQueue, ManagerBuilder, ShardManager, ShardRange, IDENTIFY_WINDOW,
};

const SHARDS: u32 = 32;

/// The gateway side of every connection: says Hello to each new one and READY to each
/// Identify, the way Discord does.
struct Gateway {
    servers: Vec<(TestServer, bool)>,
}

impl Gateway {
    fn serve(&mut self, rt: &TestRuntime) {
        while let Some(server) = rt.accept() {
            server.send_text(&hello());
            self.servers.push((server, false));
        }
        for (server, answered) in &mut self.servers {
            for text in server.received_text() {
                if text.starts_with(r#"{"op":2,"#) {
                    server.send_text(&ready());
                    *answered = true;
                } else if text.starts_with(r#"{"op":1,"#) {
                    server.send_text(ack());
                }
            }
        }
    }
}

fn start(rt: &TestRuntime, max_concurrency: u32) -> ShardManager<TestRuntime> {
    let range = ShardRange::all(SHARDS).expect("a valid range");
    let manager: ManagerBuilder<TestRuntime> = ShardManager::builder(builder(rt), range)
        .identify_queue(LocalIdentifyQueue::new(rt.clone(), max_concurrency));
    let mut start = Box::pin(manager.start());
    match rt.poll_once(&mut start) {
        std::task::Poll::Ready(manager) => manager.expect("the manager starts"),
        std::task::Poll::Pending => panic!("a start without a store does not wait"),
    }
}

/// Polls the manager and serves the gateway until neither has anything more to do.
fn settle(rt: &TestRuntime, manager: &mut ShardManager<TestRuntime>, gateway: &mut Gateway) {
    loop {
        let events = rt.poll(manager);
        let before = gateway.servers.len();
        let answered = gateway.servers.iter().filter(|(_, a)| *a).count();
        gateway.serve(rt);
        let after = gateway.servers.iter().filter(|(_, a)| *a).count();
        if events.is_empty() && gateway.servers.len() == before && after == answered {
            return;
        }
    }
}

#[test]
fn a_32_shard_start_reports_its_progress_and_every_shards_status() {
    let rt = TestRuntime::new();
    let mut manager = start(&rt, 1);
    let mut gateway = Gateway {
        servers: Vec::new(),
    };
    let progress = manager.progress();
    assert_eq!(progress.shards, SHARDS);
    assert_eq!(progress.live, 0);
    assert_eq!(
        progress.to_string(),
        "ready 0/32, 32 connecting, 0 waiting for identify, ~2m40s left"
    );

    settle(&rt, &mut manager, &mut gateway);
    // Every shard dialed and had Hello; the first identified at once and is live, the other
    // 31 wait in the one bucket, 5 s apart.
    assert_eq!(
        manager.progress().to_string(),
        "ready 1/32, 0 connecting, 31 waiting for identify, ~2m35s left"
    );
    let status = manager.status();
    assert_eq!(status.len(), SHARDS as usize);
    assert_eq!(status[0].id.id(), 0);
    assert_eq!(status[0].state, State::Active);
    assert!(status[0].has_session);
    assert!(status[0].last_event.is_some());
    for shard in &status[1..] {
        assert_eq!(shard.state, State::AwaitingPermit, "{shard:?}");
        assert!(!shard.has_session);
        assert_eq!(shard.last_event, None);
        assert_eq!(shard.reconnects, 0);
    }

    // Ten windows later (heartbeats and their ACKs in between), eleven are live.
    while rt.elapsed() < IDENTIFY_WINDOW * 10 {
        let waited = rt.advance_to_next_deadline().expect("a permit waits");
        assert!(waited <= IDENTIFY_WINDOW, "{waited:?}");
        settle(&rt, &mut manager, &mut gateway);
    }
    assert_eq!(rt.elapsed(), IDENTIFY_WINDOW * 10);
    assert_eq!(
        manager.progress().to_string(),
        "ready 11/32, 0 connecting, 21 waiting for identify, ~1m45s left"
    );
    let live: Vec<u32> = manager
        .status()
        .iter()
        .filter(|s| s.state == State::Active)
        .map(|s| s.id.id())
        .collect();
    assert_eq!(live, (0..11).collect::<Vec<_>>());

    // To the end: no estimate is left, every shard is live with a session.
    while manager.progress().live < SHARDS {
        rt.advance_to_next_deadline().expect("a permit waits");
        settle(&rt, &mut manager, &mut gateway);
    }
    assert_eq!(rt.elapsed(), IDENTIFY_WINDOW * 31);
    assert_eq!(
        manager.progress().to_string(),
        "ready 32/32, 0 connecting, 0 waiting for identify"
    );
    assert_eq!(manager.ready(), SHARDS);
    assert!(manager
        .status()
        .iter()
        .all(|s| s.state == State::Active && s.has_session && s.reconnects == 0));
    // The first shards have heartbeated by now, and their ACKs gave a latency.
    assert!(manager.status()[0].latency.is_some());
    assert_eq!(
        manager
            .shard_mut(discord_gateway_driver::discord_gateway::ShardId::new(5, SHARDS).unwrap())
            .unwrap()
            .session()
            .session_id(),
        Some(SESSION_ID)
    );
}

#[test]
fn the_estimate_divides_by_the_buckets() {
    let rt = TestRuntime::new();
    let mut manager = start(&rt, 4);
    let mut gateway = Gateway {
        servers: Vec::new(),
    };
    settle(&rt, &mut manager, &mut gateway);
    // One per bucket identified at once; 28 left in 4 buckets: 7 windows.
    assert_eq!(
        manager.progress().to_string(),
        "ready 4/32, 0 connecting, 28 waiting for identify, ~35s left"
    );
    rt.advance(Duration::from_secs(5));
    settle(&rt, &mut manager, &mut gateway);
    assert_eq!(
        manager.progress().to_string(),
        "ready 8/32, 0 connecting, 24 waiting for identify, ~30s left"
    );
}
