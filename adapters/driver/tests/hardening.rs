//! Issue 22 on the deterministic runtime: a planted resume URL never gets the token, a gateway
//! that never answers the handshake or drops every session at once never wedges or floods a
//! shard, and a close during a dial keeps its bound.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{ack, hello, Scene, SESSION_ID};
use discord_gateway_driver::discord_gateway::session::{DisconnectCause, Next, ResumeState, State};
use discord_gateway_driver::discord_gateway::ShardId;
use discord_gateway_driver::testing::TestRuntime;
use discord_gateway_driver::{
    CloseKind, FileSessionStore, SessionEvent, SessionStore, ShardEvent, ShardManager, ShardRange,
};
use futures_util::FutureExt;

fn store_path(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "discord-gateway-hardening-{name}-{}.json",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    path
}

/// Polls `future` on the manual clock, moving it `step` at a time, until it completes;
/// returns how long that took on the clock, or `None` if it did not within `limit`.
fn complete_within<F: std::future::Future + Unpin>(
    rt: &TestRuntime,
    future: &mut F,
    step: Duration,
    limit: Duration,
) -> Option<Duration> {
    let start = rt.elapsed();
    loop {
        if rt.poll_once(future).is_ready() {
            return Some(rt.elapsed() - start);
        }
        if rt.elapsed() - start >= limit {
            return None;
        }
        rt.advance(step);
    }
}

#[test]
fn a_dial_that_completes_after_close_is_dropped_and_close_keeps_its_bound() {
    let mut scene = Scene::new(|b| b);
    scene.rt.delay_dials(1, Duration::from_secs(5));
    scene.poll();
    assert_eq!(scene.rt.dials().len(), 1);
    assert_eq!(scene.shard.state(), State::Connecting);
    // The dial completes on the clock, and the first poll after it is close()'s.
    scene.rt.advance(Duration::from_secs(5));
    let rt = scene.rt.clone();
    let mut close = Box::pin(scene.shard.close(CloseKind::Resumable));
    let took = complete_within(
        &rt,
        &mut close,
        Duration::from_millis(100),
        Duration::from_secs(10),
    );
    assert!(
        took.is_some_and(|took| took <= Duration::from_secs(2)),
        "close() took {took:?}"
    );
    drop(close);
    let server = scene.server.take().expect("the dial reached the server");
    assert!(
        server.transcript().is_empty(),
        "nothing sent on the late connection"
    );
    assert!(server.client_gone(), "the late connection was dropped");
    // And the stream ends.
    let events = rt.poll(&mut scene.shard);
    assert!(
        events
            .iter()
            .all(|e| !matches!(e, Ok(ShardEvent::Connected { .. }))),
        "{events:?}"
    );
}

#[test]
fn shutdown_while_a_shard_dials_returns_within_the_close_bound() {
    let rt = TestRuntime::new();
    let path = store_path("shutdown-dial");
    let range = ShardRange::new(0, 1, 2).unwrap();
    let mut manager = ShardManager::builder(common::builder(&rt), range)
        .session_store(FileSessionStore::new(&path))
        .start()
        .now_or_never()
        .expect("the file store never waits")
        .expect("starts");
    rt.delay_dials(2, Duration::from_secs(5));
    rt.poll(&mut manager);
    assert_eq!(rt.dials().len(), 2);
    rt.advance(Duration::from_secs(5));
    let mut shutdown = Box::pin(manager.shutdown());
    let took = complete_within(
        &rt,
        &mut shutdown,
        Duration::from_millis(100),
        Duration::from_secs(10),
    );
    assert!(
        took.is_some_and(|took| took <= Duration::from_secs(2)),
        "shutdown() took {took:?}"
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_gateway_that_acknowledges_heartbeats_but_never_sends_ready_is_left_and_retried_later() {
    let mut scene = Scene::new(|b| b);
    scene.poll();
    scene.gateway_says(&hello());
    assert!(scene.sent()[0].starts_with(r#"{"op":2,"#));
    let silent = scene.server.take().expect("connected");
    let identified_at = scene.rt.elapsed();
    // The gateway answers every heartbeat, and nothing else.
    let timed_out = loop {
        scene.rt.advance_to_next_deadline().expect("a deadline");
        scene.poll();
        if silent
            .received_text()
            .iter()
            .any(|t| t.starts_with(r#"{"op":1"#))
        {
            silent.send_text(ack());
            scene.poll();
        }
        let found = scene.events.iter().find_map(|e| match e {
            Ok(ShardEvent::Session(SessionEvent::Disconnected { cause, next }, _)) => {
                Some((*cause, *next))
            }
            _ => None,
        });
        if let Some(found) = found {
            break found;
        }
        assert!(
            scene.rt.elapsed() - identified_at <= Duration::from_secs(31),
            "still waiting for READY"
        );
    };
    let (DisconnectCause::HandshakeTimeout, Next::Identify { after }) = timed_out else {
        panic!("{timed_out:?}");
    };
    assert_eq!(
        scene.rt.elapsed() - identified_at,
        Duration::from_secs(30),
        "the default handshake timeout"
    );
    assert!(after > Duration::ZERO, "a failure backs off");
    assert!(
        silent
            .transcript()
            .iter()
            .any(|f| matches!(f, discord_gateway_driver::Frame::Close(Some(code)) if *code != 1000 && *code != 1001)),
        "closed resumably"
    );
    // It dials again after the backoff, not before.
    assert_eq!(scene.rt.dials().len(), 1);
    while scene.server.is_none() {
        scene.wait();
    }
    assert_eq!(scene.rt.dials().len(), 2);
    assert!(scene.rt.elapsed() - identified_at >= Duration::from_secs(30) + after);
}

#[test]
fn a_gateway_that_closes_every_session_with_4000_after_ready_is_redialled_ever_later() {
    let mut scene = Scene::new(|b| b);
    scene.connect_and_ready();
    let mut gaps = Vec::new();
    for _ in 0..6 {
        let server = scene.server.take().expect("connected");
        server.close(4000);
        scene.poll();
        let closed_at = scene.rt.elapsed();
        while scene.server.is_none() {
            scene.wait();
        }
        gaps.push(scene.rt.elapsed() - closed_at);
        scene.poll();
        scene.gateway_says(&hello());
        assert!(scene.sent()[0].starts_with(r#"{"op":6,"#));
        let events = scene.gateway_says(r#"{"t":"RESUMED","s":null,"op":0,"d":{}}"#);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Ok(ShardEvent::Session(SessionEvent::Resumed { .. }, _)))),
            "{events:?}"
        );
    }
    assert!(gaps[0] > Duration::ZERO, "{gaps:?}");
    assert!(gaps.windows(2).all(|w| w[1] > w[0]), "{gaps:?}");
}

#[test]
fn a_resume_url_planted_in_the_file_store_never_gets_the_token() {
    let rt = TestRuntime::new();
    let path = store_path("planted");
    let store = FileSessionStore::new(&path);
    let shard = ShardId::new(0, 1).unwrap();
    // What an attacker with write access to the file puts there, through the store's own API,
    // sealed with the bot's own key: the worst case, a writer that knows the token, so what
    // stops it here is the URL rule, not the seal.
    for planted in ["ws://127.0.0.2:4000/resume", "wss://attacker.example"] {
        let state = ResumeState {
            session_id: SESSION_ID.try_into().unwrap(),
            resume_gateway_url: planted.try_into().unwrap(),
            seq: 17,
        };
        store
            .save(&[(shard, common::seal().seal(shard, &state))])
            .now_or_never()
            .expect("the file store never waits")
            .expect("saved");
        let mut manager =
            ShardManager::builder(common::builder(&rt), ShardRange::new(0, 0, 1).unwrap())
                .session_store(FileSessionStore::new(&path))
                .start()
                .now_or_never()
                .expect("the file store never waits")
                .expect("starts");
        rt.poll(&mut manager);
        let dials = rt.dials();
        let last = dials.last().expect("dialled");
        assert!(
            last.url.starts_with("wss://gateway.test/"),
            "{planted}: dialled {}",
            last.url
        );
        assert!(
            dials
                .iter()
                .all(|dial| !dial.url.contains("127.0.0.2") && !dial.url.contains("attacker")),
            "{dials:?}"
        );
        let server = rt.accept().expect("dialled the configured gateway");
        server.send_text(&hello());
        rt.poll(&mut manager);
        let resume = server.received_text();
        assert!(resume[0].starts_with(r#"{"op":6,"#), "{resume:?}");
        assert!(resume[0].contains(SESSION_ID) && resume[0].contains(r#""seq":17"#));
        assert!(resume[0].contains("test-token"));
        server.send_text(r#"{"t":"RESUMED","s":18,"op":0,"d":{}}"#);
        let events = rt.poll(&mut manager);
        assert!(
            events.iter().any(|e| matches!(
                e,
                Ok((_, ShardEvent::Session(SessionEvent::Resumed { .. }, _)))
            )),
            "{events:?}"
        );
        drop(manager);
    }
    let _ = std::fs::remove_file(&path);
}

/// Issue 22, item 10: an application that stopped handling a shard's dispatches after some
/// sequence number (gateway-tail past `--max-events`) rewinds the suspended session to it, so
/// the saved session does not cover events nobody handled and the next start has them replayed.
#[test]
fn a_rewound_session_is_saved_as_of_the_last_event_handled() {
    let rt = TestRuntime::new();
    let path = store_path("rewind");
    let shard = ShardId::new(0, 1).unwrap();
    let stored = ResumeState {
        session_id: SESSION_ID.try_into().unwrap(),
        resume_gateway_url: common::RESUME_URL.try_into().unwrap(),
        seq: 17,
    };
    // Rewound before the session's seq: saved there. Past it, or not at all: as it was.
    for (rewind, saved_seq) in [(Some(10), 10), (Some(99), 17), (None, 17)] {
        let store = FileSessionStore::new(&path);
        store
            .save(&[(shard, common::seal().seal(shard, &stored))])
            .now_or_never()
            .expect("the file store never waits")
            .expect("saved");
        let mut manager =
            ShardManager::builder(common::builder(&rt), ShardRange::new(0, 0, 1).unwrap())
                .session_store(FileSessionStore::new(&path))
                .start()
                .now_or_never()
                .expect("the file store never waits")
                .expect("starts");
        let mut suspend = Box::pin(manager.suspend());
        let mut suspended = loop {
            if let std::task::Poll::Ready(suspended) = rt.poll_once(&mut suspend) {
                break suspended;
            }
            rt.advance(Duration::from_millis(100));
        };
        if let Some(seq) = rewind {
            suspended.rewind(shard, seq);
        }
        assert_eq!(
            suspended
                .save()
                .now_or_never()
                .expect("the file store never waits")
                .expect("saved"),
            1
        );
        let loaded = store
            .load(&[shard])
            .now_or_never()
            .expect("the file store never waits")
            .expect("loaded");
        let saved = common::seal()
            .open(shard, loaded[0].as_ref().expect("a session saved"))
            .expect("sealed for this bot and shard");
        assert_eq!(saved.seq, saved_seq, "rewound to {rewind:?}");
        assert_eq!(saved.session_id, stored.session_id);
    }
    let _ = std::fs::remove_file(&path);
}
