//! Checks the fuzz targets in `fuzz/` call, kept next to the code they check (hidden from the
//! docs; not part of the API). Nothing here needs std.

use core::ops::ControlFlow;

use discord_gateway::session::Config;
use discord_gateway::{Instant, Token};

use crate::client::{Buffers, Client, SEND_BUFFER_LEN};
use crate::replay::{SeededEntropy, VirtualTimer};
use crate::url::GatewayUrl;
use crate::ws::{Incoming, Key, Receiver, MAX_CONTROL_LEN};
use crate::{Connector, Entropy as _};

/// The most things one input may make the client hand over before the check stops it.
const MAX_HANDED: u32 = 100_000;

/// Arbitrary bytes as the server's side of a websocket: first through the [`Receiver`] in
/// chunks of every size the input picks, checked against the same bytes read whole, then as
/// what follows a valid upgrade response to a whole [`Client`]. Panics (for libFuzzer) when an
/// invariant breaks; returns when the input is used up.
pub fn websocket(data: &[u8]) {
    let [size, chunk, stream @ ..] = data else {
        return;
    };
    // A small buffer, so that the oversized path runs as often as the whole one.
    let capacity = 16 + usize::from(*size) * 4;
    let chunk = 1 + usize::from(*chunk);
    let mut whole = [0u8; 1040];
    let mut pieces = [0u8; 1040];
    let a = receive(&mut whole[..capacity], stream, stream.len().max(1));
    let b = receive(&mut pieces[..capacity], stream, chunk);
    assert_eq!(a, b, "the output depends on how the bytes were cut");
    client(stream);
}

/// A fingerprint of everything the receiver produced, and how it ended.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    items: u32,
    hash: u64,
    error: Option<crate::ws::WsError>,
}

fn receive(buf: &mut [u8], stream: &[u8], chunk: usize) -> Outcome {
    let mut receiver = Receiver::new();
    let mut outcome = Outcome {
        items: 0,
        hash: 0xcbf2_9ce4_8422_2325,
        error: None,
    };
    let mix = |outcome: &mut Outcome, bytes: &[u8]| {
        for &byte in bytes {
            outcome.hash = (outcome.hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        outcome.items += 1;
    };
    let mut fed = 0;
    loop {
        loop {
            match receiver.poll(buf) {
                Ok(None) => break,
                Ok(Some(Incoming::Message { text, range })) => {
                    assert!(range.end <= buf.len());
                    assert!(range.len() <= Receiver::max_message_len(buf.len()));
                    mix(&mut outcome, &[u8::from(text)]);
                    mix(&mut outcome, &buf[range]);
                    receiver.release();
                }
                Ok(Some(Incoming::Oversized { size, head })) => {
                    assert!(size > Receiver::max_message_len(buf.len()) as u64);
                    mix(&mut outcome, &size.to_le_bytes());
                    let seq = head.and_then(|head| head.seq).unwrap_or(u64::MAX);
                    mix(&mut outcome, &seq.to_le_bytes());
                }
                Ok(Some(incoming)) => {
                    assert!(receiver.control_payload().len() <= MAX_CONTROL_LEN);
                    let tag = match incoming {
                        Incoming::Ping => 1,
                        Incoming::Pong => 2,
                        _ => 3,
                    };
                    mix(&mut outcome, &[tag]);
                    mix(&mut outcome, receiver.control_payload());
                }
                Err(error) => {
                    outcome.error = Some(error);
                    return outcome;
                }
            }
        }
        if fed == stream.len() {
            return outcome;
        }
        let space = receiver.read_space(buf);
        assert!(!space.is_empty(), "the receiver left no room to read");
        let n = space.len().min(chunk).min(stream.len() - fed);
        space[..n].copy_from_slice(&stream[fed..fed + n]);
        receiver.filled(n);
        fed += n;
    }
}

/// A connection whose server accepts the upgrade and then sends `stream`, once.
struct OneConnection<'s> {
    stream: &'s [u8],
    response: [u8; 160],
    response_len: usize,
    used: bool,
}

struct FuzzSocket<'a, 's> {
    connection: &'a mut OneConnection<'s>,
    sent_response: usize,
}

impl embedded_io_async::ErrorType for FuzzSocket<'_, '_> {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io_async::Read for FuzzSocket<'_, '_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, embedded_io::ErrorKind> {
        let response = &self.connection.response[..self.connection.response_len];
        if self.sent_response < response.len() {
            let rest = &response[self.sent_response..];
            let n = buf.len().min(rest.len());
            buf[..n].copy_from_slice(&rest[..n]);
            self.sent_response += n;
            return Ok(n);
        }
        let stream = self.connection.stream;
        let n = buf.len().min(stream.len());
        buf[..n].copy_from_slice(&stream[..n]);
        self.connection.stream = &stream[n..];
        Ok(n)
    }
}

impl embedded_io_async::Write for FuzzSocket<'_, '_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, embedded_io::ErrorKind> {
        Ok(buf.len())
    }

    async fn flush(&mut self) -> Result<(), embedded_io::ErrorKind> {
        Ok(())
    }
}

impl<'s> Connector for OneConnection<'s> {
    type Socket<'a>
        = FuzzSocket<'a, 's>
    where
        Self: 'a;
    type Error = ();

    async fn connect(&mut self, _url: &GatewayUrl) -> Result<FuzzSocket<'_, 's>, ()> {
        if core::mem::replace(&mut self.used, true) {
            return Err(());
        }
        Ok(FuzzSocket {
            connection: self,
            sent_response: 0,
        })
    }
}

fn client(stream: &[u8]) {
    const SEED: u64 = 1;
    let Ok(token) = Token::new("fuzz-token") else {
        return;
    };
    let Ok(config) = Config::builder(token).gateway_url("ws://fuzz.test").build() else {
        return;
    };
    // The key the client will draw first from the same entropy, and the server's answer.
    let mut nonce = [0; 16];
    SeededEntropy::new(SEED).fill_bytes(&mut nonce);
    let accept = Key::new(nonce).expected_accept();
    let mut connection = OneConnection {
        stream,
        response: [0; 160],
        response_len: 0,
        used: false,
    };
    let mut len = 0;
    for part in [
        &b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "[..],
        &accept,
        b"\r\n\r\n",
    ] {
        connection.response[len..len + part.len()].copy_from_slice(part);
        len += part.len();
    }
    connection.response_len = len;
    let mut rx = [0u8; 1024];
    let mut tx = [0u8; SEND_BUFFER_LEN];
    let buffers = Buffers {
        rx: &mut rx,
        tx: &mut tx,
    };
    let Ok(mut client) = Client::new(config, buffers, SeededEntropy::new(SEED)) else {
        return;
    };
    let mut timer = VirtualTimer::new(Instant::from_millis(1));
    let mut handed = 0u32;
    // Ends when the handler breaks (the second dial fails once the stream is used up) or the
    // session stops (a fatal close code in the stream).
    let _ = embassy_futures::block_on(client.run(&mut connection, &mut timer, |_, received| {
        handed += 1;
        match received {
            crate::Received::ConnectionLost(crate::ConnectionError::Dial) => ControlFlow::Break(()),
            _ if handed > MAX_HANDED => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        }
    }));
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use super::websocket;

    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = std::vec![(if fin { 0x80 } else { 0 }) | opcode];
        if payload.len() < 126 {
            out.push(payload.len() as u8);
        } else {
            out.push(126);
            out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn a_whole_session_and_garbage_run_through_every_check() {
        let mut stream = frame(
            true,
            1,
            br#"{"t":null,"s":null,"op":10,"d":{"heartbeat_interval":41250}}"#,
        );
        stream.extend(frame(true, 1, br#"{"t":"READY","s":1,"op":0,"d":{"v":10,"session_id":"a","resume_gateway_url":"ws://r.test"}}"#));
        stream.extend(frame(false, 1, br#"{"t":"MESSAGE_CREATE","s":2,"#));
        stream.extend(frame(true, 9, b"ping"));
        stream.extend(frame(true, 0, br#""op":0,"d":{}}"#));
        let big = std::format!(
            r#"{{"t":"GUILD_CREATE","s":3,"op":0,"d":"{}"}}"#,
            "g".repeat(400)
        );
        stream.extend(frame(true, 1, big.as_bytes()));
        stream.extend(frame(true, 8, &4004u16.to_be_bytes()));
        for (size, chunk) in [(0u8, 0u8), (10, 3), (255, 255), (60, 1)] {
            let mut input = std::vec![size, chunk];
            input.extend_from_slice(&stream);
            websocket(&input);
        }
        websocket(b"");
        // Found by the fuzzer: a head complete in the first 30 bytes but not in the first 18 a
        // 32-byte buffer shows was read when the bytes came at once and not when they came
        // one by one.
        let mut cut = std::vec![4, 0, 0x81, 0x3c];
        cut.extend_from_slice(br#"{"t":null,"s":null,"op":11,"d":{"heartbeat_interval":41250}}"#);
        websocket(&cut);
        websocket(&[3, 7, 0xff, 0x00, 0x81, 0x7f, 1, 2, 3]);
        websocket(&[1, 1, 0x82, 126, 0xff, 0xff, 0x00]);
    }

    /// What the fuzzer found stays found: every checked-in seed of `fuzz/seeds/websocket`
    /// (crash inputs among them) passes the target.
    #[test]
    fn every_checked_in_seed_passes_the_target() {
        let seeds =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/websocket");
        let mut count = 0;
        for entry in std::fs::read_dir(seeds).unwrap() {
            websocket(&std::fs::read(entry.unwrap().path()).unwrap());
            count += 1;
        }
        assert!(count > 0, "no seeds");
    }
}
