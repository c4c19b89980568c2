//! What a shard can say about itself: why its connections end ([`ConnectionError`],
//! [`Disconnect`]) and a snapshot of where it stands ([`ShardStatus`]), cheap enough to take
//! every second for a dashboard or a progress line.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use discord_gateway::protocol::{Recovery, ShardId};
use discord_gateway::session::{DisconnectCause, State};

use crate::shard::event::ErrorChain;
use crate::transport::TransportError;

/// What kind of failure ended a connection or a dial, read from its error chain: the part a
/// dashboard groups by, beside the full text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectionErrorKind {
    /// The host answered, but nothing listens on the port (the OS's "connection refused").
    Refused,
    /// The gateway's host name could not be resolved.
    Dns,
    /// The TLS handshake or a TLS record failed (a certificate, a protocol mismatch, a server
    /// that does not speak TLS).
    Tls,
    /// The server answered the websocket upgrade with this HTTP status instead of `101`.
    Http {
        /// The HTTP status code.
        status: u16,
    },
    /// The websocket upgrade failed otherwise (not HTTP, not a websocket server, ...).
    Handshake,
    /// The dial, a write or the socket timed out.
    Timeout,
    /// The peer reset or dropped the connection, or closed it without a close frame.
    Reset,
    /// The compressed stream could not be read.
    Inflate,
    /// Anything else (the text says what).
    Other,
}

/// Why a connection ended or could not be opened, down to the OS or TLS error: the whole error
/// chain as text (`outer: inner: innermost`), and its [`ConnectionErrorKind`].
///
/// It never holds the token: the errors it is made from name the gateway URL at most, and
/// the gateway URL carries no credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionError {
    kind: ConnectionErrorKind,
    chain: Arc<str>,
}

impl ConnectionError {
    /// An error of `kind` with `text` as its whole story.
    #[must_use]
    pub fn new(kind: ConnectionErrorKind, text: impl Into<Arc<str>>) -> Self {
        Self {
            kind,
            chain: text.into(),
        }
    }

    /// A transport's error, with its kind read from its chain.
    #[must_use]
    pub fn from_transport(error: &TransportError) -> Self {
        Self::from_error(error)
    }

    /// Any error, with its kind read from its chain.
    #[must_use]
    pub fn from_error(error: &(dyn std::error::Error + 'static)) -> Self {
        Self {
            kind: classify(error),
            chain: ErrorChain(error).to_string().into(),
        }
    }

    /// What kind of failure this was.
    #[must_use]
    pub const fn kind(&self) -> ConnectionErrorKind {
        self.kind
    }

    /// The whole error chain, `outer: inner: innermost`.
    #[must_use]
    pub fn chain(&self) -> &str {
        &self.chain
    }
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.chain)
    }
}

impl fmt::Debug for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionError")
            .field("kind", &self.kind)
            .field("chain", &&*self.chain)
            .finish()
    }
}

impl std::error::Error for ConnectionError {}

/// Walks the chain from the outside in; the first layer that tells what happened decides.
fn classify(error: &(dyn std::error::Error + 'static)) -> ConnectionErrorKind {
    let mut layer = Some(error);
    while let Some(error) = layer {
        if let Some(kind) = classify_layer(error) {
            return kind;
        }
        layer = error.source().or_else(|| {
            // An `io::Error` that wraps another error hides it from `source()`: it returns
            // the inner error's source, not the inner error (rustls' errors arrive so).
            error
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .map(|inner| inner as &(dyn std::error::Error + 'static))
        });
    }
    ConnectionErrorKind::Other
}

fn classify_layer(error: &(dyn std::error::Error + 'static)) -> Option<ConnectionErrorKind> {
    #[cfg(feature = "async-tungstenite")]
    {
        use crate::transport::handshake::HandshakeError;
        if let Some(handshake) = error.downcast_ref::<HandshakeError>() {
            return match handshake {
                HandshakeError::Status { code, .. } => {
                    Some(ConnectionErrorKind::Http { status: *code })
                }
                _ => Some(ConnectionErrorKind::Handshake),
            };
        }
    }
    #[cfg(feature = "rustls")]
    if error.downcast_ref::<rustls::Error>().is_some() {
        return Some(ConnectionErrorKind::Tls);
    }
    if let Some(io) = error.downcast_ref::<std::io::Error>() {
        use std::io::ErrorKind;
        if let Some(inner) = io.get_ref() {
            // The wrapped error (rustls', say) knows better than the kind it was given.
            if let Some(kind) = classify_layer(inner) {
                return Some(kind);
            }
        }
        let text = io.to_string();
        return Some(match io.kind() {
            ErrorKind::ConnectionRefused => ConnectionErrorKind::Refused,
            ErrorKind::TimedOut => ConnectionErrorKind::Timeout,
            ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof => ConnectionErrorKind::Reset,
            // The standard library reports a failed lookup as an uncategorised error whose text
            // is getaddrinfo's; it has no kind of its own.
            _ if text.contains("lookup")
                || text.contains("Name or service not known")
                || text.contains("nodename nor servname")
                || text.contains("No such host") =>
            {
                ConnectionErrorKind::Dns
            }
            _ => return None,
        });
    }
    if error
        .downcast_ref::<crate::transport::inflate::InflateError>()
        .is_some()
    {
        return Some(ConnectionErrorKind::Inflate);
    }
    None
}

/// One disconnect: the session's reason, and the error behind it when a transport failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disconnect {
    /// Why the session left the connection.
    pub cause: DisconnectCause,
    /// The transport's error behind [`DisconnectCause::DialFailed`] or
    /// [`DisconnectCause::TransportLost`] (`None` for the others).
    pub error: Option<ConnectionError>,
    /// When it happened, on the runtime's clock.
    pub at: Instant,
}

impl Disconnect {
    /// A short, fixed name for the cause, from a small closed set (the `cause` label of the
    /// `discord_gateway_reconnects_total` metric): `close_resume`, `close_reidentify` and
    /// `close_fatal` (the close code's class), `op7_reconnect`, `op9_invalid_session`,
    /// `zombie`, `hello_timeout`, `handshake_timeout`, `message_too_large`, and for a failed
    /// transport
    /// `dial_` or `transport_` followed by `refused`, `dns`, `tls`, `http`, `handshake`,
    /// `timeout`, `reset`, `inflate` or `error`.
    #[must_use]
    pub fn cause_label(&self) -> &'static str {
        cause_label(self.cause, self.error.as_ref())
    }
}

impl fmt::Display for Disconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error {
            Some(error) => write!(f, "{}: {error}", self.cause),
            None => write!(f, "{}", self.cause),
        }
    }
}

/// See [`Disconnect::cause_label`].
pub(crate) fn cause_label(cause: DisconnectCause, error: Option<&ConnectionError>) -> &'static str {
    let kind = error.map_or(ConnectionErrorKind::Other, ConnectionError::kind);
    match cause {
        DisconnectCause::ServerClosed(code) => match code.recovery() {
            Recovery::Resume => "close_resume",
            Recovery::Reidentify => "close_reidentify",
            _ => "close_fatal",
        },
        DisconnectCause::Reconnect => "op7_reconnect",
        DisconnectCause::InvalidSession { .. } => "op9_invalid_session",
        DisconnectCause::Zombie => "zombie",
        DisconnectCause::HelloTimeout => "hello_timeout",
        DisconnectCause::HandshakeTimeout => "handshake_timeout",
        DisconnectCause::MessageTooLarge { .. } => "message_too_large",
        DisconnectCause::DialFailed => match kind {
            ConnectionErrorKind::Refused => "dial_refused",
            ConnectionErrorKind::Dns => "dial_dns",
            ConnectionErrorKind::Tls => "dial_tls",
            ConnectionErrorKind::Http { .. } => "dial_http",
            ConnectionErrorKind::Handshake => "dial_handshake",
            ConnectionErrorKind::Timeout => "dial_timeout",
            ConnectionErrorKind::Reset => "dial_reset",
            _ => "dial_error",
        },
        _ => match kind {
            ConnectionErrorKind::Timeout => "transport_timeout",
            ConnectionErrorKind::Reset => "transport_reset",
            ConnectionErrorKind::Tls => "transport_tls",
            ConnectionErrorKind::Inflate => "transport_inflate",
            _ => "transport_error",
        },
    }
}

/// A snapshot of one shard, from [`Shard::status`](crate::Shard::status) or
/// [`ShardManager::status`](crate::ShardManager::status). Taking one copies a few words and
/// allocates nothing but the (shared) error text's reference count.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShardStatus {
    /// Which shard.
    pub id: ShardId,
    /// Where its session stands: waiting to (re)connect, connecting, waiting for Hello or
    /// for an identify permit, identifying, resuming, live, or stopped.
    pub state: State,
    /// Round-trip time of the last acknowledged heartbeat.
    pub latency: Option<Duration>,
    /// When the last dispatch arrived, on the runtime's clock.
    pub last_event: Option<Instant>,
    /// How many times a connection ended or a dial failed since the shard was built.
    pub reconnects: u64,
    /// Whether the shard holds a session it can resume (Discord named one in READY).
    pub has_session: bool,
    /// The last disconnect, with its cause and error.
    pub last_disconnect: Option<Disconnect>,
}

/// What a shard keeps for its status: small, and touched only on a dispatch, a failure or a
/// disconnect.
#[derive(Debug, Default)]
pub(crate) struct Track {
    pub(crate) reconnects: u64,
    pub(crate) last_event: Option<Instant>,
    pub(crate) last_disconnect: Option<Box<Disconnect>>,
    /// The transport's error, until the session's `Disconnected` event that it caused.
    pending: Option<ConnectionError>,
}

impl Track {
    /// A transport failed: remembers why, for the disconnect the session reports next.
    pub(crate) fn failed(&mut self, error: ConnectionError) {
        self.pending = Some(error);
    }

    /// A new dial starts: an error no disconnect took is stale now.
    pub(crate) fn dialing(&mut self) {
        self.pending = None;
    }

    /// The session left its connection: counts it, and takes the error that caused it.
    pub(crate) fn disconnected(&mut self, cause: DisconnectCause, at: Instant) -> &Disconnect {
        let error = match cause {
            DisconnectCause::DialFailed | DisconnectCause::TransportLost => self.pending.take(),
            _ => {
                self.pending = None;
                None
            }
        };
        self.reconnects += 1;
        self.last_disconnect
            .insert(Box::new(Disconnect { cause, error, at }))
    }
}

/// How far a [`ShardManager`](crate::ShardManager)'s start has come, from
/// [`ShardManager::progress`](crate::ShardManager::progress). Its `Display` is the progress
/// line `gateway-tail` prints: `ready 412/1000, 37 connecting, 551 waiting for identify,
/// ~4m10s left`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Shards in the manager's range.
    pub shards: u32,
    /// Shards whose session is live now.
    pub live: u32,
    /// Shards dialing, waiting for Hello, or waiting to (re)connect.
    pub connecting: u32,
    /// Shards waiting for an identify permit.
    pub waiting_for_identify: u32,
    /// Shards that sent Identify or Resume and wait for READY or RESUMED.
    pub handshaking: u32,
    /// Shards that stopped for good.
    pub stopped: u32,
    /// About how long until the shards never ready so far have identified, at the identify
    /// queue's pace (`None` when none is left, or the queue cannot say).
    pub remaining: Option<Duration>,
}

impl Progress {
    pub(crate) fn new(
        shards: u32,
        ever_ready: u32,
        states: impl Iterator<Item = State>,
        queue: Option<crate::fleet::identify::QueueStatus>,
    ) -> Self {
        let mut progress = Self {
            shards,
            live: 0,
            connecting: 0,
            waiting_for_identify: 0,
            handshaking: 0,
            stopped: 0,
            remaining: None,
        };
        let mut running = 0;
        for state in states {
            running += 1;
            match state {
                State::Active => progress.live += 1,
                State::AwaitingPermit => progress.waiting_for_identify += 1,
                State::Identifying | State::Resuming => progress.handshaking += 1,
                State::Stopped(_) => progress.stopped += 1,
                _ => progress.connecting += 1,
            }
        }
        progress.stopped += shards.saturating_sub(running);
        // Each shard that has not identified yet takes one window of its bucket.
        let to_identify = (progress.connecting + progress.waiting_for_identify)
            .min(shards.saturating_sub(ever_ready));
        if let Some(queue) = queue {
            if to_identify > 0 {
                let rounds = to_identify.div_ceil(queue.max_concurrency.max(1));
                progress.remaining = Some(queue.window * rounds);
            }
        }
        progress
    }
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ready {}/{}, {} connecting, {} waiting for identify",
            self.live, self.shards, self.connecting, self.waiting_for_identify
        )?;
        if self.handshaking > 0 {
            write!(f, ", {} identifying", self.handshaking)?;
        }
        if self.stopped > 0 {
            write!(f, ", {} stopped", self.stopped)?;
        }
        if let Some(left) = self.remaining {
            let secs = left.as_secs();
            match secs {
                0..60 => write!(f, ", ~{secs}s left")?,
                _ => write!(f, ", ~{}m{:02}s left", secs / 60, secs % 60)?,
            }
        }
        Ok(())
    }
}
