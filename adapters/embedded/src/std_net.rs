//! The host wiring for the blocking loop (feature `std`): std's `TcpStream` as a
//! [`TimeoutSocket`], a [`BlockingConnector`] for `ws://` URLs, and std's monotonic clock as a
//! [`Clock`].
//!
//! ```no_run
//! use core::ops::ControlFlow;
//! use discord_gateway_embedded::std_net::{StdClock, StdConnector};
//! use discord_gateway_embedded::{
//!     Buffers, Client, Config, EventSet, EventType, Received, Token, SEND_BUFFER_LEN,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::builder(Token::new("your-bot-token")?)
//!     .gateway_url("ws://127.0.0.1:8080")
//!     .events(EventSet::EMPTY.with(EventType::MessageCreate))
//!     .build()?;
//! let (mut rx, mut tx) = (vec![0u8; 16 * 1024], [0u8; SEND_BUFFER_LEN]);
//! let buffers = Buffers { rx: &mut rx, tx: &mut tx };
//! let entropy = |bytes: &mut [u8]| bytes.fill(4); // use a real RNG
//! let mut client = Client::new(config, buffers, entropy)?;
//! client.run_blocking(&mut StdConnector::new(), &mut StdClock::new(), |_, received| {
//!     if let Received::Dispatch(dispatch) = received {
//!         println!("{:?}", dispatch.name());
//!     }
//!     ControlFlow::<()>::Continue(())
//! })?;
//! # Ok(()) }
//! ```

extern crate std;

use core::fmt;
use core::time::Duration;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;

use discord_gateway::Instant;

use crate::blocking::{BlockingConnector, Clock, TimeoutSocket};
use crate::url::GatewayUrl;

/// A std I/O error whose [`embedded_io::ErrorKind`] says `TimedOut` for a read timeout.
///
/// std reports an expired read timeout as `WouldBlock` on Unix (`TimedOut` on Windows), and
/// embedded-io's own mapping of `std::io::Error` turns `WouldBlock` into `Other`; this type
/// keeps it a timeout.
#[derive(Debug)]
pub struct StdIoError(pub std::io::Error);

impl fmt::Display for StdIoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl core::error::Error for StdIoError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl embedded_io::Error for StdIoError {
    fn kind(&self) -> embedded_io::ErrorKind {
        match self.0.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                embedded_io::ErrorKind::TimedOut
            }
            kind => kind.into(),
        }
    }
}

/// std's `TcpStream` as a blocking [`TimeoutSocket`].
#[derive(Debug)]
pub struct StdSocket(pub TcpStream);

impl embedded_io::ErrorType for StdSocket {
    type Error = StdIoError;
}

impl embedded_io::Read for StdSocket {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, StdIoError> {
        self.0.read(buf).map_err(StdIoError)
    }
}

impl embedded_io::Write for StdSocket {
    fn write(&mut self, buf: &[u8]) -> Result<usize, StdIoError> {
        self.0.write(buf).map_err(StdIoError)
    }

    fn flush(&mut self) -> Result<(), StdIoError> {
        self.0.flush().map_err(StdIoError)
    }
}

impl TimeoutSocket for StdSocket {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<(), StdIoError> {
        self.0.set_read_timeout(timeout).map_err(StdIoError)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> Result<(), StdIoError> {
        self.0.set_write_timeout(timeout).map_err(StdIoError)
    }
}

/// Opens plain-TCP connections for `ws://` URLs with std (Nagle off). It has no TLS: a
/// `wss://` URL (Discord's) is refused with `ErrorKind::Unsupported`; wrap a TLS stream in
/// your own [`BlockingConnector`] for it.
#[derive(Debug, Default)]
pub struct StdConnector {
    connect_timeout: Option<Duration>,
}

impl StdConnector {
    /// A connector with no connect timeout of its own (the OS's applies).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            connect_timeout: None,
        }
    }

    /// Gives up on a TCP connect after `timeout`.
    #[must_use]
    pub const fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }
}

impl BlockingConnector for StdConnector {
    type Socket<'a> = StdSocket;
    type Error = std::io::Error;

    fn connect(&mut self, url: &GatewayUrl) -> Result<StdSocket, std::io::Error> {
        if url.is_secure() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "StdConnector has no TLS; wss:// needs a connector that wraps TLS",
            ));
        }
        let stream = match self.connect_timeout {
            None => TcpStream::connect((url.host(), url.port()))?,
            Some(timeout) => {
                let mut last = None;
                let mut connected = None;
                for address in std::net::ToSocketAddrs::to_socket_addrs(&(url.host(), url.port()))?
                {
                    match TcpStream::connect_timeout(&address, timeout) {
                        Ok(stream) => {
                            connected = Some(stream);
                            break;
                        }
                        Err(error) => last = Some(error),
                    }
                }
                match (connected, last) {
                    (Some(stream), _) => stream,
                    (None, Some(error)) => return Err(error),
                    (None, None) => {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::NotFound,
                            "the host has no address",
                        ))
                    }
                }
            }
        };
        stream.set_nodelay(true)?;
        Ok(StdSocket(stream))
    }
}

/// Milliseconds since the clock was made, on std's monotonic clock.
#[derive(Debug, Clone, Copy)]
pub struct StdClock {
    start: std::time::Instant,
}

impl StdClock {
    /// A clock starting at 0 now.
    #[must_use]
    pub fn new() -> Self {
        Self {
            start: std::time::Instant::now(),
        }
    }
}

impl Default for StdClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for StdClock {
    fn now(&mut self) -> Instant {
        Instant::from_millis(u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    fn sleep_until(&mut self, at: Instant) {
        let now = self.now();
        std::thread::sleep(at.saturating_duration_since(now));
    }
}
