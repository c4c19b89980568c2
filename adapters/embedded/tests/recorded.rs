//! The firmware's recorded session (`ci/qemu/firmware/recording`), replayed on the host with the
//! same configuration: the QEMU run checks the same thing on a Cortex-M4.

use std::ops::ControlFlow;

use discord_gateway::Instant;
use discord_gateway_embedded::replay::firmware_session::{self, RX_LEN, SEED};
use discord_gateway_embedded::replay::{summarize, Replay, SeededEntropy, VirtualTimer};
use discord_gateway_embedded::{Buffers, Client, SEND_BUFFER_LEN};

const RECORDING: &[u8] = include_bytes!("../../../ci/qemu/firmware/recording/session.rec");
const EXPECTED: &str = include_str!("../../../ci/qemu/firmware/recording/session.expect");

#[test]
fn the_recorded_session_replays_event_for_event_and_byte_for_byte() {
    let config = firmware_session::config().expect("the recording's configuration is valid");
    let mut rx = vec![0u8; RX_LEN];
    let mut tx = [0u8; SEND_BUFFER_LEN];
    let mut client = Client::new(
        config,
        Buffers {
            rx: &mut rx,
            tx: &mut tx,
        },
        SeededEntropy::new(SEED),
    )
    .unwrap();
    let mut replay = Replay::new(RECORDING);
    let mut timer = VirtualTimer::new(Instant::from_millis(1));
    let mut expected = EXPECTED.lines();
    let mut seen = 0;
    let result = embassy_futures::block_on(client.run(&mut replay, &mut timer, |_, received| {
        let mut line = String::new();
        summarize(&received, &mut line).unwrap();
        assert_eq!(Some(line.as_str()), expected.next(), "event {seen}");
        seen += 1;
        if expected.clone().next().is_none() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }));
    result.unwrap();
    assert_eq!(replay.mismatch(), None);
    assert!(replay.finished());
    assert!(seen > 1_000);
    assert_eq!(
        replay.frames_checked(),
        5,
        "2 upgrades, Identify, the close, Resume"
    );
}

/// What the firmware's handler reads from each MESSAGE_CREATE (ci/qemu/firmware/src/main.rs has
/// the same struct).
#[derive(serde::Deserialize)]
struct Message<'a> {
    content: &'a str,
    #[serde(borrow)]
    author: Author<'a>,
}

#[derive(serde::Deserialize)]
struct Author<'a> {
    id: &'a str,
}

const MESSAGES: &str = include_str!("../../../ci/qemu/firmware/recording/messages.expect");

/// `messages.expect` (one `author.id content` line per MESSAGE_CREATE, what the firmware checks
/// its typed reads against) is what serde_json reads from the recording, and what the typed,
/// allocation-free read gets too. `UPDATE_MESSAGES=1` rewrites it after a new recording.
#[test]
fn the_recorded_messages_read_into_a_typed_struct_as_serde_json_reads_them() {
    let config = firmware_session::config().unwrap();
    let mut rx = vec![0u8; RX_LEN];
    let mut tx = [0u8; SEND_BUFFER_LEN];
    let buffers = Buffers {
        rx: &mut rx,
        tx: &mut tx,
    };
    let mut client = Client::new(config, buffers, SeededEntropy::new(SEED)).unwrap();
    let mut replay = Replay::new(RECORDING);
    let mut timer = VirtualTimer::new(Instant::from_millis(1));
    let mut left = EXPECTED.lines().count();
    let mut lines = String::new();
    let result = embassy_futures::block_on(client.run(&mut replay, &mut timer, |_, received| {
        if let discord_gateway_embedded::Received::Dispatch(dispatch) = &received {
            if dispatch.name().unwrap().raw() == "MESSAGE_CREATE" {
                let reference: serde_json::Value = serde_json::from_slice(dispatch.data()).unwrap();
                let typed: Message<'_> = dispatch.deserialize().unwrap();
                assert_eq!(typed.content, reference["content"]);
                assert_eq!(typed.author.id, reference["author"]["id"]);
                assert!(!typed.content.contains('\n'), "one line per message");
                lines.push_str(&format!("{} {}\n", typed.author.id, typed.content));
            }
        }
        left -= 1;
        if left == 0 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }));
    result.unwrap();
    if std::env::var_os("UPDATE_MESSAGES").is_some() {
        std::fs::write(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../ci/qemu/firmware/recording/messages.expect"
            ),
            &lines,
        )
        .unwrap();
    } else {
        assert_eq!(lines, MESSAGES);
    }
    assert!(lines.lines().count() >= 20, "{lines}");
}
