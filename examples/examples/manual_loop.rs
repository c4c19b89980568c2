//! The sans-IO core driven by hand over a blocking websocket: no async runtime at all.
//!
//! This is the whole contract between the core and a driver: hand in messages and the time,
//! drain transmits, events and connect requests, and sleep (here: a socket read timeout) until
//! `poll_timeout`. The async adapters do exactly this, once, for every runtime.
//!
//! Run with `DISCORD_TOKEN=... cargo run --example manual_loop`, or without a token to try it
//! against a simulated gateway.

// Programs for a terminal: printing is their job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant as StdInstant};

use discord_gateway::session::{CloseKind, Config, Event, Message, SendBuffer, Session, Transmit};
use discord_gateway::{CloseCode, Instant, Intents, Token};
use tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message as WsMessage, WebSocket};

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

/// The example; `pub` because `examples/tests/examples.rs` runs it against the sim.
pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gateway = common::gateway(1);
    let mut config = Config::builder(Token::new(&gateway.token)?)
        .intents(Intents::GUILDS | Intents::GUILD_MESSAGES | Intents::MESSAGE_CONTENT)
        .seed(std::process::id().into());
    if let Some(url) = &gateway.gateway_url {
        config = config.gateway_url(url);
    }
    let mut session = Session::new(config.build()?);
    let origin = StdInstant::now();
    let clock = || Instant::from_millis(origin.elapsed().as_millis() as u64);
    let mut buf: SendBuffer = [0; 4096];
    let mut socket: Option<Socket> = None;

    loop {
        let now = clock();
        // 1. Everything the session wants sent.
        while let Some(transmit) = session.poll_transmit(now, &mut buf) {
            let Some(ws) = socket.as_mut() else { break };
            let sent = match transmit {
                Transmit::Text(payload) => ws.send(WsMessage::text(std::str::from_utf8(payload)?)),
                Transmit::Binary(payload) => ws.send(WsMessage::binary(payload.to_vec())),
                Transmit::Close(code) => {
                    let frame = CloseFrame {
                        code: WsCloseCode::from(code.to_u16()),
                        reason: "".into(),
                    };
                    let _ = ws.close(Some(frame));
                    let _ = ws.flush();
                    socket = None;
                    continue;
                }
            };
            if sent.is_err() {
                socket = None;
                session.handle_transport_lost(now);
            }
        }
        // 2. What happened. A single process with one shard needs no identify queue.
        while let Some(event) = session.poll_event() {
            match event {
                Event::IdentifyPermitNeeded => {
                    session.handle_identify_permit(now);
                }
                Event::Stopped(stop) => {
                    println!("{stop}");
                    return Ok(());
                }
                other => println!("{other:?}"),
            }
        }
        // 3. A new connection, when the session asks for one.
        if let Some(connect) = session.poll_connect(now) {
            println!("connecting to {}", connect.url);
            match tungstenite::connect(connect.url.to_string()) {
                Ok((ws, _)) => {
                    socket = Some(ws);
                    session.handle_open(clock());
                }
                Err(error) => {
                    println!("dial failed: {error}");
                    session.handle_transport_lost(clock());
                }
            }
            continue;
        }
        // 4. Wait for a message, or until the session's next deadline.
        let wait = session
            .poll_timeout()
            .map(|at| Duration::from_millis(at.as_millis().saturating_sub(clock().as_millis())))
            .unwrap_or(Duration::from_secs(1))
            .max(Duration::from_millis(1));
        let Some(ws) = socket.as_mut() else {
            std::thread::sleep(wait);
            session.handle_timeout(clock());
            continue;
        };
        set_read_timeout(ws, wait);
        match ws.read() {
            Ok(WsMessage::Text(text)) => {
                match session.handle_message(clock(), Message::Text(text.as_bytes())) {
                    Ok(Some(dispatch)) => {
                        println!(
                            "{} #{:?}: {} bytes",
                            dispatch.name().map_or("?", |n| n.raw()),
                            dispatch.seq(),
                            dispatch.data().len()
                        );
                        if gateway.sim.is_some()
                            && dispatch.data().windows(7).any(|w| w == b"\"!quit\"")
                        {
                            session.close(CloseKind::EndSession);
                        }
                    }
                    Ok(None) => {}
                    Err(error) => println!("skipped a bad message: {error}"),
                }
            }
            Ok(WsMessage::Close(frame)) => {
                let code = frame.map(|frame| CloseCode::from_u16(frame.code.into()));
                let _ = session.handle_message(clock(), Message::Close(code));
                socket = None;
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(error))
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                session.handle_timeout(clock());
            }
            Err(error) => {
                println!("connection lost: {error}");
                socket = None;
                session.handle_transport_lost(clock());
            }
        }
    }
}

fn set_read_timeout(ws: &mut Socket, timeout: Duration) {
    let stream = match ws.get_mut() {
        MaybeTlsStream::Plain(stream) => stream,
        MaybeTlsStream::Rustls(tls) => tls.get_mut(),
        _ => return,
    };
    let _ = stream.set_read_timeout(Some(timeout));
}
