//! The embedded client on the host, against the sim: a std TCP socket as `embedded-io-async`
//! (tokio) or as blocking `embedded-io` (`--blocking`), the same `Client` as on a board.
//!
//! ```sh
//! cargo run -p discord-gateway-embedded --example host              # async
//! cargo run -p discord-gateway-embedded --example host -- --blocking
//! ```
//!
//! It prints what the client hands over while the sim sends messages, forces a reconnect
//! (op 7) and then drops the TCP connection; the client resumes both times and the example
//! ends after the messages sent after the second resume.
#![allow(missing_docs, clippy::print_stdout)]

#[path = "../tests/common/host.rs"]
#[allow(dead_code, unreachable_pub)]
mod host;

use std::ops::ControlFlow;
use std::time::Duration;

use discord_gateway::session::{Config, Event};
use discord_gateway::{Intents, Token};
use discord_gateway_embedded::std_net::{StdClock, StdConnector};
use discord_gateway_embedded::{Buffers, Client, Context, Received, SEND_BUFFER_LEN};
use discord_gateway_sim::{Fault, Sim};
use host::{entropy, TokioConnector, TokioTimer};

const TOKEN: &str = "sim-token-for-the-example";

/// What the bot does with each thing the client hands over: print it, and script the sim.
fn handle(sim: &Sim, resumes: &mut u32, received: Received<'_>) -> ControlFlow<()> {
    match &received {
        Received::Dispatch(dispatch) => {
            let name = dispatch.name().map_or("?", |name| name.raw());
            println!(
                "dispatch {name} s={:?} ({} bytes of d)",
                dispatch.seq(),
                dispatch.data().len()
            );
            if *resumes == 2 && name == "MESSAGE_CREATE" {
                return ControlFlow::Break(());
            }
        }
        Received::Skipped(skipped) => println!(
            "skipped {} s={:?}: {} bytes do not fit the receive buffer",
            skipped.name(),
            skipped.seq(),
            skipped.size()
        ),
        Received::Event(event) => {
            println!("event {event:?}");
            match event {
                Event::Ready => {
                    sim.message_create("hello, device");
                    println!("-- the sim asks for a reconnect (op 7)");
                    sim.fault(Fault::Reconnect);
                }
                Event::Resumed { .. } => {
                    *resumes += 1;
                    if *resumes == 1 {
                        println!("-- the sim drops the TCP connection");
                        sim.fault(Fault::DropTcp);
                    } else {
                        sim.message_create("after two resumes");
                    }
                }
                _ => {}
            }
        }
        other => println!("{other:?}"),
    }
    ControlFlow::Continue(())
}

fn main() {
    let blocking = std::env::args().any(|arg| arg == "--blocking");
    let sim = Sim::builder()
        .token(TOKEN)
        .heartbeat_interval(Duration::from_millis(500))
        .identify_window(Duration::ZERO)
        .start_blocking()
        .expect("the sim starts");
    println!("sim at {}", sim.url());
    let config = Config::builder(Token::new(TOKEN).unwrap())
        .gateway_url(&sim.url())
        .intents(Intents::GUILDS | Intents::GUILD_MESSAGES | Intents::MESSAGE_CONTENT)
        .seed(0x1234)
        .build()
        .unwrap();
    // 16 KiB: READY and MESSAGE_CREATE fit, the sim's 48 KB GUILD_CREATE is skipped.
    let mut rx = vec![0u8; 16 * 1024];
    let mut tx = [0u8; SEND_BUFFER_LEN];
    let mut client = Client::new(
        config,
        Buffers {
            rx: &mut rx,
            tx: &mut tx,
        },
        entropy(0x5678),
    )
    .unwrap();
    let mut resumes = 0;
    let handler =
        |_: &mut Context<'_>, received: Received<'_>| handle(&sim, &mut resumes, received);
    let result = if blocking {
        println!("blocking client over std::net::TcpStream");
        // The blocking half is the `std` feature's wiring, as a host bot would use it.
        client.run_blocking(&mut StdConnector::new(), &mut StdClock::new(), handler)
    } else {
        println!("async client over tokio's TcpStream");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(client.run(
            &mut TokioConnector::default(),
            &mut TokioTimer::new(),
            handler,
        ))
    };
    result.expect("the client ran until the end of the demo");
    let counters = sim.counters();
    println!(
        "done: {} connections, {} identify, {} resumed, {} heartbeats acked",
        counters.connections, counters.identifies, counters.resumed, counters.heartbeat_acks
    );
    assert_eq!((counters.identifies, counters.resumed), (1, 2));
}
