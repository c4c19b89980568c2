//! The driver on the deterministic runtime: in-memory sockets and a manual clock, so every
//! heartbeat interval, zombie check, backoff and timeout passes in microseconds.

mod common;

use std::time::Duration;

use common::{ack, hello, message, texts, Scene, INTERVAL_MS, RESUME_URL};
use discord_gateway_driver::discord_gateway::command::{MemberSelector, RequestGuildMembers};
use discord_gateway_driver::discord_gateway::session::{Compression, DisconnectCause, Next};
use discord_gateway_driver::discord_gateway::Snowflake;
use discord_gateway_driver::{BuildError, CloseKind, Frame, SessionEvent, ShardEvent, USER_AGENT};

fn request(nonce_guild: u64) -> RequestGuildMembers<'static> {
    RequestGuildMembers::new(
        Snowflake::from(nonce_guild),
        MemberSelector::Query {
            prefix: "",
            limit: 1,
        },
    )
}

#[test]
fn heartbeats_keep_the_interval_on_a_manual_clock() {
    let mut scene = Scene::new(|b| b);
    scene.connect_and_ready();
    // The first heartbeat comes after a jittered part of the interval, then one per interval.
    let first = scene.wait();
    assert!(first <= Duration::from_millis(INTERVAL_MS), "{first:?}");
    assert_eq!(scene.sent(), [r#"{"op":1,"d":1}"#]);
    for beat in 0..20 {
        scene.gateway_says(ack());
        let waited = scene.wait();
        assert_eq!(waited, Duration::from_millis(INTERVAL_MS), "beat {beat}");
        assert_eq!(scene.sent(), [r#"{"op":1,"d":1}"#], "beat {beat}");
    }
    assert!(scene.shard.latency().is_some());
}

/// Op 1: the gateway asks for a heartbeat, and gets one at once (no time passes), carrying the
/// last sequence number, whatever the schedule says.
#[test]
fn a_requested_heartbeat_goes_out_at_once_with_the_last_sequence_number() {
    let mut scene = Scene::new(|b| b);
    scene.connect_and_ready();
    scene.gateway_says(&message(2));
    scene.gateway_says(&message(3));
    let start = scene.rt.elapsed();
    for _ in 0..3 {
        scene.gateway_says(r#"{"t":null,"s":null,"op":1,"d":null}"#);
        assert_eq!(scene.sent(), [r#"{"op":1,"d":3}"#]);
        scene.gateway_says(ack());
    }
    assert_eq!(scene.rt.elapsed(), start);
    // The scheduled beats carry on after it, and the connection stays.
    scene.wait();
    assert_eq!(scene.sent(), [r#"{"op":1,"d":3}"#]);
    assert_eq!(scene.rt.dials().len(), 1);
}

#[test]
fn a_zombie_connection_is_closed_and_resumed() {
    let mut scene = Scene::new(|b| b);
    scene.connect_and_ready();
    scene.gateway_says(&message(2));
    scene.wait();
    assert_eq!(scene.sent(), [r#"{"op":1,"d":2}"#]);
    let zombie = scene.server.take().expect("connected");
    // No ACK: at the next heartbeat the connection is a zombie.
    scene.wait();
    let disconnected = scene.events.iter().rev().find_map(|e| match e {
        Ok(ShardEvent::Session(SessionEvent::Disconnected { cause, next }, _)) => {
            Some((*cause, *next))
        }
        _ => None,
    });
    let Some((DisconnectCause::Zombie, Next::Resume { .. })) = disconnected else {
        panic!("{:?}", scene.events);
    };
    // The zombie got a close frame that keeps the session resumable (not 1000).
    let closes: Vec<Frame> = zombie
        .transcript()
        .into_iter()
        .filter(|f| matches!(f, Frame::Close(_)))
        .collect();
    assert_eq!(closes.len(), 1, "{closes:?}");
    assert_ne!(closes[0], Frame::Close(Some(1000)));
    // After the backoff it dials the resume URL and resumes from seq 2.
    while scene.server.is_none() {
        scene.wait();
    }
    assert!(scene.rt.dials()[1].url.starts_with(RESUME_URL));
    scene.poll();
    scene.gateway_says(&hello());
    let sent = scene.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].starts_with(r#"{"op":6,"#), "{sent:?}");
    assert!(sent[0].contains(r#""seq":2"#), "{sent:?}");
}

#[test]
fn failed_dials_back_off_longer_each_time() {
    let mut scene = Scene::new(|b| b);
    scene.rt.refuse_dials(5);
    scene.poll();
    let mut dialled_at = vec![scene.rt.elapsed()];
    while dialled_at.len() < 6 {
        scene.wait();
        if scene.rt.dials().len() > dialled_at.len() {
            dialled_at.push(scene.rt.elapsed());
        }
    }
    let gaps: Vec<Duration> = dialled_at.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.windows(2).all(|w| w[1] > w[0]), "{gaps:?}");
    assert!(gaps[0] <= Duration::from_secs(2), "{gaps:?}");
    // The sixth dial went through.
    assert!(scene.server.is_some());
}

#[test]
fn a_dial_that_hangs_times_out_and_is_retried() {
    let mut scene = Scene::new(|b| b.connect_timeout(Duration::from_secs(10)));
    scene.rt.hang_dials(1);
    scene.poll();
    assert_eq!(scene.rt.dials().len(), 1);
    let waited = scene.wait();
    assert_eq!(waited, Duration::from_secs(10));
    while scene.server.is_none() {
        scene.wait();
    }
    assert_eq!(scene.rt.dials().len(), 2);
}

#[test]
fn no_hello_in_time_reconnects() {
    let mut scene = Scene::new(|b| b);
    scene.poll();
    let first = scene.server.take().expect("dialled");
    scene.poll();
    while scene.server.is_none() {
        scene.wait();
    }
    assert!(scene.events.iter().any(|e| matches!(
        e,
        Ok(ShardEvent::Session(
            SessionEvent::Disconnected {
                cause: DisconnectCause::HelloTimeout,
                ..
            },
            _
        ))
    )));
    // The silent connection was closed with a frame that keeps the session resumable.
    let closes: Vec<Frame> = first
        .transcript()
        .into_iter()
        .filter(|f| matches!(f, Frame::Close(_)))
        .collect();
    assert_eq!(closes.len(), 1, "{closes:?}");
}

/// The cancellation case of the issue: writes stall (the peer stops reading), `next_event`
/// futures are dropped mid-way again and again, and still every command reaches the gateway
/// exactly once, in order, once the peer reads again.
#[test]
fn cancelled_next_event_with_stalled_writes_sends_each_command_once() {
    let mut scene = Scene::new(|b| b);
    scene.connect_and_ready();
    let sender = scene.shard.sender();
    scene.server().stall_writes(true);
    for guild in 1..=5 {
        scene.shard.send(&request(guild)).expect("queued");
        sender.send(&request(100 + guild)).expect("queued");
        // Start waiting for an event, then give up on it, as `select!` does.
        let mut next = Box::pin(scene.shard.next_event());
        assert!(scene.rt.poll_once(&mut next).is_pending());
        drop(next);
    }
    // Time passes while stalled, but less than the send timeout.
    scene.rt.advance(Duration::from_secs(5));
    let mut next = Box::pin(scene.shard.next_event());
    assert!(scene.rt.poll_once(&mut next).is_pending());
    drop(next);
    scene.server().stall_writes(false);
    scene.poll();
    let sent: Vec<String> = texts(&scene.server().transcript())
        .into_iter()
        .filter(|t| t.starts_with(r#"{"op":8,"#))
        .collect();
    let guilds: Vec<String> = sent
        .iter()
        .map(|t| {
            let at = t.find(r#""guild_id":""#).expect("guild id") + 12;
            t[at..].split('"').next().unwrap_or_default().to_owned()
        })
        .collect();
    let mut expected: Vec<String> = Vec::new();
    for guild in 1..=5u64 {
        expected.push(guild.to_string());
        expected.push((100 + guild).to_string());
    }
    // Each once; the shard's own and the sender's interleave in the order they were queued.
    let mut sorted = guilds.clone();
    sorted.sort();
    let mut wanted = expected.clone();
    wanted.sort();
    assert_eq!(sorted, wanted, "{sent:?}");
}

#[test]
fn a_write_stalled_past_the_send_timeout_drops_the_connection() {
    let mut scene = Scene::new(|b| b);
    scene.connect_and_ready();
    scene.server().stall_writes(true);
    scene.shard.send(&request(1)).expect("queued");
    scene.shard.send(&request(2)).expect("queued");
    scene.poll();
    let stalled = scene.server.take().expect("connected");
    for _ in 0..10 {
        scene.wait();
        if scene.server.is_some() {
            break;
        }
    }
    assert!(stalled.client_gone(), "{:?}", scene.events);
    assert!(scene.events.iter().any(|e| matches!(
        e,
        Ok(ShardEvent::Session(
            SessionEvent::Disconnected {
                cause: DisconnectCause::TransportLost,
                ..
            },
            _
        ))
    )));
}

#[test]
fn every_upgrade_names_the_library_in_its_user_agent() {
    let mut scene = Scene::new(|b| b);
    scene.poll();
    let dials = scene.rt.dials();
    assert_eq!(dials[0].user_agent, USER_AGENT);
    assert!(USER_AGENT.starts_with("DiscordBot (http"), "{USER_AGENT}");
    assert!(USER_AGENT.ends_with(&format!(", {})", env!("CARGO_PKG_VERSION"))));
}

#[test]
fn close_resumable_sends_a_resumable_code_and_keeps_the_state() {
    let mut scene = Scene::new(|b| b);
    scene.connect_and_ready();
    scene.gateway_says(&message(2));
    let server = scene.server.clone().expect("connected");
    let mut close = Box::pin(scene.shard.close(CloseKind::Resumable));
    assert!(scene.rt.poll_once(&mut close).is_pending());
    server.hang_up();
    assert!(scene.rt.poll_once(&mut close).is_ready());
    drop(close);
    let closes: Vec<Frame> = server
        .transcript()
        .into_iter()
        .filter(|f| matches!(f, Frame::Close(_)))
        .collect();
    assert_eq!(closes.len(), 1);
    assert_ne!(closes[0], Frame::Close(Some(1000)));
    let state = scene.shard.resume_state().expect("resumable");
    assert_eq!(state.seq, 2);
    assert!(scene.poll().is_empty());
}

#[test]
fn the_stream_ends_after_a_fatal_close() {
    let mut scene = Scene::new(|b| b);
    scene.connect_and_ready();
    scene.server().close(4004);
    scene.poll();
    assert!(
        matches!(
            scene.events.last(),
            Some(Err(discord_gateway_driver::ShardError::Fatal(_)))
        ),
        "{:?}",
        scene.events
    );
    let mut next = Box::pin(scene.shard.next_event());
    assert!(matches!(
        scene.rt.poll_once(&mut next),
        std::task::Poll::Ready(None)
    ));
}

#[test]
fn a_compression_that_is_not_compiled_in_is_a_build_error() {
    for (compression, compiled) in [
        (Compression::ZlibStream, cfg!(feature = "zlib")),
        (Compression::ZstdStream, cfg!(feature = "zstd")),
    ] {
        let rt = discord_gateway_driver::testing::TestRuntime::new();
        let built = common::builder(&rt)
            .configure(|c| c.compression(compression))
            .build();
        match built {
            Ok(_) => assert!(compiled, "{compression:?} built without its feature"),
            Err(error) => {
                assert!(!compiled, "{compression:?}: {error}");
                assert_eq!(error, BuildError::CompressionUnavailable(compression));
            }
        }
    }
}

#[test]
fn a_range_of_shards_shares_one_config_and_each_shard_keeps_its_id() {
    let rt = discord_gateway_driver::testing::TestRuntime::new();
    let range = discord_gateway_driver::ShardRange::new(4, 7, 16).expect("a valid range");
    let shards = common::builder(&rt)
        .build_range(range)
        .expect("the range builds");
    let ids: Vec<(u32, u32)> = shards
        .iter()
        .map(|shard| (shard.id().id(), shard.id().count()))
        .collect();
    assert_eq!(ids, [(4, 16), (5, 16), (6, 16), (7, 16)]);
    let first = shards[0].session().config();
    for shard in &shards[1..] {
        assert!(
            std::ptr::eq(first, shard.session().config()),
            "shard {} has a config of its own",
            shard.id().id()
        );
    }
}
