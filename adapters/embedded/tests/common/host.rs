//! std sockets and clocks as the client's traits: tokio TCP as `embedded-io-async`, std TCP as
//! blocking `embedded-io` with a read timeout. Shared by the tests and the host example.

use std::time::Duration;

use discord_gateway::Instant;
use discord_gateway_embedded::{BlockingConnector, Connector, GatewayUrl, Timer};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// An I/O error with the kinds the client looks at: the crate's own, whose read timeout (std
/// reports it as `WouldBlock` on Unix) is [`embedded_io::ErrorKind::TimedOut`].
pub use discord_gateway_embedded::std_net::StdIoError as HostIoError;

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

/// Milliseconds since the timer was made, on tokio's clock (copies share the start).
#[derive(Clone, Copy)]
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

// Not every test crate that includes this module uses it.
#[allow(unused_imports)]
pub use discord_gateway_embedded::std_net::StdClock;

/// The crate's std connector (`std_net`), counting the dials.
#[derive(Default)]
pub struct StdConnector {
    pub dials: usize,
    inner: discord_gateway_embedded::std_net::StdConnector,
}

impl BlockingConnector for StdConnector {
    type Socket<'a> = discord_gateway_embedded::std_net::StdSocket;
    type Error = std::io::Error;

    fn connect(
        &mut self,
        url: &GatewayUrl,
    ) -> Result<discord_gateway_embedded::std_net::StdSocket, std::io::Error> {
        self.dials += 1;
        self.inner.connect(url)
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
