//! The shard's one timer on the deterministic runtime: deadlines are noticed however busy the
//! connection is, and the timer is moved rather than made again.

mod common;

use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use common::{message, Scene};
use discord_gateway_driver::discord_gateway::command::{MemberSelector, RequestGuildMembers};
use discord_gateway_driver::discord_gateway::session::DisconnectCause;
use discord_gateway_driver::discord_gateway::Snowflake;
use discord_gateway_driver::{SessionEvent, ShardEvent};
use futures_util::Stream;

fn request(guild: u64) -> RequestGuildMembers<'static> {
    RequestGuildMembers::new(
        Snowflake::from(guild),
        MemberSelector::Query {
            prefix: "",
            limit: 1,
        },
    )
}

/// A stuck write is noticed even when the gateway never stops sending: before each poll a new
/// dispatch is already waiting, so an input that is always ready must not keep the shard from
/// seeing that the send timeout has passed.
#[test]
fn a_stalled_write_is_noticed_under_sustained_inbound_traffic() {
    let mut scene = Scene::new(|b| b);
    scene.connect_and_ready();
    scene.server().stall_writes(true);
    scene.shard.send(&request(1)).expect("queued");
    scene.shard.send(&request(2)).expect("queued");
    scene.poll();
    // Well past the 10 s send timeout (and short of the first heartbeat).
    scene.rt.advance(Duration::from_secs(15));
    let server = scene.server().clone();
    let mut cx = Context::from_waker(Waker::noop());
    let mut seq = 2;
    let mut lost = false;
    for _ in 0..200 {
        seq += 1;
        server.send_text(&message(seq));
        match Pin::new(&mut scene.shard).poll_next(&mut cx) {
            Poll::Ready(Some(Ok(ShardEvent::Session(
                SessionEvent::Disconnected {
                    cause: DisconnectCause::TransportLost,
                    ..
                },
                _,
            )))) => {
                lost = true;
                break;
            }
            Poll::Ready(Some(_)) | Poll::Pending => {}
            Poll::Ready(None) => panic!("the shard stopped"),
        }
    }
    assert!(
        lost,
        "the stalled write went unnoticed through {seq} dispatches"
    );
    assert!(server.client_gone(), "the stuck connection is dropped");
}

/// Heartbeat after heartbeat, the shard moves its one timer to the next deadline instead of
/// making a new sleep each time the deadline changes.
#[test]
fn heartbeats_move_one_timer_instead_of_making_new_ones() {
    let mut scene = Scene::new(|b| b);
    scene.connect_and_ready();
    let made = scene.rt.timers_made();
    assert!(made >= 1, "the shard sleeps until its first heartbeat");
    for _ in 0..10 {
        scene.wait();
        let sent = scene.sent();
        assert!(
            sent.iter().any(|t| t.starts_with(r#"{"op":1,"#)),
            "a heartbeat: {sent:?}"
        );
        scene.gateway_says(common::ack());
    }
    assert!(
        scene.events.iter().all(|e| !matches!(
            e,
            Ok(ShardEvent::Session(SessionEvent::Disconnected { .. }, _))
        )),
        "{:?}",
        scene.events
    );
    assert_eq!(scene.rt.timers_made(), made, "ten heartbeats, no new timer");
}
