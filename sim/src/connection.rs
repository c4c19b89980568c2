//! One gateway connection: Hello, heartbeats, Identify/Resume, limits, faults, and writing the
//! session's events, all in a single task so an idle connection costs one task and one channel.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::stream::SimStream;
use async_tungstenite::tokio::TokioAdapter;
use async_tungstenite::tungstenite::protocol::frame::coding::{
    CloseCode as WsCloseCode, Data as WsData, OpCode as WsOpCode,
};
use async_tungstenite::tungstenite::protocol::frame::Frame as WsFrame;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::{Bytes, Error as WsError, Message, Utf8Bytes};
use async_tungstenite::WebSocketStream;
use discord_gateway::protocol::{CloseCode, Intents, OpCode};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::time::{sleep_until, Instant, Sleep};

use crate::compress::{Compressor, Mode};
use crate::etf;
use crate::fault::{close_ends_session, Fault};
use crate::fixtures;
use crate::frame;
use crate::limits::{IdentifyVerdict, SendWindow};
use crate::record::{query_param, ClientPayload, ConnId, ConnectionRecord, Endpoint};
use crate::session::{Attachment, ResumeOutcome};
use crate::state::{lock, ConnEntry, Shared};

pub(crate) type Ws = WebSocketStream<TokioAdapter<SimStream>>;

/// What other parts of the sim ask a connection to do, in order.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// A serialised payload; `seq` is set for dispatches.
    Payload { text: Utf8Bytes, seq: Option<u64> },
    /// Apply a fault.
    Fault(Fault),
    /// Another connection resumed this connection's session.
    Superseded,
    /// Stream this many MESSAGE_CREATE as fast as the client reads them.
    Stream(u64),
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The client sent a close frame (1005 if it had no code).
    ClientClosed(u16),
    /// The client went away without a close frame.
    ClientDropped,
    /// The sim sent a close frame with this code.
    ServerClosed(u16),
    /// The sim dropped the TCP connection (fault).
    ServerDropped,
}

type Flow = Result<(), End>;

/// Payloads written per flush while draining the queue (bounds latency of other work).
const BATCH: usize = 64;

struct Conn {
    id: ConnId,
    shared: Arc<Shared>,
    ws: Ws,
    endpoint: Endpoint,
    tx: UnboundedSender<Outbound>,
    rx: UnboundedReceiver<Outbound>,
    compressor: Compressor,
    /// Whether the client asked for `encoding=etf` (otherwise JSON).
    etf: bool,
    version: u8,
    session: Option<String>,
    last_seq_written: u64,
    withhold_acks: bool,
    /// [`Fault::SilentHandshake`]: Identify and Resume go unanswered.
    silent_handshake: bool,
    paused_until: Option<Instant>,
    held: VecDeque<(Utf8Bytes, Option<u64>)>,
    heartbeat_deadline: Pin<Box<Sleep>>,
    window: SendWindow,
    stream_left: u64,
    close_at: Option<Instant>,
    /// An item taken from the queue while batching that still has to be handled.
    deferred: Option<Outbound>,
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(365 * 24 * 3600)
}

/// Serves one accepted websocket until it ends.
pub(crate) async fn run(shared: Arc<Shared>, ws: Ws, endpoint: Endpoint, query: String) {
    let id = shared.next_conn_id();
    let (tx, rx) = unbounded_channel();
    let mut record = ConnectionRecord::new(id, endpoint, query.clone());
    record.tls_version = ws.get_ref().get_ref().tls_version();
    lock(&shared.records).push(record);
    lock(&shared.conns).insert(
        id,
        ConnEntry {
            tx: tx.clone(),
            shard: None,
        },
    );
    shared.count(|c| {
        c.connections += 1;
        c.open_connections += 1;
        if endpoint == Endpoint::Resume {
            c.resume_url_connections += 1;
        }
    });
    let config = &shared.config;
    let mut conn = Conn {
        id,
        endpoint,
        tx,
        rx,
        compressor: Compressor::None,
        etf: false,
        version: 10,
        session: None,
        last_seq_written: 0,
        withhold_acks: false,
        silent_handshake: false,
        paused_until: None,
        held: VecDeque::new(),
        heartbeat_deadline: Box::pin(sleep_until(far_future())),
        window: SendWindow::new(config.rate_limit_count, config.rate_limit_window),
        stream_left: 0,
        close_at: None,
        deferred: None,
        ws,
        shared: shared.clone(),
    };
    let end = match conn.serve(&query).await {
        Ok(()) => End::ClientDropped,
        Err(end) => end,
    };
    conn.finish(end);
}

impl Conn {
    async fn serve(&mut self, query: &str) -> Flow {
        let config = &self.shared.config;
        // Discord's documented default when `v` is missing is 6.
        let version = query_param(query, "v").map_or(Some(6), |v| v.parse::<u8>().ok());
        match version {
            Some(v) if config.accepted_versions.contains(&v) => self.version = v,
            _ => {
                return Err(self
                    .close(
                        CloseCode::InvalidApiVersion.to_u16(),
                        "Invalid API version.",
                    )
                    .await)
            }
        }
        match query_param(query, "encoding") {
            None | Some("json") => self.etf = false,
            Some("etf") => self.etf = true,
            Some(_) => {
                return Err(self
                    .close(
                        CloseCode::DecodeError.to_u16(),
                        "Error while decoding payload.",
                    )
                    .await)
            }
        }
        let Some(mode) = Mode::from_query(query_param(query, "compress")) else {
            return Err(self
                .close(
                    CloseCode::DecodeError.to_u16(),
                    "Error while decoding payload.",
                )
                .await);
        };
        match Compressor::new(mode, config.zlib_split) {
            Ok(c) => self.compressor = c,
            Err(_) => {
                return Err(self
                    .close(CloseCode::UnknownError.to_u16(), "Unknown error.")
                    .await)
            }
        }

        // Faults aimed at "the next connection" happen before Hello (op 7 may precede Hello).
        let pending = std::mem::take(&mut *lock(&self.shared.next_conn_faults));
        for fault in pending {
            self.apply_fault(fault).await?;
        }
        let config = &self.shared.config;
        if !config.hello_delay.is_zero() {
            tokio::time::sleep(config.hello_delay).await;
        }
        let hello = frame::op(
            OpCode::Hello.to_u8(),
            &fixtures::hello(config.heartbeat_interval.as_millis()),
        );
        self.write(Utf8Bytes::from(hello), None).await?;
        self.reset_heartbeat_deadline();

        loop {
            let paused = self.paused_until.is_some();
            let pause_end = self.paused_until.unwrap_or_else(far_future);
            let close_at = self.close_at.unwrap_or_else(far_future);
            let streaming = self.stream_left > 0 && !paused && self.deferred.is_none();
            let has_deferred = self.deferred.is_some();
            tokio::select! {
                biased;
                msg = self.ws.next() => self.on_ws(msg).await?,
                () = std::future::ready(()), if has_deferred => {
                    if let Some(out) = self.deferred.take() {
                        self.on_outbound(out).await?;
                    }
                }
                Some(out) = self.rx.recv() => self.on_outbound(out).await?,
                () = &mut self.heartbeat_deadline => {
                    let code = self.shared.config.missed_heartbeat_close_code;
                    return Err(self.close(code, "Session timed out.").await);
                }
                () = sleep_until(pause_end), if paused => self.unpause().await?,
                () = sleep_until(close_at), if self.close_at.is_some() => {
                    return Err(self.close(CloseCode::UnknownError.to_u16(), "Reconnect requested.").await);
                }
                () = std::future::ready(()), if streaming => self.stream_batch(),
            }
        }
    }

    fn reset_heartbeat_deadline(&mut self) {
        let config = &self.shared.config;
        let deadline = Instant::now() + config.heartbeat_interval + config.heartbeat_grace;
        self.heartbeat_deadline.as_mut().reset(deadline);
    }

    async fn on_ws(&mut self, msg: Option<Result<Message, WsError>>) -> Flow {
        match msg {
            None => Err(End::ClientDropped),
            Some(Err(WsError::Capacity(_))) => Err(self
                .close(
                    CloseCode::DecodeError.to_u16(),
                    "Error while decoding payload.",
                )
                .await),
            Some(Err(e)) => {
                tracing::debug!(conn = self.id, "websocket error: {e}");
                Err(End::ClientDropped)
            }
            Some(Ok(Message::Text(text))) => self.on_payload(text.as_bytes(), false).await,
            Some(Ok(Message::Pong(payload))) => {
                self.shared.count(|c| {
                    c.pongs += 1;
                    c.last_pong = payload.to_vec();
                });
                Ok(())
            }
            Some(Ok(Message::Binary(bytes))) => self.on_payload(&bytes, true).await,
            Some(Ok(Message::Close(frame))) => {
                let code = frame.map_or(1005, |f| u16::from(f.code));
                // Let tungstenite finish the closing handshake it started.
                let _ = self.ws.flush().await;
                Err(End::ClientClosed(code))
            }
            Some(Ok(_)) => Ok(()),
        }
    }

    async fn on_payload(&mut self, bytes: &[u8], binary: bool) -> Flow {
        let now = Instant::now();
        // Discord reads ETF from binary frames only; a text frame on an ETF connection is JSON
        // it was not asked for.
        let parsed: Option<Value> = match (self.etf, binary) {
            (false, _) => serde_json::from_slice(bytes).ok(),
            (true, true) => etf::to_value(bytes),
            (true, false) => None,
        };
        let op = parsed
            .as_ref()
            .and_then(|v| v.get("op"))
            .and_then(Value::as_u64);
        let record = self.shared.config.record_payloads;
        let last_seq = self.last_seq_written;
        let at = self.shared.elapsed();
        self.shared.record(self.id, |r| {
            r.payloads.push(ClientPayload {
                at,
                op,
                text: if record && self.etf {
                    // The command as JSON, so recordings read the same for both encodings.
                    parsed.as_ref().map(Value::to_string).unwrap_or_default()
                } else if record {
                    String::from_utf8_lossy(bytes).into_owned()
                } else {
                    String::new()
                },
                binary,
                last_seq_sent: (op == Some(1)).then_some(last_seq),
            });
        });
        if !self.window.admit(now.into_std()) {
            return Err(self
                .close(
                    CloseCode::RateLimited.to_u16(),
                    "You are being rate limited.",
                )
                .await);
        }
        if bytes.len() > self.shared.config.max_payload_size {
            return Err(self
                .close(
                    CloseCode::DecodeError.to_u16(),
                    "Error while decoding payload.",
                )
                .await);
        }
        let (Some(payload), Some(op)) = (parsed, op) else {
            return Err(self
                .close(
                    CloseCode::DecodeError.to_u16(),
                    "Error while decoding payload.",
                )
                .await);
        };
        let d = payload.get("d").cloned().unwrap_or(Value::Null);
        let op = u8::try_from(op).map_or(OpCode::Unknown(u8::MAX), OpCode::from_u8);
        if !op.is_sendable() {
            return Err(self
                .close(CloseCode::UnknownOpcode.to_u16(), "Unknown opcode.")
                .await);
        }
        match op {
            OpCode::Heartbeat => self.on_heartbeat(&d).await,
            OpCode::Identify => self.on_identify(&d).await,
            OpCode::Resume => self.on_resume(&d).await,
            _ if self.session.is_none() => Err(self
                .close(CloseCode::NotAuthenticated.to_u16(), "Not authenticated.")
                .await),
            OpCode::RequestGuildMembers => self.on_request_members(&d).await,
            OpCode::RequestSoundboardSounds => self.on_soundboard(&d).await,
            OpCode::RequestChannelInfo => self.on_channel_info(&d).await,
            // Presence and voice state updates: accepted if they are objects.
            _ if d.is_object() => Ok(()),
            _ => Err(self
                .close(
                    CloseCode::DecodeError.to_u16(),
                    "Error while decoding payload.",
                )
                .await),
        }
    }

    async fn on_heartbeat(&mut self, d: &Value) -> Flow {
        let seq_ok = match d {
            Value::Null => true,
            Value::Number(n) => match n.as_u64() {
                Some(s) => s <= self.last_seq_written,
                None => {
                    return Err(self
                        .close(
                            CloseCode::DecodeError.to_u16(),
                            "Error while decoding payload.",
                        )
                        .await)
                }
            },
            _ => {
                return Err(self
                    .close(
                        CloseCode::DecodeError.to_u16(),
                        "Error while decoding payload.",
                    )
                    .await)
            }
        };
        if !seq_ok {
            tracing::warn!(
                conn = self.id,
                "heartbeat d={d} is ahead of the last seq sent ({})",
                self.last_seq_written
            );
        }
        self.shared.count(|c| {
            c.heartbeats += 1;
            if !seq_ok {
                c.heartbeat_seq_errors += 1;
            }
        });
        self.reset_heartbeat_deadline();
        if self.withhold_acks {
            return Ok(());
        }
        self.shared.count(|c| c.heartbeat_acks += 1);
        self.write(
            Utf8Bytes::from(frame::op(OpCode::HeartbeatAck.to_u8(), "null")),
            None,
        )
        .await
    }

    async fn decode_error(&mut self) -> End {
        self.close(
            CloseCode::DecodeError.to_u16(),
            "Error while decoding payload.",
        )
        .await
    }

    async fn on_identify(&mut self, d: &Value) -> Flow {
        self.shared.count(|c| c.identifies += 1);
        if self.silent_handshake {
            return Ok(());
        }
        if self.session.is_some() {
            return Err(self
                .close(
                    CloseCode::AlreadyAuthenticated.to_u16(),
                    "Already authenticated.",
                )
                .await);
        }
        let (Some(token), Some(_properties), Some(intents)) = (
            d.get("token").and_then(Value::as_str),
            d.get("properties").and_then(Value::as_object),
            d.get("intents").and_then(Value::as_u64),
        ) else {
            return Err(self.decode_error().await);
        };
        let config = &self.shared.config;
        if token != config.token {
            return Err(self
                .close(
                    CloseCode::AuthenticationFailed.to_u16(),
                    "Authentication failed.",
                )
                .await);
        }
        if intents & !Intents::all().bits() != 0 {
            return Err(self
                .close(CloseCode::InvalidIntents.to_u16(), "Invalid intent(s).")
                .await);
        }
        if intents & config.disallowed_intents.bits() != 0 {
            return Err(self
                .close(
                    CloseCode::DisallowedIntents.to_u16(),
                    "Disallowed intent(s).",
                )
                .await);
        }
        let shard_sent = d.get("shard").filter(|s| !s.is_null());
        let shard = match shard_sent {
            None => [0, 1],
            Some(Value::Array(a)) if a.len() == 2 => {
                match (
                    a[0].as_u64().and_then(|v| u32::try_from(v).ok()),
                    a[1].as_u64().and_then(|v| u32::try_from(v).ok()),
                ) {
                    (Some(id), Some(count))
                        if count >= 1
                            && id < count
                            && config
                                .shard_count_multiple
                                .is_none_or(|m| m == 0 || count.is_multiple_of(m)) =>
                    {
                        [id, count]
                    }
                    _ => {
                        return Err(self
                            .close(CloseCode::InvalidShard.to_u16(), "Invalid shard.")
                            .await)
                    }
                }
            }
            Some(_) => {
                return Err(self
                    .close(CloseCode::InvalidShard.to_u16(), "Invalid shard.")
                    .await)
            }
        };
        let verdict = lock(&self.shared.limiter).identify(shard[0], std::time::Instant::now());
        match verdict {
            IdentifyVerdict::Allowed => {}
            IdentifyVerdict::BucketBusy => {
                self.shared.count(|c| {
                    c.identify_rate_limited += 1;
                    c.invalid_sessions_not_resumable += 1;
                });
                return self
                    .write(
                        Utf8Bytes::from(frame::op(OpCode::InvalidSession.to_u8(), "false")),
                        None,
                    )
                    .await;
            }
            IdentifyVerdict::BudgetSpent => {
                // Discord resets the token of a bot that spends its daily session starts.
                return Err(self
                    .close(
                        CloseCode::AuthenticationFailed.to_u16(),
                        "Authentication failed.",
                    )
                    .await);
            }
        }

        let session_id = lock(&self.shared.rng).hex32();
        let guilds = self.shared.guilds_of(shard);
        let guild_ids: Vec<u64> = guilds.iter().map(|g| g.id).collect();
        let ready = fixtures::ready(
            self.version,
            &session_id,
            &self.shared.resume_url(),
            &guild_ids,
            shard_sent.map(|_| shard),
        );
        let wants_guilds = !config.filter_by_intents || intents & Intents::GUILDS.bits() != 0;
        let creates: Vec<Arc<str>> = if wants_guilds {
            guilds.iter().map(|g| g.create_d()).collect()
        } else {
            Vec::new()
        };
        let then: Vec<(&str, &str)> = creates.iter().map(|d| ("GUILD_CREATE", &**d)).collect();
        lock(&self.shared.sessions).start(
            session_id.clone(),
            shard,
            intents,
            Attachment {
                conn: self.id,
                tx: self.tx.clone(),
            },
            &ready,
            &then,
        );
        self.attach(session_id, shard, true);
        let n = then.len() as u64;
        self.shared.count(|c| {
            c.readies += 1;
            c.dispatches += 1 + n;
        });
        Ok(())
    }

    fn attach(&mut self, session_id: String, shard: [u32; 2], identified: bool) {
        if let Some(e) = lock(&self.shared.conns).get_mut(&self.id) {
            e.shard = Some(shard);
        }
        let sid = session_id.clone();
        self.shared.record(self.id, |r| {
            r.shard = Some(shard);
            r.session_id = Some(sid);
            if identified {
                r.identified = true;
            } else {
                r.resumed = true;
            }
        });
        self.session = Some(session_id);
    }

    async fn on_resume(&mut self, d: &Value) -> Flow {
        self.shared.count(|c| c.resumes += 1);
        if self.silent_handshake {
            return Ok(());
        }
        if self.session.is_some() {
            return Err(self
                .close(
                    CloseCode::AlreadyAuthenticated.to_u16(),
                    "Already authenticated.",
                )
                .await);
        }
        let (Some(token), Some(session_id), Some(seq)) = (
            d.get("token").and_then(Value::as_str),
            d.get("session_id").and_then(Value::as_str),
            d.get("seq").and_then(Value::as_u64),
        ) else {
            return Err(self.decode_error().await);
        };
        if token != self.shared.config.token {
            return Err(self
                .close(
                    CloseCode::AuthenticationFailed.to_u16(),
                    "Authentication failed.",
                )
                .await);
        }
        let attach = Attachment {
            conn: self.id,
            tx: self.tx.clone(),
        };
        let outcome =
            lock(&self.shared.sessions).resume(session_id, seq, attach, std::time::Instant::now());
        match outcome {
            ResumeOutcome::Resumed { replayed, shard } => {
                // The client has seen everything up to `seq`; heartbeats may carry it.
                self.last_seq_written = self.last_seq_written.max(seq);
                self.attach(session_id.to_owned(), shard, false);
                let on_main = self.endpoint == Endpoint::Main;
                self.shared.count(|c| {
                    c.resumed += 1;
                    c.replayed += replayed as u64;
                    c.dispatches += 1;
                    if on_main {
                        c.resumed_on_main_url += 1;
                    }
                });
                Ok(())
            }
            ResumeOutcome::Invalid => {
                self.shared.count(|c| c.invalid_sessions_not_resumable += 1);
                self.write(
                    Utf8Bytes::from(frame::op(OpCode::InvalidSession.to_u8(), "false")),
                    None,
                )
                .await
            }
            ResumeOutcome::InvalidSeq => Err(self
                .close(CloseCode::InvalidSeq.to_u16(), "Invalid seq.")
                .await),
        }
    }

    /// Emits a dispatch on this connection's session.
    fn emit(&self, t: &str, d: &str) {
        if let Some(sid) = &self.session {
            if lock(&self.shared.sessions).emit_on(sid, t, d).is_some() {
                self.shared.count(|c| c.dispatches += 1);
            }
        }
    }

    async fn on_request_members(&mut self, d: &Value) -> Flow {
        self.shared.count(|c| c.member_requests += 1);
        let Some(guild_id) = d.get("guild_id").and_then(snowflake) else {
            return Err(self.decode_error().await);
        };
        // Discord silently drops a nonce longer than 32 bytes.
        let nonce = d
            .get("nonce")
            .and_then(Value::as_str)
            .filter(|n| n.len() <= 32);
        let presences = d.get("presences").and_then(Value::as_bool).unwrap_or(false);
        let user_ids: Option<Vec<String>> = match d.get("user_ids") {
            None | Some(Value::Null) => None,
            Some(Value::Array(ids)) => Some(
                ids.iter()
                    .filter_map(snowflake)
                    .map(|s| s.to_string())
                    .collect(),
            ),
            Some(one) => snowflake(one).map(|s| vec![s.to_string()]),
        };
        let query = d.get("query").and_then(Value::as_str);
        let limit = d.get("limit").and_then(Value::as_u64).unwrap_or(0);
        if user_ids.is_none() && query.is_none() {
            return Err(self.decode_error().await);
        }

        if user_ids.is_none() && query == Some("") && limit == 0 {
            let now = std::time::Instant::now();
            let window = self.shared.config.all_members_rate_limit;
            let retry_after = {
                let mut last = lock(&self.shared.all_member_requests);
                match last.get(&guild_id) {
                    Some(t) if now.duration_since(*t) < window => {
                        Some(window - now.duration_since(*t))
                    }
                    _ => {
                        last.insert(guild_id, now);
                        None
                    }
                }
            };
            if let Some(retry) = retry_after {
                let mut meta = format!("{{\"guild_id\":\"{guild_id}\"");
                if let Some(n) = nonce {
                    meta.push_str(",\"nonce\":");
                    meta.push_str(&frame::json_str(n));
                }
                meta.push('}');
                let body = format!(
                    "{{\"opcode\":8,\"retry_after\":{:.3},\"meta\":{meta}}}",
                    retry.as_secs_f64()
                );
                self.emit("RATE_LIMITED", &body);
                return Ok(());
            }
        }

        let shared = self.shared.clone();
        let members = shared.guild(guild_id).map(|g| g.members()).unwrap_or(&[]);
        let (selected, not_found): (Vec<&fixtures::Member>, Vec<String>) = match &user_ids {
            Some(ids) => {
                let ids: Vec<&String> = ids.iter().take(100).collect();
                let found: Vec<&fixtures::Member> = members
                    .iter()
                    .filter(|m| ids.iter().any(|id| **id == m.user_id.to_string()))
                    .collect();
                let missing = ids
                    .into_iter()
                    .filter(|id| !found.iter().any(|m| m.user_id.to_string() == **id))
                    .cloned()
                    .collect();
                (found, missing)
            }
            None => {
                let prefix = query.unwrap_or("").to_lowercase();
                // Prefix queries return at most 100; "all members" (`""`, limit 0) returns all.
                let cap = match (prefix.is_empty(), limit) {
                    (true, 0) => usize::MAX,
                    (_, 0) => 100,
                    (true, l) => usize::try_from(l).unwrap_or(usize::MAX),
                    (false, l) => usize::try_from(l).unwrap_or(100).min(100),
                };
                let found = members
                    .iter()
                    .filter(|m| m.username.to_lowercase().starts_with(&prefix))
                    .take(cap)
                    .collect();
                (found, Vec::new())
            }
        };
        let chunks: Vec<&[&fixtures::Member]> = if selected.is_empty() {
            vec![&[]]
        } else {
            selected.chunks(1000).collect()
        };
        let count = chunks.len();
        for (i, chunk) in chunks.iter().enumerate() {
            let body = fixtures::members_chunk(
                guild_id,
                chunk,
                (i, count),
                if i == 0 { &not_found } else { &[] },
                nonce,
                presences,
            );
            self.emit("GUILD_MEMBERS_CHUNK", &body);
        }
        Ok(())
    }

    async fn on_soundboard(&mut self, d: &Value) -> Flow {
        let Some(ids) = d.get("guild_ids").and_then(Value::as_array) else {
            return Err(self.decode_error().await);
        };
        for id in ids.iter().filter_map(snowflake) {
            self.emit(
                "SOUNDBOARD_SOUNDS",
                &format!("{{\"soundboard_sounds\":[],\"guild_id\":\"{id}\"}}"),
            );
        }
        Ok(())
    }

    async fn on_channel_info(&mut self, d: &Value) -> Flow {
        let Some(id) = d.get("guild_id").and_then(snowflake) else {
            return Err(self.decode_error().await);
        };
        self.emit(
            "CHANNEL_INFO",
            &format!("{{\"guild_id\":\"{id}\",\"channels\":[]}}"),
        );
        Ok(())
    }

    async fn on_outbound(&mut self, out: Outbound) -> Flow {
        match out {
            Outbound::Payload { text, seq } => {
                // Drain what else is queued and flush once: this is what makes streaming fast.
                let mut batch = vec![(text, seq)];
                while batch.len() < BATCH {
                    match self.rx.try_recv() {
                        Ok(Outbound::Payload { text, seq }) => batch.push((text, seq)),
                        Ok(other) => {
                            self.deferred = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                self.write_batch(batch).await
            }
            Outbound::Fault(fault) => self.apply_fault(fault).await,
            Outbound::Superseded => {
                // The session moved to a newer connection; this one has nothing left to carry.
                self.session = None;
                Err(self
                    .close(
                        CloseCode::UnknownError.to_u16(),
                        "Session resumed elsewhere.",
                    )
                    .await)
            }
            Outbound::Stream(n) => {
                self.stream_left += n;
                Ok(())
            }
        }
    }

    /// Queues the next MESSAGE_CREATEs of a throughput stream on the session; the select loop
    /// writes them and only asks for more once the queue is empty, so the stream runs exactly as
    /// fast as the socket drains.
    fn stream_batch(&mut self) {
        let Some(sid) = self.session.clone() else {
            self.stream_left = 0;
            return;
        };
        let n = self.stream_left.min(BATCH as u64);
        {
            let mut sessions = lock(&self.shared.sessions);
            for i in 0..n {
                let d = fixtures::message_create(
                    fixtures::TEMPLATE_GUILD_ID,
                    fixtures::DEFAULT_CHANNEL_ID,
                    &format!("stream message {}", self.stream_left - i),
                );
                if sessions.emit_on(&sid, "MESSAGE_CREATE", &d).is_none() {
                    break;
                }
            }
        }
        self.stream_left -= n;
        self.shared.count(|c| {
            c.streamed += n;
            c.dispatches += n;
        });
    }

    async fn write(&mut self, text: Utf8Bytes, seq: Option<u64>) -> Flow {
        self.write_batch(vec![(text, seq)]).await
    }

    async fn write_batch(&mut self, batch: Vec<(Utf8Bytes, Option<u64>)>) -> Flow {
        if self.paused_until.is_some() {
            self.held.extend(batch);
            return Ok(());
        }
        let mut last_seq = None;
        for (text, seq) in batch {
            let messages = if self.etf {
                // A payload the sim breaks on purpose (a malformed-payload fault) stays broken.
                let term = etf::from_json(&text).unwrap_or_else(|_| etf::MALFORMED.to_vec());
                self.compressor.encode_binary(term)
            } else {
                self.compressor.encode(text)
            }
            .map_err(|_| End::ServerDropped)?;
            for m in messages {
                self.ws.feed(m).await.map_err(|_| End::ClientDropped)?;
            }
            if seq.is_some() {
                last_seq = seq;
            }
        }
        self.ws.flush().await.map_err(|_| End::ClientDropped)?;
        if let Some(s) = last_seq {
            self.last_seq_written = self.last_seq_written.max(s);
        }
        Ok(())
    }

    async fn unpause(&mut self) -> Flow {
        self.paused_until = None;
        let held: Vec<_> = self.held.drain(..).collect();
        if held.is_empty() {
            return Ok(());
        }
        self.write_batch(held).await
    }

    async fn send_raw(&mut self, message: Message) -> Flow {
        self.ws.send(message).await.map_err(|_| End::ClientDropped)
    }

    async fn apply_fault(&mut self, fault: Fault) -> Flow {
        self.shared.count(|c| c.faults += 1);
        tracing::debug!(conn = self.id, ?fault, "fault");
        match fault {
            Fault::Reconnect => {
                self.shared.count(|c| c.reconnects_sent += 1);
                if let Some(after) = self.shared.config.reconnect_close_after {
                    self.close_at = Some(Instant::now() + after);
                }
                self.write(
                    Utf8Bytes::from(frame::op(OpCode::Reconnect.to_u8(), "null")),
                    None,
                )
                .await
            }
            Fault::InvalidSession(resumable) => {
                self.shared.count(|c| {
                    if resumable {
                        c.invalid_sessions_resumable += 1;
                    } else {
                        c.invalid_sessions_not_resumable += 1;
                    }
                });
                if !resumable {
                    if let Some(sid) = self.session.take() {
                        lock(&self.shared.sessions).invalidate(&sid);
                    }
                }
                let d = if resumable { "true" } else { "false" };
                self.write(
                    Utf8Bytes::from(frame::op(OpCode::InvalidSession.to_u8(), d)),
                    None,
                )
                .await
            }
            Fault::Close(code) => Err(self
                .close(code, CloseCode::from_u16(code).description())
                .await),
            Fault::DropTcp => {
                self.shared.count(|c| c.tcp_drops += 1);
                Err(End::ServerDropped)
            }
            Fault::WithholdAcks => {
                self.withhold_acks = true;
                Ok(())
            }
            Fault::SilentHandshake => {
                self.silent_handshake = true;
                Ok(())
            }
            Fault::Freeze => {
                self.paused_until = Some(far_future());
                Ok(())
            }
            Fault::RequestHeartbeat => {
                self.shared.count(|c| c.heartbeat_requests_sent += 1);
                self.write(
                    Utf8Bytes::from(frame::op(OpCode::Heartbeat.to_u8(), "null")),
                    None,
                )
                .await
            }
            Fault::Malformed => {
                self.write(
                    Utf8Bytes::from_static("{\"t\":null,\"s\":null,\"op\":0,\"d\":{\"unterminated"),
                    None,
                )
                .await
            }
            Fault::UnknownOpcode(op) => {
                self.write(Utf8Bytes::from(frame::op(op, "null")), None)
                    .await
            }
            Fault::RawText(text) => self.send_raw(Message::Text(Utf8Bytes::from(text))).await,
            Fault::RawBinary(bytes) => self.send_raw(Message::Binary(Bytes::from(bytes))).await,
            Fault::FragmentedText(text, parts) => {
                let bytes = Bytes::from(text.into_bytes());
                let parts = parts.clamp(1, bytes.len().max(1));
                let size = bytes.len().div_ceil(parts).max(1);
                let mut start = 0;
                loop {
                    let end = (start + size).min(bytes.len());
                    let opcode = if start == 0 {
                        WsOpCode::Data(WsData::Text)
                    } else {
                        WsOpCode::Data(WsData::Continue)
                    };
                    let last = end == bytes.len();
                    let frame = WsFrame::message(bytes.slice(start..end), opcode, last);
                    self.send_raw(Message::Frame(frame)).await?;
                    if last {
                        return Ok(());
                    }
                    start = end;
                }
            }
            Fault::Ping(payload) => self.send_raw(Message::Ping(Bytes::from(payload))).await,
            Fault::Delay(d) => {
                let until = Instant::now() + d;
                self.paused_until = Some(self.paused_until.map_or(until, |u| u.max(until)));
                Ok(())
            }
            Fault::UnknownEvent => {
                self.emit(
                    "SIM_UNKNOWN_EVENT",
                    "{\"note\":\"an event no client knows\"}",
                );
                Ok(())
            }
            Fault::HugeGuildCreate(bytes) => {
                let d = fixtures::guild_create_sized(fixtures::guild_id(0), bytes);
                self.emit("GUILD_CREATE", &d);
                Ok(())
            }
            Fault::Burst(n) => {
                for i in 0..n {
                    let d = fixtures::message_create(
                        fixtures::TEMPLATE_GUILD_ID,
                        fixtures::DEFAULT_CHANNEL_ID,
                        &format!("burst message {i}"),
                    );
                    self.emit("MESSAGE_CREATE", &d);
                }
                Ok(())
            }
        }
    }

    /// Sends a close frame, waits (briefly) for the client's answer so the frame is not lost to a
    /// reset, and applies what the code means for the session.
    async fn close(&mut self, code: u16, reason: &str) -> End {
        let frame = CloseFrame {
            code: WsCloseCode::from(code),
            reason: Utf8Bytes::from(reason.to_owned()),
        };
        if let Some(sid) = self.session.as_ref().filter(|_| close_ends_session(code)) {
            lock(&self.shared.sessions).invalidate(sid);
        }
        self.shared
            .count(|c| *c.server_closes.entry(code).or_default() += 1);
        self.shared.record(self.id, |r| r.server_close = Some(code));
        if self.ws.close(Some(frame)).await.is_ok() {
            let drain = async { while let Some(Ok(_)) = self.ws.next().await {} };
            let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
        }
        End::ServerClosed(code)
    }

    fn finish(self, end: End) {
        let now = std::time::Instant::now();
        lock(&self.shared.conns).remove(&self.id);
        if let Some(sid) = &self.session {
            let mut sessions = lock(&self.shared.sessions);
            match end {
                // A client closing with 1000/1001 ends its session (reference §4).
                End::ClientClosed(1000 | 1001) => sessions.invalidate(sid),
                End::ServerClosed(code) if close_ends_session(code) => sessions.invalidate(sid),
                _ => sessions.detach(sid, self.id, now),
            }
        }
        self.shared.record(self.id, |r| {
            r.ended = true;
            if let End::ClientClosed(code) = end {
                r.client_close = Some(code);
            }
        });
        self.shared.count(|c| {
            c.open_connections = c.open_connections.saturating_sub(1);
            match end {
                End::ClientClosed(code) => *c.client_closes.entry(code).or_default() += 1,
                End::ClientDropped => c.client_drops += 1,
                End::ServerClosed(_) | End::ServerDropped => {}
            }
        });
    }
}

/// A snowflake given as a string (or, tolerantly, a number).
fn snowflake(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}
