//! The async loop, over `embedded-io-async` sockets (embassy-net, embedded-tls) and a timer.

use core::ops::ControlFlow;

use discord_gateway::Instant;
use embassy_futures::select::{select, Either};
use embedded_io_async::{Error as _, Read, Write};

use crate::client::{Client, Context, Ended, Entropy, Error, Received, Step};
use crate::url::GatewayUrl;

/// Opens connections to the gateway: TCP, plus TLS for `wss://` URLs.
///
/// The socket may borrow the connector (an embassy-net `TcpSocket` with its buffers kept in the
/// connector, wrapped in an embedded-tls `TlsConnection`).
///
/// # Cancel safety
///
/// The loop races each `read` against the timer and drops it when the timer wins (a heartbeat is
/// due), so `read` must be cancel-safe: a read dropped before it completes must lose no bytes
/// and leave the stream readable. embassy-net's `TcpSocket` is. embedded-tls's `TlsConnection`
/// was not (its issue #142: a record header read on the future's stack and lost when the read
/// is dropped, so the stream desyncs with "InvalidRecord"); its pull request #204, merged in
/// September 2026, keeps the partial header and reads only what is missing on resume. Use a
/// release with that fix, or a TLS layer whose read is cancel-safe; otherwise a timer firing in
/// the middle of a TLS record breaks the connection (the session then resumes, but it is a
/// reconnect for nothing).
#[allow(async_fn_in_trait)] // Embedded executors are single-threaded; no `Send` bound wanted.
pub trait Connector {
    /// An open connection.
    type Socket<'a>: Read + Write
    where
        Self: 'a;
    /// Why a connection could not be opened.
    type Error;

    /// Opens a connection to `url.host()` and `url.port()` (with TLS when
    /// `url.is_secure()`).
    async fn connect<'a>(&'a mut self, url: &GatewayUrl) -> Result<Self::Socket<'a>, Self::Error>;
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
                        Some(url) => connector.connect(url).await.ok(),
                        None => None,
                    };
                    let Some(mut socket) = connected else {
                        self.handle_dial_failed(timer.now());
                        step = self.step(timer.now())?;
                        continue;
                    };
                    self.handle_dialed(timer.now());
                    match self.connected(&mut socket, timer, handler).await? {
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

    async fn connected<S: Read + Write, T: Timer, B>(
        &mut self,
        socket: &mut S,
        timer: &mut T,
        handler: &mut impl FnMut(&mut Context<'_>, Received<'_>) -> ControlFlow<B>,
    ) -> Result<Ended<B>, Error> {
        loop {
            let now = timer.now();
            match self.step(now)? {
                Step::Dial => return Ok(Ended::Dial),
                Step::HangUp => return Ok(Ended::HungUp),
                Step::Write => {
                    let written = match socket.write_all(self.pending_write()).await {
                        Ok(()) => socket.flush().await,
                        Err(error) => Err(error),
                    };
                    match written {
                        Ok(()) => self.handle_written(),
                        Err(error) => self.handle_io_error(timer.now(), error.kind()),
                    }
                }
                Step::Read { until } => {
                    let buf = self.read_buffer();
                    let read = match until {
                        Some(at) => match select(socket.read(buf), timer.sleep_until(at)).await {
                            Either::First(read) => Some(read),
                            Either::Second(()) => None,
                        },
                        None => Some(socket.read(buf).await),
                    };
                    let now = timer.now();
                    match read {
                        Some(Ok(n)) => self.handle_read(now, n),
                        Some(Err(error)) => self.handle_io_error(now, error.kind()),
                        None => self.handle_timeout(now),
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
