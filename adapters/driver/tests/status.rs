//! Why a connection ended, and what `Shard::status()` says, on the deterministic runtime.

mod common;

use std::time::Duration;

use common::{message, Scene};
use discord_gateway_driver::discord_gateway::session::{DisconnectCause, State};
use discord_gateway_driver::{ConnectionErrorKind, SessionEvent, ShardEvent, TransportError};

/// The disconnects the shard yielded so far: cause, error text and kind.
fn disconnects(scene: &Scene) -> Vec<(DisconnectCause, Option<(String, ConnectionErrorKind)>)> {
    scene
        .events
        .iter()
        .filter_map(|event| match event {
            Ok(ShardEvent::Session(SessionEvent::Disconnected { cause, .. }, error)) => Some((
                *cause,
                error
                    .as_ref()
                    .map(|error| (error.to_string(), error.kind())),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn a_refused_dial_names_the_os_error_in_the_event_and_the_status() {
    let mut scene = Scene::new(|b| b);
    scene.rt.refuse_dials(1);
    scene.poll();
    let seen = disconnects(&scene);
    assert_eq!(seen.len(), 1, "{:?}", scene.events);
    let (cause, error) = &seen[0];
    assert_eq!(*cause, DisconnectCause::DialFailed);
    let (text, kind) = error.as_ref().expect("the dial's error is carried");
    assert_eq!(*kind, ConnectionErrorKind::Refused);
    assert!(text.contains("connection refused (test)"), "{text}");
    let status = scene.shard.status();
    assert_eq!(status.reconnects, 1);
    let last = status.last_disconnect.expect("the failed dial is recorded");
    assert_eq!(last.cause_label(), "dial_refused");
    assert!(
        last.to_string()
            .contains("could not connect to the gateway: "),
        "{last}"
    );
    assert!(
        last.to_string().contains("connection refused (test)"),
        "{last}"
    );
    assert!(!last.to_string().contains("test-token"), "{last}");
}

#[test]
fn a_dial_that_times_out_says_so() {
    let mut scene = Scene::new(|b| b.connect_timeout(Duration::from_secs(10)));
    scene.rt.hang_dials(1);
    scene.poll();
    scene.wait();
    let seen = disconnects(&scene);
    let (cause, Some((text, kind))) = &seen[0] else {
        panic!("{seen:?}");
    };
    assert_eq!(*cause, DisconnectCause::DialFailed);
    assert_eq!(*kind, ConnectionErrorKind::Timeout);
    assert!(text.contains("10s connect timeout"), "{text}");
    assert_eq!(
        scene.shard.status().last_disconnect.unwrap().cause_label(),
        "dial_timeout"
    );
}

#[test]
fn a_transport_error_is_carried_with_its_chain_and_a_hang_up_is_named() {
    let mut scene = Scene::new(|b| b);
    scene.connect_and_ready();
    scene
        .server()
        .fail(TransportError::Other(Box::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "reset by peer (test)",
        ))));
    scene.poll();
    let seen = disconnects(&scene);
    let (cause, Some((text, kind))) = &seen[0] else {
        panic!("{seen:?}");
    };
    assert_eq!(*cause, DisconnectCause::TransportLost);
    assert_eq!(*kind, ConnectionErrorKind::Reset);
    assert_eq!(text, "websocket error: reset by peer (test)");
    assert_eq!(
        scene.shard.status().last_disconnect.unwrap().cause_label(),
        "transport_reset"
    );
    // Reconnected and resumed; then the server hangs up without a close frame.
    while scene.rt.dials().len() < 2 {
        scene.wait();
    }
    scene.poll();
    scene.server().send_text(&common::hello());
    scene.poll();
    scene.gateway_says(r#"{"t":"RESUMED","s":null,"op":0,"d":{}}"#);
    scene.server().hang_up();
    scene.poll();
    let seen = disconnects(&scene);
    assert_eq!(seen.len(), 2, "{:?}", scene.events);
    let (cause, Some((text, kind))) = &seen[1] else {
        panic!("{seen:?}");
    };
    assert_eq!(*cause, DisconnectCause::TransportLost);
    assert_eq!(*kind, ConnectionErrorKind::Reset);
    assert!(text.contains("without a close frame"), "{text}");
    assert_eq!(scene.shard.status().reconnects, 2);
}

#[test]
fn causes_the_gateway_decides_carry_no_transport_error() {
    let mut scene = Scene::new(|b| b);
    scene.connect_and_ready();
    scene.gateway_says(r#"{"t":null,"s":null,"op":7,"d":null}"#);
    let seen = disconnects(&scene);
    assert_eq!(seen, [(DisconnectCause::Reconnect, None)]);
    assert_eq!(
        scene.shard.status().last_disconnect.unwrap().cause_label(),
        "op7_reconnect"
    );
}

#[test]
fn status_follows_the_session_and_the_last_dispatch() {
    let mut scene = Scene::new(|b| b);
    let status = scene.shard.status();
    assert_eq!(status.state, State::Waiting);
    assert!(!status.has_session);
    assert_eq!(status.reconnects, 0);
    assert_eq!(status.last_event, None);
    assert_eq!(status.last_disconnect, None);
    scene.connect_and_ready();
    let status = scene.shard.status();
    assert_eq!(status.state, State::Active);
    assert!(status.has_session);
    let ready_at = status.last_event.expect("READY is a dispatch");
    scene.rt.advance(Duration::from_secs(3));
    scene.gateway_says(&message(2));
    let later = scene.shard.status().last_event.expect("a dispatch");
    assert_eq!(later - ready_at, Duration::from_secs(3));
    // A heartbeat and its ACK give the latency.
    scene.wait();
    scene.rt.advance(Duration::from_millis(120));
    scene.gateway_says(common::ack());
    assert_eq!(
        scene.shard.status().latency,
        Some(Duration::from_millis(120))
    );
}
