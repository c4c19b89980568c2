//! The client both loops share: the session, the websocket layer and the buffers, stepped
//! without I/O. A loop asks [`Client::step`] what to do, does it with its socket and timer, and
//! reports back; everything else (what to send, when, what it means) is decided here.

use core::fmt;
use core::ops::{ControlFlow, Range};
use core::time::Duration;

use discord_gateway::command::MAX_PAYLOAD_LEN;
use discord_gateway::session::{
    CloseKind, Compression, Config, DispatchRef, Event, HandleError, IdentifyLimiter, Message,
    SendBuffer, SendError, Session, State, Stop, Transmit, Verdict,
};
use discord_gateway::{CloseCode, Encode, Encoding, Instant};

use crate::head::Head;
use crate::url::{GatewayUrl, UrlError};
use crate::ws::{self, HandshakeError, Incoming, Key, Opcode, Receiver, WsError, MAX_HEADER_LEN};

/// The send buffer: Discord's 4096-byte payload limit plus room for the frame header in front.
pub const SEND_BUFFER_LEN: usize = MAX_HEADER_LEN + MAX_PAYLOAD_LEN;
/// The smallest receive buffer accepted: the upgrade response must fit, and Discord's edge sends
/// a few hundred bytes of headers. Size it for the events you want whole; see the crate docs.
pub const MIN_RECEIVE_BUFFER_LEN: usize = 1024;
/// How long the server has to answer the upgrade request.
pub const UPGRADE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one write (with its flush) may take. A peer that stops reading stalls a write
/// forever; past this the connection is dropped resumably, so the heartbeats go on over the
/// next one instead of silently stopping. A quarter of Discord's 41.25 s heartbeat interval.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Discord allows one Identify per 5 s per `max_concurrency` bucket; a device runs one shard,
/// so the client grants its own permits at that pace, asking the core's
/// [`IdentifyLimiter`]. The core's [`IDENTIFY_WINDOW`](discord_gateway::session::IDENTIFY_WINDOW).
pub const IDENTIFY_INTERVAL: Duration = discord_gateway::session::IDENTIFY_WINDOW;
/// The device's one shard in one bucket (`max_concurrency` 1), one Identify per window.
const ONE_SHARD: IdentifyLimiter<1> = match IdentifyLimiter::new(1, IDENTIFY_INTERVAL) {
    Ok(limiter) => limiter,
    Err(_) => panic!("one bucket fits a limiter of one"),
};
/// The close code sent when the client leaves a connection it means to resume: the core's.
const RESUME_CLOSE: CloseCode = CloseCode::RESUME;

/// Randomness for the websocket key and frame masks (RFC 6455 §10.3: masks must be
/// unpredictable, not secret). Implemented for closures, so a hardware RNG plugs in as
/// `|bytes: &mut [u8]| rng.fill_bytes(bytes)`.
pub trait Entropy {
    /// Fills `dest` with random bytes.
    fn fill_bytes(&mut self, dest: &mut [u8]);
}

impl<F: FnMut(&mut [u8])> Entropy for F {
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self(dest);
    }
}

/// Why a client cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// The receive buffer is smaller than [`MIN_RECEIVE_BUFFER_LEN`].
    ReceiveBufferTooSmall {
        /// Its length.
        len: usize,
    },
    /// The configuration asks for transport compression, which this client does not inflate
    /// (its window alone would be 32 KiB; see the crate docs). Leave it at
    /// `Compression::None`.
    CompressionUnsupported(Compression),
    /// The configuration asks for an encoding other than JSON: the client is built and tested
    /// for JSON only. Leave it at `Encoding::Json`.
    EncodingUnsupported(Encoding),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReceiveBufferTooSmall { len } => write!(
                f,
                "the receive buffer has {len} bytes; at least {MIN_RECEIVE_BUFFER_LEN} are needed"
            ),
            Self::CompressionUnsupported(compression) => write!(
                f,
                "the embedded client does not inflate {compression:?}; configure no compression"
            ),
            Self::EncodingUnsupported(encoding) => write!(
                f,
                "the embedded client reads JSON only, not {encoding:?}; configure Encoding::Json"
            ),
        }
    }
}

impl core::error::Error for BuildError {}

/// Why the client dropped a connection (the session then reconnects or stops, as its
/// [`Event::Disconnected`] says).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The connector failed to open a connection.
    Dial,
    /// The URL the session asked for cannot be dialed.
    Url(UrlError),
    /// The server refused or botched the websocket upgrade.
    Handshake(HandshakeError),
    /// No upgrade response within [`UPGRADE_TIMEOUT`].
    UpgradeTimeout,
    /// The server broke the websocket framing rules.
    Framing(WsError),
    /// Reading or writing failed.
    Io(embedded_io::ErrorKind),
    /// A write did not complete within [`WRITE_TIMEOUT`] (a peer that stopped reading).
    WriteTimeout,
    /// The server closed the TCP connection without a close frame.
    Eof,
    /// A message larger than the receive buffer whose sequence number could not be read from
    /// its first bytes: the client closed resumably so that the resume replays it, rather than
    /// guess where the sequence stands (the session's `handle_message_too_large`, which stops
    /// after `MESSAGE_TOO_LARGE_ATTEMPTS` at one sequence number).
    UnreadableHead {
        /// The message's length.
        size: u64,
    },
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dial => f.write_str("could not open a connection"),
            Self::Url(error) => write!(f, "bad gateway URL: {error}"),
            Self::Handshake(error) => write!(f, "websocket upgrade failed: {error}"),
            Self::UpgradeTimeout => f.write_str("no answer to the websocket upgrade"),
            Self::Framing(error) => write!(f, "websocket framing error: {error}"),
            Self::Io(kind) => write!(f, "I/O error: {kind:?}"),
            Self::WriteTimeout => write!(
                f,
                "a write did not complete within {} s",
                WRITE_TIMEOUT.as_secs()
            ),
            Self::Eof => f.write_str("the server closed the connection without a close frame"),
            Self::UnreadableHead { size } => write!(
                f,
                "a {size}-byte message does not fit the receive buffer and its head does not say its sequence number"
            ),
        }
    }
}

impl core::error::Error for ConnectionError {}

/// Why a loop returned without the handler asking it to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The session stopped for good (a fatal close code, or [`Context::close`]).
    Stopped(Stop),
    /// READY is larger than the receive buffer. Without it there is no session; give the
    /// client a larger buffer (READY grows with the number of guilds).
    ReadyTooLarge {
        /// READY's length.
        size: u64,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stopped(stop) => write!(f, "the session {stop}"),
            Self::ReadyTooLarge { size } => write!(
                f,
                "READY ({size} bytes) does not fit the receive buffer; give the client a larger one"
            ),
        }
    }
}

impl core::error::Error for Error {}

/// A dispatch larger than the receive buffer: streamed past, its sequence number kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Skipped {
    head: Head,
    size: u64,
}

impl Skipped {
    /// The event name as on the wire (e.g. `GUILD_CREATE`).
    #[must_use]
    pub fn name(&self) -> &str {
        self.head
            .raw_name()
            .and_then(|name| core::str::from_utf8(name).ok())
            .unwrap_or_default()
    }

    /// Its sequence number.
    #[must_use]
    pub const fn seq(&self) -> Option<u64> {
        self.head.seq
    }

    /// Its whole length in bytes.
    #[must_use]
    pub const fn size(&self) -> u64 {
        self.size
    }
}

/// What the client hands the application.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Received<'a> {
    /// A dispatch the configuration asked for, borrowed from the receive buffer.
    Dispatch(DispatchRef<'a>),
    /// A lifecycle event from the session.
    Event(Event),
    /// A dispatch too large for the receive buffer, skipped with its sequence number kept.
    Skipped(Skipped),
    /// The session refused a message (malformed, or against the protocol); the connection
    /// goes on.
    Refused(HandleError),
    /// The client dropped a connection, and why.
    ConnectionLost(ConnectionError),
}

/// Why [`Context::send`] did not send.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandError {
    /// A command is already waiting for the send buffer; send one per handler call.
    Busy,
    /// The session refused it.
    Send(SendError),
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Busy => f.write_str("a command is already waiting to be sent"),
            Self::Send(error) => write!(f, "{error}"),
        }
    }
}

impl core::error::Error for CommandError {}

/// What the handler can do besides reading: send a command, close, look at the session.
pub struct Context<'c> {
    session: &'c mut Session,
    send: Sender<'c>,
    now: Instant,
    dial_error: Option<&'c dyn fmt::Debug>,
}

impl Context<'_> {
    /// The session (state, sequence number, latency, resume state).
    #[must_use]
    pub fn session(&self) -> &Session {
        self.session
    }

    /// The time the loop read before this call.
    #[must_use]
    pub const fn now(&self) -> Instant {
        self.now
    }

    /// Encodes a command (presence, voice state, request guild members…) and sends it as soon
    /// as the handler returns. One per call: the send buffer holds one payload.
    ///
    /// # Errors
    /// [`CommandError::Busy`] when one is already waiting, or the session's [`SendError`]
    /// (not ready, rate limited, …). Nothing was counted then.
    pub fn send(&mut self, command: &impl Encode) -> Result<(), CommandError> {
        send_command(self.session, &mut self.send, self.now, command)
    }

    /// With [`Received::ConnectionLost`]`(`[`ConnectionError::Dial`]`)` from [`Client::run`]
    /// or [`Client::run_blocking`]: the connector's error, as its `Debug` says it.
    #[must_use]
    pub fn dial_error(&self) -> Option<&dyn fmt::Debug> {
        self.dial_error
    }

    /// Closes the session; see [`Session::close`]. The loop returns [`Error::Stopped`] once the
    /// close frame is sent.
    pub fn close(&mut self, kind: CloseKind) {
        self.session.close(kind);
    }
}

/// Encodes `command` into the send buffer, framed, unless one is waiting or the link is not
/// open.
fn send_command(
    session: &mut Session,
    send: &mut Sender<'_>,
    now: Instant,
    command: &impl Encode,
) -> Result<(), CommandError> {
    if send.out.is_some() {
        return Err(CommandError::Busy);
    }
    if !send.link_open {
        return Err(CommandError::Send(SendError::NotReady));
    }
    let Some(payload) = payload_buffer(send.tx) else {
        return Err(CommandError::Busy);
    };
    let len = session
        .send_command(now, command, payload)
        .map_err(CommandError::Send)?
        .len();
    *send.out = Some(frame(send.tx, send.entropy, Opcode::Text, len));
    Ok(())
}

struct Sender<'c> {
    tx: &'c mut [u8; SEND_BUFFER_LEN],
    out: &'c mut Option<Range<usize>>,
    entropy: &'c mut dyn Entropy,
    link_open: bool,
}

/// What a loop does next, as [`Client::step`] says; see [`Client`], "Your own loop".
///
/// The set is the whole contract between the client and a loop, so it is not
/// `non_exhaustive`: a loop handles each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Drop any socket and dial [`Client::dial_url`]; then [`Client::handle_dialed`] or
    /// [`Client::handle_dial_failed`].
    Dial,
    /// Write (and flush) [`Client::pending_write`] by [`Client::write_deadline`]; then
    /// [`Client::handle_written`], [`Client::handle_write_timeout`] or
    /// [`Client::handle_io_error`].
    Write,
    /// Drop the socket.
    HangUp,
    /// Read into [`Client::read_buffer`]; then [`Client::handle_read`],
    /// [`Client::handle_io_error`], or [`Client::handle_timeout`] once `until` has passed.
    Read {
        /// When to stop waiting for bytes (a heartbeat is due); `None`: no deadline.
        until: Option<Instant>,
    },
    /// No connection: sleep until `until`, then [`Client::handle_timeout`].
    Sleep {
        /// When the session has something to do (dial again, grant an identify permit).
        until: Instant,
    },
    /// Call [`Client::deliver`] with the handler.
    Deliver,
}

/// How a connection's steps ended, for the loops.
pub(crate) enum Ended<B> {
    /// The socket is to be dropped.
    HungUp,
    /// The socket is to be dropped and a new one dialed.
    Dial,
    /// The handler broke.
    Break(B),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Down,
    Upgrading { key: Key, deadline: Instant },
    Open,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Report {
    Message { text: bool, range: Range<usize> },
    Event(Event),
    Skipped(Skipped),
    Refused(HandleError),
    ConnectionLost(ConnectionError),
}

/// The memory a [`Client`] works in, lent by the caller (in statics on a device, so the
/// client is built where it lives).
#[derive(Debug)]
pub struct Buffers<'b> {
    /// Where messages are reassembled: the largest message delivered whole is
    /// [`MAX_HEADER_LEN`] bytes shorter. At least [`MIN_RECEIVE_BUFFER_LEN`].
    pub rx: &'b mut [u8],
    /// Where commands are encoded and framed.
    pub tx: &'b mut [u8; SEND_BUFFER_LEN],
}

/// A gateway client over caller-owned memory: the core's [`Session`], the websocket state,
/// and the [`Buffers`] the caller lends. Nothing grows.
///
/// Drive it with [`Client::run`] (async, over `embedded-io-async`) or [`Client::run_blocking`]
/// (over blocking `embedded-io`), or with a loop of your own.
///
/// # Your own loop
///
/// Both loops are a few lines over the stepped API, and yours can be too (the application owns
/// the loop, the socket and the time): ask [`Client::step`] what to do, do it, report back with
/// the matching `handle_*` method, and call [`Client::deliver`] when it says
/// [`Step::Deliver`]. Between steps, [`Client::send`] queues a command from anywhere in the
/// application. Leaving the loop does not drop the connection: the client keeps its state
/// until the next step, and [`Client::handle_abandoned`] says the socket is gone when it is.
///
/// ```no_run
/// # #[cfg(feature = "std")] fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use core::ops::ControlFlow;
/// use embedded_io::{Error as _, Read as _, Write as _};
/// use discord_gateway_embedded::std_net::{StdClock, StdConnector, StdSocket};
/// use discord_gateway_embedded::{
///     BlockingConnector as _, Buffers, Client, Clock as _, Config, Context, Received, Step,
///     TimeoutSocket as _, Token, SEND_BUFFER_LEN,
/// };
///
/// let config = Config::builder(Token::new("your-bot-token")?).gateway_url("ws://127.0.0.1:8080").build()?;
/// let (mut rx, mut tx) = (vec![0u8; 16 * 1024], [0u8; SEND_BUFFER_LEN]);
/// let buffers = Buffers { rx: &mut rx, tx: &mut tx };
/// let mut client = Client::new(config, buffers, |bytes: &mut [u8]| bytes.fill(4))?;
/// let (mut connector, mut clock) = (StdConnector::new(), StdClock::new());
/// let mut socket: Option<StdSocket> = None;
/// let mut handler = |_: &mut Context<'_>, received: Received<'_>| {
///     println!("{received:?}");
///     ControlFlow::<()>::Continue(())
/// };
/// loop {
///     let now = clock.now();
///     match (client.step(now)?, socket.as_mut()) {
///         (Step::Dial, _) => {
///             socket = None;
///             let url = client.dial_url().ok_or("no URL")?;
///             match connector.connect(url) {
///                 Ok(open) => {
///                     socket = Some(open);
///                     client.handle_dialed(clock.now());
///                 }
///                 Err(error) => {
///                     eprintln!("dial failed: {error}");
///                     client.handle_dial_failed(clock.now());
///                 }
///             }
///         }
///         (Step::Write, Some(open)) => {
///             open.set_write_timeout(Some(discord_gateway_embedded::WRITE_TIMEOUT))?;
///             match open.write_all(client.pending_write()) {
///                 Ok(()) => client.handle_written(),
///                 Err(error) => client.handle_io_error(clock.now(), error.kind()),
///             }
///         }
///         (Step::Read { until }, Some(open)) => {
///             let timeout = until.map(|at| at.saturating_duration_since(now).max(core::time::Duration::from_millis(1)));
///             open.set_read_timeout(timeout)?;
///             match open.read(client.read_buffer()) {
///                 Ok(n) => client.handle_read(clock.now(), n),
///                 Err(_) if until.is_some_and(|at| clock.now() >= at) => client.handle_timeout(clock.now()),
///                 Err(error) => client.handle_io_error(clock.now(), error.kind()),
///             }
///         }
///         (Step::HangUp, _) => socket = None,
///         // A socket step with no socket: what was open is gone.
///         (Step::Write | Step::Read { .. }, None) => client.handle_abandoned(now),
///         (Step::Sleep { until }, _) => {
///             clock.sleep_until(until);
///             client.handle_timeout(clock.now());
///         }
///         (Step::Deliver, _) => {
///             if let ControlFlow::Break(()) = client.deliver(now, &mut handler) {
///                 break;
///             }
///         }
///     }
/// }
/// # Ok(()) }
/// # #[cfg(not(feature = "std"))] fn main() {}
/// ```
pub struct Client<'b, E> {
    session: Session,
    rx: &'b mut [u8],
    tx: &'b mut [u8; SEND_BUFFER_LEN],
    receiver: Receiver,
    link: Link,
    url: Option<GatewayUrl>,
    out: Option<Range<usize>>,
    hang_up: bool,
    report: Option<Report>,
    /// When the session's pending identify permit is granted.
    permit_at: Option<Instant>,
    /// The identify pacing: the core's rules for the one shard.
    identify_limit: IdentifyLimiter<1>,
    entropy: E,
}

impl<'b, E: Entropy> Client<'b, E> {
    /// A client for a new session, with the buffers it lends.
    ///
    /// # Errors
    /// [`BuildError::ReceiveBufferTooSmall`] when the receive buffer is shorter than
    /// [`MIN_RECEIVE_BUFFER_LEN`], [`BuildError::CompressionUnsupported`] when the configuration
    /// asks for transport compression, [`BuildError::EncodingUnsupported`] when it asks for ETF.
    pub fn new(config: Config, buffers: Buffers<'b>, entropy: E) -> Result<Self, BuildError> {
        Self::with_session(Session::new(config), buffers, entropy)
    }

    /// A client around an existing session (e.g. one restored with [`Session::restore`]).
    ///
    /// # Errors
    /// As [`Client::new`].
    pub fn with_session(
        session: Session,
        buffers: Buffers<'b>,
        entropy: E,
    ) -> Result<Self, BuildError> {
        let Buffers { rx, tx } = buffers;
        if rx.len() < MIN_RECEIVE_BUFFER_LEN {
            return Err(BuildError::ReceiveBufferTooSmall { len: rx.len() });
        }
        let compression = session.config().compression();
        if compression != Compression::None {
            return Err(BuildError::CompressionUnsupported(compression));
        }
        let encoding = session.config().encoding();
        if encoding != Encoding::Json {
            return Err(BuildError::EncodingUnsupported(encoding));
        }
        Ok(Self {
            session,
            rx,
            tx,
            receiver: Receiver::new(),
            link: Link::Down,
            url: None,
            out: None,
            hang_up: false,
            report: None,
            permit_at: None,
            identify_limit: ONE_SHARD,
            entropy,
        })
    }

    /// The session.
    #[must_use]
    pub const fn session(&self) -> &Session {
        &self.session
    }

    /// The largest message delivered whole; larger dispatches arrive as [`Received::Skipped`].
    #[must_use]
    pub fn max_message_len(&self) -> usize {
        Receiver::max_message_len(self.rx.len())
    }

    // ---- the step the loops share ----------------------------------------------------------

    /// What the loop does next, at `now` (the loop's clock, in milliseconds). Call it again
    /// after doing what it said.
    ///
    /// # Errors
    /// [`Error`] when the session is over or cannot go on.
    pub fn step(&mut self, now: Instant) -> Result<Step, Error> {
        // Whatever the handler was lent last time is done with.
        self.receiver.release();
        loop {
            if self.out.is_some() {
                return Ok(Step::Write);
            }
            if self.hang_up {
                self.hang_up = false;
                self.link = Link::Down;
                self.receiver = Receiver::new();
                return Ok(Step::HangUp);
            }
            if self.report.is_some() {
                return Ok(Step::Deliver);
            }
            if let Some(step) = self.poll_session_transmit(now) {
                return Ok(step);
            }
            if let Some(event) = self.session.poll_event() {
                if event == Event::IdentifyPermitNeeded {
                    // Asked for at once; the limiter says when, if not now.
                    self.permit_at = Some(now);
                    // The client grants the permit itself: the handler has no way to, so it
                    // is not told.
                    continue;
                }
                crate::trace::event(&event);
                self.report = Some(Report::Event(event));
                return Ok(Step::Deliver);
            }
            if self.permit_at.is_some_and(|at| at <= now) {
                self.permit_at = None;
                let shard = self.session.config().shard();
                match self.identify_limit.try_acquire(shard, now) {
                    Verdict::Granted(grant) => {
                        if !self.session.handle_identify_permit(now) {
                            // Not sent (the connection went meanwhile): the window is not
                            // spent, so the next Identify need not wait it out.
                            self.identify_limit.release(grant);
                        }
                    }
                    Verdict::Wait(wait) => self.permit_at = Some(wait.until),
                }
                continue;
            }
            if self.poll_input(now)? {
                continue;
            }
            if let Some(connect) = self.session.poll_connect(now) {
                match GatewayUrl::from_display(&connect.url) {
                    Ok(url) => {
                        crate::trace::dialing(&url);
                        self.url = Some(url);
                        self.link = Link::Down;
                        self.receiver = Receiver::new();
                        return Ok(Step::Dial);
                    }
                    Err(error) => {
                        self.session.handle_transport_lost(now);
                        self.report = Some(Report::ConnectionLost(ConnectionError::Url(error)));
                        continue;
                    }
                }
            }
            let session_due = match (self.session.poll_timeout(), self.permit_at) {
                (Some(due), Some(permit)) => Some(due.min(permit)),
                (due, permit) => due.or(permit),
            };
            return match self.link {
                Link::Upgrading { deadline, .. } => Ok(Step::Read {
                    until: Some(session_due.map_or(deadline, |due| due.min(deadline))),
                }),
                Link::Open => Ok(Step::Read { until: session_due }),
                Link::Down => match (self.session.state(), session_due) {
                    (State::Stopped(stop), _) => Err(Error::Stopped(stop)),
                    (_, Some(until)) => Ok(Step::Sleep { until }),
                    // No socket, yet the session thinks it has one or is dialing (a loop that
                    // returned mid-dial): that connection is lost, and the session says when
                    // to try again.
                    (_, None) => {
                        self.session.handle_transport_lost(now);
                        continue;
                    }
                },
            };
        }
    }

    /// The URL to dial on [`Step::Dial`].
    pub fn dial_url(&self) -> Option<&GatewayUrl> {
        self.url.as_ref()
    }

    /// The connection is open: the upgrade request goes out.
    pub fn handle_dialed(&mut self, now: Instant) {
        let mut nonce = [0; 16];
        self.entropy.fill_bytes(&mut nonce);
        let key = Key::new(nonce);
        let Some(url) = &self.url else {
            return;
        };
        match ws::write_request(url, &key, self.tx) {
            Ok(len) => {
                crate::trace::upgrading(());
                self.out = Some(0..len);
                self.link = Link::Upgrading {
                    key,
                    deadline: now + UPGRADE_TIMEOUT,
                };
            }
            Err(error) => self.lose(now, ConnectionError::Handshake(error)),
        }
    }

    /// Dialing failed; the handler is told ([`ConnectionError::Dial`]) and the session says
    /// when to dial again.
    pub fn handle_dial_failed(&mut self, now: Instant) {
        crate::trace::dial_failed(());
        self.session.handle_transport_lost(now);
        self.report = Some(Report::ConnectionLost(ConnectionError::Dial));
    }

    /// The bytes to write on [`Step::Write`].
    pub fn pending_write(&self) -> &[u8] {
        self.out.clone().map_or(&[], |range| &self.tx[range])
    }

    /// [`Client::pending_write`] was written and flushed.
    pub fn handle_written(&mut self) {
        self.out = None;
    }

    /// Where to read into on [`Step::Read`].
    pub fn read_buffer(&mut self) -> &mut [u8] {
        self.receiver.read_space(self.rx)
    }

    /// `n` bytes were read (0: the server closed the TCP connection).
    pub fn handle_read(&mut self, now: Instant, n: usize) {
        if n == 0 {
            self.lose(now, ConnectionError::Eof);
        } else {
            self.receiver.filled(n);
        }
    }

    /// The deadline of a write that starts at `now`.
    pub fn write_deadline(now: Instant) -> Instant {
        now + WRITE_TIMEOUT
    }

    /// A write did not complete by its deadline: the socket is dropped (nothing more is
    /// written to it, not even a close frame) and the session resumes.
    pub fn handle_write_timeout(&mut self, now: Instant) {
        self.out = None;
        self.lose(now, ConnectionError::WriteTimeout);
    }

    /// Reading or writing failed.
    pub fn handle_io_error(&mut self, now: Instant, kind: embedded_io::ErrorKind) {
        self.out = None;
        self.lose(now, ConnectionError::Io(kind));
    }

    /// The deadline of [`Step::Read`] or [`Step::Sleep`] passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Link::Upgrading { deadline, .. } = self.link {
            if now >= deadline {
                self.lose(now, ConnectionError::UpgradeTimeout);
                return;
            }
        }
        self.session.handle_timeout(now);
    }

    /// The socket the client was using is gone (the loop dropped it, or was left with it
    /// open): the session takes the connection as lost and resumes on the next dial.
    pub fn handle_abandoned(&mut self, now: Instant) {
        if self.link != Link::Down {
            self.session.handle_transport_lost(now);
        }
        self.link = Link::Down;
        self.out = None;
        self.hang_up = false;
        self.receiver = Receiver::new();
    }

    /// Encodes a command (presence, voice state, request guild members…) to be written at the
    /// next [`Step::Write`]: what [`Context::send`] does, between steps, for a loop of your
    /// own (a command from another task, a button press). One at a time: the send buffer holds
    /// one payload.
    ///
    /// # Errors
    /// [`CommandError::Busy`] while a write is pending (step until [`Step::Write`] is done and
    /// try again), or the session's [`SendError`] (`NotReady` while no connection is open and
    /// ready, rate limited, …). Nothing was counted then.
    pub fn send(&mut self, now: Instant, command: &impl Encode) -> Result<(), CommandError> {
        let mut sender = Sender {
            tx: self.tx,
            out: &mut self.out,
            entropy: &mut self.entropy,
            link_open: self.link == Link::Open,
        };
        send_command(&mut self.session, &mut sender, now, command)
    }

    /// On [`Step::Deliver`]: hands what is pending to `handler` and returns what it returned.
    pub fn deliver<B>(
        &mut self,
        now: Instant,
        handler: &mut impl FnMut(&mut Context<'_>, Received<'_>) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        self.deliver_with(now, handler, None)
    }

    /// [`Client::deliver`], with the connector's error for a failed dial.
    pub(crate) fn deliver_with<B>(
        &mut self,
        now: Instant,
        handler: &mut impl FnMut(&mut Context<'_>, Received<'_>) -> ControlFlow<B>,
        dial_error: Option<&dyn fmt::Debug>,
    ) -> ControlFlow<B> {
        let Some(report) = self.report.take() else {
            return ControlFlow::Continue(());
        };
        let mut context = Context {
            session: &mut self.session,
            send: Sender {
                tx: self.tx,
                out: &mut self.out,
                entropy: &mut self.entropy,
                link_open: self.link == Link::Open,
            },
            now,
            dial_error,
        };
        let received = match report {
            Report::Message { text, range } => {
                let bytes = &self.rx[range];
                let message = if text {
                    Message::Text(bytes)
                } else {
                    Message::Binary(bytes)
                };
                match context.session.handle_message(now, message) {
                    Ok(Some(dispatch)) => Received::Dispatch(dispatch),
                    Ok(None) => return ControlFlow::Continue(()),
                    Err(error) => Received::Refused(error),
                }
            }
            Report::Event(event) => Received::Event(event),
            Report::Skipped(skipped) => Received::Skipped(skipped),
            Report::Refused(error) => Received::Refused(error),
            Report::ConnectionLost(error) => Received::ConnectionLost(error),
        };
        handler(&mut context, received)
    }

    // ---- internals ---------------------------------------------------------------------------

    fn poll_session_transmit(&mut self, now: Instant) -> Option<Step> {
        let payload = payload_buffer(self.tx)?;
        match self.session.poll_transmit(now, payload)? {
            transmit @ (Transmit::Text(bytes) | Transmit::Binary(bytes)) => {
                let len = bytes.len();
                if self.link != Link::Open {
                    return None;
                }
                let opcode = match transmit {
                    Transmit::Binary(_) => Opcode::Binary,
                    _ => Opcode::Text,
                };
                self.out = Some(frame(self.tx, &mut self.entropy, opcode, len));
            }
            Transmit::Close(code) => {
                if self.link == Link::Down {
                    return None;
                }
                self.send_close(Some(code.to_u16()));
            }
        }
        Some(Step::Write)
    }

    /// Takes the next input from what was read. Returns whether something happened.
    fn poll_input(&mut self, now: Instant) -> Result<bool, Error> {
        match self.link {
            Link::Down => Ok(false),
            Link::Upgrading { key, .. } => {
                let unparsed = self.receiver.unparsed(self.rx);
                match ws::check_response(unparsed, &key) {
                    Ok(Some(len)) => {
                        self.receiver.skip(len);
                        crate::trace::upgraded(());
                        self.link = Link::Open;
                        self.session.handle_open(now);
                        Ok(true)
                    }
                    Ok(None) if unparsed.len() < self.rx.len() => Ok(false),
                    Ok(None) => {
                        let error = HandshakeError::TooLarge {
                            limit: self.rx.len(),
                        };
                        self.lose(now, ConnectionError::Handshake(error));
                        Ok(true)
                    }
                    Err(error) => {
                        self.lose(now, ConnectionError::Handshake(error));
                        Ok(true)
                    }
                }
            }
            Link::Open => match self.receiver.poll(self.rx) {
                Ok(None) => Ok(false),
                Ok(Some(incoming)) => self.handle_incoming(now, incoming).map(|()| true),
                Err(error) => {
                    self.send_close(Some(ws::PROTOCOL_ERROR));
                    self.lose(now, ConnectionError::Framing(error));
                    Ok(true)
                }
            },
        }
    }

    fn handle_incoming(&mut self, now: Instant, incoming: Incoming) -> Result<(), Error> {
        match incoming {
            Incoming::Message { text, range } => {
                self.report = Some(Report::Message { text, range });
            }
            Incoming::Ping => {
                let payload = self.receiver.control_payload();
                let len = payload.len();
                if let Some(buf) = payload_buffer(self.tx) {
                    buf[..len].copy_from_slice(payload);
                    self.out = Some(frame(self.tx, &mut self.entropy, Opcode::Pong, len));
                }
            }
            Incoming::Pong => {}
            Incoming::Close(code) => {
                // The session learns why; the close is echoed (RFC 6455 §5.5.1) and the
                // socket dropped.
                crate::trace::server_closed(code);
                let message = Message::Close(code.map(CloseCode::from_u16));
                if let Err(error) = self.session.handle_message(now, message) {
                    self.report = Some(Report::Refused(error));
                }
                self.send_close(code);
                self.hang_up = true;
            }
            Incoming::Oversized { size, head } => self.handle_oversized(now, size, head)?,
        }
        Ok(())
    }

    /// A message too large to hold went by. With its head known (read by the core from its
    /// first bytes), the session counts it as it would the whole message
    /// ([`Session::handle_skipped_message`]); without it, the connection is closed resumably so
    /// that the resume replays the message.
    fn handle_oversized(
        &mut self,
        now: Instant,
        size: u64,
        head: Option<Head>,
    ) -> Result<(), Error> {
        let Some(head) = head else {
            self.leave_too_large(now, size);
            return Ok(());
        };
        match self
            .session
            .handle_skipped_message(now, head.op, head.kind, head.seq)
        {
            Ok(true) => self.report = Some(Report::Skipped(Skipped { head, size })),
            // READY cannot be skipped: the session stopped, there is no session to go on with.
            Ok(false) if self.session.state() == State::Stopped(Stop::ReadyTooLarge) => {
                return Err(Error::ReadyTooLarge { size });
            }
            // The session left the connection (another opcode): as for an unreadable head.
            Ok(false) => self.hang_up_too_large(size),
            Err(error) => self.report = Some(Report::Refused(error)),
        }
        Ok(())
    }

    /// Closes resumably so that the resume replays the message. The session counts these at
    /// one sequence number and stops ([`Stop::MessageTooLarge`]) rather than loop on a message
    /// whose head never says its sequence number.
    fn leave_too_large(&mut self, now: Instant, size: u64) {
        self.session.handle_message_too_large(now);
        self.hang_up_too_large(size);
    }

    /// Closes resumably after the session left the connection for a message too large.
    fn hang_up_too_large(&mut self, size: u64) {
        crate::trace::lost(&ConnectionError::UnreadableHead { size });
        self.send_close(Some(RESUME_CLOSE.to_u16()));
        self.report = Some(Report::ConnectionLost(ConnectionError::UnreadableHead {
            size,
        }));
        self.hang_up = true;
    }

    fn send_close(&mut self, code: Option<u16>) {
        let len = match (code, payload_buffer(self.tx)) {
            (Some(code), Some(buf)) => {
                buf[..2].copy_from_slice(&code.to_be_bytes());
                2
            }
            _ => 0,
        };
        self.out = Some(frame(self.tx, &mut self.entropy, Opcode::Close, len));
        self.hang_up = true;
    }

    /// The connection is over for the client's own reasons.
    fn lose(&mut self, now: Instant, error: ConnectionError) {
        crate::trace::lost(&error);
        self.session.handle_transport_lost(now);
        self.report = Some(Report::ConnectionLost(error));
        self.hang_up = true;
    }
}

/// The payload part of the send buffer, in the core's type.
fn payload_buffer(tx: &mut [u8; SEND_BUFFER_LEN]) -> Option<&mut SendBuffer> {
    tx.split_last_chunk_mut::<MAX_PAYLOAD_LEN>()
        .map(|(_, payload)| payload)
}

/// Masks the `len`-byte payload in place and writes its header right in front of it.
fn frame(
    tx: &mut [u8; SEND_BUFFER_LEN],
    entropy: &mut (impl Entropy + ?Sized),
    opcode: Opcode,
    len: usize,
) -> Range<usize> {
    let mut mask = [0; 4];
    entropy.fill_bytes(&mut mask);
    let Some((header, payload)) = tx.split_first_chunk_mut::<MAX_HEADER_LEN>() else {
        return 0..0;
    };
    ws::apply_mask(&mut payload[..len], mask);
    let start = ws::write_client_header(opcode, len, mask, header);
    start..MAX_HEADER_LEN + len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_with_transport_compression_is_refused_and_a_small_buffer_too() {
        let token = discord_gateway::Token::new("test-token").unwrap();
        let config = Config::builder(token)
            .compression(Compression::ZlibStream)
            .build()
            .unwrap();
        let mut rx = [0u8; MIN_RECEIVE_BUFFER_LEN];
        let mut tx = [0u8; SEND_BUFFER_LEN];
        let entropy = |_: &mut [u8]| {};
        let buffers = Buffers {
            rx: &mut rx,
            tx: &mut tx,
        };
        assert_eq!(
            Client::new(config.clone(), buffers, entropy).err(),
            Some(BuildError::CompressionUnsupported(Compression::ZlibStream))
        );
        let mut small = [0u8; MIN_RECEIVE_BUFFER_LEN - 1];
        let buffers = Buffers {
            rx: &mut small,
            tx: &mut tx,
        };
        assert_eq!(
            Client::new(config, buffers, entropy).err(),
            Some(BuildError::ReceiveBufferTooSmall {
                len: MIN_RECEIVE_BUFFER_LEN - 1
            })
        );
    }

    /// Issue 23: the oversized-message head scan and the synthetic head are JSON, so an ETF
    /// configuration is refused when the client is built, as transport compression is.
    #[test]
    fn an_etf_configuration_is_refused() {
        let token = discord_gateway::Token::new("test-token").unwrap();
        let config = Config::builder(token)
            .encoding(discord_gateway::Encoding::Etf)
            .build()
            .unwrap();
        let mut rx = [0u8; MIN_RECEIVE_BUFFER_LEN];
        let mut tx = [0u8; SEND_BUFFER_LEN];
        let buffers = Buffers {
            rx: &mut rx,
            tx: &mut tx,
        };
        let error = Client::new(config, buffers, |_: &mut [u8]| {}).err();
        assert_eq!(
            error,
            Some(BuildError::EncodingUnsupported(
                discord_gateway::Encoding::Etf
            ))
        );
        let mut text = heapless::String::<160>::new();
        core::fmt::write(&mut text, format_args!("{}", error.unwrap())).unwrap();
        assert!(text.contains("JSON"), "{text}");
    }
}
