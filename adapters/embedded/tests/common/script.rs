//! Hand-written gateway conversations for the replay transport: what the server sends, and
//! what the client must send back, frame by frame.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use discord_gateway_embedded::replay::{
    SeededEntropy, RECORD_CONNECT, RECORD_SERVER, RECORD_UPGRADE, RECORD_WRITE, RECORD_WRITE_PREFIX,
};
use discord_gateway_embedded::Entropy as _;

pub const HELLO: &str = r#"{"t":null,"s":null,"op":10,"d":{"heartbeat_interval":41250}}"#;
pub const ACK: &str = r#"{"t":null,"s":null,"op":11,"d":null}"#;

pub fn ready(session: &str) -> String {
    format!(
        r#"{{"t":"READY","s":1,"op":0,"d":{{"v":10,"user":{{"id":"1","username":"bot"}},"guilds":[],"session_id":"{session}","resume_gateway_url":"ws://resume.gateway.test","shard":[0,1],"application":{{"id":"1","flags":0}}}}}}"#
    )
}

/// A script, mirroring the client's entropy so the upgrade and masks line up.
pub struct Script {
    pub records: Vec<u8>,
    entropy: SeededEntropy,
}

impl Script {
    pub fn new(seed: u64) -> Self {
        Self {
            records: Vec::new(),
            entropy: SeededEntropy::new(seed),
        }
    }

    fn record(&mut self, kind: u8, body: &[u8]) -> &mut Self {
        self.records.push(kind);
        self.records
            .extend_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
        self.records.extend_from_slice(body);
        self
    }

    /// The client dials `host` and upgrades; the server accepts.
    pub fn connect(&mut self, host: &str) -> &mut Self {
        let mut nonce = [0u8; 16];
        self.entropy.fill_bytes(&mut nonce);
        let key = STANDARD.encode(nonce);
        let request = format!(
            "GET /?v=10&encoding=json HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        let mut sha = sha1_smol::Sha1::new();
        sha.update(key.as_bytes());
        sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
        let accept = STANDARD.encode(sha.digest().bytes());
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        );
        self.record(RECORD_CONNECT, &[])
            .record(RECORD_UPGRADE, request.as_bytes())
            .record(RECORD_SERVER, response.as_bytes())
    }

    /// Raw server bytes (frames built with [`frame`]).
    pub fn server(&mut self, bytes: &[u8]) -> &mut Self {
        self.record(RECORD_SERVER, bytes)
    }

    /// One whole text message from the server.
    pub fn server_text(&mut self, text: &str) -> &mut Self {
        self.server(&frame(true, 1, text.as_bytes()))
    }

    fn client(&mut self, kind: u8, opcode: u8, payload: &[u8]) -> &mut Self {
        let mut mask = [0u8; 4];
        self.entropy.fill_bytes(&mut mask);
        let mut body = vec![opcode];
        body.extend_from_slice(payload);
        self.record(kind, &body)
    }

    /// The client sends exactly this text.
    pub fn client_text(&mut self, text: &str) -> &mut Self {
        self.client(RECORD_WRITE, 1, text.as_bytes())
    }

    /// The client sends a text that starts with this.
    pub fn client_text_starting(&mut self, prefix: &str) -> &mut Self {
        self.client(RECORD_WRITE_PREFIX, 1, prefix.as_bytes())
    }

    /// The client sends a close frame with this code.
    pub fn client_close(&mut self, code: u16) -> &mut Self {
        self.client(RECORD_WRITE, 8, &code.to_be_bytes())
    }

    /// The client answers a ping.
    pub fn client_pong(&mut self, payload: &[u8]) -> &mut Self {
        self.client(RECORD_WRITE, 10, payload)
    }

    /// Hello, Identify, READY (sequence 1).
    pub fn identify(&mut self, session: &str) -> &mut Self {
        self.server_text(HELLO)
            .client_text_starting(r#"{"op":2,"d":{"#)
            .server_text(&ready(session))
    }
}

/// A server frame (unmasked).
pub fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
    match payload.len() {
        len @ 0..=125 => out.push(len as u8),
        len @ 126..=65535 => {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}
