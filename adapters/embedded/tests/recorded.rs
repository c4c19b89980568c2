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
