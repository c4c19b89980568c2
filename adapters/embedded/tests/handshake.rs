//! The opening handshake through the client, on the replay transport: a response head that
//! does not fit the receive buffer is told apart from one that is not HTTP, and a refused
//! upgrade keeps its status; the handshake itself is `discord-gateway-websocket`'s, tested
//! there.

mod common;

use std::ops::ControlFlow;

use common::describe;
use discord_gateway::session::Config;
use discord_gateway::{Instant, Token};
use discord_gateway_embedded::replay::{
    Replay, SeededEntropy, VirtualTimer, RECORD_CONNECT, RECORD_SERVER, RECORD_UPGRADE,
};
use discord_gateway_embedded::ws::{HandshakeError, Key};
use discord_gateway_embedded::{
    Buffers, Client, ConnectionError, Entropy as _, Received, MIN_RECEIVE_BUFFER_LEN,
    SEND_BUFFER_LEN,
};

const SEED: u64 = 0x5eed;

fn record(records: &mut Vec<u8>, kind: u8, body: &[u8]) {
    records.push(kind);
    records.extend_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
    records.extend_from_slice(body);
}

/// One connection: the client's upgrade request (with the key its entropy draws first), then
/// `response(accept)` from the server.
fn script(response: impl FnOnce(&str) -> String) -> Vec<u8> {
    let mut nonce = [0u8; 16];
    SeededEntropy::new(SEED).fill_bytes(&mut nonce);
    let key = Key::new(nonce);
    let accept = String::from_utf8(key.expected_accept().to_vec()).unwrap();
    let request = format!(
        "GET /?v=10&encoding=json HTTP/1.1\r\nHost: gateway.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\r\n",
        key.as_str()
    );
    let mut records = Vec::new();
    record(&mut records, RECORD_CONNECT, &[]);
    record(&mut records, RECORD_UPGRADE, request.as_bytes());
    record(&mut records, RECORD_SERVER, response(&accept).as_bytes());
    records
}

/// Plays `records` to a client with an `rx`-byte receive buffer up to the first lost
/// connection, and returns why it was lost.
fn lost(records: &[u8], rx: usize) -> ConnectionError {
    let config = Config::builder(Token::new(common::TOKEN).unwrap())
        .gateway_url("ws://gateway.test")
        .build()
        .unwrap();
    let mut buffer = vec![0u8; rx];
    let mut tx = [0u8; SEND_BUFFER_LEN];
    let mut client = Client::new(
        config,
        Buffers {
            rx: &mut buffer,
            tx: &mut tx,
        },
        SeededEntropy::new(SEED),
    )
    .unwrap();
    let mut replay = Replay::new(records);
    let mut timer = VirtualTimer::new(Instant::from_millis(1_000));
    let mut log = Vec::new();
    let result = embassy_futures::block_on(client.run(&mut replay, &mut timer, |_, received| {
        log.push(describe(&received));
        match received {
            Received::ConnectionLost(error) => ControlFlow::Break(error),
            _ => ControlFlow::Continue(()),
        }
    }));
    assert_eq!(replay.mismatch(), None, "{log:#?}");
    result.unwrap_or_else(|error| panic!("{error:?} after {log:#?}"))
}

#[test]
fn a_response_head_larger_than_the_receive_buffer_is_too_large_not_malformed() {
    let records = script(|accept| {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Accept: {accept}\r\nX-Padding: {}\r\n\r\n",
            "p".repeat(MIN_RECEIVE_BUFFER_LEN)
        )
    });
    assert_eq!(
        lost(&records, MIN_RECEIVE_BUFFER_LEN),
        ConnectionError::Handshake(HandshakeError::TooLarge {
            limit: MIN_RECEIVE_BUFFER_LEN
        })
    );
    // The same head in a buffer it fits opens the websocket: only the size was wrong.
    let error = lost(&records, 4 * MIN_RECEIVE_BUFFER_LEN);
    assert!(!matches!(error, ConnectionError::Handshake(_)), "{error:?}");
}

#[test]
fn a_refused_upgrade_keeps_its_status_and_reason() {
    let records = script(|_| "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 5\r\n\r\n".to_owned());
    let ConnectionError::Handshake(HandshakeError::Status { code, reason }) =
        lost(&records, MIN_RECEIVE_BUFFER_LEN)
    else {
        panic!("not a refused upgrade");
    };
    assert_eq!((code, reason.as_str()), (429, "Too Many Requests"));
}

#[test]
fn an_answer_that_is_not_http_is_not_http() {
    let records = script(|_| "SSH-2.0-OpenSSH_9.6\r\n\r\n".to_owned());
    assert_eq!(
        lost(&records, MIN_RECEIVE_BUFFER_LEN),
        ConnectionError::Handshake(HandshakeError::NotHttp)
    );
}
