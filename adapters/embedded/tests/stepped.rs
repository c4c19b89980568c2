//! The stepped API from outside the crate: a loop of the application's own, a command queued
//! between steps, a loop left and taken up again on the same connection, and a connector's
//! error handed to the handler.

mod common;

use std::ops::ControlFlow;

use common::describe;
use common::script::Script;
use discord_gateway::command::{Status, UpdatePresence};
use discord_gateway_embedded::replay::{Replay, SeededEntropy, VirtualTimer};
use discord_gateway_embedded::{
    Buffers, Client, CommandError, Config, ConnectionError, Connector, Context, Entropy,
    GatewayUrl, Instant, Received, SendError, State, Step, Timer, Token, SEND_BUFFER_LEN,
};
use embassy_futures::select::{select, Either};
use embedded_io_async::{Error as _, Read, Write};

const SEED: u64 = 0x5eed;

fn config() -> Config {
    Config::builder(Token::new(common::TOKEN).unwrap())
        .gateway_url("ws://gateway.test")
        .seed(3)
        .build()
        .unwrap()
}

/// The application's own loop over one open socket: steps until the handler breaks, and
/// returns without touching the socket (the caller keeps it). Dialing is not its business.
async fn own_loop<S: Read + Write>(
    client: &mut Client<'_, impl Entropy>,
    socket: &mut S,
    timer: &mut VirtualTimer,
    log: &mut Vec<String>,
    mut stop: impl FnMut(&Received<'_>) -> bool,
) {
    let mut handler = |_: &mut Context<'_>, received: Received<'_>| {
        log.push(describe(&received));
        if stop(&received) || log.len() > 50 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    loop {
        let now = timer.now();
        match client.step(now).unwrap() {
            Step::Write => {
                let deadline = Client::<SeededEntropy>::write_deadline(now);
                let written = select(
                    socket.write_all(client.pending_write()),
                    timer.sleep_until(deadline),
                );
                match written.await {
                    Either::First(Ok(())) => client.handle_written(),
                    Either::First(Err(error)) => client.handle_io_error(timer.now(), error.kind()),
                    Either::Second(()) => client.handle_write_timeout(timer.now()),
                }
            }
            Step::Read { until } => {
                let read = match until {
                    Some(at) => {
                        match select(socket.read(client.read_buffer()), timer.sleep_until(at)).await
                        {
                            Either::First(read) => Some(read),
                            Either::Second(()) => None,
                        }
                    }
                    None => Some(socket.read(client.read_buffer()).await),
                };
                match read {
                    Some(Ok(n)) => client.handle_read(timer.now(), n),
                    Some(Err(error)) => client.handle_io_error(timer.now(), error.kind()),
                    None => client.handle_timeout(timer.now()),
                }
            }
            Step::Deliver => {
                if client.deliver(now, &mut handler).is_break() {
                    return;
                }
            }
            step => {
                panic!("the connection was to stay up, the client asked for {step:?}; {log:#?}")
            }
        }
    }
}

#[test]
fn an_own_loop_left_after_ready_is_taken_up_on_the_same_connection_and_sends_a_queued_command() {
    let mut script = Script::new(SEED);
    script
        .connect("gateway.test")
        .identify("s1")
        .client_text_starting(r#"{"op":3,"d":{"#)
        .server_text(r#"{"t":"MESSAGE_CREATE","s":2,"op":0,"d":{"content":"after the presence"}}"#);
    let (mut rx, mut tx) = ([0u8; 2048], [0u8; SEND_BUFFER_LEN]);
    let buffers = Buffers {
        rx: &mut rx,
        tx: &mut tx,
    };
    let mut client = Client::new(config(), buffers, SeededEntropy::new(SEED)).unwrap();
    let mut timer = VirtualTimer::new(Instant::from_millis(1_000));
    let presence = UpdatePresence::new(Status::Idle, &[]);
    // Before any connection there is nobody to send to.
    assert_eq!(
        client.send(timer.now(), &presence),
        Err(CommandError::Send(SendError::NotReady))
    );
    let mut replay = Replay::new(&script.records);
    assert_eq!(client.step(timer.now()), Ok(Step::Dial));
    let url = client.dial_url().unwrap().clone();
    let mut log = Vec::new();
    embassy_futures::block_on(async {
        let mut socket = replay.connect(&url).await.unwrap();
        client.handle_dialed(timer.now());
        own_loop(&mut client, &mut socket, &mut timer, &mut log, |received| {
            matches!(
                received,
                Received::Event(discord_gateway_embedded::Event::Ready)
            )
        })
        .await;
        // Out of the loop, the connection is still up: a command queued here goes out when the
        // loop is taken up again, on the same socket.
        assert_eq!(client.session().state(), State::Active, "{log:#?}");
        client.send(timer.now(), &presence).unwrap();
        assert_eq!(
            client.send(timer.now(), &presence),
            Err(CommandError::Busy),
            "one command at a time"
        );
        own_loop(&mut client, &mut socket, &mut timer, &mut log, |received| {
            matches!(received, Received::Dispatch(_))
        })
        .await;
    });
    assert_eq!(replay.mismatch(), None, "{log:#?}");
    assert!(replay.finished(), "the presence was not sent: {log:#?}");
    assert_eq!(
        log,
        [
            "dispatch READY s=1",
            "event Ready",
            "dispatch MESSAGE_CREATE s=2"
        ],
        "one connection throughout"
    );
}

/// A connector that cannot connect, with an error of its own.
struct Refusing {
    attempts: usize,
}

#[derive(Debug)]
#[allow(dead_code)] // Read through Debug.
struct NoRoute {
    host: String,
}

impl Connector for Refusing {
    type Socket<'a> = discord_gateway_embedded::replay::ReplaySocket<'a, 'static>;
    type Error = NoRoute;

    async fn connect<'a>(&'a mut self, url: &GatewayUrl) -> Result<Self::Socket<'a>, NoRoute> {
        self.attempts += 1;
        Err(NoRoute {
            host: url.host().to_owned(),
        })
    }
}

#[test]
fn a_failed_dial_hands_the_connectors_own_error_to_the_handler() {
    let (mut rx, mut tx) = ([0u8; 2048], [0u8; SEND_BUFFER_LEN]);
    let buffers = Buffers {
        rx: &mut rx,
        tx: &mut tx,
    };
    let mut client = Client::new(config(), buffers, SeededEntropy::new(SEED)).unwrap();
    let mut connector = Refusing { attempts: 0 };
    let mut timer = VirtualTimer::new(Instant::from_millis(1_000));
    let mut seen = Vec::new();
    let result =
        embassy_futures::block_on(client.run(&mut connector, &mut timer, |context, received| {
            if let Received::ConnectionLost(ConnectionError::Dial) = received {
                seen.push(format!("{:?}", context.dial_error()));
            }
            if seen.len() == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }));
    result.unwrap();
    assert_eq!(connector.attempts, 2);
    assert_eq!(
        seen, [r#"Some(NoRoute { host: "gateway.test" })"#; 2],
        "each failed dial says why"
    );
}
