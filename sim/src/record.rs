//! What the sim saw: counters for quick assertions and a per-connection record of every payload
//! a client sent.

use std::collections::BTreeMap;
use std::time::Duration;

/// Identifies one websocket connection, in accept order starting at 0.
pub type ConnId = u64;

/// Totals since the sim started. Take a snapshot with [`crate::SimHandle::counters`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Websocket connections accepted (handshake completed).
    pub connections: u64,
    /// Connections currently open.
    pub open_connections: u64,
    /// Connections opened on the `resume_gateway_url` path.
    pub resume_url_connections: u64,
    /// Plain HTTP requests served (`GET /api/v10/gateway/bot`, ...), including refused ones.
    pub http_requests: u64,
    /// `GET /gateway/bot` requests answered 429 (see [`crate::SimHandle::rate_limit_gateway_bot`]).
    pub http_rate_limited: u64,
    /// Identify payloads received (accepted or not).
    pub identifies: u64,
    /// Sessions started (READY sent).
    pub readies: u64,
    /// Identifies answered with op 9 because their concurrency bucket was busy.
    pub identify_rate_limited: u64,
    /// Resume payloads received (accepted or not).
    pub resumes: u64,
    /// Resumes that succeeded (RESUMED sent).
    pub resumed: u64,
    /// Successful resumes that came in on the main URL instead of `resume_gateway_url`.
    pub resumed_on_main_url: u64,
    /// Dispatches replayed to resuming clients.
    pub replayed: u64,
    /// Heartbeats received.
    pub heartbeats: u64,
    /// Heartbeat ACKs sent.
    pub heartbeat_acks: u64,
    /// Heartbeats whose `d` was ahead of the last sequence number the sim sent on the session.
    pub heartbeat_seq_errors: u64,
    /// Dispatches handed to sessions (READY, GUILD_CREATE, events, RESUMED; not replays).
    pub dispatches: u64,
    /// MESSAGE_CREATE written by throughput streams.
    pub streamed: u64,
    /// op 7 Reconnect sent.
    pub reconnects_sent: u64,
    /// op 9 sent with `d: true`.
    pub invalid_sessions_resumable: u64,
    /// op 9 sent with `d: false`.
    pub invalid_sessions_not_resumable: u64,
    /// op 1 heartbeat requests sent.
    pub heartbeat_requests_sent: u64,
    /// Request Guild Members received.
    pub member_requests: u64,
    /// Websocket pongs received from clients (answers to [`crate::Fault::Ping`]).
    pub pongs: u64,
    /// The payload of the last pong received.
    pub last_pong: Vec<u8>,
    /// Close frames sent by the sim, by code.
    pub server_closes: BTreeMap<u16, u64>,
    /// Close frames received from clients, by code (1005 = close frame without a code).
    pub client_closes: BTreeMap<u16, u64>,
    /// Clients that went away without a close frame.
    pub client_drops: u64,
    /// Connections the sim dropped abruptly (no close frame), as a fault.
    pub tcp_drops: u64,
    /// Faults applied (each fault on each connection counts once).
    pub faults: u64,
    /// TLS handshakes that failed (a client that refused the certificate, or spoke plain
    /// text to a `wss://` sim).
    pub tls_handshake_failures: u64,
}

impl Counters {
    /// How many times the sim closed a connection with `code`.
    #[must_use]
    pub fn server_closed(&self, code: u16) -> u64 {
        self.server_closes.get(&code).copied().unwrap_or(0)
    }

    /// How many times a client closed with `code`.
    #[must_use]
    pub fn client_closed(&self, code: u16) -> u64 {
        self.client_closes.get(&code).copied().unwrap_or(0)
    }
}

/// Which URL a connection used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// The gateway URL (`/`), as returned by `GET /gateway/bot`.
    Main,
    /// The `resume_gateway_url` from READY (`/resume`).
    Resume,
}

/// One payload a client sent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientPayload {
    /// Time since the sim started.
    pub at: Duration,
    /// The `op` field, if the payload parsed and had one.
    pub op: Option<u64>,
    /// The payload text (lossy UTF-8 for binary frames); empty when recording is off.
    pub text: String,
    /// Whether it came as a binary websocket message.
    pub binary: bool,
    /// For heartbeats: the last sequence number the sim had written on the session when it
    /// arrived, so tests can compare it with `d`.
    pub last_seq_sent: Option<u64>,
}

impl ClientPayload {
    /// The payload parsed as JSON, if it is JSON.
    #[must_use]
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.text).ok()
    }
}

/// Everything known about one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionRecord {
    /// The connection's id.
    pub id: ConnId,
    /// Main URL or resume URL.
    pub endpoint: Endpoint,
    /// The raw query string of the websocket URL.
    pub query: String,
    /// `compress=` value, if any.
    pub compress: Option<String>,
    /// The shard `[id, count]` the connection identified or resumed as.
    pub shard: Option<[u32; 2]>,
    /// The session the connection identified or resumed.
    pub session_id: Option<String>,
    /// Whether the session was started here (Identify) rather than resumed.
    pub identified: bool,
    /// Whether a Resume succeeded here.
    pub resumed: bool,
    /// Every payload the client sent, in order.
    pub payloads: Vec<ClientPayload>,
    /// Close code the sim sent, if it closed the connection.
    pub server_close: Option<u16>,
    /// Close code the client sent, if it did.
    pub client_close: Option<u16>,
    /// Whether the connection has ended.
    pub ended: bool,
    /// The TLS version the connection's handshake negotiated (`"TLSv1_3"`), `None` for plain
    /// `ws://`.
    pub tls_version: Option<String>,
}

impl ConnectionRecord {
    pub(crate) fn new(id: ConnId, endpoint: Endpoint, query: String) -> Self {
        let compress = query_param(&query, "compress").map(str::to_owned);
        Self {
            id,
            endpoint,
            query,
            compress,
            shard: None,
            session_id: None,
            identified: false,
            resumed: false,
            payloads: Vec::new(),
            server_close: None,
            client_close: None,
            ended: false,
            tls_version: None,
        }
    }

    /// The payloads with the given opcode, parsed.
    #[must_use]
    pub fn sent_with_op(&self, op: u64) -> Vec<serde_json::Value> {
        self.payloads
            .iter()
            .filter(|p| p.op == Some(op))
            .filter_map(ClientPayload::json)
            .collect()
    }
}

/// The value of `key` in a URL query string (no percent-decoding: gateway values never need it).
pub(crate) fn query_param<'q>(query: &'q str, key: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::query_param;

    #[test]
    fn finds_query_values() {
        let q = "v=10&encoding=json&compress=zlib-stream";
        assert_eq!(query_param(q, "v"), Some("10"));
        assert_eq!(query_param(q, "compress"), Some("zlib-stream"));
        assert_eq!(query_param(q, "x"), None);
        assert_eq!(query_param("flag", "flag"), Some(""));
    }
}
