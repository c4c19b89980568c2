//! A scripted gateway for the deterministic tests: the server end of the test runtime's
//! in-memory sockets, and the payloads Discord sends.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use discord_gateway_driver::discord_gateway::Token;
use discord_gateway_driver::testing::{TestRuntime, TestServer};
use discord_gateway_driver::{
    Frame, SessionEvent, SessionSeal, Shard, ShardBuilder, ShardError, ShardEvent,
};

pub type Item = Result<ShardEvent, ShardError>;

pub const INTERVAL_MS: u64 = 41_250;
pub const SESSION_ID: &str = "0123456789abcdef0123456789abcdef";
pub const RESUME_URL: &str = "wss://resume.gateway.test";

pub const TOKEN: &str = "Bot test-token";

pub fn builder(rt: &TestRuntime) -> ShardBuilder<TestRuntime> {
    ShardBuilder::new(rt.clone(), Token::new(TOKEN).expect("a valid token"))
        .configure(|c| c.gateway_url("wss://gateway.test"))
        .seed(7)
}

/// The seal [`builder`]'s shards open their stored sessions with.
pub fn seal() -> SessionSeal {
    SessionSeal::new(&Token::new(TOKEN).expect("a valid token"))
}

pub fn hello() -> String {
    format!(r#"{{"t":null,"s":null,"op":10,"d":{{"heartbeat_interval":{INTERVAL_MS}}}}}"#)
}

pub fn ready() -> String {
    format!(
        r#"{{"t":"READY","s":1,"op":0,"d":{{"v":10,"session_id":"{SESSION_ID}","resume_gateway_url":"{RESUME_URL}"}}}}"#
    )
}

pub fn message(seq: u64) -> String {
    format!(r#"{{"t":"MESSAGE_CREATE","s":{seq},"op":0,"d":{{"id":"{seq}","content":"m{seq}"}}}}"#)
}

pub fn ack() -> &'static str {
    r#"{"t":null,"s":null,"op":11,"d":null}"#
}

/// A shard on the test runtime, and the gateway end of its current connection.
pub struct Scene {
    pub rt: TestRuntime,
    pub shard: Shard<TestRuntime>,
    pub server: Option<TestServer>,
    /// Every event the shard yielded, in order.
    pub events: Vec<Item>,
}

impl Scene {
    pub fn new(
        builder: impl FnOnce(ShardBuilder<TestRuntime>) -> ShardBuilder<TestRuntime>,
    ) -> Self {
        let rt = TestRuntime::new();
        let shard = builder(self::builder(&rt))
            .build()
            .expect("a valid configuration");
        Self {
            rt,
            shard,
            server: None,
            events: Vec::new(),
        }
    }

    /// Polls the shard until it has nothing ready; returns what it yielded this time.
    pub fn poll(&mut self) -> Vec<Item> {
        let items = self.rt.poll(&mut self.shard);
        self.events.extend(items.iter().cloned());
        if let Some(server) = self.rt.accept() {
            self.server = Some(server);
        }
        items
    }

    pub fn server(&self) -> &TestServer {
        self.server.as_ref().expect("a connection was dialled")
    }

    /// Sends `text` from the gateway and polls.
    pub fn gateway_says(&mut self, text: &str) -> Vec<Item> {
        self.server().send_text(text);
        self.poll()
    }

    /// Connects, says Hello, takes the Identify and answers READY.
    pub fn connect_and_ready(&mut self) {
        self.poll();
        assert!(self.server.is_some(), "the shard dials at once");
        self.poll();
        self.gateway_says(&hello());
        let sent = self.server().received_text();
        assert!(
            sent.iter().any(|t| t.starts_with(r#"{"op":2,"#)),
            "identify: {sent:?}"
        );
        let events = self.gateway_says(&ready());
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Ok(ShardEvent::Session(SessionEvent::Ready, _)))),
            "{events:?}"
        );
    }

    /// Waits for the shard's next heartbeat and acknowledges it: the connection has proved
    /// stable, so losing it now is not a failure and the next dial comes at once.
    pub fn prove_stable(&mut self) {
        // What was sent before is of no interest: only a heartbeat from here on counts.
        let _ = self.server().received_text();
        loop {
            self.wait();
            let sent = self.server().received_text();
            if sent.iter().any(|t| t.starts_with(r#"{"op":1"#)) {
                break;
            }
        }
        self.gateway_says(ack());
    }

    /// Moves the clock to the next deadline and polls; returns how far it moved.
    pub fn wait(&mut self) -> Duration {
        let by = self
            .rt
            .advance_to_next_deadline()
            .expect("something sleeps");
        self.poll();
        by
    }

    /// Texts sent on the current connection since the last look.
    pub fn sent(&self) -> Vec<String> {
        self.server().received_text()
    }
}

pub fn texts(frames: &[Frame]) -> Vec<String> {
    frames
        .iter()
        .filter_map(|frame| match frame {
            Frame::Text(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
            _ => None,
        })
        .collect()
}
