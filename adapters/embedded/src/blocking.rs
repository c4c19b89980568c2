//! The blocking loop, over `embedded-io` sockets with a read timeout.

use core::ops::ControlFlow;
use core::time::Duration;

use discord_gateway::Instant;
use embedded_io::{Error as _, ErrorKind, Read, Write};

use crate::client::{Client, Context, Ended, Entropy, Error, Received, Step};
use crate::url::GatewayUrl;

/// A blocking socket whose reads give up after a timeout.
///
/// The loop takes a read that fails with [`ErrorKind::TimedOut`], or with
/// [`ErrorKind::Other`] once the deadline it set has passed, as the timeout it asked for.
///
/// Over TLS, put a [`BlockingRecordGate`](crate::tls::BlockingRecordGate) under the TLS
/// connection and forward the timeouts to it: a read timeout in the middle of a TLS record
/// would lose the part of the record the TLS layer had taken.
///
/// **On the host**, do not use `std::io::Error` as the socket's error: std reports an expired
/// read timeout as `WouldBlock` on Unix and embedded-io maps that to [`ErrorKind::Other`], so
/// a timeout that comes back a millisecond early (or from a clock coarser than the socket's)
/// reads as a broken connection. The `std` feature's `std_net` module (`StdSocket`,
/// `StdConnector`, `StdClock`) is the wiring that keeps it a timeout.
pub trait TimeoutSocket: Read + Write {
    /// Sets how long the next reads may wait (`None`: forever).
    ///
    /// # Errors
    /// The socket's own, when it cannot.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<(), Self::Error>;

    /// Sets how long the next writes may wait (`None`: forever). The loop bounds each write
    /// (and flush) by [`WRITE_TIMEOUT`](crate::WRITE_TIMEOUT) with it, and takes an error of
    /// kind [`ErrorKind::TimedOut`] (or any error past that deadline) as a stalled peer.
    ///
    /// # Errors
    /// The socket's own, when it cannot.
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> Result<(), Self::Error>;
}

/// Opens blocking connections to the gateway; see [`crate::Connector`].
pub trait BlockingConnector {
    /// An open connection.
    type Socket<'a>: TimeoutSocket
    where
        Self: 'a;
    /// Why a connection could not be opened (the handler sees it through
    /// [`Context::dial_error`](crate::Context::dial_error)).
    type Error: core::fmt::Debug;

    /// Opens a connection to `url.host()` and `url.port()` (with TLS when
    /// `url.is_secure()`).
    ///
    /// # Errors
    /// The connector's own.
    fn connect(&mut self, url: &GatewayUrl) -> Result<Self::Socket<'_>, Self::Error>;
}

/// The clock of the blocking loop.
pub trait Clock {
    /// Milliseconds on a monotonic clock.
    fn now(&mut self) -> Instant;
    /// Blocks until `now()` has reached `at`.
    fn sleep_until(&mut self, at: Instant);
}

/// How a bounded write ended.
enum Written {
    Done,
    TimedOut,
    Failed(ErrorKind),
}

impl<E: Entropy> Client<'_, E> {
    /// The blocking twin of [`Client::run`]: the same steps, with reads bounded by the
    /// socket's read timeout instead of a raced timer.
    ///
    /// # Errors
    /// As [`Client::run`].
    pub fn run_blocking<C: BlockingConnector, K: Clock, B>(
        &mut self,
        connector: &mut C,
        clock: &mut K,
        mut handler: impl FnMut(&mut Context<'_>, Received<'_>) -> ControlFlow<B>,
    ) -> Result<B, Error> {
        let result = self.between_connections_blocking(connector, clock, &mut handler);
        self.handle_abandoned(clock.now());
        result
    }

    fn between_connections_blocking<C: BlockingConnector, K: Clock, B>(
        &mut self,
        connector: &mut C,
        clock: &mut K,
        handler: &mut impl FnMut(&mut Context<'_>, Received<'_>) -> ControlFlow<B>,
    ) -> Result<B, Error> {
        let mut step = self.step(clock.now())?;
        loop {
            let now = clock.now();
            match step {
                Step::Dial => {
                    let connected = match self.dial_url() {
                        Some(url) => connector.connect(url).map_err(Some),
                        None => Err(None),
                    };
                    let mut socket = match connected {
                        Ok(socket) => socket,
                        Err(error) => {
                            let now = clock.now();
                            self.handle_dial_failed(now);
                            let error = error.as_ref().map(|e| e as &dyn core::fmt::Debug);
                            if let ControlFlow::Break(value) =
                                self.deliver_with(now, handler, error)
                            {
                                return Ok(value);
                            }
                            step = self.step(clock.now())?;
                            continue;
                        }
                    };
                    self.handle_dialed(clock.now());
                    match self.connected_blocking(&mut socket, clock, handler)? {
                        Ended::Break(value) => return Ok(value),
                        Ended::Dial => {
                            step = Step::Dial;
                            continue;
                        }
                        Ended::HungUp => {}
                    }
                }
                Step::Sleep { until } => {
                    clock.sleep_until(until);
                    self.handle_timeout(clock.now());
                }
                Step::Deliver => {
                    if let ControlFlow::Break(value) = self.deliver(now, handler) {
                        return Ok(value);
                    }
                }
                Step::Write | Step::Read { .. } | Step::HangUp => self.handle_abandoned(now),
            }
            step = self.step(clock.now())?;
        }
    }

    /// Writes and flushes [`Client::pending_write`], each socket call bounded by what is left
    /// of [`WRITE_TIMEOUT`](crate::WRITE_TIMEOUT) from `now`.
    fn write_bounded<S: TimeoutSocket, K: Clock>(
        &self,
        socket: &mut S,
        clock: &mut K,
        now: Instant,
    ) -> Written {
        let deadline = Self::write_deadline(now);
        let bytes = self.pending_write();
        let mut done = 0;
        let failed = |error: S::Error, clock: &mut K| {
            if error.kind() == ErrorKind::TimedOut || clock.now() >= deadline {
                Written::TimedOut
            } else {
                Written::Failed(error.kind())
            }
        };
        loop {
            let now = clock.now();
            if now >= deadline {
                return Written::TimedOut;
            }
            // A zero timeout means "forever" to some sockets: wait at least 1 ms.
            let left = deadline
                .saturating_duration_since(now)
                .max(Duration::from_millis(1));
            if let Err(error) = socket.set_write_timeout(Some(left)) {
                return Written::Failed(error.kind());
            }
            let Some(rest) = bytes.get(done..).filter(|rest| !rest.is_empty()) else {
                return match socket.flush() {
                    Ok(()) => Written::Done,
                    Err(error) => failed(error, clock),
                };
            };
            match socket.write(rest) {
                Ok(0) => return Written::Failed(ErrorKind::WriteZero),
                Ok(n) => done += n,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return failed(error, clock),
            }
        }
    }

    fn connected_blocking<S: TimeoutSocket, K: Clock, B>(
        &mut self,
        socket: &mut S,
        clock: &mut K,
        handler: &mut impl FnMut(&mut Context<'_>, Received<'_>) -> ControlFlow<B>,
    ) -> Result<Ended<B>, Error> {
        loop {
            let now = clock.now();
            match self.step(now)? {
                Step::Dial => return Ok(Ended::Dial),
                Step::HangUp => return Ok(Ended::HungUp),
                Step::Write => match self.write_bounded(socket, clock, now) {
                    Written::Done => self.handle_written(),
                    Written::TimedOut => self.handle_write_timeout(clock.now()),
                    Written::Failed(kind) => self.handle_io_error(clock.now(), kind),
                },
                Step::Read { until } => {
                    let timeout = until.map(|at| {
                        // A zero timeout means "forever" to some sockets: wait at least 1 ms.
                        at.saturating_duration_since(now)
                            .max(Duration::from_millis(1))
                    });
                    if let Err(error) = socket.set_read_timeout(timeout) {
                        self.handle_io_error(now, error.kind());
                        continue;
                    }
                    let read = socket.read(self.read_buffer());
                    let now = clock.now();
                    match read {
                        Ok(n) => self.handle_read(now, n),
                        // A timeout in whatever form the transport reports it (std's
                        // `WouldBlock` arrives as `Other`): the deadline has passed. Not a
                        // connection the transport says is over (a TLS record gate that was
                        // left mid-record: the stream cannot be read on).
                        Err(error)
                            if error.kind() == ErrorKind::TimedOut
                                || (error.kind() == ErrorKind::Other
                                    && until.is_some_and(|at| now >= at)) =>
                        {
                            self.handle_timeout(now);
                        }
                        Err(error) if error.kind() == ErrorKind::Interrupted => {}
                        Err(error) => self.handle_io_error(now, error.kind()),
                    }
                }
                Step::Sleep { until } => {
                    clock.sleep_until(until);
                    self.handle_timeout(clock.now());
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
