//! A deliberately small, hand-driven gateway client for the sim's own tests.
//!
//! It knows nothing of the project's client: it opens a websocket, decompresses what it is told
//! to, and lets each test send and expect exact payloads, so a bug in the client cannot hide a bug
//! in the sim.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::time::Duration;

use async_tungstenite::tokio::{connect_async, ConnectStream};
use async_tungstenite::tungstenite::{Message, Utf8Bytes};
use async_tungstenite::WebSocketStream;
use discord_gateway_sim::Sim;
use flate2::{Decompress, FlushDecompress};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zstd::stream::raw::{Decoder, InBuffer, Operation, OutBuffer};

pub const TOKEN: &str = "test-token";
pub const WAIT: Duration = Duration::from_secs(10);
/// GUILDS | GUILD_MEMBERS | GUILD_PRESENCES | GUILD_MESSAGES | GUILD_MESSAGE_TYPING | MESSAGE_CONTENT
pub const INTENTS: u64 = 1 | 2 | 256 | 512 | 2048 | 32768;

/// A sim with short timings for tests.
pub async fn sim() -> Sim {
    Sim::builder()
        .token(TOKEN)
        .heartbeat_interval(Duration::from_millis(500))
        .identify_window(Duration::ZERO)
        .start()
        .await
        .expect("sim starts")
}

pub fn url(sim: &Sim, query: &str) -> String {
    format!("{}/?{query}", sim.url())
}

enum Inflate {
    None,
    Zlib { ctx: Box<Decompress>, buf: Vec<u8> },
    Zstd(Box<Decoder<'static>>),
}

/// What the client got instead of a payload.
#[derive(Debug, PartialEq, Eq)]
pub enum Closed {
    /// A close frame with this code (1005 without one).
    Code(u16),
    /// The connection ended without a close frame.
    Dropped,
}

pub struct Client {
    pub ws: WebSocketStream<ConnectStream>,
    inflate: Inflate,
    /// Websocket messages received (a zlib payload may span several).
    pub messages: usize,
}

impl Client {
    pub async fn connect(url: &str) -> Self {
        let (ws, _) = tokio::time::timeout(WAIT, connect_async(url))
            .await
            .expect("connect in time")
            .expect("websocket handshake");
        let inflate = if url.contains("compress=zlib-stream") {
            Inflate::Zlib {
                ctx: Box::new(Decompress::new(true)),
                buf: Vec::new(),
            }
        } else if url.contains("compress=zstd-stream") {
            Inflate::Zstd(Box::new(Decoder::new().expect("zstd decoder")))
        } else {
            Inflate::None
        };
        Self {
            ws,
            inflate,
            messages: 0,
        }
    }

    /// Connects and reads Hello, returning the client and the heartbeat interval.
    pub async fn hello(url: &str) -> (Self, u64) {
        let mut c = Self::connect(url).await;
        let hello = c.recv().await;
        assert_eq!(hello["op"], 10, "first payload is Hello: {hello}");
        let interval = hello["d"]["heartbeat_interval"].as_u64().expect("interval");
        (c, interval)
    }

    /// Next payload as text, or how the connection ended.
    pub async fn next_text(&mut self) -> Result<String, Closed> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a message in time");
            let msg = match msg {
                None | Some(Err(_)) => return Err(Closed::Dropped),
                Some(Ok(m)) => m,
            };
            self.messages += 1;
            match msg {
                Message::Text(t) => return Ok(t.to_string()),
                Message::Binary(b) => {
                    if let Some(text) = self.inflate(&b) {
                        return Ok(text);
                    }
                }
                Message::Close(f) => {
                    return Err(Closed::Code(f.map_or(1005, |f| u16::from(f.code))))
                }
                _ => {}
            }
        }
    }

    fn inflate(&mut self, bytes: &[u8]) -> Option<String> {
        match &mut self.inflate {
            Inflate::None => Some(String::from_utf8(bytes.to_vec()).expect("utf-8")),
            Inflate::Zlib { ctx, buf } => {
                buf.extend_from_slice(bytes);
                if !buf.ends_with(&[0, 0, 0xff, 0xff]) {
                    return None;
                }
                let mut out = Vec::with_capacity(buf.len() * 4 + 64);
                let start = ctx.total_in();
                loop {
                    let used = (ctx.total_in() - start) as usize;
                    if out.len() == out.capacity() {
                        out.reserve(out.capacity());
                    }
                    ctx.decompress_vec(&buf[used..], &mut out, FlushDecompress::Sync)
                        .expect("inflate");
                    if (ctx.total_in() - start) as usize == buf.len() && out.len() < out.capacity()
                    {
                        break;
                    }
                }
                buf.clear();
                Some(String::from_utf8(out).expect("utf-8"))
            }
            Inflate::Zstd(dec) => {
                let mut out: Vec<u8> = Vec::with_capacity(bytes.len() * 4 + 64);
                let mut src = InBuffer::around(bytes);
                loop {
                    if out.len() == out.capacity() {
                        out.reserve(out.capacity());
                    }
                    let pos = out.len();
                    let mut dst = OutBuffer::around_pos(&mut out, pos);
                    dec.run(&mut src, &mut dst).expect("zstd");
                    let produced_full = dst.pos() == dst.capacity();
                    if src.pos() == bytes.len() && !produced_full {
                        break;
                    }
                }
                Some(String::from_utf8(out).expect("utf-8"))
            }
        }
    }

    pub async fn recv(&mut self) -> Value {
        let text = self.next_text().await.expect("a payload, not a close");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("invalid JSON {e}: {text}"))
    }

    /// Skips payloads until one with this op (and `t`, for dispatches) arrives.
    pub async fn recv_until(&mut self, op: u64, t: Option<&str>) -> Value {
        loop {
            let v = self.recv().await;
            assert!(op == 9 || v["op"] != 9, "unexpected Invalid Session: {v}");
            if v["op"] == op && t.is_none_or(|t| v["t"] == t) {
                return v;
            }
        }
    }

    /// Reads until the connection ends, returning how.
    pub async fn closed(&mut self) -> Closed {
        loop {
            if let Err(c) = self.next_text().await {
                return c;
            }
        }
    }

    pub async fn send(&mut self, v: Value) {
        self.send_text(v.to_string()).await;
    }

    pub async fn send_text(&mut self, text: String) {
        self.ws
            .send(Message::Text(Utf8Bytes::from(text)))
            .await
            .expect("send");
    }

    pub async fn heartbeat(&mut self, seq: Option<u64>) {
        self.send(json!({"op": 1, "d": seq})).await;
    }

    pub async fn identify(&mut self, token: &str, intents: u64, shard: Option<[u32; 2]>) {
        let mut d = json!({
            "token": token,
            "properties": {"os": "linux", "browser": "sim-test", "device": "sim-test"},
            "intents": intents,
        });
        if let Some(s) = shard {
            d["shard"] = json!(s);
        }
        self.send(json!({"op": 2, "d": d})).await;
    }

    pub async fn resume(&mut self, session_id: &str, seq: u64) {
        self.send(json!({"op": 6, "d": {"token": TOKEN, "session_id": session_id, "seq": seq}}))
            .await;
    }

    pub async fn close(&mut self, code: u16) {
        use async_tungstenite::tungstenite::protocol::{frame::coding::CloseCode, CloseFrame};
        let _ = self
            .ws
            .close(Some(CloseFrame {
                code: CloseCode::from(code),
                reason: "".into(),
            }))
            .await;
        // Wait for the server's answer so the sim has seen the close.
        while let Ok(Some(Ok(_))) = tokio::time::timeout(WAIT, self.ws.next()).await {}
    }

    /// Asserts nothing arrives for `d`.
    pub async fn silent_for(&mut self, d: Duration) {
        if let Ok(msg) = tokio::time::timeout(d, self.ws.next()).await {
            panic!("expected silence, got {msg:?}");
        }
    }
}

/// Connects, reads Hello, identifies and returns the client with READY.
pub async fn ready(sim: &Sim, query: &str) -> (Client, Value) {
    let (mut c, _) = Client::hello(&url(sim, query)).await;
    c.identify(TOKEN, INTENTS, None).await;
    let ready = c.recv_until(0, Some("READY")).await;
    (c, ready)
}

/// A raw HTTP/1.1 GET; returns (status, body).
pub async fn http_get(sim: &Sim, path: &str, auth: Option<&str>) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(sim.addr())
        .await
        .expect("tcp");
    let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\n{auth}Connection: close\r\n\r\n",
        sim.addr()
    );
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut resp = String::new();
    stream.read_to_string(&mut resp).await.expect("read");
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

impl Client {
    /// The next raw binary websocket message.
    pub async fn ws_next_binary(&mut self) -> Vec<u8> {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("in time")
            {
                Some(Ok(Message::Binary(b))) => return b.to_vec(),
                Some(Ok(_)) => {}
                other => panic!("expected a binary message, got {other:?}"),
            }
        }
    }
}
