//! The blocking loop, over `embedded-io` sockets with a read timeout.

use core::ops::ControlFlow;
use core::time::Duration;

use discord_gateway::Instant;
use embedded_io::{Error as _, ErrorKind, Read, Write};

use crate::client::{Client, Context, Ended, Entropy, Error, Received, Step};
use crate::url::GatewayUrl;

/// A blocking socket whose reads give up after a timeout, with an error of kind
/// [`ErrorKind::TimedOut`].
pub trait TimeoutSocket: Read + Write {
    /// Sets how long the next reads may wait (`None`: forever).
    ///
    /// # Errors
    /// The socket's own, when it cannot.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<(), Self::Error>;
}

/// Opens blocking connections to the gateway; see [`crate::Connector`].
pub trait BlockingConnector {
    /// An open connection.
    type Socket<'a>: TimeoutSocket
    where
        Self: 'a;
    /// Why a connection could not be opened.
    type Error;

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
                        Some(url) => connector.connect(url).ok(),
                        None => None,
                    };
                    let Some(mut socket) = connected else {
                        self.handle_dial_failed(clock.now());
                        step = self.step(clock.now())?;
                        continue;
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
                Step::Write => {
                    let written = match socket.write_all(self.pending_write()) {
                        Ok(()) => socket.flush(),
                        Err(error) => Err(error),
                    };
                    match written {
                        Ok(()) => self.handle_written(),
                        Err(error) => self.handle_io_error(clock.now(), error.kind()),
                    }
                }
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
                        Err(error) if error.kind() == ErrorKind::TimedOut => {
                            self.handle_timeout(now);
                        }
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
