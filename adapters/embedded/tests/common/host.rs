//! std sockets and clocks as the client's traits: tokio TCP as `embedded-io-async`, std TCP as
//! blocking `embedded-io` with a read timeout. Shared by the tests and the host example.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use discord_gateway::Instant;
use discord_gateway_embedded::{
    BlockingConnector, Clock, Connector, GatewayUrl, TimeoutSocket, Timer,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// An I/O error with the kinds the client looks at: a read timeout (std reports it as
/// `WouldBlock` on Unix) is [`embedded_io::ErrorKind::TimedOut`].
#[derive(Debug)]
pub struct HostIoError(pub std::io::Error);

impl core::fmt::Display for HostIoError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.fmt(f)
    }
}

impl core::error::Error for HostIoError {}

impl embedded_io::Error for HostIoError {
    fn kind(&self) -> embedded_io::ErrorKind {
        match self.0.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                embedded_io::ErrorKind::TimedOut
            }
            std::io::ErrorKind::ConnectionReset => embedded_io::ErrorKind::ConnectionReset,
            std::io::ErrorKind::BrokenPipe => embedded_io::ErrorKind::BrokenPipe,
            _ => embedded_io::ErrorKind::Other,
        }
    }
}

/// A tokio TCP stream as an `embedded-io-async` socket (tokio's reads are cancel-safe).
pub struct TokioSocket(pub tokio::net::TcpStream);

impl embedded_io_async::ErrorType for TokioSocket {
    type Error = HostIoError;
}

impl embedded_io_async::Read for TokioSocket {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, HostIoError> {
        self.0.read(buf).await.map_err(HostIoError)
    }
}

impl embedded_io_async::Write for TokioSocket {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, HostIoError> {
        self.0.write(buf).await.map_err(HostIoError)
    }

    async fn flush(&mut self) -> Result<(), HostIoError> {
        self.0.flush().await.map_err(HostIoError)
    }
}

/// Dials plain `ws://` URLs with tokio (the sim has no TLS), counting the dials.
#[derive(Default)]
pub struct TokioConnector {
    pub dials: usize,
}

impl Connector for TokioConnector {
    type Socket<'a> = TokioSocket;
    type Error = std::io::Error;

    async fn connect(&mut self, url: &GatewayUrl) -> Result<TokioSocket, std::io::Error> {
        self.dials += 1;
        let stream = tokio::net::TcpStream::connect((url.host(), url.port())).await?;
        stream.set_nodelay(true)?;
        Ok(TokioSocket(stream))
    }
}

/// Milliseconds since the timer was made, on tokio's clock.
pub struct TokioTimer {
    start: tokio::time::Instant,
}

impl TokioTimer {
    pub fn new() -> Self {
        Self {
            start: tokio::time::Instant::now(),
        }
    }
}

impl Timer for TokioTimer {
    fn now(&mut self) -> Instant {
        Instant::from_millis(self.start.elapsed().as_millis() as u64)
    }

    async fn sleep_until(&mut self, at: Instant) {
        tokio::time::sleep_until(self.start + Duration::from_millis(at.as_millis())).await;
    }
}

/// A std TCP stream as a blocking `embedded-io` socket.
pub struct StdSocket(pub TcpStream);

impl embedded_io::ErrorType for StdSocket {
    type Error = HostIoError;
}

impl embedded_io::Read for StdSocket {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, HostIoError> {
        self.0.read(buf).map_err(HostIoError)
    }
}

impl embedded_io::Write for StdSocket {
    fn write(&mut self, buf: &[u8]) -> Result<usize, HostIoError> {
        self.0.write(buf).map_err(HostIoError)
    }

    fn flush(&mut self) -> Result<(), HostIoError> {
        self.0.flush().map_err(HostIoError)
    }
}

impl TimeoutSocket for StdSocket {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<(), HostIoError> {
        self.0.set_read_timeout(timeout).map_err(HostIoError)
    }
}

/// Dials plain `ws://` URLs with std.
#[derive(Default)]
pub struct StdConnector {
    pub dials: usize,
}

impl BlockingConnector for StdConnector {
    type Socket<'a> = StdSocket;
    type Error = std::io::Error;

    fn connect(&mut self, url: &GatewayUrl) -> Result<StdSocket, std::io::Error> {
        self.dials += 1;
        let stream = TcpStream::connect((url.host(), url.port()))?;
        stream.set_nodelay(true)?;
        Ok(StdSocket(stream))
    }
}

/// Milliseconds since the clock was made, on std's monotonic clock.
pub struct StdClock {
    start: std::time::Instant,
}

impl StdClock {
    pub fn new() -> Self {
        Self {
            start: std::time::Instant::now(),
        }
    }
}

impl Clock for StdClock {
    fn now(&mut self) -> Instant {
        Instant::from_millis(self.start.elapsed().as_millis() as u64)
    }

    fn sleep_until(&mut self, at: Instant) {
        let now = self.now();
        std::thread::sleep(at.saturating_duration_since(now));
    }
}

/// Deterministic mask and key bytes (xorshift64*): the tests need repeatable runs, not secrecy.
pub fn entropy(seed: u64) -> impl FnMut(&mut [u8]) {
    let mut state = seed | 1;
    move |bytes: &mut [u8]| {
        for byte in bytes {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            *byte = (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8;
        }
    }
}
