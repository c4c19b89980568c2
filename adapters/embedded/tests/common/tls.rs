//! embedded-tls (TLS 1.3) connectors for both loops, verifying the server's certificate
//! against a CA the test trusts: async over tokio's `TcpStream` (through
//! `embedded-io-adapters`), blocking over std's (`std_net`). Reads go through the crate's
//! record gates, so a read ends at the loop's deadline only between TLS records.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use discord_gateway::Instant;
use discord_gateway_embedded::std_net::{StdIoError, StdSocket};
use discord_gateway_embedded::tls::{BlockingRecordGate, ReadDeadline, RecordGate, Timeouts};
use discord_gateway_embedded::{BlockingConnector, Connector, GatewayUrl, TimeoutSocket, Timer};
use embedded_io::ErrorKind;
use embedded_io_adapters::tokio_1::FromTokio;
use embedded_tls::pki::CertVerifier;
use embedded_tls::{
    Aes128GcmSha256, Certificate, CryptoProvider, TlsConfig, TlsConnection, TlsContext, TlsError,
    TlsVerifier,
};

use super::host::TokioTimer;

/// The TLS read buffer: a whole record (16 KiB of plaintext) and its overhead.
pub const TLS_READ_BUFFER: usize = 16 * 1024 + 256;
/// The TLS write buffer: the client's largest frame (`SEND_BUFFER_LEN`) in one record.
pub const TLS_WRITE_BUFFER: usize = discord_gateway_embedded::SEND_BUFFER_LEN + 256;

/// What the client's handshakes trust: the CA's certificate, and the name the server's
/// certificate must carry (the sim's names `localhost`; its URLs dial `127.0.0.1`, and
/// embedded-tls matches DNS names only).
#[derive(Clone)]
pub struct Trust {
    pub ca_der: Vec<u8>,
    pub server_name: String,
}

/// Verifies the server's chain against the trusted CA (ECDSA P-256, `rustpki`) and its name;
/// never `UnsecureProvider`.
struct CaProvider<'a> {
    rng: rand_core::OsRng,
    verifier: CertVerifier<'a, Aes128GcmSha256, SystemTime, 4096>,
}

impl<'a> CaProvider<'a> {
    fn new(ca_der: &'a [u8]) -> Self {
        Self {
            rng: rand_core::OsRng,
            verifier: CertVerifier::new(Certificate::X509(ca_der)),
        }
    }
}

impl CryptoProvider for CaProvider<'_> {
    type CipherSuite = Aes128GcmSha256;
    type Signature = [u8; 64];

    fn rng(&mut self) -> impl embedded_tls::CryptoRngCore {
        &mut self.rng
    }

    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Aes128GcmSha256>, TlsError> {
        Ok(&mut self.verifier)
    }
}

/// Why a TLS connection could not be opened.
#[derive(Debug)]
pub enum DialError {
    Tcp(std::io::Error),
    Tls(TlsError),
}

/// How the socket under TLS hands bytes up: at most `chunk` bytes a read, `pause` before each
/// (a slow link, so that records arrive in pieces).
#[derive(Clone, Copy, Debug)]
pub struct Trickle {
    pub chunk: usize,
    pub pause: Duration,
    /// Bytes handed up at full speed first (the handshake, READY, the sim's GUILD_CREATE;
    /// the std link only).
    pub after: usize,
}

/// tokio's `TcpStream` through `embedded-io-adapters`, optionally trickling. Its reads stay
/// cancel-safe: the pause comes before any byte is taken.
pub struct TcpLink {
    stream: FromTokio<tokio::net::TcpStream>,
    trickle: Option<Trickle>,
}

impl embedded_io_async::ErrorType for TcpLink {
    type Error = std::io::Error;
}

impl embedded_io_async::Read for TcpLink {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, std::io::Error> {
        match self.trickle {
            None => self.stream.read(buf).await,
            Some(trickle) => {
                tokio::time::sleep(trickle.pause).await;
                let len = buf.len().min(trickle.chunk);
                self.stream.read(&mut buf[..len]).await
            }
        }
    }
}

impl embedded_io_async::Write for TcpLink {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, std::io::Error> {
        self.stream.write(buf).await
    }

    async fn flush(&mut self) -> Result<(), std::io::Error> {
        self.stream.flush().await
    }
}

/// An open TLS connection of the async loop and the deadline its gate follows.
pub struct TlsSocket<'a> {
    tls: TlsConnection<'a, RecordGate<'a, TcpLink, TokioTimer>, Aes128GcmSha256>,
    deadline: &'a ReadDeadline,
    cancel_reads: bool,
    reads_past_deadline: Rc<Cell<usize>>,
}

impl embedded_io_async::ErrorType for TlsSocket<'_> {
    type Error = TlsError;
}

impl embedded_io_async::Read for TlsSocket<'_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, TlsError> {
        self.tls.read(buf).await
    }
}

impl embedded_io_async::Write for TlsSocket<'_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, TlsError> {
        self.tls.write(buf).await
    }

    async fn flush(&mut self) -> Result<(), TlsError> {
        self.tls.flush().await
    }
}

/// Dials `wss://` with embedded-tls over tokio, verifying the server against `trust`.
pub struct TlsConnector {
    trust: Trust,
    /// The loop's timer (the same clock as the deadlines it sets).
    timer: TokioTimer,
    deadline: ReadDeadline,
    read_buffer: Vec<u8>,
    write_buffer: Vec<u8>,
    pub trickle: Option<Trickle>,
    /// `true`: read as the loop did before the gates, racing the TLS read against the timer
    /// and dropping it when the timer wins (to show what that does to a TLS stream).
    pub cancel_reads: bool,
    pub dials: usize,
    /// Reads that were still receiving a record when their deadline passed, and were let
    /// finish rather than dropped.
    pub reads_past_deadline: Rc<Cell<usize>>,
}

impl TlsConnector {
    pub fn new(trust: Trust, timer: TokioTimer) -> Self {
        Self {
            trust,
            timer,
            deadline: ReadDeadline::new(),
            read_buffer: vec![0; TLS_READ_BUFFER],
            write_buffer: vec![0; TLS_WRITE_BUFFER],
            trickle: None,
            cancel_reads: false,
            dials: 0,
            reads_past_deadline: Rc::default(),
        }
    }
}

impl Connector for TlsConnector {
    type Socket<'a> = TlsSocket<'a>;
    type Error = DialError;

    async fn connect<'a>(&'a mut self, url: &GatewayUrl) -> Result<TlsSocket<'a>, DialError> {
        self.dials += 1;
        assert!(url.is_secure(), "{url:?} is not wss://");
        let stream = tokio::net::TcpStream::connect((url.host(), url.port()))
            .await
            .map_err(DialError::Tcp)?;
        stream.set_nodelay(true).map_err(DialError::Tcp)?;
        let link = TcpLink {
            stream: FromTokio::new(stream),
            trickle: self.trickle,
        };
        self.deadline.set(None);
        let gate = RecordGate::new(link, self.timer, &self.deadline);
        let mut tls = TlsConnection::new(gate, &mut self.read_buffer, &mut self.write_buffer);
        let config = TlsConfig::new().with_server_name(&self.trust.server_name);
        tls.open(TlsContext::new(
            &config,
            CaProvider::new(&self.trust.ca_der),
        ))
        .await
        .map_err(DialError::Tls)?;
        Ok(TlsSocket {
            tls,
            deadline: &self.deadline,
            cancel_reads: self.cancel_reads,
            reads_past_deadline: Rc::clone(&self.reads_past_deadline),
        })
    }

    async fn read_until<'s, T: Timer>(
        socket: &mut TlsSocket<'s>,
        buf: &mut [u8],
        until: Option<Instant>,
        timer: &mut T,
    ) -> Result<Option<usize>, ErrorKind>
    where
        Self: 's,
    {
        if socket.cancel_reads {
            // The old loop: the TLS read dropped when the timer wins.
            if let Some(at) = until {
                use embassy_futures::select::{select, Either};
                return match select(socket.tls.read(buf), timer.sleep_until(at)).await {
                    Either::First(read) => read.map(Some).map_err(|e| embedded_io::Error::kind(&e)),
                    Either::Second(()) => Ok(None),
                };
            }
        }
        socket.deadline.set(until);
        let read = socket.tls.read(buf).await;
        socket.deadline.set(None);
        if let (Ok(_), Some(at)) = (&read, until) {
            if timer.now() > at {
                let count = &socket.reads_past_deadline;
                count.set(count.get() + 1);
            }
        }
        match read {
            Ok(n) => Ok(Some(n)),
            // The gate ended the read between two records: nothing was lost.
            Err(TlsError::Io(ErrorKind::TimedOut)) => Ok(None),
            Err(error) => Err(embedded_io::Error::kind(&error)),
        }
    }
}

/// std's `TcpStream` (`std_net`), optionally trickling.
pub struct StdLink {
    socket: StdSocket,
    trickle: Option<Trickle>,
    read_timeout: Option<Duration>,
    passed: usize,
}

impl embedded_io::ErrorType for StdLink {
    type Error = StdIoError;
}

impl embedded_io::Read for StdLink {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, StdIoError> {
        match self.trickle.filter(|trickle| self.passed >= trickle.after) {
            None => {
                let n = self.socket.read(buf)?;
                self.passed += n;
                Ok(n)
            }
            Some(trickle) => {
                // A record's header comes at once, each chunk of its body takes `pause`: a
                // read whose timeout is shorter times out, as it would on a slow network,
                // after the header came in time.
                let pause = if buf.len() <= 5 {
                    Duration::ZERO
                } else {
                    trickle.pause
                };
                if let Some(timeout) = self.read_timeout.filter(|t| *t < pause) {
                    std::thread::sleep(timeout);
                    return Err(StdIoError(std::io::ErrorKind::WouldBlock.into()));
                }
                std::thread::sleep(pause);
                let len = buf.len().min(trickle.chunk);
                self.socket.read(&mut buf[..len])
            }
        }
    }
}

impl embedded_io::Write for StdLink {
    fn write(&mut self, buf: &[u8]) -> Result<usize, StdIoError> {
        self.socket.write(buf)
    }

    fn flush(&mut self) -> Result<(), StdIoError> {
        self.socket.flush()
    }
}

impl TimeoutSocket for StdLink {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<(), StdIoError> {
        self.read_timeout = timeout;
        self.socket.set_read_timeout(timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> Result<(), StdIoError> {
        self.socket.set_write_timeout(timeout)
    }
}

/// An open TLS connection of the blocking loop and the timeouts its gate follows.
pub struct BlockingTlsSocket<'a> {
    tls:
        embedded_tls::blocking::TlsConnection<'a, BlockingRecordGate<'a, StdLink>, Aes128GcmSha256>,
    timeouts: &'a Timeouts,
    read_timeout: Option<Duration>,
    reads_past_deadline: Rc<Cell<usize>>,
}

impl embedded_io::ErrorType for BlockingTlsSocket<'_> {
    type Error = TlsError;
}

impl embedded_io::Read for BlockingTlsSocket<'_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, TlsError> {
        let started = std::time::Instant::now();
        let read = self.tls.read(buf);
        if let (Ok(_), Some(timeout)) = (&read, self.read_timeout) {
            if started.elapsed() > timeout {
                let count = &self.reads_past_deadline;
                count.set(count.get() + 1);
            }
        }
        read
    }
}

impl embedded_io::Write for BlockingTlsSocket<'_> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, TlsError> {
        self.tls.write(buf)
    }

    fn flush(&mut self) -> Result<(), TlsError> {
        self.tls.flush()
    }
}

impl TimeoutSocket for BlockingTlsSocket<'_> {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<(), TlsError> {
        self.timeouts.set_read(timeout);
        self.read_timeout = timeout;
        Ok(())
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> Result<(), TlsError> {
        self.timeouts.set_write(timeout);
        Ok(())
    }
}

/// Dials `wss://` with embedded-tls over std's `TcpStream`, verifying the server against
/// `trust`.
pub struct BlockingTlsConnector {
    trust: Trust,
    timeouts: Timeouts,
    read_buffer: Vec<u8>,
    write_buffer: Vec<u8>,
    pub trickle: Option<Trickle>,
    pub dials: usize,
    /// Reads that were still receiving a record when their timeout ran out, and were let
    /// finish rather than cut.
    pub reads_past_deadline: Rc<Cell<usize>>,
}

impl BlockingTlsConnector {
    pub fn new(trust: Trust) -> Self {
        Self {
            trust,
            timeouts: Timeouts::new(),
            read_buffer: vec![0; TLS_READ_BUFFER],
            write_buffer: vec![0; TLS_WRITE_BUFFER],
            trickle: None,
            dials: 0,
            reads_past_deadline: Rc::default(),
        }
    }
}

impl BlockingConnector for BlockingTlsConnector {
    type Socket<'a> = BlockingTlsSocket<'a>;
    type Error = DialError;

    fn connect(&mut self, url: &GatewayUrl) -> Result<BlockingTlsSocket<'_>, DialError> {
        self.dials += 1;
        assert!(url.is_secure(), "{url:?} is not wss://");
        let stream =
            std::net::TcpStream::connect((url.host(), url.port())).map_err(DialError::Tcp)?;
        stream.set_nodelay(true).map_err(DialError::Tcp)?;
        // The handshake waits as long as the OS lets it; the loop's timeouts start after.
        self.timeouts.set_read(None);
        self.timeouts.set_write(None);
        let link = StdLink {
            socket: StdSocket(stream),
            trickle: self.trickle,
            read_timeout: None,
            passed: 0,
        };
        let gate = BlockingRecordGate::new(link, &self.timeouts);
        let mut tls = embedded_tls::blocking::TlsConnection::new(
            gate,
            &mut self.read_buffer,
            &mut self.write_buffer,
        );
        let config = TlsConfig::new().with_server_name(&self.trust.server_name);
        tls.open(TlsContext::new(
            &config,
            CaProvider::new(&self.trust.ca_der),
        ))
        .map_err(DialError::Tls)?;
        Ok(BlockingTlsSocket {
            tls,
            timeouts: &self.timeouts,
            read_timeout: None,
            reads_past_deadline: Rc::clone(&self.reads_past_deadline),
        })
    }
}
