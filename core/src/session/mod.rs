//! The session state machine: one shard's conversation with the gateway, without I/O.
//!
//! # Driving it
//!
//! The driver owns the socket and the clock. It hands inputs in with `handle_*` and drains
//! outputs with `poll_*`, in this order, after every input and after every wake-up:
//!
//! 1. [`Session::poll_transmit`] until `None`: messages (and close frames) to send, in order.
//! 2. [`Session::poll_event`] until `None`: lifecycle events.
//! 3. [`Session::poll_connect`]: when `Some`, drop any current socket and dial the URL it names,
//!    then call [`Session::handle_open`] (or [`Session::handle_transport_lost`] if dialing failed).
//! 4. [`Session::poll_timeout`]: sleep until then (or until the next message), then call
//!    [`Session::handle_timeout`].
//!
//! Dispatches come back directly from [`Session::handle_message`], borrowed from the message, so
//! their data is never copied. Spurious wake-ups and extra polls are harmless.
//!
//! When the connection ends, the driver says how: a close frame through
//! [`Session::handle_message`], [`Session::handle_message_too_large`] when its transport refused a
//! message over the size limit, and [`Session::handle_transport_lost`] for anything else. What
//! follows is decided in one place, [`DisconnectCause::recovery`].

mod config;
mod durable;
mod error;
mod event;
mod heartbeat;
mod identify_limit;
mod rate_limit;
mod rng;
mod trust;
#[cfg(feature = "serde-json-core")]
mod typed;

use core::borrow::Borrow;
use core::fmt;
use core::time::Duration;

pub use config::{
    Backoff, Compression, Config, ConfigBuilder, ConfigError, API_VERSION, DEFAULT_GATEWAY_URL,
    DEFAULT_HANDSHAKE_TIMEOUT, MAX_PROPERTY_LEN,
};
pub use durable::ResumeState;
pub use error::{HandleError, ProtocolError, SendError};
pub use event::{
    CloseKind, DisconnectCause, DispatchRef, Event, Next, Stop, UrlSource,
    MESSAGE_TOO_LARGE_ATTEMPTS,
};
pub use identify_limit::{
    BudgetPeriod, Grant, IdentifyLimiter, SessionBudget, TooManyBuckets, Verdict, Wait, WaitReason,
    BUDGET_PERIOD, IDENTIFY_WINDOW, MAX_CONCURRENCY_CAP,
};
pub use rate_limit::{send_margin, SEND_LIMIT, SEND_WINDOW};
pub use trust::{vouches_for, UrlRefusal, DISCORD_GATEWAY_DOMAIN, DISCORD_GATEWAY_HOST};
#[cfg(feature = "serde-json-core")]
pub use typed::DataError;

use crate::codec::{etf, parse_invalid_session, Encoding, Envelope, EventName, Hello, Ready};
use crate::command::{
    encode_into_as, ConnectionProperties, Encode, Heartbeat, Identify, Resume, UpdatePresence,
    MAX_PAYLOAD_LEN,
};
use crate::protocol::{CloseCode, EventType, OpCode, Recovery, ShardId};
use crate::time::Instant;
use heartbeat::{Beat, Heartbeater};
use rate_limit::SendLimiter;
use rng::Jitter;

/// The buffer [`Session::poll_transmit`] and [`Session::send_command`] write into: Discord
/// refuses anything larger, so one of these always suffices.
pub type SendBuffer = [u8; MAX_PAYLOAD_LEN];

/// The code the session closes with when it means to resume (the close-code table's).
const RESUME_CLOSE: CloseCode = CloseCode::RESUME;
/// How many lifecycle events may wait undrained; each input adds at most three.
const EVENT_CAPACITY: usize = 8;
const EVENTS_PER_INPUT: usize = 3;
/// After this many failed attempts in a row, resumes dial the configured gateway URL instead of
/// the one READY named, in case that host is gone.
const RESUME_URL_ATTEMPTS: u32 = 3;
/// How long Discord's docs (before 2022) told clients to wait, at random, before identifying
/// again after an Invalid Session.
const INVALID_SESSION_WAIT: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(5));

/// A websocket message received from the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'m> {
    /// A text frame.
    Text(&'m [u8]),
    /// A binary frame, already decompressed by the transport.
    Binary(&'m [u8]),
    /// A close frame, with its code if it had one.
    Close(Option<CloseCode>),
}

/// Something to send on the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transmit<'b> {
    /// A text frame with this payload (JSON).
    Text(&'b [u8]),
    /// A binary frame with this payload (ETF).
    Binary(&'b [u8]),
    /// A close frame with this code; the connection is finished after it.
    Close(CloseCode),
}

/// Where the session wants to connect next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connect<'s> {
    /// The URL to dial, with the query the session needs.
    pub url: ConnectUrl<'s>,
    /// Whether the connection will resume a session (otherwise it identifies a new one).
    pub resume: bool,
}

/// A gateway URL with `?v=10&encoding=json` (or `etf`) and the compression parameter appended.
/// Write it with `Display` (`to_string()` where `alloc` is available).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectUrl<'s> {
    base: &'s str,
    encoding: Encoding,
    compression: Compression,
}

impl ConnectUrl<'_> {
    /// The URL without the query.
    #[must_use]
    pub const fn base(&self) -> &str {
        self.base
    }
}

impl fmt::Display for ConnectUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.base)?;
        if self.base.contains('?') {
            f.write_str("&")?;
        } else {
            let after_scheme = self
                .base
                .split_once("://")
                .map_or(self.base, |(_, rest)| rest);
            f.write_str(if after_scheme.contains('/') {
                "?"
            } else {
                "/?"
            })?;
        }
        write!(f, "v={API_VERSION}&encoding={}", self.encoding.as_str())?;
        if let Some(compress) = self.compression.query_value() {
            write!(f, "&compress={compress}")?;
        }
        Ok(())
    }
}

/// Where a session stands, for display and for drivers deciding what to wait on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// Waiting to connect (initially, or backing off after a disconnect).
    Waiting,
    /// The driver is dialing.
    Connecting,
    /// Connected, waiting for Hello.
    AwaitingHello,
    /// Hello received; waiting for an identify permit.
    AwaitingPermit,
    /// Identify sent; waiting for READY.
    Identifying,
    /// Resume sent; replayed dispatches flow until RESUMED.
    Resuming,
    /// The session is live.
    Active,
    /// Stopped for good.
    Stopped(Stop),
}

/// What Discord knows this session by, once READY named it.
#[derive(Clone, Debug)]
struct Identity {
    session_id: heapless::String<{ crate::codec::MAX_SESSION_ID_LEN }>,
    resume_url: heapless::String<{ crate::codec::MAX_URL_LEN }>,
}

/// What the session has to send next, in [`Session::poll_transmit`]'s order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Due {
    Close,
    Heartbeat,
    Handshake,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Handshake {
    Identify,
    Resume,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    AwaitingHello {
        deadline: Instant,
    },
    AwaitingPermit,
    /// Identify sent (or about to be); READY is due by `deadline`.
    Identifying {
        deadline: Instant,
    },
    /// Resume sent (or about to be); RESUMED is due by `deadline`, which each replayed
    /// dispatch moves out.
    Resuming {
        replayed: u64,
        deadline: Instant,
    },
    Active,
}

/// Everything that lives and dies with one websocket connection.
#[derive(Clone, Debug)]
struct Connection {
    stage: Stage,
    /// Started by Hello.
    heart: Option<Heartbeater>,
    /// Identify or Resume, decided on Hello, waiting to be sent.
    handshake: Option<Handshake>,
    limiter: SendLimiter,
    /// A command was refused for the rate limit; wake the driver when it may go.
    command_wake: Option<Instant>,
    /// A heartbeat was acknowledged after READY or RESUMED: the connection proved stable, so
    /// the failure count starts again from zero.
    stable: bool,
}

// The open connection is the large variant (its send log is most of it). Without an allocator it
// cannot be boxed, and a session is one fixed-size value either way.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
enum Phase {
    Waiting { at: Instant },
    Connecting,
    Open(Connection),
    Stopped(Stop),
}

/// One shard's gateway session. See the [module docs](self) for how to drive it.
///
/// `C` is how the session holds its [`Config`]: by value (the default), or through a shared
/// pointer such as `Arc<Config>` when many shards of one bot run with one configuration
/// ([`Session::for_shard`]), so a process with a thousand shards keeps one copy of the token,
/// presence and URL rather than a thousand.
#[derive(Clone, Debug)]
pub struct Session<C = Config> {
    config: C,
    /// Which shard this is: the configuration's own, or the one [`Session::for_shard`] gave.
    shard: ShardId,
    identity: Option<Identity>,
    /// The last sequence number received in this session.
    seq: Option<u64>,
    phase: Phase,
    /// A close frame the driver has yet to send for the connection just left.
    pending_close: Option<CloseCode>,
    /// Connection attempts in a row that did not prove stable (a heartbeat acknowledged after
    /// READY or RESUMED).
    failures: u32,
    /// The sequence number at which connections were lost to a message over the size limit,
    /// and how many.
    too_large: Option<(Option<u64>, u32)>,
    jitter: Jitter,
    events: heapless::Deque<Event, EVENT_CAPACITY>,
}

impl<C: Borrow<Config>> Session<C> {
    /// A session that will identify on its first connection, which it asks for at once.
    #[must_use]
    pub fn new(config: C) -> Self {
        let (shard, seed) = {
            let config = config.borrow();
            (config.shard, config.seed)
        };
        Self::for_shard(config, shard, seed)
    }

    /// A session for `shard` under a configuration other shards share: `config`'s own shard and
    /// seed are not used. `seed` feeds this session's heartbeat jitter and backoff; give each
    /// shard its own, so a fleet does not beat in step.
    ///
    /// [`ConfigBuilder::build`] proved that the Identify fits for the widest shard id, so any
    /// `shard` here is sendable.
    #[must_use]
    pub fn for_shard(config: C, shard: ShardId, seed: u64) -> Self {
        Self {
            config,
            shard,
            identity: None,
            seq: None,
            phase: Phase::Waiting { at: Instant::ZERO },
            pending_close: None,
            failures: 0,
            too_large: None,
            jitter: Jitter::new(seed),
            events: heapless::Deque::new(),
        }
    }

    /// A session that will resume `state` (exported by [`Session::resume_state`], possibly in
    /// another process) on its first connection.
    ///
    /// The state's resume URL is used only where the configured gateway vouches for it
    /// ([`vouches_for`]): a store can be written by others than this bot, and Resume carries
    /// the token. An URL it does not vouch for is dropped and the session resumes at the
    /// configured gateway (with the same session id and sequence), after queueing
    /// [`Event::ResumeUrlRefused`] for the driver to report.
    ///
    /// # Errors
    /// [`ConfigError::UrlScheme`] when the state's resume URL is not a websocket URL, and
    /// [`ConfigError::EmptySessionId`] when it names no session.
    pub fn restore(config: C, state: &ResumeState) -> Result<Self, ConfigError> {
        Self::new(config).resuming(state)
    }

    /// This new session, set to resume `state` on its first connection instead of
    /// identifying: [`Session::restore`] for a session made by [`Session::for_shard`].
    ///
    /// # Errors
    /// As [`Session::restore`].
    pub fn resuming(mut self, state: &ResumeState) -> Result<Self, ConfigError> {
        let mut resume_url = config::parse_url(&state.resume_gateway_url)?;
        if state.session_id.is_empty() {
            return Err(ConfigError::EmptySessionId);
        }
        let gateway_url = &self.config.borrow().gateway_url;
        if let Err(reason) = vouches_for(gateway_url, &resume_url) {
            resume_url.clone_from(gateway_url);
            self.push(Event::ResumeUrlRefused {
                source: UrlSource::Stored,
                reason,
            });
        }
        self.identity = Some(Identity {
            session_id: state.session_id.clone(),
            resume_url,
        });
        self.seq = Some(state.seq);
        Ok(self)
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        self.config.borrow()
    }

    /// The shard this session is.
    #[must_use]
    pub const fn shard(&self) -> ShardId {
        self.shard
    }

    /// Where the session stands.
    #[must_use]
    pub const fn state(&self) -> State {
        match &self.phase {
            Phase::Waiting { .. } => State::Waiting,
            Phase::Connecting => State::Connecting,
            Phase::Stopped(stop) => State::Stopped(*stop),
            Phase::Open(connection) => match connection.stage {
                Stage::AwaitingHello { .. } => State::AwaitingHello,
                Stage::AwaitingPermit => State::AwaitingPermit,
                Stage::Identifying { .. } => State::Identifying,
                Stage::Resuming { .. } => State::Resuming,
                Stage::Active => State::Active,
            },
        }
    }

    /// Whether commands can be sent now.
    #[must_use]
    pub const fn is_active(&self) -> bool {
        matches!(self.state(), State::Active)
    }

    /// The last sequence number received.
    #[must_use]
    pub const fn seq(&self) -> Option<u64> {
        self.seq
    }

    /// The session id, once READY gave one.
    #[must_use]
    pub fn session_id(&self) -> Option<&str> {
        self.identity
            .as_ref()
            .map(|identity| identity.session_id.as_str())
    }

    /// Round-trip time of the last acknowledged heartbeat on the current connection.
    #[must_use]
    pub fn latency(&self) -> Option<Duration> {
        match &self.phase {
            Phase::Open(connection) => connection.heart.as_ref().and_then(Heartbeater::latency),
            _ => None,
        }
    }

    /// What a new process needs to resume this session, when there is one to resume.
    #[must_use]
    pub fn resume_state(&self) -> Option<ResumeState> {
        self.identity.as_ref().map(|identity| ResumeState {
            session_id: identity.session_id.clone(),
            resume_gateway_url: identity.resume_url.clone(),
            seq: self.seq.unwrap_or(0),
        })
    }

    // ---- inputs -------------------------------------------------------------------------

    /// The socket [`Session::poll_connect`] asked for is open.
    pub fn handle_open(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Connecting) {
            self.phase = Phase::Open(Connection {
                stage: Stage::AwaitingHello {
                    deadline: now + self.config.borrow().hello_timeout,
                },
                heart: None,
                handshake: None,
                limiter: SendLimiter::new(now, self.config.borrow().send_window),
                command_wake: None,
                stable: false,
            });
        }
    }

    /// The transport ended without a close frame, or dialing failed.
    pub fn handle_transport_lost(&mut self, now: Instant) {
        let cause = match self.phase {
            Phase::Connecting => DisconnectCause::DialFailed,
            Phase::Open(_) => DisconnectCause::TransportLost,
            Phase::Waiting { .. } | Phase::Stopped(_) => return,
        };
        self.disconnect(now, cause, None);
    }

    /// The transport ended the connection because a message was over its size limit (a
    /// websocket frame, or a payload inflated past it). Resuming replays that message, so the
    /// session resumes at most [`MESSAGE_TOO_LARGE_ATTEMPTS`]` - 1` times at one sequence number
    /// and then stops with [`Stop::MessageTooLarge`]. Outside a connection this is
    /// [`Session::handle_transport_lost`].
    pub fn handle_message_too_large(&mut self, now: Instant) {
        if !matches!(self.phase, Phase::Open(_)) {
            return self.handle_transport_lost(now);
        }
        let attempt = match self.too_large {
            Some((at, count)) if at == self.seq => count.saturating_add(1),
            _ => 1,
        };
        self.too_large = Some((self.seq, attempt));
        self.disconnect(now, DisconnectCause::MessageTooLarge { attempt }, None);
    }

    /// A message too large to take went by, and its first bytes told its head
    /// ([`crate::codec::read_head`]): `op`, the event `t` names ([`EnvelopeHead::event_type`])
    /// and `s`. A dispatch is counted exactly as if it had been read (the sequence number, gap
    /// and stale checks, a resume's replay count and deadline) and the connection carries on;
    /// only its data is lost. READY cannot be: without its session id there is nothing to
    /// resume and identifying again brings the same READY, so the session ends the session
    /// Discord started (close 1000) and stops with [`Stop::ReadyTooLarge`]. Any other opcode
    /// (none is ever large) is [`Session::handle_message_too_large`]. A message whose head the
    /// prefix did not tell goes to [`Session::handle_message_too_large`] as well.
    ///
    /// [`EnvelopeHead::event_type`]: crate::codec::EnvelopeHead::event_type
    ///
    /// Returns whether the message was counted and the connection goes on; `false` when the
    /// session left the connection (READY, another opcode) or has none.
    ///
    /// # Errors
    /// As [`Session::handle_message`]: [`HandleError::EventsNotDrained`], or a dispatch before
    /// Hello. The session is left exactly as it was.
    pub fn handle_skipped_message(
        &mut self,
        now: Instant,
        op: OpCode,
        kind: Option<EventType>,
        seq: Option<u64>,
    ) -> Result<bool, HandleError> {
        if self.events.len() + EVENTS_PER_INPUT > EVENT_CAPACITY {
            return Err(HandleError::EventsNotDrained);
        }
        let Phase::Open(connection) = &self.phase else {
            return Ok(false);
        };
        if op != OpCode::Dispatch {
            self.handle_message_too_large(now);
            return Ok(false);
        }
        if matches!(connection.stage, Stage::AwaitingHello { .. }) {
            return Err(ProtocolError::DispatchBeforeHello.into());
        }
        if kind == Some(EventType::Ready) {
            self.identity = None;
            self.seq = None;
            self.disconnect(now, DisconnectCause::ReadyTooLarge, Some(CloseCode::Normal));
            return Ok(false);
        }
        self.count_dispatch(now, kind, seq);
        Ok(true)
    }

    /// A whole websocket message arrived. Returns the dispatch it carried, if the application
    /// wants it; lifecycle consequences are queued for [`Session::poll_event`].
    ///
    /// # Errors
    /// A [`HandleError`] when the message is malformed or breaks the protocol. The session is
    /// left exactly as it was; the connection carries on.
    pub fn handle_message<'m>(
        &mut self,
        now: Instant,
        message: Message<'m>,
    ) -> Result<Option<DispatchRef<'m>>, HandleError> {
        if self.events.len() + EVENTS_PER_INPUT > EVENT_CAPACITY {
            return Err(HandleError::EventsNotDrained);
        }
        if !matches!(self.phase, Phase::Open(_)) {
            // Left over from a connection the session already gave up on.
            return Ok(None);
        }
        match message {
            Message::Close(code) => {
                // RFC 6455 reports a close frame without a code as 1005 (no status received).
                let code = code.unwrap_or(CloseCode::Other(1005));
                self.disconnect(now, DisconnectCause::ServerClosed(code), None);
                Ok(None)
            }
            Message::Text(payload) | Message::Binary(payload) => self.handle_payload(now, payload),
        }
    }

    /// An identify permit arrived (after [`Event::IdentifyPermitNeeded`]). Returns whether it
    /// was used; a permit that comes when none is needed is not.
    pub fn handle_identify_permit(&mut self, now: Instant) -> bool {
        let timeout = self.config.borrow().handshake_timeout;
        match &mut self.phase {
            Phase::Open(connection) if connection.stage == Stage::AwaitingPermit => {
                connection.stage = Stage::Identifying {
                    deadline: now + timeout,
                };
                connection.handshake = Some(Handshake::Identify);
                true
            }
            _ => false,
        }
    }

    /// Time passed: checks the heartbeat (zombie detection) and the Hello and handshake
    /// deadlines.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Phase::Open(connection) = &mut self.phase else {
            return;
        };
        if connection.command_wake.is_some_and(|at| at <= now) {
            connection.command_wake = None;
        }
        let cause = match (connection.stage, &connection.heart) {
            (Stage::AwaitingHello { deadline }, _) if now >= deadline => {
                DisconnectCause::HelloTimeout
            }
            (Stage::Identifying { deadline } | Stage::Resuming { deadline, .. }, _)
                if now >= deadline =>
            {
                DisconnectCause::HandshakeTimeout
            }
            (_, Some(heart)) if heart.poll(now) == Beat::Zombie => DisconnectCause::Zombie,
            _ => return,
        };
        self.disconnect(now, cause, Some(RESUME_CLOSE));
    }

    /// Closes the session. [`CloseKind::Resumable`] closes the connection with a code that
    /// keeps the session alive on Discord's side for a few minutes, so [`Session::resume_state`]
    /// can be resumed by a later process; [`CloseKind::EndSession`] ends it (close 1000) and the
    /// bot goes offline.
    pub fn close(&mut self, kind: CloseKind) {
        let resumable = kind == CloseKind::Resumable;
        if matches!(self.phase, Phase::Stopped(_)) {
            return;
        }
        if matches!(self.phase, Phase::Open(_)) {
            self.pending_close = Some(if resumable {
                RESUME_CLOSE
            } else {
                CloseCode::Normal
            });
        }
        if !resumable {
            self.identity = None;
            self.seq = None;
        }
        let stop = Stop::Closed(kind);
        self.phase = Phase::Stopped(stop);
        self.push(Event::Stopped(stop));
    }

    /// Encodes a command into `buf` and returns the payload to send, counting it against the
    /// connection's rate limit (which always keeps room for heartbeats).
    ///
    /// # Errors
    /// A [`SendError`] when the session is not active, the limit is reached (with the time it
    /// frees up), the opcode is the session's own, or the command cannot be encoded. Nothing is
    /// counted then.
    pub fn send_command<'b>(
        &mut self,
        now: Instant,
        command: &impl Encode,
        buf: &'b mut SendBuffer,
    ) -> Result<&'b [u8], SendError> {
        self.check_command(now, command.opcode())?;
        let len = encode_into_as(self.config.borrow().encoding, command, buf)?;
        self.count_command(now);
        Ok(&buf[..len])
    }

    /// Admits a command the caller has already encoded (with [`crate::command::encode_into`])
    /// and will send as it is, counting it against the connection's rate limit: for drivers
    /// that encode a command once, when it is queued, and hand those bytes to the socket.
    ///
    /// # Errors
    /// As [`Session::send_command`], but for encoding; nothing is counted then.
    pub fn admit_command(&mut self, now: Instant, op: OpCode) -> Result<(), SendError> {
        self.check_command(now, op)?;
        self.count_command(now);
        Ok(())
    }

    /// Whether a command with opcode `op` may go out now.
    fn check_command(&mut self, now: Instant, op: OpCode) -> Result<(), SendError> {
        if op.is_session_owned() {
            return Err(SendError::Reserved(op));
        }
        let Phase::Open(connection) = &mut self.phase else {
            return Err(SendError::NotReady);
        };
        if connection.stage != Stage::Active {
            return Err(SendError::NotReady);
        }
        let reserve =
            heartbeat_reserve(connection.heart.as_ref(), self.config.borrow().send_window);
        let ready_at = connection.limiter.ready_at(now, reserve);
        if ready_at > now {
            connection.command_wake = Some(
                connection
                    .command_wake
                    .map_or(ready_at, |at| at.min(ready_at)),
            );
            return Err(SendError::RateLimited { ready_at });
        }
        Ok(())
    }

    /// Counts a command that passed [`Session::check_command`] against the rate limit.
    fn count_command(&mut self, now: Instant) {
        if let Phase::Open(connection) = &mut self.phase {
            connection.limiter.record(now);
        }
    }

    // ---- outputs ------------------------------------------------------------------------

    /// The next message the session itself needs sent: a close frame for a connection it left,
    /// a heartbeat, Identify or Resume.
    #[must_use]
    pub fn poll_transmit<'b>(
        &mut self,
        now: Instant,
        buf: &'b mut SendBuffer,
    ) -> Option<Transmit<'b>> {
        let due = self.due_transmit(now)?;
        if let Some(code) = self.pending_close.take() {
            return Some(Transmit::Close(code));
        }
        let Phase::Open(connection) = &mut self.phase else {
            return None;
        };
        if let (Due::Heartbeat, Some(heart)) = (due, &mut connection.heart) {
            let len = encode_into_as(
                self.config.borrow().encoding,
                &Heartbeat { seq: self.seq },
                buf,
            )
            .ok()?;
            heart.sent(now);
            connection.limiter.record(now);
            return Some(frame(self.config.borrow().encoding, &buf[..len]));
        }
        let handshake = connection.handshake?;
        let len = match handshake {
            Handshake::Identify => encode_identify(self.config.borrow(), self.shard, buf),
            Handshake::Resume => {
                let identity = self.identity.as_ref()?;
                let resume = Resume {
                    token: &self.config.borrow().token,
                    session_id: &identity.session_id,
                    seq: self.seq.unwrap_or(0),
                };
                encode_into_as(self.config.borrow().encoding, &resume, buf).ok()
            }
        }?;
        connection.handshake = None;
        connection.limiter.record(now);
        if handshake == Handshake::Identify {
            // A new session numbers its dispatches from 1 again.
            self.seq = None;
        }
        Some(frame(self.config.borrow().encoding, &buf[..len]))
    }

    /// Whether [`Session::poll_transmit`] has something now, without taking it: a driver whose
    /// socket is not ready to write checks this before it waits on the socket, so nothing
    /// is taken from the session that the socket cannot take.
    #[must_use]
    pub fn has_transmit(&self, now: Instant) -> bool {
        self.due_transmit(now).is_some()
    }

    /// What [`Session::poll_transmit`] would send now: the one decision both share.
    fn due_transmit(&self, now: Instant) -> Option<Due> {
        if self.pending_close.is_some() {
            return Some(Due::Close);
        }
        let Phase::Open(connection) = &self.phase else {
            return None;
        };
        if connection.limiter.ready_at(now, 0) > now {
            return None;
        }
        if connection
            .heart
            .as_ref()
            .is_some_and(|heart| heart.poll(now) == Beat::Send)
        {
            return Some(Due::Heartbeat);
        }
        match connection.handshake? {
            Handshake::Resume if self.identity.is_none() => None,
            _ => Some(Due::Handshake),
        }
    }

    /// The next lifecycle event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether the session wants a new connection now. When it does, the driver drops any
    /// socket it still holds and dials [`Connect::url`].
    #[must_use]
    pub fn poll_connect(&mut self, now: Instant) -> Option<Connect<'_>> {
        match self.phase {
            Phase::Waiting { at } if at <= now => {}
            _ => return None,
        }
        self.phase = Phase::Connecting;
        let resume = self.identity.is_some();
        let base = match &self.identity {
            Some(identity) if self.failures < RESUME_URL_ATTEMPTS => identity.resume_url.as_str(),
            _ => self.config.borrow().gateway_url.as_str(),
        };
        Some(Connect {
            url: ConnectUrl {
                base,
                encoding: self.config.borrow().encoding,
                compression: self.config.borrow().compression,
            },
            resume,
        })
    }

    /// When the session next needs [`Session::handle_timeout`] (or [`Session::poll_connect`]
    /// and [`Session::poll_transmit`]) called, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Waiting { at } => Some(*at),
            Phase::Connecting | Phase::Stopped(_) => None,
            Phase::Open(connection) => {
                let hello = match connection.stage {
                    Stage::AwaitingHello { deadline }
                    | Stage::Identifying { deadline }
                    | Stage::Resuming { deadline, .. } => Some(deadline),
                    Stage::AwaitingPermit | Stage::Active => None,
                };
                // A due heartbeat held back by the rate limit wakes when the limit frees up.
                let limit_free = connection.limiter.ready_at(Instant::ZERO, 0);
                let heart = connection
                    .heart
                    .as_ref()
                    .map(|heart| heart.next_due().max(limit_free));
                [hello, heart, connection.command_wake]
                    .into_iter()
                    .flatten()
                    .min()
            }
        }
    }

    // ---- internals ----------------------------------------------------------------------

    fn handle_payload<'m>(
        &mut self,
        now: Instant,
        payload: &'m [u8],
    ) -> Result<Option<DispatchRef<'m>>, HandleError> {
        let config = self.config.borrow();
        let envelope = Envelope::decode_as(config.encoding, payload, |name| {
            wanted_internally(name) || config_wants(config, name)
        })?;
        let Phase::Open(connection) = &mut self.phase else {
            return Ok(None);
        };
        match envelope.op() {
            OpCode::Dispatch if matches!(connection.stage, Stage::AwaitingHello { .. }) => {
                Err(ProtocolError::DispatchBeforeHello.into())
            }
            OpCode::Dispatch => self.handle_dispatch(now, envelope),
            OpCode::Heartbeat => {
                if let Some(heart) = &mut connection.heart {
                    heart.request();
                }
                Ok(None)
            }
            OpCode::HeartbeatAck => {
                let answered = connection
                    .heart
                    .as_mut()
                    .is_some_and(|heart| heart.acknowledged(now));
                if answered && connection.stage == Stage::Active && !connection.stable {
                    // Accepted and still answering: only now is the failure count behind us.
                    // READY or RESUMED alone is not enough, or a gateway that drops every
                    // session right after accepting it would be redialled without delay.
                    connection.stable = true;
                    self.failures = 0;
                }
                Ok(None)
            }
            OpCode::Hello => {
                if !matches!(connection.stage, Stage::AwaitingHello { .. }) {
                    return Ok(None);
                }
                let data = envelope
                    .data()
                    .ok_or(ProtocolError::MissingData { op: OpCode::Hello })?;
                let interval = match envelope.encoding() {
                    Encoding::Json => Hello::parse(data)?,
                    Encoding::Etf => etf::hello(data)?,
                }
                .heartbeat_interval;
                if interval.is_zero() {
                    return Err(ProtocolError::ZeroHeartbeatInterval.into());
                }
                let first = self.jitter.below(interval);
                connection.heart = Some(Heartbeater::start(now, interval, first));
                if self.identity.is_some() {
                    connection.stage = Stage::Resuming {
                        replayed: 0,
                        deadline: now + self.config.borrow().handshake_timeout,
                    };
                    connection.handshake = Some(Handshake::Resume);
                } else {
                    connection.stage = Stage::AwaitingPermit;
                    self.push(Event::IdentifyPermitNeeded);
                }
                Ok(None)
            }
            OpCode::Reconnect => {
                self.disconnect(now, DisconnectCause::Reconnect, Some(RESUME_CLOSE));
                Ok(None)
            }
            OpCode::InvalidSession => {
                let resumable = match envelope.encoding() {
                    Encoding::Json => parse_invalid_session(envelope.data())?,
                    Encoding::Etf => etf::invalid_session(envelope.data())?,
                };
                self.disconnect(
                    now,
                    DisconnectCause::InvalidSession { resumable },
                    Some(RESUME_CLOSE),
                );
                Ok(None)
            }
            // Undocumented opcodes (and client-only ones echoed back) are ignored, as Discord
            // asks of clients.
            _ => Ok(None),
        }
    }

    fn handle_dispatch<'m>(
        &mut self,
        now: Instant,
        envelope: Envelope<'m>,
    ) -> Result<Option<DispatchRef<'m>>, HandleError> {
        let kind = envelope.event_type();
        // READY means Discord accepted the Identify, so it always brings the connection live;
        // only what it names decides whether the session can later be resumed.
        let ready = (kind == Some(EventType::Ready)).then(|| self.identity_from(&envelope));

        let fresh = self.count_sequence(envelope.seq());
        let Phase::Open(connection) = &mut self.phase else {
            return Ok(None);
        };
        if let Some(identity) = ready {
            connection.stage = Stage::Active;
            self.push(Event::Ready);
            match identity {
                Ok((identity, refused)) => {
                    self.identity = Some(identity);
                    if let Some(reason) = refused {
                        self.push(Event::ResumeUrlRefused {
                            source: UrlSource::Ready,
                            reason,
                        });
                    }
                }
                Err(reason) => {
                    self.identity = None;
                    self.push(Event::NotResumable(reason));
                }
            }
        } else {
            self.count_progress(now, kind, fresh);
        }

        let wanted = envelope
            .name()
            .is_some_and(|name| config_wants(self.config.borrow(), name));
        Ok((fresh && wanted).then(|| DispatchRef::new(envelope)))
    }

    /// A dispatch other than READY that was skipped: counted as [`Session::handle_dispatch`]
    /// counts one.
    fn count_dispatch(&mut self, now: Instant, kind: Option<EventType>, seq: Option<u64>) {
        let fresh = self.count_sequence(seq);
        self.count_progress(now, kind, fresh);
    }

    /// What RESUMED and a resume's replayed dispatches do to the connection's stage.
    fn count_progress(&mut self, now: Instant, kind: Option<EventType>, fresh: bool) {
        let Phase::Open(connection) = &mut self.phase else {
            return;
        };
        if kind == Some(EventType::Resumed) {
            if let Stage::Resuming { replayed, .. } = connection.stage {
                connection.stage = Stage::Active;
                self.push(Event::Resumed { replayed });
            }
        } else if let Stage::Resuming { replayed, deadline } = &mut connection.stage {
            if fresh {
                *replayed += 1;
                // A replay is the gateway making progress on the Resume, and a long outage
                // can take a while to replay: the deadline bounds silence, not the replay.
                *deadline = now + self.config.borrow().handshake_timeout;
            }
        }
    }

    /// The sequence check of a dispatch: gap and stale events, and the number remembered.
    /// Returns whether it is fresh (not stale). It decides what is delivered and remembered,
    /// never whether READY or RESUMED change the session's state.
    fn count_sequence(&mut self, received: Option<u64>) -> bool {
        let mut fresh = true;
        if let Some(received) = received {
            match self.seq {
                Some(last) if received <= last => {
                    self.push(Event::StaleDispatch { last, received });
                    fresh = false;
                }
                Some(last) if received != last + 1 => {
                    self.push(Event::SequenceGap {
                        expected: last + 1,
                        received,
                    });
                }
                _ => {}
            }
            if fresh {
                self.seq = Some(received);
            }
        }
        fresh
    }

    /// What READY names this session by, or why it cannot be resumed. A missing or unusable
    /// resume URL falls back to the configured gateway URL, which can resume any session; so
    /// does one the configured gateway does not vouch for ([`vouches_for`]), and why is
    /// returned beside the identity.
    fn identity_from(
        &self,
        envelope: &Envelope<'_>,
    ) -> Result<(Identity, Option<UrlRefusal>), ProtocolError> {
        let data = envelope.data().unwrap_or(envelope.encoding().null());
        let ready = match envelope.encoding() {
            Encoding::Json => Ready::parse(data),
            Encoding::Etf => etf::ready(data),
        }
        .map_err(ProtocolError::UnusableSessionId)?;
        let session_id = ready.session_id.map_err(ProtocolError::UnusableSessionId)?;
        if session_id.is_empty() {
            return Err(ProtocolError::EmptySessionId);
        }
        let gateway_url = &self.config.borrow().gateway_url;
        let mut refused = None;
        let resume_url = ready
            .resume_gateway_url
            .ok()
            .and_then(|url| config::parse_url(&url).ok())
            .filter(|url| match vouches_for(gateway_url, url) {
                Ok(()) => true,
                Err(reason) => {
                    refused = Some(reason);
                    false
                }
            })
            .unwrap_or_else(|| gateway_url.clone());
        Ok((
            Identity {
                session_id,
                resume_url,
            },
            refused,
        ))
    }

    /// Leaves the current connection (or dial attempt) and decides what comes next.
    fn disconnect(&mut self, now: Instant, cause: DisconnectCause, close: Option<CloseCode>) {
        let stable = matches!(&self.phase, Phase::Open(connection) if connection.stable);
        if matches!(self.phase, Phase::Open(_)) {
            self.pending_close = close;
        }
        let recovery = cause.recovery();
        if recovery == Recovery::Fatal {
            let stop = match cause {
                DisconnectCause::ServerClosed(code) => Stop::Fatal(code),
                DisconnectCause::MessageTooLarge { .. } => Stop::MessageTooLarge,
                DisconnectCause::ReadyTooLarge => Stop::ReadyTooLarge,
                _ => Stop::Fatal(CloseCode::UnknownError),
            };
            self.phase = Phase::Stopped(stop);
            self.push(Event::Disconnected {
                cause,
                next: Next::Stop,
            });
            self.push(Event::Stopped(stop));
            return;
        }
        if recovery == Recovery::Reidentify {
            self.identity = None;
            self.seq = None;
        }
        self.failures = if stable {
            0
        } else {
            self.failures.saturating_add(1)
        };
        let mut after = self.backoff();
        if cause == (DisconnectCause::InvalidSession { resumable: false }) {
            after = after.max(
                self.jitter
                    .between(INVALID_SESSION_WAIT.0, INVALID_SESSION_WAIT.1),
            );
        }
        self.phase = Phase::Waiting { at: now + after };
        let next = if self.identity.is_some() {
            Next::Resume { after }
        } else {
            Next::Identify { after }
        };
        self.push(Event::Disconnected { cause, next });
    }

    /// The wait before the next attempt: none after a connection that proved stable, then
    /// doubling.
    fn backoff(&mut self) -> Duration {
        if self.failures == 0 {
            return Duration::ZERO;
        }
        let Backoff { initial, max } = self.config.borrow().backoff;
        let exponent = (self.failures - 1).min(20);
        let full = initial.saturating_mul(1 << exponent).min(max);
        self.jitter.between(full / 2, full)
    }

    fn push(&mut self, event: Event) {
        // Room was checked on entry; should a driver ignore that, the oldest event gives way
        // rather than the newest, which says where the session is now.
        if self.events.is_full() {
            self.events.pop_front();
        }
        let _ = self.events.push_back(event);
    }
}

/// Dispatches the session reads for itself whatever the application asked for.
fn wanted_internally(name: &EventName<'_>) -> bool {
    matches!(name.kind(), Some(EventType::Ready | EventType::Resumed))
}

fn config_wants(config: &Config, name: &EventName<'_>) -> bool {
    match name.kind() {
        Some(kind) => config.events.contains(kind),
        None => config.unknown_events,
    }
}

/// A payload in the frame type its encoding travels in.
const fn frame(encoding: Encoding, payload: &[u8]) -> Transmit<'_> {
    match encoding {
        Encoding::Json => Transmit::Text(payload),
        Encoding::Etf => Transmit::Binary(payload),
    }
}

/// How many of the 120 slots per minute stay free for heartbeats: the beats one window can
/// hold at this interval, plus one for a beat the server asks for.
fn heartbeat_reserve(heart: Option<&Heartbeater>, window: Duration) -> usize {
    let Some(heart) = heart else { return 3 };
    let interval = heart.interval().as_millis().max(1);
    let beats = window.as_millis().div_ceil(interval);
    usize::try_from(beats)
        .unwrap_or(usize::MAX)
        .saturating_add(1)
        .clamp(2, SEND_LIMIT / 2)
}

pub(crate) fn encode_identify(
    config: &Config,
    shard: ShardId,
    buf: &mut SendBuffer,
) -> Option<usize> {
    fn identify<'a>(
        config: &'a Config,
        shard: ShardId,
        presence: Option<UpdatePresence<'a>>,
    ) -> Identify<'a> {
        Identify {
            token: &config.token,
            properties: ConnectionProperties {
                os: &config.os,
                browser: &config.library,
                device: &config.library,
            },
            compress: false,
            large_threshold: config.large_threshold,
            shard: Some(shard),
            presence,
            intents: config.intents,
        }
    }
    let encoding = config.encoding;
    match &config.presence {
        Some(owned) => owned.with_borrowed(|presence| {
            encode_into_as(encoding, &identify(config, shard, Some(*presence)), buf)
        }),
        None => encode_into_as(encoding, &identify(config, shard, None), buf),
    }
    .ok()
}
