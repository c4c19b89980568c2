//! The async loop, over `embedded-io-async` sockets (embassy-net, embedded-tls) and a timer.

use core::ops::ControlFlow;

use discord_gateway::Instant;
use embassy_futures::select::{select, Either};
use embedded_io_async::{Error as _, ErrorKind, Read, Write};

use crate::client::{Client, Context, Ended, Entropy, Error, Received, Step};
use crate::url::GatewayUrl;

/// Opens connections to the gateway: TCP, plus TLS for `wss://` URLs.
///
/// The socket may borrow the connector (an embassy-net `TcpSocket` with its buffers kept in the
/// connector, wrapped in an embedded-tls `TlsConnection`).
///
/// # Reads are never cut short
///
/// Every read of the loop goes through [`Connector::read_until`], with the time the next
/// heartbeat (or other deadline) is due. The default races `socket.read` against the timer and
/// drops the read when the timer wins, which loses nothing on a socket whose reads are
/// cancel-safe: embassy-net's `TcpSocket`, tokio's `TcpStream`, plain `ws://`. A TLS
/// connection's are not: embedded-tls (0.19.0 included) reads a record's header into a local
/// of its read future, so a read dropped in the middle of a record desyncs the stream for
/// good. A TLS connector therefore implements `read_until` with a read it never drops: a
/// [`RecordGate`](crate::tls::RecordGate) under the `TlsConnection` ends that read at the
/// deadline only between two records, and waits for the rest of a record it has begun (see
/// [`tls`](crate::tls) and the crate docs, "Wiring it on a board").
///
/// Writes are raced against the timer too, with a deadline of [`WRITE_TIMEOUT`](crate::WRITE_TIMEOUT):
/// a write still pending then (a peer that stopped reading) is dropped with the whole
/// connection, so a write need not be cancel-safe.
#[allow(async_fn_in_trait)] // Embedded executors are single-threaded; no `Send` bound wanted.
pub trait Connector {
    /// An open connection.
    type Socket<'a>: Read + Write
    where
        Self: 'a;
    /// Why a connection could not be opened (the handler sees it through
    /// [`Context::dial_error`](crate::Context::dial_error)).
    type Error: core::fmt::Debug;

    /// Opens a connection to `url.host()` and `url.port()` (with TLS when
    /// `url.is_secure()`).
    async fn connect<'a>(&'a mut self, url: &GatewayUrl) -> Result<Self::Socket<'a>, Self::Error>;

    /// Reads from `socket` into `buf`: `Ok(Some(n))` for `n` bytes read, `Ok(None)` when
    /// `timer` reached `until` first (`None`: no deadline, wait).
    ///
    /// The default races `socket.read` against `timer.sleep_until(until)` and drops the read
    /// when the timer wins: right only for sockets whose reads are cancel-safe (TCP). A
    /// connector whose socket's reads are not (TLS) must end the read at the deadline itself,
    /// at a point where nothing is lost; see [`RecordGate`](crate::tls::RecordGate).
    ///
    /// # Errors
    /// The kind of the socket's error.
    async fn read_until<'s, T: Timer>(
        socket: &mut Self::Socket<'s>,
        buf: &mut [u8],
        until: Option<Instant>,
        timer: &mut T,
    ) -> Result<Option<usize>, ErrorKind>
    where
        Self: 's,
    {
        let read = match until {
            Some(at) => match select(socket.read(buf), timer.sleep_until(at)).await {
                Either::First(read) => read,
                Either::Second(()) => return Ok(None),
            },
            None => socket.read(buf).await,
        };
        read.map(Some).map_err(|error| error.kind())
    }
}

/// The clock and sleep of the async loop; with embassy-time it is a few lines:
///
/// ```
/// # use discord_gateway::Instant;
/// # mod embassy_time { #[derive(Clone, Copy)] pub struct Instant(u64);
/// #   impl Instant { pub fn now() -> Self { Self(0) } pub fn as_millis(&self) -> u64 { self.0 }
/// #   pub fn from_millis(ms: u64) -> Self { Self(ms) } }
/// #   pub struct Timer; impl Timer { pub async fn at(_: Instant) {} } }
/// struct EmbassyTimer;
///
/// impl discord_gateway_embedded::Timer for EmbassyTimer {
///     fn now(&mut self) -> Instant {
///         Instant::from_millis(embassy_time::Instant::now().as_millis())
///     }
///     async fn sleep_until(&mut self, at: Instant) {
///         embassy_time::Timer::at(embassy_time::Instant::from_millis(at.as_millis())).await;
///     }
/// }
/// ```
#[allow(async_fn_in_trait)]
pub trait Timer {
    /// Milliseconds on a monotonic clock.
    fn now(&mut self) -> Instant;
    /// Returns once `now()` has reached `at`.
    async fn sleep_until(&mut self, at: Instant);
}

impl<E: Entropy> Client<'_, E> {
    /// Keeps the session connected and hands every dispatch and event to `handler`, until the
    /// handler breaks (the connection is then dropped; the next call resumes) or the session
    /// stops.
    ///
    /// # Errors
    /// [`Error::Stopped`] once the session has stopped, [`Error::ReadyTooLarge`] when the
    /// receive buffer cannot hold READY.
    pub async fn run<C: Connector, T: Timer, B>(
        &mut self,
        connector: &mut C,
        timer: &mut T,
        mut handler: impl FnMut(&mut Context<'_>, Received<'_>) -> ControlFlow<B>,
    ) -> Result<B, Error> {
        let result = self
            .between_connections(connector, timer, &mut handler)
            .await;
        self.handle_abandoned(timer.now());
        result
    }

    /// Steps while no socket is open; each socket lives in [`Client::connected`], so one
    /// borrowed from the connector is gone before the next is opened.
    async fn between_connections<C: Connector, T: Timer, B>(
        &mut self,
        connector: &mut C,
        timer: &mut T,
        handler: &mut impl FnMut(&mut Context<'_>, Received<'_>) -> ControlFlow<B>,
    ) -> Result<B, Error> {
        let mut step = self.step(timer.now())?;
        loop {
            let now = timer.now();
            match step {
                Step::Dial => {
                    let connected = match self.dial_url() {
                        Some(url) => connector.connect(url).await.map_err(Some),
                        None => Err(None),
                    };
                    let mut socket = match connected {
                        Ok(socket) => socket,
                        Err(error) => {
                            let now = timer.now();
                            self.handle_dial_failed(now);
                            let error = error.as_ref().map(|e| e as &dyn core::fmt::Debug);
                            if let ControlFlow::Break(value) =
                                self.deliver_with(now, handler, error)
                            {
                                return Ok(value);
                            }
                            step = self.step(timer.now())?;
                            continue;
                        }
                    };
                    self.handle_dialed(timer.now());
                    match self
                        .connected::<C, T, B>(&mut socket, timer, handler)
                        .await?
                    {
                        Ended::Break(value) => return Ok(value),
                        Ended::Dial => {
                            step = Step::Dial;
                            continue;
                        }
                        Ended::HungUp => {}
                    }
                }
                Step::Sleep { until } => {
                    timer.sleep_until(until).await;
                    self.handle_timeout(timer.now());
                }
                Step::Deliver => {
                    if let ControlFlow::Break(value) = self.deliver(now, handler) {
                        return Ok(value);
                    }
                }
                // Socket steps with no socket: what was open is gone.
                Step::Write | Step::Read { .. } | Step::HangUp => self.handle_abandoned(now),
            }
            step = self.step(timer.now())?;
        }
    }

    async fn connected<'s, C: Connector + 's, T: Timer, B>(
        &mut self,
        socket: &mut C::Socket<'s>,
        timer: &mut T,
        handler: &mut impl FnMut(&mut Context<'_>, Received<'_>) -> ControlFlow<B>,
    ) -> Result<Ended<B>, Error> {
        loop {
            let now = timer.now();
            match self.step(now)? {
                Step::Dial => return Ok(Ended::Dial),
                Step::HangUp => return Ok(Ended::HungUp),
                Step::Write => {
                    // Raced against the timer: a peer that stops reading must not stop the
                    // heartbeats. A write cut short leaves a partial frame, so the socket is
                    // dropped then.
                    let deadline = Self::write_deadline(now);
                    let write = async {
                        match socket.write_all(self.pending_write()).await {
                            Ok(()) => socket.flush().await,
                            Err(error) => Err(error),
                        }
                    };
                    let written = select(write, timer.sleep_until(deadline)).await;
                    match written {
                        Either::First(Ok(())) => self.handle_written(),
                        Either::First(Err(error)) => {
                            self.handle_io_error(timer.now(), error.kind());
                        }
                        Either::Second(()) => self.handle_write_timeout(timer.now()),
                    }
                }
                Step::Read { until } => {
                    // Never raced here: the connector decides how a read ends at `until`
                    // (its socket's reads may not survive being dropped).
                    let read = C::read_until(socket, self.read_buffer(), until, timer).await;
                    let now = timer.now();
                    match read {
                        Ok(Some(n)) => self.handle_read(now, n),
                        // A timeout in whatever form the socket reports it.
                        Ok(None) => self.handle_timeout(now),
                        Err(ErrorKind::TimedOut) if until.is_some() => self.handle_timeout(now),
                        Err(kind) => self.handle_io_error(now, kind),
                    }
                }
                Step::Sleep { until } => {
                    timer.sleep_until(until).await;
                    self.handle_timeout(timer.now());
                }
                Step::Deliver => {
                    if let ControlFlow::Break(value) = self.deliver(now, handler) {
                        return Ok(Ended::Break(value));
                    }
                }
            }
        }
    }
}
