//! The `log` feature: the client's state changes are logged, and the token never is.

mod common;

use std::ops::ControlFlow;
use std::sync::Mutex;
use std::time::Duration;

use common::host::{entropy, TokioConnector, TokioTimer};
use common::{config, sim, TOKEN, WAIT};
use discord_gateway_embedded::{Buffers, Client, Event, Received, SEND_BUFFER_LEN};
use discord_gateway_sim::Fault;

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        if record.target() == "discord_gateway_embedded" {
            LINES.lock().unwrap().push(record.args().to_string());
        }
    }

    fn flush(&self) {}
}

#[tokio::test]
async fn state_changes_are_logged_and_the_token_is_not() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    let sim = sim(Duration::from_secs(40));
    let (mut rx, mut tx) = ([0u8; 16 * 1024], [0u8; SEND_BUFFER_LEN]);
    let buffers = Buffers {
        rx: &mut rx,
        tx: &mut tx,
    };
    let mut client = Client::new(config(&sim), buffers, entropy(31)).unwrap();
    let mut connector = TokioConnector::default();
    let mut timer = TokioTimer::new();
    let result = tokio::time::timeout(
        WAIT,
        client.run(&mut connector, &mut timer, |_, received| match received {
            Received::Event(Event::Ready) => {
                sim.fault(Fault::Reconnect);
                ControlFlow::Continue(())
            }
            Received::Event(Event::Resumed { .. }) => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        }),
    )
    .await
    .expect("the scenario finished");
    result.unwrap();
    let lines = LINES.lock().unwrap().clone();
    let host = format!("dialing 127.0.0.1:{}", sim.addr().port());
    for expected in [
        host.as_str(),
        "connected; websocket upgrade sent",
        "websocket open",
        "Ready",
        "Disconnected { cause: Reconnect",
        "Resumed",
    ] {
        assert!(
            lines.iter().any(|line| line.contains(expected)),
            "no {expected:?} in {lines:#?}"
        );
    }
    assert!(
        !lines.iter().any(|line| line.contains(TOKEN)),
        "the token was logged: {lines:#?}"
    );
}
